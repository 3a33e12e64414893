"""The InternVL detector: one padded, batched, greedy ``generate`` per batch of charts.

Each image is tiled (:mod:`.preprocessing`), the prompt is the checkpoint's chat template around
``<image>`` and the task prompt of :mod:`flowparse.grounding`, the vision encoder runs once over
the tiles of the whole batch, and the answers are parsed by :mod:`flowparse.grounding`. Node and
edge scores are the geometric mean of the probabilities of the tokens that wrote them. When the
model answers with shapes only, the classical arrow tracer adds the edges.
"""

from __future__ import annotations

import bisect
import math
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from flowparse.backends.internvl.preprocessing import (
    IMAGE_PLACEHOLDER,
    expand_image_tokens,
    normalize_pixels,
    tile_image,
    tiles_to_uint8,
)
from flowparse.errors import InputError
from flowparse.grounding import complete_lines, parse_detection, parse_graph_answer, prompt_for

__all__ = ["Answer", "InternVLBackend", "token_ends"]

_TASKS = ("graph", "detection")


@dataclass
class Answer:
    """A generated answer with what scoring needs: each token's end in ``text`` and log-probability."""

    text: str
    token_ends: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    #: Generation stopped at the token limit, not at the end-of-answer token.
    truncated: bool = False

    def span_score(self, start: int, end: int) -> float:
        """Geometric mean of the probabilities of the tokens overlapping ``text[start:end]``.

        >>> Answer("ab", [1, 2], [math.log(0.5), math.log(0.8)]).span_score(1, 2)
        0.8
        """
        first = bisect.bisect_right(self.token_ends, start)
        last = bisect.bisect_left(self.token_ends, end)
        chosen = self.logprobs[first : last + 1]
        if not chosen:
            return 1.0
        return math.exp(sum(chosen) / len(chosen))


def token_ends(tokenizer, tokens: list[int]) -> tuple[str, list[int]]:
    """The decoded text and where each token ends in it, in linear time.

    Decoding token by token is wrong where a character spans tokens (byte-level BPE) or a
    tokenizer drops a leading space; decoding every prefix is right but quadratic (64 answers x
    1000 tokens per batch). So: a short window of the tokens before is decoded with each new one
    and the new text is what grew (the incremental decoding of text-generation-inference); a
    token ending inside a character adds nothing until the character is whole. If the result
    differs from decoding all at once, the prefix method is used instead.
    """

    def decode(ids):
        return tokenizer.decode(ids, skip_special_tokens=False)

    text, ends, prefix, read = "", [], 0, 0
    for k in range(len(tokens)):
        before = decode(tokens[prefix:read])
        after = decode(tokens[prefix : k + 1])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            text += after[len(before) :]
            prefix, read = read, k + 1
        ends.append(len(text))
    full = decode(tokens)
    if text != full:
        ends = [len(decode(tokens[: k + 1])) for k in range(len(tokens))]
    return full, ends


@dataclass
class _Prepared:
    """A batch ready for the GPU: all tiles (uint8, one tensor) and the left-padded prompts."""

    pixels: Any
    input_ids: Any
    attention_mask: Any


class _GreedyLogprobs:
    """A logits processor that records the log-probability of the greedy choice at each step.

    Greedy search takes the argmax, so its log-probability is ``max - logsumexp``: no need to keep
    every step's full logits (64 rows x 1000 steps x 150k vocabulary would not fit). The values stay
    on the device until the end: a copy to the host at every step would make the CPU wait for each
    decoding step before it can queue the next.
    """

    def __init__(self):
        self.steps = []

    def __call__(self, input_ids, scores):
        import torch

        scores_f = scores.float()
        self.steps.append(scores_f.max(dim=-1).values - torch.logsumexp(scores_f, dim=-1))
        return scores

    def logprobs(self, rows: int):
        """A ``rows x steps`` float32 CPU tensor (one copy to the host)."""
        import torch

        return torch.stack(self.steps, dim=1).cpu() if self.steps else torch.zeros(rows, 0)


