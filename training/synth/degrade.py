"""Degradations: what printing, scanning, photographing and sharing do to a chart.

Every degradation takes an image and its truth graph and returns both; the ones that move
pixels (rotation, rescaling) move boxes and arrow points with them. A rotated box is the box of
the rotated shape outline (not of the rotated box corners, which would grow it), clipped to the
image.
"""

from __future__ import annotations

import io
import math
import random

import networkx as nx
import numpy as np
from flowparse.training.synth.pil_render import shape_outlines
from flowparse.training.synth.truth import round_geometry
from PIL import Image, ImageFilter

from flowparse.geometry import clip_box

__all__ = ["degrade", "rotate", "perspective", "rescale", "fit_size", "paper_background", "jpeg", "blur", "noise"]


def _map_graph(G: nx.DiGraph, transform, size: tuple[int, int]) -> nx.DiGraph:
    """A copy of ``G`` with every box (through its shape outline) and point mapped by ``transform``."""
    H = G.copy()
    width, height = size
    H.graph["width"], H.graph["height"] = width, height
    for _, data in H.nodes(data=True):
        outline = [p for stroke in shape_outlines(data["shape"], data["bbox"]) for p in stroke]
        moved = [transform(x, y) for x, y in outline]
        xs, ys = [p[0] for p in moved], [p[1] for p in moved]
        data["bbox"] = round_geometry(clip_box((min(xs), min(ys), max(xs), max(ys)), width, height))
    for _, _, data in H.edges(data=True):
        if data.get("points"):
            data["points"] = [round_geometry((min(max(x, 0.0), width), min(max(y, 0.0), height)))
                              for x, y in (transform(*p) for p in data["points"])]
    return H


def rescale(image: Image.Image, G: nx.DiGraph, factor: float) -> tuple[Image.Image, nx.DiGraph]:
    """The image scaled by ``factor`` (at least 32 px a side), boxes and points with it.

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(100, 80); _ = add_shape(G, "rectangle", (10, 10, 30, 20))
    >>> image, H = rescale(Image.new("RGB", (100, 80), "white"), G, 0.5)
    >>> image.size, H.nodes["n0"]["bbox"]
    ((50, 40), (5.0, 5.0, 15.0, 10.0))
    """
    size = (max(32, round(image.width * factor)), max(32, round(image.height * factor)))
    sx, sy = size[0] / image.width, size[1] / image.height
    # reducing_gap: shrink by whole factors (box filter) first, then a bilinear pass: smooth and fast.
    resized = image.resize(size, Image.Resampling.BILINEAR if factor < 1 else Image.Resampling.BICUBIC,
                           reducing_gap=2.0 if factor < 1 else None)
    return resized, _map_graph(G, lambda x, y: (x * sx, y * sy), size)


def fit_size(image: Image.Image, G: nx.DiGraph, max_side: int) -> tuple[Image.Image, nx.DiGraph]:
    """Shrink so the longer side is at most ``max_side`` pixels (models and disks have limits)."""
    longest = max(image.size)
    return (image, G) if longest <= max_side else rescale(image, G, max_side / longest)


def rotate(image: Image.Image, G: nx.DiGraph, degrees: float, fill=(255, 255, 255)) -> tuple[Image.Image, nx.DiGraph]:
    """The image turned ``degrees`` counter-clockwise on a larger canvas, truth turned with it.

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(100, 100); _ = add_shape(G, "rectangle", (40, 40, 60, 60))
    >>> image, H = rotate(Image.new("RGB", (100, 100), "white"), G, 90)
    >>> H.nodes["n0"]["bbox"]
    (40.0, 40.0, 60.0, 60.0)
    """
    rotated = image.rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=fill)
    a = math.radians(degrees)
    cx, cy = image.width / 2, image.height / 2
    ncx, ncy = rotated.width / 2, rotated.height / 2
    cos, sin = math.cos(a), math.sin(a)

    def transform(x: float, y: float) -> tuple[float, float]:
        # PIL turns counter-clockwise on screen, where y points down.
        dx, dy = x - cx, y - cy
        return (ncx + dx * cos + dy * sin, ncy - dx * sin + dy * cos)

    return rotated, _map_graph(G, transform, rotated.size)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map taking the four points ``src`` to ``dst``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    h = np.linalg.solve(np.array(rows, float), np.array(rhs, float))
    return np.append(h, 1.0).reshape(3, 3)


def perspective(image: Image.Image, G: nx.DiGraph, corners, fill=(255, 255, 255)) -> tuple[Image.Image, nx.DiGraph]:
    """The page seen at an angle: the image corners (TL, TR, BR, BL) move to ``corners``.

    Straight lines stay straight under a projective map, so the box of a node is the box of its
    mapped outline. The output keeps the input's size; corners should stay inside it.

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(100, 100); _ = add_shape(G, "rectangle", (0, 0, 50, 50))
    >>> image, H = perspective(Image.new("RGB", (100, 100), "white"), G, [(10, 0), (100, 0), (100, 100), (10, 100)])
    >>> H.nodes["n0"]["bbox"]
    (10.0, 0.0, 55.0, 50.0)
    """
    w, h = image.size
    forward = _homography(np.array([(0, 0), (w, 0), (w, h), (0, h)], float), np.array(corners, float))
    back = np.linalg.inv(forward)
    back /= back[2, 2]
    warped = image.transform(image.size, Image.Transform.PERSPECTIVE, tuple(back.flatten()[:8]),
                             resample=Image.Resampling.BILINEAR, fillcolor=fill)

    def transform(x: float, y: float) -> tuple[float, float]:
        u, v, s = forward @ (x, y, 1.0)
        return (u / s, v / s)

    return warped, _map_graph(G, transform, image.size)


