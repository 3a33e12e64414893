"""Every recipe YAML loads into TrainConfig; unknown keys, bad values and overrides are handled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowparse.training.config import ConfigError, TrainConfig, apply_overrides, config_from_dict, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
YAMLS = sorted(CONFIGS.glob("*.yaml"))
OFFICIAL = sorted(CONFIGS.glob("internvl2_*.yaml"))


def test_every_model_size_has_a_full_and_a_lora_recipe():
    names = {p.name for p in OFFICIAL}
    assert names == {f"internvl2_{s}_{k}.yaml" for s in ("1b", "2b", "4b", "8b") for k in ("full", "lora")}


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_every_yaml_loads_and_opens_with_the_command_that_runs_it(path):
    import yaml

    cfg = load_config(path)
    # load_config rejects unknown keys; check the YAML has no key the dataclass would default.
    assert set(yaml.safe_load(path.read_text())) <= set(TrainConfig.__dataclass_fields__)
    command_lines = [
        ln for ln in path.read_text().splitlines()[:12] if "flowparse train" in ln or "-m flowparse.training.cli" in ln
    ]
    assert command_lines, f"{path.name} must open with the command that runs it"
    assert path.name in command_lines[0]
    assert cfg.recipe in ("full", "lora")


@pytest.mark.parametrize("path", OFFICIAL, ids=lambda p: p.name)
def test_official_hyperparameters(path):
    cfg = load_config(path)
    size, kind = path.stem.split("_")[1:]
    assert (cfg.learning_rate, cfg.num_train_epochs, cfg.lr_scheduler_type, cfg.warmup_ratio) == (
        4e-5,
        1.0,
        "cosine",
        0.03,
    )
    assert (cfg.max_seq_length, cfg.max_dynamic_patch, cfg.use_thumbnail) == (4096, 6, True)
    assert cfg.freeze_backbone and cfg.deepspeed == "zero1" and cfg.dtype == "bfloat16" and cfg.grad_checkpoint
    assert cfg.weight_decay == (0.05 if (size, kind) == ("8b", "full") else 0.01)
    if kind == "full":
        assert (cfg.global_batch_size, cfg.use_llm_lora, cfg.freeze_llm, cfg.freeze_mlp) == (128, 0, False, False)
        assert cfg.gradient_accumulation_steps(world_size=8) == 4
    else:
        assert (cfg.global_batch_size, cfg.use_llm_lora, cfg.freeze_llm, cfg.freeze_mlp) == (16, 16, True, True)
        assert cfg.lora_alpha(cfg.use_llm_lora) == 32 and cfg.lora_dropout == 0.05
        assert cfg.gradient_accumulation_steps(world_size=2) == 2


@pytest.mark.parametrize(
    "data, message",
    [
        ({"recipe": "full", "learning_rat": 1e-4}, "unknown key(s): learning_rat"),  # typo
        ({"recipe": "qlora"}, "recipe: expected one of full, lora"),  # unknown recipe
        ({"recipe": "lora"}, "recipe lora needs use_llm_lora"),  # LoRA without a rank
        ({"recipe": "full", "use_llm_lora": 8}, "recipe full trains no adapters"),  # full with adapters
        ({"max_seq_length": "long"}, "max_seq_length: expected int"),  # wrong type
        ({"max_seq_length": 0}, "max_seq_length must be at least 1"),  # out of range
        ({"deepspeed": "zero4"}, "deepspeed: expected one of zero1"),  # unknown stage
        ({"model": None}, "model: null is not allowed"),  # null where a string is needed
        ({"eval_images": "x"}, "eval_images and eval_truth go together"),  # half an eval set
        ({"warmup_ratio": 1.5}, "warmup_ratio and lora_dropout"),  # ratio above 1
        ({"optim": "adamw_4bit"}, "optim: expected one of adamw_torch, adamw_8bit"),  # unknown optimizer
    ],
)
def test_bad_configs_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_dict(data)


def test_yaml_unknown_key_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("recipe: full\nbatch: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "batch" in str(err.value)


def test_overrides_are_typed_and_checked():
    cfg = apply_overrides(TrainConfig(), ["learning_rate=1e-4", "max_steps=7", "deepspeed=null", "use_thumbnail=false"])
    assert (cfg.learning_rate, cfg.max_steps, cfg.deepspeed, cfg.use_thumbnail) == (1e-4, 7, None, False)
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides(TrainConfig(), ["max_steps"])
    with pytest.raises(ConfigError, match="unknown key"):
        apply_overrides(TrainConfig(), ["max_stepz=3"])


def test_global_batch_must_split_over_devices():
    with pytest.raises(ConfigError, match="not a multiple"):
        TrainConfig(global_batch_size=16, per_device_train_batch_size=4).gradient_accumulation_steps(3)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_deepspeed_files_are_the_official_zero_stages(stage):
    data = json.loads((CONFIGS / "deepspeed" / f"zero{stage}.json").read_text())
    assert data["zero_optimization"]["stage"] == stage
    assert data["zero_optimization"]["reduce_bucket_size"] == 1e9
    assert data["bf16"]["enabled"] == "auto" and data["train_batch_size"] == "auto"
