"""The synthetic chart generator: determinism, valid truth, exact geometry, realistic structure."""

from __future__ import annotations

import hashlib
import random
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from flowparse.converters.json_graph import read_json
from flowparse.training.synth import SynthOptions, draw_chart, generate, plan_chart
from flowparse.training.synth.degrade import perspective, rescale, rotate
from flowparse.training.synth.structure import sample_chart
from PIL import Image, ImageDraw

from flowparse.cli import main
from flowparse.graph import add_shape, new_graph, validate_graph

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


def _digest(folder) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(out, SynthOptions(count=8, seed=11, max_nodes=14), workers=1)
    return out


@needs_dot
def test_same_seed_gives_identical_files_with_any_worker_count(dataset, tmp_path):
    generate(tmp_path, SynthOptions(count=8, seed=11, max_nodes=14), workers=2)
    assert _digest(tmp_path) == _digest(dataset)


@needs_dot
def test_another_seed_gives_other_charts(dataset, tmp_path):
    generate(tmp_path, SynthOptions(count=2, seed=12, max_nodes=14))
    assert _digest(tmp_path)["truth/000000.json"] != _digest(dataset)["truth/000000.json"]


@needs_dot
def test_every_truth_file_validates_and_fits_its_image(dataset):
    truths = sorted((dataset / "truth").glob("*.json"))
    assert len(truths) == 8
    for path in truths:
        G = validate_graph(read_json(path))
        with Image.open(dataset / "images" / f"{path.stem}.png") as image:
            assert image.size == (G.graph["width"], G.graph["height"])
        assert G.graph["backend"] in ("synth:graphviz", "synth:pil")
        # the look, so figures can be split by it (Graphviz has one, PIL two)
        assert G.graph["look"] in ({"clean"} if G.graph["backend"] == "synth:graphviz" else {"clean", "sketchy"})
        assert list(G.nodes) == [f"n{k}" for k in range(G.number_of_nodes())]
        for _, data in G.nodes(data=True):
            x1, y1, x2, y2 = data["bbox"]
            assert 0 <= x1 < x2 <= G.graph["width"] and 0 <= y1 < y2 <= G.graph["height"]


@needs_dot
def test_a_run_can_be_extended_with_start(dataset, tmp_path):
    generate(tmp_path, SynthOptions(count=2, seed=11, max_nodes=14, start=6))
    digest = _digest(tmp_path)
    assert digest["truth/000006.json"] == _digest(dataset)["truth/000006.json"]
    assert "truth/000000.json" not in digest


def _ink_touches_every_side(image: Image.Image, bbox, slack: int = 2) -> bool:
    gray = np.asarray(image.convert("L"), dtype=np.int16)
    x1, y1, x2, y2 = (round(v) for v in bbox)
    inside = gray[max(y1 - slack, 0) : y2 + slack, max(x1 - slack, 0) : x2 + slack] < 200
    band = 2 * slack + 1
    return bool(inside[:band].any() and inside[-band:].any() and inside[:, :band].any() and inside[:, -band:].any())


@needs_dot
@pytest.mark.parametrize("renderer", ["graphviz", "pil"])
def test_boxes_hug_the_drawn_shapes(renderer):
    options = SynthOptions(seed=5, renderers=(renderer,), degrade=0.0, max_nodes=10)
    for index in range(3):
        image, G, _ = draw_chart(options, index)
        for node, data in G.nodes(data=True):
            assert _ink_touches_every_side(image, data["bbox"]), (renderer, index, node, data["shape"])


@needs_dot
def test_graphviz_edges_run_from_source_box_to_target_box():
    image, G, _ = draw_chart(SynthOptions(seed=2, renderers=("graphviz",), degrade=0.0, max_nodes=10), 0)
    for u, v, data in G.edges(data=True):
        start, end = data["points"][0], data["points"][-1]
        for point, node in ((start, u), (end, v)):
            x1, y1, x2, y2 = G.nodes[node]["bbox"]
            # within a few pixels of the box: splines start on the outline, arrow tips touch it
            assert x1 - 6 <= point[0] <= x2 + 6 and y1 - 6 <= point[1] <= y2 + 6, (u, v, point, node)


def _ink_box(image: Image.Image):
    ys, xs = np.nonzero(np.asarray(image.convert("L")) < 128)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize("degrees", [3.0, -4.5, 90.0])
def test_rotation_moves_boxes_with_the_pixels(degrees):
    image = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(image).rectangle((60, 50, 180, 110), outline="black", width=3)
    G = new_graph(300, 200)
    add_shape(G, "rectangle", (60, 50, 181, 111))
    turned, H = rotate(image, G, degrees)
    expected = _ink_box(turned)
    assert (H.graph["width"], H.graph["height"]) == turned.size
    assert np.allclose(H.nodes["n0"]["bbox"], expected, atol=2.0), (H.nodes["n0"]["bbox"], expected)


@pytest.mark.parametrize("corners", [
    [(20, 0), (300, 10), (280, 200), (0, 190)],  # a photo from the lower left
    [(0, 15), (300, 0), (300, 200), (10, 185)],  # from the right
])
def test_perspective_moves_boxes_with_the_pixels(corners):
    image = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(image).polygon([(150, 40), (250, 100), (150, 160), (50, 100)], outline="black", width=3)
    G = new_graph(300, 200)
    add_shape(G, "diamond", (50, 40, 251, 161))
    warped, H = perspective(image, G, corners)
    assert np.allclose(H.nodes["n0"]["bbox"], _ink_box(warped), atol=2.5), (H.nodes["n0"]["bbox"], _ink_box(warped))


