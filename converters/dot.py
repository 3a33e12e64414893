"""DOT (Graphviz): canonical shapes as DOT shapes, with box and score kept as attributes.

Written DOT renders as a flowchart with the real ``dot`` and reads back without loss: each node
carries its canonical shape in ``class`` (Graphviz's own attribute, passed on to SVG output),
its box in ``bbox`` and its confidence in ``score``. DOT written by people or other tools reads
too: DOT shapes map to the nearest canonical shape, a node without a label shows its id, and an
undirected ``graph`` gives plain lines.
"""

from __future__ import annotations

import contextlib
import html
import html.entities
import io
import os
import re

import networkx as nx
from flowparse.converters._io import checked, read_graph, write_graph

from flowparse.errors import FormatError
from flowparse.graph import SHAPES, validate_graph

__all__ = ["DOT_SHAPES", "to_dot", "from_dot", "write_dot", "read_dot"]

#: Canonical shape -> the DOT attributes that draw it best.
DOT_SHAPES: dict[str, dict[str, str]] = {
    "rectangle": {"shape": "box"},
    "rounded_rectangle": {"shape": "box", "style": "rounded"},
    "stadium": {"shape": "box", "style": "rounded"},
    "circle": {"shape": "circle"},
    "double_circle": {"shape": "doublecircle"},
    "ellipse": {"shape": "ellipse"},
    "diamond": {"shape": "diamond"},
    "hexagon": {"shape": "hexagon"},
    "parallelogram": {"shape": "parallelogram"},
    "parallelogram_alt": {"shape": "polygon", "sides": "4", "skew": "-0.4"},
    "trapezoid": {"shape": "trapezium"},
    "trapezoid_alt": {"shape": "invtrapezium"},
    "cylinder": {"shape": "cylinder"},
    "subroutine": {"shape": "box", "peripheries": "2"},
    "asymmetric": {"shape": "cds"},
    "document": {"shape": "note"},
    "other": {"shape": "box", "style": "dashed"},
}

# DOT shape -> canonical shape, for DOT that has no flowparse class (written by people).
_FROM_DOT_SHAPE = {
    "box": "rectangle",
    "rect": "rectangle",
    "rectangle": "rectangle",
    "square": "rectangle",
    "record": "rectangle",
    "mrecord": "rounded_rectangle",
    "circle": "circle",
    "doublecircle": "double_circle",
    "ellipse": "ellipse",
    "oval": "ellipse",
    "egg": "ellipse",
    "diamond": "diamond",
    "mdiamond": "diamond",
    "hexagon": "hexagon",
    "parallelogram": "parallelogram",
    "trapezium": "trapezoid",
    "invtrapezium": "trapezoid_alt",
    "cylinder": "cylinder",
    "note": "document",
    "tab": "document",
    "folder": "document",
    "component": "subroutine",
    "cds": "asymmetric",
}


# ---------------------------------------------------------------------------- writing


