"""Tracing connectors between shapes: which shapes each line joins, its heads, its polyline.

Connectors are the ink left outside the shapes once text is taken away. Each connected piece
is joined to the shapes it touches; pieces broken by a label or by dashes are chained across
short gaps; a line's end is an arrowhead when the ink there is much wider than the line itself.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Container, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from flowparse.backends.classical.crossings import Groups, split_crossings
from flowparse.backends.classical.page import Page
from flowparse.geometry import point_box_distance, polyline_distances, segment_meets_box

__all__ = ["Contact", "Connector", "trace_connectors", "shape_zones", "HEAD_RATIO"]

#: A line end is an arrowhead when the ink there is this many times wider than the line further on
#: (plain ends measure about 1.0, heads 2.5 to 4; a head half hidden by its shape still about 1.7).
HEAD_RATIO = 1.55
#: ... or when the largest circle inside the ink there is this many times the pen's half width.
FAT_RATIO = 1.8
#: The two heads of one arrow are drawn alike: when one end measures less than this share of the
#: other, it is a tail with a letter or another line beside it (a label at a diamond's tip).
LOPSIDED = 0.6
#: ... or when the ink at one end stands on one side of the line (its nearer side reaching under
#: this share of its farther) while at the other it stands on both (twice this share or more).
ONE_SIDED = 0.3
#: A tool draws all of a chart's heads alike: an end that measures as a head but is this many
#: times wider or narrower than the page's median head is something else (letters by a tail).
HEAD_SIZES = 1.5

#: A line with a head at each end is two arrows, one each way drawn over each other, when the
#: line behind both heads is this many times as wide as the page's lines at their plain ends.
DRAWN_TWICE = 1.3

#: A gap a connector was joined across: the loose ends on either side (page coordinates).
Bridge = tuple[tuple[float, float], tuple[float, float]]


@dataclass
class Contact:
    """Where a connector meets shape ``node`` (page coordinates) and whether it has a head there."""

    node: int
    point: tuple[float, float]
    head: bool = False
    head_ratio: float = 1.0
    #: how wide the ink is at the contact, across the line (pixels)
    width: float = 0.0
    #: how evenly that ink stands on the line's two sides: 1 a head, near 0 a letter on one side
    balance: float = 1.0
    #: a head far wider or narrower than the page's heads (a tool draws them all alike)
    unusual: bool = False
    gap: bool = False
    #: the side of its shape's box it meets: "top", "bottom", "left" or "right"
    side: str = ""
    #: the separate places it touches the shape, where there are several (lines that cross can
    #: meet one shape twice); ``point`` is their mean
    places: list[Contact] = field(default_factory=list)


@dataclass
class Connector:
    """An arrow between two shapes, traced."""

    source: int
    target: int
    arrow: str
    points: list[tuple[float, float]]
    score: float

    def reversed(self) -> Connector:
        """The same line read the other way: target to source."""
        return dataclasses.replace(self, source=self.target, target=self.source, points=self.points[::-1])
    label: str = ""
    label_parts: list[str] = field(default_factory=list)


def shape_zones(page: Page, bodies: list[tuple[int, int, np.ndarray]]) -> np.ndarray:
    """A page-sized int32 map: shape k's body, grown by a pen width, painted k + 1."""
    zone = np.zeros((page.height, page.width), np.int32)
    grow = int(round(page.pen)) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    for k, (x, y, mask) in enumerate(bodies):
        padded = cv2.copyMakeBorder(mask, grow, grow, grow, grow, cv2.BORDER_CONSTANT, value=0)
        grown = cv2.dilate(padded, kernel)
        x0, y0 = x - grow, y - grow
        sx0, sy0 = max(0, -x0), max(0, -y0)
        ex, ey = min(grown.shape[1], page.width - x0), min(grown.shape[0], page.height - y0)
        view = zone[y0 + sy0 : y0 + ey, x0 + sx0 : x0 + ex]
        view[grown[sy0:ey, sx0:ex] > 0] = k + 1
    return zone


