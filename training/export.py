"""Exporters: synthetic (or any labelled) charts as training data (``flowparse data export``).

A dataset folder holds ``images/<id>.png`` and ``truth/<id>.json`` (graph-contract JSON), as
``flowparse data synth`` writes it. Three formats:

- ``internvl``: InternVL's fine-tune JSONL (``{id, image, width, height, conversations}``, the first
  human turn ``<image>\\n`` + prompt) plus a meta JSON ``{name: {root, annotation, data_augment,
  repeat_time, length}}``. Answers and prompts come from :mod:`flowparse.grounding`, the module the
  InternVL backend parses with, so targets and parser cannot drift apart. Tasks: ``detection``
  (one line per shape class), ``grounding`` (a few texts to locate, as one multi-turn
  conversation) and ``graph`` (the full grounded graph).
- ``swift``: ms-swift 3.x grounding rows (``messages`` with ``<ref-object>`` / ``<bbox>``
  placeholders, ``images``, ``objects`` = ``{ref, bbox, bbox_type: "real", image_id}``); ms-swift
  converts boxes to each model's own convention. The full-graph task is plain text on InternVL's
  0..1000 grid.
- ``coco``: COCO detection JSON with the canonical shapes as categories (ids 1..17 in
  :data:`flowparse.graph.SHAPES` order); node text kept in each annotation's ``attributes``.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import networkx as nx
import numpy as np

from flowparse.errors import FlowparseError, InputError
from flowparse.files import write_text_atomic
from flowparse.graph import SHAPES

__all__ = ["FORMATS", "TASKS", "iter_dataset", "internvl_records", "swift_records", "coco_dataset", "export"]

#: Export format names.
FORMATS: tuple[str, ...] = ("internvl", "swift", "coco")
#: Task kinds an export can hold (those of :data:`flowparse.grounding.TASKS`).
TASKS: tuple[str, ...] = ("detection", "grounding", "graph")
_GROUNDING_QUESTIONS = 3  # texts to locate per image: more turns, same image cost


def iter_dataset(folder: str | os.PathLike) -> Iterator[tuple[str, Path, nx.DiGraph]]:
    """``(id, image path, truth graph)`` for every truth file of a dataset folder, by id.

    A truth file without its image, or one that does not read, raises an error naming it.
    """
    from flowparse.converters.json_graph import read_json

    folder = Path(folder)
    truths = sorted((folder / "truth").glob("*.json"))
    if not truths:
        raise InputError("no truth/*.json here (a folder written by 'flowparse data synth'?)", source=folder)
    for path in truths:
        image = folder / "images" / f"{path.stem}.png"
        if not image.is_file():
            raise InputError(f"no image for {path.name} (expected {image})", source=folder)
        yield path.stem, image, read_json(path)


def _rng(seed: int, chart_id: str) -> random.Random:
    # Per chart, from (seed, id): an export is the same whatever order or subset it runs in.
    digest = sum((i + 1) * ord(c) for i, c in enumerate(chart_id))
    return random.Random(int(np.random.SeedSequence([seed, digest, len(chart_id)]).generate_state(1)[0]))


def _groundable(G: nx.DiGraph) -> list:
    """Nodes whose text names exactly one node (a text used twice cannot be located)."""
    texts = [G.nodes[n].get("text", "").strip() for n in G]
    return [n for n, t in zip(G, texts) if t and texts.count(t) == 1 and G.nodes[n].get("bbox") is not None]


def _conversation(turns: Sequence[tuple[str, str]]) -> list[dict]:
    out = []
    for k, (prompt, answer) in enumerate(turns):
        out.append({"from": "human", "value": ("<image>\n" if k == 0 else "") + prompt})
        out.append({"from": "gpt", "value": answer})
    return out


def internvl_records(chart_id: str, image: str, G: nx.DiGraph, *, tasks: Sequence[str] = TASKS,
                     seed: int = 0) -> list[dict]:
    """InternVL fine-tune records for one chart: one per task (grounding: several questions).

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(200, 100); _ = add_shape(G, "diamond", (20, 10, 120, 50), "ok?")
    >>> rec = internvl_records("000001", "000001.png", G, tasks=("detection",))[0]
    >>> rec["conversations"][0]["value"].count("<image>"), rec["conversations"][1]["value"]
    (1, '<ref>diamond</ref><box>[[100, 100, 600, 500]]</box>')
    """
    from flowparse.grounding import detection_answer, graph_answer, grounding_answer, prompt_for

    rng = _rng(seed, chart_id)
    base = {"image": image, "width": int(round(G.graph["width"])), "height": int(round(G.graph["height"]))}
    records = []
    for task in tasks:
        if task == "detection":
            turns = [(prompt_for("detection", rng=rng), detection_answer(G))]
        elif task == "graph":
            turns = [(prompt_for("graph", rng=rng), graph_answer(G))]
        elif task == "grounding":
            nodes = _groundable(G)
            picked = rng.sample(nodes, min(_GROUNDING_QUESTIONS, len(nodes)))
            turns = [(prompt_for("grounding", text=G.nodes[n]["text"], rng=rng), grounding_answer(G, n))
                     for n in picked]
            if not turns:
                continue
        else:
            raise ValueError(f"unknown task {task!r} (expected one of {', '.join(TASKS)})")
        records.append({**base, "task": task, "conversations": _conversation(turns)})
    return records


def swift_records(chart_id: str, image: str, G: nx.DiGraph, *, tasks: Sequence[str] = TASKS,
                  seed: int = 0) -> list[dict]:
    """ms-swift grounding rows for one chart (``bbox_type`` "real": pixel boxes of ``image``).

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(200, 100); _ = add_shape(G, "diamond", (20, 10, 120, 50), "ok?")
    >>> row = swift_records("1", "/data/1.png", G, tasks=("detection",))[0]
    >>> row["objects"]["ref"], row["objects"]["bbox"], row["messages"][1]["content"]
    (['diamond'], [[20.0, 10.0, 120.0, 50.0]], '<ref-object><bbox>')
    """
    from flowparse.grounding import graph_answer, prompt_for

    rng = _rng(seed, chart_id)
    boxed = [n for n in G if G.nodes[n].get("bbox") is not None]
    rows = []
    for task in tasks:
        if task == "detection":
            nodes = sorted(boxed, key=lambda n: (SHAPES.index(G.nodes[n]["shape"]), G.nodes[n]["bbox"][1]))
            refs = [G.nodes[n]["shape"] for n in nodes]
            messages = [("<image>" + prompt_for("detection", rng=rng), "\n".join("<ref-object><bbox>" for _ in nodes))]
        elif task == "grounding":
            nodes = rng.sample(_groundable(G), min(_GROUNDING_QUESTIONS, len(_groundable(G))))
            refs = [G.nodes[n]["text"] for n in nodes]
            # The first turn carries the image; each question's <ref-object> takes the next ref.
            messages = [(("<image>" if k == 0 else "") + _swift_question(rng), "<bbox>") for k in range(len(nodes))]
        elif task == "graph":
            nodes, refs = [], []
            messages = [("<image>" + prompt_for("graph", rng=rng), graph_answer(G))]
        else:
            raise ValueError(f"unknown task {task!r} (expected one of {', '.join(TASKS)})")
        if not messages:
            continue
        row = {"messages": [m for q, a in messages for m in ({"role": "user", "content": q},
                                                             {"role": "assistant", "content": a})],
               "images": [image], "task": task}
        if nodes:
            row["objects"] = {"ref": refs, "bbox": [[float(v) for v in G.nodes[n]["bbox"]] for n in nodes],
                              "bbox_type": "real", "image_id": [0] * len(nodes)}
        rows.append(row)
    return rows


def _swift_question(rng: random.Random) -> str:
    return rng.choice(("Find <ref-object> in the flowchart.", "Where is <ref-object>?", "Locate <ref-object>.",
                       "找到<ref-object>的位置。", "<ref-object>在哪里？"))


def coco_dataset(items: Sequence[tuple[str, str, nx.DiGraph]]) -> dict:
    """COCO detection JSON for ``(id, file_name, truth)`` items.

    >>> from flowparse.graph import new_graph, add_shape
    >>> G = new_graph(200, 100); _ = add_shape(G, "diamond", (20, 10, 120, 50), "ok?")
    >>> coco = coco_dataset([("1", "1.png", G)])
    >>> coco["annotations"][0]["bbox"], coco["categories"][6]["name"]
    ([20.0, 10.0, 100.0, 40.0], 'diamond')
    """
    images, annotations = [], []
    for k, (_, file_name, G) in enumerate(items, 1):
        images.append({"id": k, "file_name": file_name, "width": int(round(G.graph["width"])),
                       "height": int(round(G.graph["height"]))})
        for node, data in G.nodes(data=True):
            if data.get("bbox") is None:
                continue
            x1, y1, x2, y2 = (float(v) for v in data["bbox"])
            annotations.append({"id": len(annotations) + 1, "image_id": k,
                                "category_id": SHAPES.index(data["shape"]) + 1,
                                "bbox": [x1, y1, round(x2 - x1, 2), round(y2 - y1, 2)],
                                "area": round((x2 - x1) * (y2 - y1), 2), "iscrowd": 0,
                                "attributes": {"node": str(node), "text": data.get("text", "")}})
    return {"info": {"description": "flowparse flowcharts", "version": "1"}, "images": images,
            "annotations": annotations, "categories": [{"id": k + 1, "name": s, "supercategory": "shape"}
                                                       for k, s in enumerate(SHAPES)]}


def export(
    folder: str | os.PathLike,
    fmt: str,
    out: str | os.PathLike,
    *,
    tasks: Sequence[str] = TASKS,
    seed: int = 0,
    name: str = "flowcharts",
    repeat_time: float = 1.0,
) -> dict:
    """Export dataset ``folder`` as ``fmt`` into folder ``out``; return what was written.

    internvl: ``out/<name>.jsonl`` + ``out/meta.json``; swift: ``out/<name>.jsonl``;
    coco: ``out/<name>.json``. Image paths: relative to ``root`` (internvl), absolute (swift),
    file names under ``folder/images`` (coco).
    """
    if fmt not in FORMATS:
        raise FlowparseError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    folder, out = Path(folder), Path(out)
    items = list(iter_dataset(folder))
    if fmt == "coco":
        path = out / f"{name}.json"
        coco = coco_dataset([(i, p.name, G) for i, p, G in items])
        write_text_atomic(path, json.dumps(coco, ensure_ascii=False) + "\n")
        return {"format": fmt, "files": [str(path)], "images": len(items)}
    rows: list[dict] = []
    for chart_id, image, G in items:
        if fmt == "internvl":
            for record in internvl_records(chart_id, image.name, G, tasks=tasks, seed=seed):
                rows.append({"id": len(rows), **record})
        else:
            rows.extend(swift_records(chart_id, str(image.resolve()), G, tasks=tasks, seed=seed))
    annotation = out / f"{name}.jsonl"
    write_text_atomic(annotation, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    files = [str(annotation)]
    if fmt == "internvl":
        meta = {name: {"root": os.path.relpath(folder.resolve() / "images", out.resolve()),
                       "annotation": annotation.name, "data_augment": False, "repeat_time": repeat_time,
                       "length": len(rows)}}
        write_text_atomic(out / "meta.json", json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
        files.append(str(out / "meta.json"))
    return {"format": fmt, "files": files, "images": len(items), "records": len(rows)}
