"""The generator: plans charts from (seed, index), renders, degrades and writes them.

Chart ``i`` of a run depends on ``(seed, i)`` only, never on the worker that draws it or on the
charts before it, so the same seed gives byte-identical files with one worker or many, and a
run can be extended with ``start``. A chart whose rendering fails is drawn again from
``(seed, i, attempt)``.
"""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
from PIL import Image

from flowparse.errors import FlowparseError
from flowparse.files import write_bytes_atomic, write_text_atomic

__all__ = ["RENDERERS", "SynthOptions", "ChartPlan", "plan_chart", "draw_chart", "generate"]

#: Renderer names, in the order ``--renderer all`` uses.
RENDERERS: tuple[str, ...] = ("graphviz", "pil", "mermaid")
_ATTEMPTS = 5


@dataclass(frozen=True)
class SynthOptions:
    """What a synthetic data run makes."""

    count: int = 100
    """Number of charts."""
    seed: int = 0
    """Every chart is a function of (seed, index)."""
    renderers: tuple[str, ...] = ("graphviz", "pil")
    """Renderers to draw with; each chart picks one at random (mermaid needs node + chromium)."""
    min_nodes: int = 3
    max_nodes: int = 30
    languages: dict[str, float] = field(default_factory=lambda: {"en": 0.5, "zh": 0.35, "mixed": 0.15})
    """Chart language weights; Chinese falls back to English when no CJK font is installed."""
    degrade: float = 1.0
    """Strength of degradations: 0 = clean renders, 1 = the usual mix."""
    max_side: int = 1600
    """Charts larger than this (pixels, longer side) are scaled down."""
    start: int = 0
    """Index of the first chart (to extend a run)."""


@dataclass
class ChartPlan:
    """One chart before drawing: id, renderer, structure and the random stream for its style."""

    index: int
    id: str
    renderer: str
    spec: object
    rng: random.Random


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0])


def plan_chart(options: SynthOptions, index: int, attempt: int = 0) -> ChartPlan:
    """The plan of chart ``index``: deterministic in (seed, index, attempt).

    >>> a, b = plan_chart(SynthOptions(seed=1), 7), plan_chart(SynthOptions(seed=1), 7)
    >>> a.id, a.renderer == b.renderer, [n.text for n in a.spec.nodes] == [n.text for n in b.spec.nodes]
    ('000007', True, True)
    """
    from flowparse.training.synth.fonts import cjk_available
    from flowparse.training.synth.structure import sample_chart

    renderer = random.Random(_seed(options.seed, index, 0xC0DE)).choice(options.renderers)
    rng = random.Random(_seed(options.seed, index, attempt))
    names, weights = zip(*options.languages.items())
    language = rng.choices(names, weights)[0]
    if language != "en" and not cjk_available():
        language = "en"
    spec = sample_chart(rng, min_nodes=options.min_nodes, max_nodes=options.max_nodes, language=language)
    return ChartPlan(index, f"{index:06d}", renderer, spec, rng)


def _finish(plan: ChartPlan, image: Image.Image, G: nx.DiGraph, options: SynthOptions):
    from flowparse.training.synth.degrade import degrade, fit_size

    image, G = fit_size(image, G, options.max_side)
    image, G, steps = degrade(image, G, plan.rng, strength=options.degrade)
    G.graph["source"] = f"{plan.id}.png"
    return image, G, steps


def draw_chart(options: SynthOptions, index: int) -> tuple[Image.Image, nx.DiGraph, dict]:
    """Chart ``index`` drawn by a Graphviz or PIL renderer: image, truth and a summary line.

    >>> image, G, info = draw_chart(SynthOptions(seed=3, renderers=("pil",)), 0)
    >>> info["renderer"], image.size == (G.graph["width"], G.graph["height"])
    ('pil', True)
    """
    from flowparse.training.synth.graphviz_render import render_graphviz
    from flowparse.training.synth.pil_render import render_pil

    draw = {"graphviz": render_graphviz, "pil": render_pil}
    error: Exception | None = None
    for attempt in range(_ATTEMPTS):
        plan = plan_chart(options, index, attempt)
        try:
            image, G = draw[plan.renderer](plan.spec, plan.rng)
            image, G, steps = _finish(plan, image, G, options)
        except (FlowparseError, KeyError, ValueError) as e:  # a renderer's bad day: draw this chart anew
            error = e
            continue
        return image, G, _info(plan, G, steps, attempt)
    raise FlowparseError(f"chart {index}: every attempt failed, last: {error}")


