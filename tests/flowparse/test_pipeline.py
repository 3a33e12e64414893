"""The batch pipeline: inputs, outputs, manifest, resume, workers, batching and bad inputs.

Uses the fake backend of test_pipeline_fakes.py (a pure function of the image), so these tests
check the pipeline's mechanics, not detection quality.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import test_pipeline_fakes as F  # on sys.path through conftest.py
from flowparse.converters import read_json
from PIL import Image

from flowparse.backends import get_backend
from flowparse.pipeline import (
    MANIFEST_NAME,
    PipelineSetupError,
    expand_inputs,
    read_manifest,
    run_pipeline,
)


def run(inputs, out, **kw):
    kw.setdefault("backend", F.FAKE)
    kw.setdefault("progress", False)
    return run_pipeline([str(i) for i in inputs], out, **kw)


def manifest(out: Path) -> dict:
    """Manifest records by (path inside the input folder "in", or file name; page)."""
    rows = {}
    for r in read_manifest(out / MANIFEST_NAME):
        inside = r["path"].rpartition("/in/")[2]
        rows[Path(inside).name if inside == r["path"] else inside, r["page"]] = r
    return rows


def tree(out: Path) -> dict[str, bytes]:
    """Every output file except the manifest, by relative path (to compare two runs)."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }


@pytest.fixture
def mixed(tmp_path) -> Path:
    return F.make_mixed_folder(tmp_path / "in")


# --- inputs ----------------------------------------------------------------------------------


def test_folder_expands_recursively_with_default_globs_and_pdf_pages(mixed):
    jobs = expand_inputs([mixed])
    assert [j.stem for j in jobs] == [
        "a", "b", "corrupt", "doc-p1", "doc-p2", "doc-p3", "notes", "sub/a", "sub/c",
    ]  # fmt: skip
    assert all(j.error is None for j in jobs)  # notes.png only fails when loaded; notes.txt is not taken


@pytest.mark.parametrize(
    "globs, pages, stems",
    [
        (["*.png"], None, ["a", "corrupt", "notes", "sub/a", "sub/c"]),  # a glob filters names
        (["sub/*.png"], None, ["sub/a", "sub/c"]),  # a glob with / matches the path in the folder
        (["*.PDF"], "1,3", ["doc-p1", "doc-p3"]),  # case-insensitive; --pages picks pages
        (["*.pdf"], "2-", ["doc-p2", "doc-p3"]),  # an open range runs to the last page
    ],
)
def test_globs_and_pages_select_inputs(mixed, globs, pages, stems):
    assert [j.stem for j in expand_inputs([mixed], globs=globs, pages=pages)] == stems


def test_pages_beyond_the_pdf_are_failed_jobs_and_bad_specs_raise(mixed):
    jobs = expand_inputs([mixed / "doc.pdf"], pages="3-4")
    assert [(j.page, j.error) for j in jobs] == [(3, None), (4, "page 4: the PDF has 3 pages")]
    with pytest.raises(ValueError, match="bad page range"):
        expand_inputs([mixed / "doc.pdf"], pages="3-1")


def test_output_folder_inside_the_input_folder_is_not_read_back(mixed):
    (mixed / "out").mkdir()
    (mixed / "out" / "a.overlay.png").write_bytes(F.png_bytes(10, 10))
    assert not [j for j in expand_inputs([mixed], out_dir=mixed / "out") if "out/" in j.stem]


def test_keep_folders_puts_each_folder_under_its_name(tmp_path, mixed):
    other = tmp_path / "other"
    (other / "sub").mkdir(parents=True)
    (other / "a.png").write_bytes(F.png_bytes(40, 30))
    (other / "sub" / "a.png").write_bytes(F.png_bytes(40, 30))
    plain = expand_inputs([mixed, other])
    assert [j.stem for j in plain if j.error] == ["a", "sub/a"]  # other's files collide with in's
    jobs = expand_inputs([mixed, other, mixed / "b.png"], keep_folders=True)
    assert all(j.error is None for j in jobs)
    assert [j.stem for j in jobs if j.path.startswith(str(other))] == ["other/a", "other/sub/a"]
    assert "in/doc-p2" in [j.stem for j in jobs]
    assert [j.stem for j in jobs][-1] == "b"  # a file given by name keeps its own stem