def to_dot(G: nx.DiGraph) -> str:
    """The graph as DOT text that Graphviz renders and :func:`from_dot` reads back exactly.

    >>> from flowparse.graph import new_graph, add_shape, add_arrow
    >>> G = new_graph(); a = add_shape(G, "diamond", text="ok?"); b = add_shape(G, "rectangle")
    >>> add_arrow(G, a, b, label="yes")
    >>> print(to_dot(G))  # doctest: +NORMALIZE_WHITESPACE
    digraph flowchart {
      graph [source="", backend=""];
      "n0" [shape=diamond, class="diamond", label="ok?", score="1.0"];
      "n1" [shape=box, class="rectangle", label="", score="1.0"];
      "n0" -> "n1" [label="yes", score="1.0"];
    }
    """
    validate_graph(G)
    lines = ["digraph flowchart {"]
    graph_attrs = {k: v for k, v in G.graph.items() if k != "subgraphs"}
    if graph_attrs:
        lines.append(f"  graph [{_attr_list(graph_attrs)}];")
    members = {n for sub in G.graph.get("subgraphs", []) for n in sub["nodes"]}
    for k, sub in enumerate(G.graph.get("subgraphs", [])):
        lines.append(f"  subgraph {quote(f'cluster_{k}')} {{")
        lines.append(f"    graph [id={quote(sub['id'])}, label={quote(sub['title'])}];")
        lines.extend(f"    {_node_line(G, n)}" for n in sub["nodes"])
        lines.append("  }")
    lines.extend(f"  {_node_line(G, n)}" for n in G.nodes if n not in members)
    for u, v, data in G.edges(data=True):
        lines.append(f"  {quote(u)} -> {quote(v)} [{_attr_list(_edge_attrs(data))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_line(G: nx.DiGraph, node: str) -> str:
    data = G.nodes[node]
    attrs = {**DOT_SHAPES[data["shape"]], "class": data["shape"], "label": data["text"]}
    if "bbox" in data:
        attrs["bbox"] = ",".join(repr(float(v)) for v in data["bbox"])
    attrs["score"] = data["score"]
    return f"{quote(node)} [{_attr_list(attrs)}];"


def _edge_attrs(data: dict) -> dict:
    attrs = {"label": data["label"]}
    if data["arrow"] != "normal":
        attrs["dir"] = "none" if data["arrow"] == "none" else "both"
    attrs["score"] = data["score"]
    if data.get("points") is not None:
        attrs["points"] = " ".join(f"{float(x)!r},{float(y)!r}" for x, y in data["points"])
    return attrs


def _attr_list(attrs: dict) -> str:
    return ", ".join(f"{key}={_value(key, v)}" for key, v in attrs.items())


def _value(key: str, value: object) -> str:
    # Keywords DOT knows stay bare, so the text reads like DOT people write.
    if key in ("shape", "dir", "sides", "skew", "peripheries", "style") and re.fullmatch(r"[\w.-]+", str(value)):
        return str(value)
    if isinstance(value, float):
        value = repr(value)
    return quote(str(value))


def quote(text: str) -> str:
    """``text`` as a DOT string that Graphviz shows literally and :func:`from_dot` reads back.

    Backslash and quote are escaped for DOT, ``&`` and control characters become HTML
    entities (Graphviz decodes those), and a line break becomes DOT's ``\\n``.

    >>> quote('say "hi"\\nA&B')
    '"say \\\\"hi\\\\"\\\\nA&amp;B"'
    """
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "&":
            out.append("&amp;")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"&#{ord(ch)};")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# ---------------------------------------------------------------------------- reading


def from_dot(text: str) -> nx.DiGraph:
    """The flowchart graph of DOT ``text`` (the first graph if there are several).

    >>> G = from_dot('digraph { a [shape=diamond, label="ok?"]; a -> b [label=yes] }')
    >>> G.nodes["a"]["shape"], G.nodes["b"]["text"], G.edges["a", "b"]["label"]
    ('diamond', 'b', 'yes')
    """
    dot = _parse_dot(text)
    G = nx.DiGraph()
    G.graph.update(_graph_attrs(dot))
    undirected = dot.get_type() == "graph"
    subgraphs: list[dict] = []
    _read_scope(dot, G, {}, {}, undirected, subgraphs)
    if subgraphs:
        G.graph["subgraphs"] = subgraphs
    return checked(G)


def _parse_dot(text: str):
    import pydot  # parsing pulls in pyparsing: only when DOT is read

    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):  # pydot prints parse errors instead of raising
            graphs = pydot.graph_from_dot_data(text)
    except Exception as e:  # pydot raises bare exceptions of several kinds on bad input
        raise FormatError(f"not DOT: {e}") from None
    if not graphs:
        detail = " ".join(captured.getvalue().split()) or "no graph found"
        raise FormatError(f"not DOT: {detail[-300:]}")
    return graphs[0]


