"""Shared fixtures for the training tests: a small fast tokenizer built offline."""

from __future__ import annotations

import pytest

SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>", "<|system|>", "<|user|>",
           "<|assistant|>", "<|end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<ref>", "</ref>", "<box>", "</box>",
           "<quad>", "</quad>"]


@pytest.fixture(scope="session")
def fast_tokenizer():
    """A byte-level BPE tokenizer trained in memory on flowchart-answer text, with InternVL's
    special tokens; it adds ``<s>`` in front like InternLM2's tokenizer does."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = ["Please detect and label all objects in the following image and mark their positions.",
              "system user assistant rectangle diamond stadium circle [[100, 200, 300, 400]]",
              "0123456789 , [ ] yes no 是 否 开始 结束"] * 20
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL,
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", additional_special_tokens=SPECIAL[4:])


@pytest.fixture(scope="session")
def tiny_internvl(tmp_path_factory):
    """A tiny native InternVL checkpoint (Qwen2 LLM, Hermes-2 template) from the backend's builder."""
    pytest.importorskip("torch", reason="the tiny model needs torch (the internvl extra)")
    from flowparse.backends.internvl.tiny import build_tiny_internvl

    return build_tiny_internvl(tmp_path_factory.mktemp("tiny-qwen2"), llm="qwen2")


@pytest.fixture(scope="session")
def tiny_internvl_llama(tmp_path_factory):
    """The same with a Llama LLM (InternLM2 as imported: InternVL2-2B/8B's family)."""
    pytest.importorskip("torch", reason="the tiny model needs torch (the internvl extra)")
    from flowparse.backends.internvl.tiny import build_tiny_internvl

    return build_tiny_internvl(tmp_path_factory.mktemp("tiny-llama"), llm="llama")
