"""The Mermaid reader understands the syntax people write. One row per case."""

from __future__ import annotations

import pytest
from flowparse.converters import from_mermaid, to_mermaid

from flowparse.errors import FormatError


def edges(G):
    return sorted((u, v, d["label"], d["arrow"]) for u, v, d in G.edges(data=True))


def nodes(G):
    return sorted((n, d["shape"], d["text"]) for n, d in G.nodes(data=True))


@pytest.mark.parametrize(
    "text, expected_edges",
    [
        # a chain makes an edge per link
        ("graph TD\nA --> B --> C", [("A", "B", "", "normal"), ("B", "C", "", "normal")]),
        # & fans in and out
        (
            "flowchart LR\nA & B --> C & D",
            [("A", "C", "", "normal"), ("A", "D", "", "normal"), ("B", "C", "", "normal"), ("B", "D", "", "normal")],
        ),
        # both label forms
        ("graph TD\nA -->|yes| B\nA -- no --> C", [("A", "B", "yes", "normal"), ("A", "C", "no", "normal")]),
        # quoted labels on links, with a pipe inside
        ('graph TD\nA -->|"a|b"| B', [("A", "B", "a|b", "normal")]),
        # arrow kinds: open, both, dotted, thick, long, circle and cross heads, invisible
        (
            "graph TD\nA --- B\nC <--> D\nE -.-> F\nG ==> H\nI ----> J\nK --o L\nM x--x N\nO ~~~ P",
            [
                ("A", "B", "", "none"),
                ("C", "D", "", "both"),
                ("E", "F", "", "normal"),
                ("G", "H", "", "normal"),
                ("I", "J", "", "normal"),
                ("K", "L", "", "normal"),
                ("M", "N", "", "both"),
                ("O", "P", "", "none"),
            ],
        ),
        # dotted and thick links with text
        ("graph TD\nA -. maybe .-> B\nC == sure ==> D", [("A", "B", "maybe", "normal"), ("C", "D", "sure", "normal")]),
        # ; separates statements; %% comments are dropped, also after a statement
        ("graph TD; A --> B; %% B --> C\nC --> D %% trailing", [("A", "B", "", "normal"), ("C", "D", "", "normal")]),
        # a %% inside quotes is text, not a comment
        ('graph TD\nA -->|"50%% off"| B', [("A", "B", "50%% off", "normal")]),
        # Mermaid 11 edge ids
        ("flowchart TD\nA e1@--> B", [("A", "B", "", "normal")]),
        # ids with dashes and unicode
        ("graph TD\nstart-node --> 结束", [("start-node", "结束", "", "normal")]),
        # no space around links
        ("graph TD\nA-->B---C", [("A", "B", "", "normal"), ("B", "C", "", "none")]),
    ],
)
def test_links(text, expected_edges):
    assert edges(from_mermaid(text)) == sorted(expected_edges)


@pytest.mark.parametrize(
    "decl, shape, text",
    [
        ("A[Box]", "rectangle", "Box"),
        ("A(Round)", "rounded_rectangle", "Round"),
        ("A([Pill])", "stadium", "Pill"),
        ("A[[Sub]]", "subroutine", "Sub"),
        ("A[(DB)]", "cylinder", "DB"),
        ("A((C))", "circle", "C"),
        ("A(((CC)))", "double_circle", "CC"),
        ("A(-E-)", "ellipse", "E"),
        ("A>Flag]", "asymmetric", "Flag"),
        ("A{Ok?}", "diamond", "Ok?"),
        ("A{{Hex}}", "hexagon", "Hex"),
        ("A[/In/]", "parallelogram", "In"),
        ("A[\\Out\\]", "parallelogram_alt", "Out"),
        ("A[/Trap\\]", "trapezoid", "Trap"),
        ("A[\\Inv/]", "trapezoid_alt", "Inv"),
        ('A@{ shape: doc, label: "Report" }', "document", "Report"),
        ("A@{ shape: diam }", "diamond", "A"),
        ('A@{\n  shape: cyl\n  label: "Multi-line props"\n}', "cylinder", "Multi-line props"),
        ('A["Quoted [brackets] (parens)"]', "rectangle", "Quoted [brackets] (parens)"),
        ('A["`**markdown**`"]', "rectangle", "**markdown**"),
        ("A[one<br>two<br/>three]", "rectangle", "one\ntwo\nthree"),
        ('A["#quot;q#quot; #35; #9829;"]', "rectangle", '"q" # ♥'),
        ("A(-not an ellipse)", "rounded_rectangle", "-not an ellipse"),
        ("A[/path]", "rectangle", "/path"),
        ("A[Styled]:::warn", "rectangle", "Styled"),
        ("A", "rectangle", "A"),
    ],
)
def test_shapes_and_texts(decl, shape, text):
    G = from_mermaid(f"flowchart TD\n{decl}")
    assert nodes(G) == [("A", shape, text)]


def test_later_declaration_sets_shape_of_earlier_reference():
    G = from_mermaid("graph TD\nA --> B\nB{Decide}")
    assert G.nodes["B"]["shape"] == "diamond" and G.nodes["B"]["text"] == "Decide"


def test_subgraphs_keep_members_and_are_recorded():
    G = from_mermaid(
        'flowchart TB\nsubgraph outer ["Outer box"]\n  A --> B\n  subgraph inner\n    C\n  end\nend\n'
        'subgraph "Quoted title"\n D\nend\nA --> D'
    )
    assert G.graph["direction"] == "TD"
    subs = {s["id"]: s for s in G.graph["subgraphs"]}
    assert subs["outer"]["title"] == "Outer box" and subs["outer"]["nodes"] == ["A", "B", "C"]
    assert subs["inner"]["nodes"] == ["C"]
    assert subs["Quoted title"]["nodes"] == ["D"]
    assert ("A", "D") in G.edges
    # and the writer nests them again
    again = from_mermaid(to_mermaid(G))
    # (a title that is no Mermaid id gets a generated one; the title itself is kept)
    written = {s["title"]: sorted(s["nodes"]) for s in again.graph["subgraphs"]}
    assert written == {"Outer box": ["A", "B", "C"], "inner": ["C"], "Quoted title": ["D"]}


def test_styling_and_interaction_statements_are_ignored():
    G = from_mermaid(
        "graph LR\nA --> B\nclassDef hot fill:#f96,stroke:#333;\nclass A hot\nstyle B fill:#bbf\n"
        'linkStyle 0 stroke:#ff3\nclick A "https://example.com" "tip"\naccTitle: Title\n'
    )
    assert nodes(G) == [("A", "rectangle", "A"), ("B", "rectangle", "B")]
    assert G.graph["direction"] == "LR"


def test_front_matter_and_init_directive_are_skipped():
    G = from_mermaid('---\ntitle: Order\n---\n%%{init: {"theme": "forest"}}%%\nflowchart TD\nA --> B')
    assert edges(G) == [("A", "B", "", "normal")]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("sequenceDiagram\nA->>B: hi", "not a Mermaid flowchart"),
        ("graph TD\nA --> ", "line 2: expected a node id"),
        ("graph TD\nA[unclosed --> B", "line 2"),
        ('graph TD\nA["unclosed] --> B', "closing quote"),
        ("graph TD\nsubgraph s\nA", "has no 'end'"),
        ("graph TD\nend", "'end' without a subgraph"),
        ("graph TD\nA -- never closed", "end of a labelled link"),
    ],
)
def test_bad_mermaid_raises_format_error_with_the_line(text, message):
    with pytest.raises(FormatError, match=message):
        from_mermaid(text)
