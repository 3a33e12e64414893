"""Drawing a graph over its image, so a person can check a detector or a truth file at a glance."""

from __future__ import annotations

import math
from collections.abc import Sequence

import networkx as nx
from PIL import Image, ImageDraw, ImageFont

from flowparse.geometry import box_center

__all__ = ["draw_graph", "SHAPE_COLORS"]

#: One colour per canonical shape, so the kind of a box reads at a glance.
SHAPE_COLORS: dict[str, tuple[int, int, int]] = {
    "rectangle": (31, 119, 180), "rounded_rectangle": (23, 190, 207), "stadium": (44, 160, 44),
    "circle": (188, 189, 34), "double_circle": (140, 86, 75), "ellipse": (148, 103, 189),
    "diamond": (214, 39, 40), "hexagon": (255, 127, 14), "parallelogram": (227, 119, 194),
    "parallelogram_alt": (247, 182, 210), "trapezoid": (127, 127, 127), "trapezoid_alt": (199, 199, 199),
    "cylinder": (152, 223, 138), "subroutine": (174, 199, 232), "asymmetric": (255, 187, 120),
    "document": (197, 176, 213), "other": (0, 0, 0),
}
_EDGE_COLOR = (255, 0, 200)


def _font(size: int) -> ImageFont.ImageFont:
    # Overlay labels may be Chinese: prefer a CJK font when fontconfig has one.
    from flowparse.training.synth.fonts import font_file

    for family in ("Noto Sans CJK SC", "DejaVu Sans"):
        found = font_file(family)
        if found:
            return ImageFont.truetype(found[0], size, index=found[1])
    return ImageFont.load_default()


def draw_graph(image: Image.Image, G: nx.DiGraph, *, line_width: int | None = None) -> Image.Image:
    """A copy of ``image`` with ``G`` drawn over it: boxes coloured by shape, shape names and
    texts, and edges (their ``points`` polyline when present, else centre to centre) with heads.

    Boxes are scaled when the graph's ``width``/``height`` differ from the image's size.

    >>> from flowparse.graph import new_graph, add_shape, add_arrow
    >>> G = new_graph(100, 100); a = add_shape(G, "diamond", (10, 10, 40, 40), "ok?")
    >>> b = add_shape(G, "rectangle", (10, 60, 90, 90)); add_arrow(G, a, b, label="yes")
    >>> draw_graph(Image.new("RGB", (100, 100), "white"), G).size
    (100, 100)
    """
    out = image.convert("RGB")
    sx = out.width / float(G.graph.get("width") or out.width)
    sy = out.height / float(G.graph.get("height") or out.height)
    width = line_width or max(1, round(min(out.size) / 400))
    font = _font(max(10, round(min(out.size) / 60)))
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for u, v, data in G.edges(data=True):
        _draw_edge(draw, G, u, v, data, (sx, sy), width, font)
    for node, data in G.nodes(data=True):
        if "bbox" not in data:
            continue
        x1, y1, x2, y2 = data["bbox"]
        box = (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
        color = SHAPE_COLORS.get(data.get("shape"), (0, 0, 0))
        draw.rectangle(box, outline=(*color, 255), width=width)
        caption = f"{node} {data.get('shape', '')}"
        if data.get("text"):
            caption += ": " + data["text"].replace("\n", " ")
        _caption(draw, (box[0], box[1]), caption, color, font)
    return Image.alpha_composite(out.convert("RGBA"), layer).convert("RGB")


def _caption(draw: ImageDraw.ImageDraw, at: tuple[float, float], text: str, color, font) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = at[0], max(0.0, at[1] - (bottom - top) - 2)
    draw.rectangle((x, y, x + right - left + 2, y + bottom - top + 2), fill=(*color, 170))
    draw.text((x + 1 - left, y + 1 - top), text, fill=(255, 255, 255, 255), font=font)


def _edge_line(G: nx.DiGraph, u, v, data: dict, scale: tuple[float, float]) -> list[tuple[float, float]] | None:
    points = data.get("points")
    if not points:
        ends = [G.nodes[n].get("bbox") for n in (u, v)]
        if None in ends:
            return None
        points = [box_center(ends[0]), box_center(ends[1])]
    return [(x * scale[0], y * scale[1]) for x, y in points]


def _draw_edge(draw, G, u, v, data: dict, scale, width: int, font) -> None:
    line = _edge_line(G, u, v, data, scale)
    if not line or len(line) < 2:
        return
    draw.line(line, fill=(*_EDGE_COLOR, 230), width=width, joint="curve")
    arrow = data.get("arrow", "normal")
    if arrow in ("normal", "both"):
        _arrowhead(draw, line[-2], line[-1], width)
    if arrow == "both":
        _arrowhead(draw, line[1], line[0], width)
    if data.get("label"):
        mid = line[len(line) // 2]
        _caption(draw, mid, data["label"], _EDGE_COLOR, font)


def _arrowhead(draw, tail: Sequence[float], tip: Sequence[float], width: int) -> None:
    angle = math.atan2(tip[1] - tail[1], tip[0] - tail[0])
    size = 6 + 3 * width
    left = (tip[0] - size * math.cos(angle - 0.4), tip[1] - size * math.sin(angle - 0.4))
    right = (tip[0] - size * math.cos(angle + 0.4), tip[1] - size * math.sin(angle + 0.4))
    draw.polygon([tuple(tip), left, right], fill=(*_EDGE_COLOR, 230))
