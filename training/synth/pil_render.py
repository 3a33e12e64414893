"""The native PIL renderer: charts drawn by our own hand, clean or sketchy.

Shapes are outlines (point lists) that the sketchy look wobbles, overshoots and sometimes strokes
twice, like a marker on a whiteboard; texts use handwriting fonts there. The truth box of a node is
the box of the ink actually drawn (wobble and pen width included). Drawing happens at twice the
size and is reduced at the end, which anti-aliases strokes the way a scan or screenshot does.
"""

from __future__ import annotations

import math
import random

import networkx as nx
from flowparse.training.synth.fonts import (
    CJK_FAMILIES,
    CJK_HAND_FAMILIES,
    CLEAN_FAMILIES,
    HAND_FAMILIES,
    font_file,
    installed,
)
from flowparse.training.synth.layout import layered_layout
from flowparse.training.synth.structure import ChartSpec
from flowparse.training.synth.truth import truth_graph
from PIL import Image, ImageDraw, ImageFont

__all__ = ["render_pil", "shape_outlines"]

Point = tuple[float, float]
_SUPERSAMPLE = 2
_INKS = ((0, 0, 0), (30, 30, 30), (20, 40, 120), (60, 60, 60), (0, 70, 140), (120, 20, 20))
_FILLS = ((255, 250, 205), (218, 232, 252), (213, 232, 212), (248, 206, 204), (240, 240, 240), (225, 213, 231))
_ROLES = ("start", "end", "process", "decision", "io", "subroutine")  # roles that get their own fill
_NOTES = {"en": ("max 3 tries", "see section 4.2", "async", "TODO: log", "optional", "v2 only"),
          "zh": ("最多重试3次", "见4.2节", "异步", "可选", "仅限V2")}


def _ellipse(box, n: int = 36, start: float = 0.0, stop: float = 2 * math.pi) -> list[Point]:
    cx, cy, rx, ry = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    return [(cx + rx * math.cos(start + (stop - start) * i / n), cy + ry * math.sin(start + (stop - start) * i / n))
            for i in range(n + 1)]


def _rounded(box, r: float) -> list[Point]:
    x1, y1, x2, y2 = box
    r = min(r, (x2 - x1) / 2, (y2 - y1) / 2)
    pts: list[Point] = []
    for cx, cy, a0 in ((x2 - r, y1 + r, -90), (x2 - r, y2 - r, 0), (x1 + r, y2 - r, 90), (x1 + r, y1 + r, 180)):
        pts += [(cx + r * math.cos(math.radians(a0 + 15 * k)), cy + r * math.sin(math.radians(a0 + 15 * k)))
                for k in range(7)]
    return pts + [pts[0]]


def shape_outlines(shape: str, box) -> list[list[Point]]:
    """The strokes that draw ``shape`` in ``box``: the first is the closed outline (filled).

    >>> shape_outlines("diamond", (0, 0, 20, 10))[0]
    [(10.0, 0), (20, 5.0), (10.0, 10), (0, 5.0), (10.0, 0)]
    """
    x1, y1, x2, y2 = box
    w, h, cx, cy = x2 - x1, y2 - y1, (x1 + x2) / 2, (y1 + y2) / 2
    s = min(h * 0.45, w * 0.2)
    if shape in ("circle", "ellipse"):
        return [_ellipse(box)]
    if shape == "double_circle":
        g = min(w, h) * 0.09
        return [_ellipse(box), _ellipse((x1 + g, y1 + g, x2 - g, y2 - g))]
    if shape == "diamond":
        return [[(cx, y1), (x2, cy), (cx, y2), (x1, cy), (cx, y1)]]
    if shape == "stadium":
        return [_rounded(box, h / 2)]
    if shape == "rounded_rectangle":
        return [_rounded(box, min(h, w) * 0.22)]
    polygons = {
        "hexagon": [(x1 + s, y1), (x2 - s, y1), (x2, cy), (x2 - s, y2), (x1 + s, y2), (x1, cy)],
        "parallelogram": [(x1 + s, y1), (x2, y1), (x2 - s, y2), (x1, y2)],
        "parallelogram_alt": [(x1, y1), (x2 - s, y1), (x2, y2), (x1 + s, y2)],
        "trapezoid": [(x1 + s, y1), (x2 - s, y1), (x2, y2), (x1, y2)],
        "trapezoid_alt": [(x1, y1), (x2, y1), (x2 - s, y2), (x1 + s, y2)],
        "asymmetric": [(x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1 + s * 0.8, cy)],
    }
    if shape in polygons:
        return [polygons[shape] + [polygons[shape][0]]]
    if shape == "cylinder":
        e = min(h * 0.15, 14)
        top = (x1, y1, x2, y1 + 2 * e)
        body = _ellipse(top, 18, math.pi, 2 * math.pi) + _ellipse((x1, y2 - 2 * e, x2, y2), 18, 0, math.pi)
        return [body + [body[0]], _ellipse(top, 18, 0, math.pi)]
    if shape == "document":
        wave = [(x2 - w * k / 24, y2 - h * 0.08 * math.sin(2 * math.pi * k / 24)) for k in range(25)]
        return [[(x1, y1), (x2, y1), *wave, (x1, y1)]]
    outline = [(x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1)]
    if shape == "subroutine":
        d = min(w * 0.08, 12)
        return [outline, [(x1 + d, y1), (x1 + d, y2)], [(x2 - d, y1), (x2 - d, y2)]]
    return [outline]


