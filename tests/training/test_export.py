"""Exporters: InternVL JSONL + meta, ms-swift grounding rows, COCO; answers parse back."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from flowparse.converters.json_graph import read_json
from flowparse.training.export import export
from flowparse.training.synth import SynthOptions, generate

from flowparse.cli import main
from flowparse.grounding import parse_detection, parse_graph_answer, parse_grounding

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(out, SynthOptions(count=5, seed=21, max_nodes=12))
    return out


@pytest.fixture(scope="module")
def internvl(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("internvl")
    export(dataset, "internvl", out, seed=1)
    return out, [json.loads(line) for line in (out / "flowcharts.jsonl").read_text().splitlines()]


def _truth(dataset, record):
    return read_json(dataset / "truth" / record["image"].replace(".png", ".json"))


def _close(a, b, width, height) -> bool:
    # one unit of the 0..1000 grid, plus rounding: size / 1000 pixels per coordinate
    return all(abs(x - y) <= size / 1000 + 1e-6 for x, y, size in zip(a, b, (width, height) * 2))


def test_internvl_records_have_the_fine_tune_structure(internvl):
    _, records = internvl
    assert [r["id"] for r in records] == list(range(len(records)))
    assert {r["task"] for r in records} == {"detection", "grounding", "graph"}
    for r in records:
        assert {"id", "image", "width", "height", "conversations"} <= set(r)
        turns = r["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert turns[0]["value"].startswith("<image>\n") and turns[0]["value"].count("<image>") == 1
        assert all("<image>" not in t["value"] for t in turns[1:])


def test_internvl_meta_points_at_the_annotation_and_images(internvl, dataset):
    out, records = internvl
    meta = json.loads((out / "meta.json").read_text())
    entry = meta["flowcharts"]
    assert set(entry) == {"root", "annotation", "data_augment", "repeat_time", "length"}
    assert entry["length"] == len(records)
    assert (out / entry["annotation"]).is_file()
    assert all((out / entry["root"] / r["image"]).is_file() for r in records)


def test_detection_answers_parse_back_to_the_truth_boxes(internvl, dataset):
    _, records = internvl
    for r in (r for r in records if r["task"] == "detection"):
        G = _truth(dataset, r)
        parsed = parse_detection(r["conversations"][1]["value"], r["width"], r["height"])
        assert parsed.number_of_nodes() == G.number_of_nodes()
        truth = sorted((d["shape"], d["bbox"]) for _, d in G.nodes(data=True))
        back = sorted((d["shape"], d["bbox"]) for _, d in parsed.nodes(data=True))
        for (ts, tb), (ps, pb) in zip(truth, back):
            assert ts == ps and _close(tb, pb, r["width"], r["height"]), (ts, tb, pb)


def test_graph_answers_parse_back_to_the_truth_graph(internvl, dataset):
    _, records = internvl
    for r in (r for r in records if r["task"] == "graph"):
        G = _truth(dataset, r)
        H = parse_graph_answer(r["conversations"][1]["value"], r["width"], r["height"])
        assert H.number_of_nodes() == G.number_of_nodes() and H.number_of_edges() == G.number_of_edges()
        by_text = {d["text"]: d for _, d in G.nodes(data=True)}
        for _, d in H.nodes(data=True):
            if d["text"] in by_text:
                assert _close(d["bbox"], by_text[d["text"]]["bbox"], r["width"], r["height"])
                assert d["shape"] == by_text[d["text"]]["shape"]


def test_grounding_answers_locate_the_asked_text(internvl, dataset):
    _, records = internvl
    checked = 0
    for r in (r for r in records if r["task"] == "grounding"):
        G = _truth(dataset, r)
        boxes = {d["text"]: d["bbox"] for _, d in G.nodes(data=True)}
        for answer in r["conversations"][1::2]:
            text = answer["value"].split("<ref>")[1].split("</ref>")[0].replace("\\n", "\n")
            (box,) = parse_grounding(answer["value"], r["width"], r["height"])
            assert _close(box, boxes[text], r["width"], r["height"])
            checked += 1
    assert checked > 0


def test_swift_rows_follow_the_grounding_schema(dataset, tmp_path):
    export(dataset, "swift", tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "flowcharts.jsonl").read_text().splitlines()]
    assert rows
    for row in rows:
        assert set(row) <= {"messages", "images", "objects", "task"} and len(row["images"]) == 1
        user = [m["content"] for m in row["messages"] if m["role"] == "user"]
        assert user[0].startswith("<image>") and sum(u.count("<image>") for u in user) == 1
        if "objects" in row:
            objects = row["objects"]
            assert objects["bbox_type"] == "real" and len(objects["ref"]) == len(objects["bbox"])
            text = "".join(m["content"] for m in row["messages"])
            assert text.count("<ref-object>") == len(objects["ref"]) and text.count("<bbox>") == len(objects["bbox"])


def test_coco_export_has_shape_categories_and_every_box(dataset, tmp_path):
    export(dataset, "coco", tmp_path)
    coco = json.loads((tmp_path / "flowcharts.json").read_text())
    assert len(coco["categories"]) == 17 and coco["categories"][0] == {"id": 1, "name": "rectangle",
                                                                        "supercategory": "shape"}
    total = sum(read_json(p).number_of_nodes() for p in (dataset / "truth").glob("*.json"))
    assert len(coco["annotations"]) == total and len(coco["images"]) == 5
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0 and ann["area"] == pytest.approx(w * h, rel=1e-3, abs=0.05)


def test_export_command_and_help(dataset, tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["data", "export", "--help"]).exit_code == 0
    result = runner.invoke(main, ["data", "export", str(dataset), "--format", "internvl", "--out", str(tmp_path),
                                  "--tasks", "detection"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["records"] == 5


def test_export_of_a_folder_without_truth_fails_cleanly(tmp_path):
    result = CliRunner().invoke(main, ["data", "export", str(tmp_path), "--format", "coco", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "no truth" in result.output


def test_internvl_export_reads_with_the_training_loader(internvl):
    data = pytest.importorskip("flowparse.training.data")
    out, records = internvl
    loaded = data.load_records(data.read_meta(out / "meta.json"), seed=0)
    assert len(loaded.records) == len(records) and not loaded.problems
