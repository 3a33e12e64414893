"""Undoing crossings: where connectors cross, each goes straight on.

A connected piece of line ink that meets two or more shapes with a head and two or more without
is lines that cross. Its skeleton is cut at the junctions; at a junction of four branches the
two most opposite branches are one line and the other two the other (good continuation); at a
junction of three (a merge or a fork) all stay joined. The shapes each resulting line meets are
that line's ends.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["Groups", "thin", "split_crossings"]

#: Two branches go straight on through a junction when their directions are this close to
#: opposite (cosine): about 35 degrees of bend at most.
STRAIGHT_ON = -0.82


def thin(mask: np.ndarray) -> np.ndarray:
    """The one-pixel skeleton of a uint8 mask (Zhang and Suen's thinning), as 0/1 uint8.

    >>> m = np.zeros((9, 20), np.uint8); m[3:6, 2:18] = 255
    >>> sk = thin(m); int(sk.sum()), sorted(set(np.nonzero(sk)[0].tolist()))
    (13, [4])
    """
    img = np.pad((mask > 0).astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            n, ne, e, se = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:], img[2:, 2:]
            s, sw, w, nw = img[2:, 1:-1], img[2:, :-2], img[1:-1, :-2], img[:-2, :-2]
            ring = (n, ne, e, se, s, sw, w, nw, n)
            count = sum(p.astype(np.int16) for p in ring[:-1])
            turns = sum(((a == 0) & (b == 1)).astype(np.int16) for a, b in zip(ring, ring[1:]))
            if step == 0:
                side = (n * e * s == 0) & (e * s * w == 0)
            else:
                side = (n * e * w == 0) & (n * s * w == 0)
            peel = (img[1:-1, 1:-1] == 1) & (count >= 2) & (count <= 6) & (turns == 1) & side
            if peel.any():
                img[1:-1, 1:-1][peel] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1]


class Groups:
    """Items 0..n-1 joined into groups (union-find with path halving).

    >>> g = Groups(4); g.join(0, 1), g.join(1, 0), g.root(0) == g.root(1) != g.root(2)
    (True, False, True)
    """

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def root(self, i: int) -> int:
        """The item that stands for ``i``'s group."""
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> bool:
        """Put ``a`` and ``b`` in one group; False when they were in one already."""
        ra, rb = self.root(a), self.root(b)
        self.parent[ra] = rb
        return ra != rb


def split_crossings(mask: np.ndarray, points: list[tuple[float, float]], pen: float) -> list[int] | None:
    """Which line each of ``points`` (where the line meets a shape, in ``mask``'s pixels) is on
    once crossings in ``mask`` (one connected piece of line ink) are undone: a line id per point,
    or None where a point is on no branch.

    >>> m = np.zeros((60, 60), np.uint8)
    >>> _ = cv2.line(m, (30, 2), (30, 57), 255, 2); _ = cv2.line(m, (2, 30), (57, 30), 255, 2)
    >>> ids = split_crossings(m, [(30, 3), (30, 56), (3, 30), (56, 30)], 2.0)
    >>> ids[0] == ids[1] != ids[2] == ids[3]
    True
    """
    skeleton = thin(mask)
    neighbours = cv2.filter2D(skeleton, -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT) - skeleton
    radius = max(3, int(round(2 * pen)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    joints = cv2.dilate(((skeleton == 1) & (neighbours >= 3)).astype(np.uint8), disc)
    n_zones, zones, stats, _ = cv2.connectedComponentsWithStats(joints, connectivity=8)
    n_branches, branches = cv2.connectedComponents(skeleton & (joints == 0), connectivity=8)
    lines = Groups(n_branches)
    # Each junction is looked at in a window round it as far as _through_pairs looks (a noisy
    # scan has hundreds of junctions: whole-mask arrays per junction cost seconds).
    margin = int(math.ceil(radius + 3 * pen + 6)) + 2
    for z in range(1, n_zones):
        x, y, w, h, _ = (int(v) for v in stats[z])
        window = (slice(max(0, y - margin), y + h + margin), slice(max(0, x - margin), x + w + margin))
        for a, b in _through_pairs(zones[window] == z, branches[window], radius, pen):
            lines.join(a, b)
    ys, xs = np.nonzero(branches)
    if not len(xs):
        return None
    reach = 3 * pen + 6
    ids = []
    for x, y in points:
        d = (xs - x) ** 2 + (ys - y) ** 2
        k = int(np.argmin(d))
        ids.append(lines.root(int(branches[ys[k], xs[k]])) if d[k] <= reach**2 else None)
    return ids


def _through_pairs(zone: np.ndarray, branches: np.ndarray, radius: int, pen: float) -> list[tuple[int, int]]:
    """Branches that one line makes through a junction zone: opposite pairs at a crossing of
    four, all of them at a merge or fork of three (or where four do not pair up straight)."""
    rim = cv2.dilate(zone.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    touching = sorted(set(branches[rim & (branches > 0)].tolist()))
    zy, zx = (float(v.mean()) for v in np.nonzero(zone))
    directions = {}
    for b in touching:
        ys, xs = np.nonzero(branches == b)
        dist = np.hypot(xs - zx, ys - zy)
        near = dist <= radius + 3 * pen + 6  # the branch's first stretch out of the junction
        v = np.array([xs[near].mean() - zx, ys[near].mean() - zy]) if near.any() else np.zeros(2)
        directions[b] = v / max(float(np.hypot(*v)), 1e-6)
    if len(touching) == 4:
        pairs = sorted(
            (float(directions[a] @ directions[b]), a, b) for i, a in enumerate(touching) for b in touching[i + 1 :]
        )
        (c1, a1, b1) = pairs[0]
        rest = [b for b in touching if b not in (a1, b1)]
        c2 = float(directions[rest[0]] @ directions[rest[1]])
        if c1 <= STRAIGHT_ON and c2 <= STRAIGHT_ON:
            return [(a1, b1), (rest[0], rest[1])]
    return [(touching[0], b) for b in touching[1:]]