def trace_connectors(
    page: Page,
    zone: np.ndarray,
    lines: np.ndarray,
    text_h: float,
    boxes: list[tuple[float, float, float, float]],
    free: np.ndarray | None = None,
    texts: Sequence[tuple[int, int, int, int]] = (),
) -> list[Connector]:
    """The connectors in ``lines`` (ink outside shapes, text removed) between the zones' shapes.

    ``free`` (all full-contrast ink outside shapes) is where arrowhead widths are measured; it
    lets a head's barbs count even where the shape's outline cut them off their line. ``texts``
    are the boxes of the text taken out of ``lines``: a line cut by one is joined across it."""
    free = lines if free is None else free
    n, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    thickness = cv2.distanceTransform(lines, cv2.DIST_L2, 3)
    contacts = _contacts(zone, labels, n, apart=max(8.0, 4 * page.pen))
    pieces = _pieces(labels, stats, n, contacts)
    gap = max(2.5 * text_h, 6 * page.pen, 12.0)
    chains = _chain(pieces, boxes, gap, texts, max(0.6 * text_h, 2 * page.pen + 2))
    radius = max(10.0, 1.3 * text_h, 4 * page.pen)  # about an arrowhead's length, with room
    measured = []
    for members, chain_contacts, _ in chains:
        places = [p for whole in chain_contacts for p in whole.places]
        for c in chain_contacts + places:
            c.side = _side(c.point, boxes[c.node])
            # On a short connector the far band must not reach the head at the other end.
            span = max((math.dist(c.point, o.point) for o in chain_contacts if o is not c), default=4 * radius)
            reach = max(6.0, min(radius, 0.4 * span))
            _mark_head(c, labels, stats, thickness, free, members, contacts, reach, page.pen)
            measured.append(c)
    _mark_unusual(measured)
    plain = [c.width for c in measured if not c.head and c.width > 0]
    line = float(np.median(plain)) if len(plain) >= 3 else 0.0  # the page's lines, by their plain ends
    out: list[Connector] = []
    for members, chain_contacts, bridges in chains:
        gaps = len(bridges) + sum(c.gap for c in chain_contacts)  # each a guess the score pays for
        out += _connect(chain_contacts, members, labels, stats, gaps, page.pen, bridges=bridges, line=line)
    return _one_way_back(out)


def _one_way_back(connectors: list[Connector]) -> list[Connector]:
    """A line with a head at each end beside another line, one way, between the same two shapes
    is the way back: one of its heads is a label or a letter by its tail (two lines between two
    shapes are a -> b and b -> a)."""
    one_way = {(c.source, c.target) for c in connectors if c.arrow == "normal"}
    out = []
    for c in connectors:
        if c.arrow == "both" and (c.source, c.target) in one_way:
            c = c.reversed()
        if c.arrow == "both" and (c.target, c.source) in one_way:
            c = dataclasses.replace(c, arrow="normal")
        out.append(c)
    return out


def _mark_unusual(contacts: list[Contact]) -> None:
    """Flag the heads whose width is far from the page's usual one (its median head's)."""
    widths = [c.width for c in contacts if c.head]
    if len(widths) < 3:
        return
    usual = float(np.median(widths))
    for c in contacts:
        c.unusual = c.head and not usual / HEAD_SIZES <= c.width <= usual * HEAD_SIZES


def _contacts(zone: np.ndarray, labels: np.ndarray, n: int, apart: float) -> dict[int, list[Contact]]:
    """Per line piece, the shapes it touches and the mean point of contact with each (and the
    separate places, more than ``apart`` from each other, where there are several)."""
    near = cv2.dilate(zone.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int32)
    ring = (near > 0) & (zone == 0) & (labels > 0)
    ys, xs = np.nonzero(ring)
    found: dict[int, list[Contact]] = {}
    if xs.size == 0:
        return found
    keys = labels[ys, xs].astype(np.int64) * 100_000 + near[ys, xs]
    for key in np.unique(keys):
        sel = keys == key
        piece, node = int(key // 100_000), int(key % 100_000) - 1
        places = _places(xs[sel], ys[sel], apart)
        contact = Contact(node, (float(xs[sel].mean()), float(ys[sel].mean())))
        contact.places = [Contact(node, p) for p in places] if len(places) > 1 else []
        found.setdefault(piece, []).append(contact)
    return found


def _places(xs: np.ndarray, ys: np.ndarray, apart: float) -> list[tuple[float, float]]:
    """Mean points of the groups of (xs, ys) more than ``apart`` from each other."""
    if max(int(xs.max() - xs.min()), int(ys.max() - ys.min())) <= apart:
        return [(float(xs.mean()), float(ys.mean()))]  # the usual case: one place
    x0, y0, reach = int(xs.min()), int(ys.min()), int(apart)
    canvas = np.zeros((int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1), np.uint8)
    canvas[ys - y0, xs - x0] = 255
    _, groups = cv2.connectedComponents(cv2.dilate(canvas, np.ones((reach, reach), np.uint8)), connectivity=8)
    ids = groups[ys - y0, xs - x0]
    return [(float(xs[ids == g].mean()), float(ys[ids == g].mean())) for g in np.unique(ids)]


@dataclass
class _Piece:
    label: int
    contacts: list[Contact]
    ends: list[tuple[float, float]]


def _pieces(labels: np.ndarray, stats: np.ndarray, n: int, contacts: dict[int, list[Contact]]) -> list[_Piece]:
    """Line pieces with their contacts and their loose ends (ends not at a shape)."""
    pieces = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area < 4:
            continue
        mine = contacts.get(i, [])
        if len(mine) >= 2:
            pieces.append(_Piece(i, mine, []))
            continue
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == i)
        pts = np.stack([xs + x, ys + y], axis=1).astype(np.float32)
        if mine:
            start = np.array(mine[0].point, np.float32)
            far = pts[np.argmax(((pts - start) ** 2).sum(axis=1))]
            ends = [tuple(map(float, far))]
        else:
            a = pts[np.argmax(((pts - pts.mean(axis=0)) ** 2).sum(axis=1))]
            b = pts[np.argmax(((pts - a) ** 2).sum(axis=1))]
            ends = [tuple(map(float, a)), tuple(map(float, b))]
        pieces.append(_Piece(i, mine, ends))
    return pieces