def _wobble(line: list[Point], amount: float, rng: random.Random) -> list[Point]:
    """A hand-drawn version of a polyline: resampled, pushed sideways by smooth noise."""
    if amount <= 0:
        return line
    out: list[Point] = []
    drift = 0.0
    for (ax, ay), (bx, by) in zip(line, line[1:]):
        length = math.hypot(bx - ax, by - ay)
        steps = max(1, int(length / 10))
        nx_, ny_ = (-(by - ay) / length, (bx - ax) / length) if length else (0.0, 0.0)
        for k in range(steps):
            t = k / steps
            drift = 0.7 * drift + rng.gauss(0, amount * 0.5)
            out.append((ax + (bx - ax) * t + nx_ * drift, ay + (by - ay) * t + ny_ * drift))
    out.append((line[-1][0] + rng.gauss(0, amount * 0.4), line[-1][1] + rng.gauss(0, amount * 0.4)))
    return out


def _pick_style(spec: ChartSpec, rng: random.Random) -> dict:
    sketchy = rng.random() < 0.6
    chinese = spec.language != "en"
    if chinese:
        families = installed(CJK_HAND_FAMILIES if sketchy and rng.random() < 0.6 else CJK_FAMILIES)
    else:
        families = installed(HAND_FAMILIES if sketchy and rng.random() < 0.8 else CLEAN_FAMILIES)
    family = rng.choice(families or installed(CLEAN_FAMILIES) or ("DejaVu Sans",))
    return {
        "sketchy": sketchy,
        "wobble": rng.uniform(0.6, 2.2) if sketchy else 0.0,
        "double": sketchy and rng.random() < 0.4,
        "font": family,
        "font_px": rng.randint(13, 22),
        "ink": rng.choice(_INKS),
        "fill": rng.choice(_FILLS) if rng.random() < (0.2 if sketchy else 0.5) else None,
        "pen": rng.choice((1.0, 1.5, 2.0, 2.5, 3.0)),
        "direction": rng.choices(("TB", "LR"), (75, 25))[0] if spec.sideways_ok() else "TB",
        "node_gap": rng.uniform(25, 70),
        "rank_gap": rng.uniform(30, 75),
        "head": rng.uniform(7, 13),
        "open_head": rng.random() < 0.3,
        # diagram-editor looks: a fill colour per role, drop shadows under shapes
        "role_fills": None if sketchy or rng.random() < 0.7 else dict(zip(_ROLES, rng.sample(_FILLS, len(_FILLS)))),
        "shadow": not sketchy and rng.random() < 0.25,
        "notes": rng.random() < 0.2,
    }


def _font(style: dict, scale: int) -> ImageFont.FreeTypeFont:
    found = font_file(style["font"])
    if found is None:
        return ImageFont.load_default(style["font_px"] * scale)
    return ImageFont.truetype(found[0], style["font_px"] * scale, index=found[1])


def _node_size(shape: str, text: str, font, scale: int) -> tuple[float, float]:
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox((0, 0), text or " ", font=font, align="center")
    tw, th = (right - left) / scale + 18, (bottom - top) / scale + 14
    factor = {"diamond": (1.9, 1.9), "ellipse": (1.4, 1.5), "hexagon": (1.35, 1.1), "parallelogram": (1.35, 1.05),
              "parallelogram_alt": (1.35, 1.05), "trapezoid": (1.4, 1.1), "trapezoid_alt": (1.4, 1.1),
              "cylinder": (1.1, 1.6), "document": (1.1, 1.35), "subroutine": (1.25, 1.05), "asymmetric": (1.3, 1.05),
              "stadium": (1.25, 1.05)}.get(shape, (1.05, 1.05))
    w, h = tw * factor[0], th * factor[1]
    if shape in ("circle", "double_circle"):
        w = h = max(w, h) * 1.15
    return max(w, 36.0), max(h, 24.0)


