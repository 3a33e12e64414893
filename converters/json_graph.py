"""JSON: networkx node-link data with an explicit ``edges`` key and a schema version.

Any networkx user loads it back in one call: ``nx.node_link_graph(data, edges="edges")``.
"""

from __future__ import annotations

import json
import os
import re

import networkx as nx
from flowparse.converters._io import checked, read_graph, write_graph

from flowparse.errors import FormatError
from flowparse.graph import validate_graph

__all__ = ["SCHEMA_VERSION", "to_json", "from_json", "write_json", "read_json"]

#: Written into the graph attributes as ``schema_version``; bumped when the contract changes.
SCHEMA_VERSION = 1

_NODE_DEFAULTS = {"text": "", "score": 1.0}
_EDGE_DEFAULTS = {"label": "", "arrow": "normal", "score": 1.0}


def to_json(G: nx.DiGraph, *, indent: int | None = 2) -> str:
    """The graph as node-link JSON.

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(10, 10); _ = add_shape(G, "circle", (1, 1, 9, 9), "go")
    >>> '"schema_version": 1' in to_json(G)
    True
    """
    validate_graph(G)
    data = nx.node_link_data(G, edges="edges")
    data["graph"] = {**data["graph"], "schema_version": SCHEMA_VERSION}
    text = json.dumps(data, ensure_ascii=False, indent=indent, allow_nan=False)
    return (_compact_arrays(text) if indent is not None else text) + "\n"


# Arrays of numbers (boxes) and arrays of those (points) on one line each. JSON strings never
# hold a raw line break, so these patterns only ever meet arrays that json.dumps spread out.
_NUMBER_ARRAY = re.compile(r"\[\s*\n\s*(-?[\d.eE+-]+(?:,\s*\n\s*-?[\d.eE+-]+)*)\s*\n\s*\]")
_ARRAY_OF_ARRAYS = re.compile(r"\[\s*\n\s*(\[[^\[\]\n]*\](?:,\s*\n\s*\[[^\[\]\n]*\])*)\s*\n\s*\]")


def _compact_arrays(text: str) -> str:
    def one_line(match: re.Match) -> str:
        return "[" + re.sub(r",\s*\n\s*", ", ", match.group(1)) + "]"

    return _ARRAY_OF_ARRAYS.sub(one_line, _NUMBER_ARRAY.sub(one_line, text))


def from_json(text: str) -> nx.DiGraph:
    """The graph in node-link JSON ``text`` (missing text, score, label, arrow get defaults).

    >>> G = from_json('{"nodes": [{"id": "a", "shape": "diamond"}], "edges": []}')
    >>> G.nodes["a"]
    {'shape': 'diamond', 'text': '', 'score': 1.0}
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise FormatError("not a flowparse graph: expected an object with a 'nodes' list")
    if not isinstance(data.get("edges", []), list):
        raise FormatError("not a flowparse graph: 'edges' must be a list")
    for k, node in enumerate(data["nodes"]):
        if not isinstance(node, dict) or "id" not in node:
            raise FormatError(f"not node-link data: node #{k} is not an object with an 'id'")
    graph_attrs = dict(data.get("graph") or {})
    version = graph_attrs.pop("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise FormatError(f"schema_version {version!r} is newer than this flowparse reads ({SCHEMA_VERSION})")
    try:
        G = nx.node_link_graph(
            {**data, "directed": True, "multigraph": False, "graph": graph_attrs, "edges": data.get("edges", [])},
            edges="edges",
        )
    except (KeyError, TypeError, nx.NetworkXError) as e:
        raise FormatError(f"not node-link data: {type(e).__name__}: {e}") from None
    _restore_types(G)
    return checked(G)


def _restore_types(G: nx.DiGraph) -> None:
    """JSON has no tuples: give boxes and points back the types the contract uses."""
    for _, data in G.nodes(data=True):
        for key, default in _NODE_DEFAULTS.items():
            data.setdefault(key, default)
        if isinstance(data.get("bbox"), list):
            data["bbox"] = tuple(data["bbox"])
    for _, _, data in G.edges(data=True):
        for key, default in _EDGE_DEFAULTS.items():
            data.setdefault(key, default)
        if isinstance(data.get("points"), list):
            data["points"] = [tuple(p) if isinstance(p, list) else p for p in data["points"]]


def write_json(G: nx.DiGraph, path: str | os.PathLike) -> None:
    """Write ``G`` as JSON to ``path`` (atomically)."""
    write_graph(G, path, to_json)


def read_json(path: str | os.PathLike) -> nx.DiGraph:
    """Read a graph JSON file; errors name the file."""
    return read_graph(path, from_json)
