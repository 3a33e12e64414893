"""Model set-up on tiny native InternVL models: freezing, LoRA targets, precision, loss."""

from __future__ import annotations

import re
from importlib.util import find_spec

import pytest

torch = pytest.importorskip("torch", reason="model set-up needs torch (the internvl extra)")

from flowparse.training.config import TrainConfig  # noqa: E402

# LoRA needs peft (the train extra); without it those tests are skipped and say so.
needs_peft = pytest.mark.skipif(find_spec("peft") is None, reason="peft is not installed (pip install -e '.[train]')")
from flowparse.training.model_setup import (  # noqa: E402
    TrainingModule,
    apply_lora,
    compute_autocast,
    enable_gradient_checkpointing,
    freeze_parts,
    keep_trainable_in_float32,
    load_for_training,
    lora_target_pattern,
    token_loss_reference,
    trainable_summary,
)


def _load(path, **overrides):
    cfg = TrainConfig(model=str(path), dtype="float32", device="cpu", **overrides)
    return cfg, load_for_training(cfg, "cpu").model


def _parts(names):
    """Which top-level parts have trainable parameters."""
    found = set()
    for name in names:
        name = name.removeprefix("base_model.model.")
        for part in ("vision_tower", "multi_modal_projector", "language_model", "lm_head"):
            if name.startswith((f"model.{part}.", f"{part}.")):
                found.add(part)
    return found


@pytest.mark.parametrize(
    "flags, parts",
    [
        ({}, {"multi_modal_projector", "language_model", "lm_head"}),  # official full: ViT frozen
        ({"freeze_backbone": False}, {"vision_tower", "multi_modal_projector", "language_model", "lm_head"}),
        ({"freeze_llm": True}, {"multi_modal_projector"}),  # projector only
        ({"freeze_llm": True, "unfreeze_lm_head": True}, {"multi_modal_projector", "lm_head"}),
        ({"freeze_llm": True, "freeze_mlp": True, "unfreeze_vit_layers": 1}, {"vision_tower"}),
    ],
)
def test_freeze_flags(tiny_internvl, flags, parts):
    cfg, model = _load(tiny_internvl, **flags)
    freeze_parts(model, cfg)
    assert _parts(trainable_summary(model).names) == parts


def test_unfreeze_last_vit_layers_only(tiny_internvl_llama, tmp_path):
    from flowparse.backends.internvl.tiny import build_tiny_internvl

    path = build_tiny_internvl(tmp_path / "m", llm="qwen2", vision_layers=3)
    cfg, model = _load(path, freeze_llm=True, freeze_mlp=True, unfreeze_vit_layers=2)
    freeze_parts(model, cfg)
    layers = {
        int(m.group(1)) for n in trainable_summary(model).names if (m := re.search(r"encoder\.layer\.(\d+)\.", n))
    }
    assert layers == {1, 2}


@needs_peft
@pytest.mark.parametrize("fixture, per_layer", [("tiny_internvl", 7), ("tiny_internvl_llama", 7)])
def test_official_llm_lora_lands_only_on_the_language_model(request, fixture, per_layer):
    path = request.getfixturevalue(fixture)
    cfg, model = _load(path, recipe="lora", use_llm_lora=16, freeze_llm=True, freeze_mlp=True)
    freeze_parts(model, cfg)
    model = apply_lora(model, cfg)
    names = trainable_summary(model).names
    assert names and all("lora_" in n for n in names)  # official LoRA recipe: adapters only
    wrapped = {n.split(".lora_")[0] for n in names}
    assert all(".language_model.layers." in n for n in wrapped)
    layers = model.config.text_config.num_hidden_layers
    assert len(wrapped) == per_layer * layers
    module = next(m for n, m in model.named_modules() if n.endswith("layers.0.self_attn.q_proj"))
    assert module.r["default"] == 16 and module.scaling["default"] == 32 / 16
    assert module.lora_dropout["default"].p == 0.05


@needs_peft
def test_vision_lora_and_trainable_projector_together(tiny_internvl):
    cfg, model = _load(tiny_internvl, recipe="lora", use_llm_lora=8, use_backbone_lora=4, freeze_llm=True)
    freeze_parts(model, cfg)
    model = apply_lora(model, cfg)
    names = trainable_summary(model).names
    assert "multi_modal_projector" in _parts(n for n in names if "lora_" not in n)  # flag kept through peft
    vision = {n.split(".lora_")[0] for n in names if "vision_tower" in n}
    assert {v.rsplit(".", 1)[-1] for v in vision} == {"q_proj", "k_proj", "v_proj", "projection_layer", "fc1", "fc2"}
    module = next(m for n, m in model.named_modules() if n.endswith("encoder.layer.0.mlp.fc1"))
    assert module.r["default"] == 4 and module.scaling["default"] == 2.0


@pytest.mark.parametrize(
    "model_type, hit, miss",
    [
        ("phi3", "model.language_model.layers.3.self_attn.qkv_proj", "model.language_model.layers.3.self_attn.q_proj"),
        ("internlm2", "model.language_model.layers.0.attention.wqkv", "model.language_model.embed_tokens"),
        ("llama", "model.language_model.layers.0.mlp.up_proj", "model.vision_tower.encoder.layer.0.mlp.fc1"),
    ],
)
def test_target_patterns_per_llm(model_type, hit, miss):
    pattern = lora_target_pattern(model_type, llm=True, vision=False)
    assert re.fullmatch(pattern, hit) and not re.fullmatch(pattern, miss)


@pytest.mark.filterwarnings("error::FutureWarning")  # checkpointing is enabled by its current name
def test_chunked_loss_equals_the_plain_loss_and_checkpointing_keeps_gradients(tiny_internvl, fast_tokenizer):
    cfg, model = _load(tiny_internvl)
    freeze_parts(model, cfg)
    keep_trainable_in_float32(model)
    torch.manual_seed(0)
    ids = torch.randint(10, 300, (2, 40))
    labels = ids.clone()
    labels[:, :25] = -100
    labels[1, 35:] = -100
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    module = TrainingModule(model, chunk_size=4)  # several chunks
    total, count = module(**batch)
    assert count == 15 + 10  # labelled positions (position 0 is never a target)
    assert total.item() / count == pytest.approx(token_loss_reference(model, batch), rel=1e-5)
    total.backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    enable_gradient_checkpointing(model)
    new_name = hasattr(type(model), "is_activation_checkpointing")  # transformers 5.2x; 4.56 has the old one
    assert model.is_activation_checkpointing if new_name else model.is_gradient_checkpointing
    total2, _ = module(**batch)
    total2.backward()
    for name, grad in plain.items():
        assert torch.allclose(grad, dict(model.named_parameters())[name].grad, atol=1e-6), name


def test_compute_autocast_drops_the_weight_cache_and_keeps_the_values():
    """Without the cache each use casts the float32 weight again: same bf16 values, none kept."""
    layer = torch.nn.Linear(64, 64)
    x = torch.randn(4, 64)
    with compute_autocast(torch.device("cpu"), "float32"):
        assert not torch.is_autocast_enabled("cpu")
    with compute_autocast(torch.device("cpu"), "bfloat16"):
        assert torch.is_autocast_enabled("cpu") and not torch.is_autocast_cache_enabled()
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        ours = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # torch's default: cache on
        cached = layer(x)
    assert ours.dtype == torch.bfloat16 and torch.equal(ours, cached)
