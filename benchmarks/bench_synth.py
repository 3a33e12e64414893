"""Synthetic chart throughput: charts per second of ``flowparse data synth``.

Usage (the figure in docs/benchmarks.md):

    .venv/bin/python benchmarks/bench_synth.py --count 1000 --workers 2

Runs the target (Graphviz + PIL renderers, usual degradations, ``--workers`` processes) and, in the
same run as the baseline, each renderer alone in one process on a slice of the charts, so the
ratio shows what the workers buy on this machine. ``--mermaid N`` also times N Mermaid charts
(one browser, browser start counted separately).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

from flowparse.training.synth import SynthOptions, generate


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (dot, pool workers).

    On a shared machine wall time depends on the neighbours; CPU time per chart does not, and
    count * cpu_s_per_chart / cores is what an idle machine would take.
    """
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed_run(count: int, renderers: tuple[str, ...], workers: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        start, cpu = time.perf_counter(), _cpu()
        infos = generate(out, SynthOptions(count=count, seed=seed, renderers=renderers), workers=workers)
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu
        size = sum(f.stat().st_size for f in os.scandir(os.path.join(out, "images")))
    return {"renderers": list(renderers), "workers": workers, "charts": count, "seconds": round(seconds, 2),
            "charts_per_s": round(count / seconds, 2), "cpu_s_per_chart": round(cpu / count, 3),
            "mean_nodes": round(sum(i["nodes"] for i in infos) / count, 1), "image_mb": round(size / 2**20, 1)}


def mermaid_run(count: int, seed: int) -> dict:
    from flowparse.training.synth.mermaid_render import MermaidRenderer, mermaid_missing

    if mermaid_missing():
        return {"renderers": ["mermaid"], "skipped": mermaid_missing()}
    start = time.perf_counter()
    with MermaidRenderer():  # returns once Chromium has loaded the page with mermaid
        launch = time.perf_counter() - start
    run = timed_run(count, ("mermaid",), 1, seed)
    return {**run, "browser_start_s": round(launch, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=60, help="charts per single-renderer baseline run")
    parser.add_argument("--mermaid", type=int, default=0, help="also time this many Mermaid charts")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"# {platform.node()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for renderer in ("graphviz", "pil"):
        rows.append(timed_run(args.baseline, (renderer,), 1, args.seed))
        print(json.dumps(rows[-1]), flush=True)
    rows.append(timed_run(args.count, ("graphviz", "pil"), args.workers, args.seed))
    print(json.dumps(rows[-1]), flush=True)
    if args.mermaid:
        rows.append(mermaid_run(args.mermaid, args.seed))
        print(json.dumps(rows[-1]), flush=True)
    print(f"# load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
