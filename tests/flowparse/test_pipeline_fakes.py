"""A fake backend and input makers shared by the pipeline, documents and parse-CLI tests.

The fake backend tests pipeline mechanics (batching, workers, resume, manifest) without a
detector: its graph is a pure function of the image, so two runs can be compared file by file.
Test files import it by its plain name (conftest.py puts this folder on sys.path); subprocesses
import it with ``FAKE_CLI`` before running the CLI.
"""

from __future__ import annotations

import io
import os
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
    out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>] >>\n" % (
        len(objects) + 1,
        b"ab" * 16,
        b"ab" * 16,
    )
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


def document_page(charts=((300, 700),), *, heading=True, seed=0, size=(1700, 2200), font_size=26) -> Image.Image:
    """A letter page at 200 dpi: a heading, body text, and a 4-box flowchart at each of ``charts``.

    Each chart spans (x, y) to (x + 800, y + 590): boxes with text, arrows, a "yes" label.
    """
    import random

    from PIL import ImageFont

    rnd, height = random.Random(seed), size[1]
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    font, big = ImageFont.load_default(size=font_size), ImageFont.load_default(size=2 * font_size)
    y = 120
    if heading:
        draw.text((150, y), "Quarterly Operations Report", font=big, fill="black")
        y += 120
    words = "the quick brown fox jumps over lazy dog process order invoice review approve".split()
    while y < height - 150:
        if not any(top - 40 <= y <= top + 740 for _, top in charts):
            draw.text((150, y), " ".join(rnd.choice(words) for _ in range(14)), font=font, fill="black")
        y += 40
    for x, top in charts:
        _draw_chart(draw, x, top, font)
    return page


def _draw_chart(draw, x: int, y: int, font) -> None:
    boxes = [
        (x, y, x + 300, y + 90),
        (x, y + 250, x + 300, y + 340),
        (x + 500, y + 250, x + 800, y + 340),
        (x, y + 500, x + 300, y + 590),
    ]
    for k, box in enumerate(boxes):
        draw.rectangle(box, outline="black", width=3)
        draw.text((box[0] + 30, box[1] + 30), f"Step {k}", font=font, fill="black")
    draw.line((x + 150, y + 90, x + 150, y + 250), fill="black", width=3)
    draw.polygon([(x + 140, y + 235), (x + 160, y + 235), (x + 150, y + 250)], fill="black")
    draw.line((x + 150, y + 340, x + 150, y + 500), fill="black", width=3)
    draw.line((x + 300, y + 295, x + 500, y + 295), fill="black", width=3)
    draw.text((x + 370, y + 260), "yes", font=font, fill="black")


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 250)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_fake_backend_is_a_pure_function_of_the_image():
    one, two = FakeBackend().parse(Image.new("RGB", (40, 30))), FakeBackend().parse(Image.new("RGB", (40, 30)))
    assert sorted(one.nodes(data="text")) == sorted(two.nodes(data="text"))
    assert one.number_of_nodes() == 1 and FakeBackend().parse(Image.new("RGB", (30, 30))).number_of_nodes() == 4
