"""JSON is node-link data any networkx user can load, and bad JSON gets a clear error."""

from __future__ import annotations

import json

import networkx as nx
import pytest
from flowparse.converters import SCHEMA_VERSION, from_json, read_json, to_json, write_json

from flowparse.errors import FormatError, InputError
from flowparse.graph import add_arrow, add_shape, new_graph


def small_graph():
    G = new_graph(100, 80, source="a.png", backend="classical")
    a = add_shape(G, "diamond", (10, 10, 40, 30), "ok?", 0.9)
    b = add_shape(G, "rectangle", (50, 40, 90, 70), "go", 0.8)
    add_arrow(G, a, b, "yes", points=[(25, 30), (70, 40)])
    return G


def test_networkx_loads_our_json_in_one_call():
    data = json.loads(to_json(small_graph()))
    G = nx.node_link_graph(data, edges="edges")
    assert G.graph["schema_version"] == SCHEMA_VERSION
    assert G.nodes["n0"]["shape"] == "diamond" and G.edges["n0", "n1"]["label"] == "yes"


def test_write_and_read_file(tmp_path):
    path = tmp_path / "out" / "g.json"
    write_json(small_graph(), path)
    G = read_json(path)
    assert G.nodes["n0"]["bbox"] == (10.0, 10.0, 40.0, 30.0)
    assert G.edges["n0", "n1"]["points"] == [(25.0, 30.0), (70.0, 40.0)]
    assert [p.name for p in path.parent.iterdir()] == ["g.json"]  # no temporary file left


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not JSON"),
        ("[]", "expected an object with a 'nodes' list"),
        ('{"nodes": [], "edges": {}}', "'edges' must be a list"),
        ('{"nodes": [], "graph": {"schema_version": 99}}', "newer than this flowparse"),
        ('{"nodes": [{"id": "a", "shape": "blob"}]}', "node 'a': unknown shape 'blob'"),
        ('{"nodes": [{"id": "a", "shape": "circle", "score": NaN}]}', "score"),
        ('{"nodes": [{"id": "a", "shape": "circle"}], "edges": [{"source": "a", "target": "b"}]}', "'b' is not a node"),
        ('{"nodes": [{"shape": "circle"}]}', "not node-link data"),
        (
            '{"graph": {"width": 10, "height": 10}, "nodes": [{"id": "a", "shape": "circle", "bbox": [0, 0, 20, 5]}]}',
            "outside the 10x10 image",
        ),
    ],
)
def test_bad_json_raises_format_error(text, message):
    with pytest.raises(FormatError, match=message):
        from_json(text)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops", encoding="utf-8")
    with pytest.raises(FormatError, match=r"bad\.json: not JSON"):
        read_json(bad)
    with pytest.raises(InputError, match=r"missing\.json: cannot read: no such file"):
        read_json(tmp_path / "missing.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FormatError, match=r"binary\.json: not UTF-8"):
        read_json(binary)
