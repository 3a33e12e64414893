"""Training throughput and memory: time per step, tokens/s, MFU and peak GPU memory.

Random weights in the exact InternVL2-1B and -2B architectures (the InternVL benchmark's
``build_random_model``: InternViT-300M-448px + Qwen2-0.5B, or + InternLM2-1.8B as Llama), the
official set-up of each recipe (full: ViT frozen, projector and LLM trained; LoRA: rank 16 on the
LLM, everything else frozen), bf16 compute with float32 trainable weights, gradient checkpointing,
the recipe's answer-only chunked loss and fused AdamW: the same functions the recipes call
(``flowparse.training.model_setup``, ``recipes.optim``). Each sample is one image at the official
maximum (6 tiles + thumbnail = 1792 image tokens) plus ``--text-tokens`` of prompt and answer,
``--answer-tokens`` of which carry labels.

    python benchmarks/bench_train.py --size 1b --recipe lora full --batch 1 4   # on a GPU
    python benchmarks/bench_train.py --size 2b --recipe lora full --batch 1 4
    python benchmarks/bench_train.py --size tiny --device cpu --recipe lora full --batch 1 --steps 2  # smoke test

MFU counts model FLOPs per step: LLM 6 x params x tokens for a trained LLM, 4 x for a frozen one
with LoRA (activation gradients, no weight gradients), plus 2 x ViT params x patches (frozen ViT:
forward only), over the GPU's dense bf16 peak (``--peak-tflops``, H100 SXM: 989).
Official reference (InternVL docs): about 27 GB per GPU for 2B LoRA and 30 GB for 2B full at batch 1.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_internvl import build_random_model  # noqa: E402  (the InternVL benchmark's architectures)
from flowparse.training.config import TrainConfig  # noqa: E402
from flowparse.training.model_setup import (  # noqa: E402
    TrainingModule,
    apply_lora,
    enable_gradient_checkpointing,
    freeze_parts,
    keep_trainable_in_float32,
)
from flowparse.training.recipes.optim import build_optimizer  # noqa: E402

from flowparse.backends.internvl.loading import pick_attention, pick_device  # noqa: E402

RECIPES = {
    "full": dict(recipe="full"),
    "lora": dict(recipe="lora", use_llm_lora=16, freeze_llm=True, freeze_mlp=True),
}


def synthetic_batch(loaded, batch: int, text_tokens: int, answer_tokens: int, tiles: int, device) -> dict:
    """``batch`` samples of one image (``tiles`` tiles) and ``text_tokens`` of text.

    Labels sit on the last ``answer_tokens`` of each sample.
    """
    tok = loaded.tokenizer
    image = (
        [tok.convert_tokens_to_ids("<img>")]
        + [loaded.model.config.image_token_id] * (tiles * loaded.tiling.tokens_per_tile)
        + [tok.convert_tokens_to_ids("</img>")]
    )
    vocab = loaded.model.config.text_config.vocab_size
    rows = []
    for k in range(batch):
        g = torch.Generator().manual_seed(k)
        text = torch.randint(10, min(vocab, 500), (text_tokens,), generator=g).tolist()
        rows.append(text[:20] + image + text[20:])
    ids = torch.tensor(rows, device=device)
    labels = torch.full_like(ids, -100)
    labels[:, -answer_tokens:] = ids[:, -answer_tokens:]
    pixels = torch.randn(batch * tiles, 3, 448, 448, device=device, dtype=loaded.dtype)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels, "pixel_values": pixels}


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def model_flops(model, recipe: str, tokens: int, patches: int) -> float:
    """FLOPs of one step by the rule in the module docstring."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    llm = _params(base.model.language_model) + _params(base.lm_head)
    vit = _params(base.model.vision_tower) + _params(base.model.multi_modal_projector)
    return (6 if recipe == "full" else 4) * llm * tokens + 2 * vit * patches


def run(size: str, recipe: str, batch: int, args, device) -> dict:
    """Set up one model, run warm-up and measured steps, return the row."""
    attn = pick_attention(args.attn, device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    loaded = build_random_model(size, device, dtype, attn)
    cfg = TrainConfig(**RECIPES[recipe], dtype="bfloat16" if device.type == "cuda" else "float32")
    model = loaded.model.train()
    model.config.use_cache = False
    freeze_parts(model, cfg)
    enable_gradient_checkpointing(model)
    if recipe == "lora":
        model = apply_lora(model, cfg)
    keep_trainable_in_float32(model)
    module = TrainingModule(model, cfg.loss_chunk_size)
    optimizer = build_optimizer(model, cfg, device)
    data = synthetic_batch(loaded, batch, args.text_tokens, args.answer_tokens, args.tiles, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step():
        with autocast:
            total, count = module(**data)
        (total / count).backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / args.steps
    tokens = data["input_ids"].numel()
    patches = data["pixel_values"].shape[0] * (448 // 14) ** 2
    flops = model_flops(model, recipe, tokens, patches)
    row = {
        "size": size,
        "recipe": recipe,
        "batch": batch,
        "seq_len": data["input_ids"].shape[1],
        "s_per_step": round(seconds, 4),
        "tokens_per_s": round(tokens / seconds, 1),
        "mfu": round(flops / seconds / (args.peak_tflops * 1e12), 4),
        "peak_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    return row  # the model goes with this frame; main() empties the CUDA cache between runs


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", nargs="+", default=["1b"], choices=["1b", "2b", "tiny"])
    parser.add_argument("--recipe", nargs="+", default=["lora", "full"], choices=sorted(RECIPES))
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4], help="per-device batch sizes")
    parser.add_argument("--tiles", type=int, default=7, help="tiles per image (6 + thumbnail: the official maximum)")
    parser.add_argument("--text-tokens", type=int, default=400, help="prompt + answer tokens per sample")
    parser.add_argument("--answer-tokens", type=int, default=300, help="labelled tokens per sample")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default=None)
    parser.add_argument("--attn", default=None, help="default: flash_attention_2 if installed, else sdpa")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100 SXM: 989)")
    args = parser.parse_args()

    device = pick_device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"# InternVL training step, {gpu}, {pick_attention(args.attn, device)}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}")  # fmt: skip
    rows = []
    for size in args.size:
        for recipe in args.recipe:
            for batch in args.batch:
                try:
                    rows.append(run(size, recipe, batch, args, device))
                except torch.OutOfMemoryError:
                    rows.append({"size": size, "recipe": recipe, "batch": batch, "error": "out of memory"})
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    print("| size | recipe | batch | seq len | s/step | tokens/s | MFU | peak GiB |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['size']} | {r['recipe']} | {r['batch']} | | | | | {r['error']} |")
        else:
            print(f"| {r['size']} | {r['recipe']} | {r['batch']} | {r['seq_len']} | {r['s_per_step']:.3f} | "
                  f"{r['tokens_per_s']:.0f} | {100 * r['mfu']:.1f}% | {r['peak_gib']} |")  # fmt: skip
    print(json.dumps({"device": gpu, "rows": rows}))


if __name__ == "__main__":
    main()