class InternVLBackend:
    """Flowcharts to graphs with a grounded InternVL model.

    ``model`` is a native checkpoint folder, a hub id, or a ``LoadedInternVL``. Options:
    ``device``, ``dtype``, ``attn_implementation``, ``trust_remote_code`` (default False),
    ``max_tiles``, ``task`` (``"graph"`` or ``"detection"``; default from the checkpoint),
    ``max_new_tokens``, ``min_new_tokens`` (benchmarks), ``edges`` (``"auto"``: trace arrows
    classically when the model gives shapes only; ``"never"``), ``batch_size``, ``cache``
    (``"dynamic"``: the key/value cache grows with the answer; ``"static"``: one fixed-size cache,
    and on CUDA transformers then compiles the decoding step with CUDA graphs: the first batch of
    each batch size waits for the compiler, later batches decode faster; see ``docs/internvl.md``).

    >>> backend = InternVLBackend("checkpoints/flowparse-internvl2-1b")  # doctest: +SKIP
    >>> graphs = backend.parse_many(images, batch_size=16)               # doctest: +SKIP
    """

    name = "internvl"

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        device: str | None = None,
        dtype: Any = None,
        attn_implementation: str | None = None,
        trust_remote_code: bool = False,
        max_tiles: int | None = None,
        task: str | None = None,
        max_new_tokens: int = 2048,  # estimated ~30 tokens a node line, ~8 an edge line: 30 nodes ~ 1,200
        min_new_tokens: int = 0,
        edges: str = "auto",
        batch_size: int = 8,
        cache: str = "dynamic",
    ):
        from flowparse.backends.internvl.loading import LoadedInternVL, load_internvl

        if model is None:
            raise InputError(
                "the InternVL backend needs a model: a checkpoint folder or hub id (or set FLOWPARSE_MODEL)"
            )
        if edges not in ("auto", "never"):
            raise ValueError(f"edges must be 'auto' or 'never', got {edges!r}")
        if cache not in ("dynamic", "static"):
            raise ValueError(f"cache must be 'dynamic' or 'static', got {cache!r}")
        if isinstance(model, LoadedInternVL):  # already loaded (benchmarks, training evaluation)
            self.loaded = model
        else:
            self.loaded = load_internvl(
                model,
                device=device,
                dtype=dtype,
                attn_implementation=attn_implementation,
                trust_remote_code=trust_remote_code,
                max_tiles=max_tiles,
            )
        self.task = task or self.loaded.task
        if self.task not in _TASKS:
            raise ValueError(f"task must be one of {', '.join(_TASKS)}, got {self.task!r}")
        self.max_new_tokens = max_new_tokens
        self.min_new_tokens = min_new_tokens  # > 0 only to time a fixed answer length
        self.edges = edges
        self.batch_size = batch_size
        self.cache = cache
        self._warned_no_tracer = False

    def __repr__(self) -> str:
        return (
            f"InternVLBackend(task={self.task!r}, template={self.loaded.template.name!r}, device={self.loaded.device})"
        )

    # ------------------------------------------------------------------------------ public API

    def parse(self, image: Any, *, source: str = "") -> nx.DiGraph:
        """The flowchart graph of one image (a PIL image, or anything ``load_image`` reads).

        >>> backend.parse(Image.open("chart.png"), source="chart.png").number_of_nodes()  # doctest: +SKIP
        8
        """
        return self.parse_many([image], batch_size=1, sources=[source])[0]

    def parse_many(
        self, images: Sequence[Any], *, batch_size: int | None = None, sources: Sequence[str] | None = None
    ) -> list[nx.DiGraph]:
        """The graphs of ``images`` in order, ``batch_size`` per batched ``generate``.

        Results equal parsing one by one (left padding, greedy decoding). While a batch generates,
        the next one is tiled and tokenised in a background thread.

        >>> graphs = backend.parse_many(pages, batch_size=32, sources=names)  # doctest: +SKIP
        """
        batch_size = batch_size or self.batch_size
        images = list(images)
        pils = [self._as_image(img, src) for img, src in zip(images, sources or [None] * len(images))]
        names = [s or "" for s in (sources or [""] * len(pils))]
        starts = range(0, len(pils), batch_size)
        question = prompt_for(self.task)
        graphs: list[nx.DiGraph] = []
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            pending = [prefetch.submit(self._prepare, pils[k : k + batch_size], question) for k in starts[:1]]
            for k in starts:
                prepared = pending.pop().result()
                if k + batch_size < len(pils):
                    pending.append(prefetch.submit(self._prepare, pils[k + batch_size : k + 2 * batch_size], question))
                answers = self._generate(prepared)
                chunk, chunk_names = pils[k : k + batch_size], names[k : k + batch_size]
                graphs += [self._to_graph(a, img, n) for a, img, n in zip(answers, chunk, chunk_names)]
        return graphs

    def answer_many(self, images: Sequence[Any], question: str) -> list[Answer]:
        """The model's answers to ``question`` about each image, from one batched greedy generate.

        >>> backend.answer_many([img], prompt_for("detection"))[0].text  # doctest: +SKIP
        '<ref>diamond</ref><box>[[120, 40, 380, 160]]</box>'
        """
        return self._generate(self._prepare([self._as_image(img, None) for img in images], question))

    # ------------------------------------------------------------------------------ internals

    def _as_image(self, image: Any, source: str | None):
        from PIL import Image

        if isinstance(image, Image.Image):
            return image.convert("RGB")
        from flowparse.images import load_image

        return load_image(image, source=source)[0]

    def _prepare(self, images: Sequence[Any], question: str) -> _Prepared:
        """CPU work of a batch: tiles (threads across images) and the tokenised, left-padded prompts."""
        import torch

        loaded = self.loaded
        workers = max(1, min(len(images), os.cpu_count() or 1, 8))
        with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL resizes without holding the GIL
            tiles = list(pool.map(lambda img: tiles_to_uint8(tile_image(img, loaded.tiling), loaded.tiling), images))
        text = loaded.template.prompt(f"{IMAGE_PLACEHOLDER}\n{question}")
        prompts = [expand_image_tokens(text, [t.shape[0]], loaded.tiling.tokens_per_tile) for t in tiles]
        inputs = loaded.tokenizer(prompts, return_tensors="pt", padding=True)
        pixels = torch.cat(tiles)
        if loaded.device.type == "cuda":
            pixels = pixels.pin_memory()  # the copy to the GPU can then run asynchronously
        return _Prepared(pixels, inputs["input_ids"], inputs["attention_mask"])

    def _generate(self, prepared: _Prepared) -> list[Answer]:
        """One batched greedy generate over a prepared batch (the vision encoder sees all its tiles)."""
        import torch

        loaded = self.loaded
        recorder = _GreedyLogprobs()
        stop_id = loaded.tokenizer.convert_tokens_to_ids(loaded.template.stop_token)
        device = loaded.device
        pixels = normalize_pixels(prepared.pixels.to(device, non_blocking=True)).to(loaded.dtype)
        with torch.inference_mode():
            out = loaded.model.generate(
                input_ids=prepared.input_ids.to(device),
                attention_mask=prepared.attention_mask.to(device),
                pixel_values=pixels,
                max_new_tokens=self.max_new_tokens,
                min_new_tokens=self.min_new_tokens,
                do_sample=False,
                num_beams=1,
                eos_token_id=stop_id,
                pad_token_id=loaded.tokenizer.pad_token_id,
                logits_processor=[recorder],
                return_dict_in_generate=True,
                **({"cache_implementation": "static"} if self.cache == "static" else {}),
            )
        rows = prepared.input_ids.shape[0]
        new_tokens = out.sequences[:, prepared.input_ids.shape[1] :].cpu()
        logprobs = recorder.logprobs(rows)
        return [self._answer(new_tokens[i].tolist(), logprobs[i].tolist(), stop_id) for i in range(rows)]

    def _answer(self, tokens: list[int], logprobs: list[float], stop_id: int) -> Answer:
        """Decode one row: cut at the stop token, and record where each token ends in the text."""
        tokenizer = self.loaded.tokenizer
        truncated = stop_id not in tokens
        if not truncated:
            tokens = tokens[: tokens.index(stop_id)]
        text, ends = token_ends(tokenizer, tokens)
        return Answer(text, ends, logprobs[: len(tokens)], truncated)

    def _to_graph(self, answer: Answer, image, source: str) -> nx.DiGraph:
        width, height = image.size
        options = dict(source=source, backend=self.name, span_score=answer.span_score)
        shapes_only = self.task == "detection"
        G = None
        if not shapes_only:
            text = complete_lines(answer.text) if answer.truncated else answer.text
            G = parse_graph_answer(text, width, height, **options)
            shapes_only = G.number_of_nodes() == 0  # the model answered in the detection format
        if shapes_only:
            G = parse_detection(answer.text, width, height, **options)
            if G.number_of_nodes() and self.edges == "auto":
                G = self._attach_arrows(image, G)
        return G

    def _attach_arrows(self, image, G: nx.DiGraph) -> nx.DiGraph:
        """Edges from the classical arrow tracer; without it, the shapes alone (with a warning)."""
        try:
            from flowparse.backends.classical import attach_arrows
        except ImportError as e:
            if not self._warned_no_tracer:
                warnings.warn(
                    "the InternVL model gave shapes only and the classical arrow tracer is not available "
                    f"({e}); install flowparse[classical] to get edges. Returning shapes without edges.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._warned_no_tracer = True
            return G
        result = attach_arrows(image, G)
        return G if result is None else result
