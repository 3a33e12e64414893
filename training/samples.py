"""Training samples: conversations rendered with the base model's chat template, tokenised, masked.

What the model sees is exactly what inference sends: the InternVL backend's chat template
(``flowparse.backends.internvl.templates``: Hermes-2 for InternVL2-1B, internlm2-chat for 2B/8B,
phi3-chat for 4B) and its image preprocessing and ``<image>`` expansion
(``flowparse.backends.internvl.preprocessing``). The whole conversation is tokenised in one call,
as at inference, and labels come from character spans: a token is trained on when it starts
inside an assistant reply or its end token (``<|im_end|>``, ``<|end|>``); everything else is
-100. The official script instead re-tokenises pieces and counts their lengths, and when the
counts disagree it silently sets every label to -100 ("tokenization mismatch") and trains on a
zero loss; here a sample with no trainable token raises :class:`SampleError`.

A sample longer than ``max_seq_length`` is cut; when the cut would fall inside its image tokens it
is dropped and counted instead (a half image breaks the model's image/feature alignment).

>>> plan = plan_samples(records, builder)              # doctest: +SKIP
>>> plan.dropped_image_cut, len(plan.kept)             # doctest: +SKIP
(0, 1000)
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from flowparse.errors import InputError

__all__ = [
    "IGNORE_INDEX",
    "SampleError",
    "Sample",
    "SampleBuilder",
    "SamplePlan",
    "render_conversation",
    "plan_samples",
    "collate_samples",
    "jpeg_degrade",
    "sample_dataset",
]

#: Label value that the cross-entropy ignores.
IGNORE_INDEX = -100


class SampleError(InputError):
    """A training sample cannot be built (the message names its ``file:line``)."""


@dataclass
class Sample:
    """One tokenised sample: ``input_ids``/``labels`` lists and the image tiles (or ``None``)."""

    input_ids: list[int]
    labels: list[int]
    pixel_values: object = None  # torch.Tensor (tiles, 3, H, W) or None
    num_tiles: int = 0
    where: str = ""

    @property
    def trainable_tokens(self) -> int:
        """How many positions carry a label."""
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def render_conversation(template, turns: Sequence[tuple[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The conversation as the template writes it, and the ``(start, end)`` character spans to train on.

    A span is one assistant reply followed by the template's end token; the text is checked
    against ``template.render`` so the two can never drift apart.

    >>> from flowparse.backends.internvl.templates import get_template
    >>> text, spans = render_conversation(get_template("Hermes-2"), [("system", "S"), ("human", "Q"), ("gpt", "A")])
    >>> [text[a:b] for a, b in spans]
    ['A<|im_end|>']
    """
    system = turns[0][1] if turns and turns[0][0] == "system" else None
    body = turns[1:] if system is not None else turns
    pairs = [(body[k][1], body[k + 1][1] if k + 1 < len(body) else None) for k in range(0, len(body), 2)]
    text = template.system_template.format(system_message=template.system_message if system is None else system)
    text += template.sep
    spans = []
    for question, answer in pairs:
        text += template.roles[0] + question + template.sep + template.roles[1]
        if answer is not None:
            start = len(text)
            text += answer + template.sep
            spans.append((start, len(text)))
    expected = template.render(pairs, system=system)
    if text != expected:  # pragma: no cover - a template change the spans do not follow
        raise RuntimeError(f"chat template {template.name!r} renders differently from the training spans")
    return text, spans


def jpeg_degrade(image, rng: random.Random):
    """``image`` re-encoded as JPEG at a random quality 75..100 (the official ``data_augment``).

    >>> from PIL import Image
    >>> jpeg_degrade(Image.new("RGB", (8, 8)), random.Random(0)).size
    (8, 8)
    """
    from PIL import Image

    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=rng.randint(75, 100))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


