"""The graph contract: the one data model every part of flowparse produces or consumes.

A flowchart is a plain :class:`networkx.DiGraph`:

- graph attributes ``width``, ``height`` (pixel size of the image the boxes refer to),
  ``source`` (file name, page) and ``backend`` (the detector that produced it);
- a node per shape with ``shape`` (one of :data:`SHAPES`), ``bbox`` ``(x1, y1, x2, y2)`` in
  pixels, ``text`` (``""`` if none, line breaks as ``\\n``) and ``score`` in [0, 1];
- an edge per arrow with ``label``, ``arrow`` (one of :data:`ARROWS`), ``score`` and optionally
  ``points``, the polyline from source to target.

Graphs read from formats that carry no geometry (Mermaid) have no ``bbox``, ``width`` or
``height``; everything else is always present. See ``docs/graph.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Real

import networkx as nx

from flowparse.errors import GraphError

__all__ = [
    "SHAPES",
    "ARROWS",
    "SHAPE_ALIASES",
    "canonical_shape",
    "new_graph",
    "add_shape",
    "add_arrow",
    "validate_graph",
    "subgraph_parents",
]

#: The canonical shape names: geometric, i.e. what a detector sees, not what a shape means.
SHAPES: tuple[str, ...] = (
    "rectangle",
    "rounded_rectangle",
    "stadium",
    "circle",
    "double_circle",
    "ellipse",
    "diamond",
    "hexagon",
    "parallelogram",
    "parallelogram_alt",
    "trapezoid",
    "trapezoid_alt",
    "cylinder",
    "subroutine",
    "asymmetric",
    "document",
    "other",
)

#: Arrow kinds of an edge: head at the target, no head, heads at both ends.
ARROWS: tuple[str, ...] = ("normal", "none", "both")

#: Names people (and language models) use for the canonical shapes.
SHAPE_ALIASES: dict[str, str] = {
    "rect": "rectangle",
    "box": "rectangle",
    "process": "rectangle",
    "square": "rectangle",
    "rounded": "rounded_rectangle",
    "round_rectangle": "rounded_rectangle",
    "terminator": "stadium",
    "terminal": "stadium",
    "pill": "stadium",
    "doublecircle": "double_circle",
    "oval": "ellipse",
    "decision": "diamond",
    "rhombus": "diamond",
    "lean_right": "parallelogram",
    "lean_left": "parallelogram_alt",
    "data": "parallelogram",
    "io": "parallelogram",
    "input_output": "parallelogram",
    "trapezium": "trapezoid",
    "database": "cylinder",
    "db": "cylinder",
    "predefined_process": "subroutine",
    "flag": "asymmetric",
    "doc": "document",
}


def canonical_shape(name: str) -> str:
    """The canonical shape for ``name``: itself, an alias's target, or ``"other"``.

    >>> canonical_shape("Decision"), canonical_shape("diamond"), canonical_shape("blob")
    ('diamond', 'diamond', 'other')
    """
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key in SHAPES:
        return key
    return SHAPE_ALIASES.get(key, "other")


def new_graph(
    width: float | None = None,
    height: float | None = None,
    *,
    source: str = "",
    backend: str = "",
) -> nx.DiGraph:
    """An empty flowchart graph for an image of ``width`` x ``height`` pixels.

    >>> G = new_graph(640, 480, source="chart.png", backend="classical")
    >>> G.graph["width"], G.number_of_nodes()
    (640, 0)
    """
    G = nx.DiGraph()
    if width is not None:
        G.graph["width"] = width
    if height is not None:
        G.graph["height"] = height
    G.graph["source"] = source
    G.graph["backend"] = backend
    return G


def add_shape(
    G: nx.DiGraph,
    shape: str,
    bbox: Sequence[float] | None = None,
    text: str = "",
    score: float = 1.0,
    *,
    node_id: str | None = None,
) -> str:
    """Add a shape node and return its id (``"n0"``, ``"n1"``, ... unless ``node_id`` is given).

    >>> G = new_graph(100, 100)
    >>> add_shape(G, "diamond", (10, 10, 50, 40), "ok?")
    'n0'
    """
    if node_id is None:
        node_id = _next_node_id(G)
    attrs = {"shape": shape, "text": text, "score": float(score)}
    if bbox is not None:
        attrs["bbox"] = tuple(float(v) for v in bbox)
    G.add_node(node_id, **attrs)
    return node_id


def add_arrow(
    G: nx.DiGraph,
    source: str,
    target: str,
    label: str = "",
    arrow: str = "normal",
    score: float = 1.0,
    *,
    points: Iterable[Sequence[float]] | None = None,
) -> None:
    """Add an arrow from ``source`` to ``target`` (both must already be shapes).

    >>> G = new_graph(100, 100)
    >>> a, b = add_shape(G, "rectangle", (0, 0, 10, 10)), add_shape(G, "rectangle", (0, 20, 10, 30))
    >>> add_arrow(G, a, b, label="yes")
    >>> G.edges[a, b]["label"]
    'yes'
    """
    for end in (source, target):
        if end not in G:
            raise GraphError(f"edge {source} -> {target}: {end!r} is not a node")
    attrs = {"label": label, "arrow": arrow, "score": float(score)}
    if points is not None:
        attrs["points"] = [(float(x), float(y)) for x, y in points]
    G.add_edge(source, target, **attrs)


def _next_node_id(G: nx.DiGraph) -> str:
    k = G.number_of_nodes()
    while f"n{k}" in G:
        k += 1
    return f"n{k}"


def validate_graph(G: nx.DiGraph) -> nx.DiGraph:
    """Check ``G`` against the contract; return it, or raise :class:`GraphError` naming the problem.

    >>> G = new_graph(100, 100); _ = add_shape(G, "star", (0, 0, 10, 10))
    >>> validate_graph(G)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    flowparse.errors.GraphError: node 'n0': unknown shape 'star' (expected one of rectangle, ...)
    """
    if not isinstance(G, nx.DiGraph) or G.is_multigraph():
        raise GraphError(f"expected a networkx.DiGraph, got {type(G).__name__}")
    size = _check_size(G.graph)
    for key in ("source", "backend"):
        if key in G.graph and not isinstance(G.graph[key], str):
            raise GraphError(f"graph attribute {key!r} must be a string")
    for u, v in G.edges:  # before the nodes: an edge to a missing node is the edge's fault
        for end in (u, v):
            if "shape" not in G.nodes[end]:
                raise GraphError(f"edge {u!r} -> {v!r}: {end!r} is not a node (it has no shape)")
    for node, data in G.nodes(data=True):
        _check_node(node, data, size)
    _check_subgraphs(G)
    for u, v, data in G.edges(data=True):
        _check_edge(u, v, data)
    return G


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_size(graph: dict) -> tuple[float, float] | None:
    for key in ("width", "height"):
        if key in graph and not (_is_number(graph[key]) and graph[key] > 0):
            raise GraphError(f"graph attribute {key!r} must be a positive number, got {graph[key]!r}")
    if "width" in graph and "height" in graph:
        return graph["width"], graph["height"]
    return None


def _check_score(where: str, data: dict) -> None:
    score = data.get("score")
    if not _is_number(score) or not 0 <= score <= 1:
        raise GraphError(f"{where}: score must be a number in [0, 1], got {score!r}")


def _check_text(where: str, data: dict, key: str) -> None:
    if not isinstance(data.get(key), str):
        raise GraphError(f"{where}: {key} must be a string, got {data.get(key)!r}")


def _check_node(node: object, data: dict, size: tuple[float, float] | None) -> None:
    where = f"node {node!r}"
    if not isinstance(node, str):
        raise GraphError(f"{where}: node ids must be strings")
    if "shape" not in data:
        raise GraphError(f"{where}: no shape")
    if data["shape"] not in SHAPES:
        raise GraphError(f"{where}: unknown shape {data['shape']!r} (expected one of {', '.join(SHAPES)})")
    _check_text(where, data, "text")
    _check_score(where, data)
    if "bbox" in data:
        _check_bbox(where, data["bbox"], size)


def _check_bbox(where: str, bbox: object, size: tuple[float, float] | None) -> None:
    if not isinstance(bbox, (tuple, list)) or len(bbox) != 4 or not all(map(_is_number, bbox)):
        raise GraphError(f"{where}: bbox must be four finite numbers (x1, y1, x2, y2), got {bbox!r}")
    x1, y1, x2, y2 = bbox
    if not (x1 < x2 and y1 < y2):
        raise GraphError(f"{where}: bbox {tuple(bbox)} needs x1 < x2 and y1 < y2")
    if size is not None:
        width, height = size
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            raise GraphError(f"{where}: bbox {tuple(bbox)} lies outside the {width}x{height} image")


def _check_edge(u: object, v: object, data: dict) -> None:
    where = f"edge {u!r} -> {v!r}"
    _check_text(where, data, "label")
    if data.get("arrow") not in ARROWS:
        raise GraphError(f"{where}: arrow must be one of {', '.join(ARROWS)}, got {data.get('arrow')!r}")
    _check_score(where, data)
    points = data.get("points")
    if points is not None and not (
        isinstance(points, (list, tuple))
        and all(isinstance(p, (list, tuple)) and len(p) == 2 and all(map(_is_number, p)) for p in points)
    ):
        raise GraphError(f"{where}: points must be a list of (x, y) number pairs")


def _check_subgraphs(G: nx.DiGraph) -> None:
    subgraphs = G.graph.get("subgraphs", [])
    if not isinstance(subgraphs, list):
        raise GraphError("graph attribute 'subgraphs' must be a list")
    for sub in subgraphs:
        if not (
            isinstance(sub, dict)
            and isinstance(sub.get("id"), str)
            and isinstance(sub.get("title"), str)
            and isinstance(sub.get("nodes"), list)
        ):
            raise GraphError(f"subgraph {sub!r}: needs a string id, a string title and a nodes list")
        for node in sub["nodes"]:
            if node not in G:
                raise GraphError(f"subgraph {sub['id']!r}: {node!r} is not a node")


def subgraph_parents(subgraphs: Sequence[dict]) -> list[int | None]:
    """For each subgraph, the index of the smallest other one that holds all its nodes.

    Subgraphs (``G.graph["subgraphs"]``, each ``{"id", "title", "nodes"}``) list every node
    inside them, nested ones included; this recovers the nesting for writers.

    >>> subgraph_parents([{"nodes": ["a"]}, {"nodes": ["a", "b"]}, {"nodes": ["c"]}])
    [1, None, None]
    """
    sets = [set(sub["nodes"]) for sub in subgraphs]
    parents: list[int | None] = []
    for i, inner in enumerate(sets):
        holders = [
            j
            for j, outer in enumerate(sets)
            if j != i and inner and inner <= outer and (len(outer) > len(inner) or j > i)
        ]
        parents.append(min(holders, key=lambda j: len(sets[j])) if holders else None)
    return parents
