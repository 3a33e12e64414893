"""Where the text is: lines inside each shape, and free-standing labels beside connectors.

Text is cut out as line crops for the recogniser (:mod:`.ocr`): inside a shape, the ink that
differs from the shape's fill, split into lines by its row profile; outside shapes, clusters of
small ink components (letters), which connectors, being long, never are.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from flowparse.backends.classical.page import HUES_APART, INK_CONTRAST, Page, faded_to_page, off_shades
from flowparse.backends.classical.shapes import Region

__all__ = ["TextBlock", "node_text_lines", "band_text_lines", "free_text_blocks", "label_reach", "text_height"]

#: The margin round a text line in its crop for the reader, as a share of the letters' height.
READER_MARGIN = 0.3


@dataclass
class TextBlock:
    """A free-standing piece of text (an edge label candidate): its box and its line crops."""

    box: tuple[int, int, int, int]
    lines: list[np.ndarray]
    pixels: np.ndarray  # page coordinates (N x 2, x then y) of its ink, to take out of connectors
    #: Found only once the traced connectors were painted out: it sat against a line.
    beside_line: bool = False


def node_text_lines(
    page: Page, region: Region, line_height: float | None = None
) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """Line crops (RGB, padded with the fill colour) of the text inside ``region``, top to bottom.
    A run of text rows ``line_height`` (the page's usual line) or more taller is lines set tight,
    split where their rows meet."""
    margin = int(round(page.pen)) + 2 + region.bold
    # Outside the crop is outside the shape: erode from the crop's edge too.
    inner = cv2.erode(
        region.text_mask,
        np.ones((2 * margin + 1, 2 * margin + 1), np.uint8),
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    rgb = page.rgb[region.y : region.y + region.h, region.x : region.x + region.w]
    fill = np.array(region.text_fill, np.int16)
    ink = (np.abs(rgb.astype(np.int16) - fill).max(axis=2) > INK_CONTRAST) & (inner > 0)
    if region.hachure:  # its hairlines of page are no letters: the reader gets a flat fill
        hairlines = ink & faded_to_page(rgb, fill, page.background)
        ink &= ~hairlines
        rgb = rgb.copy()
        rgb[hairlines] = region.text_fill
    ink = _drop_strokes(ink, region.w, page.pen)
    return [
        (_line_crop(rgb, inner, region.text_fill, box), _offset(box, region.x, region.y))
        for box in _line_boxes(ink, line_height=line_height)
    ]


def band_text_lines(
    page: Page, free: np.ndarray, band: tuple[int, int, int, int], *, shapes_below: bool = True
) -> tuple[list, np.ndarray]:
    """The crop of the title line in a band of free page (a frame's title band), and its ink there.

    Ink that reaches the band's top or bottom edge runs through it (a connector), not text; what
    is left is split into lines as in a shape, so a title set large and tight, its letters
    touching, is read whole.
    """
    x0, y0, x1, y1 = band
    ink = free[y0:y1, x0:x1] > 0
    mask = np.zeros(free.shape, np.uint8)
    if ink.shape[0] < 4 or ink.shape[1] < 4:
        return [], mask
    _, labels = cv2.connectedComponents(ink.astype(np.uint8), connectivity=8)
    edges = np.zeros(ink.shape, bool)
    edges[:2], edges[-2:], edges[:, :2], edges[:, -2:] = True, True, True, True
    for k in np.unique(labels[edges & (labels > 0)]):
        ink &= ~_stroke_through(labels == k, edges, page.pen)
    # What still reaches the edge the shapes are beyond is an arrowhead's barbs (its line is
    # gone), not a letter; the title itself may touch the frame on the other side.
    _, labels = cv2.connectedComponents(ink.astype(np.uint8), connectivity=8)
    facing = labels[-2:] if shapes_below else labels[:2]
    ink &= ~np.isin(labels, np.unique(facing[facing > 0]))
    rgb = page.rgb[y0:y1, x0:x1]
    plain = rgb[~cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)]
    fill = tuple(int(v) for v in np.median(plain, axis=0)) if plain.size else tuple(int(v) for v in page.background)
    # The crop shows the letters and their edges only: a connector beside them is painted out.
    letters = cv2.dilate(ink.astype(np.uint8) * 255, np.ones((3, 3), np.uint8))
    mask[y0:y1, x0:x1][ink] = 255
    boxes = _line_boxes(ink)
    if not boxes:
        return [], mask
    # One line: the one with the most ink (what else the band holds is marks and label bits).
    box = max(boxes, key=lambda b: np.count_nonzero(ink[b[1] : b[3], b[0] : b[2]]))
    return [_line_crop(rgb, letters, fill, _middle_words(ink, box))], mask


def _middle_words(ink: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The run of words nearest the middle of the band on one line: a title is centred, and an
    edge label or a stray mark beside it is set apart by more than a word gap (0.8 line heights)."""
    x0, y0, x1, y1 = box
    cols = np.flatnonzero(ink[y0:y1, x0:x1].any(axis=0)) + x0
    breaks = np.flatnonzero(np.diff(cols) > 0.8 * (y1 - y0))
    runs = list(zip(np.r_[cols[0], cols[breaks + 1]], np.r_[cols[breaks], cols[-1]] + 1))
    middle = ink.shape[1] / 2
    a, b = min(runs, key=lambda r: 0 if r[0] <= middle <= r[1] else min(abs(r[0] - middle), abs(r[1] - middle)))
    return (int(a), y0, int(b), y1)


def _stroke_through(part: np.ndarray, edges: np.ndarray, pen: float) -> np.ndarray:
    """The pixels of ``part`` on the straight line it crosses the band's edges along (a
    connector, with any letters that touch it left over); all of it when it meets one edge only."""
    ys, xs = np.nonzero(part & edges)
    if ys.size < 2 or (np.ptp(ys) <= 2 and np.ptp(xs) <= 2):
        return part
    vx, vy, cx, cy = cv2.fitLine(np.stack([xs, ys], 1).astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
    gy, gx = np.nonzero(part)
    near = np.abs((gx - cx) * vy - (gy - cy) * vx) <= pen / 2 + 1.5
    out = np.zeros_like(part)
    out[gy[near], gx[near]] = True
    return out


def _drop_strokes(ink: np.ndarray, width: int, pen: float) -> np.ndarray:
    """Take out long thin strokes: a cylinder's lid arc, a divider, an underline - not letters."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    strokes = [i for i in range(1, n) if stats[i, 2] >= 0.45 * width and stats[i, 4] <= stats[i, 2] * (pen + 1.5)]
    if not strokes:
        return ink
    return ink & ~np.isin(labels, strokes)


def _line_boxes(
    ink: np.ndarray, min_height: int = 4, line_height: float | None = None
) -> list[tuple[int, int, int, int]]:
    """Boxes of text lines: runs of inked rows (gaps of one row bridged), each cut to its columns;
    runs ``line_height`` or more taller than a line are cut into lines (see :func:`_split_run`)."""
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) > 2)
    starts, ends = np.r_[rows[0], rows[breaks + 1]], np.r_[rows[breaks], rows[-1]]
    runs = list(zip(starts, ends))
    if line_height:
        runs = [part for y0, y1 in runs for part in _split_run(ink, int(y0), int(y1), line_height)]
    boxes = []
    for y0, y1 in runs:
        if y1 - y0 + 1 < min_height:
            continue
        cols = np.flatnonzero(ink[y0 : y1 + 1].any(axis=0))
        if cols.size and np.count_nonzero(ink[y0 : y1 + 1]) >= 8:
            boxes.append((int(cols[0]), int(y0), int(cols[-1]) + 1, int(y1) + 1))
    return boxes


def _split_run(ink: np.ndarray, y0: int, y1: int, line_height: float) -> list[tuple[int, int]]:
    """The lines in rows ``y0``..``y1`` (inclusive) when the run stands 1.7 lines tall or more:
    cut at its empty rows (a descender over the next line's ascender leaves one), or with none,
    at the sparsest row near each line's expected end. A cut leaves half a line each side at least."""
    tall = y1 - y0 + 1
    if tall < 1.7 * line_height:
        return [(y0, y1)]
    weight = np.count_nonzero(ink[y0 : y1 + 1], axis=1)
    least = 0.5 * line_height
    cuts: list[int] = []
    for k in np.flatnonzero(weight == 0):  # an empty row, half a line past the last cut and the ends
        if least <= k <= tall - least and (not cuts or k - cuts[-1] >= least):
            cuts.append(int(k))
    if not cuts:
        # lines of a tight run stand a little taller than the page's usual line (their descenders)
        lines = max(2, int(tall / line_height + 0.25))
        reach = max(1, int(0.3 * line_height))
        for k in range(1, lines):
            guess = round(k * tall / lines)
            lo, hi = max(1, guess - reach), min(tall - 1, guess + reach)
            cuts.append(lo + int(np.argmin(weight[lo : hi + 1])))
    bounds = [y0] + [y0 + c for c in cuts] + [y1 + 1]
    return [(a, b - 1) for a, b in zip(bounds, bounds[1:]) if b - 1 > a]


def _line_crop(rgb: np.ndarray, inner: np.ndarray, fill: tuple, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    H, W = inner.shape
    height = y1 - y0
    x0, y0, x1, y1 = max(0, x0 - 2), max(0, y0 - 2), min(W, x1 + 2), min(H, y1 + 2)
    crop = rgb[y0:y1, x0:x1].copy()
    crop[inner[y0:y1, x0:x1] == 0] = fill  # the outline must not read as "I" or "|"
    return _framed(crop, height, fill)


def _framed(crop: np.ndarray, height: int, fill) -> np.ndarray:
    """A line crop (its letters ``height`` high, 2 px of context round them) padded with ``fill``
    to the margin the reader reads best: about a third of the letters' height. The recogniser
    learnt on tight crops; an 8 px label in a fixed 6 px margin read as another word."""
    pad = max(0, round(READER_MARGIN * height) - 2)
    return cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=tuple(int(v) for v in fill))


def _offset(box: tuple[int, int, int, int], dx: int, dy: int) -> tuple[int, int, int, int]:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def text_height(line_boxes: list[tuple[int, int, int, int]], default: float) -> float:
    """Median height of the text lines found inside shapes (the scale for labels and arrowheads)."""
    heights = [b[3] - b[1] for b in line_boxes]
    return float(np.median(heights)) if heights else default


def free_text_blocks(
    page: Page,
    free: np.ndarray,
    touching: np.ndarray | None,
    text_h: float,
    dash_width: float | None = None,
    around: np.ndarray | None = None,
) -> list[TextBlock]:
    """Clusters of small ink components in ``free`` (ink outside shapes) that look like text.

    ``touching`` flags, per component label of ``free``, those that touch a shape: connectors
    and arrowheads, never letters (None: none is). Clusters no wider (or taller) than
    ``dash_width`` are dashes of a dashed line (default: two pen widths and a bit). The ink
    ``around`` the text (default: ``free``) that is not letters is the connectors a line's crop
    reaches over.
    """
    if dash_width is None:
        dash_width = max(2 * page.pen + 2, 0.3 * text_h)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=8)
    limit = 1.8 * text_h
    small = np.zeros(n, bool)
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        # Glyphs that touch make one component ("通过" of "不通过"): a word a line high, a few
        # letters wide, and dense, where a line's slant or elbow as wide is mostly page.
        word = h <= 1.2 * text_h and w <= 4 * text_h and area >= 0.25 * w * h
        small[i] = (max(w, h) <= limit or word) and area >= 3 and (touching is None or not touching[i])
    if not small.any():
        return []
    letters = np.where(small[labels], 255, 0).astype(np.uint8)
    other = ((free if around is None else around) > 0) & (letters == 0)  # connectors, for _label_crop
    kx, ky = max(3, int(0.7 * text_h)) | 1, max(3, int(0.35 * text_h)) | 1
    grouped = cv2.dilate(letters, cv2.getStructuringElement(cv2.MORPH_RECT, (kx, ky)))
    m, groups, gstats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    blocks = []
    for j in range(1, m):
        gx, gy, gw, gh, _ = gstats[j]
        member = (groups[gy : gy + gh, gx : gx + gw] == j) & (letters[gy : gy + gh, gx : gx + gw] > 0)
        ys, xs = np.nonzero(member)
        if xs.size < 8:
            continue
        xs, ys = xs + gx, ys + gy
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        thin = min(x1 - x0, y1 - y0) <= dash_width
        if thin or (y1 - y0) > 4 * text_h:
            continue  # dashes of a dashed line, or not text at all
        # A block a line high is one line: a CJK letter's parts ("是") are rows of ink apart.
        one_line = (y1 - y0) <= 1.5 * text_h
        lines = [(0, 0, x1 - x0, y1 - y0)] if one_line else _line_boxes(member[y0 - gy : y1 - gy, x0 - gx : x1 - gx])
        crops = [_label_crop(page, other, _offset(b, x0, y0), text_h) for b in lines]
        if crops:
            blocks.append(TextBlock(box=(x0, y0, x1, y1), lines=crops, pixels=np.stack([xs, ys], axis=1)))
    return blocks


def label_reach(text_h: float) -> int:
    """How far a label line's crop reaches past its letters where a connector meets it (a letter)."""
    return int(round(0.6 * text_h))


def _label_crop(page: Page, other: np.ndarray, box, text_h: float) -> np.ndarray:
    """The crop of one line of free text, widened by about a letter where a connector meets it.

    A letter that touches a connector belongs to the line's ink, not to the text block, so the
    block starts one letter late ("rue" for "True"). Where other ink meets the line's ends, the
    crop takes in a letter's width more and the connector is painted out of it (the straight
    stroke fitted to that ink above and below the text), so the reader sees the letter and not
    the line ("Falsel"). Lines with nothing beside them keep their tight crop: grid paper and
    noise would only confuse the reader. ``other`` is the free ink that is not letters.
    """
    x0, y0, x1, y1 = box
    reach = label_reach(text_h)
    left = (max(0, x0 - reach), min(x1, x0 + reach)) if other[y0:y1, max(0, x0 - reach) : x0].sum() >= 2 else None
    right = (max(x0, x1 - reach), min(other.shape[1], x1 + reach)) if other[y0:y1, x1 : x1 + reach].sum() >= 2 else None
    if left or right:  # the letter against the line may stand taller than the rest ("Y" of "Yes")
        y0 = max(0, min(y0, y1 - int(round(0.8 * text_h))))
    wide = (left[0] if left else x0, y0, right[1] if right else x1, y1)
    crop_box = (max(0, wide[0] - 2), max(0, y0 - 2), min(page.width, wide[2] + 2), min(page.height, y1 + 2))
    rgb = page.rgb[crop_box[1] : crop_box[3], crop_box[0] : crop_box[2]].copy()
    for side in filter(None, (left, right)):
        _paint_out_stroke(rgb, crop_box, other, side, (y0, y1), page)
    return _framed(rgb, y1 - y0, page.background)


def _paint_out_stroke(rgb, crop_box, other: np.ndarray, columns, rows, page: Page) -> None:
    """Paint the background over the straight stroke that runs through ``columns`` past ``rows``."""
    (c0, c1), (y0, y1) = columns, rows
    h = y1 - y0
    above, below = other[max(0, y0 - h) : y0, c0:c1], other[y1 : y1 + h, c0:c1]
    ya, xa = np.nonzero(above)
    yb, xb = np.nonzero(below)
    ys = np.r_[ya + max(0, y0 - h), yb + y1]
    xs = np.r_[xa, xb] + c0
    if xs.size < 6:
        return  # the ink does not run on past the text: nothing straight to take out
    vx, vy, cx, cy = cv2.fitLine(np.stack([xs, ys], 1).astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
    bx0, by0, bx1, by1 = crop_box
    gy, gx = np.mgrid[by0:by1, bx0:bx1]

    def off(x, y):  # signed distance from the fitted line
        return (x - cx) * vy - (y - cy) * vx

    across = off(gx, gy)
    near = np.abs(across) <= page.pen / 2 + 1.5
    stroke = near & other[by0:by1, bx0:bx1]
    letters = (page.ink[by0:by1, bx0:bx1] > 0) & ~other[by0:by1, bx0:bx1]
    if np.percentile(np.abs(off(xs, ys)), 95) <= page.pen / 2 + 1:  # a straight line
        beyond = near & ((gy < y0) | (gy >= y1))
        beside = (page.ink[by0:by1, bx0:bx1] > 0) & ~near & (gy >= y0) & (gy < y1)  # off the line, by the text
        stroke &= ~_touching(_darker_than_the_line(page.diff[by0:by1, bx0:bx1], across, beyond, stroke), beside)
    line = np.median(page.rgb[ys, xs], axis=0)
    text = np.median(rgb[letters], axis=0) if letters.any() else line
    if off_shades(line, page.background, text) > HUES_APART:  # a letter keeps its pixels on the line
        stroke &= off_shades(rgb, page.background, line) <= off_shades(rgb, page.background, text)
    rgb[stroke] = page.background


def _darker_than_the_line(dark: np.ndarray, across: np.ndarray, beyond: np.ndarray, stroke: np.ndarray) -> np.ndarray:
    """Where ``stroke`` is darker than its straight line ever runs ``beyond`` the text (``dark``:
    contrast with the page) as far across it (in half pixels): a letter's stem right against
    the line, in the line's grey edge. A wavering line has no such edge to go by."""
    bins = np.rint(across * 2).astype(int)
    darker = np.zeros_like(stroke)
    for b in np.unique(bins[stroke & ~beyond]):
        usual = dark[beyond & (bins == b)]
        if usual.size >= 3:
            darker |= stroke & ~beyond & (bins == b) & (dark > int(usual.max()) + 40)
    return darker


def _touching(parts: np.ndarray, letters: np.ndarray) -> np.ndarray:
    """The pieces of ``parts`` that touch ``letters`` (a stem holds its letter's arms; a bar of
    the line's own, wavering off the straight stroke, stands apart)."""
    n, ids = cv2.connectedComponents(parts.astype(np.uint8), connectivity=8)
    near = cv2.dilate(letters.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return np.isin(ids, np.unique(ids[near & (ids > 0)])) & parts
