"""Documents: page specs, PDF rendering, finding flowcharts among body text, parse_document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import test_pipeline_fakes as F  # on sys.path through conftest.py
from PIL import Image, ImageFilter

from flowparse.documents import (
    PdfError,
    find_figures,
    parse_document,
    parse_page_spec,
    pdf_page_count,
    place_on_page,
    render_pdf_page,
    select_pages,
)
from flowparse.graph import add_arrow, add_shape, new_graph

#: Where document_page draws a chart at (x, y): the ink spans (x, y) to (x + 800, y + 590).
CHART_W, CHART_H = 800, 590


@pytest.mark.parametrize(
    "spec, ranges",
    [
        (None, None),  # no spec: every page
        ("", None),
        ("4", [(4, 4)]),
        ("1, 3-5", [(1, 1), (3, 5)]),  # spaces are fine
        ("7-", [(7, None)]),  # open to the end
    ],
)
def test_page_specs(spec, ranges):
    assert parse_page_spec(spec) == ranges


@pytest.mark.parametrize("spec", ["0", "3-1", "a", "1-b", "-2", "1,,2"])
def test_bad_page_specs_raise(spec):
    with pytest.raises(ValueError, match="bad page range"):
        parse_page_spec(spec)


@pytest.mark.parametrize(
    "spec, count, wanted, missing",
    [
        ("1,3-5", 4, [1, 3, 4], [5]),
        ("2-", 3, [2, 3], []),
        ("5-", 3, [], [5]),  # an open range past the end is one missing page
        ("2,2,1-2", 3, [1, 2], []),  # repeats count once
    ],
)
def test_select_pages(spec, count, wanted, missing):
    assert select_pages(parse_page_spec(spec), count) == (wanted, missing)


# --- PDFs ------------------------------------------------------------------------------------


def test_pdf_pages_render_at_the_dpi_asked_for(tmp_path):
    pdf = F.make_pdf(tmp_path / "three.pdf")
    assert pdf_page_count(pdf) == pdf_page_count(pdf.read_bytes()) == 3
    assert render_pdf_page(pdf, 1, dpi=72).size == (200, 100)
    assert render_pdf_page(pdf.read_bytes(), 3, dpi=144).size == (840, 300)
    with pytest.raises(PdfError, match="page 4: the PDF has 3 pages"):
        render_pdf_page(pdf, 4)


def test_encrypted_damaged_and_huge_pdfs_raise_naming_the_file(tmp_path):
    with pytest.raises(PdfError, match=r"locked\.pdf: encrypted PDF"):
        pdf_page_count(F.make_encrypted_pdf(tmp_path / "locked.pdf"))
    (tmp_path / "cut.pdf").write_bytes(F.make_pdf(tmp_path / "whole.pdf").read_bytes()[:200])
    with pytest.raises(PdfError, match=r"cut\.pdf: not a readable PDF"):
        pdf_page_count(tmp_path / "cut.pdf")
    Image.new("RGB", (100, 100)).save(tmp_path / "poster.pdf", format="PDF", resolution=1)
    with pytest.raises(PdfError, match="20000x20000 px at 200 dpi"):
        render_pdf_page(tmp_path / "poster.pdf", 1, dpi=200)


# --- finding figures -------------------------------------------------------------------------


def _covers(box, x, y) -> bool:
    """Whether ``box`` holds the whole chart drawn at (x, y), with at most 60 px to spare a side."""
    x1, y1, x2, y2 = box
    return (
        x1 <= x
        and y1 <= y
        and x2 >= x + CHART_W
        and y2 >= y + CHART_H
        and x - x1 < 60
        and y - y1 < 60
        and x2 - x - CHART_W < 60
        and y2 - y - CHART_H < 60
    )


def _scanned(page: Image.Image) -> Image.Image:
    """A grey, slightly blurred, slightly rotated copy: what a scanner makes of a page."""
    grey = page.convert("L").point(lambda v: 60 + v * 0.7).filter(ImageFilter.GaussianBlur(1.2))
    return grey.rotate(0.6, fillcolor=238, resample=Image.Resampling.BILINEAR).convert("RGB")


@pytest.mark.parametrize(
    "charts",
    [
        ((300, 700),),  # one chart among paragraphs
        ((200, 500), (300, 1300)),  # two charts, text between them
    ],
)
def test_find_figures_boxes_the_charts_and_not_the_text(charts):
    boxes = find_figures(F.document_page(charts=charts))
    assert len(boxes) == len(charts)
    assert all(_covers(box, x, y) for box, (x, y) in zip(boxes, charts))


def test_find_figures_on_a_scan():
    boxes = find_figures(_scanned(F.document_page(charts=((300, 700),))))
    assert len(boxes) == 1 and _covers(boxes[0], 300, 700)


@pytest.mark.parametrize(
    "page",
    [
        Image.new("RGB", (1700, 2200), "white"),  # blank page
        F.document_page(charts=()),  # body text and a big heading only
    ],
)
def test_pages_without_charts_have_no_figures(page):
    assert find_figures(page) == []


def test_place_on_page_moves_boxes_and_points_into_page_pixels():
    G = new_graph(100, 80, source="crop")
    a, b = add_shape(G, "rectangle", (10, 10, 40, 30)), add_shape(G, "diamond", (50, 40, 90, 70))
    add_arrow(G, a, b, points=[(25, 30), (25, 55), (50, 55)])
    place_on_page(G, (300, 200, 400, 280), (1000, 900))
    assert G.nodes[b]["bbox"] == (350.0, 240.0, 390.0, 270.0)
    assert G.edges[a, b]["points"] == [(325.0, 230.0), (325.0, 255.0), (350.0, 255.0)]
    assert (G.graph["width"], G.graph["height"], G.graph["region"]) == (1000, 900, (300.0, 200.0, 400.0, 280.0))


# --- parse_document --------------------------------------------------------------------------


def _document_pdf(tmp_path: Path) -> Path:
    """Two letter pages at 200 dpi: text only, then text with two charts."""
    pages = [F.document_page(charts=()), F.document_page(charts=((200, 500), (300, 1300)))]
    path = tmp_path / "report.pdf"
    pages[0].save(path, format="PDF", save_all=True, append_images=pages[1:], resolution=200)
    return path


def test_parse_document_returns_one_graph_per_figure_with_page_and_region(tmp_path):
    graphs = parse_document(_document_pdf(tmp_path), backend=F.FAKE)
    assert [G.graph["page"] for G in graphs] == [2, 2]
    for G, (x, y) in zip(graphs, ((200, 500), (300, 1300))):
        x1, y1, x2, y2 = G.graph["region"]
        assert _covers(G.graph["region"], x, y) and (G.graph["width"], G.graph["height"]) == (1700, 2200)
        # the fake backend names each crop's size in the node text: boxes moved into the region
        assert G.nodes["n0"]["text"].startswith(f"{round(x2 - x1)}x{round(y2 - y1)}")
        assert all(x1 <= b[0] and b[2] <= x2 and y1 <= b[1] and b[3] <= y2 for _, b in G.nodes(data="bbox"))


def test_parse_document_whole_pages_and_page_selection(tmp_path):
    graphs = parse_document(_document_pdf(tmp_path), backend=F.FAKE, figures=False, pages="2", dpi=100)
    assert len(graphs) == 1 and graphs[0].graph["page"] == 2
    assert graphs[0].graph["region"] == (0.0, 0.0, 850.0, 1100.0)
    with pytest.raises(PdfError, match=r"pages \[3\] asked for"):
        parse_document(_document_pdf(tmp_path), backend=F.FAKE, pages="3")


def test_documents_and_pipeline_import_light():
    code = (
        "import sys, flowparse, flowparse.documents, flowparse.pipeline, flowparse.parse_cli, flowparse.cli;"
        "heavy = {'cv2', 'pypdfium2', 'torch', 'transformers', 'rapidocr', 'tqdm'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- the real classical detector -------------------------------------------------------------


def _classical_or_skip():
    import importlib.util

    for module in ("cv2", "rapidocr"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the classical detector needs {module} (pip install 'flowparse[classical]')")


def test_classical_detector_reads_the_chart_not_the_body_text(tmp_path):
    _classical_or_skip()
    page = tmp_path / "page.png"
    F.document_page(charts=((300, 700),)).save(page)
    [G] = parse_document(page, backend="classical")
    assert sorted(text for _, text in G.nodes(data="text")) == ["Step 0", "Step 1", "Step 2", "Step 3"]
    assert G.number_of_edges() >= 2 and G.graph["backend"] == "classical" and _covers(G.graph["region"], 300, 700)


def test_missing_pdf_engine_fails_each_pdf_with_the_install_hint(tmp_path, monkeypatch):
    from flowparse.pipeline import expand_inputs

    pdf = F.make_pdf(tmp_path / "three.pdf")
    monkeypatch.setitem(sys.modules, "pypdfium2", None)  # as if it were not installed
    [job] = expand_inputs([pdf])
    assert job.error == "reading PDFs needs pypdfium2: pip install 'flowparse[data]'"
