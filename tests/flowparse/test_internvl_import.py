"""`flowparse model import`: original InternVL2 chat checkpoints -> native layout, same logits.

Each test takes a tiny native model, writes the same weights by hand in the original layout
(InternViT fused qkv, mlp1, Qwen2 / InternLM2 packed wqkv / Phi-3 names, the original
config.json), imports that folder, and checks the imported model's logits equal the native
model's on the same inputs.
"""

from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch", reason="the InternVL backend needs torch")
pytest.importorskip("transformers", reason="the InternVL backend needs transformers")
from click.testing import CliRunner  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoTokenizer, InternVLForConditionalGeneration  # noqa: E402

from flowparse.backends.internvl.convert import CheckpointImportError, import_checkpoint, rename_key  # noqa: E402
from flowparse.backends.internvl.templates import template_for_llm  # noqa: E402
from flowparse.backends.internvl.tiny import build_tiny_internvl, build_tiny_sentencepiece  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


ARCHS = {"qwen2": "Qwen2ForCausalLM", "llama": "InternLM2ForCausalLM", "phi3": "Phi3ForCausalLM"}


def _original_vision(sd: dict, prefix="model.vision_tower.") -> dict:
    """Native vision + projector tensors, renamed back to InternViT / mlp1 by hand."""
    out = {}
    for key, value in sd.items():
        if key.startswith("model.multi_modal_projector."):
            rest = key[len("model.multi_modal_projector.") :]
            index = {"layer_norm": "0", "linear_1": "1", "linear_2": "3"}[rest.split(".")[0]]
            out[f"mlp1.{index}.{rest.split('.', 1)[1]}"] = value
        elif key.startswith(prefix):
            rest = key[len(prefix) :]
            if rest == "embeddings.cls_token":
                out["vision_model.embeddings.class_embedding"] = value
            elif rest == "embeddings.position_embeddings":
                out["vision_model.embeddings.position_embedding"] = value
            elif rest.startswith("embeddings.patch_embeddings.projection."):
                out["vision_model.embeddings.patch_embedding." + rest.rsplit(".", 1)[1]] = value
            else:
                _, _, i, *tail = rest.split(".")
                tail = ".".join(tail)
                base = f"vision_model.encoder.layers.{i}."
                if tail.startswith("attention.q_proj."):
                    kind = tail.rsplit(".", 1)[1]
                    qkv = [sd[f"{prefix}encoder.layer.{i}.attention.{p}_proj.{kind}"] for p in "qkv"]
                    out[base + f"attn.qkv.{kind}"] = torch.cat(qkv)
                elif tail.startswith(("attention.k_proj.", "attention.v_proj.")):
                    continue
                else:
                    for native, original in (
                        ("attention.projection_layer", "attn.proj"),
                        ("lambda_1", "ls1"),
                        ("lambda_2", "ls2"),
                        ("layernorm_before", "norm1"),
                        ("layernorm_after", "norm2"),
                        ("mlp", "mlp"),
                    ):
                        if tail.startswith(native):
                            out[base + original + tail[len(native) :]] = value
                            break
                    else:
                        raise AssertionError(f"unmapped vision key {key}")
    return out


def _original_internlm2(sd: dict, text_config) -> dict:
    out = {}
    heads, kv = text_config.num_attention_heads, text_config.num_key_value_heads
    groups, head_dim = heads // kv, text_config.hidden_size // heads
    names = {
        "self_attn.o_proj": "attention.wo",
        "mlp.gate_proj": "feed_forward.w1",
        "mlp.up_proj": "feed_forward.w3",
        "mlp.down_proj": "feed_forward.w2",
        "input_layernorm": "attention_norm",
        "post_attention_layernorm": "ffn_norm",
    }
    for key, value in sd.items():
        if key == "lm_head.weight":
            out["language_model.output.weight"] = value
        elif key == "model.language_model.embed_tokens.weight":
            out["language_model.model.tok_embeddings.weight"] = value
        elif key == "model.language_model.norm.weight":
            out["language_model.model.norm.weight"] = value
        elif key.startswith("model.language_model.layers."):
            i, tail = key.split(".")[3], ".".join(key.split(".")[4:])
            base = f"language_model.model.layers.{i}."
            if tail == "self_attn.q_proj.weight":
                q = value.reshape(kv, groups, head_dim, -1)
                k = sd[key.replace("q_proj", "k_proj")].reshape(kv, 1, head_dim, -1)
                v = sd[key.replace("q_proj", "v_proj")].reshape(kv, 1, head_dim, -1)
                out[base + "attention.wqkv.weight"] = torch.cat([q, k, v], dim=1).reshape(-1, value.shape[-1])
            elif tail.startswith(("self_attn.k_proj", "self_attn.v_proj")):
                continue
            else:
                module, kind = tail.rsplit(".", 1)
                out[base + names[module] + "." + kind] = value
    return out