def render_pil(spec: ChartSpec, rng: random.Random) -> tuple[Image.Image, nx.DiGraph]:
    """Draw ``spec`` with PIL in a clean or sketchy look; return the image and its exact truth.

    >>> from flowparse.training.synth.structure import sample_chart
    >>> image, G = render_pil(sample_chart(random.Random(2)), random.Random(2))
    >>> (G.graph["width"], G.graph["height"]) == image.size
    True
    """
    style = _pick_style(spec, rng)
    S = _SUPERSAMPLE
    font = _font(style, S)
    sizes = {n.id: _node_size(n.shape, n.text, font, S) for n in spec.nodes}
    lay = layered_layout(spec, sizes, rng, direction=style["direction"], node_gap=style["node_gap"],
                         rank_gap=style["rank_gap"], margin=rng.uniform(25, 60))
    title = _title(spec, rng) if rng.random() < 0.15 else ""
    top = style["font_px"] * 2.5 if title else 0.0  # room for a title above the chart
    width, height = math.ceil(lay.width), math.ceil(lay.height + top)
    canvas = Image.new("RGB", (width * S, height * S), "white")
    draw = ImageDraw.Draw(canvas)
    if title:  # text on the page that belongs to no node: a distractor for detectors
        draw.text((width / 2 * S, top / 2 * S), title, fill=style["ink"], font=font, anchor="mm")
    boxes = {}
    for node in spec.nodes:
        x1, y1, x2, y2 = lay.boxes[node.id]
        boxes[node.id] = _draw_node(draw, node, (x1, y1 + top, x2, y2 + top), style, font, rng)
    points = {}
    # where a label may not go: on a shape, or across any arrow
    taken = [(b[0] - 3, b[1] - 3, b[2] + 3, b[3] + 3) for b in boxes.values()]
    for line in lay.routes.values():
        taken += [box for p, q in zip(line, line[1:]) for box in _leg_boxes(p, q, top)]
    for edge in spec.edges:
        route = [(x, y + top) for x, y in lay.routes[(edge.source, edge.target)]]
        points[(edge.source, edge.target)] = _draw_edge(draw, edge, route, style, font, rng, taken)
    if style["notes"]:
        _draw_notes(draw, spec, boxes, (width, height), style, font, rng)
    image = canvas.reduce(S)
    return image, truth_graph(spec, image.size, boxes, points, renderer="pil",
                              look="sketchy" if style["sketchy"] else "clean")


def _draw_notes(draw, spec: ChartSpec, boxes: dict, size: tuple[int, int], style: dict, font, rng) -> None:
    """A comment or two beside nodes: text on the page that belongs to no node (a distractor)."""
    language = "zh" if spec.language == "zh" else "en"
    for node in rng.sample(spec.nodes, min(2, len(spec.nodes))):
        x1, y1, x2, y2 = boxes[node.id]
        x, y = x2 + 8, (y1 + y2) / 2
        text = rng.choice(_NOTES[language])
        left, top, right, bottom = _text_box(draw, (x, y), text, font, "lm")
        clear = [b for n, b in boxes.items() if n != node.id
                 and not (right < b[0] or left > b[2] or bottom < b[1] or top > b[3])]
        if not clear and right < size[0]:  # only where it covers no other shape
            draw.text((x * _SUPERSAMPLE, y * _SUPERSAMPLE), text, fill=(110, 110, 110), font=font, anchor="lm")


def _text_box(draw, xy: Point, text: str, font, anchor: str) -> tuple[float, float, float, float]:
    """The box ``text`` drawn at ``xy`` would cover, in page pixels (drawing is at the supersample)."""
    box = draw.textbbox((xy[0] * _SUPERSAMPLE, xy[1] * _SUPERSAMPLE), text, font=font, anchor=anchor)
    return tuple(v / _SUPERSAMPLE for v in box)


def _title(spec: ChartSpec, rng: random.Random) -> str:
    from flowparse.training.synth.phrases import TITLES

    return rng.choice(TITLES["zh" if spec.language == "zh" else "en"])


def _scaled(points: list[Point]) -> list[Point]:
    return [(x * _SUPERSAMPLE, y * _SUPERSAMPLE) for x, y in points]


