"""What we write is accepted by the real tools: Mermaid's own parser and Graphviz's dot."""

from __future__ import annotations

from flowparse.converters import to_dot, to_mermaid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowparse.graph import ARROWS, SHAPES, add_arrow, add_shape, new_graph

from .conftest import HOSTILE_TEXTS, flowcharts


def every_shape_and_hostile_label():
    """One chart with every shape, every hostile text as node text and edge label, every arrow
    kind, ids Mermaid cannot spell, and nested subgraphs."""
    G = new_graph(1000, 1000)
    ids = []
    for k, text in enumerate(HOSTILE_TEXTS * 2):
        node_id = ["end", "graph", "a b", "x-1", "o", "x", "1", "默认"][k] if k < 8 else f"n{k}"
        ids.append(add_shape(G, SHAPES[k % len(SHAPES)], (k, k, k + 10, k + 10), text, node_id=node_id))
    for k, (u, v) in enumerate(zip(ids, ids[1:])):
        add_arrow(G, u, v, HOSTILE_TEXTS[k % len(HOSTILE_TEXTS)], ARROWS[k % len(ARROWS)])
    G.graph["subgraphs"] = [
        {"id": "outer", "title": "Outer; end", "nodes": ids[:6]},
        {"id": "end", "title": '"inner"', "nodes": ids[2:4]},
    ]
    return G


def test_mermaid_accepts_every_shape_and_hostile_label(mermaid_parse):
    [result] = mermaid_parse([to_mermaid(every_shape_and_hostile_label())])
    assert result == {"ok": True, "type": "flowchart-v2"}


def test_mermaid_parser_oracle_rejects_broken_text(mermaid_parse):
    # The oracle must be able to say no, or the tests above prove nothing.
    results = mermaid_parse(['flowchart TD\n  a["x"] --> b["y', "flowchart TD\n  end --> b"])
    assert [r["ok"] for r in results] == [False, False]


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(flowcharts(max_nodes=6), min_size=25, max_size=25))
def test_mermaid_accepts_generated_charts(mermaid_parse, graphs):
    results = mermaid_parse([to_mermaid(G) for G in graphs])
    failures = [(to_mermaid(G), r) for G, r in zip(graphs, results) if not r["ok"]]
    assert not failures, failures[0]


def test_dot_renders_every_shape_and_hostile_label(graphviz_dot):
    status, stderr = graphviz_dot(to_dot(every_shape_and_hostile_label()))
    assert status == 0, stderr
    assert "syntax error" not in stderr


@settings(max_examples=20, deadline=None)
@given(flowcharts(safe_ids=False, max_nodes=6))
def test_dot_renders_generated_charts(graphviz_dot, G):
    status, stderr = graphviz_dot(to_dot(G))
    assert status == 0 and "syntax error" not in stderr, stderr
