"""Image loading for every detector: paths, bytes, file objects, PIL images and numpy arrays.

Everything becomes an RGB :class:`PIL.Image.Image` plus a source name for error messages and the
graph's ``source`` attribute. Bad input raises an :class:`~flowparse.errors.InputError` subclass
that names the source and the problem.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

from PIL import Image, ImageFile

from flowparse.errors import InputError
from flowparse.files import read_bytes

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageTooLargeError",
    "NotAnImageError",
    "TruncatedImageError",
    "EmptyImageError",
    "load_image",
]

#: The most pixels an input may have (about 8k x 8k): more is refused as a decompression bomb.
DEFAULT_MAX_PIXELS = 64_000_000

_PDF_MAGIC = b"%PDF"


class NotAnImageError(InputError):
    """The input is not an image format Pillow can read (a PDF, text, random bytes)."""


class TruncatedImageError(InputError):
    """The input starts like an image but its data ends early or is corrupt."""


class EmptyImageError(InputError):
    """The input has zero bytes, or the image has zero width or height."""


class ImageTooLargeError(InputError):
    """The image has more pixels than allowed (``max_pixels``): a guard against decompression bombs."""


def load_image(
    src: Any, *, source: str | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[Image.Image, str]:
    """Load ``src`` as an RGB PIL image and name it; ``max_pixels=None`` lifts the size limit.

    ``src`` is a path (str or :class:`pathlib.Path`), ``bytes``, a binary file object, a PIL image
    or a numpy array (H x W grey, H x W x 3 RGB or H x W x 4 RGBA, uint8).

    >>> from PIL import Image
    >>> image, name = load_image(Image.new("L", (4, 3)), source="blank")
    >>> image.mode, image.size, name
    ('RGB', (4, 3), 'blank')
    """
    if isinstance(src, Image.Image):
        name = source or "<image>"
        _check_size(src.size, name, max_pixels)
        return _to_rgb(src), name
    if _is_array(src):
        name = source or "<array>"
        return _from_array(src, name, max_pixels), name
    if isinstance(src, (str, os.PathLike)):
        name = source or os.fspath(src)
        return _decode(read_bytes(src, source=name), name, max_pixels), name
    if isinstance(src, (bytes, bytearray, memoryview)):
        name = source or "<bytes>"
        return _decode(bytes(src), name, max_pixels), name
    if hasattr(src, "read"):
        name = source or str(getattr(src, "name", "") or "<stream>")
        data = src.read()
        if not isinstance(data, (bytes, bytearray)):
            raise NotAnImageError("file object gives text, open it in binary mode ('rb')", source=name)
        return _decode(bytes(data), name, max_pixels), name
    raise NotAnImageError(
        f"cannot read an image from {type(src).__name__} "
        "(expected a path, bytes, a binary file, a PIL image or a numpy array)",
        source=source or "<input>",
    )


def _decode(data: bytes, name: str, max_pixels: int | None) -> Image.Image:
    if not data:
        raise EmptyImageError("empty file (zero bytes)", source=name)
    if data.startswith(_PDF_MAGIC):
        raise NotAnImageError("not an image but a PDF (PDF? use the pages option)", source=name)
    try:
        # Pillow's own bomb guard is global state; check our limit on the header instead.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageTooLargeError("image too large (decompression bomb guard)", source=name) from None
    except (OSError, SyntaxError, ValueError):
        raise NotAnImageError("not an image (unknown or unsupported format)", source=name) from None
    _check_size(image.size, name, max_pixels)
    return _load_pixels(image, name)


def _load_pixels(image: Image.Image, name: str) -> Image.Image:
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
        return _to_rgb(image)
    except Image.DecompressionBombError:
        raise ImageTooLargeError("image too large (decompression bomb guard)", source=name) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise TruncatedImageError(f"truncated or corrupt {image.format or 'image'} data ({e})", source=name) from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _check_size(size: tuple[int, int], name: str, max_pixels: int | None) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise EmptyImageError(f"image has zero size ({width}x{height})", source=name)
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"image too large: {width}x{height} = {width * height:,} pixels is over the limit of "
            f"{max_pixels:,} (decompression bomb guard; raise max_pixels to allow it)",
            source=name,
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas of a chart are page: composite on white, not on black.
        rgba = image.convert("RGBA")
        page = Image.new("RGB", rgba.size, (255, 255, 255))
        page.paste(rgba, mask=rgba.getchannel("A"))
        return page
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def _is_array(src: Any) -> bool:
    return hasattr(src, "__array_interface__") and hasattr(src, "shape") and hasattr(src, "dtype")


def _from_array(array: Any, name: str, max_pixels: int | None) -> Image.Image:
    import numpy as np

    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise NotAnImageError(f"array of shape {a.shape} is not an image (expected HxW, HxWx3 or HxWx4)", source=name)
    _check_size((a.shape[1], a.shape[0]), name, max_pixels)
    if a.dtype != np.uint8:
        if a.dtype.kind == "f" and a.size and float(np.nanmax(a)) <= 1.0:
            a = a * 255.0  # floats in [0, 1] are the usual convention for float images
        a = np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
    # uint8 HxW / HxWx3 / HxWx4 arrays become L / RGB / RGBA images.
    return _to_rgb(Image.fromarray(np.ascontiguousarray(a)))