def _graph_attrs(dot) -> dict:
    attrs = {}
    for key, raw in _own_defaults(dot, "graph").items():
        value = unquote(raw)
        if key in ("width", "height"):
            try:
                attrs[key] = float(value) if "." in value or "e" in value.lower() else int(value)
            except ValueError:
                raise FormatError(f"graph {key} {value!r} is not a number") from None
        elif key in ("source", "backend"):
            attrs[key] = value  # other graph attributes are Graphviz's, not the contract's
    return attrs


def _own_defaults(scope, kind: str) -> dict:
    """Attributes of ``graph [...]`` / ``node [...]`` / ``edge [...]`` statements in a scope."""
    attrs = dict(scope.get_attributes()) if kind == "graph" else {}
    for node in scope.get_nodes():
        if node.get_name() == kind:
            attrs.update(node.get_attributes())
    return attrs


def _read_scope(scope, G, node_defaults, edge_defaults, undirected, subgraphs) -> list[str]:
    """Add the nodes and edges of one DOT scope (graph or subgraph); return the ids it names."""
    node_defaults = {**node_defaults, **_own_defaults(scope, "node")}
    edge_defaults = {**edge_defaults, **_own_defaults(scope, "edge")}
    named: list[str] = []
    for node in scope.get_nodes():
        if node.get_name() in ("graph", "node", "edge"):  # default statements, not nodes
            continue
        name = unquote(node.get_name())
        attrs = {**node_defaults, **node.get_attributes()}
        _add_dot_node(G, name, attrs, merge=name in G)
        named.append(name)
    for sub in scope.get_subgraphs():
        members = _read_scope(sub, G, node_defaults, edge_defaults, undirected, subgraphs)
        _record_subgraph(sub, members, subgraphs)
        named.extend(members)
    for edge in scope.get_edges():
        attrs = {**edge_defaults, **edge.get_attributes()}
        for u in _endpoint_ids(edge.get_source()):
            for v in _endpoint_ids(edge.get_destination()):
                for end in (u, v):
                    if end not in G:
                        _add_dot_node(G, end, node_defaults, merge=False)
                        named.append(end)
                _add_dot_edge(G, u, v, attrs, undirected)
    return named


def _record_subgraph(sub, members: list[str], subgraphs: list[dict]) -> None:
    attrs = _own_defaults(sub, "graph")
    if "id" not in attrs and "label" not in attrs and not unquote(sub.get_name()).startswith("cluster"):
        return  # a plain { ... } group, not a subgraph anyone named
    subgraphs.append(
        {
            "id": unquote(attrs.get("id", sub.get_name())),
            "title": _label_text(attrs.get("label", '""'), ""),
            "nodes": list(dict.fromkeys(members)),
        }
    )


def _endpoint_ids(end) -> list[str]:
    if isinstance(end, str):
        return [unquote(end.split(":")[0]) if not end.startswith('"') else _strip_port(end)]
    return [unquote(name) for name in end.get("nodes", {})]  # an edge to a { ... } group


def _strip_port(end: str) -> str:
    match = re.match(r'^("(?:[^"\\]|\\.)*")', end)
    return unquote(match.group(1) if match else end)


def _add_dot_node(G: nx.DiGraph, name: str, attrs: dict, *, merge: bool) -> None:
    data = G.nodes[name] if merge else {}
    shape = _shape_of(attrs)
    if shape is not None or not merge:
        data["shape"] = shape or "ellipse"  # DOT's default node shape is an ellipse
    if "label" in attrs or not merge:
        data["text"] = _label_text(attrs.get("label", r'"\N"'), name)
    if "score" in attrs or not merge:
        data["score"] = _number(attrs.get("score", "1.0"), f"node {name!r} score")
    if "bbox" in attrs:
        parts = unquote(attrs["bbox"]).split(",")
        data["bbox"] = tuple(_number(p, f"node {name!r} bbox") for p in parts)
    G.add_node(name, **data)


