"""Speed and accuracy of the classical detector on charts with truth graphs, on ONE core.

    python benchmarks/bench_classical.py CHART_DIR [--limit N] [--threads 1] [--json out.json]

CHART_DIR holds ``*.png`` images each with a ``.json`` truth graph beside it (as written by
``benchmarks/graphviz_charts.py`` or the synthetic generator). Thread counts of OpenCV and ONNX
Runtime are set to ``--threads`` before anything loads, so the figure is a one-core figure.
Accuracy uses ``flowparse.evaluation`` when it is installed, else the matcher below: a detected
node matches the unmatched truth node of highest box IoU >= 0.5 (greedy by IoU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path


def _pin_threads(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import cv2

    cv2.setNumThreads(threads)


def match_nodes(pred, truth, threshold: float = 0.5) -> dict:
    """Greedy one-to-one matching of predicted to truth nodes by box IoU (highest first)."""
    from flowparse.geometry import box_iou

    pairs = sorted(
        ((box_iou(pd["bbox"], td["bbox"]), p, t) for p, pd in pred.nodes(data=True) for t, td in truth.nodes(data=True)),
        key=lambda x: -x[0],
    )
    mapping, used = {}, set()
    for iou, p, t in pairs:
        if iou < threshold:
            break
        if p not in mapping and t not in used:
            mapping[p] = t
            used.add(t)
    return mapping


def _norm_text(s: str) -> str:
    """Compare texts as a reader would: whitespace and full-width punctuation do not matter."""
    table = str.maketrans({"？": "?", "，": ",", "：": ":", "（": "(", "）": ")", "！": "!", "；": ";"})
    return "".join(s.translate(table).split())


def score_chart(pred, truth) -> dict:
    """Counts for node, shape, text, edge and label metrics of one chart."""
    mapping = match_nodes(pred, truth)
    shape_ok = sum(pred.nodes[p]["shape"] == truth.nodes[t]["shape"] for p, t in mapping.items())
    text_ok = sum(_norm_text(pred.nodes[p]["text"]) == _norm_text(truth.nodes[t]["text"]) for p, t in mapping.items())
    te = set(truth.edges)
    # An edge with heads at both ends or none has no direction to see: either way round matches.
    undirected = {(v, u): (u, v) for u, v, d in truth.edges(data=True) if d.get("arrow") != "normal"}
    pe = {undirected.get((mapping.get(u), mapping.get(v)), (mapping.get(u), mapping.get(v))) for u, v in pred.edges}
    hits = pe & te
    label_ok = sum(_norm_text(pred.edges[u, v]["label"]) == _norm_text(truth.edges[a, b]["label"])
                   for u, v in pred.edges
                   for a, b in [undirected.get((mapping.get(u), mapping.get(v)), (mapping.get(u), mapping.get(v)))]
                   if (a, b) in te)
    return {"pred_nodes": pred.number_of_nodes(), "true_nodes": truth.number_of_nodes(), "matched": len(mapping),
            "shape_ok": shape_ok, "text_ok": text_ok, "pred_edges": pred.number_of_edges(),
            "true_edges": truth.number_of_edges(), "edge_hits": len(hits), "label_ok": label_ok}


def summarize(rows: list[dict]) -> dict:
    tot = {k: sum(r[k] for r in rows) for k in rows[0] if k not in ("seconds", "cpu_seconds")}
    f1 = lambda hit, p, t: 2 * hit / max(1, p + t)  # noqa: E731
    return {
        "charts": len(rows),
        "node_f1": f1(tot["matched"], tot["pred_nodes"], tot["true_nodes"]),
        "shape_accuracy": tot["shape_ok"] / max(1, tot["matched"]),
        "text_exact": tot["text_ok"] / max(1, tot["matched"]),
        "edge_f1": f1(tot["edge_hits"], tot["pred_edges"], tot["true_edges"]),
        "edge_label_exact": tot["label_ok"] / max(1, tot["edge_hits"]),
        "median_s": statistics.median(r["seconds"] for r in rows),
        "p90_s": sorted(r["seconds"] for r in rows)[int(0.9 * (len(rows) - 1))],
        # CPU time of the one thread: less inflated than wall time when the machine is shared.
        "median_cpu_s": statistics.median(r["cpu_seconds"] for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chart_dir", type=Path)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write per-chart rows and the summary here")
    ap.add_argument("--verbose", action="store_true", help="print a line per chart")
    args = ap.parse_args(argv)
    _pin_threads(args.threads)

    from flowparse import load
    from flowparse.converters.json_graph import read_json

    images = sorted(p for p in args.chart_dir.glob("*.png") if p.with_suffix(".json").exists())
    if args.limit:
        images = images[: args.limit]
    if not images:
        print(f"no *.png with a .json truth in {args.chart_dir}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    parser = load("classical", threads=args.threads)
    load_s = time.perf_counter() - t0
    rows = []
    for path in images:
        truth = read_json(path.with_suffix(".json"))
        start, cpu = time.perf_counter(), time.process_time()
        pred = parser.parse(path)
        row = {"chart": path.name, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
               **score_chart(pred, truth)}
        rows.append(row)
        if args.verbose:
            print(json.dumps(row, ensure_ascii=False))
    summary = {"load_s": load_s, "threads": args.threads, "loadavg_1min": os.getloadavg()[0], **summarize([{k: v for k, v in r.items() if k != "chart"} for r in rows])}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