def _chain(
    pieces: list[_Piece], boxes: list, gap: float, texts: Sequence = (), reach: float = 0.0
) -> list[tuple[list[int], list[Contact], list[Bridge]]]:
    """Group pieces joined across short gaps, or across a text box both ends reach (a label
    set on the line, however wide); loose ends near a shape make (weaker) contacts. Each group
    comes with the gaps it was joined across, from end to end."""
    sets = Groups(len(pieces))
    ends = [(k, e) for k, piece in enumerate(pieces) for e in piece.ends]
    pairs = _close_pairs(ends, gap)
    for box in texts:
        near = [i for i, (_, e) in enumerate(ends) if point_box_distance(e, box) <= reach]
        for i, a in enumerate(near):
            for b in near[i + 1 :]:
                if ends[a][0] != ends[b][0] and segment_meets_box(ends[a][1], ends[b][1], box):
                    pairs.append((math.dist(ends[a][1], ends[b][1]), a, b))
    used: set[int] = set()
    joined: list[tuple[int, Bridge]] = []
    for _dist, a, b in sorted(pairs):
        if a in used or b in used or not sets.join(ends[a][0], ends[b][0]):
            continue
        used |= {a, b}
        joined.append((ends[a][0], (ends[a][1], ends[b][1])))
    extra: dict[int, list[Contact]] = {}
    for idx, (k, e) in enumerate(ends):
        if idx in used or not boxes:
            continue
        dist, node = min((point_box_distance(e, box), j) for j, box in enumerate(boxes))
        if dist <= gap and all(c.node != node for c in pieces[k].contacts):
            extra.setdefault(k, []).append(Contact(node, e, gap=True))
    groups: dict[int, tuple[list[int], list[Contact]]] = {}
    for k, piece in enumerate(pieces):
        members, contacts = groups.setdefault(sets.root(k), ([], []))
        members.append(piece.label)
        contacts += piece.contacts + extra.get(k, [])
    bridges: dict[int, list[Bridge]] = {}
    for k, bridge in joined:
        bridges.setdefault(sets.root(k), []).append(bridge)
    return [(members, contacts, bridges.get(root, [])) for root, (members, contacts) in groups.items()]


def _close_pairs(ends: list[tuple[int, tuple[float, float]]], gap: float) -> list[tuple[float, int, int]]:
    """(distance, a, b) for the ends a < b of different pieces at most ``gap`` apart (a noisy
    scan has a thousand loose ends: all pairs at once, not one by one)."""
    if len(ends) < 2:
        return []
    piece = np.array([k for k, _ in ends])
    xy = np.array([e for _, e in ends], np.float64)
    pairs = []
    for start in range(0, len(ends), 512):  # rows in blocks: memory stays small on any page
        rows = slice(start, start + 512)
        dist = np.hypot(xy[rows, None, 0] - xy[None, :, 0], xy[rows, None, 1] - xy[None, :, 1])
        later = np.arange(len(ends))[None, :] > np.arange(start, start + dist.shape[0])[:, None]
        a, b = np.nonzero((dist <= gap) & later & (piece[rows, None] != piece[None, :]))
        pairs += [(float(dist[i, j]), start + int(i), int(j)) for i, j in zip(a, b)]
    return pairs


