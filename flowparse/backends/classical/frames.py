"""Frames around groups of shapes (Graphviz clusters, Mermaid subgraphs): boxes that are not nodes.

A frame is four straight sides, solid or dashed, with square or slightly rounded corners, that
hold at least one shape. Its sides are found as long straight runs of ink. Left in the page,
they would read as connectors that join every arrow crossing them, so the connector pass takes
them out (a crossing keeps its pixels), and the text in a frame's top band (or bottom band) is
the frame's title.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from flowparse.backends.classical.page import LINE_CONTRAST, TINT_CONTRAST, Page, colour_gap
from flowparse.geometry import box_iou

__all__ = ["Frame", "find_frames", "frame_fill", "frame_holds", "frame_ink", "in_band", "stroke_mask", "title_bands"]

Box = tuple[int, int, int, int]


@dataclass
class Frame:
    """A frame: the outer edges of its sides, their thickness, how far its corners are rounded."""

    box: Box
    thickness: int
    corner: int
    members: list[int]  # indices of the shape boxes it holds, nested frames' included
    sides: tuple[Box, ...] = ()  # the runs of ink its sides lie on

    @property
    def inner(self) -> Box:
        x1, y1, x2, y2 = self.box
        t = self.thickness
        return (x1 + t, y1 + t, x2 - t, y2 - t)


def find_frames(page: Page, boxes: list[Box], *, filled: bool = False) -> list[Frame]:
    """The frames on ``page`` around the shapes whose boxes are ``boxes``, outermost first.

    With ``filled``, the frames whose sides are strokes on a fill darker than ink contrast
    (Mermaid's subgraphs: ink all over), holding none of ``boxes`` or not: the shapes on such a
    fill are not found on the page, so they are looked for inside.

    >>> from flowparse.backends.classical.page import analyse_page
    >>> img = np.full((240, 320, 3), 255, np.uint8)
    >>> _ = cv2.rectangle(img, (20, 20), (300, 220), (0, 0, 0), 1)   # the frame
    >>> _ = cv2.rectangle(img, (100, 90), (220, 150), (0, 0, 0), 2)  # a shape inside it
    >>> [(f.box, f.members) for f in find_frames(analyse_page(img), [(99, 89, 222, 152)])]
    [((20, 20, 301, 221), [0])]
    >>> find_frames(analyse_page(img), [(0, 0, 10, 10)])  # holds no shape: a box, not a frame
    []
    """
    if not boxes and not filled:
        return []
    thick = int(round(2 * page.pen)) + 3
    gap = int(round(2 * page.pen)) + 6  # the gaps of a dashed side
    shortest = max(30, int(min((min(b[2] - b[0], b[3] - b[1]) for b in boxes), default=30)))
    strokes = stroke_mask(page) if filled else page.ink
    across = _runs(strokes, gap, shortest, thick, along_x=True)
    down = _runs(strokes, gap, shortest, thick, along_x=False)
    joined = cv2.dilate(strokes, np.ones((gap | 1, gap | 1), np.uint8))  # dashes joined up
    found = [
        frame
        for top in across
        for bottom in across
        if bottom[1] > top[3] + shortest
        and (frame := _closed_by(top, bottom, down, joined, gap, boxes, holding_none=filled)) is not None
    ]
    # Nested frames never share a side: a frame that shares one with a bigger frame is that
    # frame's side closed off by a shape's side or a connector across it.
    frames: list[Frame] = []
    for frame in sorted(found, key=lambda f: (-_area(f.box), f.box)):
        if not any(set(frame.sides) & set(f.sides) or box_iou(frame.box, f.box) > 0.8 for f in frames):
            frames.append(frame)
    return frames


def stroke_mask(page: Page) -> np.ndarray:
    """Thin strokes that stand out from what is on both sides of them, page or fill: a frame
    filled darker than ink contrast (Mermaid's subgraphs) is ink all over, its border a stroke."""
    k = int(round(2 * page.pen)) + 3
    kernel = np.ones((k, k), np.uint8)
    return np.where(cv2.morphologyEx(page.diff, cv2.MORPH_TOPHAT, kernel) > LINE_CONTRAST, 255, 0).astype(np.uint8)


def frame_fill(page: Page, frame: Frame, zone: np.ndarray) -> np.ndarray | None:
    """Where, inside ``frame`` and outside the shapes (``zone`` > 0), the page shows the frame's
    fill colour; None for a frame that is not filled (its inside is page)."""
    x1, y1, x2, y2 = frame.inner
    rgb = page.rgb[y1:y2, x1:x2].astype(np.int16)
    free = zone[y1:y2, x1:x2] == 0
    if not free.any():
        return None
    fill = np.median(rgb[free], axis=0)
    if colour_gap(fill, page.background) <= TINT_CONTRAST:
        return None
    out = np.zeros(zone.shape, bool)
    out[y1:y2, x1:x2] = free & (np.abs(rgb - fill).max(axis=2) <= 25)
    return out


def _runs(ink: np.ndarray, gap: int, length: int, thick: int, *, along_x: bool) -> list[Box]:
    """Boxes of straight runs of ink at least ``length`` long, gaps up to ``gap`` bridged
    (dashes). A run that a line beside it thickens past ``thick`` keeps its longest columns."""
    gap, length = gap | 1, length | 1  # odd kernels: even ones shift the result by a pixel
    bridge = np.ones((1, gap) if along_x else (gap, 1), np.uint8)
    keep = np.ones((1, length) if along_x else (length, 1), np.uint8)
    runs = cv2.morphologyEx(cv2.morphologyEx(ink, cv2.MORPH_CLOSE, bridge), cv2.MORPH_OPEN, keep)
    if along_x:
        runs = np.ascontiguousarray(runs.T)  # found as upright runs, given back as lying ones
    n, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
    found = []
    for k in range(1, n):
        x, y, w, h, _ = (int(v) for v in stats[k])
        if w > thick:
            part = labels[y : y + h, x : x + w] == k
            count = part.sum(axis=0)
            cols = np.flatnonzero(count >= 0.9 * count.max())
            if cols[-1] - cols[0] >= thick:
                continue  # a blob, not a line
            rows = np.flatnonzero(part[:, cols].any(axis=1))
            x, w, y, h = x + int(cols[0]), int(cols[-1] - cols[0]) + 1, y + int(rows[0]), int(rows[-1] - rows[0]) + 1
        found.append((y, x, y + h, x + w) if along_x else (x, y, x + w, y + h))
    return found


def _closed_by(
    top: Box, bottom: Box, down: list[Box], joined: np.ndarray, gap: int, boxes: list[Box], *, holding_none: bool
) -> Frame | None:
    """The frame whose top and bottom sides lie on these runs, closed by two upright runs.

    A side's run may go on past one of its corners (a connector that leaves along it); a rounded
    corner shortens the sides that meet at it by its radius, up to a fifth of the frame's smaller side.
    The frame must hold a shape (unless ``holding_none``) and must not be one."""
    y1, y2 = top[1], bottom[3]
    a, b = max(top[0], bottom[0]), min(top[2], bottom[2])  # where both lying sides run
    if b - a < y2 - y1 and b - a < 30:
        return None
    reach = int(0.2 * min(b - a, y2 - y1)) + gap
    sides = [r for r in down if r[1] <= y1 + reach and r[3] >= y2 - reach and a - reach <= r[0] and r[2] <= b + reach]
    if len(sides) < 2:
        return None
    left, right = min(sides, key=lambda r: r[0]), max(sides, key=lambda r: r[2])
    box = (left[0], y1, right[2], y2)
    if box[2] - box[0] < 30 or a - box[0] > reach or box[2] - b > reach:
        return None  # the lying sides do not reach the upright ones
    if not all(_corner(joined, lying, upright, gap) for lying in (top, bottom) for upright in (left, right)):
        return None
    members = [k for k, m in enumerate(boxes) if _inside(m, box)]
    if not (members or holding_none) or any(box_iou(boxes[k], box) > 0.5 for k in members):
        return None  # holds no shape, or is a shape's own outline
    thickness = max(top[3] - top[1], bottom[3] - bottom[1], left[2] - left[0], right[2] - right[0])
    corner = max(a - box[0], box[2] - b, left[1] - y1, y2 - left[3], 0)
    sides = (top, bottom, left, right)
    return Frame(box=box, thickness=thickness, corner=min(corner, reach), members=members, sides=sides)


def _corner(joined: np.ndarray, lying: Box, upright: Box, gap: int) -> bool:
    """Whether a lying and an upright run turn into each other: ink joins them near where they
    meet (a square corner, a rounded or a dashed one). A shape's side that stops short of the
    frame's upright side, or a line that crosses it, is no corner."""
    ly, ux = (lying[1] + lying[3]) // 2, (upright[0] + upright[2]) // 2
    p = (min(max(ux, lying[0]), lying[2] - 1), ly)  # the lying run's point nearest the corner
    q = (ux, min(max(ly, upright[1]), upright[3] - 1))
    x0, y0 = max(0, min(p[0], q[0]) - gap), max(0, min(p[1], q[1]) - gap)
    window = joined[y0 : max(p[1], q[1]) + gap + 1, x0 : max(p[0], q[0]) + gap + 1]
    _, labels = cv2.connectedComponents(window, connectivity=8)
    return labels[p[1] - y0, p[0] - x0] == labels[q[1] - y0, q[0] - x0] != 0


def frame_holds(frame: Frame, b: Box) -> bool:
    """Whether a shape's box lies inside the frame."""
    return _inside(b, frame.box)


def _inside(b: Box, box: Box) -> bool:
    return box[0] < b[0] and box[1] < b[1] and b[2] < box[2] and b[3] < box[3]


def _area(b: Box) -> int:
    return (b[2] - b[0]) * (b[3] - b[1])


def frame_ink(frame: Frame, ink: np.ndarray, pen: float) -> np.ndarray:
    """The pixels of ``ink`` that are the frame's sides and corners, where no line crosses them.

    A connector crossing a side leaves ink just outside and just inside it at the same place;
    there the side's pixels stay, so the connector stays one piece.
    """
    out = np.zeros_like(ink)
    x1, y1, x2, y2 = frame.box
    t, keep = frame.thickness + 1, int(round(pen)) + 2
    band = np.zeros_like(ink)
    band[max(0, y1 - 1) : y2 + 1, max(0, x1 - 1) : x2 + 1] = 255
    band[y1 + t : y2 - t, x1 + t : x2 - t] = 0
    c = frame.corner + t + 1  # a rounded corner's arc reaches in that far
    for cy in (y1, y2 - c):
        for cx in (x1, x2 - c):
            band[max(0, cy) : cy + c, max(0, cx) : cx + c] = 255
    out[band > 0] = ink[band > 0]
    # Put back crossings: look across each side from two pixels beyond it on both sides.
    for side in ("top", "bottom", "left", "right"):
        horizontal = side in ("top", "bottom")
        view = ink if horizontal else ink.T
        o = out if horizontal else out.T
        lo, hi = (y1, y2) if horizontal else (x1, x2)
        a, b = (x1, x2) if horizontal else (y1, y2)
        row0 = lo - 1 if side in ("top", "left") else hi - t
        before = _any_rows(view, row0 - 3, row0 - 1, a, b)
        after = _any_rows(view, row0 + t + 2, row0 + t + 4, a, b)
        cols = np.flatnonzero(_crossing(before, after, keep)) + a
        if cols.size:
            o[max(0, row0) : row0 + t + 1, cols] = 0
    return out


def _crossing(before: np.ndarray, after: np.ndarray, keep: int) -> np.ndarray:
    """Per column, whether a line crosses the side there: ink on one side with ink on the other
    within ``keep`` columns (a slanting line), and the columns between them. Only the line's own
    span stays: a wider stub of the side would read as barbs at an arrow's end close by."""
    met = (before & _widened(after, keep)) | (after & _widened(before, keep))
    return ~_widened(~_widened(met, keep), keep)  # close the gap between the two ends of a slant


def _widened(mask: np.ndarray, k: int) -> np.ndarray:
    return np.convolve(mask.astype(np.int32), np.ones(2 * k + 1, np.int32), "same") > 0


def _any_rows(view: np.ndarray, r0: int, r1: int, a: int, b: int) -> np.ndarray:
    """Per column a..b, whether rows r0..r1 hold ink."""
    rows = view[max(0, r0) : max(0, r1 + 1), a:b]
    if rows.size == 0:
        return np.zeros(max(0, b - a), bool)
    return rows.any(axis=0)


def title_bands(frame: Frame, boxes: list[Box], text_h: float, pen: float) -> tuple[Box, Box]:
    """Where a frame's title may be: inside it, above the shapes it holds or, when the chart runs
    bottom to top (Graphviz's ``rankdir=BT``), below them; at most a few text heights deep.

    Each band stops a few pixels short of the shapes, so that the arrowheads at them cross its
    edge (the ink against a shape is not free page)."""
    x1, y1, x2, y2 = frame.inner
    deep, short = int(4 * text_h) + frame.corner, int(round(pen)) + 3
    first = min(boxes[k][1] for k in frame.members) - short
    last = max(boxes[k][3] for k in frame.members) + short
    return (x1, y1, x2, max(y1, min(first, y1 + deep))), (x1, min(y2, max(last, y2 - deep)), x2, y2)


def in_band(block: Box, band: Box) -> bool:
    """Whether a box lies in a band (its middle row inside it, its columns too)."""
    middle = (block[1] + block[3]) / 2
    return band[0] <= block[0] and block[2] <= band[2] and band[1] <= middle <= band[3]
