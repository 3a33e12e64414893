"""Grounded answers: the prompts and answer formats shared by training targets and the parser.

The data exporter writes answers with :func:`detection_answer`, :func:`grounding_answer` and
:func:`graph_answer`; the InternVL detector reads model output back with
:func:`parse_detection`, :func:`parse_grounding` and :func:`parse_graph_answer`. Both sides import
this module, so the formats cannot drift apart. Coordinates are on InternVL's 0..1000 grid
(``flowparse.geometry.normalize_box``). Formats are documented in ``docs/grounding.md``.

The parsers are pure and never raise on any string: bad or truncated parts are skipped and
what is complete is kept.

>>> from flowparse.graph import new_graph, add_shape, add_arrow
>>> G = new_graph(200, 100)
>>> a = add_shape(G, "diamond", (20, 10, 120, 50), "ok?")
>>> b = add_shape(G, "rectangle", (20, 60, 120, 90), "go")
>>> add_arrow(G, a, b, label="yes")
>>> print(graph_answer(G))
n0 diamond <ref>ok?</ref><box>[[100, 100, 600, 500]]</box>
n1 rectangle <ref>go</ref><box>[[100, 600, 600, 900]]</box>
n0 -> n1 <ref>yes</ref>
>>> H = parse_graph_answer(graph_answer(G), 200, 100)
>>> H.nodes["n0"]["bbox"], H.edges["n0", "n1"]["label"]
((20.0, 10.0, 120.0, 50.0), 'yes')
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import networkx as nx

from flowparse.geometry import NORM_SCALE, clip_box, denormalize_box, normalize_box
from flowparse.graph import SHAPES, add_arrow, add_shape, canonical_shape, new_graph

__all__ = [
    "TASKS",
    "PROMPTS",
    "ARROW_SYMBOLS",
    "prompt_for",
    "detection_answer",
    "grounding_answer",
    "graph_answer",
    "escape_text",
    "unescape_text",
    "complete_lines",
    "parse_detection",
    "parse_grounding",
    "parse_graph_answer",
    "SpanScore",
]

#: The task kinds a grounded flowchart model is trained on.
TASKS: tuple[str, ...] = ("detection", "grounding", "graph")

#: Prompt paraphrases per task, English then Chinese. The first one of each task is the
#: canonical prompt used at inference; the detection one is InternVL's own detection phrasing,
#: the grounding one InternVL's referring-expression phrasing (``{text}`` is the shape's text).
PROMPTS: dict[str, tuple[str, ...]] = {
    "detection": (
        "Please detect and label all objects in the following image and mark their positions.",
        "Detect every shape in this flowchart and give its type and bounding box.",
        "Find all flowchart shapes in the image and mark their positions.",
        "List every node of this flowchart with its shape type and box.",
        "请检测并标注图中的所有对象，并标出它们的位置。",
        "检测这张流程图中的所有形状，并给出类型和边界框。",
        "找出图中流程图的所有图形并标出位置。",
    ),
    "grounding": (
        "Please provide the bounding box coordinate of the region this sentence describes: <ref>{text}</ref>",
        "Where is the shape that says <ref>{text}</ref>? Give its bounding box.",
        "Locate the flowchart node containing <ref>{text}</ref>.",
        "请给出这句话所描述区域的边界框坐标：<ref>{text}</ref>",
        "文字为<ref>{text}</ref>的图形在哪里？请给出它的边界框。",
    ),
    "graph": (
        "Convert this flowchart into a graph: list every node with its id, shape, text and box, "
        "then every edge with its arrow and label.",
        "Read this flowchart: give all nodes (id, shape, text, box), then all arrows between them.",
        "Transcribe the flowchart as nodes and edges with positions.",
        "将这张流程图转换为图：列出每个节点的编号、形状、文字和边界框，再列出每条边的箭头和标签。",
        "读取这张流程图：给出所有节点（编号、形状、文字、边界框）以及它们之间的所有箭头。",
    ),
}

#: How an edge line spells each arrow kind of the graph contract.
ARROW_SYMBOLS: dict[str, str] = {"normal": "->", "none": "--", "both": "<->"}
_ARROW_OF_SYMBOL = {symbol: arrow for arrow, symbol in ARROW_SYMBOLS.items()}

#: ``span_score(start, end)``: the confidence of the answer's characters ``text[start:end]``
#: (the InternVL backend derives it from token log-probabilities).
SpanScore = Callable[[int, int], float]


def prompt_for(task: str, *, text: str = "", rng: random.Random | None = None) -> str:
    """A prompt for ``task``: the canonical one, or a random paraphrase when ``rng`` is given.

    >>> prompt_for("grounding", text="Start")
    'Please provide the bounding box coordinate of the region this sentence describes: <ref>Start</ref>'
    """
    if task not in PROMPTS:
        raise ValueError(f"unknown task {task!r} (expected one of {', '.join(TASKS)})")
    choices = PROMPTS[task]
    template = choices[0] if rng is None else rng.choice(choices)
    return template.replace("{text}", escape_text(text))


# ---------------------------------------------------------------------------------------- writers


def escape_text(text: str) -> str:
    """Text made safe inside ``<ref>...</ref>`` on one line.

    Line breaks and tabs become ``\\n`` and ``\\t`` (and ``\\`` doubles); ``<`` becomes ``&lt;``
    (and ``&`` ``&amp;``), so no text holds a ``<ref>``, ``</ref>`` or ``<box>`` of its own.
    Flowchart text has ``<`` often (``x < 10?``): HTML's spelling is one a language model knows.

    >>> escape_text("x < 10?\\nR&D")
    'x &lt; 10?\\\\nR&amp;D'
    """
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
    return text.replace("&", "&amp;").replace("<", "&lt;")


_UNESCAPES = {"\\n": "\n", "\\t": "\t", "\\\\": "\\", "&lt;": "<", "&amp;": "&"}


def unescape_text(text: str) -> str:
    """The inverse of :func:`escape_text`; an unknown escape is kept as written.

    >>> unescape_text("x &lt; 10?\\\\nR&amp;D")
    'x < 10?\\nR&D'
    """
    return re.sub(r"\\[nt\\]|&lt;|&amp;", lambda m: _UNESCAPES[m.group(0)], text)


def _grid_box(bbox: Sequence[float], width: float, height: float) -> tuple[int, int, int, int]:
    """A pixel box on the 0..1000 grid, clipped, and at least one unit wide and high.

    A box that rounds to zero size would be dropped by the parser as degenerate; widening it by
    one unit keeps every shape of the ground truth in the target.
    """
    x1, y1, x2, y2 = (min(max(v, 0), NORM_SCALE) for v in normalize_box(bbox, width, height))
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    if x2 == x1:
        x1, x2 = (x1, x1 + 1) if x1 < NORM_SCALE else (x1 - 1, x1)
    if y2 == y1:
        y1, y2 = (y1, y1 + 1) if y1 < NORM_SCALE else (y1 - 1, y1)
    return x1, y1, x2, y2


def _format_boxes(boxes: Sequence[Sequence[int]]) -> str:
    return "<box>[" + ", ".join("[" + ", ".join(str(v) for v in b) + "]" for b in boxes) + "]</box>"


def _size(G: nx.DiGraph) -> tuple[float, float]:
    try:
        return float(G.graph["width"]), float(G.graph["height"])
    except KeyError:
        raise ValueError("the graph has no width/height: grounded answers need image geometry") from None


def _reading_order(G: nx.DiGraph) -> list:
    """Nodes top to bottom, then left to right (by the box's top-left corner on the grid).

    A fixed spatial order makes the target deterministic, which the model learns more easily
    than the arbitrary order of the source's ids. Nodes without a box come last, in graph order.
    """
    width, height = _size(G)
    index = {node: k for k, node in enumerate(G.nodes)}

    def key(node):
        bbox = G.nodes[node].get("bbox")
        if bbox is None:
            return (1, 0, 0, index[node])
        x1, y1, _, _ = _grid_box(bbox, width, height)
        return (0, y1, x1, index[node])

    return sorted(G.nodes, key=key)


def detection_answer(G: nx.DiGraph) -> str:
    """The detection target: one line per shape class, ``<ref>shape</ref><box>[[x1, y1, x2, y2], ...]</box>``.

    Classes follow :data:`flowparse.graph.SHAPES`; boxes within a class follow reading order.
    Nodes without a box are left out.

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(100, 100)
    >>> _ = add_shape(G, "rectangle", (10, 50, 30, 60)); _ = add_shape(G, "diamond", (10, 10, 30, 20))
    >>> print(detection_answer(G))
    <ref>rectangle</ref><box>[[100, 500, 300, 600]]</box>
    <ref>diamond</ref><box>[[100, 100, 300, 200]]</box>
    """
    width, height = _size(G)
    by_shape: dict[str, list[tuple[int, int, int, int]]] = {}
    for node in _reading_order(G):
        data = G.nodes[node]
        if data.get("bbox") is not None:
            shape = canonical_shape(data.get("shape", "other"))
            by_shape.setdefault(shape, []).append(_grid_box(data["bbox"], width, height))
    return "\n".join(f"<ref>{shape}</ref>{_format_boxes(by_shape[shape])}" for shape in SHAPES if shape in by_shape)


def grounding_answer(G: nx.DiGraph, node) -> str:
    """The grounding target for ``node``: ``<ref>text</ref><box>[[x1, y1, x2, y2]]</box>``.

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(100, 100); n = add_shape(G, "circle", (0, 0, 50, 50), "Start")
    >>> grounding_answer(G, n)
    '<ref>Start</ref><box>[[0, 0, 500, 500]]</box>'
    """
    width, height = _size(G)
    data = G.nodes[node]
    return f"<ref>{escape_text(data.get('text', ''))}</ref>" + _format_boxes([_grid_box(data["bbox"], width, height)])


def graph_answer(G: nx.DiGraph) -> str:
    """The full-graph target: node lines, then edge lines (see ``docs/grounding.md``).

    Node line: ``n0 diamond <ref>text</ref><box>[[x1, y1, x2, y2]]</box>`` (ids renumbered in
    reading order). Edge line: ``n0 -> n1`` (``--`` no head, ``<->`` both heads), then
    `` <ref>label</ref>`` when the arrow has a label.

    >>> from flowparse.graph import new_graph, add_shape, add_arrow
    >>> G = new_graph(100, 100)
    >>> a = add_shape(G, "circle", (0, 0, 50, 50), "A"); b = add_shape(G, "circle", (0, 60, 50, 90))
    >>> add_arrow(G, b, a, arrow="both")
    >>> print(graph_answer(G))
    n0 circle <ref>A</ref><box>[[0, 0, 500, 500]]</box>
    n1 circle <ref></ref><box>[[0, 600, 500, 900]]</box>
    n1 <-> n0
    """
    width, height = _size(G)
    order = _reading_order(G)
    new_id = {node: f"n{k}" for k, node in enumerate(order)}
    lines = []
    for node in order:
        data = G.nodes[node]
        shape, text = canonical_shape(data.get("shape", "other")), escape_text(data.get("text", ""))
        line = f"{new_id[node]} {shape} <ref>{text}</ref>"
        if data.get("bbox") is not None:
            line += _format_boxes([_grid_box(data["bbox"], width, height)])
        lines.append(line)
    rank = {node: k for k, node in enumerate(order)}
    for u, v in sorted(G.edges, key=lambda e: (rank[e[0]], rank[e[1]])):
        data = G.edges[u, v]
        line = f"{new_id[u]} {ARROW_SYMBOLS.get(data.get('arrow', 'normal'), '->')} {new_id[v]}"
        if data.get("label"):
            line += f" <ref>{escape_text(data['label'])}</ref>"
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- parsers

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_BOX_RE = re.compile(rf"\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]")
_REF_OPEN, _REF_CLOSE = "<ref>", "</ref>"
_BOX_OPEN, _BOX_CLOSE = "<box>", "</box>"


@dataclass(frozen=True)
class _GridBox:
    """A box as written in the answer, with where it sits in the text (for its score)."""

    values: tuple[float, float, float, float]
    start: int
    end: int


def complete_lines(text: str) -> str:
    """``text`` without its last line unless that line is finished by a newline.

    For output cut off at the token limit: the last line may be half written.

    >>> complete_lines("a\\nb\\nhalf a li")
    'a\\nb\\n'
    """
    cut = text.rfind("\n")
    return text[: cut + 1] if cut >= 0 else ""


def _boxes_in(text: str, start: int, stop: int) -> list[_GridBox]:
    """Every complete ``[x1, y1, x2, y2]`` in ``text[start:stop]``."""
    found = []
    for m in _BOX_RE.finditer(text, start, stop):
        found.append(_GridBox(tuple(float(g) for g in m.groups()), m.start(), m.end()))
    return found


class _Finder:
    """``text.find(needle, start)`` for increasing ``start``, amortised linear over all calls.

    Hostile output (thousands of ``<ref>`` and no ``</box>``) would otherwise rescan the rest of
    the text for every marker: quadratic, and a parser must stay fast on any string.
    """

    def __init__(self, text: str, needle: str):
        self.text, self.needle, self.found = text, needle, None

    def next(self, start: int) -> int:
        if self.found is None or (self.found != -1 and self.found < start):
            self.found = self.text.find(self.needle, start)
        return self.found


def _to_pixels(values: Sequence[float], width: float, height: float) -> tuple[float, ...] | None:
    """A grid box back to pixels: grid values clipped to 0..1000, corners ordered, clipped to the
    image; ``None`` when nothing of it is left (zero width or height)."""
    grid = [min(max(v, 0.0), float(NORM_SCALE)) for v in values]
    x1, y1, x2, y2 = clip_box(denormalize_box(grid, width, height), width, height)
    if not (x2 > x1 and y2 > y1) or not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    return (x1, y1, x2, y2)


def _score(span_score: SpanScore | None, start: int, end: int) -> float:
    """The span's confidence clamped to [0, 1]; 1.0 when no scorer is given or it fails."""
    if span_score is None:
        return 1.0
    try:
        value = float(span_score(start, end))
    except Exception:  # a scorer bug must not lose the parse
        return 1.0
    return min(max(value, 0.0), 1.0) if math.isfinite(value) else 1.0


def _iter_refs_with_boxes(text: str) -> Iterator[tuple[str, int, list[_GridBox]]]:
    """``(ref text, ref start, boxes)`` for each ``<ref>..</ref>`` followed by a ``<box>`` list.

    A box list ends at its ``</box>``, at the next ``<ref>`` (cut off) or at the end of the text.
    """
    refs, closes, box_ends = _Finder(text, _REF_OPEN), _Finder(text, _REF_CLOSE), _Finder(text, _BOX_CLOSE)
    pos = 0
    while (start := refs.next(pos)) >= 0 and (end := closes.next(start + len(_REF_OPEN))) >= 0:
        inner = text.rfind(_REF_OPEN, start, end)  # of "<ref>a<ref>b</ref>", the ref is "b"
        name = text[inner + len(_REF_OPEN) : end]
        pos = after = end + len(_REF_CLOSE)
        rest = text[after : after + 16]
        stripped = rest.lstrip()
        if not stripped.startswith(_BOX_OPEN):
            continue
        open_at = after + (len(rest) - len(stripped)) + len(_BOX_OPEN)
        stop = min((i for i in (box_ends.next(open_at), refs.next(open_at)) if i >= 0), default=len(text))
        yield name, inner, _boxes_in(text, open_at, stop)
        pos = stop


def parse_detection(
    text: str,
    width: float,
    height: float,
    *,
    source: str = "",
    backend: str = "",
    span_score: SpanScore | None = None,
) -> nx.DiGraph:
    """The shapes of a detection answer as a graph without edges (never raises on any string).

    Shape names go through :func:`flowparse.graph.canonical_shape` (unknown ones become
    ``"other"``); boxes go back to pixels, clipped; swapped corners are fixed; degenerate boxes and
    exact duplicates are dropped; a box list cut off mid-way keeps its complete boxes.

    >>> G = parse_detection("<ref>diamond</ref><box>[[100, 100, 300, 200], [300, 900, 100, 700]]</box>", 100, 100)
    >>> [G.nodes[n]["bbox"] for n in G]
    [(10.0, 10.0, 30.0, 20.0), (10.0, 70.0, 30.0, 90.0)]
    """
    G = new_graph(width, height, source=source, backend=backend)
    seen = set()
    for name, _, boxes in _iter_refs_with_boxes(str(text)):
        shape = canonical_shape(unescape_text(name))
        for box in boxes:
            bbox = _to_pixels(box.values, width, height)
            if bbox is None or (shape, bbox) in seen:
                continue
            seen.add((shape, bbox))
            add_shape(G, shape, bbox, "", _score(span_score, box.start, box.end))
    return G


def parse_grounding(text: str, width: float, height: float) -> list[tuple[float, float, float, float]]:
    """The pixel boxes of a grounding answer, in order (never raises on any string).

    >>> parse_grounding("<ref>Start</ref><box>[[0, 0, 500, 500]]</box>", 10, 10)
    [(0.0, 0.0, 5.0, 5.0)]
    """
    text = str(text)
    starts = [i for i in (text.find(_BOX_OPEN),) if i >= 0]
    if not starts:
        return []
    open_at = starts[0] + len(_BOX_OPEN)
    end = text.find(_BOX_CLOSE, open_at)
    boxes = (_to_pixels(b.values, width, height) for b in _boxes_in(text, open_at, end if end >= 0 else len(text)))
    return [b for b in boxes if b is not None]


def parse_graph_answer(
    text: str,
    width: float,
    height: float,
    *,
    source: str = "",
    backend: str = "",
    span_score: SpanScore | None = None,
) -> nx.DiGraph:
    """The graph of a full-graph answer (never raises on any string).

    Lines that do not parse are skipped (so a cut-off last line is), nodes with a degenerate box
    are dropped with their edges, an exact duplicate node (same shape, box and text) merges into
    the first, and edges to ids never defined are dropped. Ids are renumbered ``n0, n1, ...``.

    >>> answer = "a circle <ref>开始</ref><box>[[0, 0, 500, 500]]</box>\\nb rect <ref>x</ref>\\na -> b"
    >>> G = parse_graph_answer(answer, 10, 10)
    >>> sorted(G.edges), G.nodes["n0"]["text"], G.nodes["n1"]["shape"]
    ([('n0', 'n1')], '开始', 'rectangle')
    """
    G = new_graph(width, height, source=source, backend=backend)
    ids: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    offset = 0
    for line in str(text).split("\n"):
        _parse_graph_line(G, line, offset, ids, seen, span_score)
        offset += len(line) + 1
    return G


def _split_edge_line(line: str) -> tuple[str, str, str, str] | None:
    """``(source, arrow symbol, target, label)`` of ``SRC ARROW DST [<ref>LABEL</ref>]``, else None."""
    head, label = line, ""
    ref = line.find(_REF_OPEN)
    if ref >= 0:
        tail = line.rstrip()
        if not tail.endswith(_REF_CLOSE) or len(tail) < ref + len(_REF_OPEN) + len(_REF_CLOSE):
            return None
        head, label = line[:ref], tail[ref + len(_REF_OPEN) : -len(_REF_CLOSE)]
    parts = head.split()
    if len(parts) != 3 or parts[1] not in _ARROW_OF_SYMBOL:
        return None
    return parts[0], parts[1], parts[2], label


def _split_node_line(line: str) -> tuple[str, str, str, str | None] | None:
    """``(id, shape, text, box text or None)`` of ``ID SHAPE <ref>TEXT</ref>[<box>BOX</box>]``, else None.

    Written with ``str.find`` rather than a regular expression: linear on any line (a regex with
    optional spaces backtracks quadratically on long runs of them).
    """
    ref = line.find(_REF_OPEN)
    end = line.find(_REF_CLOSE, ref + len(_REF_OPEN)) if ref >= 0 else -1
    head = line[: max(ref, 0)].split()
    if end < 0 or len(head) < 2:
        return None
    rest = line[end + len(_REF_CLOSE) :].strip()
    if rest and not (rest.startswith(_BOX_OPEN) and rest.endswith(_BOX_CLOSE)):
        return None
    box_text = rest[len(_BOX_OPEN) : -len(_BOX_CLOSE)] if rest else None
    return head[0], " ".join(head[1:]), line[ref + len(_REF_OPEN) : end], box_text


def _parse_graph_line(G, line: str, offset: int, ids: dict, seen: dict, span_score) -> None:
    edge = _split_edge_line(line)
    if edge:
        u, symbol, v, label = edge
        if u in ids and v in ids:
            score = _score(span_score, offset, offset + len(line))
            add_arrow(G, ids[u], ids[v], unescape_text(label), _ARROW_OF_SYMBOL[symbol], score)
        return
    node = _split_node_line(line)
    if not node or node[0] in ids:
        return
    name, shape, ref, box_text = node
    bbox = None
    if box_text is not None:
        boxes = _boxes_in(box_text, 0, len(box_text))
        bbox = _to_pixels(boxes[0].values, G.graph["width"], G.graph["height"]) if boxes else None
        if bbox is None:
            return  # a node whose box is unreadable or degenerate is dropped with its edges
    key = (canonical_shape(shape), bbox, unescape_text(ref))
    if key in seen:
        ids[name] = seen[key]
        return
    score = _score(span_score, offset, offset + len(line))
    ids[name] = seen[key] = add_shape(G, key[0], bbox, key[2], score)