def _mark_head(
    contact: Contact,
    labels: np.ndarray,
    stats: np.ndarray,
    thickness: np.ndarray,
    free: np.ndarray,
    members: list[int],
    touching: Container[int],
    radius: float,
    pen: float,
) -> None:
    """An arrowhead: near the contact the ink is much wider than the line further on, or a
    filled head's inscribed circle is much fatter than the pen (when the line turns close by)."""
    px, py = contact.point
    r2 = int(2.3 * radius) + 2
    x0, y0 = max(0, int(px) - r2), max(0, int(py) - r2)
    crop = labels[y0 : int(py) + r2 + 1, x0 : int(px) + r2 + 1]
    # Widths are measured on full-contrast ink: the faint halo of an outline is not a barb.
    solid = free[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] > 0
    ys, xs = np.nonzero(np.isin(crop, members) & solid)
    if xs.size < 3:
        return
    d = np.hypot(xs + x0 - px, ys + y0 - py)
    near, far = d <= radius, (d > 1.3 * radius) & (d <= 2.3 * radius)  # far: past a long head
    if near.sum() < 3:
        return
    pts = np.stack([xs + x0 - px, ys + y0 - py], axis=1).astype(np.float64)
    axis = pts[near].mean(axis=0)
    if np.hypot(*axis) < 1e-6:
        return
    axis /= np.hypot(*axis)
    normal = np.array([-axis[1], axis[0]])
    # Barbs cut loose from the line still count: ink behind the tip, within 50 degrees of the line.
    # A barb the shape's zone cut off stands beside the contact: its cone opens at the hidden tip,
    # a pen or so inside the zone, and it counts only with ink on the line's other side too (a
    # head stands on both sides of its line, a letter touching the shape on one).
    line, found = pts[near] @ normal, [np.zeros((0, 2))]
    for mask, back in zip(_loose_barbs(crop, solid, stats, members, touching, radius), (0.0, pen + 2)):
        fy, fx = np.nonzero(mask)
        loose = np.stack([fx + x0 - px, fy + y0 - py], axis=1).astype(np.float64)
        along, across = loose @ axis + back, loose @ normal
        loose = loose[(np.hypot(along, across) <= radius) & (along > 0) & (np.abs(across) <= 1.2 * along)]
        if back and not _both_sides(np.concatenate([loose @ normal, line]), pen):
            continue
        found.append(loose)
    barbs = np.concatenate(found)
    width_near = max(_spread(line), _spread(barbs @ normal) if len(barbs) >= 3 else 0.0)
    inscribed = float(thickness[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]][ys[near], xs[near]].max())
    fat = inscribed / (pen / 2 + 0.5) * HEAD_RATIO / FAT_RATIO

    def ratio(width_far: float) -> float:
        return max(width_near / max(width_far, 1.0, 0.8 * pen), fat)

    further = pts[far] @ normal if far.sum() >= 3 else None  # None: no line further on
    contact.width = width_near
    # The line further on, at its narrowest: a letter touching it in part of the band is no line.
    contact.head_ratio = ratio(max(1.0, pen) if further is None else _far_width(further, d[far], max(2.0, pen)))
    contact.head = contact.head_ratio >= HEAD_RATIO and width_near >= 4
    if not contact.head:
        return
    contact.balance = _balance(np.concatenate([pts[near], barbs]), pts, far, pen)
    if contact.balance < ONE_SIDED and further is not None:
        # Ink on one side of the line: a letter, or the line turning just past its end (an elbow),
        # where the band further on runs across: there its whole width is the measure.
        contact.head_ratio = ratio(_spread(further))
        contact.head = contact.head_ratio >= HEAD_RATIO


