"""InternVL preprocessing against an independent, straightforward implementation of the same steps."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="pixel tensors need torch")

from flowparse.backends.internvl.preprocessing import (  # noqa: E402
    IMG_CONTEXT,
    TilingConfig,
    closest_grid,
    expand_image_tokens,
    image_tokens,
    preprocess_image,
    tile_image,
)

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def reference_grid(width, height, min_num=1, max_num=6, size=448):
    """InternVL's find_closest_aspect_ratio, written out plainly: grids by tile count, first
    strictly closer ratio wins, a later equally close one wins when the image is large enough."""
    grids = [
        (i, j)
        for n in range(1, max_num + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if i * j == n and n >= min_num
    ]
    best, best_diff = (1, 1), float("inf")
    for i, j in grids:
        diff = abs(width / height - i / j)
        if diff < best_diff:
            best, best_diff = (i, j), diff
        elif diff == best_diff and width * height > 0.5 * size * size * i * j:
            best = (i, j)
    return best


def reference_pixels(image, min_num=1, max_num=6, size=448, thumbnail=True):
    image = image.convert("RGB")
    cols, rows = reference_grid(*image.size, min_num, max_num, size)
    big = np.asarray(image.resize((cols * size, rows * size), Image.BICUBIC))
    tiles = [big[r * size : (r + 1) * size, c * size : (c + 1) * size] for r in range(rows) for c in range(cols)]
    if thumbnail and len(tiles) > 1:
        tiles.append(np.asarray(image.resize((size, size), Image.BICUBIC)))
    out = [((t.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1) for t in tiles]
    return np.stack(out)


def _noise_image(width, height, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


SIZES = [
    (640, 480),  # landscape 4:3 -> 3x2
    (480, 640),  # portrait -> 2x3
    (1000, 1000),  # square and large: tie (1,1)/(2,2) goes to (2,2)
    (300, 300),  # square and small: the tie stays (1,1)
    (1250, 1000),  # 1.25: tie between (1,1) and (3,2), large image -> (3,2)
    (125, 100),  # the same tie, small image -> (1,1)
    (2000, 300),  # very wide -> 6x1
    (37, 900),  # very tall -> 1x6
    (448, 448),  # exactly one tile, no thumbnail
    (897, 449),  # near 2:1
]


@pytest.mark.parametrize("width, height", SIZES)
def test_grid_matches_reference(width, height):
    for max_num in (1, 2, 6, 12):
        assert closest_grid(width, height, TilingConfig(max_tiles=max_num)) == reference_grid(width, height, 1, max_num)


def test_grid_matches_reference_on_many_sizes():
    sizes = [(w, h) for w in range(20, 3000, 97) for h in range(20, 3000, 89)]
    for min_num, max_num in ((1, 6), (1, 12), (2, 6), (1, 4)):
        config = TilingConfig(min_tiles=min_num, max_tiles=max_num)
        assert all(closest_grid(w, h, config) == reference_grid(w, h, min_num, max_num) for w, h in sizes)


@pytest.mark.parametrize("width, height", SIZES[:8])
def test_pixels_match_reference(width, height):
    image = _noise_image(width, height, seed=width)
    got = preprocess_image(image).numpy()
    expected = reference_pixels(image)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_tiles_and_thumbnail():
    image = _noise_image(640, 480)
    tiles = tile_image(image)
    assert len(tiles) == 3 * 2 + 1 and all(t.size == (448, 448) for t in tiles)
    assert len(tile_image(image, TilingConfig(use_thumbnail=False))) == 6
    assert len(tile_image(_noise_image(448, 448))) == 1  # one tile: no thumbnail
    assert len(tile_image(image.convert("L"))) == 7  # grey becomes RGB


def test_image_token_expansion():
    assert image_tokens(3).count(IMG_CONTEXT) == 256 * 3
    text = expand_image_tokens("<image>\nA <image> B", [2, 1], 4)
    assert text == f"<img>{IMG_CONTEXT * 8}</img>\nA <img>{IMG_CONTEXT * 4}</img> B"
    assert expand_image_tokens("no image", [2], 4) == "no image"
    assert TilingConfig(patch_size=28).tokens_per_tile == 64
    assert TilingConfig.from_dict({**TilingConfig(max_tiles=9).to_dict(), "unknown": 1}).max_tiles == 9
