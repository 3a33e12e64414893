"""Grounded answer formats: writers, parsers (table of cases), round trips and fuzzing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowparse.graph import ARROWS, SHAPES, add_arrow, add_shape, new_graph, validate_graph
from flowparse.grounding import (
    PROMPTS,
    TASKS,
    complete_lines,
    detection_answer,
    escape_text,
    graph_answer,
    grounding_answer,
    parse_detection,
    parse_graph_answer,
    parse_grounding,
    prompt_for,
    unescape_text,
)


def _boxes(G):
    return sorted((G.nodes[n]["shape"], G.nodes[n]["bbox"]) for n in G)


DETECTION_CASES = [
    # plain one class, two boxes
    (
        "<ref>diamond</ref><box>[[100, 100, 300, 200], [0, 0, 10, 10]]</box>",
        [("diamond", (0, 0, 10, 20)), ("diamond", (100, 200, 300, 400))],
    ),
    # InternVL's preamble and code fence around the lines
    (
        "Sure, I will detect...\n\n```\n<ref>circle</ref><box>[[0, 0, 500, 500]]</box>\n```\n",
        [("circle", (0, 0, 500, 1000))],
    ),
    # swapped corners are put in order
    ("<ref>rectangle</ref><box>[[300, 200, 100, 100]]</box>", [("rectangle", (100, 200, 300, 400))]),
    # values outside 0..1000 are clipped to the grid
    ("<ref>rectangle</ref><box>[[-50, 900, 1200, 1500]]</box>", [("rectangle", (0, 1800, 1000, 2000))]),
    # degenerate box (zero width) dropped, also after clipping
    ("<ref>rectangle</ref><box>[[100, 100, 100, 200], [1100, 0, 1200, 10]]</box>", []),
    # exact duplicates removed, overlapping kept
    (
        "<ref>diamond</ref><box>[[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 11]]</box>",
        [("diamond", (0, 0, 10, 20)), ("diamond", (0, 0, 10, 22))],
    ),
    # unknown shape name -> other; alias -> canonical
    (
        "<ref>blob</ref><box>[[0, 0, 10, 10]]</box>\n<ref>Decision</ref><box>[[0, 0, 20, 20]]</box>",
        [("diamond", (0, 0, 20, 40)), ("other", (0, 0, 10, 20))],
    ),
    # Chinese name -> other
    ("<ref>菱形</ref><box>[[0, 0, 10, 10]]</box>", [("other", (0, 0, 10, 20))]),
    # truncated inside the list: complete boxes kept, the half box dropped
    ("<ref>circle</ref><box>[[0, 0, 10, 10], [20, 20, 3", [("circle", (0, 0, 10, 20))]),
    # truncated inside the ref: nothing
    ("<ref>circ", []),
    # a ref without a box is not a detection
    ("<ref>circle</ref> and then <ref>diamond</ref><box>[[0, 0, 10, 10]]</box>", [("diamond", (0, 0, 10, 20))]),
    # decimals and extra spaces tolerated
    ("<ref>ellipse</ref> <box>[ [0.5 , 0 ,10, 10.0] ]</box>", [("ellipse", (0.5, 0, 10, 20))]),
    # huge numbers do not overflow
    ("<ref>circle</ref><box>[[0, 0, " + "9" * 400 + ", 10]]</box>", [("circle", (0, 0, 1000, 20))]),
]


@pytest.mark.parametrize("text, expected", DETECTION_CASES)
def test_parse_detection_cases(text, expected):
    G = parse_detection(text, 1000, 2000, source="x.png", backend="internvl")
    validate_graph(G)
    assert _boxes(G) == sorted((s, tuple(float(v) for v in b)) for s, b in expected)
    assert list(G) == [f"n{k}" for k in range(len(expected))]
    assert G.graph["source"] == "x.png" and G.graph["backend"] == "internvl"


GRAPH_CASES = [
    # the documented format, with a label and every arrow kind
    (
        "n0 circle <ref>Start</ref><box>[[0, 0, 100, 100]]</box>\n"
        "n1 diamond <ref>ok?</ref><box>[[0, 200, 100, 300]]</box>\n"
        "n2 rectangle <ref>a\\nb &lt; c &amp;lt;</ref><box>[[0, 400, 100, 500]]</box>\n"
        "n0 -> n1\nn1 -> n2 <ref>yes</ref>\nn2 -- n0\nn2 <-> n1",
        {"n0": ("circle", "Start"), "n1": ("diamond", "ok?"), "n2": ("rectangle", "a\nb < c &lt;")},
        {
            ("n0", "n1"): ("", "normal"),
            ("n1", "n2"): ("yes", "normal"),
            ("n2", "n0"): ("", "none"),
            ("n2", "n1"): ("", "both"),
        },
    ),
    # foreign ids are renumbered, an edge to an undefined id dropped
    (
        "A circle <ref>x</ref><box>[[0, 0, 100, 100]]</box>\n"
        "B stadium <ref>y</ref><box>[[0, 200, 100, 300]]</box>\nA -> B\nA -> Z",
        {"n0": ("circle", "x"), "n1": ("stadium", "y")},
        {("n0", "n1"): ("", "normal")},
    ),
    # degenerate box: node and its edges dropped
    (
        "n0 circle <ref>x</ref><box>[[0, 0, 0, 100]]</box>\n"
        "n1 circle <ref>y</ref><box>[[0, 0, 10, 10]]</box>\nn0 -> n1",
        {"n0": ("circle", "y")},
        {},
    ),
    # exact duplicate node merges into the first, its edges follow
    (
        "n0 circle <ref>x</ref><box>[[0, 0, 10, 10]]</box>\nn1 circle <ref>x</ref><box>[[0, 0, 10, 10]]</box>\n"
        "n2 diamond <ref>z</ref><box>[[0, 20, 10, 30]]</box>\nn1 -> n2",
        {"n0": ("circle", "x"), "n1": ("diamond", "z")},
        {("n0", "n1"): ("", "normal")},
    ),
    # truncated in the middle of a node line: the complete part stays
    (
        "n0 circle <ref>开始</ref><box>[[0, 0, 10, 10]]</box>\nn1 diamond <ref>判断</ref><box>[[0, 20, 1",
        {"n0": ("circle", "开始")},
        {},
    ),
    # unknown shape -> other, a node without box is kept without bbox
    (
        "n0 star <ref>s</ref><box>[[0, 0, 10, 10]]</box>\nn1 Decision <ref>d</ref>\nn0 -> n1 <ref>no</ref>",
        {"n0": ("other", "s"), "n1": ("diamond", "d")},
        {("n0", "n1"): ("no", "normal")},
    ),
    # noise lines and a fenced block are ignored
    ("Here is the graph:\n```\nn0 circle <ref>a</ref><box>[[0, 0, 10, 10]]</box>\n```", {"n0": ("circle", "a")}, {}),
]


@pytest.mark.parametrize("text, nodes, edges", GRAPH_CASES)
def test_parse_graph_answer_cases(text, nodes, edges):
    G = parse_graph_answer(text, 1000, 1000)
    validate_graph(G)
    assert {n: (d["shape"], d["text"]) for n, d in G.nodes(data=True)} == nodes
    assert {(u, v): (d["label"], d["arrow"]) for u, v, d in G.edges(data=True)} == edges


def _sample_graph(rng: random.Random, width=640, height=480):
    G = new_graph(width, height, source="s.png")
    texts = ["", "Start", "多行\n文字", "a < b \\ c", "</ref> tricky", "tab\there"]
    for k in range(rng.randint(0, 8)):
        x1, y1 = rng.uniform(0, width - 30), rng.uniform(0, height - 30)
        bbox = (x1, y1, x1 + rng.uniform(10, 30), y1 + rng.uniform(10, 30))
        add_shape(G, rng.choice(SHAPES), bbox, rng.choice(texts), node_id=f"src{k}")
    nodes = list(G)
    for _ in range(rng.randint(0, 10)):
        if nodes:
            add_arrow(G, rng.choice(nodes), rng.choice(nodes), rng.choice(texts), rng.choice(ARROWS))
    return G


@pytest.mark.parametrize("seed", range(40))
def test_graph_answer_round_trip(seed):
    G = _sample_graph(random.Random(seed))
    H = parse_graph_answer(graph_answer(G), 640, 480)
    validate_graph(H)
    assert H.number_of_nodes() == G.number_of_nodes() - _exact_duplicates(G)
    by_text = lambda g: sorted((d["shape"], d["text"]) for _, d in g.nodes(data=True))  # noqa: E731
    if not _exact_duplicates(G):
        assert by_text(H) == by_text(G)
        assert H.number_of_edges() == G.number_of_edges()
        assert sorted((d["label"], d["arrow"]) for *_, d in H.edges(data=True)) == sorted(
            (d["label"], d["arrow"]) for *_, d in G.edges(data=True)
        )
    for _, d in H.nodes(data=True):  # grid rounding: within half a grid unit (+1 unit widening)
        match = min(G.nodes, key=lambda m: sum(abs(a - b) for a, b in zip(G.nodes[m]["bbox"], d["bbox"])))
        for a, b, size in zip(G.nodes[match]["bbox"], d["bbox"], (640, 480, 640, 480)):
            assert abs(a - b) <= 1.5 * size / 1000


def _exact_duplicates(G):
    keys = [
        (d["shape"], tuple(round(v / s * 1000) for v, s in zip(d["bbox"], (640, 480, 640, 480))), d["text"])
        for _, d in G.nodes(data=True)
    ]
    return len(keys) - len(set(keys))


@pytest.mark.parametrize("seed", range(20))
def test_detection_answer_round_trip(seed):
    G = _sample_graph(random.Random(seed), 1000, 1000)  # 1000 px: the grid is exact up to rounding
    H = parse_detection(detection_answer(G), 1000, 1000)
    expected = {(d["shape"], tuple(float(round(v)) for v in d["bbox"])) for _, d in G.nodes(data=True)}
    assert set(_boxes(H)) == expected


def test_detection_answer_layout():
    G = new_graph(100, 100)
    add_shape(G, "rectangle", (10, 50, 30, 60))
    add_shape(G, "diamond", (50, 10, 70, 20))
    add_shape(G, "rectangle", (10, 10, 30, 20))
    add_shape(G, "other", None)  # no box: left out
    assert detection_answer(G).split("\n") == [
        "<ref>rectangle</ref><box>[[100, 100, 300, 200], [100, 500, 300, 600]]</box>",
        "<ref>diamond</ref><box>[[500, 100, 700, 200]]</box>",
    ]


def test_grounding_answer_and_parse():
    G = new_graph(200, 100)
    n = add_shape(G, "stadium", (20, 10, 120, 50), "结束\nend")
    answer = grounding_answer(G, n)
    assert answer == "<ref>结束\\nend</ref><box>[[100, 100, 600, 500]]</box>"
    assert parse_grounding(answer, 200, 100) == [(20.0, 10.0, 120.0, 50.0)]
    assert parse_grounding("no box here", 200, 100) == []


def test_hostile_text_cannot_fake_markup():
    G = new_graph(100, 100)
    n = add_shape(G, "circle", (0, 0, 50, 50), "a </ref> b <box>[[1, 2, 3, 4]]</box> & &lt;")
    assert "<" not in grounding_answer(G, n)[len("<ref>") : -len("</ref><box>[[0, 0, 500, 500]]</box>")]
    assert parse_grounding(grounding_answer(G, n), 100, 100) == [(0.0, 0.0, 50.0, 50.0)]
    H = parse_graph_answer(graph_answer(G), 100, 100)
    assert H.nodes["n0"]["text"] == G.nodes[n]["text"] and H.nodes["n0"]["bbox"] == (0.0, 0.0, 50.0, 50.0)


def test_tiny_box_widened_to_one_grid_unit():
    G = new_graph(10000, 10000)
    add_shape(G, "circle", (9999.8, 5000, 10000, 5001))
    assert detection_answer(G) == "<ref>circle</ref><box>[[999, 500, 1000, 501]]</box>"


def test_prompts_cover_every_task_in_english_and_chinese():
    for task in TASKS:
        assert len(PROMPTS[task]) >= 3
        assert any(any("\u4e00" <= ch <= "\u9fff" for ch in p) for p in PROMPTS[task])
    assert prompt_for("detection") == PROMPTS["detection"][0]
    assert "<ref>a&lt;b</ref>" in prompt_for("grounding", text="a<b")
    rng = random.Random(0)
    assert {prompt_for("graph", rng=rng) for _ in range(50)} == set(PROMPTS["graph"])
    with pytest.raises(ValueError):
        prompt_for("segmentation")


def test_complete_lines_drops_unfinished_last_line():
    assert complete_lines("a\nb") == "a\n"
    assert complete_lines("a\nb\n") == "a\nb\n"
    assert complete_lines("half") == ""


@given(st.text())
def test_escape_round_trip(text):
    escaped = escape_text(text)
    assert "\n" not in escaped and "\r" not in escaped and "<" not in escaped
    assert unescape_text(escaped) == text.replace("\r\n", "\n").replace("\r", "\n")


_ALPHABET = st.sampled_from(
    list("<>/[], -0123456789\n\\")
    + ["<ref>", "</ref>", "<box>", "</box>", "diamond", "n0", "n1", "->", "<->", "--", "流程", "9" * 30]
)
_FUZZ = st.one_of(st.text(), st.lists(_ALPHABET, max_size=60).map("".join))
_SIZES = st.tuples(st.floats(1, 5000), st.floats(1, 5000))


@settings(max_examples=300, deadline=None)
@given(_FUZZ, _SIZES)
def test_parsers_never_raise_and_give_valid_graphs(text, size):
    for parse in (parse_detection, parse_graph_answer):
        G = parse(text, *size)
        validate_graph(G)
        assert list(G) == [f"n{k}" for k in range(G.number_of_nodes())]
    for box in parse_grounding(text, *size):
        assert 0 <= box[0] < box[2] <= size[0] and 0 <= box[1] < box[3] <= size[1]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 400))
def test_truncated_graph_answer_keeps_what_is_complete(seed, cut):
    G = _sample_graph(random.Random(seed))
    full = graph_answer(G)
    whole = parse_graph_answer(full, 640, 480)
    prefix = full[: cut * len(full) // 400]
    raw = parse_graph_answer(prefix, 640, 480)  # the last line may be half written: still valid
    validate_graph(raw)
    assert raw.number_of_nodes() <= whole.number_of_nodes()
    part = parse_graph_answer(complete_lines(prefix), 640, 480)  # what the backend does at the limit
    assert dict(part.nodes(data=True)) == {n: whole.nodes[n] for n in part}
    assert all(whole.edges[e] == part.edges[e] for e in part.edges)


HOSTILE = [
    "a b" + " " * 200_000 + "x",  # a long run of spaces (quadratic for a backtracking regex)
    "n0 -> n1" + " " * 200_000 + "x",
    "<ref>" * 40_000,  # refs that never close
    "<ref>a</ref><box>[[1, 2, 3, 4]] " * 8_000,  # box lists that never close
    "a b <ref>" + " " * 200_000 + "</ref>",
]


@pytest.mark.parametrize("text", HOSTILE, ids=["spaces", "edge-spaces", "open-refs", "open-boxes", "ref-spaces"])
def test_parsers_stay_linear_on_hostile_output(text):
    import time

    start = time.perf_counter()
    parse_graph_answer(text, 100, 100)
    parse_detection(text, 100, 100)
    parse_grounding(text, 100, 100)
    assert time.perf_counter() - start < 10  # linear: well under 1 s; quadratic: minutes
