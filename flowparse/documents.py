"""Documents: PDF pages as images, and the flowcharts found among a page's body text.

A PDF page is rendered with pypdfium2 at a chosen DPI; :func:`find_figures` looks for the
flowchart regions on a page (or on a scanned document image) with OpenCV, and
:func:`parse_document` parses each one and records where it sits on the page:

>>> graphs = parse_document("report.pdf", pages="2-3")       # doctest: +SKIP
>>> [(G.graph["page"], G.graph["region"]) for G in graphs]  # doctest: +SKIP
[(2, (212.0, 480.0, 1410.0, 1190.0))]

Node boxes of a figure's graph are in pixels of the rendered page (``width`` / ``height`` are
the page's), so the boxes of every figure on a page share one coordinate system.
pypdfium2 and OpenCV are imported inside the functions that use them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import networkx as nx

from flowparse.errors import FlowparseError, InputError
from flowparse.images import DEFAULT_MAX_PIXELS

__all__ = [
    "DEFAULT_DPI",
    "MAX_PAGE_PIXELS",
    "PdfError",
    "is_pdf",
    "parse_page_spec",
    "select_pages",
    "pdf_page_count",
    "render_pdf_page",
    "find_figures",
    "place_on_page",
    "parse_figures",
    "parse_document",
]

#: Render resolution for PDF pages: small chart text stays readable to OCR at 200 dpi.
DEFAULT_DPI = 200

#: A page rendered larger than this is refused (a poster at 600 dpi would take gigabytes); the
#: same limit as for image files, since the parser would refuse a larger page anyway.
MAX_PAGE_PIXELS = DEFAULT_MAX_PIXELS

_PDF_MAGIC = b"%PDF-"


class PdfError(InputError):
    """A PDF that cannot be used: encrypted, damaged, no such page, or a page too large."""


def is_pdf(source: str | os.PathLike | bytes) -> bool:
    """Whether ``source`` (a path or the bytes of a file) holds a PDF, judged by its first bytes.

    >>> is_pdf(b"%PDF-1.7 ..."), is_pdf(b"\\x89PNG")
    (True, False)
    """
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:5]) == _PDF_MAGIC
    try:
        with open(source, "rb") as f:
            return f.read(5) == _PDF_MAGIC
    except OSError:
        return Path(source).suffix.lower() == ".pdf"


def parse_page_spec(spec: str | None) -> list[tuple[int, int | None]] | None:
    """Page ranges from ``"1,3-5,9-"`` (1-based, inclusive; ``9-`` runs to the end); None for all.

    >>> parse_page_spec("1,3-5,9-")
    [(1, 1), (3, 5), (9, None)]
    """
    if spec is None or not str(spec).strip():
        return None
    ranges = []
    for part in str(spec).split(","):
        first, dash, last = part.strip().partition("-")
        try:
            start = int(first)
            end = (int(last) if last.strip() else None) if dash else start
        except ValueError:
            raise ValueError(f"bad page range {part.strip()!r}: expected N, N-M or N-") from None
        if start < 1 or (end is not None and end < start):
            raise ValueError(f"bad page range {part.strip()!r}: pages count from 1, N-M needs N <= M")
        ranges.append((start, end))
    return ranges


def select_pages(ranges: Sequence[tuple[int, int | None]] | None, count: int) -> tuple[list[int], list[int]]:
    """The pages of a ``count``-page PDF that ``ranges`` asks for, and those asked for but missing.

    >>> select_pages([(2, 3), (5, None)], 4)
    ([2, 3], [5])
    """
    if ranges is None:
        return list(range(1, count + 1)), []
    wanted: set[int] = set()
    missing: set[int] = set()
    for start, end in ranges:
        last = count if end is None else end
        for page in range(start, last + 1):
            (wanted if page <= count else missing).add(page)
        if end is None and start > count:
            missing.add(start)
    return sorted(wanted), sorted(missing)


def _open_pdf(source: str | os.PathLike | bytes, name: str):
    try:
        import pypdfium2 as pdfium
    except ImportError:
        raise PdfError("reading PDFs needs pypdfium2: pip install 'flowparse[data]'", source=name) from None

    try:
        return pdfium.PdfDocument(source if isinstance(source, bytes) else os.fspath(source))
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise PdfError("encrypted PDF (needs a password); decrypt it first", source=name) from None
        raise PdfError(f"not a readable PDF ({e})", source=name) from None
    except FileNotFoundError:
        raise PdfError("cannot read: no such file", source=name) from None
    except OSError as e:
        raise PdfError(f"cannot read: {e.strerror or e}", source=name) from None


def pdf_page_count(source: str | os.PathLike | bytes, *, name: str | None = None) -> int:
    """The number of pages of a PDF (a path or its bytes); :class:`PdfError` if it cannot be opened.

    >>> pdf_page_count("report.pdf")  # doctest: +SKIP
    3
    """
    pdf = _open_pdf(source, name or _name_of(source))
    try:
        return len(pdf)
    finally:
        pdf.close()


def render_pdf_page(
    source: str | os.PathLike | bytes,
    page: int,
    *,
    dpi: float = DEFAULT_DPI,
    name: str | None = None,
    document=None,
):
    """Page ``page`` (1-based) of a PDF as an RGB PIL image at ``dpi``.

    Pass an open ``document`` (a ``pypdfium2.PdfDocument``) to render many pages of one file
    without reopening it. Pages larger than :data:`MAX_PAGE_PIXELS` are refused.

    >>> render_pdf_page("report.pdf", 3, dpi=150).size  # doctest: +SKIP
    (1275, 1650)
    """
    name = name or _name_of(source)
    pdf = document if document is not None else _open_pdf(source, name)
    try:
        if not 1 <= page <= len(pdf):
            raise PdfError(f"page {page}: the PDF has {len(pdf)} pages", source=name)
        pdf_page = pdf[page - 1]
        width, height = (round(v * dpi / 72) for v in pdf_page.get_size())
        if width * height > MAX_PAGE_PIXELS:
            raise PdfError(
                f"page {page} is {width}x{height} px at {dpi:g} dpi, over the "
                f"{MAX_PAGE_PIXELS // 1_000_000} MP limit; lower --dpi",
                source=name,
            )
        return pdf_page.render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        if document is None:
            pdf.close()


def _name_of(source: object) -> str:
    return "<bytes>" if isinstance(source, (bytes, bytearray)) else os.fspath(source)


# --- figures on a page -----------------------------------------------------------------------


def find_figures(image, *, min_shapes: int = 2) -> list[tuple[float, float, float, float]]:
    """Boxes ``(x1, y1, x2, y2)`` of the flowchart regions on a page image, top to bottom.

    Body text is told apart by size: glyphs are about one text line high, while a flowchart is
    drawn with outlines and lines many times that. Ink much larger than a glyph is grown by a
    few line heights so that the shapes and arrows of one chart join; a grown region counts as
    a figure when it holds at least ``min_shapes`` shapes (closed outlines or solid fills), which
    leaves out rules, underlines and a single framed box. Text labels touching the region are
    taken in. Tables with closed cells look like figures too (see docs/pipelines.md).

    >>> from PIL import Image
    >>> find_figures(Image.new("RGB", (800, 600), "white"))
    []
    """
    try:
        import cv2
    except ImportError:
        raise FlowparseError("finding figures needs OpenCV: pip install 'flowparse[classical]'") from None
    import numpy as np

    gray = np.asarray(image.convert("L"))
    ink = _binarize(gray)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    stats = stats[1:]  # row 0 is the background
    text_h = _text_height(stats, gray.shape[0])
    big = _graphic_components(stats, text_h)
    if not big.any():
        return []
    graphic = np.isin(labels, np.flatnonzero(big) + 1).astype(np.uint8) * 255
    reach = max(3, int(round(2.5 * text_h)))
    grown = cv2.dilate(graphic, cv2.getStructuringElement(cv2.MORPH_RECT, (reach, reach)))
    n_regions, region_labels, region_stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    boxes = []
    for k in range(1, n_regions):
        x, y, w, h, _ = region_stats[k]
        inside = graphic[y : y + h, x : x + w] * (region_labels[y : y + h, x : x + w] == k)
        if _count_shapes(inside, text_h) < min_shapes:
            continue
        ix, iy, iw, ih = cv2.boundingRect(inside)
        if iw < 5 * text_h or ih < 3 * text_h:
            continue
        ink_box = (x + ix, y + iy, x + ix + iw, y + iy + ih)
        boxes.append(_take_in_text(ink_box, (x, y, x + w, y + h), stats, text_h, gray.shape))
    return sorted(_merge_overlapping(boxes), key=lambda b: (b[1], b[0]))


def _binarize(gray):
    """Ink as 255 on 0: adaptive, so a scan's uneven lighting and light fills still separate."""
    import cv2

    block = max(15, (min(gray.shape) // 40) | 1)
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12)


def _text_height(stats, page_height: int) -> float:
    """The typical glyph height: the median height of small ink components (12 px on a blank page)."""
    import numpy as np

    heights = stats[:, 3][(stats[:, 4] >= 4) & (stats[:, 3] >= 4) & (stats[:, 3] <= page_height / 20)]
    return float(np.median(heights)) if len(heights) else 12.0


def _graphic_components(stats, text_h: float):
    """Components far larger than a glyph: shape outlines, fills and connector lines."""
    w, h = stats[:, 2], stats[:, 3]
    return ((w >= 2 * text_h) & (h >= 2 * text_h)) | (w >= 6 * text_h) | (h >= 6 * text_h)


def _count_shapes(mask, text_h: float) -> int:
    """Closed outlines (holes big enough to hold text) plus solid filled blobs."""
    import cv2

    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return 0
    shapes = 0
    for contour, (_, _, _, parent) in zip(contours, hierarchy[0]):
        x, y, w, h = cv2.boundingRect(contour)
        if w < 1.5 * text_h or h < 1.5 * text_h:
            continue
        is_hole = parent >= 0
        solid = not is_hole and cv2.contourArea(contour) > 0.6 * w * h and min(w, h) >= 2 * text_h
        shapes += is_hole or solid
    return shapes


def _take_in_text(ink_box, reach_box, stats, text_h: float, shape) -> tuple[float, float, float, float]:
    """``ink_box`` grown over the glyphs within reach of the chart (labels beside arrows), padded."""
    x1, y1, x2, y2 = ink_box
    rx1, ry1, rx2, ry2 = reach_box
    for x, y, w, h, _ in stats:
        if h <= 2 * text_h and x < rx2 and x + w > rx1 and y < ry2 and y + h > ry1:
            x1, y1, x2, y2 = min(x1, x), min(y1, y), max(x2, x + w), max(y2, y + h)
    pad = int(round(text_h))
    height, width = shape
    return (
        float(max(0, x1 - pad)),
        float(max(0, y1 - pad)),
        float(min(width, x2 + pad)),
        float(min(height, y2 + pad)),
    )


def _merge_overlapping(boxes: list) -> list:
    """Join boxes that overlap (a label taken in by two regions) into one."""
    merged: list = []
    for box in sorted(boxes):
        for i, other in enumerate(merged):
            if box[0] < other[2] and box[2] > other[0] and box[1] < other[3] and box[3] > other[1]:
                merged[i] = (min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3]))
                break
        else:
            merged.append(box)
    return merged