@dataclass
class SampleBuilder:
    """Turns :class:`~flowparse.training.data.Record` objects into :class:`Sample` objects.

    ``tokenizer`` is a fast Hugging Face tokenizer holding InternVL's image tokens; ``template``
    a ``ChatTemplate``; ``tiling`` a ``TilingConfig``.
    """

    tokenizer: object
    template: object
    tiling: object
    max_seq_length: int
    seed: int = 42

    def __post_init__(self):
        from flowparse.backends.internvl.preprocessing import IMG_END

        self.image_end_id = self.tokenizer.convert_tokens_to_ids(IMG_END)
        if self.image_end_id is None or self.image_end_id == self.tokenizer.unk_token_id:
            raise SampleError(f"the tokenizer has no {IMG_END} token (not an InternVL tokenizer?)")
        if not getattr(self.tokenizer, "is_fast", False):
            raise SampleError("training needs a fast tokenizer (tokenizer.json): labels come from token offsets")

    # ------------------------------------------------------------------ text and labels
    def tile_count(self, record) -> int:
        """Tiles (thumbnail included) the record's image becomes; reads only the image header."""
        if record.image is None:
            return 0
        from PIL import Image

        from flowparse.backends.internvl.preprocessing import closest_grid

        try:
            with Image.open(record.image) as image:
                size = image.size
        except OSError as e:
            raise SampleError(f"cannot read image {record.image}: {e}", source=record.where) from None
        cols, rows = closest_grid(*size, self.tiling)
        tiles = cols * rows
        return tiles + 1 if self.tiling.use_thumbnail and tiles > 1 else tiles

    def tokens(self, record, num_tiles: int) -> tuple[list[int], list[int], bool]:
        """``(input_ids, labels, image_cut)`` for the record, cut to ``max_seq_length``."""
        from flowparse.backends.internvl.preprocessing import expand_image_tokens

        text, spans = render_conversation(self.template, record.turns)
        if num_tiles:
            text, spans = _expand_with_spans(text, spans, num_tiles, self.tiling.tokens_per_tile, expand_image_tokens)
        encoded = self.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
        ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
        labels = [tok if _inside(start, end, spans) else IGNORE_INDEX for tok, (start, end) in zip(ids, offsets)]
        image_cut = False
        if len(ids) > self.max_seq_length:
            image_cut = num_tiles > 0 and self.image_end_id not in ids[: self.max_seq_length]
            ids, labels = ids[: self.max_seq_length], labels[: self.max_seq_length]
        return ids, labels, image_cut

    def check_trainable(self, record, labels: list[int]) -> None:
        """Raise :class:`SampleError` when no token of the sample would be trained on."""
        if all(label == IGNORE_INDEX for label in labels):
            raise SampleError(
                "no trainable token: every label is -100 (an empty answer, or the answer cut off by "
                f"max_seq_length={self.max_seq_length}); training on it would add a silent zero loss",
                source=record.where,
            )

    # ------------------------------------------------------------------------ full sample
    def build(self, record, *, epoch: int = 0, index: int = 0) -> Sample:
        """The full sample with its pixels (augmented when the record's dataset says so)."""
        num_tiles = self.tile_count(record)
        ids, labels, image_cut = self.tokens(record, num_tiles)
        if image_cut:
            raise SampleError(
                "image tokens cut by max_seq_length (the plan should have dropped it)", source=record.where
            )
        self.check_trainable(record, labels)
        pixels = self.pixels(record, epoch=epoch, index=index) if num_tiles else None
        if pixels is not None and pixels.shape[0] != num_tiles:
            raise SampleError(f"image gave {pixels.shape[0]} tiles, expected {num_tiles}", source=record.where)
        return Sample(ids, labels, pixels, num_tiles, record.where)

    def pixels(self, record, *, epoch: int, index: int):
        """The record's image as normalised tiles; JPEG augmentation seeded by (seed, epoch, index)."""
        from PIL import Image

        from flowparse.backends.internvl.preprocessing import preprocess_image

        try:
            with Image.open(record.image) as opened:
                image = opened.convert("RGB")
        except OSError as e:
            raise SampleError(f"cannot read image {record.image}: {e}", source=record.where) from None
        if record.data_augment:
            # Seeded per sample, so a resumed run and a worker process draw the same quality.
            image = jpeg_degrade(image, random.Random(f"{self.seed}:{epoch}:{index}"))
        return preprocess_image(image, self.tiling)


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """A token is trained on when it starts inside a span (BOS has the empty span (0, 0))."""
    if end <= start:
        return False
    return any(a <= start < b for a, b in spans)