def _shape_of(attrs: dict) -> str | None:
    cls = unquote(attrs.get("class", ""))
    if cls in SHAPES:
        return cls
    if "shape" not in attrs:
        return None
    dot_shape = unquote(attrs["shape"]).lower()
    shape = _FROM_DOT_SHAPE.get(dot_shape, "other")
    if shape == "rectangle" and "rounded" in unquote(attrs.get("style", "")):
        return "rounded_rectangle"
    return shape


def _add_dot_edge(G: nx.DiGraph, u: str, v: str, attrs: dict, undirected: bool) -> None:
    direction = unquote(attrs.get("dir", "none" if undirected else "forward")).lower()
    if direction == "back":  # head drawn at the tail: the arrow points from v to u
        u, v, direction = v, u, "forward"
    if direction == "forward" and unquote(attrs.get("arrowhead", "normal")).lower() == "none":
        direction = "none"
    data = {
        "label": _label_text(attrs.get("label", '""'), ""),
        "arrow": {"both": "both", "none": "none"}.get(direction, "normal"),
        "score": _number(attrs.get("score", "1.0"), f"edge {u!r} -> {v!r} score"),
    }
    if "points" in attrs:
        pairs = unquote(attrs["points"]).split()
        data["points"] = [tuple(_number(c, "edge points") for c in p.split(",")) for p in pairs]
    G.add_edge(u, v, **data)


def _number(text: str, what: str) -> float:
    try:
        return float(unquote(text))
    except ValueError:
        raise FormatError(f"{what}: {unquote(text)!r} is not a number") from None


def unquote(value: str | None) -> str:
    """The string a DOT id or attribute value stands for (quotes and DOT escapes undone).

    >>> unquote('"say \\\\"hi\\\\""'), unquote('plain')
    ('say "hi"', 'plain')
    """
    return _decode_entities(_decode(value, node_id=None))


def _label_text(raw: str, node_id: str) -> str:
    """What Graphviz shows for a label: escapes, ``\\N`` and HTML entities decoded."""
    raw = str(raw)
    if raw.startswith("<") and raw.endswith(">"):  # an HTML-like label: keep the text
        inner = re.sub(r"<br\s*/?>", "\n", raw[1:-1], flags=re.I)
        return _decode_entities(re.sub(r"<[^>]*>", "", inner))
    return _decode_entities(_decode(raw, node_id=node_id))


def _decode(value: str | None, *, node_id: str | None) -> str:
    """Undo DOT quoting and Graphviz's escapes in one pass (``\\N`` too, given ``node_id``)."""
    if value is None:
        return ""
    value = str(value)
    if not (len(value) >= 2 and value[0] == value[-1] == '"'):
        return value
    body, out, i = value[1:-1], [], 0
    while i < len(body):
        ch, nxt = body[i], body[i + 1 : i + 2]
        if ch != "\\" or not nxt:
            out.append(ch)
            i += 1
            continue
        if nxt in "\r\n":  # a backslash before a line break continues the line
            i += 2 + (nxt == "\r" and body[i + 2 : i + 3] == "\n")
            continue
        if nxt == "N" and node_id is not None:  # Graphviz shows the node's id for \N
            out.append(node_id)
        else:
            out.append({'"': '"', "n": "\n", "l": "\n", "r": "\n", "\\": "\\"}.get(nxt, ch + nxt))
        i += 2
    return "".join(out)


_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")


def _decode_entities(text: str) -> str:
    """HTML entities as Graphviz reads them (numeric ones exactly, control characters too)."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name.startswith("#"):
            code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
            return chr(code) if 0 <= code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else match.group(0)
        return html.entities.html5.get(name + ";", match.group(0))

    return _ENTITY.sub(replace, text)


# ---------------------------------------------------------------------------- files


def write_dot(G: nx.DiGraph, path: str | os.PathLike) -> None:
    """Write ``G`` as DOT to ``path`` (atomically)."""
    write_graph(G, path, to_dot)


def read_dot(path: str | os.PathLike) -> nx.DiGraph:
    """Read a DOT file; errors name the file."""
    return read_graph(path, from_dot)
