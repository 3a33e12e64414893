"""The meta JSON and JSONL annotations: repeat/subsample, paths kept under root, bad lines named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowparse.training.data import DataError, load_records, read_annotation, read_meta, repeat_records

GOOD = {
    "id": "a",
    "image": "a.png",
    "width": 10,
    "height": 10,
    "conversations": [{"from": "human", "value": "<image>\nDetect."}, {"from": "gpt", "value": "ok"}],
}


def _dataset(tmp_path: Path, lines: list, name: str = "charts", repeat_time: float = 1, images=("a.png",)) -> Path:
    root = tmp_path / name / "images"
    root.mkdir(parents=True, exist_ok=True)
    for image in images:
        (root / image).write_bytes(b"not read here")
    annotation = tmp_path / name / "train.jsonl"
    annotation.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    meta = tmp_path / f"{name}_meta.json"
    meta.write_text(
        json.dumps(
            {
                name: {
                    "root": f"{name}/images",
                    "annotation": f"{name}/train.jsonl",
                    "data_augment": False,
                    "repeat_time": repeat_time,
                    "length": len(lines),
                }
            }
        )
    )
    return meta


def test_relative_paths_resolve_from_the_meta_folder(tmp_path):
    meta = _dataset(tmp_path, [GOOD])
    (spec,) = read_meta(meta)
    assert spec.root == tmp_path / "charts" / "images" and spec.annotation == tmp_path / "charts" / "train.jsonl"
    records, problems = read_annotation(spec)
    assert problems == [] and records[0].image == (tmp_path / "charts" / "images" / "a.png").resolve()
    assert records[0].turns == (("human", "<image>\nDetect."), ("gpt", "ok"))


def _conv(*turns):
    return [{"from": r, "value": v} for r, v in turns]


@pytest.mark.parametrize(
    "line, reason",
    [
        ("{not json", "not JSON"),  # broken JSON
        ("[1, 2]", "expected a JSON object"),  # not an object
        ({**GOOD, "image": "../../escape.png"}, "outside the dataset root"),  # path escapes root
        ({**GOOD, "image": "/etc/passwd"}, "outside the dataset root"),  # absolute path elsewhere
        ({**GOOD, "image": "missing.png"}, "image not found"),  # image file missing
        ({**GOOD, "image": ["a.png", "a.png"]}, "multi-image"),  # several images
        ({**GOOD, "conversations": []}, "non-empty list"),  # no conversation
        ({**GOOD, "conversations": _conv(("gpt", "x"), ("human", "y"))}, "expected 'human'"),  # wrong order
        ({**GOOD, "conversations": _conv(("human", "<image>\nq"))}, "no 'gpt' turn"),  # nothing to learn
        (
            {**GOOD, "conversations": _conv(("human", "<image><image>q"), ("gpt", "a"))},
            "expected one <image>",
        ),  # two images
        (
            {**GOOD, "conversations": _conv(("human", "q"), ("gpt", "a"), ("human", "<image>"), ("gpt", "b"))},
            "in the first human turn",
        ),  # image in a later turn
        (
            {"id": "t", "conversations": _conv(("human", "<image> q"), ("gpt", "a"))},
            "no 'image'",
        ),  # placeholder, no image
        ({**GOOD, "width": -3}, "'width' must be a positive number"),  # bad size
        ({**GOOD, "video": "v.mp4"}, "video samples are not supported"),  # video
    ],
)
def test_bad_lines_are_named_with_file_line_and_reason(tmp_path, line, reason):
    meta = _dataset(tmp_path, [GOOD, line])
    records, problems = read_annotation(read_meta(meta)[0])
    assert len(records) == 1 and len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'charts' / 'train.jsonl'}:2: ") and reason in problems[0]


def test_bad_lines_stop_the_run_or_are_skipped_and_counted(tmp_path):
    meta = _dataset(tmp_path, [GOOD, "{", GOOD, {**GOOD, "image": "nope.png"}])
    with pytest.raises(DataError) as err:
        load_records(read_meta(meta), on_bad_line="error")
    assert (
        "2 bad annotation line(s)" in str(err.value)
        and "train.jsonl:2" in str(err.value)
        and "train.jsonl:4" in str(err.value)
    )
    data = load_records(read_meta(meta), on_bad_line="skip")
    assert len(data.records) == 2 and len(data.problems) == 2


def test_missing_placeholder_is_put_first_and_text_only_samples_have_no_image(tmp_path):
    text_only = {"id": "t", "conversations": _conv(("system", "be brief"), ("human", "hi"), ("gpt", "hello"))}
    no_placeholder = {**GOOD, "conversations": _conv(("human", "Detect."), ("gpt", "ok"))}
    records, problems = read_annotation(read_meta(_dataset(tmp_path, [text_only, no_placeholder]))[0])
    assert problems == []
    assert records[0].image is None and records[0].turns[0] == ("system", "be brief")
    assert records[1].turns[0] == ("human", "<image>\nDetect.")


@pytest.mark.parametrize(
    "repeat_time, expected",
    [(1, 10), (0.5, 5), (0.25, 2), (3, 30), (2.5, 25), (0.01, 0)],  # keep, subsample, floor, repeat, mixed, none
)
def test_repeat_time(tmp_path, repeat_time, expected):
    lines = [{**GOOD, "id": str(k)} for k in range(10)]
    data = load_records(read_meta(_dataset(tmp_path, lines, repeat_time=repeat_time)), seed=1)
    assert len(data.records) == expected == data.counts["charts"]


def test_subsample_is_seeded_random_not_the_first_lines(tmp_path):
    lines = [{**GOOD, "id": str(k)} for k in range(100)]
    (spec,) = read_meta(_dataset(tmp_path, lines))
    records, _ = read_annotation(spec)
    picked = [r.id for r in repeat_records(records, 0.1, seed=7, name="charts")]
    again = [r.id for r in repeat_records(records, 0.1, seed=7, name="charts")]
    assert picked == again and len(set(picked)) == 10
    assert picked != [str(k) for k in range(10)]  # not the official first-N prefix
    assert picked == sorted(picked, key=int)  # file order kept


def test_several_datasets_mix_in_meta_order(tmp_path):
    a = json.loads(_dataset(tmp_path, [GOOD] * 4, name="flow", repeat_time=2).read_text())
    b = json.loads(_dataset(tmp_path, [GOOD] * 10, name="general", repeat_time=0.2).read_text())
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({**a, **b}))
    data = load_records(read_meta(meta))
    assert data.counts == {"flow": 8, "general": 2}
    assert [r.dataset for r in data.records] == ["flow"] * 8 + ["general"] * 2


@pytest.mark.parametrize(
    "meta, reason",
    [
        ("[]", "expected an object"),  # not an object
        ('{"a": {"annotation": "x.jsonl"}}', "'root' must be a non-empty path"),  # no root
        ('{"a": {"root": "r", "annotation": "x.jsonl", "repeat_time": 0}}', "repeat_time must be a number above 0"),
        ('{"a": {"root": "r", "annotation": "x.jsonl", "repeat_time": "2"}}', "repeat_time must be a number above 0"),
        ('{"a": {"root": "r", "annotation": "x.jsonl", "length": 1.5}}', "length must be a whole number"),
        ("{", "not JSON"),
    ],
)
def test_bad_meta_files(tmp_path, meta, reason):
    path = tmp_path / "meta.json"
    path.write_text(meta)
    with pytest.raises(DataError, match=reason) as err:
        read_meta(path)
    assert str(path) in str(err.value)


def test_missing_annotation_file_names_it(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text('{"a": {"root": ".", "annotation": "nope.jsonl"}}')
    with pytest.raises(DataError, match="nope.jsonl: cannot read"):
        load_records(read_meta(meta))
