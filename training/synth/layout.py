"""A layered layout with routed arrows, for the renderers that draw charts themselves (PIL).

Nodes go into ranks by longest path along forward arrows (loops jump back), ranks are ordered by
the barycentre of their parents, and arrows are routed the way people draw them: straight down
when aligned, elbows out of a decision's side corners, and loops back around the outside.
Everything is laid out top-down; a left-to-right chart is the transposed layout.
"""

from __future__ import annotations

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
    straight = rng.random() < 0.3  # some people draw diagonals instead of elbows
    for e in spec.edges:
        a, b = boxes[e.source], boxes[e.target]
        if e.back or rank[e.target] <= rank[e.source]:
            lanes += 1
            routes[(e.source, e.target)] = _around(a, b, right + 18 * lanes)
            continue
        route = _down(a, b, shapes[e.source], straight)
        others = [box for n, box in boxes.items() if n not in (e.source, e.target)]
        if any(_crosses(route, box) for box in others):  # never through another shape: around the left
            skips += 1
            ay, by = (a[1] + a[3]) / 2, (b[1] + b[3]) / 2
            lane = left - 18 * skips
            route = [(a[0], ay), (lane, ay), (lane, by), (b[0], by)]
        routes[(e.source, e.target)] = route
    return routes


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