def test_rescale_moves_boxes_and_points():
    G = new_graph(200, 100)
    a, b = add_shape(G, "rectangle", (10, 10, 50, 30)), add_shape(G, "rectangle", (10, 60, 50, 90))
    G.add_edge(a, b, label="", arrow="normal", score=1.0, points=[(30, 30), (30, 60)])
    image, H = rescale(Image.new("RGB", (200, 100), "white"), G, 1.5)
    assert image.size == (300, 150)
    assert H.nodes[a]["bbox"] == (15.0, 15.0, 75.0, 45.0)
    assert H.edges[a, b]["points"] == [(45.0, 45.0), (45.0, 90.0)]


@pytest.mark.parametrize("seed", range(12))
def test_structures_look_like_flowcharts(seed):
    spec = sample_chart(random.Random(seed), min_nodes=3, max_nodes=30, language="en")
    assert 3 <= len(spec.nodes) <= 30
    assert spec.nodes[0].role == "start"
    targets = {e.target for e in spec.edges}
    assert spec.nodes[0].id not in targets or any(e.back for e in spec.edges)
    for node in spec.nodes[1:]:  # every node but the start is reached by an arrow
        assert node.id in targets or any(e.source == node.id for e in spec.edges), node
    for node in spec.nodes:
        if node.role == "decision":
            out = [e for e in spec.edges if e.source == node.id]
            assert len(out) >= 2 and all(e.label for e in out), (node, out)


def test_many_structures_cover_the_shapes_and_both_languages():
    shapes, texts = set(), []
    for seed in range(300):
        spec = sample_chart(random.Random(seed), language="mixed")
        shapes |= {n.shape for n in spec.nodes}
        texts += [n.text for n in spec.nodes]
    assert len(shapes) >= 15
    assert any("\u4e00" <= ch <= "\u9fff" for t in texts for ch in t)
    assert any("\n" in t for t in texts)  # some multi-line texts


def test_plans_depend_on_seed_and_index_only():
    a = plan_chart(SynthOptions(seed=3, renderers=("graphviz", "pil")), 41)
    b = plan_chart(SynthOptions(seed=3, renderers=("graphviz", "pil"), count=5000, start=40), 41)
    assert a.renderer == b.renderer and [n.text for n in a.spec.nodes] == [n.text for n in b.spec.nodes]


def test_synth_help():
    result = CliRunner().invoke(main, ["data", "synth", "--help"])
    assert result.exit_code == 0 and "--renderer" in result.output


@needs_dot
def test_synth_command_writes_images_and_truth(tmp_path):
    result = CliRunner().invoke(main, ["data", "synth", "-n", "3", "--out", str(tmp_path), "--seed", "4", "-q",
                                       "--max-nodes", "8"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "truth").iterdir()) == ["000000.json", "000001.json", "000002.json"]
    assert len(list((tmp_path / "images").glob("*.png"))) == 3


def test_synth_command_rejects_unknown_renderers(tmp_path):
    result = CliRunner().invoke(main, ["data", "synth", "-n", "1", "--out", str(tmp_path), "--renderer", "tikz"])
    assert result.exit_code == 2 and "tikz" in result.output


@needs_dot
def test_graphviz_clusters_are_recorded_as_subgraphs():
    from flowparse.training.synth.graphviz_render import chart_dot, render_graphviz

    for seed in range(200):  # find a chart whose style frames some nodes (about 1 in 7)
        text, style = chart_dot(sample_chart(random.Random(seed), max_nodes=12), random.Random(seed))
        if style["groups"]:
            break
    assert "subgraph cluster_0" in text
    _, G = render_graphviz(sample_chart(random.Random(seed), max_nodes=12), random.Random(seed))
    assert G.graph["subgraphs"] == style["groups"]
    assert all(n in G for group in G.graph["subgraphs"] for n in group["nodes"])


def test_photographed_charts_keep_their_truth_under_uneven_light(dataset, tmp_path):
    # benchmarks/photographed_charts.py: the light alone, on the same charts and truth, so the
    # detector's handling of a photo's light is measured apart from rotation and blur.
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "photographed_charts.py"
    spec = importlib.util.spec_from_file_location("photographed_charts", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(dataset), "-o", str(tmp_path / "photo"), "--limit", "3", "--seed", "5"]) == 0
    names = sorted(p.stem for p in (tmp_path / "photo" / "images").glob("*.png"))
    assert names == ["0-000000", "0-000001", "0-000002"]
    for name in names:
        source = dataset / "truth" / f"{name[2:]}.json"
        assert (tmp_path / "photo" / "truth" / f"{name}.json").read_bytes() == source.read_bytes()
        clean = np.asarray(Image.open(dataset / "images" / f"{name[2:]}.png").convert("RGB"), float)
        photo = np.asarray(Image.open(tmp_path / "photo" / "images" / f"{name}.png").convert("RGB"), float)
        assert photo.shape == clean.shape
        page = clean.min(axis=2) >= 250  # the clean page, darkened unevenly by the light
        dim = photo[page].mean(axis=1) / 255
        assert dim.max() - dim.min() > 0.1 and (photo <= clean + 1).mean() > 0.99