# --- parsing figures -------------------------------------------------------------------------


def place_on_page(G: nx.DiGraph, region: Sequence[float], page_size: tuple[int, int]) -> nx.DiGraph:
    """Move a graph parsed from the crop ``region`` into page pixels; record ``region`` on it.

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(100, 50); _ = add_shape(G, "rectangle", (10, 10, 20, 20))
    >>> place_on_page(G, (300, 400, 400, 450), (1000, 1000)).nodes["n0"]["bbox"]
    (310.0, 410.0, 320.0, 420.0)
    """
    dx, dy = float(region[0]), float(region[1])
    for _, data in G.nodes(data=True):
        if "bbox" in data:
            x1, y1, x2, y2 = data["bbox"]
            data["bbox"] = (x1 + dx, y1 + dy, x2 + dx, y2 + dy)
    for _, _, data in G.edges(data=True):
        if data.get("points") is not None:
            data["points"] = [(x + dx, y + dy) for x, y in data["points"]]
    G.graph["width"], G.graph["height"] = page_size
    G.graph["region"] = tuple(float(v) for v in region)
    return G


def parse_figures(image, parser, *, batch_size: int = 1) -> list[nx.DiGraph]:
    """Find the flowcharts on a page image, parse each crop with ``parser``, place them on the page.

    ``parser`` is what ``flowparse.load()`` returns. Each graph gets ``region`` (its box on the
    page); the caller adds ``source`` and ``page``.

    >>> graphs = parse_figures(page_image, flowparse.load())  # doctest: +SKIP
    """
    boxes = find_figures(image)
    crops = [image.crop(tuple(int(round(v)) for v in box)) for box in boxes]
    if batch_size > 1 and len(crops) > 1:
        graphs = list(parser.parse_many(crops, batch_size=batch_size))
    else:
        graphs = [parser.parse(crop) for crop in crops]
    return [place_on_page(G, box, image.size) for G, box in zip(graphs, boxes)]


