"""Finding the shapes of a chart and naming them with the canonical shapes.

Two kinds of region make a shape: the *interior* of a closed outline (a part of the page fenced
in by ink) and a *solid* blob (a filled shape, with or without outline, found by opening the
tint mask with a disc wider than any pen, which erases lines and text). Multi-part outlines are
put back together (a cylinder's lid and body, a subroutine's side bars, a double circle's rings),
and each region is named by the canonical shape whose template overlaps it best.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from flowparse.backends.classical.page import LINE_CONTRAST, Page, colour_gap, faded_to_page

__all__ = ["Region", "find_shapes", "classify_mask", "template_mask", "is_label_plate", "sides_run_on"]

#: Side of the square grid regions are compared with templates on.
GRID = 48
#: Regions smaller than this many pixels (at about 1000 px per side) are letter holes and specks.
MIN_AREA = 180


@dataclass
class Region:
    """A shape found on the page: its body mask (outline included) and what it looks like."""

    x: int
    y: int
    mask: np.ndarray
    hollow: bool
    fill: tuple[int, int, int] = (255, 255, 255)
    shape: str = "other"
    fit: float = 0.0
    parts: list[str] = field(default_factory=list)
    inner: Region | None = None
    inked: bool = False
    #: Pixels the outline reaches beyond one pen (a bold node), taken into the body.
    bold: int = 0
    #: Fenced in only at line contrast, where ink fenced nothing in (a thin pale pen's box).
    faint: bool = False
    #: Its fill is a hachure: streaked with hairlines of page (Mermaid's hand-drawn look).
    hachure: bool = False

    @property
    def text_mask(self) -> np.ndarray:
        """Where this shape's text may be: inside the inner ring of a double outline."""
        if self.inner is None:
            return self.mask
        canvas = np.zeros((self.h, self.w), np.uint8)
        x0, y0 = max(self.x, self.inner.x), max(self.y, self.inner.y)
        x1, y1 = min(self.x + self.w, self.inner.x + self.inner.w), min(self.y + self.h, self.inner.y + self.inner.h)
        if x1 > x0 and y1 > y0:
            canvas[y0 - self.y : y1 - self.y, x0 - self.x : x1 - self.x] = self.inner.mask[
                y0 - self.inner.y : y1 - self.inner.y, x0 - self.inner.x : x1 - self.inner.x
            ]
        return canvas

    @property
    def text_fill(self) -> tuple[int, int, int]:
        """The colour text is written on (the inner ring's, for a double outline)."""
        return self.fill if self.inner is None else self.inner.fill

    @property
    def w(self) -> int:
        return self.mask.shape[1]

    @property
    def h(self) -> int:
        return self.mask.shape[0]

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.x + self.w, self.y + self.h)

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    def shift(self, dx: int, dy: int) -> None:
        """Move the region, its inner ring with it (from a crop's pixels to the page's)."""
        self.x, self.y = self.x + dx, self.y + dy
        if self.inner is not None:
            self.inner.shift(dx, dy)

    def paste(self, canvas: np.ndarray, value: int = 255) -> None:
        """Draw this body into a page-sized mask."""
        view = canvas[self.y : self.y + self.h, self.x : self.x + self.w]
        view[self.mask > 0] = value


def find_shapes(page: Page) -> list[Region]:
    """The shapes on ``page``, named and scored, outlines and fills alike.

    >>> from flowparse.backends.classical.page import analyse_page
    >>> img = np.full((120, 200, 3), 255, np.uint8)
    >>> _ = cv2.rectangle(img, (40, 30), (160, 90), (0, 0, 0), 2)
    >>> [(r.shape, r.bbox) for r in find_shapes(analyse_page(img))]
    [('rectangle', (39, 29, 162, 92))]
    """
    solids = _solids(page)
    interiors = _outside_hachures(_interiors(page), solids)
    solids = [s for s in solids if not any(_twins(s, r, page.pen) for r in interiors)]
    found = interiors + solids
    regions = _resolve_nesting(found + _outside_hachures(_faint_interiors(page, found), solids), page.pen)
    for region in regions:
        upright = _at_one_pen(region)
        mask = _levelled(upright)
        region.shape, region.fit = classify_mask(mask, hollow=region.hollow, pen=page.pen)
        # A body turned level has lost its corners' last pixels: too few left to see 5 px round them.
        if region.shape == "rectangle" and mask is upright and _has_round_corners(mask, page.pen):
            region.shape = "rounded_rectangle"
        elif region.shape == "rounded_rectangle" and region.hollow and _has_sharp_corners(mask, page.pen):
            region.shape = "rectangle"
        if region.shape == "rectangle" and _has_folded_corner(mask):
            region.shape = "document"
        if region.shape in ("circle", "ellipse") and not region.hollow and not region.parts:
            ring = _inner_ring_in_fill(page, region)
            if ring is not None:
                region.parts, region.inner = ["outer", "inner"], ring
    regions = _join_parts(regions, page.pen)
    for k, region in enumerate(regions):
        if region.parts == ["outer", "inner"]:
            # A double outline: a double circle, or a box drawn twice (Graphviz's subroutine).
            if region.shape in ("circle", "ellipse"):
                region.shape = "double_circle"
            elif region.shape in ("rectangle", "rounded_rectangle"):
                region.shape = "subroutine"
        elif region.shape in ("rectangle", "rounded_rectangle") and not region.parts:
            panel = _side_panels(page, region)
            if panel:
                regions[k] = _with_panels(region, panel)
    return sorted(regions, key=lambda r: (r.y, r.x))


