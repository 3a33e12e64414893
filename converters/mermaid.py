"""Mermaid flowcharts: every canonical shape, edge labels, arrow kinds and a layout direction.

The writer escapes every character that could end a label or start Mermaid syntax as a Mermaid
entity code (``#34;``), so labels cannot inject statements or script, and the reader decodes them
back exactly. The reader takes the syntax people write: chains ``A --> B --> C``, ``A & B --> C``,
``-->|yes|`` and ``-- yes -->`` labels, ``:::class``, ``%%`` comments, ``subgraph ... end``,
quoted and Markdown labels, ``<br>``, and the ``A@{ shape: doc }`` form. Mermaid carries no
geometry: boxes are not written, and read graphs have none.
"""

from __future__ import annotations

import html.entities
import os
import re
from dataclasses import dataclass, field

import networkx as nx
from flowparse.converters._io import checked, read_graph, write_graph

from flowparse.errors import FormatError
from flowparse.geometry import box_center
from flowparse.graph import canonical_shape, subgraph_parents, validate_graph

__all__ = ["MERMAID_SHAPES", "layout_direction", "to_mermaid", "from_mermaid", "write_mermaid", "read_mermaid"]

#: Canonical shape -> Mermaid's brackets around the label.
MERMAID_SHAPES: dict[str, tuple[str, str]] = {
    "rectangle": ("[", "]"),
    "rounded_rectangle": ("(", ")"),
    "stadium": ("([", "])"),
    "subroutine": ("[[", "]]"),
    "cylinder": ("[(", ")]"),
    "circle": ("((", "))"),
    "double_circle": ("(((", ")))"),
    "ellipse": ("(-", "-)"),
    "asymmetric": (">", "]"),
    "diamond": ("{", "}"),
    "hexagon": ("{{", "}}"),
    "parallelogram": ("[/", "/]"),
    "parallelogram_alt": ("[\\", "\\]"),
    "trapezoid": ("[/", "\\]"),
    "trapezoid_alt": ("[\\", "/]"),
}
# `document` has no bracket form: it is written as `id@{ shape: doc, label: "..." }`, and
# `other` as a rectangle with the class `other`, which the reader maps back.

# Mermaid's names in the `@{ shape: ... }` form, where they differ from ours.
_AT_SHAPES = {
    "rect": "rectangle",
    "proc": "rectangle",
    "rounded": "rounded_rectangle",
    "event": "rounded_rectangle",
    "stadium": "stadium",
    "pill": "stadium",
    "terminal": "stadium",
    "fr-rect": "subroutine",
    "subproc": "subroutine",
    "subprocess": "subroutine",
    "subroutine": "subroutine",
    "cyl": "cylinder",
    "database": "cylinder",
    "db": "cylinder",
    "circ": "circle",
    "dbl-circ": "double_circle",
    "double-circle": "double_circle",
    "diam": "diamond",
    "decision": "diamond",
    "question": "diamond",
    "hex": "hexagon",
    "prepare": "hexagon",
    "lean-r": "parallelogram",
    "lean-right": "parallelogram",
    "in-out": "parallelogram",
    "lean-l": "parallelogram_alt",
    "lean-left": "parallelogram_alt",
    "out-in": "parallelogram_alt",
    "trap-b": "trapezoid",
    "trapezoid-bottom": "trapezoid",
    "priority": "trapezoid",
    "trap-t": "trapezoid_alt",
    "trapezoid-top": "trapezoid_alt",
    "manual": "trapezoid_alt",
    "inv-trapezoid": "trapezoid_alt",
    "odd": "asymmetric",
    "doc": "document",
    "docs": "document",
    "document": "document",
}

_LINKS = {"normal": "-->", "none": "---", "both": "<-->"}
_RESERVED = {
    "end",
    "graph",
    "flowchart",
    "flowchart-elk",
    "subgraph",
    "style",
    "classdef",
    "class",
    "click",
    "linkstyle",
    "direction",
    "default",
    "call",
    "href",
    "callback",
    "interpolate",
    "td",
    "tb",
    "bt",
    "lr",
    "rl",
    "acctitle",
    "accdescr",
}
# Characters a label never shows raw: quotes, Mermaid's bracket and link syntax, entity and
# comment starts, HTML, statement separators, and controls.
_ESCAPED = set('"#&<>%;|`\\') | {chr(c) for c in range(32) if c != 10} | {"\x7f"}


# ---------------------------------------------------------------------------- writing


