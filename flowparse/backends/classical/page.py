"""Page analysis: background colour, ink and tint masks, pen width and text height.

Everything later is measured against these: a stroke is "thin" relative to the pen width, a
blob is "small" relative to the text height, so one set of rules serves 600 px screenshots and
2000 px scans alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Page", "analyse_page", "INK_CONTRAST", "LINE_CONTRAST", "TINT_CONTRAST"]

#: A pixel is ink (strokes, text, dark fills) when a channel differs this much from the page.
INK_CONTRAST = 60
#: Connectors are traced at this lower contrast: thin grey or pastel lines fade when anti-aliased.
LINE_CONTRAST = 35
#: A pixel is tinted (light fills too) at this smaller difference; below it, JPEG noise and shadows.
TINT_CONTRAST = 14


@dataclass
class Page:
    """One image and the masks every detector step shares (uint8 masks hold 0 or 255)."""

    rgb: np.ndarray
    background: np.ndarray
    diff: np.ndarray
    ink: np.ndarray
    tint: np.ndarray
    pen: float

    @property
    def height(self) -> int:
        return self.rgb.shape[0]

    @property
    def width(self) -> int:
        return self.rgb.shape[1]


def analyse_page(rgb: np.ndarray) -> Page:
    """Masks and measures of an RGB uint8 page.

    >>> page = analyse_page(np.full((20, 30, 3), 255, np.uint8))
    >>> int(page.ink.max()), page.background.tolist()
    (0, [255, 255, 255])
    """
    background = _background_colour(rgb)
    diff = np.abs(rgb.astype(np.int16) - background.astype(np.int16)).max(axis=2).astype(np.uint8)
    diff = _without_grid(diff)
    ink = np.where(diff > INK_CONTRAST, 255, 0).astype(np.uint8)
    tint = np.where(diff > TINT_CONTRAST, 255, 0).astype(np.uint8)
    return Page(rgb=rgb, background=background, diff=diff, ink=ink, tint=tint, pen=_pen_width(ink))


#: Ruled or squared paper: at least this many page-long lines each way are a grid, not a chart.
GRID_LINES = 6


def _without_grid(diff: np.ndarray) -> np.ndarray:
    """Erase the lines of squared paper: many lines, each running a third of the page or more.

    A chart has at most a few such lines (long back edges); a grid has them every few dozen
    pixels, both ways. Only when there are many both ways are they taken out.
    """
    h, w = diff.shape
    marks = np.where(diff > TINT_CONTRAST, 255, 0).astype(np.uint8)
    across = cv2.morphologyEx(marks, cv2.MORPH_OPEN, np.ones((1, max(3, w // 3)), np.uint8))
    down = cv2.morphologyEx(marks, cv2.MORPH_OPEN, np.ones((max(3, h // 3), 1), np.uint8))
    if cv2.connectedComponents(across)[0] - 1 < GRID_LINES or cv2.connectedComponents(down)[0] - 1 < GRID_LINES:
        return diff
    lines = cv2.dilate(cv2.bitwise_or(across, down), np.ones((3, 3), np.uint8))
    # Where a chart stroke crosses a grid line it is darker than the grid: keep what stands out.
    grid_level = np.median(diff[lines > 0])
    out = diff.copy()
    out[(lines > 0) & (diff <= grid_level + 30)] = 0
    return out


def _background_colour(rgb: np.ndarray) -> np.ndarray:
    """The commonest colour of the image (a chart is mostly page; the border alone can run
    along a grid line of squared paper)."""
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 40_000)))
    border = rgb[::step, ::step].reshape(-1, 3)
    quantised = (border // 8).astype(np.int32)
    keys = quantised[:, 0] * 1024 + quantised[:, 1] * 32 + quantised[:, 2]
    values, counts = np.unique(keys, return_counts=True)
    mode = values[np.argmax(counts)]
    return np.median(border[keys == mode], axis=0).astype(np.uint8)


#: A pen this wide is no pen: the ink's ridges are those of shapes filled darker than ink contrast.
FILL_WIDTH = 9


def _pen_width(ink: np.ndarray) -> float:
    """Typical stroke width: twice the distance-to-page on the ridge of the ink, median.

    Where shapes filled darker than ink contrast make up most of the ink, that median is as
    wide as the shapes are tall; the pen is then measured on the ink outside the filled areas.
    """
    pen = _ridge_width(ink)
    if pen < FILL_WIDTH:
        return pen
    filled = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (FILL_WIDTH,) * 2))
    strokes = cv2.bitwise_and(ink, cv2.bitwise_not(cv2.dilate(filled, np.ones((3, 3), np.uint8))))
    return _ridge_width(strokes) if np.count_nonzero(strokes) >= 100 else pen


def _ridge_width(ink: np.ndarray) -> float:
    if not ink.any():
        return 1.0
    dist = cv2.distanceTransform(ink, cv2.DIST_L2, 3)
    ridge = (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))) & (ink > 0)
    values = dist[ridge]
    if values.size == 0:
        return 1.0
    return float(max(1.0, 2.0 * np.median(values) - 1.0))
