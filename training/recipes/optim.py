"""AdamW and the learning-rate schedule, as the transformers Trainer builds them for the official run.

>>> warmup_steps(total_steps=1000, warmup_ratio=0.03)
30
"""

from __future__ import annotations

import math

__all__ = ["warmup_steps", "build_optimizer", "build_scheduler"]


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """Warm-up steps: ``ceil(total x ratio)``, the Trainer's rule."""
    return math.ceil(total_steps * warmup_ratio)


def build_optimizer(model, cfg, device):
    """AdamW over the trainable parameters; no weight decay on biases, norms and layer scales.

    The Trainer leaves LayerNorm weights and biases out of weight decay; every such tensor is
    one-dimensional, so the rule here is "decay matrices only". Fused AdamW on CUDA (one kernel
    for all tensors, from PyTorch itself).
    """
    import torch

    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("no trainable parameters: every part of the model is frozen")
    fused = getattr(device, "type", "cpu") == "cuda"
    return torch.optim.AdamW(
        groups, lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_epsilon, fused=fused or None
    )


def build_scheduler(optimizer, cfg, total_steps: int):
    """transformers' scheduler of ``cfg.lr_scheduler_type`` with the Trainer's warm-up rule."""
    from transformers import get_scheduler

    return get_scheduler(
        cfg.lr_scheduler_type,
        optimizer,
        num_warmup_steps=warmup_steps(total_steps, cfg.warmup_ratio),
        num_training_steps=max(total_steps, 1),
    )