def test_same_input_twice_counts_once_and_colliding_stems_fail_the_second(tmp_path, mixed):
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.png").write_bytes(F.png_bytes(40, 30))
    jobs = expand_inputs([mixed / "a.png", mixed / "a.png", other / "a.png"])
    assert len(jobs) == 2
    assert jobs[0].error is None and "already used by" in jobs[1].error


# --- outputs and manifest --------------------------------------------------------------------


def test_mixed_folder_writes_good_outputs_and_records_every_input(mixed, tmp_path):
    F.make_encrypted_pdf(mixed / "locked.pdf")
    out = tmp_path / "out"
    summary = run([mixed], out, formats=["json", "mermaid", "dot", "overlay"])
    assert (summary.total, summary.ok, summary.failed, summary.exit_code) == (10, 7, 3, 1)
    rows = manifest(out)
    assert len(rows) == 10
    assert rows["corrupt.png", None]["error"].startswith("truncated or corrupt")
    assert rows["notes.png", None]["error"].startswith("not an image")
    assert rows["locked.pdf", None]["error"].startswith("encrypted PDF")
    page2 = rows["doc.pdf", 2]
    assert page2["status"] == "ok" and page2["outputs"] == [
        "doc-p2.json",
        "doc-p2.mmd",
        "doc-p2.dot",
        "doc-p2.overlay.png",
    ]
    G = read_json(out / "doc-p2.json")
    # page 2 is 300x120 pt, rendered at 200 dpi (pdfium rounds 833.3 x 333.3 up)
    assert (G.graph["width"], G.graph["height"], G.graph["page"]) == (834, 334, 2)
    assert (G.number_of_nodes(), G.number_of_edges()) == (page2["nodes"], page2["edges"]) == (4, 3)
    assert (out / "doc-p2.mmd").read_text().startswith(("flowchart", "graph"))
    assert "digraph" in (out / "doc-p2.dot").read_text()
    assert Image.open(out / "sub/a.overlay.png").size == (70, 30)
    assert not (out / "corrupt.json").exists() and not list(out.rglob("*.tmp"))
    assert all(isinstance(r["seconds"], float) and r["seconds"] >= 0 for r in rows.values())


def test_dpi_sets_the_rendered_page_size(mixed, tmp_path):
    run([mixed / "doc.pdf"], tmp_path / "out", pages="1", dpi=144)
    G = read_json(tmp_path / "out" / "doc-p1.json")
    assert (G.graph["width"], G.graph["height"]) == (400, 200)  # 200x100 pt at 2 px per pt


def test_stdin_image_and_stdin_pdf(tmp_path, mixed):
    summary = run(["-"], tmp_path / "img", stdin=io.BytesIO(F.png_bytes(50, 40)))
    assert summary.ok == 1 and read_json(tmp_path / "img" / "stdin.json").graph["source"] == "<stdin>"
    summary = run(["-"], tmp_path / "pdf", stdin=io.BytesIO((mixed / "doc.pdf").read_bytes()), pages="2-3")
    assert summary.ok == 2 and sorted(tree(tmp_path / "pdf")) == ["stdin-p2.json", "stdin-p3.json"]


def test_huge_pdf_page_is_reported_not_rendered(tmp_path):
    poster = tmp_path / "poster.pdf"
    Image.new("RGB", (100, 100), "white").save(poster, format="PDF", resolution=1)  # 7200 pt a side
    summary = run([poster], tmp_path / "out")
    row = manifest(tmp_path / "out")["poster.pdf", 1]
    assert summary.failed == 1 and "over the 64 MP limit; lower --dpi" in row["error"]


def test_a_crashing_detector_costs_only_that_input(mixed, tmp_path):
    summary = run([mixed / "a.png", mixed / "sub" / "c.png"], tmp_path / "out", options={"crash_on_width": 40})
    rows = manifest(tmp_path / "out")
    assert rows["a.png", None]["error"] == "internal error: RuntimeError: boom"
    assert rows["sub/c.png", None]["status"] == "ok" and summary.exit_code == 1


