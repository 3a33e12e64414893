"""Ground truth: a drawn chart's structure plus measured geometry, as a graph-contract graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
from flowparse.training.synth.structure import ChartSpec

from flowparse.geometry import clip_box
from flowparse.graph import add_arrow, add_shape, new_graph, validate_graph

__all__ = ["truth_graph", "round_geometry"]

Box = Sequence[float]
Point = Sequence[float]


def truth_graph(
    spec: ChartSpec,
    size: tuple[int, int],
    boxes: Mapping[str, Box],
    points: Mapping[tuple[str, str], Sequence[Point]],
    *,
    renderer: str,
    shapes: Mapping[str, str] | None = None,
    subgraphs: Sequence[dict] = (),
    look: str | None = None,
) -> nx.DiGraph:
    """The truth graph of ``spec`` drawn at ``size`` = (width, height) with measured ``boxes``.

    ``shapes`` overrides a node's canonical shape where the renderer drew another one (Graphviz
    has no stadium: it draws a rounded rectangle, and the truth says what is on the page).
    ``subgraphs`` (``{"id", "title", "nodes"}``) records framed groups of nodes. ``look`` names the
    renderer's drawing style (graph attribute ``look``: ``"classic"``/``"handDrawn"`` for Mermaid,
    ``"clean"``/``"sketchy"`` for PIL, ``"clean"`` for Graphviz), so figures can be split by it.

    >>> from flowparse.training.synth.structure import ChartSpec, ChartNode, ChartEdge
    >>> spec = ChartSpec([ChartNode("n0", "start", "stadium", "Go"), ChartNode("n1", "end", "stadium", "Stop")],
    ...                  [ChartEdge("n0", "n1")])
    >>> G = truth_graph(spec, (100, 80), {"n0": (10, 5, 60, 25), "n1": (10, 50, 60, 70)},
    ...                 {("n0", "n1"): [(35, 25), (35, 50)]}, renderer="pil", look="clean")
    >>> G.graph["backend"], G.graph["look"], G.nodes["n1"]["bbox"], G.edges["n0", "n1"]["points"]
    ('synth:pil', 'clean', (10.0, 50.0, 60.0, 70.0), [(35.0, 25.0), (35.0, 50.0)])
    """
    width, height = size
    G = new_graph(width, height, backend=f"synth:{renderer}")
    shapes = shapes or {}
    for node in spec.nodes:
        box = round_geometry(clip_box(boxes[node.id], width, height))
        add_shape(G, shapes.get(node.id, node.shape), box, node.text, node_id=node.id)
    for edge in spec.edges:
        line = points.get((edge.source, edge.target))
        if line is not None:
            line = [round_geometry((min(max(x, 0.0), width), min(max(y, 0.0), height))) for x, y in line]
        add_arrow(G, edge.source, edge.target, edge.label, edge.arrow, points=line)
    if look:
        G.graph["look"] = look
    if subgraphs:
        G.graph["subgraphs"] = [dict(s) for s in subgraphs]
    return validate_graph(G)


def round_geometry(values: Sequence[float]) -> tuple[float, ...]:
    """Coordinates rounded to 1/100 pixel: exact enough, and truth files stay short and stable.

    >>> round_geometry((1.23456, 7.0))
    (1.23, 7.0)
    """
    return tuple(round(float(v), 2) for v in values)
