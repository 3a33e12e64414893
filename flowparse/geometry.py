"""Box and line geometry shared by detectors, exporters and metrics. Boxes are ``(x1, y1, x2, y2)``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "box_iou", "clip_box", "normalize_box", "denormalize_box", "box_center", "point_box_distance", "segment_meets_box",
    "polyline_distances",
]

Box = Sequence[float]

#: Grounded model answers give coordinates on a 0..NORM_SCALE grid (InternVL uses 1000).
NORM_SCALE = 1000


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0.0 when either is empty).

    >>> box_iou((0, 0, 10, 10), (5, 0, 15, 10))
    0.3333333333333333
    """
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def point_box_distance(p: Sequence[float], box: Box) -> float:
    """Distance from a point to a box (0.0 inside it).

    >>> point_box_distance((13, 14), (0, 0, 10, 10)), point_box_distance((5, 5), (0, 0, 10, 10))
    (5.0, 0.0)
    """
    return math.hypot(max(box[0] - p[0], 0.0, p[0] - box[2]), max(box[1] - p[1], 0.0, p[1] - box[3]))


def segment_meets_box(a: Sequence[float], b: Sequence[float], box: Box) -> bool:
    """Whether segment a-b touches the box: their boxes overlap and the box's corners are not
    all on one side of the segment's line.

    >>> segment_meets_box((-5, 5), (30, 5), (0, 0, 10, 10)), segment_meets_box((-5, 5), (0, 20), (0, 0, 10, 10))
    (True, False)
    """
    x0, y0, x1, y1 = box
    if max(a[0], b[0]) < x0 or min(a[0], b[0]) > x1 or max(a[1], b[1]) < y0 or min(a[1], b[1]) > y1:
        return False
    corners = ((x0, y0), (x1, y0), (x0, y1), (x1, y1))
    sides = [(b[0] - a[0]) * (cy - a[1]) - (b[1] - a[1]) * (cx - a[0]) for cx, cy in corners]
    return min(sides) <= 0 <= max(sides)


def polyline_distances(points: np.ndarray, polyline: Sequence[Sequence[float]]) -> np.ndarray:
    """Each of ``points`` (an (n, 2) array)'s distance to a polyline.

    >>> polyline_distances(np.array([[5.0, 3.0], [-4.0, 0.0], [13.0, 14.0]]), [(0, 0), (10, 0), (10, 10)]).tolist()
    [3.0, 4.0, 5.0]
    """
    path = np.asarray(polyline, np.float64)
    best = np.hypot(*(points - path[0]).T)  # a polyline of one point is that point
    for a, b in zip(path, path[1:]):
        span = b - a
        t = np.clip((points - a) @ span / max(float(span @ span), 1e-12), 0.0, 1.0)
        best = np.minimum(best, np.hypot(*(points - a - t[:, None] * span).T))
    return best


def clip_box(box: Box, width: float, height: float) -> tuple[float, float, float, float]:
    """``box`` with corners ordered and clipped to a ``width`` x ``height`` image.

    >>> clip_box((12, -3, 2, 8), 10, 10)
    (2.0, 0.0, 10.0, 8.0)
    """
    x1, x2 = sorted((float(box[0]), float(box[2])))
    y1, y2 = sorted((float(box[1]), float(box[3])))
    w, h = float(width), float(height)
    return (min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h))


def normalize_box(box: Box, width: float, height: float, scale: int = NORM_SCALE) -> tuple[int, int, int, int]:
    """Pixel box to the 0..``scale`` integer grid of grounded answers: ``round(v / size * scale)``.

    >>> normalize_box((10, 20, 110, 220), 200, 400)
    (50, 50, 550, 550)
    """
    x1, y1, x2, y2 = box
    return (
        round(x1 / width * scale),
        round(y1 / height * scale),
        round(x2 / width * scale),
        round(y2 / height * scale),
    )


def denormalize_box(
    box: Box, width: float, height: float, scale: int = NORM_SCALE
) -> tuple[float, float, float, float]:
    """A 0..``scale`` box back to pixels of a ``width`` x ``height`` image (no clipping).

    >>> denormalize_box((50, 50, 550, 550), 200, 400)
    (10.0, 20.0, 110.0, 220.0)
    """
    x1, y1, x2, y2 = box
    return (x1 * width / scale, y1 * height / scale, x2 * width / scale, y2 * height / scale)


def box_center(box: Box) -> tuple[float, float]:
    """The centre of a box.

    >>> box_center((0, 0, 10, 4))
    (5.0, 2.0)
    """
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
