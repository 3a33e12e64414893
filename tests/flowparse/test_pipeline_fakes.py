"""A fake backend and input makers shared by the pipeline, documents and parse-CLI tests.

The fake backend tests pipeline mechanics (batching, workers, resume, manifest) without a
detector: its graph is a pure function of the image, so two runs can be compared file by file.
Other test files import this module by path (``load_fakes()``); subprocesses import it with
``FAKE_CLI`` before running the CLI.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

from flowparse.backends import register_backend
from flowparse.graph import add_arrow, add_shape, new_graph

FAKE = "fake-pipeline"
HERE = Path(__file__).resolve().parent

#: Runs the flowparse CLI with the fake backend registered: python -c FAKE_CLI parse ...
FAKE_CLI = (
    f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_pipeline_fakes; "
    "from flowparse.cli import main; main(prog_name='flowparse')"
)


class FakeBackend:
    """Nodes = (image width // 10) % 4 + 1, in a chain; ``delay`` seconds per image (for kills).

    ``crash_on_width`` makes the backend raise a plain RuntimeError for images that wide (a bug
    in a detector must cost only that input).
    """

    calls: list[int] = []

    def __init__(self, model=None, delay: float = 0.0, crash_on_width: int | None = None, **_):
        self.delay = float(os.environ.get("FAKE_PIPELINE_DELAY", delay))
        self.crash_on_width = crash_on_width

    def parse(self, image, *, source=""):
        if self.delay:
            time.sleep(self.delay)
        if image.width == self.crash_on_width:
            raise RuntimeError("boom")
        w, h = image.size
        G = new_graph(w, h, source=source, backend=FAKE)
        ids = [
            add_shape(G, "rectangle", (1, 1 + k, w - 1, 2 + k), text=f"{w}x{h}#{k}", score=0.9)
            for k in range(min((w // 10) % 4 + 1, h - 3))
        ]
        for a, b in zip(ids, ids[1:]):
            add_arrow(G, a, b, label="", score=0.8)
        return G

    def parse_many(self, images, *, batch_size, sources):
        FakeBackend.calls.append(len(images))
        return [self.parse(im, source=s) for im, s in zip(images, sources)]


register_backend(FAKE, FakeBackend, replace=True)


def png_bytes(width: int, height: int, color=(255, 255, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_pdf(path: Path, sizes=((200, 100), (300, 120), (420, 150))) -> Path:
    """A PDF with one page per size (points at 72 dpi), drawn by Pillow."""
    pages = [Image.new("RGB", size, "white") for size in sizes]
    for k, page in enumerate(pages):
        ImageDraw.Draw(page).rectangle((10, 10, 60 + 10 * k, 40), outline="black", width=2)
    pages[0].save(path, format="PDF", save_all=True, append_images=pages[1:], resolution=72)
    return path


def make_encrypted_pdf(path: Path) -> Path:
    """A PDF whose standard security handler wants a password that no one knows."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>] >>\n" % (len(objects) + 1, b"ab" * 16, b"ab" * 16)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    path.write_bytes(out)
    return path


def make_mixed_folder(root: Path) -> Path:
    """good images (two in a sub-folder), a corrupt PNG, a text file named .png, a notes.txt, a PDF."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.png").write_bytes(png_bytes(40, 30))
    (root / "b.jpg").write_bytes(_jpeg(50, 30))
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "c.png").write_bytes(png_bytes(60, 30))
    (root / "sub" / "a.png").write_bytes(png_bytes(70, 30))
    (root / "corrupt.png").write_bytes(png_bytes(80, 30)[:60])
    (root / "notes.png").write_text("these are notes, not an image\n")
    (root / "notes.txt").write_text("never picked up by the default globs\n")
    make_pdf(root / "doc.pdf")
    return root


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 250)).save(buffer, format="JPEG")
    return buffer.getvalue()


def load_fakes():
    """This module, imported once by name (other test files call this)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import test_pipeline_fakes

    return test_pipeline_fakes


def test_fake_backend_is_a_pure_function_of_the_image():
    one, two = FakeBackend().parse(Image.new("RGB", (40, 30))), FakeBackend().parse(Image.new("RGB", (40, 30)))
    assert sorted(one.nodes(data="text")) == sorted(two.nodes(data="text"))
    assert one.number_of_nodes() == 1 and FakeBackend().parse(Image.new("RGB", (30, 30))).number_of_nodes() == 4
