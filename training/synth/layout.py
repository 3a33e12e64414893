"""A layered layout with routed arrows, for the renderers that draw charts themselves (PIL).

Nodes go into ranks by longest path along forward arrows (loops jump back), ranks are ordered by
the barycentre of their parents, and arrows are routed the way people draw them: straight down
when aligned, elbows out of a decision's side corners, and loops back around the outside. Where
such a route would run through a shape, an A* detour in straight legs goes around it instead,
clear of every shape and of the lines already drawn: an arrow through a shape would make the truth
a chart no detector could be asked to read.
Everything is laid out top-down; a left-to-right chart is the transposed layout.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
from dataclasses import dataclass

from flowparse.training.synth.structure import ChartSpec

__all__ = ["Layout", "layered_layout"]

Point = tuple[float, float]


@dataclass
class Layout:
    """Node boxes ``(x1, y1, x2, y2)`` and arrow routes (polylines, source to target) in pixels."""

    boxes: dict[str, tuple[float, float, float, float]]
    routes: dict[tuple[str, str], list[Point]]
    width: float
    height: float


def _ranks(spec: ChartSpec) -> dict[str, int]:
    return spec.ranks()


def _order(spec: ChartSpec, rank: dict[str, int]) -> list[list[str]]:
    layers: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    for node in spec.nodes:  # creation order is reading order: a good first guess
        layers[rank[node.id]].append(node.id)
    parents: dict[str, list[str]] = {n.id: [] for n in spec.nodes}
    for e in spec.edges:
        if rank[e.source] < rank[e.target]:
            parents[e.target].append(e.source)
    for _ in range(2):
        position = {n: i for layer in layers for i, n in enumerate(layer)}
        for layer in layers[1:]:
            layer.sort(key=lambda n: (sum(position[p] for p in parents[n]) / len(parents[n])) if parents[n]
                       else position[n])
            position.update({n: i for i, n in enumerate(layer)})
    return layers


def layered_layout(
    spec: ChartSpec,
    sizes: dict[str, tuple[float, float]],
    rng: random.Random,
    *,
    direction: str = "TB",
    node_gap: float = 40,
    rank_gap: float = 50,
    margin: float = 30,
) -> Layout:
    """Place nodes of the given ``sizes`` (width, height) and route every arrow.

    >>> from flowparse.training.synth.structure import sample_chart
    >>> spec = sample_chart(random.Random(0), max_nodes=8)
    >>> lay = layered_layout(spec, {n.id: (80, 30) for n in spec.nodes}, random.Random(0))
    >>> all(0 <= b[0] < b[2] <= lay.width and 0 <= b[1] < b[3] <= lay.height for b in lay.boxes.values())
    True
    """
    lr = direction == "LR"
    size = {n: ((h, w) if lr else (w, h)) for n, (w, h) in sizes.items()}  # lay out top-down, transpose later
    rank = _ranks(spec)
    layers = _order(spec, rank)
    centers = _place(spec, layers, rank, size, node_gap, rank_gap, rng)
    boxes = {n: (cx - size[n][0] / 2, cy - size[n][1] / 2, cx + size[n][0] / 2, cy + size[n][1] / 2)
             for n, (cx, cy) in centers.items()}
    shapes = {n.id: n.shape for n in spec.nodes}
    routes = _routes(spec, boxes, rank, shapes, rng, lr)
    boxes, routes, width, height = _fit(boxes, routes, margin)
    if lr:
        boxes = {n: (b[1], b[0], b[3], b[2]) for n, b in boxes.items()}
        routes = {k: [(y, x) for x, y in line] for k, line in routes.items()}
        width, height = height, width
    return Layout(boxes, routes, width, height)


def _place(spec, layers, rank, size, node_gap, rank_gap, rng) -> dict[str, Point]:
    centers: dict[str, Point] = {}
    parents: dict[str, list[str]] = {n.id: [] for n in spec.nodes}
    for e in spec.edges:
        if rank[e.source] < rank[e.target]:
            parents[e.target].append(e.source)
    y = 0.0
    for layer in layers:
        height = max(size[n][1] for n in layer)
        wanted = []
        for i, n in enumerate(layer):
            xs = [centers[p][0] for p in parents[n] if p in centers]
            wanted.append(sum(xs) / len(xs) if xs else i * (size[n][0] + node_gap))
        xs = _spread(layer, wanted, size, node_gap)
        for n, x in zip(layer, xs):
            centers[n] = (x + rng.uniform(-3, 3), y + height / 2)
        y += height + rank_gap * rng.uniform(0.85, 1.15)
    return centers


def _spread(layer: list[str], wanted: list[float], size, gap: float) -> list[float]:
    """Centres as close to ``wanted`` as they can be without overlapping (a left-to-right sweep)."""
    xs: list[float] = []
    for n, want in zip(layer, wanted):
        if xs:
            prev = layer[len(xs) - 1]
            want = max(want, xs[-1] + size[prev][0] / 2 + gap + size[n][0] / 2)
        xs.append(want)
    shift = (sum(wanted) - sum(xs)) / len(xs)  # keep the layer centred on what its parents wanted
    return [x + shift for x in xs]


def _routes(spec, boxes, rank, shapes, rng, lr) -> dict[tuple[str, str], list[Point]]:
    routes: dict[tuple[str, str], list[Point]] = {}
    right = max(b[2] for b in boxes.values())
    left = min(b[0] for b in boxes.values())
    lanes = skips = 0
    drawn: list[tuple[Point, Point]] = []  # legs routed so far, which a detour should not run along
    straight = rng.random() < 0.3  # some people draw diagonals instead of elbows
    for e in spec.edges:
        a, b = boxes[e.source], boxes[e.target]
        if e.back or rank[e.target] <= rank[e.source]:
            lanes += 1
            route = _around(a, b, right + 18 * lanes)
        else:
            route = _down(a, b, shapes[e.source], straight)
            if _blocked(route, boxes.values()):  # the usual detour: around the left
                skips += 1
                ay, by = (a[1] + a[3]) / 2, (b[1] + b[3]) / 2
                lane = left - 18 * skips
                route = [(a[0], ay), (lane, ay), (lane, by), (b[0], by)]
        if _blocked(route, boxes.values()):  # never through a shape, its own ends included
            route = _detour(a, b, list(boxes.values()), drawn)
        routes[(e.source, e.target)] = route
        drawn += zip(route, route[1:])
    return routes


def _blocked(route: list[Point], boxes) -> bool:
    return any(_crosses(route, box) for box in boxes)


_PAD = 12.0  # how far a detour keeps clear of every shape
_BEND = 40.0  # what a corner costs a detour, in pixels of length: people draw few corners
_SIDES = ((0, 1), (0, -1), (1, 0), (-1, 0))  # the ways out of a box: down, up, right, left


def _detour(a, b, boxes: list, drawn: list[tuple[Point, Point]]) -> list[Point]:
    """The shortest route, with the fewest corners, from a side of box ``a`` to a side of ``b``.

    Legs are horizontal and vertical, keep ``_PAD`` clear of every shape and pay to run along a
    leg already ``drawn`` (two arrows on one line could not be told apart): A* over the grid of
    lines just outside the shapes, which always has a way around the outside. Used where the
    routes people usually draw would pass through a shape.
    """
    walls = [(x1 - _PAD + 1, y1 - _PAD + 1, x2 + _PAD - 1, y2 + _PAD - 1) for x1, y1, x2, y2 in boxes]
    starts, ends = _ports(a, walls), _ports(b, walls)
    stubs = [stub for _, stub, _ in starts + ends]
    xs = sorted({v for x1, _, x2, _ in boxes for v in (x1 - _PAD, x2 + _PAD)} | {x for x, _ in stubs})
    ys = sorted({v for _, y1, _, y2 in boxes for v in (y1 - _PAD, y2 + _PAD)} | {y for _, y in stubs})
    lines = {(0, 1): ys, (0, -1): ys, (1, 0): xs, (-1, 0): xs}
    entry = {stub: (port, (-d[0], -d[1])) for port, stub, d in ends}

    def guess(p: Point) -> float:  # never more than what is left: keeps A* exact
        return min(abs(p[0] - s[0]) + abs(p[1] - s[1]) for s in entry)

    came: dict = {(stub, d): (None, _PAD + _shared(port, stub, drawn)) for port, stub, d in starts}
    first = {(stub, d): port for port, stub, d in starts}
    tie = itertools.count()  # heap entries never compare their states
    frontier = [(guess(stub) + came[(stub, d)][1], next(tie), (stub, d), None) for _, stub, d in starts]
    done = set()
    while frontier:
        _, _, state, last = heapq.heappop(frontier)
        if last is not None:  # the leg into the target, priced in: nothing cheaper is left
            path = []
            while state is not None:
                path.append(state[0])
                start, state = state, came[state][0]
            return _straightened([first[start], *reversed(path), last])
        if state in done:
            continue
        done.add(state)
        (point, d), cost = state, came[state][1]
        if point in entry:
            port, inward = entry[point]
            last_leg = _PAD + _BEND * (d != inward) + _shared(point, port, drawn)
            heapq.heappush(frontier, (cost + last_leg, next(tie), state, port))
        for turn in _SIDES:
            nxt = _step(point, turn, lines[turn])
            if nxt is None or (nxt, turn) in done or not _clear(point, nxt, walls):
                continue
            new = cost + abs(nxt[0] - point[0]) + abs(nxt[1] - point[1]) + _BEND * (turn != d)
            new += _shared(point, nxt, drawn)
            if (nxt, turn) not in came or came[(nxt, turn)][1] > new:
                came[(nxt, turn)] = (state, new)
                heapq.heappush(frontier, (new + guess(nxt), next(tie), (nxt, turn), None))
    return [_ports(a, [])[0][0], _ports(b, [])[1][0]]  # not reached: the outside ring is always free


def _ports(box, walls) -> list[tuple[Point, Point, tuple[int, int]]]:
    """``(port, stub, way out)`` for the middle of each side whose stub, ``_PAD`` out, is free."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    ports = []
    for d in _SIDES:
        port = (cx + d[0] * (x2 - x1) / 2, cy + d[1] * (y2 - y1) / 2)
        stub = (port[0] + d[0] * _PAD, port[1] + d[1] * _PAD)
        if not any(w[0] < stub[0] < w[2] and w[1] < stub[1] < w[3] for w in walls):
            ports.append((port, stub, d))
    return ports


