"""The evaluation harness: how well predicted graphs match labelled ones (``flowparse eval``).

Metrics (all over a whole set of diagrams, micro-averaged):

- **nodes**: precision / recall / F1 of boxes at IoU >= 0.5, one-to-one. Matching is greedy by
  IoU: all (truth, prediction) pairs at or above the threshold, highest IoU first, each node used
  once (COCO's matcher is greedy too; it orders by score, we by IoU, which never prefers a worse
  overlap). Shape is *not* needed for a match, so shape errors show up in shape accuracy.
- **map**: COCO mAP@[.5:.95] (and AP50, AP75) with the canonical shapes as categories, from
  faster-coco-eval, using node ``score`` as confidence.
- **shape_accuracy**, **text_exact**, **text_cer**: over matched nodes. Texts are compared after
  NFKC, case folding and collapsing whitespace (line breaks included); CER is the summed edit
  distance over the summed truth length.
- **edges**: directed-edge precision / recall / F1; a predicted edge counts when both its ends
  match truth nodes and the truth has that edge in that direction (either direction when the
  truth edge has ``arrow`` ``"none"`` or ``"both"``). **edge_label_accuracy** and
  **arrow_accuracy** (the heads drawn: ``normal``, ``none`` or ``both``) over the edges that count;
  **arrow_confusion** says which heads were read for which (``{truth: {read: count}}``).
- **subgraphs**: precision / recall / F1 of groups (``G.graph["subgraphs"]``); a predicted group
  counts when its nodes, through the node matching, are exactly a truth group's nodes.
  **subgraph_title_accuracy** over the groups that count.
- **diagram_exact**: share of diagrams with every node found, no extra node, every shape right
  and every edge right with no extra edge (texts and labels not required).

A prediction that is missing or broken (unreadable, bad JSON, NaN, boxes off the image) scores as
an empty graph and is listed under ``broken``; it never stops the evaluation.
"""

from __future__ import annotations

import math
import os
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import networkx as nx

from flowparse.errors import FlowparseError
from flowparse.geometry import box_iou
from flowparse.graph import ARROWS, SHAPES, new_graph

__all__ = [
    "match_nodes",
    "evaluate",
    "evaluate_dirs",
    "load_predictions",
    "normalize_text",
    "edit_distance",
    "format_report",
    "write_report",
    "plot_confusion",
    "coco_map",
]

_NONE = "(none)"  # the confusion matrix's row/column for unmatched nodes


