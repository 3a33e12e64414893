"""Page analysis: background colour, ink and tint masks, pen width and text height.

Everything later is measured against these: a stroke is "thin" relative to the pen width, a
blob is "small" relative to the text height, so one set of rules serves 600 px screenshots and
2000 px scans alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Page", "analyse_page", "colour_gap", "even_lighting", "off_shades", "faded_to_page",
    "HUES_APART", "INK_CONTRAST", "LINE_CONTRAST", "TINT_CONTRAST",
]

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


#: A page whose fitted light, brightest to darkest, spans more than this ratio is evened out
#: first. Photographed sheets span 1.14 to 3.7 on the tuning sets (median 1.5; under 1.25 they
#: read well as they are); flat pages 1.00 to 1.11, their fills pulling the fit.
LIGHT_SPREAD = 1.25
#: The light is fitted on the page shrunk to this short side, the ink closed over by a window
#: of a tenth of it; a paper point is one within this share of the fitted light.
LIGHT_GRID, LIGHT_FIT = 96, 0.03


def even_lighting(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with uneven light divided out when a photographed page has it, else unchanged.

    Light falls on a sheet slowly (a gradient, a vignette) and darkens page and ink alike, so
    one page colour and one contrast do not hold across the image: ink in the dark corner
    passed for page, and the page there for ink (a chart photographed so lost all its shapes).
    The light is the brightest level of the page, fitted as a smooth surface (a quadratic) to
    the paper of a shrunken copy with the ink closed over, robustly, so that fills and frames
    do not bend it; each pixel is then brightened by what its light lacks.

    >>> x = np.linspace(0.6, 1.0, 200, dtype=np.float32)[None, :, None]
    >>> lit = (np.full((100, 200, 3), 250, np.float32) * x).astype(np.uint8)
    >>> out = even_lighting(lit); int(lit[50, 0, 0]), int(out[50, 0, 0]), int(out[50, 199, 0])
    (150, 249, 250)
    """
    light = _light(rgb)
    if light is None:
        return rgb
    gain = (light.max() / light)[..., None]
    return np.clip(rgb * gain + 0.5, 0, 255).astype(np.uint8)


def _light(rgb: np.ndarray) -> np.ndarray | None:
    """The page's brightness as a smooth surface, full size, or None when it is even."""
    height, width = rgb.shape[:2]
    scale = min(1.0, LIGHT_GRID / max(1, min(height, width)))
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    # paper is bright in every channel; ink, and the fills the window is too small to close, not
    grey = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).max(axis=2).astype(np.float32)
    reach = max(3, min(size) // 10) | 1
    grey = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, np.ones((reach, reach), np.uint8), borderType=cv2.BORDER_REPLICATE)
    terms = _quadratic_terms(*size).astype(np.float64)
    level = grey.ravel().astype(np.float64)
    paper = np.ones(level.size, bool)
    for _ in range(4):  # refit on the points the fit explains: fills and frames drop out
        kept = terms[paper]
        coef = np.linalg.lstsq(kept.T @ kept, kept.T @ level[paper], rcond=None)[0]  # normal equations: 6 x 6
        fitted = terms @ coef
        paper = np.abs(level - fitted) < LIGHT_FIT * np.maximum(fitted, 1.0)
        if not paper.any():
            return None
    if fitted.min() < 8 or fitted.max() < LIGHT_SPREAD * fitted.min() or np.median(fitted) < 128:
        return None  # evenly lit, or a dark page (light ink on it is no page to even out)
    x, y = _centred(width)[None, :], _centred(height)[:, None]  # full size by broadcasting
    c = coef.astype(np.float32)
    return np.maximum(c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y, 8.0)


def _centred(n: int) -> np.ndarray:
    """Pixel centres of a side of ``n`` pixels, from -0.5 to 0.5."""
    return (np.arange(n, dtype=np.float32) + 0.5) / n - 0.5


def _quadratic_terms(width: int, height: int) -> np.ndarray:
    """1, x, y, x², xy, y² per pixel of a width x height grid, row by row."""
    x, y = np.tile(_centred(width), height), np.repeat(_centred(height), width)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)


#: Ruled or squared paper: this many faint page-long lines, either way, are paper, not chart.
GRID_LINES = 6
#: A paper line is marked along this share of the page, at most this thick, and fainter than ink.
PAPER_LINE_SPAN = 0.75
PAPER_LINE_WIDTH = 4


def _without_grid(diff: np.ndarray) -> np.ndarray:
    """Erase the lines of ruled or squared paper: thin, faint lines across most of the page.

    A chart has few lines that long (back edges, a wide box's sides), and those mostly in ink;
    paper has them every few dozen pixels, fainter than ink, with page on both sides. Only when
    there are many are they taken out: each pixel of one takes the lower contrast of the pixels
    just beyond the line on either side (page, or the fill or stroke the line runs under),
    unless it stands out from the line as chart ink does where it crosses it.
    """
    marks = diff > TINT_CONTRAST
    rows, columns = _paper_lines(diff, marks), _paper_lines(diff.T, marks.T)
    rows, columns = (lines if _evenly_spaced(lines) else [] for lines in (rows, columns))
    if len(rows) + len(columns) < GRID_LINES:
        return diff
    out = diff.copy()
    for band, lines in ((out, rows), (out.T, columns)):  # out.T is a view: columns as rows
        for top, bottom, level in lines:
            beyond = np.minimum(band[max(0, top - 2)], band[min(band.shape[0] - 1, bottom + 1)])
            line = band[top:bottom]
            band[top:bottom] = np.where(line > level + 30, line, beyond)
    return out