def _step(point: Point, d: tuple[int, int], line: list[float]) -> Point | None:
    """The next grid point from ``point`` the way ``d`` goes, or None at the edge of the grid."""
    here = point[0] if d[0] else point[1]
    i = bisect.bisect_right(line, here) if (d[0] or d[1]) > 0 else bisect.bisect_left(line, here) - 1
    if not 0 <= i < len(line):
        return None
    return (line[i], point[1]) if d[0] else (point[0], line[i])


def _shared(p: Point, q: Point, drawn: list[tuple[Point, Point]]) -> float:
    """What running the leg ``p``-``q`` along legs already drawn costs: a corner's worth and thrice
    the shared length for each (crossing one is free: charts cross lines all the time)."""
    axis = 0 if p[1] == q[1] else 1  # 0: a horizontal leg, along x
    lo, hi, at = min(p[axis], q[axis]), max(p[axis], q[axis]), p[1 - axis]
    cost = 0.0
    for r, s in drawn:
        if abs(r[1 - axis] - at) < 6 and abs(s[1 - axis] - at) < 6:
            shared = min(hi, max(r[axis], s[axis])) - max(lo, min(r[axis], s[axis]))
            if shared > 0:
                cost += _BEND + 3 * shared
    return cost


def _clear(p: Point, q: Point, walls) -> bool:
    """Whether the horizontal or vertical leg ``p``-``q`` stays out of every wall."""
    lo_x, hi_x, lo_y, hi_y = min(p[0], q[0]), max(p[0], q[0]), min(p[1], q[1]), max(p[1], q[1])
    return not any(lo_x < w[2] and hi_x > w[0] and lo_y < w[3] and hi_y > w[1] for w in walls)


