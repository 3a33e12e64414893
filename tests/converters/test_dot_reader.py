"""DOT written by people and other tools reads into the contract."""

from __future__ import annotations

import pytest
from flowparse.converters import from_dot

from flowparse.errors import FormatError


@pytest.mark.parametrize(
    "attrs, shape",
    [
        ("shape=box", "rectangle"),
        ('shape=box, style="rounded,filled"', "rounded_rectangle"),
        ("shape=Mrecord", "rounded_rectangle"),
        ("shape=diamond", "diamond"),
        ("shape=ellipse", "ellipse"),
        ("", "ellipse"),  # DOT's default shape
        ("shape=circle", "circle"),
        ("shape=doublecircle", "double_circle"),
        ("shape=cylinder", "cylinder"),
        ("shape=parallelogram", "parallelogram"),
        ("shape=trapezium", "trapezoid"),
        ("shape=invtrapezium", "trapezoid_alt"),
        ("shape=hexagon", "hexagon"),
        ("shape=note", "document"),
        ("shape=component", "subroutine"),
        ("shape=star", "other"),
        ('shape=box, class="stadium"', "stadium"),  # our own class wins over the DOT shape
        ('shape=box, class="my-css-class"', "rectangle"),  # a class that is not a shape is ignored
    ],
)
def test_dot_shapes_map_to_canonical_shapes(attrs, shape):
    G = from_dot(f"digraph {{ a [{attrs}] }}")
    assert G.nodes["a"]["shape"] == shape


@pytest.mark.parametrize(
    "dot, expected",
    [
        # a node without a label shows its id; \N in a label is the id too
        ('digraph { "Start here" }', "Start here"),
        (r'digraph { a [label="node \N"] }', "node a"),
        # \l and \r are line breaks aligned left/right
        (r'digraph { a [label="one\ltwo\r"] }', "one\ntwo\n"),
        # HTML-like labels keep their text, <br/> as a line break, entities decoded
        ("digraph { a [label=<<b>Bold</b><br/>A &amp; B>] }", "Bold\nA & B"),
        # a backslash-newline continues the string
        ('digraph { a [label="long \\\nline"] }', "long line"),
    ],
)
def test_labels_read_as_graphviz_shows_them(dot, expected):
    G = from_dot(dot)
    assert [d["text"] for _, d in G.nodes(data=True)] == [expected]


@pytest.mark.parametrize(
    "dot, arrows",
    [
        ("digraph { a -> b }", [("a", "b", "normal")]),
        ("digraph { a -> b [dir=none] }", [("a", "b", "none")]),
        ("digraph { a -> b [dir=both] }", [("a", "b", "both")]),
        ("digraph { a -> b [dir=back] }", [("b", "a", "normal")]),  # the head is drawn at a
        ("digraph { a -> b [arrowhead=none] }", [("a", "b", "none")]),
        ("graph { a -- b }", [("a", "b", "none")]),  # undirected DOT: plain lines
        ("digraph { edge [dir=both]; a -> b }", [("a", "b", "both")]),  # edge defaults apply
        ("digraph { a -> b -> c }", [("a", "b", "normal"), ("b", "c", "normal")]),
        ("digraph { a -> {b c} }", [("a", "b", "normal"), ("a", "c", "normal")]),
        ('digraph { "a":s -> b:n }', [("a", "b", "normal")]),  # ports are not part of the id
    ],
)
def test_edges_and_arrow_direction(dot, arrows):
    G = from_dot(dot)
    assert sorted((u, v, d["arrow"]) for u, v, d in G.edges(data=True)) == sorted(arrows)


def test_node_defaults_and_clusters():
    G = from_dot(
        'digraph { node [shape=box]; a; subgraph cluster_x { label="Group"; node [shape=diamond]; b; c } a -> b }'
    )
    assert G.nodes["a"]["shape"] == "rectangle"
    assert G.nodes["b"]["shape"] == G.nodes["c"]["shape"] == "diamond"
    assert G.graph["subgraphs"] == [{"id": "cluster_x", "title": "Group", "nodes": ["b", "c"]}]


@pytest.mark.parametrize(
    "dot, message",
    [
        ("digraph { a -> }", "not DOT"),
        ("this is not dot", "not DOT"),
        ('digraph { a [score="high"] }', "score"),
        ('digraph { a [score="1.5"] }', "score must be a number in \\[0, 1\\]"),
        ('digraph { a [bbox="5,5,1,1"] }', "x1 < x2"),
        ('digraph { graph [width="wide"] }', "width"),
    ],
)
def test_bad_dot_raises_format_error(dot, message):
    with pytest.raises(FormatError, match=message):
        from_dot(dot)