def to_mermaid(G: nx.DiGraph, *, direction: str | None = None) -> str:
    """The graph as a Mermaid flowchart (``TD`` or ``LR`` from the boxes unless ``direction``).

    >>> from flowparse.graph import new_graph, add_shape, add_arrow
    >>> G = new_graph(); a = add_shape(G, "diamond", text="ok?"); b = add_shape(G, "stadium", text="Done")
    >>> add_arrow(G, a, b, label="yes")
    >>> print(to_mermaid(G), end="")
    flowchart TD
        n0{"ok?"}
        n1(["Done"])
        n0 -->|"yes"| n1
    """
    validate_graph(G)
    ids = _mermaid_ids(G)
    lines = [f"flowchart {direction or layout_direction(G)}"]
    subgraphs = G.graph.get("subgraphs", [])
    parents = subgraph_parents(subgraphs)
    placed: set[str] = set()
    for k, parent in enumerate(parents):
        if parent is None:
            _write_subgraph(G, ids, subgraphs, parents, k, placed, lines, depth=1)
    lines.extend(f"    {_node_decl(G, n, ids[n])}" for n in G.nodes if n not in placed)
    for u, v, data in G.edges(data=True):
        label = f'|"{escape_label(data["label"])}"|' if data["label"] else ""
        lines.append(f"    {ids[u]} {_LINKS[data['arrow']]}{label} {ids[v]}")
    return "\n".join(lines) + "\n"


def _write_subgraph(G, ids, subgraphs, parents, k, placed, lines, depth) -> None:
    indent = "    " * depth
    sub = subgraphs[k]
    lines.append(f'{indent}subgraph {_safe_subgraph_id(sub["id"], k)} ["{escape_label(sub["title"])}"]')
    for child, parent in enumerate(parents):
        if parent == k:
            _write_subgraph(G, ids, subgraphs, parents, child, placed, lines, depth + 1)
    for node in sub["nodes"]:
        if node not in placed:
            lines.append(f"{indent}    {_node_decl(G, node, ids[node])}")
            placed.add(node)
    lines.append(f"{indent}end")


def _node_decl(G: nx.DiGraph, node: str, mermaid_id: str) -> str:
    shape, text = G.nodes[node]["shape"], escape_label(G.nodes[node]["text"])
    if shape == "document":
        return f'{mermaid_id}@{{ shape: doc, label: "{text}" }}'
    if shape == "other":
        return f'{mermaid_id}["{text}"]:::other'
    opener, closer = MERMAID_SHAPES[shape]
    return f'{mermaid_id}{opener}"{text}"{closer}'


def escape_label(text: str) -> str:
    """``text`` as it goes between quotes in Mermaid: risky characters as ``#NN;`` codes.

    Mermaid rejects an empty label, so ``""`` is written as one space (and a text that is one
    space as ``#32;``); the reader maps a lone space back to ``""``.

    >>> escape_label('say "hi"; end\\n<b>')
    'say #34;hi#34;#59; end<br>#60;b#62;'
    """
    if text in ("", " "):
        return " " if text == "" else "#32;"
    return "".join("<br>" if ch == "\n" else f"#{ord(ch)};" if ch in _ESCAPED else ch for ch in text)


