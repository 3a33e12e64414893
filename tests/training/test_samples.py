"""Samples: the chat template, image-token expansion, labels only on replies + end token,
image-cut samples dropped and counted, no-trainable-token samples failing loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("torch", reason="samples need torch (the internvl extra)")

from flowparse.training.data import Record  # noqa: E402
from flowparse.training.samples import (  # noqa: E402
    IGNORE_INDEX,
    Sample,
    SampleBuilder,
    SampleError,
    collate_samples,
    plan_samples,
    render_conversation,
)

from flowparse.backends.internvl.preprocessing import TilingConfig  # noqa: E402
from flowparse.backends.internvl.templates import TEMPLATES, get_template  # noqa: E402

# 28 px tiles of 14 px patches: 4 patches -> 1 image token per tile after pixel shuffle.
TILING = TilingConfig(min_tiles=1, max_tiles=6, use_thumbnail=True, image_size=28, patch_size=14)


def _record(tmp_path: Path, turns, size=(28, 28), augment=False, image=True) -> Record:
    path = None
    if image:
        path = tmp_path / f"img{size[0]}x{size[1]}.png"
        Image.new("RGB", size, "white").save(path)
    return Record("d", f"{tmp_path}/a.jsonl:1", "a", path, tuple(turns), augment)


def _builder(tok, name="Hermes-2", max_len=512):
    return SampleBuilder(tok, get_template(name), TILING, max_len)


def _trained_text(tok, sample: Sample) -> list[str]:
    """The trained stretches of a sample, decoded (consecutive labelled tokens joined)."""
    pieces, run = [], []
    for token, label in zip(sample.input_ids, sample.labels):
        if label != IGNORE_INDEX:
            assert label == token
            run.append(token)
        elif run:
            pieces.append(tok.decode(run))
            run = []
    if run:
        pieces.append(tok.decode(run))
    return pieces


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_only_replies_and_their_end_token_are_trained(tmp_path, fast_tokenizer, name):
    turns = [
        ("human", "<image>\nPlease detect."),
        ("gpt", "<ref>diamond</ref><box>[[1, 2, 3, 4]]</box>"),
        ("human", "And again?"),
        ("gpt", "no"),
    ]
    sample = _builder(fast_tokenizer, name).build(_record(tmp_path, turns))
    end = get_template(name).stop_token
    assert _trained_text(fast_tokenizer, sample) == [f"<ref>diamond</ref><box>[[1, 2, 3, 4]]</box>{end}", f"no{end}"]
    # the whole text is what inference would send for the same turns (one tokenisation, BOS first)
    assert sample.input_ids[0] == fast_tokenizer.bos_token_id


@pytest.mark.parametrize(
    "size, tiles",
    [((28, 28), 1), ((56, 28), 3), ((84, 28), 4), ((500, 20), 7)],  # one tile; 2+thumb; 3+thumb; 6+thumb
)
def test_image_placeholder_becomes_one_token_per_tile(tmp_path, fast_tokenizer, size, tiles):
    sample = _builder(fast_tokenizer).build(_record(tmp_path, [("human", "<image>\nq"), ("gpt", "a")], size=size))
    ctx = fast_tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    assert sample.input_ids.count(ctx) == tiles * TILING.tokens_per_tile == sample.num_tiles
    assert sample.pixel_values.shape == (tiles, 3, 28, 28)
    ids = sample.input_ids
    start = ids.index(fast_tokenizer.convert_tokens_to_ids("<img>"))
    assert ids[start + tiles + 1] == fast_tokenizer.convert_tokens_to_ids("</img>")
    assert all(label == IGNORE_INDEX for label in sample.labels[: start + tiles + 2])


def test_render_matches_the_backend_template_and_honours_a_system_turn():
    text, spans = render_conversation(get_template("phi3-chat"), [("system", "S"), ("human", "Q"), ("gpt", "A")])
    assert text == "<|system|>\nS<|end|><|user|>\nQ<|end|><|assistant|>\nA<|end|>"
    assert [text[a:b] for a, b in spans] == ["A<|end|>"]


def test_sample_whose_image_tokens_would_be_cut_is_dropped_and_counted(tmp_path, fast_tokenizer):
    builder = _builder(fast_tokenizer)
    short = _record(tmp_path, [("human", "<image>\nq"), ("gpt", "a")])
    probe = builder.build(short)
    image_end = probe.input_ids.index(fast_tokenizer.convert_tokens_to_ids("</img>"))
    builder.max_seq_length = image_end  # </img> would fall just outside
    wide = _record(tmp_path, [("human", "<image>\nq"), ("gpt", "a")], size=(500, 20))
    plan = plan_samples([short, wide], builder)
    assert plan.dropped_image_cut == 2 and plan.kept == [] and plan.dropped_where == [short.where, wide.where]


def test_long_answer_is_cut_but_kept_when_the_image_survives(tmp_path, fast_tokenizer):
    builder = _builder(fast_tokenizer)
    record = _record(tmp_path, [("human", "<image>\nq"), ("gpt", "yes " * 50)])
    full = builder.build(record)
    first_label = next(k for k, label in enumerate(full.labels) if label != IGNORE_INDEX)
    builder.max_seq_length = first_label + 5
    plan = plan_samples([record], builder)
    assert plan.kept == [0] and plan.lengths == [first_label + 5] and plan.dropped_image_cut == 0
    cut = builder.build(record)
    assert cut.input_ids == full.input_ids[: first_label + 5] and cut.trainable_tokens == 5


def test_empty_reply_still_trains_its_end_token(tmp_path, fast_tokenizer):
    sample = _builder(fast_tokenizer).build(_record(tmp_path, [("human", "<image>\nq"), ("gpt", "")]))
    assert sample.trainable_tokens == 1  # the model learns to stop


def test_sample_without_trainable_tokens_fails_loudly(tmp_path, fast_tokenizer):
    builder = _builder(fast_tokenizer)
    record = _record(tmp_path, [("human", "<image>\n" + "q " * 80), ("gpt", "a")])
    full = builder.build(record)
    # cut just before the reply: the image survives, no label does
    builder.max_seq_length = next(k for k, label in enumerate(full.labels) if label != IGNORE_INDEX)
    with pytest.raises(SampleError, match="no trainable token") as err:
        plan_samples([record], builder)
    assert record.where in str(err.value)
    with pytest.raises(SampleError, match="no trainable token"):
        builder.build(record)


def test_text_only_samples_have_no_pixels(tmp_path, fast_tokenizer):
    record = _record(tmp_path, [("human", "hello"), ("gpt", "hi")], image=False)
    sample = _builder(fast_tokenizer).build(record)
    assert sample.pixel_values is None and sample.num_tiles == 0
    assert fast_tokenizer.convert_tokens_to_ids("<img>") not in sample.input_ids


def test_augmentation_is_seeded_per_sample(tmp_path, fast_tokenizer):
    import torch

    noisy = tmp_path / "noise.png"
    Image.effect_noise((28, 28), 80).convert("RGB").save(noisy)
    record = Record("d", "x:1", "a", noisy, (("human", "<image>\nq"), ("gpt", "a")), True)
    builder = _builder(fast_tokenizer)
    a, b = builder.pixels(record, epoch=0, index=3), builder.pixels(record, epoch=0, index=3)
    assert torch.equal(a, b)
    others = [builder.pixels(record, epoch=e, index=i) for e, i in ((0, 4), (1, 3), (2, 9))]
    assert any(not torch.equal(a, o) for o in others)


def test_collate_pads_right_and_concatenates_tiles(tmp_path, fast_tokenizer):
    builder = _builder(fast_tokenizer)
    a = builder.build(_record(tmp_path, [("human", "<image>\nq"), ("gpt", "a")], size=(56, 28)))
    b = builder.build(_record(tmp_path, [("human", "hello there"), ("gpt", "hi")], image=False))
    batch = collate_samples([a, b], pad_token_id=fast_tokenizer.pad_token_id)
    assert batch["pixel_values"].shape[0] == 3
    assert batch["attention_mask"].sum(1).tolist() == [len(a.input_ids), len(b.input_ids)]
    assert (batch["labels"][1, len(b.input_ids) :] == IGNORE_INDEX).all()
