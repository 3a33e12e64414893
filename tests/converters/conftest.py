"""Shared pieces for converter tests: hypothesis strategies for contract graphs, and the
real Mermaid parser and Graphviz `dot` as oracles."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import strategies as st

from flowparse.graph import ARROWS, SHAPES, add_arrow, add_shape, new_graph

ROOT = Path(__file__).resolve().parents[2]
MERMAID_TOOL = ROOT / "tools" / "mermaid"

# Labels that have broken flowchart writers: syntax of every format, script, keywords, controls.
HOSTILE_TEXTS = [
    "",
    'say "hi"',
    "it's",
    "a|b",
    "[x] (y) {z} <w>",
    "%% not a comment",
    "a; b",
    "<script>alert(1)</script>",
    "line one\nline two",
    "end",
    "subgraph",
    "click",
    "style",
    "classDef x fill:#f00",
    "#quot; #35; &amp; &lt;",
    "<br>",
    "\\n \\N \\\\ \\",
    "-->|x| B",
    "`md`",
    "A@{ shape: doc }",
    "是/否 ✓ ünïcödé 🚀",
    "\t tab \r\n crlf \x01 \x7f",
    "  padded  ",
]

texts = st.one_of(
    st.sampled_from(HOSTILE_TEXTS),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=24),
)


@st.composite
def flowcharts(draw, *, safe_ids: bool = True, max_nodes: int = 8) -> nx.DiGraph:
    """Contract graphs with hostile labels; ids Mermaid can spell unless ``safe_ids`` is False."""
    width = draw(st.integers(50, 4000))
    height = draw(st.integers(50, 4000))
    G = new_graph(width, height, source=draw(texts), backend=draw(st.sampled_from(["", "classical", "x"])))
    n = draw(st.integers(0, max_nodes))
    ids = [f"n{i}" for i in range(n)]
    if not safe_ids:
        ids = draw(
            st.lists(
                st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8),
                min_size=n,
                max_size=n,
                unique=True,
            )
        )
    for node_id in ids:
        x1 = draw(st.floats(0, width - 2, allow_nan=False))
        y1 = draw(st.floats(0, height - 2, allow_nan=False))
        x2 = draw(st.floats(x1, width, allow_nan=False).filter(lambda v, x1=x1: v > x1))
        y2 = draw(st.floats(y1, height, allow_nan=False).filter(lambda v, y1=y1: v > y1))
        add_shape(
            G, draw(st.sampled_from(SHAPES)), (x1, y1, x2, y2), draw(texts), draw(st.floats(0, 1)), node_id=node_id
        )
    if ids:
        pairs = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=2 * n, unique=True))
        for u, v in pairs:
            points = draw(
                st.none() | st.lists(st.tuples(st.floats(0, width), st.floats(0, height)), min_size=2, max_size=4)
            )
            add_arrow(G, u, v, draw(texts), draw(st.sampled_from(ARROWS)), draw(st.floats(0, 1)), points=points)
    return G


def assert_same_graph(G: nx.DiGraph, H: nx.DiGraph, *, geometry: bool = True) -> None:
    """Nodes, shapes, texts, edges, labels and arrows equal; boxes, scores and points too if
    ``geometry`` (the formats that carry them)."""
    node_keys = ("shape", "text") + (("bbox", "score") if geometry else ())
    edge_keys = ("label", "arrow") + (("score", "points") if geometry else ())
    assert set(G.nodes) == set(H.nodes)
    for n in G.nodes:
        assert {k: G.nodes[n].get(k) for k in node_keys} == {k: H.nodes[n].get(k) for k in node_keys}, n
    assert set(G.edges) == set(H.edges)
    for e in G.edges:
        assert {k: G.edges[e].get(k) for k in edge_keys} == {k: H.edges[e].get(k) for k in edge_keys}, e


@pytest.fixture(scope="session")
def mermaid_parse():
    """The real Mermaid parser: a function from a list of texts to a list of {ok, error}."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed (scripts/install-system-deps.sh installs it)")
    if not (MERMAID_TOOL / "node_modules" / "mermaid").is_dir():
        pytest.skip("the mermaid npm package is not installed in tools/mermaid (make test installs it)")

    def parse(texts: list[str]) -> list[dict]:
        done = subprocess.run(
            ["node", str(MERMAID_TOOL / "validate.mjs")],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return json.loads(done.stdout)

    return parse


@pytest.fixture(scope="session")
def graphviz_dot():
    """Graphviz's `dot`: a function from DOT text to (exit status, stderr)."""
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot is not installed (scripts/install-system-deps.sh installs it)")

    def run(text: str) -> tuple[int, str]:
        done = subprocess.run(["dot", "-Tsvg", "-o", "/dev/null"], input=text.encode(), capture_output=True, timeout=60)
        return done.returncode, done.stderr.decode(errors="replace")

    return run