def normalize_text(text: str) -> str:
    """Text as compared by the metrics: NFKC, case-folded, whitespace collapsed.

    >>> normalize_text("  Valid?\\n YES ") == normalize_text("valid？ yes")
    True
    """
    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings.

    >>> edit_distance("kitten", "sitting")
    3
    """
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _boxes(G: nx.DiGraph) -> dict:
    return {n: d["bbox"] for n, d in G.nodes(data=True) if d.get("bbox") is not None}


def match_nodes(truth: nx.DiGraph, pred: nx.DiGraph, iou: float = 0.5) -> dict:
    """One-to-one matching of predicted to truth nodes by box IoU >= ``iou`` (greedy, best first).

    Returns ``{truth_node: pred_node}``.

    >>> from flowparse.graph import add_shape
    >>> T = new_graph(100, 100); _ = add_shape(T, "rectangle", (0, 0, 10, 10))
    >>> P = new_graph(100, 100); _ = add_shape(P, "rectangle", (1, 0, 11, 10), node_id="a")
    >>> match_nodes(T, P)
    {'n0': 'a'}
    """
    tb, pb = _boxes(truth), _boxes(pred)
    pairs = []
    for t, a in tb.items():
        for p, b in pb.items():
            overlap = box_iou(a, b)
            if overlap >= iou:
                pairs.append((-overlap, str(t), str(p), t, p))
    pairs.sort()  # ties broken by node ids, so results never depend on dict order
    matched: dict = {}
    used = set()
    for _, _, _, t, p in pairs:
        if t not in matched and p not in used:
            matched[t] = p
            used.add(p)
    return matched


def _rescaled(pred: nx.DiGraph, truth: nx.DiGraph) -> nx.DiGraph:
    """``pred`` in the truth's pixel frame when it was made on a resized copy of the image."""
    tw, th, pw, ph = (G.graph.get(k) for G in (truth, pred) for k in ("width", "height"))
    if not (tw and th and pw and ph) or (tw, th) == (pw, ph):
        return pred
    sx, sy = tw / pw, th / ph
    H = pred.copy()
    for _, d in H.nodes(data=True):
        if d.get("bbox") is not None:
            x1, y1, x2, y2 = d["bbox"]
            d["bbox"] = (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
    return H


def _diagram_counts(truth: nx.DiGraph, pred: nx.DiGraph, iou: float) -> dict:
    pred = _rescaled(pred, truth)
    matched = match_nodes(truth, pred, iou)
    c = Counter()
    c["node_tp"] = len(matched)
    c["node_fn"] = truth.number_of_nodes() - len(matched)
    c["node_fp"] = pred.number_of_nodes() - len(matched)
    pairs = []
    for t, p in matched.items():
        td, pd = truth.nodes[t], pred.nodes[p]
        same_shape = td.get("shape") == pd.get("shape")
        c["shape_ok"] += same_shape
        pairs.append((td.get("shape", "other"), pd.get("shape", "other")))
        tt, pt = normalize_text(td.get("text", "")), normalize_text(pd.get("text", ""))
        c["text_ok"] += tt == pt
        c["text_chars"] += len(tt)
        c["text_edits"] += edit_distance(tt, pt)
    pairs += [(truth.nodes[t].get("shape", "other"), _NONE) for t in truth if t not in matched]
    used = set(matched.values())
    pairs += [(_NONE, pred.nodes[p].get("shape", "other")) for p in pred if p not in used]
    back = {p: t for t, p in matched.items()}
    found, heads = set(), Counter()
    for a, b, pdata in pred.edges(data=True):
        hit = _truth_edge(truth, back.get(a), back.get(b))
        if hit is None or hit in found:
            continue
        found.add(hit)
        c["label_ok"] += normalize_text(truth.edges[hit].get("label", "")) == normalize_text(pdata.get("label", ""))
        heads[truth.edges[hit].get("arrow", "normal"), pdata.get("arrow", "normal")] += 1
    c.update(_subgraph_counts(truth, pred, back))
    c["edge_tp"] = len(found)
    c["edge_fp"] = pred.number_of_edges() - len(found)
    c["edge_fn"] = truth.number_of_edges() - len(found)
    c["exact"] = int(c["node_fn"] == c["node_fp"] == 0 and c["shape_ok"] == c["node_tp"]
                     and c["edge_fn"] == c["edge_fp"] == 0)
    return {"counts": c, "confusion": pairs, "heads": heads}


def _subgraph_counts(truth: nx.DiGraph, pred: nx.DiGraph, back: dict) -> Counter:
    """Groups found (same truth nodes, one-to-one), extra and missed, and titles right."""
    wanted = [(frozenset(s["nodes"]), s["title"]) for s in truth.graph.get("subgraphs", [])]
    c = Counter()
    for sub in pred.graph.get("subgraphs", []):
        nodes = frozenset(back.get(n) for n in sub["nodes"])
        hit = next((k for k, (want, _) in enumerate(wanted) if want == nodes), None)
        if hit is None:
            c["subgraph_fp"] += 1
            continue
        c["subgraph_tp"] += 1
        c["subgraph_title_ok"] += normalize_text(wanted.pop(hit)[1]) == normalize_text(sub["title"])
    c["subgraph_fn"] += len(wanted)
    return c


def _truth_edge(truth: nx.DiGraph, u, v):
    if u is None or v is None:
        return None
    if truth.has_edge(u, v):
        return (u, v)
    if truth.has_edge(v, u) and truth.edges[v, u].get("arrow") in ("none", "both"):
        return (v, u)  # a plain line or a two-headed arrow has no direction to get wrong
    return None


def _prf(tp: int, fp: int, fn: int) -> dict:
    # Nothing to find and nothing claimed is a perfect score, not 0/0.
    precision = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    recall = tp / (tp + fn) if tp + fn else (1.0 if fp == 0 else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def evaluate(
    truth_graphs: Sequence[nx.DiGraph],
    pred_graphs: Sequence[nx.DiGraph | None],
    *,
    names: Sequence[str] | None = None,
    iou: float = 0.5,
) -> dict:
    """Score predicted graphs against truth graphs (same order; None = no prediction).

    >>> from flowparse.graph import add_shape, add_arrow
    >>> T = new_graph(100, 100); a = add_shape(T, "diamond", (0, 0, 40, 40), "ok?")
    >>> b = add_shape(T, "rectangle", (0, 60, 40, 90), "go"); add_arrow(T, a, b, "yes")
    >>> r = evaluate([T], [T])
    >>> r["nodes"]["f1"], r["edges"]["f1"], r["diagram_exact"], r["text_cer"]
    (1.0, 1.0, 1.0, 0.0)
    """
    if len(truth_graphs) != len(pred_graphs):
        raise ValueError(f"{len(truth_graphs)} truth graphs but {len(pred_graphs)} predictions")
    names = list(names) if names is not None else [str(i) for i in range(len(truth_graphs))]
    pred_graphs, broken = _usable(pred_graphs, names)
    total, confusion, heads, per_diagram = Counter(), Counter(), Counter(), []
    for name, truth, pred in zip(names, truth_graphs, pred_graphs):
        result = _diagram_counts(truth, pred if pred is not None else new_graph(), iou)
        c = result["counts"]
        total.update(c)
        confusion.update(result["confusion"])
        heads.update(result["heads"])
        per_diagram.append({"name": name, "nodes": _prf(c["node_tp"], c["node_fp"], c["node_fn"])["f1"],
                            "edges": _prf(c["edge_tp"], c["edge_fp"], c["edge_fn"])["f1"], "exact": bool(c["exact"])})
    return {
        "diagrams": len(truth_graphs),
        "iou": iou,
        "nodes": _prf(total["node_tp"], total["node_fp"], total["node_fn"]),
        "map": coco_map(truth_graphs, pred_graphs),
        "shape_accuracy": _ratio(total["shape_ok"], total["node_tp"]),
        "text_exact": _ratio(total["text_ok"], total["node_tp"]),
        "text_cer": _ratio(total["text_edits"], total["text_chars"]) if total["text_chars"] else
        (0.0 if total["text_edits"] == 0 else 1.0),
        "edges": _prf(total["edge_tp"], total["edge_fp"], total["edge_fn"]),
        "edge_label_accuracy": _ratio(total["label_ok"], total["edge_tp"]),
        "arrow_accuracy": _ratio(sum(heads[kind, kind] for kind in ARROWS), total["edge_tp"]),
        "arrow_confusion": {drawn: {read: heads[drawn, read] for read in ARROWS} for drawn in ARROWS},
        "subgraphs": _prf(total["subgraph_tp"], total["subgraph_fp"], total["subgraph_fn"]),
        "subgraph_title_accuracy": _ratio(total["subgraph_title_ok"], total["subgraph_tp"]),
        "diagram_exact": _ratio(total["exact"], len(truth_graphs)),
        "confusion": _confusion_table(confusion),
        "per_diagram": per_diagram,
        "broken": broken,
    }


def _usable(pred_graphs: Sequence[nx.DiGraph | None], names: Sequence[str]) -> tuple[list, list[dict]]:
    """Predictions that break the graph contract (NaN, boxes off the image, ...) become None."""
    from flowparse.graph import validate_graph

    usable, broken = [], []
    for name, pred in zip(names, pred_graphs):
        if pred is not None:
            try:
                validate_graph(pred)
            except FlowparseError as e:
                broken.append({"name": name, "problem": str(e)})
                pred = None
        usable.append(pred)
    return usable, broken


def _confusion_table(pairs: Counter) -> dict:
    seen = {s for pair in pairs for s in pair}
    labels = [s for s in SHAPES if s in seen] + ([_NONE] if _NONE in seen else [])
    matrix = [[pairs.get((t, p), 0) for p in labels] for t in labels]
    return {"labels": labels, "matrix": matrix}


def coco_map(truth_graphs: Sequence[nx.DiGraph], pred_graphs: Sequence[nx.DiGraph | None]) -> dict:
    """COCO box AP with canonical shapes as categories: ``{"map", "map50", "map75"}``.

    From faster-coco-eval (the maintained C++ port of pycocotools). With no truth boxes at all
    the values are None; with no predictions they are 0.0.
    """
    images, gts, dts = [], [], []
    for i, (truth, pred) in enumerate(zip(truth_graphs, pred_graphs)):
        width, height = truth.graph.get("width", 1), truth.graph.get("height", 1)
        images.append({"id": i + 1, "width": width, "height": height})
        for _, d in truth.nodes(data=True):
            if d.get("bbox") is not None:
                gts.append(_coco_box(d, i + 1, len(gts) + 1))
        if pred is not None:
            pred = _rescaled(pred, truth)
            for _, d in pred.nodes(data=True):
                if d.get("bbox") is not None and d.get("shape") in SHAPES:
                    dts.append({**_coco_box(d, i + 1, len(dts) + 1), "score": float(d.get("score", 1.0))})
    if not gts:
        return {"map": None, "map50": None, "map75": None}
    if not dts:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0}
    stats = _run_coco(images, gts, dts)
    return {"map": _clean(stats[0]), "map50": _clean(stats[1]), "map75": _clean(stats[2])}


def _coco_box(d: dict, image_id: int, ann_id: int) -> dict:
    x1, y1, x2, y2 = (float(v) for v in d["bbox"])
    return {"id": ann_id, "image_id": image_id, "category_id": SHAPES.index(d.get("shape", "other")) + 1,
            "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0}


def _run_coco(images: list, gts: list, dts: list) -> list[float]:
    import contextlib
    import io

    from faster_coco_eval import COCO, COCOeval_faster

    categories = [{"id": k + 1, "name": s} for k, s in enumerate(SHAPES)]
    with contextlib.redirect_stdout(io.StringIO()):  # the evaluator prints its tables
        gt = COCO()
        gt.dataset = {"images": images, "annotations": gts, "categories": categories}
        gt.createIndex()
        dt = gt.loadRes(dts)
        ev = COCOeval_faster(gt, dt, iouType="bbox", print_function=lambda *a, **k: None)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats[:3]]


def _clean(value: float) -> float:
    # COCO reports -1 where a category has no truth boxes at all; there it means "undefined".
    return 0.0 if value is None or math.isnan(value) or value < 0 else value


def load_predictions(truth_dir: str | os.PathLike, pred_dir: str | os.PathLike):
    """Pairs of (name, truth, prediction or None, problem) for every ``*.json`` in ``truth_dir``.

    Unreadable truth files are reported with truth None; unreadable predictions with None.
    """
    from flowparse.converters.json_graph import read_json

    truth_dir, pred_dir = Path(truth_dir), Path(pred_dir)
    rows = []
    for path in sorted(truth_dir.glob("*.json")):
        try:
            truth = read_json(path)
        except FlowparseError as e:
            rows.append((path.stem, None, None, f"truth unreadable: {e}"))
            continue
        try:
            pred, problem = read_json(pred_dir / path.name), ""
        except FlowparseError as e:
            pred, problem = None, str(e)
        rows.append((path.stem, truth, pred, problem))
    return rows


def evaluate_dirs(truth_dir: str | os.PathLike, pred_dir: str | os.PathLike, *, iou: float = 0.5) -> dict:
    """Score the graph JSON files in ``pred_dir`` against those of the same names in ``truth_dir``.

    Missing or broken predictions score as empty graphs and are listed under ``broken``;
    unreadable truth files are skipped and listed under ``skipped``.
    """
    rows = load_predictions(truth_dir, pred_dir)
    usable = [r for r in rows if r[1] is not None]
    if not usable:
        raise FlowparseError("no readable truth graphs (*.json) here", source=truth_dir)
    result = evaluate([r[1] for r in usable], [r[2] for r in usable], names=[r[0] for r in usable], iou=iou)
    result["broken"] = [{"name": n, "problem": p} for n, t, _, p in usable if p] + result["broken"]
    result["skipped"] = [{"name": n, "problem": p} for n, t, _, p in rows if t is None]
    result["truth_dir"], result["pred_dir"] = str(truth_dir), str(pred_dir)
    return result


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def format_report(result: dict, confusion_png: str | None = None) -> str:
    """The evaluation as a Markdown report (the confusion matrix image linked when given)."""
    n, e, m = result["nodes"], result["edges"], result["map"]
    lines = [
        "# flowparse evaluation", "",
        f"{result['diagrams']} diagrams; nodes match at IoU >= {result['iou']} (one-to-one, greedy by IoU).", "",
        "| metric | value |", "|---|---|",
        f"| node precision | {_fmt(n['precision'])} |", f"| node recall | {_fmt(n['recall'])} |",
        f"| node F1 | {_fmt(n['f1'])} |", f"| mAP@[.5:.95] | {_fmt(m['map'])} |",
        f"| AP50 | {_fmt(m['map50'])} |", f"| AP75 | {_fmt(m['map75'])} |",
        f"| shape accuracy (matched) | {_fmt(result['shape_accuracy'])} |",
        f"| text exact (matched) | {_fmt(result['text_exact'])} |",
        f"| text CER (matched) | {_fmt(result['text_cer'])} |",
        f"| edge precision | {_fmt(e['precision'])} |", f"| edge recall | {_fmt(e['recall'])} |",
        f"| edge F1 | {_fmt(e['f1'])} |", f"| edge label accuracy | {_fmt(result['edge_label_accuracy'])} |",
        f"| arrow accuracy | {_fmt(result['arrow_accuracy'])} |",
        f"| subgraph F1 | {_fmt(result['subgraphs']['f1'])} |",
        f"| subgraph title accuracy | {_fmt(result['subgraph_title_accuracy'])} |",
        f"| diagram exact | {_fmt(result['diagram_exact'])} |", "",
        f"Nodes: {n['tp']} matched, {n['fp']} extra, {n['fn']} missed. "
        f"Edges: {e['tp']} right, {e['fp']} extra, {e['fn']} missed.", "",
    ]
    lines += ["## Arrowheads of the edges found (rows: truth, columns: read)", "",
              "| truth | " + " | ".join(ARROWS) + " |", "|---|" + "---|" * len(ARROWS)]
    lines += [f"| {drawn} | " + " | ".join(str(n) for n in row.values()) + " |"
              for drawn, row in result["arrow_confusion"].items()] + [""]
    if confusion_png:
        lines += ["## Shape confusion (rows: truth, columns: prediction)", "",
                  f"![shape confusion]({confusion_png})", ""]
    if result.get("broken"):
        lines += ["## Broken or missing predictions (scored as empty)", ""]
        lines += [f"- `{b['name']}`: {b['problem']}" for b in result["broken"]] + [""]
    if result.get("skipped"):
        lines += ["## Skipped (truth unreadable)", ""]
        lines += [f"- `{b['name']}`: {b['problem']}" for b in result["skipped"]] + [""]
    worst = sorted(result["per_diagram"], key=lambda d: (d["nodes"] + d["edges"], d["name"]))[:10]
    lines += ["## Worst diagrams", "", "| diagram | node F1 | edge F1 | exact |", "|---|---|---|---|"]
    lines += [f"| {d['name']} | {d['nodes']:.3f} | {d['edges']:.3f} | {'yes' if d['exact'] else 'no'} |" for d in worst]
    return "\n".join(lines) + "\n"


def plot_confusion(result: dict, path: str | os.PathLike) -> None:
    """The shape confusion matrix as a PNG heat map with counts (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, matrix = result["confusion"]["labels"], result["confusion"]["matrix"]
    size = max(4.0, 0.55 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    try:
        ax.imshow(matrix or [[0]], cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("prediction")
        ax.set_ylabel("truth")
        peak = max((v for row in matrix for v in row), default=0)
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                if v:
                    color = "white" if v > peak / 2 else "black"
                    ax.text(j, i, str(v), ha="center", va="center", color=color, fontsize=8)
        fig.tight_layout()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def write_report(result: dict, path: str | os.PathLike) -> None:
    """Write the Markdown report to ``path`` and its confusion matrix next to it (``*.confusion.png``)."""
    from flowparse.files import write_text_atomic

    path = Path(path)
    png = path.with_suffix(".confusion.png")
    plot_confusion(result, png)
    write_text_atomic(path, format_report(result, png.name))
