"""Reading InternVL fine-tune data: the meta JSON, its JSONL annotations, repeat and subsample.

The meta JSON names several datasets, so flowchart data can be mixed with general instruction
data that keeps the model's other abilities::

    {"flowcharts": {"root": "images/", "annotation": "train.jsonl", "data_augment": false,
                    "repeat_time": 2, "length": 5000},
     "general":    {"root": "/data/sharegpt4v/", "annotation": "/data/sharegpt4v.jsonl",
                    "data_augment": false, "repeat_time": 0.1, "length": 100000}}

Relative ``root`` and ``annotation`` paths are read from the meta file's folder. Each JSONL line is
``{id, image, width, height, conversations}`` with ``conversations`` a list of
``{"from": "human" | "gpt", "value": ...}`` (an optional first ``"system"`` turn). Unlike the
official loader, which swaps a line it cannot read for a random other sample, every bad line is
reported as ``file:line: reason``; the run stops before training (``on_bad_line="error"``) or
leaves them out and says how many (``"skip"``).

>>> specs = read_meta("work/data/meta.json")        # doctest: +SKIP
>>> data = load_records(specs, seed=42)             # doctest: +SKIP
>>> len(data.records), data.problems[:1]            # doctest: +SKIP
(10000, [])
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from flowparse.errors import InputError

__all__ = [
    "DataError",
    "DatasetSpec",
    "Record",
    "TrainingData",
    "IMAGE_PLACEHOLDER",
    "read_meta",
    "read_annotation",
    "repeat_records",
    "load_records",
]

#: Where the image goes in a human turn; expanded into image tokens by the sample builder.
IMAGE_PLACEHOLDER = "<image>"

_ROLES = ("human", "gpt")
_SHOWN_PROBLEMS = 20


class DataError(InputError):
    """Training data cannot be used: the message names the file (and line) and the problem."""


@dataclass(frozen=True)
class DatasetSpec:
    """One entry of the meta JSON, its paths resolved."""

    name: str
    root: Path
    annotation: Path
    data_augment: bool = False
    repeat_time: float = 1.0
    length: int | None = None


@dataclass(frozen=True)
class Record:
    """One checked training conversation.

    ``turns`` is ``(role, text)`` pairs with roles ``system`` / ``human`` / ``gpt``; when there is an
    image, the first human turn holds exactly one ``<image>``.
    """

    dataset: str
    where: str
    id: str
    image: Path | None
    turns: tuple[tuple[str, str], ...]
    data_augment: bool = False
    width: int | None = None
    height: int | None = None


@dataclass
class TrainingData:
    """The records of all datasets after repeat/subsample, and the lines that were left out."""

    records: list[Record]
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def read_meta(path: str | os.PathLike) -> list[DatasetSpec]:
    """The datasets named by an InternVL meta JSON, or a :class:`DataError` naming the problem.

    >>> read_meta("no/such/meta.json")
    Traceback (most recent call last):
    ...
    flowparse.training.data.DataError: no/such/meta.json: cannot read: no such file
    """
    from flowparse.files import read_text

    try:
        meta = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise DataError(f"not JSON: {e.msg} at line {e.lineno}", source=path) from None
    except InputError as e:
        raise DataError(e.problem, source=path) from None
    if not isinstance(meta, dict) or not meta:
        raise DataError("expected an object {name: {root, annotation, repeat_time, ...}}", source=path)
    base = Path(path).parent
    return [_dataset_spec(name, entry, base, path) for name, entry in meta.items()]


def _dataset_spec(name: str, entry: object, base: Path, path: str | os.PathLike) -> DatasetSpec:
    where = f"dataset {name!r}"
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object", source=path)
    for key in ("root", "annotation"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise DataError(f"{where}: {key!r} must be a non-empty path", source=path)
    repeat = entry.get("repeat_time", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, (int, float)) or not (repeat > 0 and math.isfinite(repeat)):
        raise DataError(f"{where}: repeat_time must be a number above 0, got {repeat!r}", source=path)
    length = entry.get("length")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
        raise DataError(f"{where}: length must be a whole number, got {length!r}", source=path)
    return DatasetSpec(
        name=str(name),
        root=_under(base, entry["root"]),
        annotation=_under(base, entry["annotation"]),
        data_augment=bool(entry.get("data_augment", False)),
        repeat_time=float(repeat),
        length=length,
    )


def _under(base: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def read_annotation(spec: DatasetSpec) -> tuple[list[Record], list[str]]:
    """The good records of ``spec``'s JSONL file and a ``file:line: reason`` line per bad one.

    >>> read_annotation(DatasetSpec("x", Path("."), Path("missing.jsonl")))
    Traceback (most recent call last):
    ...
    flowparse.training.data.DataError: missing.jsonl: cannot read: no such file
    """
    from flowparse.files import read_text

    try:
        text = read_text(spec.annotation)
    except InputError as e:
        raise DataError(e.problem, source=spec.annotation) from None
    root = spec.root.resolve()
    records, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{spec.annotation}:{number}"
        try:
            records.append(_record(line, spec, root, where))
        except ValueError as e:
            problems.append(f"{where}: {e}")
    return records, problems


def _record(line: str, spec: DatasetSpec, root: Path, where: str) -> Record:
    """One JSONL line checked and normalised; ``ValueError`` says what is wrong with it."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg})") from None
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object")
    if "video" in item and item["video"]:
        raise ValueError("video samples are not supported")
    turns = _turns(item.get("conversations"))
    image = _image_path(item.get("image"), root)
    turns = _place_image(turns, image is not None)
    return Record(
        dataset=spec.name,
        where=where,
        id=str(item.get("id", where)),
        image=image,
        turns=turns,
        data_augment=spec.data_augment,
        width=_size(item, "width"),
        height=_size(item, "height"),
    )