def _side_panels(page: Page, region: Region) -> int:
    """How far a box's side panels reach beyond it, when it has them on both sides: narrow strips
    closed by a line as tall as the box, the box's top and bottom running on to it (a subroutine
    whose panels are too narrow, or too faintly drawn, to be regions of their own). 0 if none.

    Boxes side by side in a row also stand a line's distance apart, but page lies between them.
    """
    x0, y0, x1, y1 = region.bbox
    fill = colour_gap(region.fill, page.background)
    level = max(LINE_CONTRAST, fill + 12)  # a line stands out of the panels' fill
    g = max(1, int(round(page.pen)))
    middle = slice(y0 + region.h // 5, y1 - region.h // 5)
    limit = max(4, int(0.2 * region.w))

    def reach(columns) -> int:
        """The distance to the first full-height line past a column clear of lines."""
        gap = 0
        for d, x in enumerate(columns, start=1):
            if not 0 <= x < page.width:
                return 0
            full = (page.diff[middle, max(0, x - 1) : x + 2] > level).any(axis=1).mean() >= 0.9
            if full and gap >= 1:
                return d
            gap = 0 if full else gap + 1
        return 0

    def closed(a: int, b: int) -> bool:
        """Whether the box's top and bottom lines run on over columns a..b."""
        top = (page.diff[max(0, y0 - g) : y0 + g + 1, a:b] > level).any(axis=0).mean()
        bottom = (page.diff[max(0, y1 - g - 1) : y1 + g, a:b] > level).any(axis=0).mean()
        return min(top, bottom) >= 0.8

    left = reach(range(x0 - 1, x0 - 1 - limit, -1))
    right = reach(range(x1, x1 + limit))
    if not left or not right or abs(left - right) > 2 * g + 2:
        return 0
    if not closed(x0 - left, x0) or not closed(x1, x1 + right):
        return 0
    return max(left, right)


def _with_panels(box: Region, panel: int) -> Region:
    """A subroutine: ``box`` with side panels ``panel`` wide, its text between them."""
    mask = np.full((box.h, box.w + 2 * panel), 255, np.uint8)
    return Region(
        x=box.x - panel, y=box.y, mask=mask, hollow=box.hollow, fill=box.fill, shape="subroutine",
        fit=box.fit, parts=["subroutine"], inner=box, inked=box.inked, bold=box.bold, hachure=box.hachure,
    )


def _at_one_pen(region: Region) -> np.ndarray:
    """The body as the templates expect it, the outline one pen wide: a bold outline taken into
    the body (square, for the zone round it) would cut a diamond's tips flat."""
    if not region.bold:
        return region.mask
    square = np.ones((2 * region.bold + 1,) * 2, np.uint8)
    mask = cv2.erode(region.mask, square, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    x, y, w, h = cv2.boundingRect(mask)
    return mask[y : y + h, x : x + w] if w and h else region.mask


#: The tilts a body is turned level from, in degrees: a scan a little askew, a photo's slant.
_TILT = (0.4, 6.0)


def _levelled(mask: np.ndarray) -> np.ndarray:
    """A body turned level when its top and bottom are straight lines at the same small tilt (a
    page scanned or photographed askew): the templates are upright, and a box 2 degrees off had
    its corners cut as a folded sheet's is. Anything else (a diamond's sides, an ellipse's arcs,
    a hand-drawn wobble) is left as it is."""
    tilt = _tilt(mask)
    if tilt == 0.0:
        return mask
    h, w = mask.shape
    side = int(np.ceil(np.hypot(w, h))) + 2
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), tilt, 1.0)
    turn[:, 2] += ((side - w) / 2, (side - h) / 2)
    level = cv2.warpAffine(mask, turn, (side, side), flags=cv2.INTER_LINEAR)
    level = np.where(level >= 128, 255, 0).astype(np.uint8)
    x, y, bw, bh = cv2.boundingRect(level)
    return level[y : y + bh, x : x + bw] if bw and bh else mask


