"""Tiny native InternVL checkpoints for tests: a few layers, small widths, a small BPE tokenizer.

Built offline in seconds, saved exactly like a real checkpoint (safetensors, tokenizer with the
InternVL special tokens and chat template, ``flowparse_internvl.json``), so tests exercise the
same loading, batching and parsing code as a real model. The training tests build theirs here too.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from flowparse.backends.internvl.preprocessing import IMG_CONTEXT, TilingConfig
from flowparse.backends.internvl.templates import template_for_llm

__all__ = [
    "INTERNVL_SPECIAL_TOKENS",
    "FLOWPARSE_CONFIG",
    "build_tiny_tokenizer",
    "build_tiny_internvl",
    "teach_tiny_internvl",
    "build_tiny_sentencepiece",
    "write_flowparse_config",
]

#: The special tokens InternVL2 adds to its LLM's vocabulary, in InternVL's order.
INTERNVL_SPECIAL_TOKENS = (
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<quad>",
    "</quad>",
    "<ref>",
    "</ref>",
    "<box>",
    "</box>",
)

#: The file next to a checkpoint's config.json that records our chat template and tiling.
FLOWPARSE_CONFIG = "flowparse_internvl.json"

#: Special tokens of each LLM family: (pad / end of text, beginning of sequence or None, chat
#: markers, the chat's end-of-turn token).
_LLM_TOKENS = {
    "qwen2": ("<|endoftext|>", None, ("<|im_start|>", "<|im_end|>"), "<|im_end|>"),
    "llama": ("</s>", "<s>", ("<|im_start|>", "<|im_end|>"), "<|im_end|>"),
    "phi3": ("<|endoftext|>", "<s>", ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>"), "<|end|>"),
}


def _synthetic_corpus(seed: int = 0) -> list[str]:
    """Text like the prompts and answers the model sees: enough for BPE to learn useful merges."""
    from flowparse.graph import SHAPES
    from flowparse.grounding import PROMPTS

    rng = random.Random(seed)
    lines = [p for prompts in PROMPTS.values() for p in prompts]
    lines += [f"{shape} " * 3 for shape in SHAPES]
    for _ in range(300):
        shape = rng.choice(SHAPES)
        box = ", ".join(str(rng.randint(0, 1000)) for _ in range(4))
        lines.append(f"n{rng.randint(0, 30)} {shape} Start 开始 结束 判断 yes no [[{box}]] -> -- <->")
    return lines


def build_tiny_tokenizer(llm: str = "qwen2", vocab_size: int = 600, seed: int = 0):
    """A byte-level BPE tokenizer trained on synthetic text, with the chat and InternVL tokens.

    The InternVL tokens are added after training, so (as in the real tokenizers) their ids come
    after the learned vocabulary.

    >>> tok = build_tiny_tokenizer()
    >>> tok.convert_ids_to_tokens(tok.convert_tokens_to_ids("<IMG_CONTEXT>")) == "<IMG_CONTEXT>"
    True
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    pad, bos, chat, end_of_turn = _LLM_TOKENS[llm]
    base_special = [pad] + ([bos] if bos else []) + list(chat)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=base_special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_synthetic_corpus(seed), trainer=trainer)
    if bos:  # InternLM2's tokenizer puts <s> in front of every sequence
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=pad,
        eos_token=end_of_turn,
        bos_token=bos,
        padding_side="left",
    )
    fast.add_special_tokens({"additional_special_tokens": list(INTERNVL_SPECIAL_TOKENS)})
    return fast


def _tiny_text_config(llm: str, vocab_size: int, hidden: int, layers: int, eos_id: int, pad_id: int, tie: bool):
    from transformers import LlamaConfig, Phi3Config, Qwen2Config

    common = dict(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=tie,
    )
    return {"qwen2": Qwen2Config, "llama": LlamaConfig, "phi3": Phi3Config}[llm](**common)