def test_unknown_backend_is_a_setup_error(mixed, tmp_path):
    with pytest.raises(PipelineSetupError, match="no-such-backend"):
        run([mixed / "a.png"], tmp_path / "out", backend="no-such-backend")


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"formats": ["json", "pdf"]}, "unknown output format pdf"),  # a format that does not exist
        ({"workers": 0}, "workers must be"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"globs": ["*.svg"]}, "no inputs"),  # nothing matched
    ],
)
def test_bad_arguments_raise_value_error(mixed, tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        run([mixed], tmp_path / "out", **kw)


# --- scale: workers and batches give the same files -------------------------------------------


def test_workers_and_batches_write_what_one_process_writes(mixed, tmp_path):
    run([mixed], tmp_path / "one")
    summary = run([mixed], tmp_path / "two", workers=2)
    calls = get_backend(F.FAKE).calls  # the registered class (pytest may import the fakes twice)
    calls.clear()
    run([mixed], tmp_path / "batched", batch_size=3)
    assert summary.ok == 7 and tree(tmp_path / "one") == tree(tmp_path / "two") == tree(tmp_path / "batched")
    # a batch holding a corrupt file still goes to parse_many with the images that loaded
    assert calls and max(calls) == 3
    assert {k: r["status"] for k, r in manifest(tmp_path / "two").items()} == {
        k: r["status"] for k, r in manifest(tmp_path / "batched").items()
    }


def test_a_batch_with_a_crash_is_redone_one_by_one(mixed, tmp_path):
    summary = run(
        [mixed / "a.png", mixed / "sub" / "c.png", mixed / "b.jpg"],
        tmp_path / "out",
        batch_size=3,
        options={"crash_on_width": 40},
    )
    assert (summary.ok, summary.failed) == (2, 1)


# --- resume ----------------------------------------------------------------------------------


def test_resume_redoes_only_what_is_missing_failed_or_asked_for_anew(mixed, tmp_path):
    out = tmp_path / "out"
    run([mixed], out, formats=["json"])
    before = tree(out)
    (out / "sub" / "c.json").unlink()  # an output lost after the run
    (out / ".b.json.x1y2.tmp").write_text('{"half')  # left by a killed writer
    with open(out / MANIFEST_NAME, "a") as f:
        f.write('{"path": "cut sho')  # a line a killed run did not finish
    summary = run([mixed], out, formats=["json"], resume=True)
    # c lost its output and corrupt/notes failed before: those three are redone
    assert (summary.skipped, summary.ok, summary.failed) == (6, 1, 2)
    assert tree(out) == before
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == 9 and all(json.loads(line) for line in lines)
    summary = run([mixed], out, formats=["json", "mermaid"], resume=True)
    assert summary.skipped == 0 and summary.ok == 7  # a new format needs every input again


def test_without_resume_the_manifest_starts_afresh(mixed, tmp_path):
    run([mixed / "a.png"], tmp_path / "out")
    run([mixed / "b.jpg"], tmp_path / "out")
    assert list(manifest(tmp_path / "out")) == [("b.jpg", None)]


# --- figures ---------------------------------------------------------------------------------


def test_figures_mode_writes_one_graph_per_chart_with_its_region(tmp_path):
    page = tmp_path / "page.png"
    F.document_page(charts=((200, 500), (300, 1300))).save(page)
    summary = run([page], tmp_path / "out", figures=True)
    row = manifest(tmp_path / "out")["page.png", None]
    assert summary.ok == 1 and row["outputs"] == ["page-f1.json", "page-f2.json"]
    regions = [f["region"] for f in row["figures"]]
    G = read_json(tmp_path / "out" / "page-f2.json")
    assert list(G.graph["region"]) == regions[1] and G.graph["page"] == 1
    assert regions[0][1] < 500 < regions[0][3] and regions[1][1] < 1300 < regions[1][3]


def test_seconds_are_each_inputs_own_time_in_a_batch(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(4):
        (folder / f"c{k}.png").write_bytes(F.png_bytes(40 + k, 30))
    run([folder], tmp_path / "out", batch_size=4, options={"delay": 0.1})
    seconds = [r["seconds"] for r in read_manifest(tmp_path / "out" / MANIFEST_NAME)]
    # each image sleeps 0.1 s in the backend; a running total would reach 0.4 s
    assert len(seconds) == 4 and all(0.09 <= s < 0.3 for s in seconds), seconds