def _evenly_spaced(lines: list[tuple[int, int, float]]) -> bool:
    """Whether lines are ruled: three or more, nearly every gap a whole number of the smallest
    (lines hidden under a filled shape leave wider gaps). The sides of a column of boxes
    alternate between a box's height and the space between boxes."""
    if len(lines) < 3:
        return False
    gaps = np.diff([top for top, _, _ in lines])
    step = float(gaps.min())
    ratios = gaps / step
    return step >= 8 and bool(np.mean(np.abs(ratios - np.round(ratios)) < 0.15) >= 0.75)


def _paper_lines(diff: np.ndarray, marks: np.ndarray) -> list[tuple[int, int, float]]:
    """Rows (``top``, ``bottom``, median contrast) that look like paper lines: runs of at most
    ``PAPER_LINE_WIDTH`` rows marked along most of their length, fainter than ink, and clearly
    more marked than the rows two beyond either side (a stripe of a pale fill is not)."""
    height = diff.shape[0]
    marked = marks.mean(axis=1)
    candidates = np.flatnonzero(marked >= PAPER_LINE_SPAN)
    lines = []
    for run in np.split(candidates, np.flatnonzero(np.diff(candidates) > 1) + 1):
        if not 0 < run.size <= PAPER_LINE_WIDTH:
            continue
        top, bottom = int(run[0]), int(run[-1]) + 1
        sides = [r for r in (top - 2, bottom + 1) if 0 <= r < height]
        if not sides or any(marked[r] > marked[top:bottom].min() - 0.25 for r in sides):
            continue
        level = float(np.median(diff[top:bottom][marks[top:bottom]]))
        if level <= INK_CONTRAST:
            lines.append((top, bottom, level))
    return lines


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

    Where shapes filled darker than ink contrast make up most of the ink, that median is as wide
    as the shapes are tall (a flat fill) or as the strips between a hachure's hairlines of page;
    the pen is then measured on the ink outside the filled areas: those a fill's width across
    that are mostly ink.
    """
    dense = cv2.blur((ink > 0).astype(np.float32), (FILL_WIDTH, FILL_WIDTH)) >= 0.7
    filled = cv2.dilate(dense.astype(np.uint8), np.ones((FILL_WIDTH,) * 2, np.uint8)) > 0
    strokes = np.where(filled, 0, ink).astype(np.uint8)
    if np.count_nonzero(ink[filled]) < 0.5 * np.count_nonzero(ink) or np.count_nonzero(strokes) < 100:
        return _ridge_width(ink)
    return _ridge_width(strokes)


def _ridge_width(ink: np.ndarray) -> float:
    if not ink.any():
        return 1.0
    dist = cv2.distanceTransform(ink, cv2.DIST_L2, 3)
    ridge = (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))) & (ink > 0)
    values = dist[ridge]
    if values.size == 0:
        return 1.0
    return float(max(1.0, 2.0 * np.median(values) - 1.0))


def colour_gap(a, b) -> float:
    """How far two RGB colours are apart as page contrast counts it: their largest channel
    difference.

    >>> colour_gap((225, 196, 201), (220, 190, 193))
    8.0
    """
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).max())


#: A colour is another than an ink's when it is this far (RGB) from every shade of it (see
#: :func:`off_shades`). Grey on black, navy on navy are shades (under 1 on the tuning sets);
#: Graphviz's pastel edges on black text are 17 to 83 away.
HUES_APART = 12.0


def off_shades(colours: np.ndarray, page: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """How far ``colours`` are from every shade of ``ink``: from the ray that starts at the page's
    colour and runs through the ink's (anti-aliasing blends a stroke with the page; a thin stroke
    reads paler than a thick one of the same ink).

    >>> white, black = np.array([255, 255, 255]), np.array([0, 0, 0])
    >>> off_shades(np.array([[128, 128, 128], [40, 80, 200]]), white, black).round().tolist()
    [0.0, 118.0]
    """
    colours, page, ink = (np.asarray(v, float) for v in (colours, page, ink))
    way = ink - page
    t = np.clip((colours - page) @ way / max(float(way @ way), 1e-9), 0, None)
    return np.linalg.norm(colours - page - t[..., None] * way, axis=-1)


def faded_to_page(colours: np.ndarray, fill, page_colour) -> np.ndarray:
    """Where ``colours`` are ``fill`` faded toward the page, or the page: the hairlines of page
    a hachure streaks a fill with, anti-aliased.

    >>> green, white = np.array([205, 228, 152]), np.array([255, 255, 255])
    >>> faded_to_page(np.array([[230, 241, 203], [0, 0, 0]]), green, white).tolist()
    [True, False]
    """
    return off_shades(colours, fill, page_colour) <= HUES_APART
