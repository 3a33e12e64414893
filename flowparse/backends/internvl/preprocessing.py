"""InternVL's dynamic-resolution preprocessing, with PIL, numpy and torch only.

The same steps as InternVL's ``dynamic_preprocess`` / ``build_transform`` (internvl_chat's
``dataset.py``): the image is resized (bicubic) to the grid of 448 px tiles whose aspect ratio is
closest to the image's, among grids of ``min_tiles``..``max_tiles`` tiles (ties broken by InternVL's
rule), cut into tiles, a 448 x 448 thumbnail of the whole image is appended when there is more
than one tile, and every tile is scaled to [0, 1] and normalised with ImageNet mean and std.

transformers' own InternVL image processor is not used: it needs torchvision, which has no CPU
build here, and its tiling differs from InternVL's. The training recipes import these functions
rather than their own copy, so training and inference see identical pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

__all__ = [
    "TILE_SIZE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMG_START",
    "IMG_END",
    "IMG_CONTEXT",
    "IMAGE_PLACEHOLDER",
    "TilingConfig",
    "candidate_grids",
    "closest_grid",
    "tile_image",
    "tiles_to_uint8",
    "normalize_pixels",
    "tiles_to_tensor",
    "preprocess_image",
    "image_tokens",
    "expand_image_tokens",
]

#: Side of one tile in pixels (InternViT-300M-448px).
TILE_SIZE = 448
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: InternVL's image markers: ``<image>`` in a prompt becomes ``<img>`` + context tokens + ``</img>``.
IMG_START = "<img>"
IMG_END = "</img>"
IMG_CONTEXT = "<IMG_CONTEXT>"
IMAGE_PLACEHOLDER = "<image>"


@dataclass(frozen=True)
class TilingConfig:
    """How an image becomes tiles, and how many tokens a tile costs.

    >>> TilingConfig().tokens_per_tile
    256
    """

    #: Fewest tiles of the grid (InternVL2: 1).
    min_tiles: int = 1
    #: Most tiles of the grid, thumbnail not counted (InternVL2 inference: 6 to 12).
    max_tiles: int = 6
    #: Append a whole-image thumbnail when the grid has more than one tile.
    use_thumbnail: bool = True
    #: Tile side in pixels.
    image_size: int = TILE_SIZE
    #: ViT patch side; (image_size / patch_size)^2 * downsample_ratio^2 tokens per tile.
    patch_size: int = 14
    downsample_ratio: float = 0.5

    @property
    def tokens_per_tile(self) -> int:
        """``<IMG_CONTEXT>`` tokens one tile becomes after pixel shuffle (256 for 448/14/0.5)."""
        return int((self.image_size // self.patch_size) ** 2 * self.downsample_ratio**2)

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict (saved with checkpoints).

        >>> TilingConfig().to_dict()["max_tiles"]
        6
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TilingConfig:
        """The config from :meth:`to_dict` output; unknown keys are ignored.

        >>> TilingConfig.from_dict({"max_tiles": 12, "future_key": 1}).max_tiles
        12
        """
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def candidate_grids(min_tiles: int, max_tiles: int) -> list[tuple[int, int]]:
    """The ``(columns, rows)`` grids InternVL considers, in InternVL's order.

    InternVL builds a set and sorts it by tile count; the order among equal counts is the set's
    iteration order, which is deterministic for int tuples. It only matters for exact ties,
    and building the list the same way keeps even those identical.

    >>> candidate_grids(1, 2)
    [(1, 1), (1, 2), (2, 1)]
    """
    grids = set(
        (i, j)
        for n in range(min_tiles, max_tiles + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if min_tiles <= i * j <= max_tiles
    )
    return sorted(grids, key=lambda g: g[0] * g[1])


def closest_grid(width: int, height: int, config: TilingConfig = TilingConfig()) -> tuple[int, int]:
    """The ``(columns, rows)`` grid whose aspect ratio is closest to ``width / height``.

    On a tie the later (larger) grid wins when the image has more than half the grid's pixels:
    InternVL's rule, which prefers more tiles for large images.

    >>> closest_grid(800, 600), closest_grid(1000, 1000), closest_grid(300, 300)
    ((3, 2), (2, 2), (1, 1))
    """
    aspect = width / height
    best, best_diff = (1, 1), float("inf")
    for grid in candidate_grids(config.min_tiles, config.max_tiles):
        diff = abs(aspect - grid[0] / grid[1])
        if diff < best_diff:
            best, best_diff = grid, diff
        elif diff == best_diff and width * height > 0.5 * config.image_size**2 * grid[0] * grid[1]:
            best = grid
    return best


def tile_image(image: Image.Image, config: TilingConfig = TilingConfig()) -> list[Image.Image]:
    """The tiles of ``image`` (RGB), row by row, plus the thumbnail when there is more than one.

    >>> tiles = tile_image(Image.new("RGB", (1000, 500)))
    >>> len(tiles), tiles[0].size
    (3, (448, 448))
    """
    image = image.convert("RGB")
    size = config.image_size
    cols, rows = closest_grid(*image.size, config)
    resized = image.resize((size * cols, size * rows), Image.BICUBIC)
    tiles = [
        resized.crop((c * size, r * size, (c + 1) * size, (r + 1) * size)) for r in range(rows) for c in range(cols)
    ]
    if config.use_thumbnail and len(tiles) != 1:
        tiles.append(image.resize((size, size), Image.BICUBIC))
    return tiles


def tiles_to_uint8(tiles: Sequence[Image.Image], config: TilingConfig = TilingConfig()):
    """Tiles as a uint8 tensor ``(tiles, 3, size, size)``, not yet normalised.

    A quarter of the bytes of float32: the batched detector ships these to the GPU and normalises
    there (:func:`normalize_pixels`), which gives the same float32 values as doing it here.
    A tile of another size is resized (bicubic) first, as InternVL's transform does.

    >>> tiles_to_uint8([Image.new("RGB", (448, 448))]).dtype
    torch.uint8
    """
    import torch

    size = config.image_size
    arrays = []
    for tile in tiles:
        if tile.size != (size, size):
            tile = tile.resize((size, size), Image.BICUBIC)
        arrays.append(np.asarray(tile.convert("RGB"), dtype=np.uint8))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def normalize_pixels(pixels):
    """uint8 tiles to float32, scaled to [0, 1] and normalised with ImageNet mean and std (on the
    tensor's device).

    >>> import torch; normalize_pixels(torch.full((1, 3, 1, 1), 255, dtype=torch.uint8)).flatten()
    tensor([2.2489, 2.4286, 2.6400])
    """
    import torch

    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)
    return (pixels.to(torch.float32) / 255.0 - mean) / std


def tiles_to_tensor(tiles: Sequence[Image.Image], config: TilingConfig = TilingConfig()):
    """Tiles as a float32 tensor ``(tiles, 3, size, size)``, scaled to [0, 1] and normalised.

    >>> tiles_to_tensor([Image.new("RGB", (448, 448))]).shape
    torch.Size([1, 3, 448, 448])
    """
    return normalize_pixels(tiles_to_uint8(tiles, config))


def preprocess_image(image: Image.Image, config: TilingConfig = TilingConfig()):
    """``image`` as InternVL's ``pixel_values``: tiles (and thumbnail) as one normalised tensor.

    >>> preprocess_image(Image.new("RGB", (1000, 500))).shape
    torch.Size([3, 3, 448, 448])
    """
    return tiles_to_tensor(tile_image(image, config), config)


def image_tokens(num_tiles: int, tokens_per_tile: int = 256) -> str:
    """The text an image of ``num_tiles`` tiles (thumbnail included) stands for.

    >>> image_tokens(1, 2)
    '<img><IMG_CONTEXT><IMG_CONTEXT></img>'
    """
    return IMG_START + IMG_CONTEXT * (tokens_per_tile * num_tiles) + IMG_END


def expand_image_tokens(prompt: str, tiles_per_image: Sequence[int], tokens_per_tile: int = 256) -> str:
    """Replace each ``<image>`` in ``prompt``, in order, by :func:`image_tokens` of its tile count.

    >>> expand_image_tokens("<image>\\nWhat?", [1], 1)
    '<img><IMG_CONTEXT></img>\\nWhat?'
    """
    for count in tiles_per_image:
        if IMAGE_PLACEHOLDER not in prompt:
            break
        prompt = prompt.replace(IMAGE_PLACEHOLDER, image_tokens(count, tokens_per_tile), 1)
    return prompt