def _info(plan: ChartPlan, G: nx.DiGraph, steps: list[str], attempt: int) -> dict:
    return {"id": plan.id, "renderer": plan.renderer, "look": G.graph.get("look", ""),
            "language": plan.spec.language, "nodes": G.number_of_nodes(),
            "edges": G.number_of_edges(), "size": [G.graph["width"], G.graph["height"]], "degradations": steps,
            "attempt": attempt}


def _write(out: Path, chart_id: str, image: Image.Image, G: nx.DiGraph) -> None:
    from flowparse.converters.json_graph import to_json

    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)  # level 1: files ~20% larger than 6, written 4x faster
    write_bytes_atomic(out / "images" / f"{chart_id}.png", buf.getvalue())
    # Compact: indented JSON goes through Python's slow encoder and puts every coordinate of every
    # edge polyline on its own line; `flowparse draw` is the way to look at a truth file.
    write_text_atomic(out / "truth" / f"{chart_id}.json", to_json(G, indent=None))


def _make_and_write(job: tuple[SynthOptions, int, str]) -> dict:
    options, index, out = job
    image, G, info = draw_chart(options, index)
    _write(Path(out), info["id"], image, G)
    return info


def generate(
    out: str | os.PathLike,
    options: SynthOptions,
    *,
    workers: int = 1,
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Write ``options.count`` charts to ``out/images/<id>.png`` and ``out/truth/<id>.json``.

    Returns one summary dict per chart in index order (also written to ``out/synth.json``).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     infos = generate(d, SynthOptions(count=2, seed=5, renderers=("pil",)))
    ...     sorted(os.listdir(os.path.join(d, "truth")))
    ['000000.json', '000001.json']
    """
    out = Path(out)
    indices = range(options.start, options.start + options.count)
    plans = {i: random.Random(_seed(options.seed, i, 0xC0DE)).choice(options.renderers) for i in indices}
    local = [i for i in indices if plans[i] != "mermaid"]
    browser = [i for i in indices if plans[i] == "mermaid"]
    infos: dict[int, dict] = {}
    jobs = [(options, i, str(out)) for i in local]
    pool = ProcessPoolExecutor(workers) if workers > 1 and len(jobs) > 1 else None
    try:
        results: Iterable[dict] = (pool.map(_make_and_write, jobs, chunksize=4) if pool
                                   else map(_make_and_write, jobs))
        if browser:  # the browser works in this process while the pool draws the rest
            for info in _mermaid_charts(out, options, browser):
                infos[int(info["id"])] = _report(info, progress)
        for info in results:
            infos[int(info["id"])] = _report(info, progress)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    ordered = [infos[i] for i in indices]
    summary = {"options": {**asdict(options), "renderers": list(options.renderers)}, "charts": ordered}
    write_text_atomic(out / "synth.json", json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
    return ordered


def _report(info: dict, progress) -> dict:
    if progress:
        progress(info)
    return info


def _mermaid_charts(out: Path, options: SynthOptions, indices: list[int]) -> Iterable[dict]:
    from flowparse.training.synth.mermaid_render import MermaidRenderer

    with MermaidRenderer() as renderer:
        for first in range(0, len(indices), renderer.batch_size):
            batch = indices[first : first + renderer.batch_size]
            for plan, image, G, attempt in renderer.draw_many(options, batch, plan_chart):
                image, G, steps = _finish(plan, image, G, options)
                _write(out, plan.id, image, G)
                yield _info(plan, G, steps, attempt)
