"""load_image: every input kind becomes an RGB PIL image; every bad input a named InputError."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowparse.errors import FlowparseError, InputError
from flowparse.images import (
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    load_image,
)


def _png_bytes(size=(40, 30), mode="RGB", colour=(10, 20, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format="PNG")
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels but holds one empty data chunk (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.fixture
def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "chart.png"
    path.write_bytes(_png_bytes())
    return path


@pytest.mark.parametrize(
    "make, expected_name",
    [
        (lambda p: str(p), "chart.png"),  # a str path
        (lambda p: p, "chart.png"),  # a pathlib.Path
        (lambda p: p.read_bytes(), "<bytes>"),  # bytes
        (lambda p: bytearray(p.read_bytes()), "<bytes>"),  # bytearray
        (lambda p: io.BytesIO(p.read_bytes()), "<stream>"),  # an anonymous binary stream
        (lambda p: Image.open(p), "<image>"),  # a PIL image
        (lambda p: np.asarray(Image.open(p)), "<array>"),  # an HxWx3 uint8 array
    ],
)
def test_every_input_kind_loads_as_rgb(png_file: Path, make, expected_name: str):
    image, name = load_image(make(png_file))
    assert image.mode == "RGB" and image.size == (40, 30)
    assert image.getpixel((0, 0)) == (10, 20, 30)
    assert name.endswith(expected_name)


def test_open_binary_file_is_named_by_its_path(png_file: Path):
    with open(png_file, "rb") as f:
        _, name = load_image(f)
    assert name == str(png_file)


@pytest.mark.parametrize(
    "array, pixel",
    [
        (np.full((5, 6), 200, np.uint8), (200, 200, 200)),  # grey HxW
        (np.full((5, 6, 1), 7, np.uint8), (7, 7, 7)),  # HxWx1
        (np.full((5, 6, 4), [255, 0, 0, 0], np.uint8), (255, 255, 255)),  # fully transparent: page white
        (np.full((5, 6, 3), 0.5, np.float32), (127, 127, 127)),  # floats in [0, 1]
        (np.full((5, 6), 300, np.int32), (255, 255, 255)),  # out of range ints are clipped
    ],
)
def test_arrays_of_every_layout(array: np.ndarray, pixel: tuple):
    image, _ = load_image(array)
    assert image.mode == "RGB" and image.size == (6, 5)
    assert image.getpixel((2, 2)) == pixel


def test_transparent_png_composites_on_white():
    data = _png_bytes(mode="RGBA", colour=(0, 0, 0, 0))
    image, _ = load_image(data)
    assert image.getpixel((1, 1)) == (255, 255, 255)


def test_sixteen_bit_grey_png():
    buf = io.BytesIO()
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(buf, format="PNG")
    image, _ = load_image(buf.getvalue())
    assert image.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(
    "data, error, words",
    [
        (b"hello, I am text\n", NotAnImageError, "not an image"),  # plain text
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", NotAnImageError, "PDF? use the pages option"),  # a PDF
        (b"", EmptyImageError, "zero bytes"),  # an empty file
        (_png_bytes((300, 200))[:200], TruncatedImageError, "truncated"),  # cut short
        (_png_header_only(100_000, 100_000), ImageTooLargeError, "decompression bomb"),  # a bomb
    ],
)
def test_bad_bytes_raise_named_errors(tmp_path: Path, data: bytes, error: type, words: str):
    path = tmp_path / "input.png"
    path.write_bytes(data)
    with pytest.raises(error) as info:
        load_image(path)
    assert isinstance(info.value, InputError) and isinstance(info.value, FlowparseError)
    assert str(info.value).startswith(f"{path}: ")
    assert words in str(info.value)


def test_size_limit_is_configurable():
    data = _png_bytes((100, 100))
    with pytest.raises(ImageTooLargeError, match=r"10,000 pixels is over the limit of 9,999"):
        load_image(data, source="big.png", max_pixels=9_999)
    assert load_image(data, max_pixels=None)[0].size == (100, 100)
    with pytest.raises(ImageTooLargeError, match="^big.png: "):
        load_image(Image.new("RGB", (100, 100)), source="big.png", max_pixels=100)


@pytest.mark.parametrize(
    "src, error, words",
    [
        (np.zeros((0, 10, 3), np.uint8), EmptyImageError, "zero size"),  # an empty array
        (np.zeros((4, 4, 2), np.uint8), NotAnImageError, "is not an image"),  # two channels
        (12345, NotAnImageError, "cannot read an image from int"),  # not an input at all
        (io.StringIO("text"), NotAnImageError, "binary mode"),  # a text-mode file
    ],
)
def test_bad_objects(src, error: type, words: str):
    with pytest.raises(error, match=words):
        load_image(src)


def test_missing_file_and_folder(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)
