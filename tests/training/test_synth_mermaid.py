"""The Mermaid renderer (real mermaid in headless Chromium); skipped where node/chromium are missing."""

from __future__ import annotations

import random

import numpy as np
import pytest
from flowparse.training.synth import SynthOptions, generate
from flowparse.training.synth.mermaid_render import MermaidRenderer, chart_mermaid, mermaid_missing
from flowparse.training.synth.structure import sample_chart

from flowparse.graph import validate_graph

missing = mermaid_missing()
needs_mermaid = pytest.mark.skipif(missing is not None, reason=f"Mermaid renderer unavailable: {missing}")


@pytest.fixture(scope="module")
def renderer():
    """One browser for the module's tests, as a synth run uses one for all its charts."""
    with MermaidRenderer() as r:
        yield r


def test_mermaid_text_spells_every_node_and_edge():
    spec = sample_chart(random.Random(4), max_nodes=12)
    text, style = chart_mermaid(spec, random.Random(4))
    assert f"flowchart {style['direction']}" in text
    for node in spec.nodes:
        assert f"  {node.id}" in text
    assert text.count(" --") + text.count(" <-->") >= len(spec.edges)


@needs_mermaid
def test_one_browser_renders_several_charts_with_valid_truth(renderer):
    for seed in range(3):
        spec = sample_chart(random.Random(seed), max_nodes=10, language=("en", "zh", "mixed")[seed])
        image, G = renderer.render(spec, random.Random(seed))
        validate_graph(G)
        assert image.size == (G.graph["width"], G.graph["height"])
        assert G.number_of_nodes() == len(spec.nodes) and G.number_of_edges() == len(spec.edges)
        assert all(len(d["points"]) >= 2 for *_, d in G.edges(data=True))
        assert G.graph["look"] == chart_mermaid(spec, random.Random(seed))[1]["look"]  # the look it was drawn in


@needs_mermaid
def test_labels_show_exactly_the_truth_text(renderer):
    from flowparse.training.synth.structure import ChartEdge, ChartNode, ChartSpec

    texts = ["i < n?", "x > 0 & ok", 'say "hi"', "Step #3", "两行\n文字", "a <b>bold</b>"]
    spec = ChartSpec([ChartNode(f"n{k}", "process", "rectangle", t) for k, t in enumerate(texts)],
                     [ChartEdge(f"n{k}", f"n{k + 1}") for k in range(len(texts) - 1)])
    _, G = renderer.render(spec, random.Random(0))
    shown = renderer.last_texts
    for node, text in zip(G.nodes, texts):
        assert "".join(shown[node].split()) == "".join(text.split()), (shown[node], text)


@needs_mermaid
def test_mermaid_groups_are_drawn_and_recorded_as_subgraphs(renderer):
    spec = sample_chart(random.Random(4), max_nodes=12)  # a chart whose style frames two nodes
    text, style = chart_mermaid(spec, random.Random(4))
    assert style["groups"] == [{"id": "cluster_0", "title": "Setup", "nodes": ["n5", "n6"]}]
    assert '  subgraph cluster_0 ["Setup"]\n    n5\n    n6\n  end\n' in text
    image, G = renderer.render(spec, random.Random(4))
    validate_graph(G)
    assert G.graph["subgraphs"] == style["groups"]
    # and the classical detector reads the group back off the image (shapes on its fill too)
    from flowparse.backends.classical import detect

    P = detect(np.asarray(image))
    texts = {n: " ".join(d["text"].split()) for n, d in P.nodes(data=True)}
    assert [(s["title"], sorted(texts[n] for n in s["nodes"])) for s in P.graph["subgraphs"]] == [
        ("Setup", ["Customer table", "Schedule delivery"])
    ]


@needs_mermaid
def test_mermaid_runs_are_deterministic(tmp_path):
    options = SynthOptions(count=2, seed=9, renderers=("mermaid",), max_nodes=8)
    generate(tmp_path / "a", options)
    generate(tmp_path / "b", options)
    for sub in ("truth/000000.json", "truth/000001.json", "images/000001.png"):
        assert (tmp_path / "a" / sub).read_bytes() == (tmp_path / "b" / sub).read_bytes(), sub


@needs_mermaid
def test_mermaid_boxes_hug_the_drawn_shapes(renderer):
    import numpy as np

    for seed in (5, 6):
        image, G = renderer.render(sample_chart(random.Random(seed), max_nodes=8), random.Random(seed))
        gray = np.asarray(image.convert("L"), dtype=np.int16)
        for node, data in G.nodes(data=True):
            x1, y1, x2, y2 = (round(v) for v in data["bbox"])
            crop = gray[max(y1 - 2, 0) : y2 + 2, max(x1 - 2, 0) : x2 + 2] < 215  # outlines, not fills
            assert crop[:5].any() and crop[-5:].any() and crop[:, :5].any() and crop[:, -5:].any(), (seed, node)


@needs_mermaid
@pytest.mark.parametrize("look", ["classic", "handDrawn"])
def test_edges_run_from_source_box_to_target_box(renderer, look):
    for seed in range(100):  # the first chart drawn in this look
        spec = sample_chart(random.Random(seed), max_nodes=8)
        if chart_mermaid(spec, random.Random(seed))[1]["look"] == look:
            break
    _, G = renderer.render(spec, random.Random(seed))
    for u, v, data in G.edges(data=True):
        for point, node in ((data["points"][0], u), (data["points"][-1], v)):
            x1, y1, x2, y2 = G.nodes[node]["bbox"]
            slack = 0.06 * max(x2 - x1, y2 - y1) + 12  # arrowheads end short of the outline
            assert x1 - slack <= point[0] <= x2 + slack and y1 - slack <= point[1] <= y2 + slack, (u, v, node)
        assert len(data["points"]) >= 2