def _is_safe_id(node: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", node)) and node.lower() not in _RESERVED


def _mermaid_ids(G: nx.DiGraph) -> dict[str, str]:
    """Node id -> Mermaid id: the id itself when Mermaid can spell it, else a fresh ``nK``."""
    ids = {n: n for n in G.nodes if _is_safe_id(n)}
    taken, k = set(ids), 0
    for node in G.nodes:
        if node not in ids:
            while f"n{k}" in taken:
                k += 1
            ids[node] = f"n{k}"
            taken.add(ids[node])
    return ids


def _safe_subgraph_id(sub_id: str, k: int) -> str:
    return sub_id if _is_safe_id(sub_id) else f"subgraph_{k}"


def layout_direction(G: nx.DiGraph) -> str:
    """``"LR"`` when the arrows (or, without arrows, the boxes) run mostly sideways, else ``"TD"``.

    >>> from flowparse.graph import new_graph, add_shape, add_arrow
    >>> G = new_graph(300, 100); a = add_shape(G, "rectangle", (0, 0, 50, 40))
    >>> b = add_shape(G, "rectangle", (200, 10, 250, 50)); add_arrow(G, a, b)
    >>> layout_direction(G)
    'LR'
    """
    centers = {n: box_center(d["bbox"]) for n, d in G.nodes(data=True) if "bbox" in d}
    pairs = [(centers[u], centers[v]) for u, v in G.edges if u in centers and v in centers]
    if not pairs and len(centers) > 1:
        xs, ys = zip(*centers.values())
        return "LR" if max(xs) - min(xs) > max(ys) - min(ys) else "TD"
    dx = sum(abs(b[0] - a[0]) for a, b in pairs)
    dy = sum(abs(b[1] - a[1]) for a, b in pairs)
    if pairs and dx > dy:
        return "LR"
    if pairs:
        return "TD"
    return G.graph.get("direction") if G.graph.get("direction") in ("TD", "LR") else "TD"


# ---------------------------------------------------------------------------- reading


def from_mermaid(text: str) -> nx.DiGraph:
    """The graph of a Mermaid flowchart.

    >>> G = from_mermaid('graph LR\\n  A[Start] --> B{ok?} -->|yes| C([Done])\\n  B -- no --> A')
    >>> [(u, v, d["label"]) for u, v, d in G.edges(data=True)]
    [('A', 'B', ''), ('B', 'C', 'yes'), ('B', 'A', 'no')]
    """
    statements = _statements(text)
    if not statements:
        raise FormatError("not a Mermaid flowchart: empty")
    line, header = statements[0]
    match = re.fullmatch(r"(?:flowchart|flowchart-elk|graph)(?:\s+(\w+))?", header.strip(), re.I)
    if not match:
        raise FormatError(f"line {line}: not a Mermaid flowchart (starts with {header.strip()[:40]!r})")
    reader = _Reader()
    reader.G.graph["direction"] = {"TB": "TD"}.get((match.group(1) or "TD").upper(), (match.group(1) or "TD").upper())
    for line, statement in statements[1:]:
        try:
            reader.statement(statement.strip())
        except FormatError as e:
            raise FormatError(f"line {line}: {e.problem}") from None
    if reader.open_subgraphs:
        raise FormatError(f"subgraph {reader.open_subgraphs[-1]['id']!r} has no 'end'")
    if reader.subgraphs:
        reader.G.graph["subgraphs"] = reader.subgraphs
    return checked(reader.G)


def _statements(text: str) -> list[tuple[int, str]]:
    """Statements with their line numbers: comments and front matter dropped, split at
    newlines and ``;`` outside quotes (``#quot;`` entity codes keep their ``;``)."""
    text = re.sub(r"\A\s*---\n.*?\n---\s*\n", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    out, buf, line, start_line, i = [], [], 1, 1, 0
    quoted, props = False, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            quoted = not quoted
        elif not quoted and text.startswith("%%", i):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
            continue
        elif not quoted and text.startswith("@{", i):
            props += 1
        elif not quoted and ch == "}" and props:
            props -= 1
        elif not quoted and ch == "#" and (m := re.match(r"#\w+;", text[i:])):
            buf.append(m.group(0))
            i += len(m.group(0))
            continue
        if ch == "\n":
            line += 1
        if not quoted and (ch == "\n" or (ch == ";" and not props)):
            if props:  # a multi-line @{ ... } block: its lines are its fields
                buf.append(",")
            else:
                out.append((start_line, "".join(buf)))
                buf, start_line = [], line
            i += 1
            continue
        buf.append(ch)
        i += 1
    out.append((start_line, "".join(buf)))
    return [(n, s) for n, s in out if s.strip()]


_ID = re.compile(r"[\w$]+(?:-[\w$]+)*")
_OPENERS = sorted({opener for opener, _ in MERMAID_SHAPES.values()}, key=len, reverse=True)
_PLAIN_LINK = re.compile(
    r"(?P<start>[<ox])?(?P<body>-{3,}|-{2,}(?=[>ox])|-\.+-|={3,}|={2,}(?=[>ox])|~{3,})(?P<end>[>ox])?"
)
_LABELED_LINK_START = re.compile(r"(?P<start>[<ox])?(?P<body>--|==|-\.)(?![-=.>])")
_LABELED_LINK_END = {
    "--": re.compile(r"\s*(?P<body>-{2,})(?P<end>[>ox])?"),
    "==": re.compile(r"\s*(?P<body>={2,})(?P<end>[>ox])?"),
    "-.": re.compile(r"\s*(?P<body>\.-+)(?P<end>[>ox])?"),
}


@dataclass
class _Reader:
    G: nx.DiGraph = field(default_factory=nx.DiGraph)
    subgraphs: list[dict] = field(default_factory=list)
    open_subgraphs: list[dict] = field(default_factory=list)

    def statement(self, s: str) -> None:
        keyword = s.split(None, 1)[0].lower() if s else ""
        if keyword == "subgraph":
            self._open_subgraph(s[len("subgraph") :].strip())
        elif s.lower() == "end":
            if not self.open_subgraphs:
                raise FormatError("'end' without a subgraph")
            self.subgraphs.append(self.open_subgraphs.pop())
        elif keyword in ("direction", "classdef", "class", "style", "linkstyle", "click") or keyword.startswith("acc"):
            return  # styling and interaction: no part of the graph
        else:
            _Chain(self, s).read()

    def _open_subgraph(self, header: str) -> None:
        match = re.fullmatch(r'([\w$-]+)\s*\[\s*(".*"|[^\]]*)\s*\]', header)
        if match:
            sub_id, title = match.group(1), _label(match.group(2))
        elif header.startswith('"'):
            sub_id = title = _label(header)
        else:
            sub_id = title = header
        self.open_subgraphs.append({"id": sub_id, "title": title, "nodes": []})

    def node(self, node_id: str, shape: str | None, text: str | None) -> None:
        if node_id not in self.G:
            self.G.add_node(node_id, shape="rectangle", text=node_id, score=1.0)
        if shape is not None:
            self.G.nodes[node_id]["shape"] = shape
        if text is not None:
            self.G.nodes[node_id]["text"] = text
        for sub in self.open_subgraphs:
            if node_id not in sub["nodes"]:
                sub["nodes"].append(node_id)


class _Chain:
    """One statement of nodes and links: ``A & B -->|x| C --- D``."""

    def __init__(self, reader: _Reader, text: str):
        self.reader, self.s, self.pos = reader, text, 0

    def read(self) -> None:
        sources = self._group()
        while self._skip_space() < len(self.s):
            arrow, label, reverse = self._link()
            targets = self._group()
            for u in sources:
                for v in targets:
                    a, b = (v, u) if reverse else (u, v)
                    self.reader.G.add_edge(a, b, label=label, arrow=arrow, score=1.0)
            sources = targets

    def _fail(self, what: str) -> FormatError:
        return FormatError(f"expected {what} at column {self.pos + 1}: {self.s[self.pos : self.pos + 30]!r}")

    def _skip_space(self) -> int:
        while self.pos < len(self.s) and self.s[self.pos].isspace():
            self.pos += 1
        return self.pos

    def _group(self) -> list[str]:
        ids = [self._node()]
        while self._skip_space() < len(self.s) and self.s[self.pos] == "&":
            self.pos += 1
            self._skip_space()
            ids.append(self._node())
        return ids

    def _node(self) -> str:
        match = _ID.match(self.s, self._skip_space())
        if not match:
            raise self._fail("a node id")
        node_id, self.pos = match.group(0), match.end()
        shape, text = None, None
        if self.s.startswith("@{", self.pos):
            shape, text = self._props()
        else:
            shape, text = self._brackets()
        if (cls := re.match(r":::([\w-]+)", self.s[self.pos :])) is not None:
            self.pos += cls.end()
            if cls.group(1) == "other":
                shape = "other"
        self.reader.node(node_id, shape, text)
        return node_id

    def _brackets(self) -> tuple[str | None, str | None]:
        """The shape and text in brackets after an id; the longest opener that closes wins
        (``A(-x)`` is a rounded box whose text starts with a dash, not an open ellipse)."""
        start, error = self.pos, None
        for opener in (o for o in _OPENERS if self.s.startswith(o, start)):
            self.pos = start + len(opener)
            closers = {c: shape for shape, (o, c) in MERMAID_SHAPES.items() if o == opener}
            try:
                text = self._text_until(tuple(closers))
            except FormatError as e:
                error = error or e
                continue
            for closer, shape in sorted(closers.items(), key=lambda kv: -len(kv[0])):
                if self.s.startswith(closer, self.pos):
                    self.pos += len(closer)
                    return shape, text
            error = error or self._fail(" or ".join(repr(c) for c in closers))
        self.pos = start
        if error is not None:
            raise error
        return None, None

    def _text_until(self, closers: tuple[str, ...]) -> str:
        start = self._skip_space()
        if self.s.startswith('"', start):
            end = self.s.find('"', start + 1)
            if end < 0:
                raise self._fail("a closing quote")
            self.pos = end + 1
            self._skip_space()
            return _label(self.s[start : end + 1])
        ends = [i for c in closers if (i := self.s.find(c, start)) >= 0]
        if not ends:
            raise self._fail(" or ".join(repr(c) for c in closers))
        self.pos = min(ends)
        return _label(self.s[start : self.pos])

    def _props(self) -> tuple[str | None, str | None]:
        end = _closing_brace(self.s, self.pos + 1)
        if end < 0:
            raise self._fail("'}' closing '@{'")
        fields = {}
        for part in _split_outside_quotes(self.s[self.pos + 2 : end], ","):
            key, _, value = part.partition(":")
            fields[key.strip().lower()] = value.strip()
        self.pos = end + 1
        shape = fields.get("shape")
        shape = _AT_SHAPES.get(shape.lower(), canonical_shape(shape)) if shape else None
        label = _label(fields["label"]) if "label" in fields else None
        return shape, label

    def _link(self) -> tuple[str, str, bool]:
        self._skip_space()
        if (edge_id := re.match(r"[\w$]+@(?=[-=~<ox.])", self.s[self.pos :])) is not None:
            self.pos += edge_id.end()  # Mermaid 11 edge ids: `A e1@--> B`
        label = ""
        start_match = _LABELED_LINK_START.match(self.s, self.pos)
        plain = _PLAIN_LINK.match(self.s, self.pos)
        if plain:
            start, end = plain.group("start"), plain.group("end")
            invisible = plain.group("body").startswith("~")
            self.pos = plain.end()
        elif start_match:
            start = start_match.group("start")
            closing = _LABELED_LINK_END[start_match.group("body")]
            rest = self.s[start_match.end() :]
            found = next((m for m in closing.finditer(rest) if m.group(0).strip()), None)
            if found is None:
                raise self._fail("the end of a labelled link")
            label = _label(rest[: found.start()].strip())
            end, invisible = found.group("end"), False
            self.pos = start_match.end() + found.end()
        else:
            raise self._fail("a link such as --> or ---")
        if self._skip_space() < len(self.s) and self.s[self.pos] == "|":
            close = self.s.find("|", self.pos + 1)
            if self.s.startswith('"', self.pos + 1):
                close = self.s.find("|", self.s.find('"', self.pos + 2) + 1)
            if close < 0:
                raise self._fail("a closing '|'")
            label = _label(self.s[self.pos + 1 : close].strip())
            self.pos = close + 1
        head_at_start, head_at_end = start is not None, end is not None
        if invisible or not (head_at_start or head_at_end):
            return "none", label, False
        if head_at_start and head_at_end:
            return "both", label, False
        return "normal", label, head_at_start


def _closing_brace(s: str, start: int) -> int:
    quoted = False
    for i in range(start + 1, len(s)):
        if s[i] == '"':
            quoted = not quoted
        elif s[i] == "}" and not quoted:
            return i
    return -1


def _split_outside_quotes(s: str, sep: str) -> list[str]:
    parts, buf, quoted = [], [], False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return [p for p in parts if p.strip()]


_ENTITY = re.compile(r"#(\d+);|#([A-Za-z]\w*);|&(#\d+|#[xX][0-9a-fA-F]+|[A-Za-z]\w*);")


def _label(raw: str) -> str:
    """A label as written (quoted, Markdown or bare) back to its text."""
    raw = raw.strip()
    if raw == '" "':  # how the writer spells an empty label (Mermaid rejects "")
        return ""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
        if len(raw) >= 2 and raw[0] == raw[-1] == "`":  # a Markdown string
            raw = raw[1:-1]
    raw = re.sub(r"<br\s*/?>", "\n", raw, flags=re.I)
    return _ENTITY.sub(_decode_entity, raw)


def _decode_entity(match: re.Match) -> str:
    number, name, html_ref = match.groups()
    if number is not None:
        code = int(number)
        return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else match.group(0)
    if html_ref is not None:
        if html_ref.startswith("#"):
            code = int(html_ref[2:], 16) if html_ref[1] in "xX" else int(html_ref[1:])
            return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else match.group(0)
        name = html_ref
    return html.entities.html5.get(f"{name};", match.group(0))


# ---------------------------------------------------------------------------- files


def write_mermaid(G: nx.DiGraph, path: str | os.PathLike) -> None:
    """Write ``G`` as a Mermaid flowchart to ``path`` (atomically)."""
    write_graph(G, path, to_mermaid)


def read_mermaid(path: str | os.PathLike) -> nx.DiGraph:
    """Read a Mermaid flowchart file; errors name the file."""
    return read_graph(path, from_mermaid)