def build_tiny_internvl(
    out_dir: str | os.PathLike,
    llm: str = "qwen2",
    *,
    vision_hidden: int = 32,
    vision_layers: int = 1,
    text_hidden: int = 64,
    text_layers: int = 2,
    patch_size: int = 28,
    max_tiles: int = 2,
    tie_word_embeddings: bool = False,
    tokenizer=None,
    seed: int = 0,
) -> Path:
    """Write a tiny native InternVL checkpoint to ``out_dir`` and return the path.

    ``llm`` is ``"qwen2"`` (InternVL2-1B's family, Hermes-2 template), ``"llama"`` (InternLM2 as
    Llama, InternVL2-2B/8B's family, internlm2-chat template) or ``"phi3"`` (InternVL2-4B,
    phi3-chat). ``patch_size=28`` gives 64 image tokens per 448 px tile instead of 256, which
    keeps CPU tests fast; the rest is the real layout. ``tokenizer`` replaces the tiny BPE one
    (it must hold the chat and InternVL tokens).

    >>> import tempfile
    >>> path = build_tiny_internvl(tempfile.mkdtemp())  # doctest: +SKIP
    """
    import torch
    from transformers import GenerationConfig, InternVLConfig, InternVLForConditionalGeneration, InternVLVisionConfig

    if llm not in _LLM_TOKENS:
        raise ValueError(f"llm must be one of {', '.join(_LLM_TOKENS)}, got {llm!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer if tokenizer is not None else build_tiny_tokenizer(llm, seed=seed)
    template = template_for_llm(llm)
    tokenizer.chat_template = template.jinja()
    eos_id = tokenizer.convert_tokens_to_ids(template.stop_token)
    vision = InternVLVisionConfig(
        hidden_size=vision_hidden,
        num_hidden_layers=vision_layers,
        num_attention_heads=2,
        intermediate_size=vision_hidden * 2,
        image_size=448,
        patch_size=patch_size,
        attention_bias=True,
    )
    config = InternVLConfig(
        vision_config=vision,
        text_config=_tiny_text_config(
            llm, len(tokenizer), text_hidden, text_layers, eos_id, tokenizer.pad_token_id, tie_word_embeddings
        ),
        image_token_id=tokenizer.convert_tokens_to_ids(IMG_CONTEXT),
        image_seq_length=TilingConfig(patch_size=patch_size).tokens_per_tile,
        downsample_ratio=0.5,
        tie_word_embeddings=tie_word_embeddings,
    )
    config.architectures = ["InternVLForConditionalGeneration"]
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    GenerationConfig(eos_token_id=eos_id, pad_token_id=tokenizer.pad_token_id).save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_flowparse_config(out, template.name, TilingConfig(max_tiles=max_tiles, patch_size=patch_size))
    return out


def write_flowparse_config(out_dir: str | os.PathLike, template: str, tiling: TilingConfig) -> None:
    """Record the chat template name and tiling next to a checkpoint (read back by the loader).

    >>> write_flowparse_config("checkpoint", "Hermes-2", TilingConfig(max_tiles=6))  # doctest: +SKIP
    """
    data = {"template": template, "tiling": tiling.to_dict()}
    (Path(out_dir) / FLOWPARSE_CONFIG).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def teach_tiny_internvl(
    model_dir: str | os.PathLike,
    examples,
    *,
    question: str | None = None,
    steps: int = 300,
    lr: float = 3e-3,
    seed: int = 0,
) -> None:
    """Overfit a tiny checkpoint so that it answers ``examples`` (``(image, answer)`` pairs).

    For end-to-end tests: a random model answers gibberish, a taught one gives a known answer
    to parse. The sequence is built exactly as at inference (tiling, chat template, image tokens)
    with the loss on the answer and its end-of-turn token; the checkpoint is saved in place.

    >>> teach_tiny_internvl(path, [(image, "<ref>diamond</ref><box>[[1, 2, 30, 40]]</box>")])  # doctest: +SKIP
    """
    import torch
    from transformers import AutoTokenizer, InternVLForConditionalGeneration

    from flowparse.backends.internvl.loading import _flowparse_settings
    from flowparse.backends.internvl.preprocessing import IMAGE_PLACEHOLDER, expand_image_tokens, preprocess_image
    from flowparse.grounding import prompt_for

    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration.from_pretrained(model_dir, use_safetensors=True).train()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    patch = model.config.vision_config.patch_size
    template, tiling, task = _flowparse_settings(str(model_dir), True, model.config.text_config.model_type, patch[0])
    batches = []
    for image, answer in examples:
        pixels = preprocess_image(image, tiling)
        prompt = template.prompt(f"{IMAGE_PLACEHOLDER}\n{question or prompt_for(task)}")
        prompt = expand_image_tokens(prompt, [pixels.shape[0]], tiling.tokens_per_tile)
        prompt_ids = tokenizer(prompt)["input_ids"]
        answer_ids = tokenizer(answer + template.stop_token, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + answer_ids])
        labels = torch.tensor([[-100] * len(prompt_ids) + answer_ids])
        batches.append((ids, labels, pixels))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for step in range(steps):
        ids, labels, pixels = batches[step % len(batches)]
        loss = model(input_ids=ids, pixel_values=pixels, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().save_pretrained(model_dir, safe_serialization=True)


def build_tiny_sentencepiece(out_dir: str | os.PathLike, vocab_size: int = 600, seed: int = 0) -> Path:
    """Tokenizer files laid out like InternVL2-2B/8B's: a SentencePiece ``tokenizer.model`` and a
    ``tokenizer_config.json`` naming InternLM2's remote-code tokenizer class, no ``tokenizer.json``.

    The chat markers are pieces of the model (as in InternLM2); InternVL's tokens are added after
    it, with their ids in ``added_tokens_decoder``. Needs ``sentencepiece``. For import tests.

    >>> build_tiny_sentencepiece(tempfile.mkdtemp())  # doctest: +SKIP
    """
    import io

    import sentencepiece

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_synthetic_corpus(seed)),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=1.0,
        user_defined_symbols=["<|im_end|>", "<|im_start|>"],
        add_dummy_prefix=False,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        split_digits=True,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        minloglevel=2,
    )
    (out / "tokenizer.model").write_bytes(model.getvalue())

    def entry(token):
        flags = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
        return {"content": token, **flags}

    added = {str(i): entry(t) for i, t in enumerate(["<unk>", "<s>", "</s>", "<|im_end|>", "<|im_start|>"])}
    added.update({str(vocab_size + i): entry(t) for i, t in enumerate(INTERNVL_SPECIAL_TOKENS)})
    config = {
        "tokenizer_class": "InternLM2Tokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_internlm2.InternLM2Tokenizer", None]},
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>", *INTERNVL_SPECIAL_TOKENS],
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return out
