"""Overlay drawing: boxes, captions and edges land where the graph says."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from flowparse.converters.json_graph import write_json
from PIL import Image

from flowparse.cli import main
from flowparse.graph import add_arrow, add_shape, new_graph
from flowparse.overlay import SHAPE_COLORS, draw_graph


def two_nodes(width=300, height=300):
    G = new_graph(width, height)
    a = add_shape(G, "diamond", (50, 40, 150, 100), "ok?")
    b = add_shape(G, "rectangle", (50, 200, 150, 260), "go")
    add_arrow(G, a, b, label="yes", points=[(100, 100), (100, 150), (200, 150), (200, 200)])
    return G


def _pixel(image, x, y):
    return tuple(np.asarray(image)[y, x])


def test_boxes_are_drawn_in_their_shape_colour():
    out = draw_graph(Image.new("RGB", (300, 300), "white"), two_nodes())
    assert _pixel(out, 50, 70) == SHAPE_COLORS["diamond"]  # left side of the diamond's box
    assert _pixel(out, 100, 260) == SHAPE_COLORS["rectangle"]  # bottom of the rectangle's box
    assert _pixel(out, 250, 280) == (255, 255, 255)  # nothing drawn far from the graph


def test_edges_follow_their_points_when_present():
    out = np.asarray(draw_graph(Image.new("RGB", (300, 300), "white"), two_nodes())).astype(int)
    assert (out[150, 170] != 255).any()  # on the polyline's horizontal leg
    assert (out[180, 100] == 255).all()  # the straight centre-to-centre line is NOT drawn


def test_edges_without_points_go_centre_to_centre():
    G = two_nodes()
    del G.edges["n0", "n1"]["points"]
    out = np.asarray(draw_graph(Image.new("RGB", (300, 300), "white"), G)).astype(int)
    assert (out[150, 100] != 255).any()


def test_boxes_scale_to_an_image_of_another_size():
    out = draw_graph(Image.new("RGB", (600, 600), "white"), two_nodes())
    assert out.size == (600, 600)
    assert _pixel(out, 100, 140) == SHAPE_COLORS["diamond"]  # the diamond box's left side, at twice x=50
    assert _pixel(out, 50, 140) == (255, 255, 255)  # not where it would be unscaled


def test_input_image_is_not_modified():
    image = Image.new("RGB", (300, 300), "white")
    draw_graph(image, two_nodes())
    assert image.getextrema() == ((255, 255), (255, 255), (255, 255))


def test_draw_command(tmp_path):
    Image.new("RGB", (300, 300), "white").save(tmp_path / "chart.png")
    write_json(two_nodes(), tmp_path / "chart.json")
    runner = CliRunner()
    assert runner.invoke(main, ["draw", "--help"]).exit_code == 0
    result = runner.invoke(main, ["draw", str(tmp_path / "chart.png"), str(tmp_path / "chart.json"),
                                  "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.png").size == (300, 300)
    bad = runner.invoke(main, ["draw", str(tmp_path / "chart.json"), str(tmp_path / "chart.json"), "-o",
                               str(tmp_path / "x.png")])
    assert bad.exit_code == 1 and "not an image" in bad.output