def _draw_node(draw, node, box, style: dict, font, rng: random.Random):
    strokes = [_wobble(s, style["wobble"], rng) for s in shape_outlines(node.shape, box)]
    pen = max(1, round(style["pen"] * _SUPERSAMPLE))
    fill = (style["role_fills"] or {}).get(node.role, style["fill"])
    if style["shadow"]:  # an editor's drop shadow is not part of the shape: the box leaves it out
        offset = 4 * _SUPERSAMPLE
        draw.polygon([(x + offset, y + offset) for x, y in _scaled(strokes[0])], fill=(200, 200, 200))
    if fill or style["shadow"]:
        draw.polygon(_scaled(strokes[0]), fill=fill or (255, 255, 255))
    if style["double"]:  # a second, slightly different pass of the pen
        strokes += [_wobble(s, style["wobble"], rng) for s in shape_outlines(node.shape, box)]
    for stroke in strokes:
        draw.line(_scaled(stroke), fill=style["ink"], width=pen, joint="curve")
    xs = [p[0] for s in strokes for p in s]
    ys = [p[1] for s in strokes for p in s]
    half = style["pen"] / 2
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if style["sketchy"]:
        cx, cy = cx + rng.uniform(-2, 2), cy + rng.uniform(-2, 2)
    draw.multiline_text((cx * _SUPERSAMPLE, cy * _SUPERSAMPLE), node.text, fill=style["ink"], font=font,
                        anchor="mm", align="center")
    return (min(xs) - half, min(ys) - half, max(xs) + half, max(ys) + half)


def _draw_edge(draw, edge, route: list[Point], style: dict, font, rng: random.Random, taken: list) -> list[Point]:
    line = _wobble(route, style["wobble"] * 0.6, rng)
    pen = max(1, round(style["pen"] * _SUPERSAMPLE * 0.8))
    draw.line(_scaled(line), fill=style["ink"], width=pen, joint="curve")
    if edge.arrow in ("normal", "both"):
        _head(draw, route[-2], route[-1], style)
    if edge.arrow == "both":
        _head(draw, route[1], route[0], style)
    if edge.label:
        (x, y), anchor, box = _label_spot(draw, edge.label, route, font, taken)
        draw.text((x * _SUPERSAMPLE, y * _SUPERSAMPLE), edge.label, fill=style["ink"], font=font, anchor=anchor)
        taken.append(box)
    return route


def _leg_boxes(p: Point, q: Point, top: float) -> list[tuple[float, float, float, float]]:
    """Boxes covering a leg of an arrow, 2 px around it: one for a straight leg, a run of small
    ones along a slanted one (whose own box would cover the page beside it)."""
    if p[0] == q[0] or p[1] == q[1]:
        return [(min(p[0], q[0]) - 2, min(p[1], q[1]) + top - 2, max(p[0], q[0]) + 2, max(p[1], q[1]) + top + 2)]
    steps = max(1, int(math.hypot(q[0] - p[0], q[1] - p[1]) / 6))
    spots = [(p[0] + (q[0] - p[0]) * k / steps, p[1] + (q[1] - p[1]) * k / steps + top) for k in range(steps + 1)]
    return [(x - 3, y - 3, x + 3, y + 3) for x, y in spots]


def _label_spot(draw, label: str, route: list[Point], font, taken: list):
    """Where an edge label goes: beside its arrow near the start, on the first spot (first leg,
    then the next; nearer or further along; its own side first) that covers no shape and no
    other label. Its own side is the one the arrow ends up on: arrows that fork from one stem
    (or leave a diamond's tip together) each have their label on their side, not both on one."""
    spots = []
    end_x, end_y = route[-1]
    for (ax, ay), (bx, by) in list(zip(route, route[1:]))[:3]:
        length = max(math.hypot(bx - ax, by - ay), 1)
        upright = abs(by - ay) > abs(bx - ax)
        if upright:
            right, left = (((6, -4), "lb"), ((6, 0), "lm")), (((-6, -4), "rb"), ((-6, 0), "rm"))
            sides = left + right if end_x < ax - 1 else right + left
        else:
            sides = (((6, 4), "lt"), ((6, -4), "lb")) if end_y > ay + 1 else (((6, -4), "lb"), ((6, 4), "lt"))
        for along in (28, 14, 48):
            t = min(0.5, along / length)
            for (dx, dy), anchor in sides:
                x, y = ax + (bx - ax) * t + dx, ay + (by - ay) * t + dy
                box = _text_box(draw, (x, y), label, font, anchor)
                if not any(box[0] < b[2] and box[2] > b[0] and box[1] < b[3] and box[3] > b[1] for b in taken):
                    return (x, y), anchor, box
                spots.append(((x, y), anchor, box))
    return spots[0]  # nowhere free: where it always went


def _head(draw, tail: Point, tip: Point, style: dict) -> None:
    angle = math.atan2(tip[1] - tail[1], tip[0] - tail[0])
    size, spread = style["head"], 0.42
    left = (tip[0] - size * math.cos(angle - spread), tip[1] - size * math.sin(angle - spread))
    right = (tip[0] - size * math.cos(angle + spread), tip[1] - size * math.sin(angle + spread))
    pen = max(1, round(style["pen"] * _SUPERSAMPLE * 0.8))
    if style["open_head"]:
        draw.line(_scaled([left, tip, right]), fill=style["ink"], width=pen, joint="curve")
    else:
        draw.polygon(_scaled([tip, left, right]), fill=style["ink"])
