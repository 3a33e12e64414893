"""Batch throughput of ``flowparse parse`` and its memory over many inputs.

Throughput: charts per second over a folder of synthetic charts (the data engine's generator,
seeded), parsed by the pipeline with 1 and with 2 worker processes, in the same run:

    .venv/bin/python benchmarks/bench_batch.py throughput --charts 200 --workers 1 2 --repeats 2

On a GPU machine the same script measures batched InternVL inference (one process):

    .venv/bin/python benchmarks/bench_batch.py throughput --backend internvl --model PATH --batch-sizes 1 8

Memory: peak RSS of the pipeline's process over N tiny inputs with a backend that does no work,
so what is measured is the pipeline itself (manifest, progress, writing); flat means the peak
for 10,000 inputs is about the peak for 1,000:

    .venv/bin/python benchmarks/bench_batch.py memory --inputs 1000 10000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_charts(folder: Path, count: int, seed: int) -> str:
    """``count`` synthetic charts (up to 20 nodes) as PNGs; returns which generator made them."""
    from flowparse.training.synth.pil_render import render_pil
    from flowparse.training.synth.structure import sample_chart

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for k in range(count):
        image, _ = render_pil(sample_chart(rng, min_nodes=3, max_nodes=20), rng)
        image.save(folder / f"chart{k:04d}.png")
    return "flowparse.training.synth (sample_chart + render_pil)"


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the workers), user + system."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_run(folder: Path, out: Path, **kw) -> dict:
    """One pipeline run; the load average around it says how much the shared box was busy."""
    from flowparse.pipeline import run_pipeline

    load_before, cpu_before = os.getloadavg()[0], _cpu_seconds()
    start = time.perf_counter()
    summary = run_pipeline([str(folder)], out, progress=False, **kw)
    seconds = time.perf_counter() - start
    return {
        "ok": summary.ok,
        "failed": summary.failed,
        "seconds": round(seconds, 2),
        "charts_per_s": round(summary.total / seconds, 3),
        "cpu_s_per_chart": round((_cpu_seconds() - cpu_before) / summary.total, 3),
        "load_avg_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def _arithmetic(n: int) -> float:
    start, x = time.process_time(), 0
    for i in range(n):
        x += i * i
    return time.process_time() - start


def cores_given(processes: int, tasks: int = 4, n: int = 10_000_000) -> float:
    """The baseline: how many cores ``processes`` busy processes get here right now (ideal: min(N, cpus)).

    On a shared box this is the ceiling for what more workers can gain.
    """
    from concurrent.futures import ProcessPoolExecutor

    start = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        cpu = sum(pool.map(_arithmetic, [n] * tasks))
    return round(cpu / (time.perf_counter() - start), 2)


def throughput(args) -> None:
    """Each configuration ``repeats`` times, in ABBA order so that drifting load hits all alike."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "charts")
        generator = make_charts(folder, args.charts, args.seed)
        cpu = platform.processor() or platform.machine()
        print(f"# {args.charts} charts from {generator}, seed {args.seed}; cpus: {os.cpu_count()}; {cpu}")
        configs = [(w, b) for w in args.workers for b in args.batch_sizes]
        order = [c for r in range(args.repeats) for c in (configs if r % 2 == 0 else configs[::-1])]
        rates: dict[str, list[float]] = {}
        options = {"backend": args.backend, "model": args.model, "formats": ("json",)}
        for k, (workers, batch_size) in enumerate(order):
            name = f"workers={workers} batch={batch_size}"
            result = time_run(folder, Path(tmp, f"run{k}"), workers=workers, batch_size=batch_size, **options)
            result["baseline_cores_given"] = cores_given(workers)  # same conditions, right after
            rates.setdefault(name, []).append(result["charts_per_s"])
            print(name, json.dumps(result), flush=True)
        names = list(rates)
        best = {name: max(values) for name, values in rates.items()}
        for name in names:
            print(f"{name}: best {best[name]:.3f} charts/s of {rates[name]}")
        for name in names[1:]:
            print(f"ratio (best) {name} / {names[0]}: {best[name] / best[names[0]]:.2f}")


def _null_backend_run(count: int) -> int:
    """In a fresh process: peak RSS (KiB) of a pipeline run over ``count`` tiny PNGs."""
    import io

    from PIL import Image

    from flowparse.backends import register_backend
    from flowparse.graph import add_shape, new_graph
    from flowparse.pipeline import run_pipeline

    class NullBackend:  # no detection: what grows is the pipeline's own state
        def __init__(self, model=None, **_):
            pass

        def parse(self, image, *, source=""):
            G = new_graph(*image.size, source=source, backend="null")
            add_shape(G, "rectangle", (1, 1, 5, 5), "x")
            return G

    register_backend("null", NullBackend, replace=True)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, format="PNG")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "in")
        for k in range(count):
            sub = folder / f"{k // 1000:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"i{k:05d}.png").write_bytes(buffer.getvalue())
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        summary = run_pipeline(
            [str(folder)], Path(tmp, "out"), backend="null", formats=("json", "mermaid"), progress=False
        )
        assert summary.ok == count, summary
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            json.dumps(
                {
                    "inputs": count,
                    "rss_before_kib": before,
                    "peak_rss_kib": after,
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
        )
    return 0


def memory(args) -> None:
    for count in args.inputs:
        result = subprocess.run(
            [sys.executable, __file__, "_memory-one", str(count)], capture_output=True, text=True, check=True
        )
        print(result.stdout.strip(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("throughput", help="charts per second with N workers / batch sizes")
    t.add_argument("--charts", type=int, default=200)
    t.add_argument("--seed", type=int, default=20261125)
    t.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    t.add_argument("--batch-sizes", type=int, nargs="+", default=[1])
    t.add_argument("--backend", default="classical")
    t.add_argument("--model", default=None)
    t.add_argument("--repeats", type=int, default=1, help="runs of each configuration (ABBA order)")
    m = commands.add_parser("memory", help="peak RSS over N inputs, each count in a fresh process")
    m.add_argument("--inputs", type=int, nargs="+", default=[1000, 10000])
    one = commands.add_parser("_memory-one")
    one.add_argument("count", type=int)
    args = parser.parse_args()
    if args.command == "throughput":
        throughput(args)
    elif args.command == "memory":
        memory(args)
    else:
        sys.exit(_null_backend_run(args.count))


if __name__ == "__main__":
    main()
