"""Any contract graph, hostile labels included, survives each format and comes back equal."""

from __future__ import annotations

from flowparse.converters import from_dot, from_json, from_mermaid, to_dot, to_json, to_mermaid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import assert_same_graph, flowcharts  # noqa: F401  (importlib mode: package-relative)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(flowcharts(safe_ids=False))
def test_json_round_trip_keeps_everything(G):
    H = from_json(to_json(G))
    assert_same_graph(G, H)
    assert H.graph == G.graph


@SETTINGS
@given(flowcharts(safe_ids=False))
def test_dot_round_trip_keeps_everything(G):
    H = from_dot(to_dot(G))
    assert_same_graph(G, H)
    assert {k: H.graph[k] for k in ("width", "height", "source", "backend")} == G.graph


@SETTINGS
@given(flowcharts())
def test_mermaid_round_trip_keeps_structure_and_text(G):
    H = from_mermaid(to_mermaid(G))
    assert_same_graph(G, H, geometry=False)


@SETTINGS
@given(flowcharts(), st.sampled_from(["TD", "LR"]))
def test_mermaid_direction_is_kept(G, direction):
    assert from_mermaid(to_mermaid(G, direction=direction)).graph["direction"] == direction