def _straightened(route: list[Point]) -> list[Point]:
    """``route`` without the points in the middle of a straight leg."""
    keep = [route[0]]
    for p, q in zip(route[1:], route[2:]):
        a = keep[-1]
        if not ((a[0] == p[0] == q[0]) or (a[1] == p[1] == q[1])):
            keep.append(p)
    return keep + [route[-1]]


def _crosses(route: list[Point], box) -> bool:
    """Whether the polyline passes through ``box`` (sampled every 3 px, 2 px inside the edges)."""
    x1, y1, x2, y2 = box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2
    for (ax, ay), (bx, by) in zip(route, route[1:]):
        steps = max(1, int(max(abs(bx - ax), abs(by - ay)) / 3))
        for k in range(steps + 1):
            x, y = ax + (bx - ax) * k / steps, ay + (by - ay) * k / steps
            if x1 < x < x2 and y1 < y < y2:
                return True
    return False


def _down(a, b, source_shape: str, straight: bool) -> list[Point]:
    acx, bcx = (a[0] + a[2]) / 2, (b[0] + b[2]) / 2
    if abs(acx - bcx) < 6:
        x = (acx + bcx) / 2
        return [(x, a[3]), (x, b[1])]
    if straight:
        return [(acx, a[3]), (bcx, b[1])]
    if source_shape == "diamond" and not (b[0] < acx < b[2]):
        side = a[2] if bcx > acx else a[0]  # branches leave a decision from its side corners
        y = (a[1] + a[3]) / 2
        return [(side, y), (bcx, y), (bcx, b[1])]
    mid = (a[3] + b[1]) / 2
    return [(acx, a[3]), (acx, mid), (bcx, mid), (bcx, b[1])]


def _around(a, b, lane: float) -> list[Point]:
    ay, by = (a[1] + a[3]) / 2, (b[1] + b[3]) / 2
    return [(a[2], ay), (lane, ay), (lane, by), (b[2], by)]


def _fit(boxes, routes, margin):
    xs = [v for b in boxes.values() for v in (b[0], b[2])] + [p[0] for r in routes.values() for p in r]
    ys = [v for b in boxes.values() for v in (b[1], b[3])] + [p[1] for r in routes.values() for p in r]
    dx, dy = margin - min(xs), margin - min(ys)
    boxes = {n: (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy) for n, b in boxes.items()}
    routes = {k: [(x + dx, y + dy) for x, y in r] for k, r in routes.items()}
    return boxes, routes, max(xs) + dx + margin, max(ys) + dy + margin