def _loose_barbs(
    crop: np.ndarray, solid: np.ndarray, stats: np.ndarray, members: list[int], touching: Container[int], radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ink that may be a head's barbs cut off its line: full-contrast ink; and, apart, line pieces
    that touch a shape and are no longer than a head (a thin barb, anti-aliased, is fainter than ink
    contrast; a speck of noise touches nothing), but not another line leaving the shape beside
    this one (a fork at a diamond's tip)."""
    ids = np.unique(crop[crop > 0])
    long = [i for i in ids if i not in members and max(stats[i, 2], stats[i, 3]) > radius]
    cut = np.isin(crop, [i for i in ids if i in touching and max(stats[i, 2], stats[i, 3]) <= radius])
    return solid & ~np.isin(crop, long) & ~cut, cut


def _both_sides(across: np.ndarray, pen: float) -> bool:
    """Whether ink reaches past the line's edge on either side of it."""
    edge = pen / 2 + 1
    return min(np.count_nonzero(across < -edge), np.count_nonzero(across > edge)) >= 2


def _balance(ink: np.ndarray, line: np.ndarray, far: np.ndarray, pen: float) -> float:
    """How evenly ``ink`` by a line's end (relative to the contact) stands on the line's two sides:
    about 1 for a head, near 0 for letters against one side. Letters by the end tilt the mean
    direction of the ink there, so the line's course is taken two other ways and the fairer kept:
    along the straight run of ``line`` ink that leaves the contact, and towards the ink further on
    (``far``; an elbow just past a head is no straight run)."""
    ways = [_ray(line, pen)] + ([line[far].mean(axis=0)] if far.sum() >= 3 else [])
    return max(_evenness(ink, line, way, pen) for way in ways)


def _ray(line: np.ndarray, pen: float) -> np.ndarray:
    """Of directions 3 degrees apart, the one whose ray from the contact runs along most ink."""
    angles = np.radians(np.arange(0, 360, 3))
    ways = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    on, _ = _along(line, ways, pen)
    return ways[int(np.argmax(on.sum(axis=0)))]


def _evenness(ink: np.ndarray, line: np.ndarray, way: np.ndarray, pen: float) -> float:
    """How far ``ink`` reaches on the nearer side of the line leaving towards ``way``, as a share
    of how far on the farther, both from the middle of the line's own ink."""
    way = way / max(float(np.hypot(*way)), 1e-6)
    on, across = _along(line, way[None, :], pen)
    middle = float(np.median(across[on[:, 0], 0])) if on.any() else 0.0
    lo, hi = np.percentile(ink @ np.array([-way[1], way[0]]), [3, 97]) - middle
    return max(0.0, min(-lo, hi)) / max(-lo, hi, 1e-6)


def _along(line: np.ndarray, ways: np.ndarray, pen: float) -> tuple[np.ndarray, np.ndarray]:
    """Per point of ``line`` and per unit direction: whether it lies on the ray from the contact
    that way (within the pen), and how far it is off the ray, signed."""
    across = line @ np.stack([-ways[:, 1], ways[:, 0]], axis=1).T
    return (line @ ways.T > 0) & (np.abs(across) <= pen / 2 + 1), across


def _far_width(across: np.ndarray, dist: np.ndarray, step: float) -> float:
    """The line's own width further on: of rings ``step`` deep round the contact, the width in
    the narrower ones (a quarter are narrower). Across the whole band, a letter touching the line
    (or its label's glyph at a diamond's tip) in part of it made the line as wide as a head."""
    ring = ((dist - dist.min()) // step).astype(int)
    widths = [_spread(across[ring == k]) for k in np.unique(ring) if np.count_nonzero(ring == k) >= 2]
    return float(np.percentile(widths, 25)) if widths else _spread(across)


def _spread(values: np.ndarray) -> float:
    """Width of a set of projections, robust to a stray pixel."""
    lo, hi = np.percentile(values, [3, 97])
    return float(hi - lo + 1)


def _connect(
    contacts: list[Contact],
    members: list[int],
    labels: np.ndarray,
    stats: np.ndarray,
    gaps: int,
    pen: float,
    crossed: bool = False,
    bridges: Sequence[Bridge] = (),
    line: float = 0.0,
) -> list[Connector]:
    """Edges of one chain: two shapes make one arrow; fans are split by where the heads are;
    lines that cross are taken apart first (``crossed``: this is one of them already).
    ``bridges`` are the gaps the chain's pieces were joined across; ``line`` is how wide the
    page's lines are (0: not known)."""
    by_node: dict[int, Contact] = {}
    for c in contacts:
        old = by_node.get(c.node)
        if old is None or (old.gap and not c.gap) or (c.head and not old.head):
            by_node[c.node] = c
    ends = list(by_node.values())
    # a fan's heads are drawn like the page's: an unusual one among usual ones is a tail
    fan = len(ends) > 2 and any(c.head and not c.unusual for c in ends)
    heads, tails = [], []
    for c in ends:
        (heads if c.head and not (fan and c.unusual) else tails).append(c)
    places = [p for c in contacts for p in (c.places or [c])]
    # two heads and two tails on one piece, or a shape met at two places: lines that cross?
    tangled = (len(heads) >= 2 and len(tails) >= 2) or len(places) > len(contacts)
    if tangled and not crossed and len(members) == 1:
        uncrossed = _uncross(places, members, labels, stats, gaps, pen)
        if uncrossed:
            return uncrossed
    if len(ends) < 2:
        return []
    base = 0.92 * (0.85**gaps)
    if len(ends) == 2 and (ends[0].head or ends[1].head):
        twins = _side_by_side(ends[0], ends[1], members, labels, stats, pen, bridges)
        if twins:
            return [Connector(a.node, b.node, "normal", line, base * 0.8) for a, b, line in twins]
    if len(ends) == 2:
        arrow = _arrow(ends[0], ends[1], members, labels, stats, base, pen, bridges)
        if arrow.arrow == "both" and line and min(c.width / c.head_ratio for c in ends) >= DRAWN_TWICE * line:
            # a -> b and b -> a drawn over each other: one line with a head at each end, but wider
            there = dataclasses.replace(arrow, arrow="normal", score=base * 0.8)
            back = there.reversed()
            return [there, back]
        return [arrow]
    if len(tails) == 1 and heads:
        return [_arrow(tails[0], h, members, labels, stats, base * 0.8, pen, bridges) for h in heads]
    if len(heads) == 1 and tails:
        return [_arrow(t, heads[0], members, labels, stats, base * 0.8, pen, bridges) for t in tails]
    if heads and tails:
        return []  # a bus, or crossings the skeleton could not take apart: too ambiguous to guess
    return _by_sides(ends, members, labels, stats, base * 0.7, pen, bridges)


def _by_sides(
    ends: list[Contact], members: list[int], labels: np.ndarray, stats: np.ndarray, score: float, pen: float,
    bridges: Sequence[Bridge],
) -> list[Connector]:
    """A fan whose heads do not say which end is its root (none was seen, or the heads are at
    every end: a way back shares the root's port) read by the sides its lines meet their shapes
    at, as a chart is laid out: a line leaves a shape by its bottom (right) and enters the next by
    its top (left). The one end on one side and all the others on the opposite side are the root
    and its branches; anything else is too ambiguous to guess."""
    for leave, enter in (("bottom", "top"), ("right", "left")):
        for root_side, branch_side in ((leave, enter), (enter, leave)):
            roots = [c for c in ends if c.side == root_side]
            if len(roots) != 1 or any(c.side != branch_side for c in ends if c is not roots[0]):
                continue
            out = []
            for branch in (c for c in ends if c is not roots[0]):
                a, b = (roots[0], branch) if root_side == leave else (branch, roots[0])
                points = _polyline(a.point, b.point, members, labels, stats, pen, bridges)
                out.append(Connector(a.node, b.node, "normal" if b.head else "none", points, score))
            return out
    return []


def _side(point: tuple[float, float], box: tuple[float, float, float, float]) -> str:
    """The side of ``box`` nearest ``point``."""
    x, y = point
    gaps = {"top": abs(y - box[1]), "bottom": abs(y - box[3]), "left": abs(x - box[0]), "right": abs(x - box[2])}
    return min(gaps, key=gaps.get)


def _uncross(
    contacts: list[Contact], members: list[int], labels: np.ndarray, stats: np.ndarray, gaps: int, pen: float
) -> list[Connector]:
    """The arrows of a piece of line ink that is lines crossing: each line's ends, connected."""
    x, y, w, h, _ = stats[members[0]]
    mask = np.where(labels[y : y + h, x : x + w] == members[0], 255, 0).astype(np.uint8)
    ids = split_crossings(mask, [(c.point[0] - x, c.point[1] - y) for c in contacts], pen)
    if ids is None or len(set(ids) - {None}) < 2:
        return []  # one line after all: no crossing here
    lines: dict[int, list[Contact]] = {}
    for line, c in zip(ids, contacts):
        if line is not None:
            lines.setdefault(line, []).append(c)
    # one guess more than a plain line: the score says so (as a gap in the line would)
    arrows = [a for line in lines.values() for a in _connect(line, members, labels, stats, gaps + 1, pen, True)]
    if len(arrows) < 2 or any(a.arrow == "none" for a in arrows):
        return []  # lines without a head: lines merging at a slant were split wrong, not crossings
    return arrows


def _arrow(
    a: Contact,
    b: Contact,
    members: list[int],
    labels: np.ndarray,
    stats: np.ndarray,
    score: float,
    pen: float,
    bridges: Sequence[Bridge] = (),
) -> Connector:
    head_a, head_b = a.head, b.head
    if head_a and head_b:
        tail = _false_head(a, b)
        head_a, head_b = tail is not a, tail is not b
    elif not (head_a or head_b):
        head_a, head_b = _small_head(a, b), _small_head(b, a)
    if head_a and not head_b:
        a, b = b, a
    kind = "both" if head_a and head_b else "normal" if head_a or head_b else "none"
    if kind != "normal" and (b.point[1], b.point[0]) < (a.point[1], a.point[0]):
        a, b = b, a  # no way to tell: read it top to bottom, left to right
    certainty = min(1.0, min(abs(np.log(max(c.head_ratio, 1e-3) / HEAD_RATIO)) for c in (a, b)) / 0.4)
    score *= 0.75 + 0.25 * certainty
    points = _polyline(a.point, b.point, members, labels, stats, pen, bridges)
    return Connector(source=a.node, target=b.node, arrow=kind, points=points, score=float(min(1.0, score)))


def _false_head(a: Contact, b: Contact) -> Contact | None:
    """Of two ends that both measured as heads, the one that is a tail with a letter or another
    line beside it, if either is: heads stand on both sides of their line, and are drawn alike,
    like the page's other heads and like each other."""
    if min(a.balance, b.balance) < ONE_SIDED and max(a.balance, b.balance) >= 2 * ONE_SIDED:
        return min((a, b), key=lambda c: c.balance)
    if a.unusual != b.unusual:
        return a if a.unusual else b
    weak, strong = sorted((a, b), key=lambda c: c.head_ratio)
    if weak.head_ratio < LOPSIDED * strong.head_ratio:
        return weak
    return None


def _small_head(end: Contact, other: Contact) -> bool:
    """A head too small for the absolute test (3 px across, on a hairline) that is still a head:
    wide for its line, at the end of a line whose other end is plain."""
    return end.head_ratio >= HEAD_RATIO and end.width >= 3 and other.width < LOPSIDED * end.width


def _polyline(
    p: tuple[float, float],
    q: tuple[float, float],
    members: list[int],
    labels: np.ndarray,
    stats: np.ndarray,
    pen: float,
    bridges: Sequence[Bridge] = (),
) -> list[tuple[float, float]]:
    """The line's course from p to q: one side of its outline, simplified. A line in several
    pieces is followed through its pieces and straight across the gaps between them (a label's
    plate, a crossing); the chord from p to q would cut a long way round short."""
    mask, x, y = _chain_mask(members, labels, stats, pen, bridges)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if len(contours) != 1:
        return [p, q]  # the pieces do not make one line after all: no course to follow
    contour = contours[0][:, 0, :].astype(np.float64) + (x, y)
    ia = int(np.argmin(((contour - p) ** 2).sum(axis=1)))
    ib = int(np.argmin(((contour - q) ** 2).sum(axis=1)))
    lo, hi = sorted((ia, ib))
    inner, outer = contour[lo : hi + 1], np.concatenate([contour[hi:], contour[: lo + 1]])
    path = inner if len(inner) <= len(outer) else outer[::-1]
    if ia > ib:
        path = path[::-1]
    simple = cv2.approxPolyDP(path.astype(np.float32).reshape(-1, 1, 2), max(1.5, pen), False)[:, 0, :]
    middle = [(float(u), float(v)) for u, v in simple[1:-1]]
    return [p, *middle, q]


def _chain_mask(
    members: list[int], labels: np.ndarray, stats: np.ndarray, pen: float, bridges: Sequence[Bridge] = ()
) -> tuple[np.ndarray, int, int]:
    """A chain's ink (its pieces, and straight strokes across the gaps between them) as a uint8
    mask of its bounding box, with the box's top left corner in the page."""
    x, y = np.min([stats[i][:2] for i in members], axis=0)  # the gaps' ends lie on the pieces
    x1, y1 = np.max([stats[i][:2] + stats[i][2:4] for i in members], axis=0)
    mask = np.isin(labels[y:y1, x:x1], members).astype(np.uint8) * 255
    for a, b in bridges:
        cv2.line(mask, (round(a[0]) - x, round(a[1]) - y), (round(b[0]) - x, round(b[1]) - y), 255, max(1, round(pen)))
    return mask, int(x), int(y)


def _side_by_side(
    a: Contact,
    b: Contact,
    members: list[int],
    labels: np.ndarray,
    stats: np.ndarray,
    pen: float,
    bridges: Sequence[Bridge] = (),
) -> list[tuple[Contact, Contact, list[tuple[float, float]]]]:
    """Two arrows drawn side by side between one pair of shapes, one each way (Graphviz's a -> b
    and b -> a), that touch where they meet a shape and so make one piece of ink: (source,
    target, course) for each, or nothing when the ink between the two shapes is one line.
    Each arrow's head is at the end where its stroke is the heavier: a head outweighs a line."""
    length = math.dist(a.point, b.point)
    if length < max(32.0, 12 * pen):
        return []  # too short to tell strokes from a head
    mask, x0, y0 = _chain_mask(members, labels, stats, pen, bridges)
    p, q = np.array(a.point) - (x0, y0), np.array(b.point) - (x0, y0)
    sections = _two_strokes(mask, p, q, pen)
    if not sections:
        return []
    ink = np.argwhere(mask)[:, ::-1].astype(np.float64)  # (x, y)
    along = (ink - p) @ (q - p) / length
    margin = max(6.0, 3 * pen)
    if along.min() < -margin or along.max() > length + margin:
        return []  # ink past an end: a line from elsewhere that joins this one by the shape
    normal = np.array([p[1] - q[1], q[0] - p[0]]) / length
    one, two = (np.array([p, *(p + t * (q - p) + s[k] * normal for t, *s in sections), q]) for k in (0, 1))
    # the ends as far as the first and last sections; the stroke with its head at a runs b -> a
    at_a = _heavier(ink, p, sections[0][0] * length, one, two)
    at_b = _heavier(ink, q, (1 - sections[-1][0]) * length, one, two)
    there, back = (one, two) if at_a > at_b else (two, one)
    return [(a, b, _in_page(there, x0, y0)), (b, a, _in_page(back[::-1], x0, y0))]


def _two_strokes(mask: np.ndarray, p: np.ndarray, q: np.ndarray, pen: float) -> list[tuple[float, float, float]]:
    """Where the ink in ``mask`` from p to q is two strokes side by side: (t, offset of stroke one,
    offset of stroke two) at sections across the chord at t = 0.2 ... 0.8, offsets along its
    normal; nothing unless the two run all along the middle, close to each other."""
    length = math.dist(p, q)
    normal = np.array([p[1] - q[1], q[0] - p[0]]) / length
    reach = float(np.hypot(*mask.shape))
    steps = np.arange(-reach, reach, 0.5)
    sections = []
    for t in np.linspace(0.2, 0.8, 7):
        xy = np.rint(p + t * (q - p) + steps[:, None] * normal).astype(int)
        inside = (xy[:, 0] >= 0) & (xy[:, 1] >= 0) & (xy[:, 0] < mask.shape[1]) & (xy[:, 1] < mask.shape[0])
        ink = np.zeros(len(steps), bool)
        ink[inside] = mask[xy[inside, 1], xy[inside, 0]] > 0
        runs = _ink_runs(ink, 2)  # a slanted line's pinholes (a pixel) part no strokes
        if len(runs) >= 2:  # a hollow head's two sides are two runs: the strokes part at the widest gap
            cut = 1 + int(np.argmax([later[0] - sooner[1] for sooner, later in zip(runs, runs[1:])]))
            sides = [np.concatenate([steps[lo:hi] for lo, hi in part]) for part in (runs[:cut], runs[cut:])]
            sections.append((round(float(t), 1), float(sides[0].mean()), float(sides[1].mean())))
    # two strokes all along the middle (not a hollow head's sides at one end), close enough to
    # be a pair of arrows (not a line that forks off to another shape beyond a label), and apart
    # somewhere by more than a hand-drawn line's doubled stroke
    if len(sections) < 5 or not {0.3, 0.5, 0.7} <= {t for t, _, _ in sections}:
        return []
    apart = max(two - one for _, one, two in sections)
    return sections if 2 * pen + 3 <= apart <= 0.4 * length else []


def _ink_runs(flags: np.ndarray, pinhole: int = 0) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-d boolean array; runs at most ``pinhole`` apart
    are one.

    >>> flags = np.array([0, 1, 1, 0, 0, 1, 0, 1], bool)
    >>> _ink_runs(flags), _ink_runs(flags, 1)
    ([(1, 3), (5, 6), (7, 8)], [(1, 3), (5, 8)])
    """
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    runs: list[tuple[int, int]] = []
    for lo, hi in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if runs and lo - runs[-1][1] <= pinhole:
            lo = runs.pop()[0]
        runs.append((lo, hi))
    return runs


def _heavier(ink: np.ndarray, end: np.ndarray, reach: float, one: np.ndarray, two: np.ndarray) -> float:
    """Of the ``ink`` points within ``reach`` of ``end``, the share nearer course ``two`` less the
    share nearer course ``one`` (polylines)."""
    ink = ink[np.hypot(*(ink - end).T) <= reach]
    if not len(ink):
        return 0.0
    return 2 * float(np.mean(polyline_distances(ink, two) < polyline_distances(ink, one))) - 1


def _in_page(course: np.ndarray, x0: int, y0: int) -> list[tuple[float, float]]:
    return [(float(x) + x0, float(y) + y0) for x, y in course]