def _expand_with_spans(text, spans, num_tiles, tokens_per_tile, expand):
    """``<image>`` expanded into image tokens, with the spans behind it shifted to match."""
    from flowparse.backends.internvl.preprocessing import IMAGE_PLACEHOLDER

    at = text.find(IMAGE_PLACEHOLDER)
    expanded = expand(text, [num_tiles], tokens_per_tile)
    shift = len(expanded) - len(text)
    return expanded, [(a + shift, b + shift) if a > at else (a, b) for a, b in spans]


@dataclass
class SamplePlan:
    """What will be trained on: kept record indices with their token lengths, and what was dropped."""

    kept: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    tiles: list[int] = field(default_factory=list)
    dropped_image_cut: int = 0
    dropped_where: list[str] = field(default_factory=list)
    label_counts: list[int] = field(default_factory=list)

    @property
    def trainable_tokens(self) -> int:
        """Labelled tokens over all kept samples."""
        return sum(self.label_counts)


def plan_samples(records: Sequence, builder: SampleBuilder) -> SamplePlan:
    """Tokenise every record once before training: drop (and count) samples whose image tokens
    would be cut, fail on a sample with no trainable token, and keep lengths for batching.

    Doing this up front means a bad sample stops the run before the first step, not hours in.
    """
    plan = SamplePlan()
    for index, record in enumerate(records):
        num_tiles = builder.tile_count(record)
        ids, labels, image_cut = builder.tokens(record, num_tiles)
        if image_cut:
            plan.dropped_image_cut += 1
            plan.dropped_where.append(record.where)
            continue
        builder.check_trainable(record, labels)
        plan.kept.append(index)
        plan.lengths.append(len(ids))
        plan.tiles.append(num_tiles)
        plan.label_counts.append(sum(1 for label in labels if label != IGNORE_INDEX))
    return plan


def collate_samples(samples: Sequence[Sample], pad_token_id: int) -> dict:
    """A right-padded batch: ``input_ids``, ``attention_mask``, ``labels`` and the tiles of every image.

    >>> batch = collate_samples([Sample([1, 2], [-100, 2]), Sample([3], [3])], pad_token_id=0)
    >>> batch["input_ids"].tolist(), batch["labels"].tolist(), batch["pixel_values"] is None
    ([[1, 2], [3, 0]], [[-100, 2], [3, -100]], True)
    """
    import torch

    width = max(len(s.input_ids) for s in samples)
    input_ids = torch.full((len(samples), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(samples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(samples), width), dtype=torch.long)
    for row, sample in enumerate(samples):
        n = len(sample.input_ids)
        input_ids[row, :n] = torch.tensor(sample.input_ids, dtype=torch.long)
        labels[row, :n] = torch.tensor(sample.labels, dtype=torch.long)
        attention_mask[row, :n] = 1
    images = [s.pixel_values for s in samples if s.pixel_values is not None]
    # Text-only samples bring no tiles; the model fills image tokens only where there are any.
    pixel_values = torch.cat(images) if images else None
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels, "pixel_values": pixel_values}


def sample_dataset(records: Sequence, plan: SamplePlan, builder: SampleBuilder):
    """A torch map-style dataset keyed by ``(epoch, position in the plan)``.

    The epoch is part of the key so that augmentation is seeded per epoch and sample, the same in
    any worker process and after a resume.
    """
    from torch.utils.data import Dataset

    class _PlannedSamples(Dataset):
        def __len__(self):
            return len(plan.kept)

        def __getitem__(self, key):
            epoch, position = key
            return builder.build(records[plan.kept[position]], epoch=epoch, index=position)

    return _PlannedSamples()
