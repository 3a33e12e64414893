"""The one training configuration: every recipe YAML under ``training/configs/`` is an instance.

Fields carry their documentation as the string right below them (torchtune / litgpt habit);
``docs/training.md`` explains them together, and the YAML files say why each value was chosen.

>>> cfg = TrainConfig(model="tiny", meta_path="meta.json", output_dir="out", recipe="full")
>>> cfg.gradient_accumulation_steps(world_size=1)
32
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, fields

from flowparse.errors import FormatError

__all__ = ["TrainConfig", "ConfigError", "load_config", "apply_overrides", "config_to_dict"]

RECIPES = ("full", "lora")
DEEPSPEED_STAGES = ("zero1", "zero2", "zero3")
DTYPES = ("bfloat16", "float16", "float32")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
OPTIMIZERS = ("adamw_torch", "adamw_8bit")


class ConfigError(FormatError):
    """A training config (YAML or ``key=value`` override) is not usable; the message names the key."""


@dataclass
class TrainConfig:
    """What ``flowparse train`` needs. Defaults are the official InternVL2 second-stage settings
    for a full fine-tune (``internvl_chat/shell/internvl2.0/2nd_finetune/*_full.sh``).

    >>> TrainConfig(recipe="lora", use_llm_lora=16).lora_alpha(16)
    32
    """

    # --------------------------------------------------------------------------------- what
    recipe: str = "full"
    """``full`` (every unfrozen weight trains) or ``lora`` (only LoRA adapters and unfrozen parts)."""
    model: str = ""
    """The base checkpoint: a native InternVL folder (``flowparse model import`` writes one) or hub id."""
    meta_path: str = ""
    """InternVL meta JSON ``{name: {root, annotation, data_augment, repeat_time, length}}``."""
    output_dir: str = ""
    """Where checkpoints, the loss curve and metrics go; an unfinished run there is resumed."""
    task: str | None = None
    """What ``parse(model=checkpoint)`` asks the trained model: ``graph`` or ``detection`` (null: the base's)."""

    # --------------------------------------------------------------------------------- data
    max_seq_length: int = 4096
    """Tokens per sample; longer samples are cut, samples whose image tokens would be cut are dropped."""
    min_dynamic_patch: int = 1
    """Fewest 448 px tiles per image."""
    max_dynamic_patch: int = 6
    """Most 448 px tiles per image (the thumbnail comes on top)."""
    use_thumbnail: bool = True
    """Add a whole-image thumbnail tile when an image is cut into more than one tile."""
    on_bad_line: str = "error"
    """``error``: stop before training and list every bad annotation line; ``skip``: report and leave them out."""
    group_by_length: bool = True
    """Batch samples of similar length together (less padding), as the official script does."""
    dataloader_num_workers: int = 4
    """Worker processes that load images and tokenise; 0 loads in the training process."""

    # --------------------------------------------------------------------------- model set-up
    freeze_backbone: bool = True
    """Freeze the vision encoder (InternViT)."""
    freeze_mlp: bool = False
    """Freeze the projector between vision encoder and language model (``mlp1``)."""
    freeze_llm: bool = False
    """Freeze the language model (LoRA adapters on it still train)."""
    unfreeze_vit_layers: int = 0
    """Unfreeze the last N vision layers even when the vision encoder is frozen."""
    unfreeze_lm_head: bool = False
    """Train the output head even when the language model is frozen."""
    use_llm_lora: int = 0
    """LoRA rank on the language model (0: none). Alpha is twice the rank, as in the official script."""
    use_backbone_lora: int = 0
    """LoRA rank on the vision encoder (0: none)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA branch."""
    grad_checkpoint: bool = True
    """Recompute activations in the backward pass instead of storing them."""
    dtype: str = "bfloat16"
    """Compute dtype: ``bfloat16`` on GPUs; ``float32`` on CPU. Trainable weights are kept in float32."""
    attn_implementation: str = "auto"
    """``auto``: ``flash_attention_2`` when flash-attn is installed and on CUDA, else ``sdpa``."""
    loss_chunk_size: int = 1024
    """Answer tokens per chunk of the output projection + cross-entropy (bounds logits memory)."""

    # -------------------------------------------------------------------------- optimisation
    num_train_epochs: float = 1.0
    """Passes over the (repeat-weighted) data."""
    max_steps: int = -1
    """Optimizer steps to run; -1: as many as ``num_train_epochs`` gives."""
    global_batch_size: int = 128
    """Samples per optimizer step over all devices (per-device batch x devices x accumulation)."""
    per_device_train_batch_size: int = 4
    """Samples per device per forward pass."""
    learning_rate: float = 4e-5
    """Peak learning rate."""
    weight_decay: float = 0.01
    """AdamW weight decay (not applied to biases and norms)."""
    warmup_ratio: float = 0.03
    """Fraction of the steps with a linear warm-up."""
    lr_scheduler_type: str = "cosine"
    """``cosine``, ``linear``, ``constant`` or ``constant_with_warmup``."""
    optim: str = "adamw_torch"
    """``adamw_torch`` (official: torch AdamW, fused on CUDA; 16 bytes per trainable parameter with
    weight, gradient and both moments in float32) or ``adamw_8bit`` (bitsandbytes ``AdamW8bit``:
    block-wise 8-bit moments, float32 weights kept; about 10 bytes per trainable parameter, for full
    fine-tuning of 2B and larger on one GPU). Names as the transformers Trainer's ``optim``."""
    adam_beta1: float = 0.9
    """AdamW beta1 (``zero_stage1_config.json``)."""
    adam_beta2: float = 0.999
    """AdamW beta2 (``zero_stage1_config.json``)."""
    adam_epsilon: float = 1e-8
    """AdamW epsilon (``zero_stage1_config.json``)."""
    max_grad_norm: float = 1.0
    """Gradient clipping (the trainer's default that DeepSpeed's ``auto`` takes)."""
    seed: int = 42
    """Seed for weight init of adapters, data order, augmentation and dropout."""

    # ------------------------------------------------------------------------ distributed
    deepspeed: str | None = "zero1"
    """``zero1`` (official default), ``zero2``, ``zero3``, a path to a DeepSpeed JSON, or null for plain
    PyTorch (DDP under torchrun). Used only on CUDA with deepspeed installed."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cuda`` or ``cpu``."""

    # ------------------------------------------------------------------- checkpoints / logs
    save_steps: int = 200
    """Save a checkpoint every N optimizer steps (and at the end)."""
    save_total_limit: int = 1
    """Checkpoints kept; older ones are deleted once a newer one is complete."""
    logging_steps: int = 1
    """Write a line to ``metrics.jsonl`` every N optimizer steps."""
    resume: bool = True
    """Continue from the last complete checkpoint in ``output_dir`` when there is one."""
    progress_bar: bool = True
    """Show a progress bar (plain log lines are written either way)."""

    # --------------------------------------------------------------------------- evaluation
    eval_images: str | None = None
    """Folder of held-out chart images to parse with the final checkpoint (optional)."""
    eval_truth: str | None = None
    """Folder of their ground-truth graph JSON files (same stems), scored by ``flowparse eval``."""

    # ---------------------------------------------------------------------------- helpers
    def lora_alpha(self, rank: int) -> int:
        """LoRA alpha for ``rank``: twice the rank (official ``wrap_llm_lora(r, 2 * r)``)."""
        return 2 * rank

    def gradient_accumulation_steps(self, world_size: int) -> int:
        """Micro-batches per optimizer step on each device: global / (per-device x devices).

        >>> TrainConfig(global_batch_size=16, per_device_train_batch_size=4).gradient_accumulation_steps(2)
        2
        """
        per_step = self.per_device_train_batch_size * world_size
        if self.global_batch_size % per_step:
            raise ConfigError(
                f"global_batch_size {self.global_batch_size} is not a multiple of "
                f"per_device_train_batch_size {self.per_device_train_batch_size} x {world_size} device(s)"
            )
        return self.global_batch_size // per_step

    def validate(self) -> TrainConfig:
        """Check values that YAML types cannot; return self or raise :class:`ConfigError`."""
        _choice("recipe", self.recipe, RECIPES)
        _choice("dtype", self.dtype, DTYPES)
        _choice("lr_scheduler_type", self.lr_scheduler_type, SCHEDULERS)
        _choice("optim", self.optim, OPTIMIZERS)
        _choice("on_bad_line", self.on_bad_line, ("error", "skip"))
        _choice("device", self.device, ("auto", "cuda", "cpu"))
        if self.task is not None:
            _choice("task", self.task, ("graph", "detection"))
        if self.recipe == "lora" and not (self.use_llm_lora or self.use_backbone_lora):
            raise ConfigError("recipe lora needs use_llm_lora or use_backbone_lora > 0")
        if self.recipe == "full" and (self.use_llm_lora or self.use_backbone_lora):
            raise ConfigError(
                "recipe full trains no adapters: set use_llm_lora/use_backbone_lora to 0 or use recipe lora"
            )
        if (
            self.deepspeed is not None
            and self.deepspeed not in DEEPSPEED_STAGES
            and not str(self.deepspeed).endswith(".json")
        ):
            raise ConfigError(
                f"deepspeed: expected one of {', '.join(DEEPSPEED_STAGES)}, a .json path or null, "
                f"got {self.deepspeed!r}"
            )
        for name in (
            "max_seq_length",
            "per_device_train_batch_size",
            "global_batch_size",
            "save_steps",
            "logging_steps",
            "max_dynamic_patch",
            "min_dynamic_patch",
            "loss_chunk_size",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.min_dynamic_patch > self.max_dynamic_patch:
            raise ConfigError("min_dynamic_patch is larger than max_dynamic_patch")
        if not 0 <= self.warmup_ratio < 1 or not 0 <= self.lora_dropout < 1:
            raise ConfigError("warmup_ratio and lora_dropout must lie in [0, 1)")
        if (self.eval_images is None) != (self.eval_truth is None):
            raise ConfigError("eval_images and eval_truth go together")
        return self


def _choice(key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: expected one of {', '.join(allowed)}, got {value!r}")


def _coerce(key: str, value: object, annotation: object) -> object:
    """``value`` checked against the field type (YAML gives ints where floats are meant)."""
    hints = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    if value is None:
        if type(None) in hints:
            return None
        raise ConfigError(f"{key}: null is not allowed")
    for hint in hints:
        if hint is bool and isinstance(value, bool):
            return value
        if hint is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if hint in (int, float) and isinstance(value, str):
            # YAML 1.1 reads "4e-5" (no dot) as a string; a number is what anyone typing it means.
            try:
                return hint(value)
            except ValueError:
                pass
        if hint is str and isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
    names = " or ".join(getattr(h, "__name__", str(h)) for h in hints)
    raise ConfigError(f"{key}: expected {names}, got {value!r}")


def _field_types() -> dict[str, object]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in fields(TrainConfig)}


def config_from_dict(data: dict, *, source: str | os.PathLike | None = None) -> TrainConfig:
    """A validated :class:`TrainConfig` from a mapping; unknown keys are an error.

    >>> config_from_dict({"recipe": "lora", "use_llm_lora": 16}).learning_rate
    4e-05
    """
    if not isinstance(data, dict):
        raise ConfigError("a training config must be a mapping of keys to values", source=source)
    types_ = _field_types()
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise ConfigError(f"unknown key(s): {', '.join(map(str, unknown))}", source=source)
    try:
        values = {key: _coerce(key, value, types_[key]) for key, value in data.items()}
        return TrainConfig(**values).validate()
    except ConfigError as e:
        raise e.with_source(source) if source is not None else e from None


def apply_overrides(cfg: TrainConfig, overrides: list[str] | tuple[str, ...]) -> TrainConfig:
    """``cfg`` with ``key=value`` overrides (values read as YAML scalars: ``lr=1e-4``, ``x=null``).

    >>> apply_overrides(TrainConfig(), ["max_steps=10", "deepspeed=null"]).deepspeed is None
    True
    """
    import yaml

    data = config_to_dict(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        data[key.strip()] = value
    return config_from_dict(data, source="overrides")


def load_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """The :class:`TrainConfig` of a YAML file, with ``key=value`` overrides applied.

    >>> load_config("training/configs/internvl2_2b_lora.yaml").use_llm_lora  # doctest: +SKIP
    16
    """
    import yaml

    from flowparse.files import read_text

    text = read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"not YAML: {e}", source=path) from None
    cfg = config_from_dict(data or {}, source=path)
    return apply_overrides(cfg, overrides) if overrides else cfg


def config_to_dict(cfg: TrainConfig) -> dict:
    """The config as a plain dict (what ``training_config.yaml`` in each checkpoint holds)."""
    return dataclasses.asdict(cfg)
