"""The Graphviz renderer: ``dot`` lays out and draws the chart; its JSON output gives exact truth.

One ``dot -Tjson -Tpng`` call per chart writes the layout (JSON) and the picture (PNG) to stdout
one after the other. Node boxes come from the drawing operations of each node (polygons,
ellipses, Bezier outlines: what is actually inked, plus half the pen width), edges from their
Bezier splines with the arrow tips. Graphviz measures in points with y pointing up; the PNG is
``(bb + 2 * pad) * dpi / 72`` pixels with y pointing down, which :func:`_to_pixels` undoes.
"""

from __future__ import annotations

import io
import json
import random
import subprocess

import networkx as nx
from flowparse.converters.dot import DOT_SHAPES, quote
from flowparse.training.synth.fonts import CJK_FAMILIES, CJK_HAND_FAMILIES, CLEAN_FAMILIES, HAND_FAMILIES, installed
from flowparse.training.synth.structure import ChartSpec, pick_groups
from flowparse.training.synth.truth import truth_graph
from PIL import Image

from flowparse.errors import FlowparseError

__all__ = ["render_graphviz", "chart_dot", "RenderError"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # cannot occur in JSON text, which escapes \r \n \x1a

#: What Graphviz cannot draw as asked: the truth names what it draws instead.
_DRAWN_AS = {"stadium": "rounded_rectangle"}

_FILLS = ("#dae8fc", "#d5e8d4", "#fff2cc", "#f8cecc", "#e1d5e7", "#f5f5f5", "#ffe6cc", "#cce5ff",
          "lightyellow", "lightblue", "#eeeeee", "white")
_INKS = ("black", "black", "#333333", "#1f3a93", "#444444", "#2e7d32", "#6c8ebf", "#b85450")


class RenderError(FlowparseError, RuntimeError):
    """A renderer failed on a chart (the generator then draws the chart again from a new seed)."""


def _pick_style(spec: ChartSpec, rng: random.Random) -> dict:
    chinese = spec.language != "en"
    fonts = installed(CJK_FAMILIES + CJK_HAND_FAMILIES) if chinese else installed(CLEAN_FAMILIES + HAND_FAMILIES)
    big = len(spec.nodes) > 16
    return {
        "rankdir": rng.choices(("TB", "LR", "BT", "RL"), (60, 25, 6, 6) if spec.sideways_ok() else (90, 0, 10, 0))[0],
        "splines": rng.choices(("ortho", "polyline", "true", "false", "curved"), (30, 22, 30, 10, 8))[0],
        "dpi": rng.choice((60, 72, 80, 96) if big else (72, 80, 96, 110, 130)),
        "font": rng.choice(fonts or ("sans",)),
        "fontsize": rng.choice((10, 11, 12, 14, 16)),
        "fill": rng.choice(_FILLS) if rng.random() < 0.55 else None,
        "ink": rng.choice(_INKS),
        "edge_ink": rng.choice(_INKS),
        "penwidth": rng.choice((1.0, 1.0, 1.3, 1.6, 2.0, 2.5)),
        "edge_penwidth": rng.choice((0.8, 1.0, 1.0, 1.5, 2.0)),
        "arrowhead": rng.choice(("normal", "normal", "normal", "vee", "empty", "onormal")),
        "arrowsize": rng.choice((0.6, 0.8, 1.0, 1.2)),
        "nodesep": round(rng.uniform(0.2, 0.9), 2),
        "ranksep": round(rng.uniform(0.25, 0.9), 2),
        "pad": round(rng.uniform(0.1, 0.6), 2),
        "tail_labels": rng.random() < 0.25,
        "title": rng.random() < 0.15,
        "groups": pick_groups(spec, rng) if rng.random() < 0.15 else [],
    }


def chart_dot(spec: ChartSpec, rng: random.Random) -> tuple[str, dict]:
    """The DOT text that draws ``spec`` in a randomly picked style, and that style.

    >>> from flowparse.training.synth.structure import sample_chart
    >>> text, style = chart_dot(sample_chart(random.Random(0)), random.Random(0))
    >>> text.startswith("digraph chart {") and '"n0"' in text
    True
    """
    style = _pick_style(spec, rng)
    lines = [
        "digraph chart {",
        f'  graph [rankdir={style["rankdir"]}, splines={style["splines"]}, dpi={style["dpi"]}, '
        f'pad={style["pad"]}, nodesep={style["nodesep"]}, ranksep={style["ranksep"]}, bgcolor=white, '
        f'fontname={quote(style["font"])}, fontsize={style["fontsize"] + 4}];',
        f'  node [fontname={quote(style["font"])}, fontsize={style["fontsize"]}, color={quote(style["ink"])}, '
        f'penwidth={style["penwidth"]}, fontcolor={quote(style["ink"])}];',
        f'  edge [fontname={quote(style["font"])}, fontsize={style["fontsize"] - 1}, color={quote(style["edge_ink"])}, '
        f'penwidth={style["edge_penwidth"]}, arrowhead={style["arrowhead"]}, arrowsize={style["arrowsize"]}];',
    ]
    if style["title"]:
        from flowparse.training.synth.phrases import TITLES

        titles = TITLES["zh" if spec.language == "zh" else "en"]
        lines.append(f"  graph [label={quote(rng.choice(titles))}, labelloc=t];")
    for node in spec.nodes:
        lines.append(f"  {quote(node.id)} [{_node_attrs(node.shape, node.text, style)}];")
    for group in style["groups"]:
        frame = rng.choice(('style="rounded,dashed"', 'style=filled; fillcolor="#f4f4f4"', "style=solid"))
        members = "; ".join(quote(n) for n in group["nodes"])
        lines.append(f"  subgraph {group['id']} {{ label={quote(group['title'])}; {frame}; {members}; }}")
    for edge in spec.edges:
        lines.append(f"  {quote(edge.source)} -> {quote(edge.target)} [{_edge_attrs(edge, style)}];")
    lines.append("}")
    return "\n".join(lines) + "\n", style


def _node_attrs(shape: str, text: str, style: dict) -> str:
    attrs = dict(DOT_SHAPES[shape])
    styles = [s for s in attrs.pop("style", "").split(",") if s]
    if style["fill"]:
        styles.append("filled")
        attrs["fillcolor"] = style["fill"]
    if styles:
        attrs["style"] = ",".join(styles)
    attrs["label"] = text
    return ", ".join(f"{k}={quote(str(v))}" for k, v in attrs.items())


def _edge_attrs(edge, style: dict) -> str:
    attrs = {}
    if edge.label:
        # Orthogonal routing cannot place edge labels; Graphviz offers xlabels instead.
        key = "xlabel" if style["splines"] == "ortho" else "taillabel" if style["tail_labels"] else "label"
        attrs[key] = edge.label
    if edge.arrow != "normal":
        attrs["dir"] = "none" if edge.arrow == "none" else "both"
        if edge.arrow == "both":
            attrs["arrowtail"] = attrs.get("arrowhead", "normal")
    return ", ".join(f"{k}={quote(str(v))}" for k, v in attrs.items())


def _run_dot(dot_text: str) -> tuple[dict, Image.Image]:
    try:
        proc = subprocess.run(["dot", "-Tjson", "-Tpng"], input=dot_text.encode("utf-8"), capture_output=True,
                              timeout=60)
    except FileNotFoundError:
        raise RenderError("Graphviz 'dot' is not installed (scripts/install-system-deps.sh)") from None
    except subprocess.TimeoutExpired:
        raise RenderError("dot took more than 60 s") from None
    cut = proc.stdout.find(_PNG_SIGNATURE)
    if proc.returncode != 0 or cut < 0:
        raise RenderError(f"dot failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-300:]}")
    layout = json.loads(proc.stdout[:cut])
    image = Image.open(io.BytesIO(proc.stdout[cut:]))
    image.load()
    return layout, image.convert("RGB")


class _Frame:
    """Graphviz points (y up, origin at the bounding box's lower left) to image pixels."""

    def __init__(self, layout: dict, dpi: float, pad_inches: float):
        self.llx, self.lly, self.urx, self.ury = (float(v) for v in layout["bb"].split(","))
        self.scale = dpi / 72.0
        self.pad = pad_inches * 72.0

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        return ((x - self.llx + self.pad) * self.scale, (self.ury - y + self.pad) * self.scale)

    def size(self) -> tuple[float, float]:
        return ((self.urx - self.llx + 2 * self.pad) * self.scale, (self.ury - self.lly + 2 * self.pad) * self.scale)


def _op_points(ops: list[dict]) -> list[tuple[float, float]]:
    """The extreme points of a node's drawing operations (what is inked)."""
    points: list[tuple[float, float]] = []
    for op in ops:
        if op["op"] in ("p", "P", "b", "B", "L"):
            points.extend((float(x), float(y)) for x, y in op["points"])
        elif op["op"] in ("e", "E"):
            (cx, cy), rx, ry = op["rect"][:2], op["rect"][2], op["rect"][3]
            points.extend(((cx - rx, cy - ry), (cx + rx, cy + ry)))
    return points


def _node_box(obj: dict, frame: _Frame, half_pen: float) -> tuple[float, float, float, float]:
    points = [frame(x, y) for x, y in _op_points(obj.get("_draw_", []))]
    if not points:
        raise RenderError(f"node {obj.get('name')!r} has no drawing operations")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    grow = half_pen * frame.scale
    return (min(xs) - grow, min(ys) - grow, max(xs) + grow, max(ys) + grow)


def _bezier(points: list, steps: int = 4) -> list[tuple[float, float]]:
    """Points along a piecewise cubic Bezier (Graphviz's p0 c1 c2 p1 c1 c2 p2 ... list)."""
    out = [tuple(points[0])]
    for k in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[k : k + 4]
        for i in range(1, steps + 1):
            t = i / steps
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
            out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


def _edge_line(edge: dict, frame: _Frame) -> list[tuple[float, float]]:
    curve: list = []
    for op in edge.get("_draw_", []):
        if op["op"] in ("b", "B"):
            curve.extend(_bezier([tuple(map(float, p)) for p in op["points"]]))
    start = end = None
    for part in str(edge.get("pos", "")).split():
        if part.startswith("e,"):
            end = tuple(map(float, part[2:].split(",")))
        elif part.startswith("s,"):
            start = tuple(map(float, part[2:].split(",")))
    line = ([start] if start else []) + curve + ([end] if end else [])
    return _drop_collinear([frame(x, y) for x, y in line])


def _drop_collinear(line: list[tuple[float, float]], tol: float = 0.25) -> list[tuple[float, float]]:
    """The polyline without points lying on the segment through their neighbours (ortho routes)."""
    out: list[tuple[float, float]] = []
    for p in line:
        if out and abs(p[0] - out[-1][0]) < 1e-6 and abs(p[1] - out[-1][1]) < 1e-6:
            continue
        while len(out) >= 2:
            (ax, ay), (bx, by) = out[-2], out[-1]
            cross = (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax)
            length = max(((p[0] - ax) ** 2 + (p[1] - ay) ** 2) ** 0.5, 1e-9)
            if abs(cross) / length > tol or (bx - ax) * (p[0] - bx) + (by - ay) * (p[1] - by) < 0:
                break
            out.pop()
        out.append(p)
    return out


def render_graphviz(spec: ChartSpec, rng: random.Random) -> tuple[Image.Image, nx.DiGraph]:
    """Draw ``spec`` with Graphviz in a random style; return the image and its exact truth.

    >>> from flowparse.training.synth.structure import sample_chart
    >>> image, G = render_graphviz(sample_chart(random.Random(3)), random.Random(3))
    >>> (G.graph["width"], G.graph["height"]) == image.size
    True
    """
    dot_text, style = chart_dot(spec, rng)
    layout, image = _run_dot(dot_text)
    frame = _Frame(layout, style["dpi"], style["pad"])
    expected = frame.size()
    if abs(expected[0] - image.width) > 2 or abs(expected[1] - image.height) > 2:
        raise RenderError(f"dot drew {image.size}, the layout says {expected}: coordinates would be off")
    objects = layout.get("objects", [])
    by_name = {obj["name"]: obj for obj in objects if "nodes" not in obj and "subgraphs" not in obj}
    half_pen = style["penwidth"] / 2
    boxes = {node.id: _node_box(by_name[node.id], frame, half_pen) for node in spec.nodes}
    points = {}
    for edge in layout.get("edges", []):
        ends = (objects[edge["tail"]]["name"], objects[edge["head"]]["name"])
        points[ends] = _edge_line(edge, frame)
    shapes = {n.id: _DRAWN_AS[n.shape] for n in spec.nodes if n.shape in _DRAWN_AS}
    return image, truth_graph(spec, image.size, boxes, points, renderer="graphviz", shapes=shapes,
                              subgraphs=style["groups"], look="clean")
