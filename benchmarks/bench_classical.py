"""Speed and accuracy of the classical detector on charts with truth graphs, on ONE core.

    flowparse data synth -n 100 -o /tmp/synth --seed 7001 --degrade 0 --max-nodes 20
    python benchmarks/bench_classical.py /tmp/synth [--limit N] [--threads 1] [--json out.json]

CHART_DIR is a synthetic set (``images/*.png`` + ``truth/*.json``) or a folder of ``*.png`` each
with a ``.json`` truth beside it (``benchmarks/graphviz_charts.py``, ``fixtures/charts``). Thread
counts of OpenCV and ONNX Runtime are set to ``--threads`` before anything loads, so the figure
is a one-core figure. Accuracy is the project's harness, ``flowparse.evaluation.evaluate``
(nodes at IoU >= 0.5; per-renderer rows when the set has a ``synth.json``, per-look rows
such as ``mermaid:classic`` from the truth graphs' ``look``; ``--look classic`` keeps only
those charts); the small matcher below gives the per-chart counts printed with ``--verbose``.
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
        (
            (box_iou(pd["bbox"], td["bbox"]), p, t)
            for p, pd in pred.nodes(data=True)
            for t, td in truth.nodes(data=True)
        ),
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
    label_ok = sum(
        _norm_text(pred.edges[u, v]["label"]) == _norm_text(truth.edges[a, b]["label"])
        for u, v in pred.edges
        for a, b in [undirected.get((mapping.get(u), mapping.get(v)), (mapping.get(u), mapping.get(v)))]
        if (a, b) in te
    )
    return {
        "pred_nodes": pred.number_of_nodes(),
        "true_nodes": truth.number_of_nodes(),
        "matched": len(mapping),
        "shape_ok": shape_ok,
        "text_ok": text_ok,
        "pred_edges": pred.number_of_edges(),
        "true_edges": truth.number_of_edges(),
        "edge_hits": len(hits),
        "label_ok": label_ok,
    }


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


def _ocr_baseline(paths: list[Path], threads: int) -> dict:
    """Seconds per chart of RapidOCR's full pipeline alone (what reading text costs without our
    shape-guided line crops), with the same bundled models and thread count."""
    import numpy as np
    from PIL import Image
    from rapidocr import RapidOCR

    from flowparse.backends.classical.ocr import bundled_model_files

    files = bundled_model_files()
    params = {f"{stage}.model_path": str(path) for stage, path in files.items()}
    params.update(
        {
            "Global.log_level": "critical",
            "Global.use_cls": False,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )
    engine = RapidOCR(params=params)
    seconds, cpu = [], []
    for path in paths:
        bgr = np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB"))[:, :, ::-1])
        start, c0 = time.perf_counter(), time.process_time()
        engine(bgr)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - c0)
    return {"charts": len(paths), "median_s": statistics.median(seconds), "median_cpu_s": statistics.median(cpu)}


def _charts(folder: Path) -> list[tuple[Path, Path]]:
    """(image, truth) pairs of a synthetic set or of a flat folder."""
    if (folder / "images").is_dir() and (folder / "truth").is_dir():
        pairs = [(p, folder / "truth" / f"{p.stem}.json") for p in sorted((folder / "images").glob("*.png"))]
    else:
        pairs = [(p, p.with_suffix(".json")) for p in sorted(folder.glob("*.png"))]
    return [(p, t) for p, t in pairs if t.exists()]


def _harness(truths, preds, names, folder: Path) -> dict:
    """The project's metrics, for the whole set and per renderer of a synthetic set."""
    try:
        from flowparse.evaluation import evaluate
    except ImportError:
        return {}

    def brief(r: dict) -> dict:
        return {
            "diagrams": r["diagrams"],
            "node_f1": r["nodes"]["f1"],
            "shape_accuracy": r["shape_accuracy"],
            "text_exact": r["text_exact"],
            "edge_f1": r["edges"]["f1"],
            "edge_label_accuracy": r["edge_label_accuracy"],
            "arrow_accuracy": r["arrow_accuracy"],
            "arrow_confusion": r["arrow_confusion"],
            "map": r["map"].get("map") if isinstance(r["map"], dict) else r["map"],
            "subgraph_f1": r["subgraphs"]["f1"],
            "subgraph_title_accuracy": r["subgraph_title_accuracy"],
        }

    out = {"all": brief(evaluate(truths, preds, names=names))}
    groups: dict[str, list[int]] = {}
    meta = folder / "synth.json"
    if meta.exists():
        renderer = {c["id"]: c["renderer"] for c in json.loads(meta.read_text(encoding="utf-8"))["charts"]}
        for k, n in enumerate(names):
            if n in renderer:
                groups.setdefault(renderer[n], []).append(k)
    # per look too (truth graph attribute `look`: classic / handDrawn, clean / sketchy), so one
    # renderer's looks are not averaged together
    for k, truth in enumerate(truths):
        if truth.graph.get("look"):
            groups.setdefault(f"{truth.graph['backend'].removeprefix('synth:')}:{truth.graph['look']}", []).append(k)
    for name in sorted(groups):
        keep = groups[name]
        out[name] = brief(evaluate([truths[k] for k in keep], [preds[k] for k in keep], names=[names[k] for k in keep]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chart_dir", type=Path)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write per-chart rows and the summary here")
    ap.add_argument("--verbose", action="store_true", help="print a line per chart")
    ap.add_argument("--look", help="only charts whose truth has this look (classic, handDrawn, clean, sketchy)")
    ap.add_argument(
        "--ocr-baseline",
        type=int,
        default=0,
        metavar="N",
        help="baseline in the same run: full RapidOCR (text detector + recogniser) on the first N charts",
    )
    args = ap.parse_args(argv)
    _pin_threads(args.threads)

    from flowparse.converters.json_graph import read_json

    from flowparse import load

    images = _charts(args.chart_dir)
    if args.look:
        images = [(p, t) for p, t in images if read_json(t).graph.get("look") == args.look]
    if args.limit:
        images = images[: args.limit]
    if not images:
        print(f"no charts with truth in {args.chart_dir} (images/ + truth/, or *.png + *.json)", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    parser = load("classical", threads=args.threads)
    load_s = time.perf_counter() - t0
    rows, truths, preds = [], [], []
    for path, truth_path in images:
        truth = read_json(truth_path)
        start, cpu = time.perf_counter(), time.process_time()
        pred = parser.parse(path)
        row = {
            "chart": path.name,
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu,
            **score_chart(pred, truth),
        }
        rows.append(row)
        truths.append(truth)
        preds.append(pred)
        if args.verbose:
            print(json.dumps(row, ensure_ascii=False))
    summary = {
        "load_s": load_s,
        "threads": args.threads,
        "loadavg_1min": os.getloadavg()[0],
        **summarize([{k: v for k, v in r.items() if k != "chart"} for r in rows]),
    }
    if args.ocr_baseline:
        summary["ocr_baseline"] = _ocr_baseline([p for p, _ in images[: args.ocr_baseline]], args.threads)
    summary["harness"] = _harness(truths, preds, [p.stem for p, _ in images], args.chart_dir)
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(
            json.dumps({"summary": summary, "rows": rows}, indent=1, ensure_ascii=False), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