def _original_hf_llm(sd: dict) -> dict:
    out = {}
    for key, value in sd.items():
        if key == "lm_head.weight":
            out["language_model.lm_head.weight"] = value
        elif key.startswith("model.language_model."):
            out["language_model.model." + key[len("model.language_model.") :]] = value
    return out


def _write_original(
    native_dir, out_dir, llm: str, *, tied: bool, tokenizer_dir=None, shards: int = 1
) -> InternVLForConditionalGeneration:
    model = InternVLForConditionalGeneration.from_pretrained(native_dir, use_safetensors=True).eval()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    weights = _original_vision(sd)
    weights.update(_original_internlm2(sd, model.config.text_config) if llm == "llama" else _original_hf_llm(sd))
    if tied:
        weights.pop("language_model.lm_head.weight", None)
    out_dir.mkdir()
    names = sorted(weights)
    if shards == 1:
        save_file({k: weights[k].contiguous() for k in names}, str(out_dir / "model.safetensors"))
    else:  # the layout of the 8B: shards plus an index
        weight_map = {}
        for s in range(shards):
            part = names[s::shards]
            file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            save_file({k: weights[k].contiguous() for k in part}, str(out_dir / file))
            weight_map.update(dict.fromkeys(part, file))
        (out_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    tokenizer_files = (
        ("tokenizer.model", "tokenizer_config.json") if tokenizer_dir else ("tokenizer.json", "tokenizer_config.json")
    )
    for name in tokenizer_files:
        shutil.copy((tokenizer_dir or native_dir) / name, out_dir / name)
    text, vision = model.config.text_config, model.config.vision_config
    llm_config = {
        "architectures": [ARCHS[llm]],
        "model_type": {"llama": "internlm2"}.get(llm, llm),
        "auto_map": {"AutoModelForCausalLM": "modeling_internlm2.InternLM2ForCausalLM"},
        "attn_implementation": "flash_attention_2",
        "vocab_size": text.vocab_size,
        "hidden_size": text.hidden_size,
        "intermediate_size": text.intermediate_size,
        "num_hidden_layers": text.num_hidden_layers,
        "num_attention_heads": text.num_attention_heads,
        "num_key_value_heads": text.num_key_value_heads,
        "hidden_act": "silu",
        "rms_norm_eps": text.rms_norm_eps,
        "max_position_embeddings": text.max_position_embeddings,
        "rope_theta": 10000.0,
        "tie_word_embeddings": tied,
        "bias": False,
        "pad_token_id": text.pad_token_id,
        "eos_token_id": text.eos_token_id,
    }
    config = {
        "architectures": ["InternVLChatModel"],
        "model_type": "internvl_chat",
        "template": template_for_llm(llm).name,
        "downsample_ratio": 0.5,
        "select_layer": -1,
        "ps_version": "v2",
        "force_image_size": 448,
        "min_dynamic_patch": 1,
        "max_dynamic_patch": 6,
        "use_thumbnail": True,
        "dynamic_image_size": True,
        "vision_config": {
            "architectures": ["InternVisionModel"],
            "model_type": "intern_vit_6b",
            "hidden_size": vision.hidden_size,
            "num_hidden_layers": vision.num_hidden_layers,
            "num_attention_heads": vision.num_attention_heads,
            "intermediate_size": vision.intermediate_size,
            "image_size": 448,
            "patch_size": vision.patch_size[0],
            "qkv_bias": True,
            "qk_normalization": False,
            "norm_type": "layer_norm",
            "layer_norm_eps": vision.layer_norm_eps,
            "hidden_act": "gelu",
            "use_flash_attn": True,
            "drop_path_rate": 0.1,
            "initializer_factor": 1.0,
        },
        "llm_config": llm_config,
    }
    (out_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return model


def _original_token_ids(folder) -> dict[str, int]:
    """Special token ids as the original files state them (read directly: loading the original
    InternLM2 tokenizer would need its remote code)."""
    ids = {}
    if (folder / "tokenizer.json").is_file():
        ids.update({t["content"]: t["id"] for t in json.loads((folder / "tokenizer.json").read_text())["added_tokens"]})
    decoder = json.loads((folder / "tokenizer_config.json").read_text()).get("added_tokens_decoder", {})
    ids.update({entry["content"]: int(i) for i, entry in decoder.items()})
    return ids


def _inputs(model, tokenizer):
    torch.manual_seed(1)
    tokens_per_tile = model.config.image_seq_length
    image = tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    ids = tokenizer("Please detect", return_tensors="pt")["input_ids"][0].tolist()
    input_ids = torch.tensor([ids + [image] * (2 * tokens_per_tile) + ids])
    pixels = torch.randn(2, 3, 448, 448)
    return input_ids, pixels


@pytest.mark.parametrize(
    "llm, tied, sentencepiece",
    [
        ("qwen2", True, False),  # InternVL2-1B: Qwen2-0.5B ties its output layer to the embeddings
        ("llama", False, False),  # InternVL2-2B/8B: InternLM2 with packed wqkv (GQA: 4 query heads per 2 kv)
        ("llama", False, True),  # ... with InternLM2's remote-code SentencePiece tokenizer and 3 shards, as shipped
        ("phi3", False, False),  # InternVL2-4B: Phi-3 keeps transformers' names
    ],
)
def test_import_gives_the_same_logits(tmp_path, llm, tied, sentencepiece):
    tokenizer_dir = tokenizer = None
    if sentencepiece:
        pytest.importorskip("sentencepiece", reason="InternLM2's tokenizer is SentencePiece")
        from transformers import LlamaTokenizer

        tokenizer_dir = build_tiny_sentencepiece(tmp_path / "spm")
        tokenizer = LlamaTokenizer.from_pretrained(tokenizer_dir, legacy=False, add_prefix_space=False)
    native_dir = build_tiny_internvl(
        tmp_path / "native", llm, tie_word_embeddings=tied, vision_layers=2, tokenizer=tokenizer
    )
    shards = 3 if sentencepiece else 1
    reference = _write_original(
        native_dir, tmp_path / "original", llm, tied=tied, tokenizer_dir=tokenizer_dir, shards=shards
    )
    out = import_checkpoint(tmp_path / "original", tmp_path / "imported")
    assert len(list(out.glob("*.safetensors"))) == shards

    imported = InternVLForConditionalGeneration.from_pretrained(out, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    original_ids = _original_token_ids(tmp_path / "original")
    input_ids, pixels = _inputs(reference, tokenizer)
    with torch.no_grad():
        expected = reference(input_ids=input_ids, pixel_values=pixels).logits
        got = imported(input_ids=input_ids, pixel_values=pixels).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)

    for token in (
        "<img>",
        "</img>",
        "<IMG_CONTEXT>",
        "<ref>",
        "</ref>",
        "<box>",
        "</box>",
        template_for_llm(llm).stop_token,
    ):
        assert tokenizer.convert_tokens_to_ids(token) == original_ids[token]
    assert imported.config.image_token_id == original_ids["<IMG_CONTEXT>"] != 151667
    template = template_for_llm(llm)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "<image>\nQ"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == template.prompt("<image>\nQ")
    assert "auto_map" not in json.loads((out / "tokenizer_config.json").read_text())  # loads without remote code
    settings = json.loads((out / "flowparse_internvl.json").read_text())
    assert settings["template"] == template.name and settings["tiling"]["max_tiles"] == 6


def test_rename_key_covers_the_original_names():
    assert rename_key("vision_model.embeddings.patch_embedding.weight", "qwen2") == (
        "model.vision_tower.embeddings.patch_embeddings.projection.weight"
    )
    assert rename_key("mlp1.3.bias", "llama") == "model.multi_modal_projector.linear_2.bias"
    assert rename_key("language_model.output.weight", "llama") == "lm_head.weight"
    assert rename_key("language_model.lm_head.weight", "qwen2") == "lm_head.weight"
    assert rename_key("something.else", "qwen2") is None


def test_import_refuses_pickles_and_native_checkpoints(tmp_path):
    native_dir = build_tiny_internvl(tmp_path / "native", "qwen2")
    with pytest.raises(CheckpointImportError, match="not the original InternVL chat layout"):
        import_checkpoint(native_dir, tmp_path / "out1")
    _write_original(native_dir, tmp_path / "original", "qwen2", tied=False)
    (tmp_path / "original" / "model.safetensors").rename(tmp_path / "original" / "pytorch_model.bin")
    with pytest.raises(CheckpointImportError, match="pickle checkpoints are not loaded"):
        import_checkpoint(tmp_path / "original", tmp_path / "out2")
    with pytest.raises(CheckpointImportError, match="no such folder"):
        import_checkpoint(tmp_path / "missing", tmp_path / "out3")


def test_model_import_cli(tmp_path):
    from flowparse.cli import main

    native_dir = build_tiny_internvl(tmp_path / "native", "llama")
    _write_original(native_dir, tmp_path / "original", "llama", tied=False)
    runner = CliRunner()
    result = runner.invoke(main, ["model", "import", str(tmp_path / "original"), str(tmp_path / "imported")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "imported" / "model.safetensors").is_file()
    again = runner.invoke(main, ["model", "import", str(tmp_path / "original"), str(tmp_path / "imported")])
    assert again.exit_code == 1 and "not empty" in again.output
    assert runner.invoke(main, ["model", "import", "--help"]).exit_code == 0
    assert runner.invoke(main, ["model", "--help"]).exit_code == 0


def test_native_config_of_real_style_llm_configs():
    from flowparse.backends.internvl.convert import native_config

    vision = {
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
        "qkv_bias": True,
        "qk_normalization": False,
        "norm_type": "layer_norm",
        "use_flash_attn": True,
    }
    phi3 = {
        "architectures": ["Phi3ForCausalLM"],
        "model_type": "phi3",
        "hidden_size": 3072,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "num_hidden_layers": 32,
        "intermediate_size": 8192,
        "vocab_size": 32020,
        "max_position_embeddings": 131072,
        "original_max_position_embeddings": 4096,
        "rope_scaling": {"type": "su", "long_factor": [1.0] * 48, "short_factor": [1.0] * 48},
        "attn_implementation": "flash_attention_2",
        "tie_word_embeddings": False,
    }
    config = native_config({"vision_config": vision, "llm_config": phi3, "downsample_ratio": 0.5}, 32013)
    assert config.text_config.model_type == "phi3" and config.text_config.rope_parameters["rope_type"] == "longrope"
    assert config.image_seq_length == 256 and config.image_token_id == 32013 and not config.tie_word_embeddings
    internlm2 = {
        "architectures": ["InternLM2ForCausalLM"],
        "model_type": "internlm2",
        "hidden_size": 2048,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "num_hidden_layers": 24,
        "intermediate_size": 8192,
        "vocab_size": 92553,
        "rope_theta": 1000000,
        "rope_scaling": {"type": "dynamic", "factor": 2.0},
        "bias": False,
        "rms_norm_eps": 1e-5,
        "auto_map": {"AutoModel": "modeling_internlm2.InternLM2Model"},
    }
    config = native_config({"vision_config": vision, "llm_config": internlm2}, 92546)
    text = config.text_config
    assert text.model_type == "llama" and text.head_dim == 128 and not text.attention_bias and not text.mlp_bias
    assert text.rope_parameters["rope_type"] == "dynamic" and text.rope_parameters["rope_theta"] == 1000000