def _turns(conversations: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(conversations, list) or not conversations:
        raise ValueError("'conversations' must be a non-empty list")
    turns = []
    for k, turn in enumerate(conversations):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise ValueError(f"conversation turn {k} must be {{'from': ..., 'value': text}}")
        turns.append((turn.get("from"), turn["value"]))
    start = 1 if turns[0][0] == "system" else 0
    for k, (role, _) in enumerate(turns[start:], start=start):
        expected = _ROLES[(k - start) % 2]
        if role != expected:
            raise ValueError(
                f"conversation turn {k} is from {role!r}, expected {expected!r} (turns alternate human, gpt)"
            )
    if not any(role == "gpt" for role, _ in turns):
        raise ValueError("no 'gpt' turn: nothing to train on")
    return tuple(turns)


def _image_path(image: object, root: Path) -> Path | None:
    if image is None or image == "" or image == []:
        return None
    if isinstance(image, list):
        raise ValueError("multi-image samples are not supported")
    if not isinstance(image, str):
        raise ValueError(f"'image' must be a path, got {image!r}")
    path = (root / image).resolve()
    # A path that leaves the dataset's root (../, an absolute path elsewhere, a symlink out) is
    # refused: annotation files come from many places and must not read arbitrary files.
    if not path.is_relative_to(root):
        raise ValueError(f"image {image!r} is outside the dataset root {root}")
    if not path.is_file():
        raise ValueError(f"image not found: {path}")
    return path


def _place_image(turns: tuple[tuple[str, str], ...], has_image: bool) -> tuple[tuple[str, str], ...]:
    """Exactly one ``<image>`` in the first human turn when there is an image, none otherwise."""
    count = sum(text.count(IMAGE_PLACEHOLDER) for _, text in turns)
    if not has_image:
        if count:
            raise ValueError(f"{IMAGE_PLACEHOLDER} in the text but no 'image'")
        return turns
    first = next(k for k, (role, _) in enumerate(turns) if role == "human")
    if count == 0:
        # The official loader puts the image first when a sample forgot the placeholder.
        turns = turns[:first] + (("human", f"{IMAGE_PLACEHOLDER}\n{turns[first][1]}"),) + turns[first + 1 :]
    elif count > 1 or IMAGE_PLACEHOLDER not in turns[first][1]:
        raise ValueError(f"expected one {IMAGE_PLACEHOLDER}, in the first human turn; found {count}")
    return turns


def _size(item: dict, key: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{key!r} must be a positive number, got {value!r}")
    return int(value)


def repeat_records(records: list[Record], repeat_time: float, *, seed: int, name: str = "") -> list[Record]:
    """``records`` repeated ``int(repeat_time)`` times plus a seeded subsample for the fraction.

    Below 1 this keeps ``int(len * repeat_time)`` records, as the official loader does, but drawn
    at random (in file order) rather than the first ones: an exporter that writes one task kind
    after another would otherwise lose whole task kinds.

    >>> recs = [Record("d", str(k), str(k), None, (("human", "q"), ("gpt", "a"))) for k in range(10)]
    >>> [len(repeat_records(recs, t, seed=0)) for t in (0.3, 2, 1.5)]
    [3, 20, 15]
    """
    whole, fraction = int(repeat_time), repeat_time - int(repeat_time)
    out = list(records) * whole
    keep = int(len(records) * fraction + 1e-9)
    if keep:
        rng = random.Random(f"{seed}:{name}")
        picked = sorted(rng.sample(range(len(records)), keep))
        out += [records[k] for k in picked]
    return out


def load_records(specs: list[DatasetSpec], *, seed: int = 42, on_bad_line: str = "error") -> TrainingData:
    """Every dataset read, checked and repeated; bad lines raise (``"error"``) or are listed (``"skip"``).

    >>> load_records([], seed=0).records
    []
    """
    data = TrainingData(records=[])
    for spec in specs:
        records, problems = read_annotation(spec)
        data.problems += problems
        repeated = repeat_records(records, spec.repeat_time, seed=seed, name=spec.name)
        data.counts[spec.name] = len(repeated)
        data.records += repeated
    if data.problems and on_bad_line == "error":
        shown = "\n  ".join(data.problems[:_SHOWN_PROBLEMS])
        more = len(data.problems) - _SHOWN_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise DataError(
            f"{len(data.problems)} bad annotation line(s) "
            f"(fix them, or set on_bad_line=skip to leave them out):\n  {shown}{tail}"
        )
    return data
