"""The graph contract: helpers build valid graphs, validate_graph names every violation."""

from __future__ import annotations

import math

import networkx as nx
import pytest

from flowparse.errors import GraphError
from flowparse.graph import (
    SHAPES,
    add_arrow,
    add_shape,
    canonical_shape,
    new_graph,
    subgraph_parents,
    validate_graph,
)


def valid_graph():
    G = new_graph(100, 100, source="x.png", backend="test")
    add_shape(G, "diamond", (10, 10, 50, 40), "ok?", 0.9)
    add_shape(G, "rectangle", (10, 60, 50, 90), "go", 0.8)
    add_arrow(G, "n0", "n1", "yes", points=[(30, 40), (30, 60)])
    return G


def test_helpers_build_a_valid_graph():
    G = validate_graph(valid_graph())
    assert list(G.nodes) == ["n0", "n1"]
    assert G.nodes["n0"] == {"shape": "diamond", "text": "ok?", "score": 0.9, "bbox": (10.0, 10.0, 50.0, 40.0)}
    assert G.edges["n0", "n1"] == {
        "label": "yes",
        "arrow": "normal",
        "score": 1.0,
        "points": [(30.0, 40.0), (30.0, 60.0)],
    }


def test_ids_skip_taken_names():
    G = new_graph()
    add_shape(G, "circle", node_id="n1")
    assert add_shape(G, "circle") == "n2"


def test_add_arrow_refuses_missing_nodes():
    with pytest.raises(GraphError, match="'n9' is not a node"):
        add_arrow(valid_graph(), "n0", "n9")


def break_graph(mutate):
    G = valid_graph()
    mutate(G)
    return G


@pytest.mark.parametrize(
    "mutate, message",
    [
        # not a DiGraph
        (lambda G: None, None),
        (lambda G: G.nodes["n0"].update(shape="star"), "node 'n0': unknown shape 'star'"),
        (lambda G: G.add_node("n5", text="", score=1.0), "node 'n5': no shape"),
        (lambda G: G.nodes["n0"].pop("shape"), "edge 'n0' -> 'n1': 'n0' is not a node"),
        (lambda G: G.nodes["n0"].update(bbox=(50, 10, 10, 40)), r"node 'n0': bbox .* needs x1 < x2"),
        (lambda G: G.nodes["n0"].update(bbox=(10, 40, 50, 40)), "needs x1 < x2 and y1 < y2"),
        (lambda G: G.nodes["n0"].update(bbox=(10, 10, 150, 40)), "outside the 100x100 image"),
        (lambda G: G.nodes["n0"].update(bbox=(-1, 10, 50, 40)), "outside the 100x100 image"),
        (lambda G: G.nodes["n0"].update(bbox=(10, 10, 50)), "bbox must be four finite numbers"),
        (lambda G: G.nodes["n0"].update(bbox=(10, 10, math.nan, 40)), "bbox must be four finite numbers"),
        (lambda G: G.nodes["n0"].update(score=1.5), r"node 'n0': score must be a number in \[0, 1\]"),
        (lambda G: G.nodes["n0"].update(score="high"), "score must be a number"),
        (lambda G: G.nodes["n0"].update(score=True), "score must be a number"),
        (lambda G: G.nodes["n0"].update(text=None), "node 'n0': text must be a string"),
        (lambda G: G.add_node(7, shape="circle", text="", score=1.0), "node ids must be strings"),
        (lambda G: G.add_edge("n0", "ghost"), "edge 'n0' -> 'ghost': 'ghost' is not a node"),
        (lambda G: G.edges["n0", "n1"].update(arrow="left"), "edge 'n0' -> 'n1': arrow must be one of"),
        (lambda G: G.edges["n0", "n1"].update(label=3), "label must be a string"),
        (lambda G: G.edges["n0", "n1"].update(score=-0.1), "edge 'n0' -> 'n1': score"),
        (lambda G: G.edges["n0", "n1"].update(points=[(1, 2, 3)]), "points must be a list"),
        (lambda G: G.graph.update(width=0), "'width' must be a positive number"),
        (lambda G: G.graph.update(source=None), "'source' must be a string"),
        (
            lambda G: G.graph.update(subgraphs=[{"id": "s", "title": "", "nodes": ["zz"]}]),
            "subgraph 's': 'zz' is not a node",
        ),
        (lambda G: G.graph.update(subgraphs=[{"id": "s"}]), "needs a string id"),
    ],
)
def test_validate_graph_names_the_problem(mutate, message):
    if message is None:
        with pytest.raises(GraphError, match="expected a networkx.DiGraph, got MultiDiGraph"):
            validate_graph(nx.MultiDiGraph())
        return
    with pytest.raises(GraphError, match=message):
        validate_graph(break_graph(mutate))


def test_graphs_without_geometry_are_valid():
    # Mermaid carries no boxes: such graphs have none and no image size.
    G = new_graph()
    add_shape(G, "circle", text="A")
    assert validate_graph(G) is G


@pytest.mark.parametrize(
    "name, shape",
    [
        ("diamond", "diamond"),
        ("Decision", "diamond"),
        ("rounded rectangle", "rounded_rectangle"),
        ("double-circle", "double_circle"),
        ("database", "cylinder"),
        ("blob", "other"),
        ("", "other"),
    ],
)
def test_canonical_shape(name, shape):
    assert canonical_shape(name) == shape


def test_every_canonical_shape_is_its_own_canonical_name():
    assert [canonical_shape(s) for s in SHAPES] == list(SHAPES)


def test_subgraph_parents_recovers_nesting():
    subs = [{"nodes": ["a", "b"]}, {"nodes": ["a"]}, {"nodes": ["c"]}, {"nodes": ["a", "b", "c"]}]
    assert subgraph_parents(subs) == [3, 0, 3, None]
