"""AdamW and the learning-rate schedule, as the transformers Trainer builds them for the official run,
plus the memory-lean 8-bit AdamW (``optim: adamw_8bit``) and a count of what training state costs.

>>> warmup_steps(total_steps=1000, warmup_ratio=0.03)
30
"""

from __future__ import annotations

import math

__all__ = ["warmup_steps", "build_optimizer", "build_scheduler", "training_state_bytes"]


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """Warm-up steps: ``ceil(total x ratio)``, the Trainer's rule."""
    return math.ceil(total_steps * warmup_ratio)


def build_optimizer(model, cfg, device):
    """``cfg.optim`` over the trainable parameters; no weight decay on biases, norms and layer scales.

    The Trainer leaves LayerNorm weights and biases out of weight decay; every such tensor is
    one-dimensional, so the rule here is "decay matrices only". ``adamw_torch``: PyTorch's AdamW,
    fused on CUDA (one kernel for all tensors). ``adamw_8bit``: bitsandbytes' AdamW8bit with the
    same groups, betas, eps and learning rate; its moments are 8-bit per block of 256 values
    (tensors under 4096 values keep 32-bit moments, bitsandbytes' ``min_8bit_size``).

    >>> build_optimizer(model, TrainConfig(optim="adamw_8bit"), torch.device("cuda"))  # doctest: +SKIP
    AdamW8bit (...)
    """
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("no trainable parameters: every part of the model is frozen")
    betas = (cfg.adam_beta1, cfg.adam_beta2)
    if cfg.optim == "adamw_8bit":
        return _import_bitsandbytes().optim.AdamW8bit(groups, lr=cfg.learning_rate, betas=betas, eps=cfg.adam_epsilon)
    import torch

    fused = getattr(device, "type", "cpu") == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=betas, eps=cfg.adam_epsilon, fused=fused or None)


def _import_bitsandbytes():
    try:
        import bitsandbytes
    except ImportError:
        from flowparse.training.config import ConfigError

        raise ConfigError(
            "optim: adamw_8bit needs bitsandbytes: pip install -e '.[train]' (or set optim: adamw_torch)"
        ) from None
    return bitsandbytes


def training_state_bytes(model, optimizer) -> dict:
    """Bytes held by the trainable weights, their gradients and the optimizer state.

    Each storage is counted once (bitsandbytes shares one quantisation map between all tensors;
    views of one buffer are one buffer). Frozen weights and activations are not counted: this is
    the part of training memory that the optimizer choice changes. After one step of AdamW on
    float32 weights: 4 + 4 + 8 bytes per trainable parameter.

    >>> state = training_state_bytes(model, optimizer)  # doctest: +SKIP
    >>> state["optimizer"] / state["trainable_params"]  # doctest: +SKIP
    8.0
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    seen: set[tuple[str, int]] = set()

    def total(tensors) -> int:
        size = 0
        for t in tensors:
            key = (str(t.device), t.untyped_storage().data_ptr())
            if key not in seen:
                seen.add(key)
                size += t.untyped_storage().nbytes()
        return size

    states = [v for s in optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    weights, grads, moments = total(params), total(p.grad for p in params if p.grad is not None), total(states)
    return {
        "trainable_params": sum(p.numel() for p in params),
        "weights": weights,
        "grads": grads,
        "optimizer": moments,
        "total": weights + grads + moments,
    }


def build_scheduler(optimizer, cfg, total_steps: int):
    """transformers' scheduler of ``cfg.lr_scheduler_type`` with the Trainer's warm-up rule."""
    from transformers import get_scheduler

    return get_scheduler(
        cfg.lr_scheduler_type,
        optimizer,
        num_warmup_steps=warmup_steps(total_steps, cfg.warmup_ratio),
        num_training_steps=max(total_steps, 1),
    )
