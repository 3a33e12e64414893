"""The PIL renderer's layout: arrows never run through shapes, detours do not share lines, labels
find a free spot."""

from __future__ import annotations

import random

import pytest
from flowparse.training.synth.layout import _crosses, _detour, layered_layout
from flowparse.training.synth.pil_render import _font, _label_spot, _leg_boxes, _pick_style
from flowparse.training.synth.structure import sample_chart
from PIL import Image, ImageDraw


def _legs(route):
    return list(zip(route, route[1:]))


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_no_arrow_runs_through_a_shape_its_own_ends_included(direction):
    # before the detour router, 153 of 3,790 arrows over 300 such charts ran through a shape
    for seed in range(60):
        rng = random.Random(seed)
        spec = sample_chart(rng, max_nodes=20)
        sizes = {n.id: (rng.uniform(60, 160), rng.uniform(30, 70)) for n in spec.nodes}
        lay = layered_layout(spec, sizes, rng, direction=direction)
        for (u, v), route in lay.routes.items():
            through = [n for n, box in lay.boxes.items() if _crosses(route, box)]
            assert not through, (seed, u, v, through)


def test_a_detour_goes_around_a_shape_in_the_way_in_straight_legs():
    top, middle, bottom = (100, 0, 200, 40), (80, 100, 220, 140), (100, 200, 200, 240)
    route = _detour(top, bottom, [top, middle, bottom], [])
    assert not any(_crosses(route, box) for box in (top, middle, bottom))
    assert all(p[0] == q[0] or p[1] == q[1] for p, q in _legs(route))
    assert route[0] in ((150, 40), (100, 20), (200, 20))  # leaves from the middle of a side of top
    assert route[-1] in ((150, 200), (100, 220), (200, 220))  # and enters one of bottom
    assert len(route) <= 6  # few corners: out, around the middle shape, in


def test_a_detour_does_not_run_along_a_line_already_drawn():
    top, middle, bottom = (100, 0, 200, 40), (80, 100, 220, 140), (100, 200, 200, 240)
    boxes = [top, middle, bottom]
    free = _detour(top, bottom, boxes, [])
    side = 1 if max(x for x, _ in free) > 220 else -1  # the side the free detour took
    # a line already drawn down that side, where the detour would go
    lane = 232 if side == 1 else 68
    drawn = [((lane, -50), (lane, 300))]
    route = _detour(top, bottom, boxes, drawn)
    for (px, py), (qx, qy) in _legs(route):
        runs_along = px == qx and abs(px - lane) < 6 and abs(py - qy) > 0
        assert not runs_along, route
    assert not any(_crosses(route, box) for box in boxes)


def test_an_edge_label_moves_off_a_shape_that_covers_its_usual_spot():
    spec = sample_chart(random.Random(3), max_nodes=6)
    style = _pick_style(spec, random.Random(3))
    draw = ImageDraw.Draw(Image.new("RGB", (800, 800), "white"))
    font = _font(style, 2)
    route = [(200.0, 100.0), (200.0, 300.0)]
    (x, y), anchor, usual = _label_spot(draw, "yes", route, font, [])
    assert anchor == "lb" and x > 200  # nothing in the way: right of the line, near the start
    blocker = (usual[0] - 2, usual[1] - 2, usual[2] + 2, usual[3] + 2)
    _, _, moved = _label_spot(draw, "yes", route, font, [blocker])
    overlaps = moved[0] < blocker[2] and moved[2] > blocker[0] and moved[1] < blocker[3] and moved[3] > blocker[1]
    assert not overlaps, (moved, blocker)


def test_an_edge_label_keeps_off_other_arrows_slanted_ones_too():
    spec = sample_chart(random.Random(3), max_nodes=6)
    font = _font(_pick_style(spec, random.Random(3)), 2)
    draw = ImageDraw.Draw(Image.new("RGB", (800, 800), "white"))
    route = [(200.0, 100.0), (120.0, 300.0)]  # a slanted arrow, its label's usual spot left of it
    _, _, usual = _label_spot(draw, "True", route, font, [])
    cx, cy = (usual[0] + usual[2]) / 2, (usual[1] + usual[3]) / 2
    other = _leg_boxes((cx - 40, cy - 40), (cx + 40, cy + 40), 0.0)  # another arrow through that spot
    assert any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in other)  # the boxes cover the leg
    _, _, moved = _label_spot(draw, "True", route, font, other)
    assert not any(moved[0] < b[2] and moved[2] > b[0] and moved[1] < b[3] and moved[3] > b[1] for b in other)


def test_labels_of_arrows_that_fork_from_one_stem_are_on_their_own_sides():
    # Both labels went right of the common stem, the first drawn nearer: read off the page, the
    # left branch's label sat by the right branch (a wrong truth for the detector and the model).
    spec = sample_chart(random.Random(3), max_nodes=6)
    font = _font(_pick_style(spec, random.Random(3)), 2)
    draw = ImageDraw.Draw(Image.new("RGB", (800, 800), "white"))
    stem = [(300.0, 100.0), (300.0, 140.0)]
    left, right = stem + [(200.0, 140.0), (200.0, 200.0)], stem + [(400.0, 140.0), (400.0, 200.0)]
    (lx, _), _, lbox = _label_spot(draw, "No", left, font, [])
    (rx, _), _, rbox = _label_spot(draw, "Yes", right, font, [lbox])
    assert lbox[2] <= 300 <= rbox[0], (lbox, rbox)
    (hx, hy), anchor, _ = _label_spot(draw, "Yes", [(100.0, 300.0), (160.0, 300.0), (160.0, 400.0)], font, [])
    assert anchor == "lt" and hy > 300  # a level stem turning down: its label below it
