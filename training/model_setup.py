"""Model set-up for fine-tuning: load, freeze, LoRA, gradient checkpointing, precision, loss.

The model is transformers' native ``InternVLForConditionalGeneration``, loaded by the InternVL
backend's loader (``flowparse.backends.internvl.loading``), so a checkpoint written here is what
``parse(model=...)`` loads. Module names map onto the official ``InternVLChatModel`` like this:

=====================  ==========================================  =========================
official               native                                      set-up flag
=====================  ==========================================  =========================
``vision_model``       ``model.vision_tower``                      ``freeze_backbone``
``mlp1``               ``model.multi_modal_projector``             ``freeze_mlp``
``language_model``     ``model.language_model`` + ``lm_head``      ``freeze_llm``
=====================  ==========================================  =========================

>>> llm_lora_targets("qwen2")
('q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'down_proj', 'up_proj')
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LLM_LORA_TARGETS",
    "VISION_LORA_TARGETS",
    "llm_lora_targets",
    "lora_target_pattern",
    "load_for_training",
    "freeze_parts",
    "apply_lora",
    "enable_gradient_checkpointing",
    "trainable_summary",
    "keep_trainable_in_float32",
    "compute_autocast",
    "TrainingModule",
    "token_loss_reference",
]

#: The official ``wrap_llm_lora`` target modules per LLM family, in native module names.
#: InternLM2 (InternVL2-2B/8B) arrives as Llama with ``wqkv`` split into q/k/v, ``wo`` as ``o_proj``
#: and ``w1``/``w3``/``w2`` as ``gate_proj``/``up_proj``/``down_proj``: the same weights the official
#: targets cover (rank r on each of q, k, v rather than on the fused wqkv).
LLM_LORA_TARGETS: dict[str, tuple[str, ...]] = {
    "qwen2": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "down_proj", "up_proj"),
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "down_proj", "up_proj"),
    "internlm2": ("wqkv", "wo", "w1", "w2", "w3"),
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
}

#: The official ``wrap_backbone_lora`` targets (``attn.qkv``, ``attn.proj``, ``mlp.fc1``, ``mlp.fc2``)
#: in the native vision tower, where qkv is split and ``proj`` is ``projection_layer``.
VISION_LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "projection_layer", "fc1", "fc2")

_LLM_PREFIX = r"model\.language_model\.layers\.\d+\..*"
_VISION_PREFIX = r"model\.vision_tower\.encoder\.layer\.\d+\..*"


def llm_lora_targets(model_type: str) -> tuple[str, ...]:
    """The LoRA target module names for an LLM family (``qwen2``, ``llama``, ``internlm2``, ``phi3``)."""
    try:
        return LLM_LORA_TARGETS[model_type]
    except KeyError:
        raise ValueError(
            f"no LoRA targets known for LLM type {model_type!r} (known: {', '.join(LLM_LORA_TARGETS)})"
        ) from None


def lora_target_pattern(model_type: str, *, llm: bool, vision: bool) -> str:
    """A regex (peft's ``target_modules`` as a string) matching only the wanted modules.

    Anchored to the language model's or the vision tower's layers: both have ``q_proj`` and
    ``fc``-like names, and LoRA must land only where it was asked for.

    >>> import re
    >>> pattern = lora_target_pattern("qwen2", llm=True, vision=False)
    >>> bool(re.fullmatch(pattern, "model.language_model.layers.0.self_attn.q_proj"))
    True
    >>> bool(re.fullmatch(pattern, "model.vision_tower.encoder.layer.0.attention.q_proj"))
    False
    """
    parts = []
    if llm:
        parts.append(_LLM_PREFIX + r"\.(" + "|".join(llm_lora_targets(model_type)) + ")")
    if vision:
        parts.append(_VISION_PREFIX + r"\.(" + "|".join(VISION_LORA_TARGETS) + ")")
    if not parts:
        raise ValueError("LoRA needs the language model, the vision encoder or both")
    return "^(" + "|".join(parts) + ")$"


def load_for_training(cfg, device):
    """The base checkpoint ready to set up: ``LoadedInternVL`` from the backend's loader, in train mode.

    Weights load in the compute dtype (``cfg.dtype``) to halve host memory; :func:`freeze_parts`
    then keeps the trainable ones in float32, as the official DeepSpeed bf16 set-up does with its
    float32 master weights.
    """
    from flowparse.backends.internvl.loading import load_internvl

    attn = None if cfg.attn_implementation == "auto" else cfg.attn_implementation
    loaded = load_internvl(cfg.model, device=str(device), dtype=cfg.dtype, attn_implementation=attn)
    loaded.model.train()
    loaded.model.config.use_cache = False  # no KV cache while training (and gradient checkpointing)
    return loaded


def _set_trainable(module, flag: bool) -> None:
    for param in module.parameters():
        param.requires_grad = flag


def freeze_parts(model, cfg) -> None:
    """Freeze/unfreeze the vision encoder, projector, LLM and head as the config says (official order).

    The official script puts the frozen language model in eval mode; here the whole model stays in
    train mode, which only differs where dropout is non-zero (it is 0 in InternVL2's LLMs).
    """
    inner = model.model
    _set_trainable(model, True)
    if cfg.freeze_backbone:
        _set_trainable(inner.vision_tower, False)
    if cfg.freeze_llm:
        _set_trainable(inner.language_model, False)
        _set_trainable(model.lm_head, False)
    if cfg.unfreeze_lm_head:
        _set_trainable(model.lm_head, True)
    if cfg.freeze_mlp:
        _set_trainable(inner.multi_modal_projector, False)
    if cfg.unfreeze_vit_layers:
        for layer in inner.vision_tower.encoder.layer[-cfg.unfreeze_vit_layers :]:
            _set_trainable(layer, True)


def keep_trainable_in_float32(model) -> None:
    """Trainable weights in float32 (master weights); frozen ones stay in the compute dtype.

    Adam updates of 4e-5 x a bf16 weight round to nothing; float32 keeps them. Autocast runs the
    matmuls in bf16 on CUDA either way.
    """
    import torch

    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()


def compute_autocast(device, dtype: str):
    """The mixed-precision context of a forward pass: ``dtype`` compute over float32 master weights.

    Autocast's weight cache is off. With it, the bf16 copy of every trainable weight lives until
    the forward ends, on top of the float32 gradients that gradient accumulation keeps between
    micro-batches: 2 more bytes per trainable parameter at the peak (3.8 GB for 2B full). Without
    it each layer casts its weights when it runs, and again when checkpointing recomputes it:
    a few milliseconds of bandwidth per step on a GPU, the same values.

    >>> with compute_autocast(torch.device("cuda"), "bfloat16"):  # doctest: +SKIP
    ...     loss_sum, tokens = module(**batch)
    """
    import contextlib

    import torch

    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=getattr(torch, dtype), cache_enabled=False)


def apply_lora(model, cfg):
    """``model`` wrapped by peft with LoRA (rank r, alpha 2r, dropout) on the LLM and/or vision encoder.

    peft freezes every base weight; the freeze/unfreeze flags set before are restored afterwards,
    so "LoRA on a frozen LLM, trainable projector" works as the flags say.
    """
    from peft import LoraConfig, get_peft_model

    before = {name: p.requires_grad for name, p in model.named_parameters()}
    model_type = model.config.text_config.model_type
    rank = cfg.use_llm_lora or cfg.use_backbone_lora
    vision_rank = cfg.use_backbone_lora
    patterns = {}
    if cfg.use_llm_lora and vision_rank and vision_rank != rank:
        # One adapter, two ranks: the vision layers get their own rank and alpha.
        patterns = {_VISION_PREFIX: vision_rank}
    lora = LoraConfig(
        r=rank,
        lora_alpha=cfg.lora_alpha(rank),
        lora_dropout=cfg.lora_dropout,
        target_modules=lora_target_pattern(model_type, llm=bool(cfg.use_llm_lora), vision=bool(vision_rank)),
        rank_pattern=patterns,
        alpha_pattern={k: cfg.lora_alpha(v) for k, v in patterns.items()},
        bias="none",
    )
    wrapped = get_peft_model(model, lora)
    for name, param in wrapped.named_parameters():
        if "lora_" in name:
            continue
        original = name.removeprefix("base_model.model.").replace(".base_layer.", ".")
        param.requires_grad = before.get(original, False)
    return wrapped


def enable_gradient_checkpointing(model) -> None:
    """Recompute every vision and decoder layer in the backward pass (non-reentrant).

    Non-reentrant checkpointing works with frozen inputs, so no ``enable_input_require_grads``
    hook is needed for LoRA on a frozen embedding.
    """
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # the name since transformers 5.2x; the old one warns
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


@dataclass
class TrainableSummary:
    """Parameter counts (what the log prints at start)."""

    trainable: int
    total: int
    names: list[str]

    def __str__(self) -> str:
        share = 100 * self.trainable / max(self.total, 1)
        return f"trainable parameters: {self.trainable:,} of {self.total:,} ({share:.2f}%)"


def trainable_summary(model) -> TrainableSummary:
    """How many parameters train, of how many, and which."""
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return TrainableSummary(trainable, sum(p.numel() for p in model.parameters()), names)


def _base_internvl(model):
    """The ``InternVLForConditionalGeneration`` under a peft wrapper (LoRA layers stay injected)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _make_training_module():
    import torch
    from flowparse.training.samples import IGNORE_INDEX
    from torch import nn
    from torch.utils.checkpoint import checkpoint

    class _TrainingModule(nn.Module):
        """The model plus its loss, in one ``forward`` so DDP and DeepSpeed see the whole step.

        The loss is computed only where labels are set, in chunks of ``chunk_size`` tokens, each
        chunk's ``lm_head`` + cross-entropy recomputed in the backward pass: the full
        (sequence x vocabulary) logits, 2.5 GB in float32 for 4096 tokens of a 151k vocabulary,
        are never built. Returns the summed token loss and the token count.
        """

        def __init__(self, model, chunk_size: int = 1024):
            super().__init__()
            self.model = model
            self.chunk_size = chunk_size

        def forward(self, input_ids, attention_mask, labels, pixel_values=None):
            base = _base_internvl(self.model)
            hidden = base.model(
                input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values, use_cache=False
            ).last_hidden_state
            targets = labels[:, 1:]
            mask = targets != IGNORE_INDEX
            picked, wanted = hidden[:, :-1][mask], targets[mask]
            total = hidden.new_zeros((), dtype=torch.float32)
            for start in range(0, wanted.numel(), self.chunk_size):
                end = start + self.chunk_size
                total = total + checkpoint(
                    _chunk_loss, base.lm_head, picked[start:end], wanted[start:end], use_reentrant=False
                )
            return total, wanted.numel()

    def _chunk_loss(head, hidden, targets):
        logits = head(hidden).float()
        return torch.nn.functional.cross_entropy(logits, targets, reduction="sum")

    return _TrainingModule


def TrainingModule(model, chunk_size: int = 1024):  # noqa: N802 - builds a torch module lazily
    """The model with its chunked loss as one ``nn.Module`` (built lazily to keep torch out of import).

    >>> module = TrainingModule(model)          # doctest: +SKIP
    >>> loss_sum, tokens = module(**batch)      # doctest: +SKIP
    """
    return _make_training_module()(model, chunk_size)


def token_loss_reference(model, batch) -> float:
    """The mean token loss computed the plain way (full logits); tests compare the chunked loss to it."""
    import torch
    from flowparse.training.samples import IGNORE_INDEX

    base = _base_internvl(model)
    out = base(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], pixel_values=batch.get("pixel_values")
    )
    logits = out.logits[:, :-1].float()
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
    )
    return float(loss.detach())
