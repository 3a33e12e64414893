"""Import an original InternVL2 chat checkpoint into transformers' native InternVL layout.

The original layout (OpenGVLab/InternVL2-1B/2B/4B/8B and models fine-tuned with InternVL's
scripts) is ``vision_model.*`` (InternViT, fused qkv), ``mlp1.*`` (the projector) and
``language_model.*`` (Qwen2 for 1B, InternLM2 for 2B/8B, Phi-3 for 4B), loaded through remote
code. The native layout is ``model.vision_tower.*``, ``model.multi_modal_projector.*``,
``model.language_model.*`` and ``lm_head.*`` of ``InternVLForConditionalGeneration``; InternLM2
becomes Llama with its packed ``wqkv`` split into q, k and v.

Tensors are renamed shard by shard from the safetensors files (no model is instantiated, so an
8B import needs no more memory than its largest shard), then checked name by name and shape by
shape against the native model built on the meta device. The tokenizer keeps every special
token's original id, and the chat template the model was trained with is saved with it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flowparse.backends.internvl.preprocessing import IMG_CONTEXT, TilingConfig
from flowparse.backends.internvl.templates import ChatTemplate, get_template, template_for_llm
from flowparse.backends.internvl.tiny import INTERNVL_SPECIAL_TOKENS, write_flowparse_config
from flowparse.errors import InputError

__all__ = [
    "CheckpointImportError",
    "LLM_FAMILIES",
    "llm_family",
    "native_config",
    "rename_key",
    "convert_tensor",
    "import_checkpoint",
]

#: The original ``llm_config.architectures[0]`` -> native text model type.
LLM_FAMILIES = {"Qwen2ForCausalLM": "qwen2", "InternLM2ForCausalLM": "llama", "Phi3ForCausalLM": "phi3"}

#: Keys of the original configs that mean nothing to the native ones (or would override our choices).
_DROP_KEYS = {
    "_name_or_path", "architectures", "auto_map", "attn_implementation", "_attn_implementation",
    "_attn_implementation_autoset", "use_flash_attn", "torch_dtype", "dtype", "transformers_version",
    "model_type", "bias", "use_bfloat16", "drop_path_rate", "initializer_factor",
}  # fmt: skip


class CheckpointImportError(InputError):
    """An original checkpoint cannot be imported (the message names the file and the problem)."""


# ---------------------------------------------------------------------------------------- config


def _read_original_config(src: Path) -> dict:
    path = src / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointImportError("no config.json: not a checkpoint folder", source=src) from None
    except (OSError, ValueError) as e:
        raise CheckpointImportError(f"unreadable config.json ({e})", source=path) from None
    if "llm_config" not in config or "vision_config" not in config:
        raise CheckpointImportError(
            "not the original InternVL chat layout (no llm_config/vision_config); a native checkpoint needs no import",
            source=path,
        )
    if config.get("ps_version", "v2") != "v2" or config.get("select_layer", -1) != -1:
        raise CheckpointImportError(
            f"ps_version {config.get('ps_version')!r} / select_layer {config.get('select_layer')!r}: only InternVL2's "
            "v2 pixel shuffle on the last ViT layer is supported",
            source=path,
        )
    return config


def llm_family(config: dict) -> str:
    """The native text model type of an original config (``qwen2``, ``llama``, ``phi3``).

    >>> llm_family({"llm_config": {"architectures": ["InternLM2ForCausalLM"]}})
    'llama'
    """
    arch = (config["llm_config"].get("architectures") or ["?"])[0]
    if arch not in LLM_FAMILIES:
        raise CheckpointImportError(f"unsupported language model {arch!r} (known: {', '.join(LLM_FAMILIES)})")
    return LLM_FAMILIES[arch]


def _vision_config(original: dict):
    from transformers import InternVLVisionConfig

    v = original
    dropout = v.get("attention_dropout", 0.0)
    return InternVLVisionConfig(
        hidden_size=v["hidden_size"],
        num_hidden_layers=v["num_hidden_layers"],
        num_attention_heads=v["num_attention_heads"],
        intermediate_size=v["intermediate_size"],
        image_size=v.get("image_size", 448),
        patch_size=v.get("patch_size", 14),
        num_channels=v.get("num_channels", 3),
        attention_bias=v.get("qkv_bias", True),
        use_qk_norm=v.get("qk_normalization", False),
        norm_type=v.get("norm_type", "layer_norm"),
        layer_norm_eps=v.get("layer_norm_eps", 1e-6),
        hidden_act=v.get("hidden_act", "gelu"),
        attention_dropout=dropout,
        projection_dropout=dropout,
        use_mean_pooling=True,  # InternViT has no final norm: the native Identity
        use_absolute_position_embeddings=True,
    )


def _text_config(original: dict, family: str):
    from transformers import LlamaConfig, Phi3Config, Qwen2Config

    llm = {k: v for k, v in original.items() if k not in _DROP_KEYS}
    rope = llm.get("rope_scaling")
    if isinstance(rope, dict) and rope.get("type") == "su":  # early Phi-3-128k's name for longrope
        llm["rope_scaling"] = {**rope, "type": "longrope"}
    if family == "llama":  # InternLM2: one `bias` flag for attention; its MLP has none
        llm["attention_bias"] = bool(original.get("bias", False))
        llm["mlp_bias"] = False
        llm["head_dim"] = original["hidden_size"] // original["num_attention_heads"]
    classes = {"qwen2": Qwen2Config, "llama": LlamaConfig, "phi3": Phi3Config}
    return classes[family](**llm)


def native_config(original: dict, image_token_id: int):
    """The native ``InternVLConfig`` of an original InternVL2 chat ``config.json`` dict.

    >>> config = native_config(json.load(open("InternVL2-1B/config.json")), 151648)  # doctest: +SKIP
    >>> config.text_config.model_type, config.image_token_id                          # doctest: +SKIP
    ('qwen2', 151648)
    """
    from transformers import InternVLConfig

    family = llm_family(original)
    text = _text_config(original["llm_config"], family)
    vision = _vision_config(original["vision_config"])
    tokens_per_tile = int(
        (vision.image_size[0] // vision.patch_size[0]) ** 2 * original.get("downsample_ratio", 0.5) ** 2
    )
    config = InternVLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=image_token_id,
        image_seq_length=tokens_per_tile,
        downsample_ratio=original.get("downsample_ratio", 0.5),
        projector_hidden_act="gelu",
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        tie_word_embeddings=bool(original["llm_config"].get("tie_word_embeddings", False)),
    )
    config.architectures = ["InternVLForConditionalGeneration"]
    return config


# ---------------------------------------------------------------------------------------- weights

_VISION_RENAMES = [
    (r"^vision_model\.embeddings\.class_embedding$", "model.vision_tower.embeddings.cls_token"),
    (r"^vision_model\.embeddings\.position_embedding$", "model.vision_tower.embeddings.position_embeddings"),
    (r"^vision_model\.embeddings\.patch_embedding\.", "model.vision_tower.embeddings.patch_embeddings.projection."),
    (
        r"^vision_model\.encoder\.layers\.(\d+)\.attn\.proj\.",
        r"model.vision_tower.encoder.layer.\1.attention.projection_layer.",
    ),
    (
        r"^vision_model\.encoder\.layers\.(\d+)\.attn\.(q_norm|k_norm)\.",
        r"model.vision_tower.encoder.layer.\1.attention.\2.",
    ),
    (r"^vision_model\.encoder\.layers\.(\d+)\.attn\.qkv\.", r"model.vision_tower.encoder.layer.\1.attention.qkv."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.ls(\d)$", r"model.vision_tower.encoder.layer.\1.lambda_\2"),
    (r"^vision_model\.encoder\.layers\.(\d+)\.norm1\.", r"model.vision_tower.encoder.layer.\1.layernorm_before."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.norm2\.", r"model.vision_tower.encoder.layer.\1.layernorm_after."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.mlp\.", r"model.vision_tower.encoder.layer.\1.mlp."),
    (r"^mlp1\.0\.", "model.multi_modal_projector.layer_norm."),
    (r"^mlp1\.1\.", "model.multi_modal_projector.linear_1."),
    (r"^mlp1\.3\.", "model.multi_modal_projector.linear_2."),
]

_HF_LLM_RENAMES = [  # Qwen2 and Phi-3 already use transformers' names
    (r"^language_model\.model\.", "model.language_model."),
    (r"^language_model\.lm_head\.", "lm_head."),
]

_INTERNLM2_RENAMES = [
    (r"^language_model\.model\.tok_embeddings\.", "model.language_model.embed_tokens."),
    (r"^language_model\.model\.norm\.", "model.language_model.norm."),
    (r"^language_model\.output\.", "lm_head."),
    (r"^language_model\.model\.layers\.(\d+)\.attention\.wqkv\.", r"model.language_model.layers.\1.self_attn.wqkv."),
    (r"^language_model\.model\.layers\.(\d+)\.attention\.wo\.", r"model.language_model.layers.\1.self_attn.o_proj."),
    (r"^language_model\.model\.layers\.(\d+)\.feed_forward\.w1\.", r"model.language_model.layers.\1.mlp.gate_proj."),
    (r"^language_model\.model\.layers\.(\d+)\.feed_forward\.w3\.", r"model.language_model.layers.\1.mlp.up_proj."),
    (r"^language_model\.model\.layers\.(\d+)\.feed_forward\.w2\.", r"model.language_model.layers.\1.mlp.down_proj."),
    (r"^language_model\.model\.layers\.(\d+)\.attention_norm\.", r"model.language_model.layers.\1.input_layernorm."),
    (r"^language_model\.model\.layers\.(\d+)\.ffn_norm\.", r"model.language_model.layers.\1.post_attention_layernorm."),
]


def rename_key(key: str, family: str) -> str | None:
    """The native name of an original tensor name (fused ``qkv``/``wqkv`` kept for splitting);
    None for a name this importer does not know.

    >>> rename_key("vision_model.encoder.layers.3.ls1", "qwen2")
    'model.vision_tower.encoder.layer.3.lambda_1'
    >>> rename_key("language_model.model.layers.0.feed_forward.w3.weight", "llama")
    'model.language_model.layers.0.mlp.up_proj.weight'
    """
    rules = _VISION_RENAMES + (_INTERNLM2_RENAMES if family == "llama" else _HF_LLM_RENAMES)
    for pattern, replacement in rules:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    return None


def convert_tensor(name: str, tensor, config) -> Iterator[tuple[str, Any]]:
    """The native ``(name, tensor)`` pairs of one renamed tensor: fused projections are split.

    The vision ``qkv`` is ``[q; k; v]`` stacked. InternLM2's ``wqkv`` is grouped by key/value
    head: for each of them, its ``groups`` query heads, then its key head, then its value head.

    >>> import torch
    >>> [name for name, _ in convert_tensor("a.attention.qkv.weight", torch.zeros(6, 2), None)]
    ['a.attention.q_proj.weight', 'a.attention.k_proj.weight', 'a.attention.v_proj.weight']
    """
    if ".attention.qkv." in name:
        q, k, v = tensor.chunk(3, dim=0)
        for part, value in (("q_proj", q), ("k_proj", k), ("v_proj", v)):
            yield name.replace(".qkv.", f".{part}."), value.contiguous()
        return
    if ".self_attn.wqkv." in name:
        text = config.text_config
        groups = text.num_attention_heads // text.num_key_value_heads
        head_dim = text.head_dim
        packed = tensor.reshape(text.num_key_value_heads, groups + 2, head_dim, *tensor.shape[1:])
        q = packed[:, :groups].reshape(-1, *tensor.shape[1:])
        k = packed[:, groups].reshape(-1, *tensor.shape[1:])
        v = packed[:, groups + 1].reshape(-1, *tensor.shape[1:])
        for part, value in (("q_proj", q), ("k_proj", k), ("v_proj", v)):
            yield name.replace(".wqkv.", f".{part}."), value.contiguous()
        return
    yield name, tensor


def _source_shards(src: Path) -> list[Path]:
    shards = sorted(src.glob("*.safetensors"))
    if not shards:
        pickles = sorted(p.name for p in src.glob("*.bin")) + sorted(p.name for p in src.glob("*.pt"))
        hint = f" (found {', '.join(pickles)}: pickle checkpoints are not loaded, they can run code)" if pickles else ""
        raise CheckpointImportError(f"no .safetensors weights{hint}", source=src)
    return shards


def _convert_shards(src: Path, dst: Path, config, family: str) -> dict[str, tuple[int, ...]]:
    """Rename every tensor shard by shard into ``dst``; return the written names and shapes."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    shards = _source_shards(src)
    written: dict[str, tuple[int, ...]] = {}
    weight_map = {}
    total = 0
    for k, shard in enumerate(shards):
        out_name = "model.safetensors" if len(shards) == 1 else f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        converted = {}
        with safe_open(str(shard), framework="pt") as f:
            for key in f.keys():
                native = rename_key(key, family)
                if native is None:
                    raise CheckpointImportError(f"unknown tensor {key!r}", source=shard)
                for name, tensor in convert_tensor(native, f.get_tensor(key), config):
                    converted[name] = tensor
        if config.tie_word_embeddings:
            converted.pop("lm_head.weight", None)  # tied to the embeddings: saved once
        save_file(converted, str(dst / out_name), metadata={"format": "pt"})
        for name, tensor in converted.items():
            written[name] = tuple(tensor.shape)
            weight_map[name] = out_name
            total += tensor.numel() * tensor.element_size()
    if len(shards) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (dst / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return written


def _check_against_native(config, written: dict[str, tuple[int, ...]], src: Path) -> None:
    """Every native parameter written with the right shape, nothing left over."""
    import torch
    from transformers import InternVLForConditionalGeneration

    with torch.device("meta"):
        model = InternVLForConditionalGeneration(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if config.tie_word_embeddings:
        expected.pop("lm_head.weight", None)
    missing = sorted(set(expected) - set(written))
    unexpected = sorted(set(written) - set(expected))
    wrong = sorted(k for k in set(expected) & set(written) if expected[k] != written[k])
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise CheckpointImportError(f"the converted weights do not fit the native model ({detail})", source=src)


# ---------------------------------------------------------------------------------------- tokenizer


def _original_added_tokens(src: Path) -> dict[str, int]:
    """Token -> id of the original tokenizer's added (special) tokens."""
    found: dict[str, int] = {}
    tok_json = src / "tokenizer.json"
    if tok_json.is_file():
        for entry in json.loads(tok_json.read_text(encoding="utf-8")).get("added_tokens", []):
            found[entry["content"]] = entry["id"]
    cfg = src / "tokenizer_config.json"
    if cfg.is_file():
        for token_id, entry in json.loads(cfg.read_text(encoding="utf-8")).get("added_tokens_decoder", {}).items():
            found.setdefault(entry["content"], int(token_id))
    return found


#: Texts on which a rebuilt SentencePiece tokenizer must encode exactly like SentencePiece.
#: The added tokens (<img>, <ref>, ...) are checked by id separately.
_PROBES = (
    "Please detect and label all objects in the following image and mark their positions.",
    " leading space, two  spaces\n\nand newlines\t",
    "n0 diamond In stock? [[359, 292, 641, 444]]\nn0 -> n1",  # no added tokens: SentencePiece lacks them
    "流程图：开始，判断，结束。",
)


def _load_original_tokenizer(src: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(src), trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError) as e:
        if not (src / "tokenizer.model").is_file():
            raise CheckpointImportError(f"cannot load the tokenizer without remote code ({e})", source=src) from None
    return _sentencepiece_as_llama(src)


def _sentencepiece_as_llama(src: Path):
    """InternLM2's remote-code SentencePiece tokenizer rebuilt as transformers' (fast) Llama one.

    InternLM2's tokenizer encodes with ``SentencePieceProcessor.encode``; the rebuilt one must give
    the same ids on probe texts, with the prefix-space setting that achieves it, or the import stops.
    """
    from transformers import LlamaTokenizer

    try:
        import sentencepiece
    except ImportError:
        raise CheckpointImportError(
            "the tokenizer is SentencePiece with remote code (InternLM2): `pip install sentencepiece` to import it",
            source=src,
        ) from None
    reference = sentencepiece.SentencePieceProcessor(model_file=str(src / "tokenizer.model"))
    for prefix_space in (False, True):
        tokenizer = LlamaTokenizer.from_pretrained(
            str(src), legacy=False, add_prefix_space=prefix_space, local_files_only=True
        )
        if all(tokenizer(p, add_special_tokens=False)["input_ids"] == reference.encode(p) for p in _PROBES):
            return tokenizer
    raise CheckpointImportError("the rebuilt tokenizer does not encode like its SentencePiece model", source=src)


def _import_tokenizer(src: Path, dst: Path, template: ChatTemplate):
    tokenizer = _load_original_tokenizer(src)
    original = _original_added_tokens(src)
    wanted = [t for t in (*INTERNVL_SPECIAL_TOKENS, template.stop_token) if t in original]
    if IMG_CONTEXT not in original:
        raise CheckpointImportError(
            f"the tokenizer has no {IMG_CONTEXT} token: not an InternVL chat checkpoint", source=src
        )
    moved = {t: (original[t], tokenizer.convert_tokens_to_ids(t)) for t in wanted}
    moved = {t: ids for t, ids in moved.items() if ids[0] != ids[1]}
    if moved:
        raise CheckpointImportError(f"special token ids would change: {moved}", source=src)
    tokenizer.chat_template = template.jinja()
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(str(dst))
    _drop_remote_code(dst / "tokenizer_config.json")
    return tokenizer


def _drop_remote_code(path: Path) -> None:
    """The saved tokenizer is transformers' own class: the original's ``auto_map`` (remote code)
    would make loaders ask for ``trust_remote_code`` for nothing."""
    config = json.loads(path.read_text(encoding="utf-8"))
    config.pop("auto_map", None)
    config.pop("local_files_only", None)
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------- import


def _tiling_of(original: dict, vision) -> TilingConfig:
    return TilingConfig(
        min_tiles=original.get("min_dynamic_patch", 1),
        max_tiles=original.get("max_dynamic_patch", 12),
        use_thumbnail=original.get("use_thumbnail", True),
        image_size=original.get("force_image_size") or vision.image_size[0],
        patch_size=vision.patch_size[0],
        downsample_ratio=original.get("downsample_ratio", 0.5),
    )


def import_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Convert the original InternVL2 chat checkpoint in ``src`` into a native one in ``dst``.

    >>> import_checkpoint("InternVL2-1B", "internvl2-1b-native")  # doctest: +SKIP
    PosixPath('internvl2-1b-native')
    """
    from transformers import GenerationConfig

    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise CheckpointImportError("no such folder", source=src)
    if dst.exists() and any(dst.iterdir()):
        raise CheckpointImportError("the destination folder is not empty", source=dst)
    original = _read_original_config(src)
    family = llm_family(original)
    template = get_template(original["template"]) if original.get("template") else template_for_llm(family)
    dst.mkdir(parents=True, exist_ok=True)
    tokenizer = _import_tokenizer(src, dst, template)
    config = native_config(original, tokenizer.convert_tokens_to_ids(IMG_CONTEXT))
    stop_id = tokenizer.convert_tokens_to_ids(template.stop_token)
    config.text_config.eos_token_id = stop_id
    if not 0 <= (config.text_config.pad_token_id or 0) < config.text_config.vocab_size:
        config.text_config.pad_token_id = tokenizer.pad_token_id  # a base-model default outside this vocabulary
    written = _convert_shards(src, dst, config, family)
    _check_against_native(config, written, src)
    config.save_pretrained(str(dst))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_id
    GenerationConfig(eos_token_id=stop_id, pad_token_id=pad_id, do_sample=False).save_pretrained(str(dst))
    write_flowparse_config(dst, template.name, _tiling_of(original, config.vision_config))
    return dst