def paper_background(size: tuple[int, int], kind: str, rng: np.random.Generator) -> np.ndarray:
    """A ``kind`` of page to print the chart on: "scan", "photo" or "grid" (float RGB, 0..1).

    >>> paper_background((40, 30), "photo", np.random.default_rng(0)).shape
    (30, 40, 3)
    """
    width, height = size
    tint = rng.uniform(0.9, 1.0, 3) if kind != "scan" else np.full(3, rng.uniform(0.93, 1.0))
    page = np.empty((height, width, 3), np.float32)
    page[:] = tint.astype(np.float32)
    if kind == "photo":  # uneven light: a gradient plus a vignette, and a colour cast
        # Light varies slowly: compute it on a coarse grid and let numpy broadcast rows and columns.
        gx, gy, strength = rng.uniform(-0.25, 0.25), rng.uniform(-0.25, 0.25), rng.uniform(0.2, 0.6)
        x = (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]
        y = (np.arange(height, dtype=np.float32) / height - 0.5)[:, None]
        light = 1 + gx * x + gy * y - strength * (x * x + y * y)
        page *= light[..., None]
        page *= rng.uniform(0.85, 1.0, 3).astype(np.float32)
    if kind == "grid":  # squared notebook paper
        step = int(rng.integers(18, 36))
        shade = np.array([0.8, 0.88, 0.97], np.float32)
        page[::step, :, :] *= shade
        page[:, ::step, :] *= shade
    grain = rng.standard_normal((height, width, 1), dtype=np.float32) * np.float32(rng.uniform(0.005, 0.03))
    page += grain
    return np.clip(page, 0, 1, out=page)


def _print_on(image: Image.Image, page: np.ndarray) -> Image.Image:
    ink = np.asarray(image, np.float32) / 255.0
    return Image.fromarray((np.clip(ink * page, 0, 1) * 255 + 0.5).astype(np.uint8))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """The image after a JPEG round trip at ``quality``."""
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def blur(image: Image.Image, radius: float) -> Image.Image:
    """The image out of focus by a Gaussian of ``radius`` pixels."""
    return image.filter(ImageFilter.GaussianBlur(radius))


def noise(image: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    """The image with Gaussian sensor noise of ``sigma`` grey levels."""
    grain = rng.standard_normal((image.height, image.width, 1), dtype=np.float32) * np.float32(sigma)
    pixels = np.asarray(image, np.float32) + grain
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


def degrade(
    image: Image.Image, G: nx.DiGraph, rng: random.Random, *, strength: float = 1.0
) -> tuple[Image.Image, nx.DiGraph, list[str]]:
    """A random mix of degradations (``strength`` 0 = none, 1 = the usual mix); returns image,
    truth and the names of the degradations applied, in order.

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(120, 80); _ = add_shape(G, "diamond", (20, 20, 100, 60))
    >>> image, H, steps = degrade(Image.new("RGB", (120, 80), "white"), G, random.Random(4))
    >>> (H.graph["width"], H.graph["height"]) == image.size
    True
    """
    nprng = np.random.default_rng(rng.getrandbits(63))
    steps: list[str] = []
    chance = lambda p: rng.random() < p * strength  # noqa: E731 - a one-line local predicate reads best
    if chance(0.3):
        factor = rng.uniform(0.5, 1.3)
        image, G = rescale(image, G, factor)
        steps.append(f"rescale:{factor:.2f}")
    kind = rng.choice(("scan", "scan", "photo", "grid")) if chance(0.35) else None
    if kind:
        image = _print_on(image, paper_background(image.size, kind, nprng))
        steps.append(f"paper:{kind}")
    if chance(0.25):
        degrees = rng.uniform(-5, 5) if kind == "photo" else rng.uniform(-2.5, 2.5)
        corner = image.getpixel((0, 0))
        image, G = rotate(image, G, degrees, fill=corner)
        steps.append(f"rotate:{degrees:.2f}")
    if chance(0.12 if kind != "photo" else 0.5):  # a photographed page is rarely square to the camera
        w, h = image.size
        d = lambda size: rng.uniform(0, 0.06) * size  # noqa: E731
        corners = [(d(w), d(h)), (w - d(w), d(h)), (w - d(w), h - d(h)), (d(w), h - d(h))]
        image, G = perspective(image, G, corners, fill=image.getpixel((0, 0)))
        steps.append("perspective")
    if chance(0.2):
        radius = rng.uniform(0.3, 1.2)
        image = blur(image, radius)
        steps.append(f"blur:{radius:.2f}")
    if chance(0.2):
        sigma = rng.uniform(2, 10)
        image = noise(image, sigma, nprng)
        steps.append(f"noise:{sigma:.1f}")
    if chance(0.3):
        quality = rng.randint(30, 90)
        image = jpeg(image, quality)
        steps.append(f"jpeg:{quality}")
    return image, G, steps