def _document_pages(path: str | os.PathLike, pages: str | None, dpi: float) -> Iterator[tuple[int, object]]:
    """(page number, RGB image) for each page asked for: a PDF's pages, or an image as page 1."""
    if not is_pdf(path):
        from flowparse.images import load_image

        yield 1, load_image(path)[0]
        return
    name = os.fspath(path)
    pdf = _open_pdf(path, name)
    try:
        wanted, missing = select_pages(parse_page_spec(pages), len(pdf))
        if missing:
            raise PdfError(f"pages {missing} asked for, but the PDF has {len(pdf)} pages", source=name)
        for page in wanted:
            yield page, render_pdf_page(path, page, dpi=dpi, name=name, document=pdf)
    finally:
        pdf.close()


def parse_document(
    path: str | os.PathLike,
    *,
    pages: str | None = None,
    dpi: float = DEFAULT_DPI,
    figures: bool = True,
    backend: str = "auto",
    model: str | None = None,
    parser=None,
    **options,
) -> list[nx.DiGraph]:
    """The flowcharts in a PDF or a scanned document image, one graph each, in reading order.

    Each graph carries ``page`` (1-based; 1 for an image) and ``region``, the figure's box in
    pixels of the page rendered at ``dpi``; node boxes are in the same pixels. With
    ``figures=False`` every page is parsed whole (``region`` is then the whole page).
    ``pages`` takes ``"1,3-5"``; ``parser`` reuses a loaded ``flowparse.load()`` parser.

    >>> graphs = flowparse.parse_document("report.pdf", pages="1,3-5")  # doctest: +SKIP
    >>> graphs[0].graph["page"], graphs[0].graph["region"]  # doctest: +SKIP
    (3, (212.0, 480.0, 1410.0, 1190.0))
    """
    if parser is None:
        from flowparse.api import load

        parser = load(backend=backend, model=model, **options)
    graphs: list[nx.DiGraph] = []
    for page, image in _document_pages(path, pages, dpi):
        if figures:
            found = parse_figures(image, parser)
        else:
            found = [place_on_page(parser.parse(image), (0, 0, *image.size), image.size)]
        for G in found:
            G.graph["source"], G.graph["page"] = os.fspath(path), page
        graphs.extend(found)
    return graphs