def _tilt(mask: np.ndarray) -> float:
    """The tilt in degrees (positive: falling to the right) shared by a body's straight top and
    bottom edges, measured over their middle three fifths; 0 when level or not so."""
    h, w = mask.shape
    cols = np.arange(w // 5, w - w // 5)
    if len(cols) < 12 or h < 8:
        return 0.0
    on = mask[:, cols] > 0
    slopes = []
    for edge in (on.argmax(axis=0), h - 1 - on[::-1].argmax(axis=0)):
        slope, offset = np.polyfit(cols, edge, 1)
        if np.percentile(np.abs(edge - (slope * cols + offset)), 90) > 1.5:
            return 0.0  # not a straight line
        slopes.append(slope)
    tilt = float(np.degrees(np.arctan(np.mean(slopes))))
    if abs(slopes[0] - slopes[1]) > np.tan(np.radians(1.0)) or not _TILT[0] <= abs(tilt) <= _TILT[1]:
        return 0.0
    if abs(np.mean(slopes)) * len(cols) < 2.0:
        return 0.0  # a pixel's step along a level edge (a flat cylinder's end) is no tilt
    return tilt


def is_label_plate(page: Page, region: Region) -> bool:
    """Whether a filled region is the plate an edge label is written on, not a shape.

    Mermaid (and many drawing tools) put an arrow's label on a filled box with no outline, the
    connector stopping at two opposite sides of it; every shape of a chart has an outline darker
    than its fill, so an outline-less fill crossed by a line is a label.

    >>> from flowparse.backends.classical.page import analyse_page
    >>> img = np.full((120, 120, 3), 255, np.uint8); _ = cv2.line(img, (60, 0), (60, 119), (60, 60, 60), 2)
    >>> _ = cv2.rectangle(img, (35, 45), (85, 75), (232, 232, 232), -1)
    >>> page = analyse_page(img); [is_label_plate(page, r) for r in find_shapes(page)]
    [True]
    """
    if region.hollow:
        return False
    view = (slice(region.y, region.y + region.h), slice(region.x, region.x + region.w))
    fill_contrast = colour_gap(region.fill, page.background)
    darker = np.where(page.diff[view] > fill_contrast + 10, 255, 0).astype(np.uint8)
    # An outline is on the rim, a sketchy one a pixel or two off it; text on a tight plate comes near it.
    reach = max(4, int(round(page.pen)) + 2)
    near_dark = cv2.dilate(darker, np.ones((reach, reach), np.uint8)) > 0
    rim = (region.mask > 0) & ~(cv2.erode(region.mask, np.ones((3, 3), np.uint8)) > 0)
    if np.count_nonzero(rim) == 0:
        return False  # too small to tell: a shape
    if near_dark[rim].mean() >= 0.7 and min(_side_fractions(near_dark, rim)) >= 0.2:
        return False  # outlined all round: a shape (text near a plate's rim leaves a side bare)
    return _crossed_by_a_line(page, region)


def _side_fractions(marked: np.ndarray, rim: np.ndarray) -> list[float]:
    """Per side of the box (left, right, top, bottom), the share of ``rim`` pixels nearest that
    side that are ``marked`` (1.0 for a side with hardly any rim, as a diamond's corners)."""
    ys, xs = np.nonzero(rim)
    h, w = rim.shape
    side = np.argmin(np.stack([xs, w - 1 - xs, ys, h - 1 - ys]), axis=0)
    return [float(marked[ys[side == k], xs[side == k]].mean()) if np.count_nonzero(side == k) >= 4 else 1.0
            for k in range(4)]


def _crossed_by_a_line(page: Page, region: Region) -> bool:
    """Whether line ink meets the region from two opposite sides (above and below, or left and right)."""
    x1, y1, x2, y2 = region.bbox
    gap = int(round(page.pen)) + 2
    H, W = page.ink.shape
    above = page.ink[max(0, y1 - gap) : y1, x1:x2]
    below = page.ink[y2 : min(H, y2 + gap), x1:x2]
    left = page.ink[y1:y2, max(0, x1 - gap) : x1]
    right = page.ink[y1:y2, x2 : min(W, x2 + gap)]
    return bool((above.any() and below.any()) or (left.any() and right.any()))


def sides_run_on(page: Page, region: Region) -> bool:
    """Whether a side of the region's box goes on as a line past a corner: page boxed in by
    crossing connectors, not a drawn shape (a shape's outline turns at its corners).

    >>> from flowparse.backends.classical.page import analyse_page
    >>> img = np.full((200, 300, 3), 255, np.uint8)
    >>> _ = cv2.rectangle(img, (100, 60), (200, 140), (0, 0, 0), 2)
    >>> page = analyse_page(img); [sides_run_on(page, r) for r in find_shapes(page)]
    [False]
    >>> _ = cv2.line(img, (20, 60), (100, 60), (0, 0, 0), 2)   # the top side, drawn on to the left
    >>> page = analyse_page(img); [sides_run_on(page, r) for r in find_shapes(page)]
    [True]
    """
    x1, y1, x2, y2 = region.bbox
    g = int(round(page.pen)) + 2  # the outline's own rows or columns, inside the box
    gap, reach = g + 1, max(12, 5 * g)
    H, W = page.ink.shape
    ink = page.ink > 0

    def full(band: np.ndarray, axis: int) -> bool:  # ink all along the band
        return band.size > 0 and band.shape[axis] >= reach - gap and float(np.mean(band.any(axis=1 - axis))) >= 0.9

    beyond = (
        [ink[y:y + g, max(0, x1 - reach):max(0, x1 - gap)] for y in (y1, y2 - g)]
        + [ink[y:y + g, min(W, x2 + gap):min(W, x2 + reach)] for y in (y1, y2 - g)]
    )
    if any(full(band, 1) for band in beyond):
        return True
    beyond = (
        [ink[max(0, y1 - reach):max(0, y1 - gap), x:x + g] for x in (x1, x2 - g)]
        + [ink[min(H, y2 + gap):min(H, y2 + reach), x:x + g] for x in (x1, x2 - g)]
    )
    return any(full(band, 0) for band in beyond)


def _inner_ring_in_fill(page: Page, region: Region) -> Region | None:
    """The inner ring of a filled double circle that is one solid to the shape finder (Mermaid's,
    drawn 30 off its fill; in the hand-drawn look, in ink on a hachure): the flat fill inside it,
    set in from the outline all round, centred, at least 45 % of the body, with flat fill round
    it too (a thick outline sets a plain fill in). In a plain circle the flat fill runs out to
    the outline (letters' holes are small)."""
    x, y, h, w = region.x, region.y, region.h, region.w
    rgb = page.rgb[y : y + h, x : x + w].astype(np.int16)
    flat = np.abs(rgb - np.array(region.fill, np.int16)).max(axis=2) <= (45 if region.hachure else 6)
    if region.hachure:  # its hairlines are fill too; the ring is drawn in the outline's ink
        flat |= faded_to_page(rgb, region.fill, page.background)
    flat &= region.mask > 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(flat.astype(np.uint8), connectivity=4)
    for i in range(1, n):
        bx, by, bw, bh, _ = stats[i]
        inset = min(bx, by, w - bx - bw, h - by - bh)
        centred = abs(bx + bw / 2 - w / 2) <= 0.1 * w and abs(by + bh / 2 - h / 2) <= 0.1 * h
        if inset < 3 or not centred:
            continue
        disc = _fill_holes(np.where(labels[by : by + bh, bx : bx + bw] == i, 255, 0).astype(np.uint8))
        around = np.count_nonzero(flat) - np.count_nonzero(flat[by : by + bh, bx : bx + bw] & (disc > 0))
        if 0.45 * region.area <= np.count_nonzero(disc) < region.area and around >= 0.1 * region.area:
            return Region(x=x + int(bx), y=y + int(by), mask=disc, hollow=False, fill=region.fill)
    return None


def _outside_hachures(interiors: list[Region], solids: list[Region]) -> list[Region]:
    """``interiors`` less those inside a hachure fill: page between its hairlines, not shapes."""
    return [r for r in interiors if not any(s.hachure and _contains(s, r) for s in solids)]


def _has_round_corners(mask: np.ndarray, pen: float) -> bool:
    """Whether a box's corners are cut by a small radius (Mermaid's 5 px), too small for the
    templates on the coarse grid: count the page in each corner square at full resolution.
    A sharp corner leaves only the round-off of growing the interior by a pen (about g^2 / 5)."""
    g = int(round(pen))
    k = g + 4
    if mask.shape[0] < 3 * k or mask.shape[1] < 3 * k:
        return False
    # only straight, axis-aligned sides: a hand-drawn box's wobble also leaves page at its corners
    if not _straight_sides(mask, k):
        return False
    empty = sorted(_corner_gaps(mask, k))
    return empty[1] >= 3 + 0.5 * g * g  # the second fewest: a line may join at one corner


def _has_sharp_corners(mask: np.ndarray, pen: float) -> bool:
    """Whether a box the templates took for rounded has sharp corners after all: a hand-drawn
    rectangle's wavering sides miss the grid's square template as much as its corners would.
    Each corner is measured against its own sides (their level a third to half of the short side
    away, where a wobble elsewhere does not count): a sharp corner comes within a pixel of where
    the sides meet, a rounded one stays 0.41 of its radius short. Straight-sided boxes are left
    to the templates and ``_has_round_corners``; filled ones to the templates (a rough.js box's
    hachured fill takes its 5 px rounding nearly square: on the tuning set, 4 of 25 read rectangles)."""
    k = int(round(pen)) + 4
    if mask.shape[0] < 3 * k or mask.shape[1] < 3 * k or _straight_sides(mask, k):
        return False
    return sorted(_corner_insets(mask))[1] <= 1  # the second smallest: a line may join at one corner


def _straight_sides(mask: np.ndarray, k: int) -> bool:
    """Whether a box body's sides are straight and axis-aligned: its rows and columns, k in from
    the corners, nearly all run its whole width and height."""
    rows, cols = np.count_nonzero(mask[k:-k], axis=1), np.count_nonzero(mask[:, k:-k], axis=0)
    return np.mean(rows >= mask.shape[1] - 1) >= 0.9 and np.mean(cols >= mask.shape[0] - 1) >= 0.9


def _corner_insets(mask: np.ndarray) -> list[int]:
    """How far in from where its two sides meet each corner of a body is, along the diagonal, in
    pixels: top left, top right, bottom left, bottom right."""
    h, w = mask.shape
    on = mask > 0
    near, far = int(0.3 * min(h, w)), max(int(0.5 * min(h, w)), int(0.3 * min(h, w)) + 1)
    # the first row (column) of body from each side, per column (row)
    top, bottom = on.argmax(axis=0), h - 1 - on[::-1].argmax(axis=0)
    left, right = on.argmax(axis=1), w - 1 - on[:, ::-1].argmax(axis=1)
    steps, insets = np.arange(min(h, w) // 2), []
    for ys, xs, sy, sx in ((top, left, 1, 1), (top, right, 1, -1), (bottom, left, -1, 1), (bottom, right, -1, -1)):
        cols = slice(near, far) if sx == 1 else slice(w - far, w - near)
        rows = slice(near, far) if sy == 1 else slice(h - far, h - near)
        y, x = float(np.median(ys[cols])), float(np.median(xs[rows]))
        yy = np.clip(np.round(y + sy * steps).astype(int), 0, h - 1)
        xx = np.clip(np.round(x + sx * steps).astype(int), 0, w - 1)
        hit = on[yy, xx]
        insets.append(int(hit.argmax()) if hit.any() else len(steps))
    return insets


def _has_folded_corner(mask: np.ndarray) -> bool:
    """Whether a box's top right corner is cut off (Graphviz's note: a sheet with a folded
    corner, too small a fold for the 48 x 48 grid) while its other corners are square and its
    sides straight: page fills much of the top right corner square, and hardly any of the others."""
    h, w = mask.shape
    k = max(6, int(0.25 * min(h, w)))
    if h < 3 * k or w < 3 * k:
        return False
    body = mask > 0
    # straight sides: the rows below the fold and the columns left of it run the whole box
    if body[k:-2, 1:-1].all(axis=1).mean() < 0.9 or body[1:-1, 2:-k].all(axis=0).mean() < 0.9:
        return False
    top_left, top_right, *bottom = _corner_gaps(mask, k)
    return top_right >= 0.2 * k * k and max(top_left, *bottom) <= 0.05 * k * k


def _corner_gaps(mask: np.ndarray, k: int) -> list[int]:
    """Pixels of page in each k x k corner square of a body: top left, top right, bottom left,
    bottom right."""
    corners = (mask[:k, :k], mask[:k, -k:], mask[-k:, :k], mask[-k:, -k:])
    return [k * k - int(np.count_nonzero(c)) for c in corners]


def _interiors(page: Page) -> list[Region]:
    """Regions of page fenced in by ink, grown by one pen width to cover their outline."""
    return [_interior(page, raw, x0, y0) for x0, y0, raw in _fenced(page, page.ink)]


def _faint_interiors(page: Page, found: list[Region]) -> list[Region]:
    """Regions of page fenced in at line contrast where neither ink nor a fill ``found`` a shape,
    marked ``faint``: a thin pale pen, anti-aliased, falls under ink contrast here and there (a
    sketchy box's corners, where its strokes cross at a slant), and its box leaks out there.

    A piece of page lying mostly in a body found already is that shape; one round an outlined
    one is page between connectors (round a fill it may be a shape still: blurred text makes
    fills).
    """
    taken = np.zeros_like(page.ink)
    for region in found:
        region.paste(taken)
    faint = np.where(page.diff > LINE_CONTRAST, 255, 0).astype(np.uint8)
    regions = []
    for x0, y0, raw in _fenced(page, faint):
        seen = taken[y0 : y0 + raw.shape[0], x0 : x0 + raw.shape[1]]
        if np.count_nonzero(seen[raw > 0]) > 0.5 * np.count_nonzero(raw):
            continue
        x, y, w, h = cv2.boundingRect(raw)
        box = Region(x=x0 + x, y=y0 + y, mask=np.ones((h, w), np.uint8), hollow=True)
        if any(other.hollow and _contains(box, other) for other in found):
            continue
        region = _interior(page, raw, x0, y0)
        region.faint = True
        regions.append(region)
    return regions


def _outline_reach(page: Page) -> tuple[int, int]:
    """How far a body grows over its outline: one pen, and at most how much bolder than the pen
    an outline may be."""
    grow = max(1, int(round(page.pen)))
    return grow, max(2 * grow, 4)


def _fenced(page: Page, fence: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """The pieces of page that ``fence`` closes in, big enough for a shape, each cropped with
    room round it for its outline: (x0, y0, mask)."""
    grow, limit = _outline_reach(page)
    pad = grow + limit + 1
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.bitwise_not(fence), connectivity=4)
    H, W = fence.shape
    pieces = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area < MIN_AREA or w < 8 or h < 8 or x == 0 or y == 0 or x + w >= W or y + h >= H:
            continue
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(W, x + w + pad), min(H, y + h + pad)
        pieces.append((x0, y0, np.where(labels[y0:y1, x0:x1] == i, 255, 0).astype(np.uint8)))
    return pieces


def _interior(page: Page, raw: np.ndarray, x0: int, y0: int) -> Region:
    """The shape round a piece of fenced-in page: its holes filled (text), grown over its outline."""
    grow, limit = _outline_reach(page)
    y1, x1 = y0 + raw.shape[0], x0 + raw.shape[1]
    inside = _repair_notches(_fill_holes(raw), page.ink[y0:y1, x0:x1], grow)
    body = cv2.dilate(inside, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    bold = _reach(body, page.ink[y0:y1, x0:x1], limit)
    if bold:  # square, so that a bold box keeps its square corners
        body = cv2.dilate(body, np.ones((2 * bold + 1, 2 * bold + 1), np.uint8))
    fill = _median_colour(page.rgb[y0:y1, x0:x1], raw > 0)
    region = _crop_region(body, x0, y0, hollow=True, fill=fill)
    region.inked = int(np.count_nonzero(inside)) - int(np.count_nonzero(raw)) >= 15  # holes in it: text
    region.bold = bold
    return region


def _reach(body: np.ndarray, ink: np.ndarray, limit: int) -> int:
    """How far ink goes on round ``body``: each ring a pixel further out while it is mostly ink,
    up to ``limit``. A body covers one pen, the chart's commonest stroke (its connectors'); a
    shape drawn bolder (Graphviz's bold nodes) must not leave the rest of its outline outside."""
    distance = cv2.distanceTransform(cv2.bitwise_not(body), cv2.DIST_L2, 5)
    reach = 0
    while reach < limit:
        ring = (distance > reach) & (distance <= reach + 1)
        if not ring.any() or np.count_nonzero(ink[ring]) < 0.5 * np.count_nonzero(ring):
            break
        reach += 1
    return reach


def _solids(page: Page) -> list[Region]:
    """Filled shapes: tinted blobs that survive an opening wider than any pen."""
    # Wider than any pen and than an arrowhead's inscribed circle, narrower than any shape.
    k = max(int(2 * page.pen + 4), 11) | 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    outline = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(round(page.pen)) + 3,) * 2)
    # hachure fills (Mermaid's hand-drawn look) streak a fill with hairlines of page: close them
    tint = cv2.morphologyEx(page.tint, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    opened = cv2.morphologyEx(tint, cv2.MORPH_OPEN, disc)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    H, W = opened.shape
    regions = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area < MIN_AREA * 2 or w < 10 or h < 8:
            continue
        x0, y0, x1, y1 = max(0, x - k), max(0, y - k), min(W, x + w + k), min(H, y + h + k)
        core = np.where(labels[y0:y1, x0:x1] == i, 255, 0).astype(np.uint8)
        found = _same_colour_core(page.rgb[y0:y1, x0:x1], core, disc, page.background)
        if found is None:
            continue
        core, similar, hachure = found
        # Opening cut off corners and tips: grow the core back through its own colour (never
        # into a black arrowhead or a white ring), then out over the outline, a pen wide. A pale
        # fill is "similar" to the page too: growing over page would reach connector stubs and
        # arrowheads beyond a faint outline (Mermaid's neutral theme) and bend the body's shape.
        similar = cv2.bitwise_and(similar, page.tint[y0:y1, x0:x1])
        for _ in range(k):
            core = cv2.bitwise_and(cv2.dilate(core, np.ones((3, 3), np.uint8)), similar)
        filled = _fill_holes(core)
        body = _fill_holes(cv2.bitwise_and(page.tint[y0:y1, x0:x1], cv2.dilate(filled, outline)))
        body = _without_stubs(body, outline)
        fill = _median_colour(page.rgb[y0:y1, x0:x1], core > 0)
        region = _crop_region(body, x0, y0, hollow=False, fill=fill)
        region.inked = int(np.count_nonzero(filled)) - int(np.count_nonzero(core)) >= 15
        region.hachure = hachure
        regions.append(region)
    if any(r.hachure for r in regions):  # a look is the page's: small fills' hairlines are short
        for region in regions:
            region.hachure = True
    return regions


def _without_stubs(body: np.ndarray, disc: np.ndarray) -> np.ndarray:
    """``body`` without the thin things stuck to it (a connector's end, an arrowhead's tip): an
    opening a little wider than a pen cuts them, and the largest part left is the shape."""
    opened = cv2.morphologyEx(body, cv2.MORPH_OPEN, disc)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if n < 2:
        return body
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    body = np.where(labels == best, 255, 0).astype(np.uint8)
    depth = disc.shape[0]
    for turn in range(4):  # each side in turn: rows past a flat side are a line's end, not the shape
        body = np.rot90(_trim_flat_side(np.rot90(body, turn), depth), -turn)
    return np.ascontiguousarray(body)


def _trim_flat_side(body: np.ndarray, depth: int) -> np.ndarray:
    """Clear the top rows of ``body`` that are a stub (< 20 % of its width) sitting on a flat
    side (a row >= 80 % wide within ``depth`` rows); a diamond's or ellipse's tip grows slowly."""
    counts = np.count_nonzero(body, axis=1)
    rows = np.flatnonzero(counts)
    if rows.size == 0:
        return body
    widest, top = counts.max(), rows[0]
    for k in range(top, min(top + depth, body.shape[0])):
        if counts[k] >= 0.8 * widest:
            if k > top and counts[top:k].max() < 0.2 * widest:
                body = body.copy()
                body[top:k] = 0
            break
    return body


def _same_colour_core(
    rgb: np.ndarray, core: np.ndarray, disc: np.ndarray, page_colour: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """The largest part of ``core`` in its dominant colour (a black arrowhead touching a red box
    survives the opening with the box, but is not red), the pixels in that colour, and whether
    the colour is a hachure's."""
    fill = np.median(rgb[core > 0], axis=0)
    similar = np.abs(rgb.astype(np.int16) - fill.astype(np.int16)).max(axis=2) <= 45
    hairlines = _hairlines(rgb, similar, fill, page_colour, 3 * disc.shape[0] // 2)
    similar |= hairlines
    # Letters written on the fill are holes in it: fill them before the opening splits the fill.
    same = _fill_holes(np.where(similar & (core > 0), 255, 0).astype(np.uint8))
    same = cv2.morphologyEx(same, cv2.MORPH_OPEN, disc)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(same, connectivity=8)
    if n < 2:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < MIN_AREA * 2:
        return None
    core = np.where(labels == best, 255, 0).astype(np.uint8)
    return core, np.where(similar, 255, 0).astype(np.uint8), bool(hairlines.any())


def _hairlines(rgb: np.ndarray, similar: np.ndarray, fill, page_colour, length: int) -> np.ndarray:
    """The hairlines of page a hachure fill (Mermaid's hand-drawn look) streaks the fill with:
    lines under 3 px wide in blends of the fill with the page, three or more of them straight,
    slanted, parallel and ``length`` long (more in a bigger fill). They would cut the fill into
    strips the opening takes for lines. Dark letters are no such blends; pale letters on a dark
    fill are, but no straight lines; the gaps between blurred letters are short, and a photo's
    grain is sparse."""
    blend = ~similar & faded_to_page(rgb, fill, page_colour)
    thick = cv2.morphologyEx(blend.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    thin = blend & ~thick
    n, labels, stats, _ = cv2.connectedComponentsWithStats(thin.astype(np.uint8), connectivity=8)
    angles = []
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        if max(w, h) >= length and min(w, h) >= 0.3 * max(w, h):
            ys, xs = np.nonzero(labels[y : y + h, x : x + w] == i)
            angle = _straight_line_angle(xs, ys)
            if angle is not None:
                angles.append(angle)
    parallel = max((sum(abs((a - b + 90) % 180 - 90) <= 8 for b in angles) for a in angles), default=0)
    # A hachure streaks all of its fill: 1.7 to 8.8 such lines per 100 px of width and height
    # on the tuning set's Mermaid fills (tenth percentile to most), 0.3 on a photographed page.
    return thin if parallel >= max(3, 0.01 * sum(rgb.shape[:2])) else np.zeros_like(thin)


def _straight_line_angle(xs: np.ndarray, ys: np.ndarray, tolerance: float = 1.5) -> float | None:
    """The direction (degrees) of the straight line the pixels lie along, none further than
    ``tolerance`` from it; None when they do not."""
    vx, vy, cx, cy = cv2.fitLine(np.stack([xs, ys], 1).astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
    if np.abs((xs - cx) * vy - (ys - cy) * vx).max() > tolerance:
        return None
    return float(np.degrees(np.arctan2(vy, vx)) % 180)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(mask)
    cv2.drawContours(out, contours, -1, 255, cv2.FILLED)
    return out


def _repair_notches(inside: np.ndarray, ink: np.ndarray, pen: int) -> np.ndarray:
    """Give back the bites text touching the outline takes out of an interior.

    Ink inside the convex hull (kept a pen width away from the outline) belongs to the shape.
    """
    points = cv2.findNonZero(inside)
    if points is None:
        return inside
    hull = np.zeros_like(inside)
    cv2.fillConvexPoly(hull, cv2.convexHull(points), 255)
    hull = cv2.erode(hull, np.ones((2 * pen + 1, 2 * pen + 1), np.uint8))
    return _fill_holes(cv2.bitwise_or(inside, cv2.bitwise_and(ink, hull)))


def _crop_region(body: np.ndarray, x0: int, y0: int, *, hollow: bool, fill: tuple) -> Region:
    x, y, w, h = cv2.boundingRect(body)
    return Region(x=int(x0 + x), y=int(y0 + y), mask=body[y : y + h, x : x + w].copy(), hollow=hollow, fill=fill)


def _median_colour(rgb: np.ndarray, where: np.ndarray) -> tuple[int, int, int]:
    pixels = rgb[where]
    if pixels.size == 0:
        return (255, 255, 255)
    return tuple(int(v) for v in np.median(pixels, axis=0))


def _intersection(a: Region, b: Region) -> int:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    if x1 <= x0 or y1 <= y0:
        return 0
    ma = a.mask[y0 - a.y : y1 - a.y, x0 - a.x : x1 - a.x]
    mb = b.mask[y0 - b.y : y1 - b.y, x0 - b.x : x1 - b.x]
    return int(np.count_nonzero((ma > 0) & (mb > 0)))


def _contact(a: Region, b: Region) -> int:
    """Pixels of ``b`` within one pixel of ``a``: how long a stroke the two share, also where the
    stroke is two pixels wide and each side's body took one of them."""
    if a.x - 1 >= b.x + b.w or b.x >= a.x + a.w + 1 or a.y - 1 >= b.y + b.h or b.y >= a.y + a.h + 1:
        return 0
    grown = cv2.dilate(np.pad(a.mask, 1), np.ones((3, 3), np.uint8))
    return _intersection(Region(x=a.x - 1, y=a.y - 1, mask=grown, hollow=a.hollow), b)


def _iou(a: Region, b: Region) -> float:
    inter = _intersection(a, b)
    return inter / max(1, a.area + b.area - inter) if inter else 0.0


def _overlap(a: Region, b: Region) -> float:
    """Intersection over the smaller body."""
    inter = _intersection(a, b)
    return inter / max(1, min(a.area, b.area)) if inter else 0.0


def _contains(outer: Region, inner: Region, slack: int = 2) -> bool:
    return (
        inner.x >= outer.x - slack
        and inner.y >= outer.y - slack
        and inner.x + inner.w <= outer.x + outer.w + slack
        and inner.y + inner.h <= outer.y + outer.h + slack
        and inner.area < outer.area
    )


def _twins(a: Region, b: Region, pen: float) -> bool:
    """One shape found twice (a light fill inside its outline): nearly the same body, same colour.

    A filled double circle also nests a solid in an interior, but the interior there is the
    white ring, not the fill's colour."""
    same_colour = max(abs(u - v) for u, v in zip(a.fill, b.fill)) <= 30
    return same_colour and _iou(a, b) > 0.75


def _inset(outer: Region, inner: Region) -> float:
    return min(
        inner.x - outer.x,
        inner.y - outer.y,
        outer.x + outer.w - inner.x - inner.w,
        outer.y + outer.h - inner.y - inner.h,
    )


#: A filled region inside an outlined one whose fill is this close to the outline's fill is that
#: fill, found in part where a photo's noise speckles it about the tint contrast (4-8 apart on
#: the tuning sets), not a shape inside a frame: Mermaid draws nodes 11 (base theme) to 14
#: (neutral) apart from their subgraph's fill.
OWN_FILL_GAP = 8


def _resolve_nesting(regions: list[Region], pen: float) -> list[Region]:
    """Inner rings make double circles; small insides are letter holes; big outsides are frames."""
    regions = sorted(regions, key=lambda r: -r.area)
    dropped: set[int] = set()
    for i, outer in enumerate(regions):
        if i in dropped:
            continue
        inside = [j for j in range(i + 1, len(regions)) if j not in dropped and _contains(outer, regions[j])]
        for j in inside:
            inner = regions[j]
            ratio = inner.area / outer.area
            concentric = (
                abs((inner.x + inner.w / 2) - (outer.x + outer.w / 2)) < 0.1 * outer.w
                and abs((inner.y + inner.h / 2) - (outer.y + outer.h / 2)) < 0.1 * outer.h
            )
            if ratio >= 0.45 and concentric:
                if not outer.parts:  # later concentric insides are the same inner ring found twice
                    outer.parts = ["outer", "inner"]
                    outer.inner = inner
                dropped.add(j)
            elif inner.area < 4 * MIN_AREA and not _part_of_another(inner, outer, regions, pen):
                dropped.add(j)  # a letter's hole, or a speck drawn inside the shape
            elif outer.hollow and not inner.hollow and colour_gap(inner.fill, outer.fill) <= OWN_FILL_GAP:
                dropped.add(j)  # the shape's own fill, found in part where noise speckles it
        big = [j for j in inside if j not in dropped]
        if big:
            dropped.add(i)  # a frame, a cluster box or page fenced in by connectors: not a node
    return [r for k, r in enumerate(regions) if k not in dropped]


def _part_of_another(inner: Region, outer: Region, regions: list[Region], pen: float) -> bool:
    """Whether a small region is a side bar or a lid of a big one that ``outer`` does not hold: a
    subroutine's side bar, which page fenced in by connectors can enclose, is not a letter hole."""
    return any(
        (_is_side_bar(inner, r, pen) or _is_lid(inner, r, pen))
        and not _contains(outer, r)
        and _contact(inner, r) >= 4 * max(1.0, pen)
        for r in regions
        if r is not inner and r is not outer and r.area >= 4 * MIN_AREA
    )


# --- naming shapes by their best template -------------------------------------------------------

#: How much of a cylinder's bottom edge's ups and downs an arc explains at least. Over 162 bodies
#: that the cylinder template fitted best on the tuning sets, this kept 83 of 85 cylinders (a flat
#: Graphviz one's 2 px arc explains 0.69 and up) and 6 of 77 sketchy boxes and stadiums.
ARC_EXPLAINS = 0.65

#: Tie-breaking penalty: a simpler shape wins unless a fancier one fits clearly better.
_PENALTY = {"rectangle": 0.0, "ellipse": 0.0, "diamond": 0.0, "rounded_rectangle": 0.006, "stadium": 0.004}


def classify_mask(mask: np.ndarray, *, hollow: bool = True, pen: float = 1.0) -> tuple[str, float]:
    """The canonical shape whose template best matches ``mask`` (a body crop) and the match IoU.

    >>> m = np.zeros((40, 80), np.uint8); _ = cv2.fillPoly(m, [np.array([[40, 0], [79, 20], [40, 39], [0, 20]])], 255)
    >>> name, fit = classify_mask(m); name, fit > 0.9
    ('diamond', True)
    """
    h, w = mask.shape
    grid = (cv2.resize(mask, (GRID, GRID), interpolation=cv2.INTER_AREA) > 127).astype(np.uint8)
    best, best_score, best_fit = "other", -1.0, 0.0
    fits: dict[str, float] = {}
    arc_below = _bottom_arc(mask) >= 0.04  # 2 px or more below, for shapes up to 50 px tall
    # A box's body grown over its outline by the pen's disc has corners that round, and a thick
    # outline's joints round them more: a corner no rounder than that is a rectangle's own
    # (thick PIL boxes, pen 3, came out rounded; Mermaid's 5 px radius on a 1 px pen stays).
    sharp = (1.5 * pen + 1) / max(1, min(w, h))
    for name, template, corner in _templates(w, h):
        if (name == "cylinder" and not arc_below) or (name == "rounded_rectangle" and corner <= sharp):
            continue
        inter = np.count_nonzero(grid & template)
        fit = inter / max(1, np.count_nonzero(grid | template))
        fits[name] = max(fit, fits.get(name, 0.0))
        score = fit - _PENALTY.get(name, 0.01)
        if score > best_score:
            best, best_score, best_fit = name, score, fit
    if best in ("stadium", "hexagon") and abs(fits.get("stadium", 0) - fits.get("hexagon", 0)) <= 0.02:
        # A short hexagon and a stadium differ at their ends only, too little for the grid.
        best = "hexagon" if _pointed_ends(mask) else "stadium"
        best_fit = fits[best]
    if best == "ellipse" and 0.85 <= w / max(1, h) <= 1.18:
        best = "circle"
    if best_fit < 0.75:
        best = "other"
    return best, float(best_fit)


def _pointed_ends(mask: np.ndarray) -> bool:
    """Whether the left and right ends of a wide body come to points (straight sides, a
    hexagon's) rather than round (half circles, a stadium's): whether lines fit the ends'
    outlines, row by row, clearly better than half circles.

    >>> hexagon = np.zeros((40, 120), np.uint8)
    >>> _ = cv2.fillPoly(hexagon, [np.array([[10, 0], [109, 0], [119, 20], [109, 39], [10, 39], [0, 20]])], 255)
    >>> stadium = np.zeros((40, 120), np.uint8); _ = cv2.rectangle(stadium, (20, 0), (99, 39), 255, -1)
    >>> _ = cv2.circle(stadium, (20, 20), 19, 255, -1); _ = cv2.circle(stadium, (99, 20), 19, 255, -1)
    >>> _pointed_ends(hexagon), _pointed_ends(stadium)
    (True, False)
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if mask.shape[1] <= mask.shape[0] or rows.size < 8:
        return False
    body = mask[rows] > 0
    left = np.argmax(body, axis=1).astype(float)
    right = (body.shape[1] - 1 - np.argmax(body[:, ::-1], axis=1)).astype(float)
    u = np.abs(np.linspace(-1, 1, rows.size))
    # The outmost rows are where the outline's corners blur either end: judge the rest.
    left, right, u = left[u <= 0.85], right[u <= 0.85], u[u <= 0.85]
    round_end = 1 - np.sqrt(np.clip(1 - u**2, 0, 1))
    pointed, round_ = (sum(_fit_outline(end, curve)[1] for end in (left, -right)) for curve in (u, round_end))
    # Clearly: on the tuning set, hexagons' ends misfit half circles 2 to 6 times as much as lines,
    # a sketchy stadium's about as much.
    return pointed < 0.7 * round_


def _bottom_arc(mask: np.ndarray) -> float:
    """How far the middle of the bottom edge sits below its ends, as a share of the height, when
    that edge is an arc: 0 when half an ellipse explains under ``ARC_EXPLAINS`` of its ups and downs.

    A cylinder's bottom is an arc; a box's bottom is flat. A hand-drawn box's bottom wobbles and
    a stadium's is flat between two sharp bends: on the coarse grid either matches a shallow
    cylinder a little better than its own template, but neither is an arc.

    >>> box = np.full((30, 90), 255, np.uint8); _bottom_arc(box)
    0.0
    >>> u = np.linspace(-1, 1, 90); sag = np.round(4 * np.sqrt(1 - u ** 2)).astype(int)
    >>> drum = np.zeros((30, 90), np.uint8)
    >>> for x, d in enumerate(sag): drum[: 26 + d, x] = 255
    >>> round(_bottom_arc(drum) * 30)  # its sag in px
    4
    >>> wobbly = box.copy(); wobbly[27:, 20:35] = wobbly[28:, 60:70] = 0; _bottom_arc(wobbly)
    0.0
    """
    h, w = mask.shape
    columns = np.arange(int(0.04 * w), int(0.96 * w))
    columns = columns[mask[:, columns].max(axis=0) > 0]
    if len(columns) < 8:
        return 0.0
    bottom = (h - 1 - np.argmax(mask[::-1, columns] > 0, axis=0)).astype(float)
    arc = np.sqrt(np.clip(1 - (2 * columns / (w - 1) - 1) ** 2, 0, 1))
    depth, left = _fit_outline(bottom, arc)
    spread = np.sum((bottom - bottom.mean()) ** 2)
    if spread == 0 or left > (1 - ARC_EXPLAINS) * spread:
        return 0.0
    return depth / h


def _fit_outline(edge: np.ndarray, curve: np.ndarray) -> tuple[float, float]:
    """Least squares of ``edge`` (an outline's position, row or column by column) as an offset
    plus a multiple of ``curve``: that multiple, and the squared misfit left."""
    design = np.c_[np.ones_like(curve), curve]
    fit, *_ = np.linalg.lstsq(design, edge, rcond=None)
    return float(fit[1]), float(np.sum((edge - design @ fit) ** 2))


_TEMPLATE_CACHE: dict[tuple[int, int], list] = {}


def _templates(w: int, h: int) -> list[tuple[str, np.ndarray, float]]:
    """Templates on the grid for a w x h box (radii depend on the aspect; cached by rounded aspect):
    name, grid, and a rounded rectangle's corner radius as a share of the short side (else 0)."""
    aspect = max(0.1, min(10.0, w / max(1, h)))
    key = (round(aspect * 8), 0)
    if key not in _TEMPLATE_CACHE:
        _TEMPLATE_CACHE[key] = list(_draw_templates(round(aspect * 8) / 8))
    return _TEMPLATE_CACHE[key]


def _poly(points) -> np.ndarray:
    t = np.zeros((GRID, GRID), np.uint8)
    pts = np.array([[round(x * (GRID - 1)), round(y * (GRID - 1))] for x, y in points], np.int32)
    cv2.fillPoly(t, [pts], 1)
    return t


def _rounded(rx: float, ry: float) -> np.ndarray:
    """A rounded rectangle with corner radii rx, ry as fractions of the grid."""
    t = np.zeros((GRID, GRID), np.uint8)
    g = GRID - 1
    ax, ay = max(0.5, rx * g), max(0.5, ry * g)
    cv2.rectangle(t, (int(round(ax)), 0), (int(round(g - ax)), g), 1, cv2.FILLED)
    cv2.rectangle(t, (0, int(round(ay))), (g, int(round(g - ay))), 1, cv2.FILLED)
    for cx, cy in ((ax, ay), (g - ax, ay), (ax, g - ay), (g - ax, g - ay)):
        cv2.ellipse(t, (int(round(cx)), int(round(cy))), (int(round(ax)), int(round(ay))), 0, 0, 360, 1, cv2.FILLED)
    return t


def _draw_templates(aspect: float):
    g = GRID - 1
    yield "rectangle", np.ones((GRID, GRID), np.uint8), 0.0
    ellipse = np.zeros((GRID, GRID), np.uint8)
    cv2.ellipse(ellipse, (int(g / 2), int(g / 2)), (int(round(g / 2)), int(round(g / 2))), 0, 0, 360, 1, cv2.FILLED)
    yield "ellipse", ellipse, 0.0
    yield "diamond", _poly([(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)]), 0.0
    # Corner radius as a fraction of the short side; x and y fractions differ with the aspect.
    short_over_w, short_over_h = min(1.0, 1 / aspect), min(1.0, aspect)
    for r in (0.1, 0.15, 0.2, 0.27, 0.35):
        yield "rounded_rectangle", _rounded(r * short_over_w, r * short_over_h), r
    if aspect > 1.05:
        yield "stadium", _rounded(0.5 * short_over_w, 0.5), 0.0
    elif aspect < 0.95:
        yield "stadium", _rounded(0.5, 0.5 * short_over_h), 0.0
    for k in (0.06, 0.1, 0.15, 0.2, 0.26, 0.33):
        yield "hexagon", _poly([(k, 0), (1 - k, 0), (1, 0.5), (1 - k, 1), (k, 1), (0, 0.5)]), 0.0
        yield "parallelogram", _poly([(k, 0), (1, 0), (1 - k, 1), (0, 1)]), 0.0
        yield "parallelogram_alt", _poly([(0, 0), (1 - k, 0), (1, 1), (k, 1)]), 0.0
        yield "trapezoid", _poly([(k, 0), (1 - k, 0), (1, 1), (0, 1)]), 0.0
        yield "trapezoid_alt", _poly([(0, 0), (1, 0), (1 - k, 1), (k, 1)]), 0.0
        yield "asymmetric", _poly([(0, 0), (1, 0), (1, 1), (0, 1), (k * 1.2, 0.5)]), 0.0
    xs = np.linspace(0, 1, 25)
    arc = np.sqrt(np.clip(1 - (2 * xs - 1) ** 2, 0, 1))
    for c in (0.06, 0.1, 0.15, 0.2):
        # Outlined cylinders show their body (lid arc on top), filled ones the whole outline.
        body = [(x, c * a) for x, a in zip(xs, arc)] + [(x, 1 - c + c * a) for x, a in zip(xs[::-1], arc[::-1])]
        yield "cylinder", _poly(body), 0.0
        whole = [(x, c * (1 - a)) for x, a in zip(xs, arc)] + [(x, 1 - c + c * a) for x, a in zip(xs[::-1], arc[::-1])]
        yield "cylinder", _poly(whole), 0.0
    for f in (0.12, 0.2, 0.3):
        # A sheet with its top right corner folded (Graphviz's "note"), the fold as a share of the height.
        fx = f / aspect
        yield "document", _poly([(0, 0), (1 - fx, 0), (1, f), (1, 1), (0, 1)]), 0.0
        # A flag pointing right (Graphviz's "cds"); Mermaid's asymmetric has its notch on the left.
        yield "asymmetric", _poly([(0, 0), (1 - fx * 1.5, 0), (1, 0.5), (1 - fx * 1.5, 1), (0, 1)]), 0.0
    for a in (0.07, 0.11, 0.15):
        bottom = [(x, 1 - a + a * np.sin(2 * np.pi * x)) for x in xs]
        yield "document", _poly([(0, 0), (1, 0), *bottom[::-1]]), 0.0


# --- multi-part outlines ------------------------------------------------------------------------


def _join_parts(regions: list[Region], pen: float) -> list[Region]:
    """Merge regions that share a long stroke: a cylinder's lid, a subroutine's side bars.

    A region sharing long strokes with others but matching no pattern is page fenced in by
    connectors (a loop between shapes), not a shape: it is dropped.
    """
    touching = _touching_pairs(regions, pen)
    merged: set[int] = set()
    out: list[Region] = []
    for i, region in enumerate(regions):
        if i in merged:
            continue
        neighbours = [j for a, b in touching for j in ((b,) if a == i else (a,) if b == i else ()) if j not in merged]
        lid = next((j for j in neighbours if _is_lid(regions[j], region, pen)), None)
        bars = [j for j in neighbours if _is_side_bar(regions[j], region, pen)]
        if lid is not None:
            out.append(_union(region, regions[lid], "cylinder", [region, regions[lid]]))
            merged |= {i, lid}
        elif len(bars) >= 2:
            joined = _union(
                region, regions[bars[0]], "subroutine", [region] + [regions[j] for j in bars],
                more=[regions[j] for j in bars[1:]],
            )
            joined.inner = region  # the text is between the bars, whose lines must not read as "|"
            out.append(joined)
            merged |= {i, *bars}
    rest = [r for k, r in enumerate(regions) if k not in merged]
    return out + _drop_fenced(rest, pen)


def _drop_fenced(regions: list[Region], pen: float) -> list[Region]:
    """Drop page fenced in by connectors: regions sharing strokes with several others go first,
    the most connected first, so that a shape between two fenced regions is judged on what remains."""
    sharing = {k: set(_sharing(k, regions, pen)) for k in range(len(regions))}
    # Page fenced in only at line contrast beside a shape plainly found in ink that shares no
    # stroke with another such (two lines side by side, a connector past a box) is page between
    # them: it goes before it counts against that shape. (Page fenced in by connectors in ink,
    # square with a label in it, shares strokes with the shapes the connectors join.)
    plain = {k for k, r in enumerate(regions) if _plain(r)}
    alive = {
        k for k in range(len(regions))
        if not (regions[k].faint and any(j in plain and not sharing[j] & plain for j in sharing[k]))
    }
    while alive:
        counts = {k: len(sharing[k] & alive) for k in alive}
        worst = max(alive, key=lambda k: (counts[k], -regions[k].fit))
        if counts[worst] < 2:
            break
        alive.remove(worst)
    for k in sorted(alive):
        (other,) = sharing[k] & alive or {None}
        if other is not None and _loses_to(regions[k], regions[other]):
            alive.discard(k)
    return [r for k, r in enumerate(regions) if k in alive]


def _plain(region: Region) -> bool:
    """A shape found in ink, with text, that fits its template well."""
    return not region.faint and region.inked and region.fit >= 0.85


def _sharing(k: int, regions: list[Region], pen: float) -> list[int]:
    """The regions sharing a long stroke with region k."""
    return [j for j in range(len(regions)) if j != k and _intersection(regions[k], regions[j]) >= 4 * max(1.0, pen)]


def _touching_pairs(regions: list[Region], pen: float) -> list[tuple[int, int]]:
    pairs = []
    for i in range(len(regions)):
        for j in range(i + 1, len(regions)):
            if _contact(regions[i], regions[j]) >= 4 * max(1.0, pen):
                pairs.append((i, j))
    return pairs


#: How far a cylinder's lid's fill may be from its body's (per channel, 0-255): over 62 true
#: lids on the tuning sets (degraded ones too) at most 5; a grey box over page fenced in, 10.
LID_FILL = 8


def _is_lid(lid: Region, body: Region, pen: float) -> bool:
    """The lens-shaped top of a cylinder: as wide as the body, much flatter, sitting on it.

    A lid is an ellipse seen nearly edge-on: over 79 true lids it was at most 0.31 as tall as
    wide. Page fenced in by connectors above a tall fenced region was taller (0.47, 0.49). One
    shape has one fill: a filled box or hexagon on top of page fenced in below it is no lid.
    """
    slack = 2 * pen + 3
    return (
        max(abs(a - b) for a, b in zip(lid.fill, body.fill)) <= LID_FILL
        and abs(lid.x - body.x) <= slack
        and abs(lid.x + lid.w - body.x - body.w) <= slack
        and lid.h <= 0.4 * lid.w
        and lid.h < 0.6 * body.h
        and lid.y < body.y + 0.3 * lid.h
    )


def _is_side_bar(bar: Region, body: Region, pen: float) -> bool:
    """A subroutine's narrow side panel: as tall as the body, much narrower, beside it."""
    slack = 2 * pen + 3
    return abs(bar.y - body.y) <= slack and abs(bar.y + bar.h - body.y - body.h) <= slack and bar.w < 0.3 * body.w


def _union(a: Region, b: Region, shape: str, parts: list[Region], more: list[Region] = ()) -> Region:
    members = [a, b, *more]
    x0, y0 = min(r.x for r in members), min(r.y for r in members)
    x1, y1 = max(r.x + r.w for r in members), max(r.y + r.h for r in members)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for r in members:
        mask[r.y - y0 : r.y - y0 + r.h, r.x - x0 : r.x - x0 + r.w] |= r.mask
    mask = _fill_holes(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)))
    fit = float(np.mean([r.fit for r in parts]))
    return Region(
        x=x0, y=y0, mask=mask, hollow=a.hollow, fill=a.fill, shape=shape, fit=fit, parts=[shape],
        hachure=any(r.hachure for r in members),
    )


def _loses_to(mine: Region, other: Region) -> bool:
    """Of two regions sharing a stroke, the one without text, or else the worse fit, is not a shape."""
    if mine.inked != other.inked:
        return not mine.inked
    return mine.fit < min(0.85, other.fit)


def template_mask(shape: str, w: int, h: int) -> np.ndarray:
    """A w x h uint8 mask (0/255) of the canonical ``shape`` filling its box (for given boxes).

    >>> int(template_mask("diamond", 20, 10)[0, 0]), int(template_mask("diamond", 20, 10)[5, 10])
    (0, 255)
    """
    aspect = max(0.1, min(10.0, w / max(1, h)))
    wanted = {"circle": "ellipse", "double_circle": "ellipse", "subroutine": "rectangle"}.get(shape, shape)
    # A middle-sized variant of the shape (for a cylinder: the whole outline, lid included).
    variants = [t for name, t, _ in _draw_templates(aspect) if name == wanted] or [np.ones((GRID, GRID), np.uint8)]
    grid = variants[3] if wanted == "cylinder" else variants[len(variants) // 2]
    return (cv2.resize(grid * 255, (w, h), interpolation=cv2.INTER_NEAREST) > 127).astype(np.uint8) * 255
