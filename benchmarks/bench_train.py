"""Training throughput and memory: time per step, tokens/s, MFU, peak GPU memory, training state.

Random weights in the exact InternVL2-1B and -2B architectures (the InternVL benchmark's
``build_random_model``: InternViT-300M-448px + Qwen2-0.5B, or + InternLM2-1.8B as Llama), the
official set-up of each recipe (full: ViT frozen, projector and LLM trained; LoRA: rank 16 on the
LLM, everything else frozen), bf16 compute with float32 trainable weights, gradient checkpointing,
the recipe's answer-only chunked loss and the optimizer of ``--optim`` (``adamw_torch``: fused
AdamW, the official set-up; ``adamw_8bit``: bitsandbytes' 8-bit AdamW): the same functions the
recipes call (``flowparse.training.model_setup``, ``recipes.optim``). Each sample is one image at the official
maximum (6 tiles + thumbnail = 1792 image tokens) plus ``--text-tokens`` of prompt and answer,
``--answer-tokens`` of which carry labels.

    python benchmarks/bench_train.py --size 1b --recipe lora full --batch 1 4   # on a GPU
    python benchmarks/bench_train.py --size 2b --recipe lora full --batch 1 4
    python benchmarks/bench_train.py --size 2b --recipe full --optim adamw_torch adamw_8bit --batch 1 4
    python benchmarks/bench_train.py --size tiny --device cpu --recipe lora full --batch 1 --steps 2  # smoke test

A step is one optimizer step over ``--accumulate`` micro-batches of ``--batch`` samples (default 2):
the official global batch of 128 means accumulation on one GPU, and the peak memory of training
is a forward pass while the previous micro-batches' float32 gradients are held. Autocast runs
without its weight cache (``model_setup.compute_autocast``), as the recipes do.

MFU counts model FLOPs per step: LLM 6 x params x tokens for a trained LLM, 4 x for a frozen one
with LoRA (activation gradients, no weight gradients), plus 2 x ViT params x patches (frozen ViT:
forward only), over the GPU's dense bf16 peak (``--peak-tflops``, H100 SXM: 989).
Official reference (InternVL docs): about 27 GB per GPU for 2B LoRA and 30 GB for 2B full at batch 1.

"state GiB" is ``recipes.optim.training_state_bytes`` taken right after the first optimizer step
(gradients still held; outside the timed steps when there is a warm-up): trainable weights +
gradients + optimizer state, each storage once. It is exact on any device, so the CPU path can
measure it for the real architectures ("B/param" is it per trainable parameter). "peak GiB" is
the GPU's peak allocation; on CPU it is the process's peak resident set, comparable between runs
only one run per process (``--autocast-cache`` with ``--dtype bfloat16`` on CPU, for instance).
``--count`` runs nothing: it builds each size on the meta device (no memory), applies the recipe's
set-up and prints the trainable parameters and the training state each optimizer would hold, by
arithmetic (see ``state_by_arithmetic``).

    python benchmarks/bench_train.py --count --size 1b 2b --recipe full lora
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_internvl import build_random_model  # noqa: E402  (the InternVL benchmark's architectures)
from flowparse.training.config import OPTIMIZERS, TrainConfig  # noqa: E402
from flowparse.training.model_setup import (  # noqa: E402
    TrainingModule,
    apply_lora,
    compute_autocast,
    enable_gradient_checkpointing,
    freeze_parts,
    keep_trainable_in_float32,
)
from flowparse.training.recipes.optim import build_optimizer, training_state_bytes  # noqa: E402

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


def run(size: str, recipe: str, optim: str, batch: int, args, device) -> dict:
    """Set up one model, run warm-up and measured steps, return the row."""
    attn = pick_attention(args.attn, device)
    dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    loaded = build_random_model(size, device, getattr(torch, dtype), attn)
    cfg = TrainConfig(**RECIPES[recipe], optim=optim, dtype=dtype)
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
    state = {}

    def autocast():  # --autocast-cache: torch's default, for comparison with the recipes' setting
        if args.autocast_cache and dtype != "float32":
            return torch.autocast(device.type, dtype=getattr(torch, dtype), cache_enabled=True)
        return compute_autocast(device, dtype)

    def step():  # one optimizer step over --accumulate micro-batches, gradients held in between
        for _ in range(args.accumulate):
            with autocast():
                total, count = module(**data)
            (total / count / args.accumulate).backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        if not state:  # first step (a warm-up one unless --warmup 0): sizes are fixed from then on
            state.update(training_state_bytes(model, optimizer))  # before zero_grad: gradients count
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
    tokens = data["input_ids"].numel() * args.accumulate
    patches = data["pixel_values"].shape[0] * (448 // 14) ** 2 * args.accumulate
    flops = model_flops(model, recipe, tokens, patches)
    row = {
        "size": size,
        "recipe": recipe,
        "optim": optim,
        "batch": batch,
        "accumulate": args.accumulate,
        "seq_len": data["input_ids"].shape[1],
        "s_per_step": round(seconds, 4),
        "tokens_per_s": round(tokens / seconds, 1),
        "mfu": round(flops / seconds / (args.peak_tflops * 1e12), 4),
        "peak_gib": round(_peak_bytes(device) / 2**30, 2),
        "state_gib": round(state["total"] / 2**30, 2),
        "state_bytes_per_param": round(state["total"] / state["trainable_params"], 3),
        "state_bytes": {k: state[k] for k in ("weights", "grads", "optimizer")},
        "trainable": state["trainable_params"],
    }
    return row  # the model goes with this frame; main() empties the CUDA cache between runs


def _peak_bytes(device) -> int:
    """Peak allocated GPU memory since the reset; on CPU the process's peak resident set (one run
    per process to compare runs: it never goes down)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def state_by_arithmetic(model) -> dict:
    """Training-state bytes per optimizer from the trainable tensors' sizes, without a step.

    float32 weight + gradient (8 bytes) plus the moments: two float32 (8) for ``adamw_torch``;
    for ``adamw_8bit`` two uint8 (2) and a float32 maximum per block of 256 for each moment,
    two float32 for tensors under bitsandbytes' ``min_8bit_size`` (4096 values).
    """
    sizes = [p.numel() for p in model.parameters() if p.requires_grad]
    lean = sum(2 * n + 8 * -(-n // 256) if n >= 4096 else 8 * n for n in sizes)
    return {"trainable": sum(sizes), "adamw_torch": 16 * sum(sizes), "adamw_8bit": 8 * sum(sizes) + lean}


def count(size: str, recipe: str) -> dict:
    """``state_by_arithmetic`` for one size and recipe, the model built on the meta device."""
    loaded = build_random_model(size, torch.device("meta"), torch.float32, "sdpa")
    cfg = TrainConfig(**RECIPES[recipe])
    freeze_parts(loaded.model, cfg)
    model = apply_lora(loaded.model, cfg) if recipe == "lora" else loaded.model
    return {"size": size, "recipe": recipe, **state_by_arithmetic(model)}


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", nargs="+", default=["1b"], choices=["1b", "2b", "tiny"])
    parser.add_argument("--recipe", nargs="+", default=["lora", "full"], choices=sorted(RECIPES))
    parser.add_argument(
        "--optim", nargs="+", default=["adamw_torch"], choices=list(OPTIMIZERS), help="TrainConfig.optim values"
    )
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4], help="per-device batch sizes")
    parser.add_argument("--tiles", type=int, default=7, help="tiles per image (6 + thumbnail: the official maximum)")
    parser.add_argument("--text-tokens", type=int, default=400, help="prompt + answer tokens per sample")
    parser.add_argument("--answer-tokens", type=int, default=300, help="labelled tokens per sample")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument(
        "--accumulate", type=int, default=2, help="micro-batches per optimizer step (training accumulates to 128)"
    )
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], help="default: bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--autocast-cache", action="store_true", help="keep autocast's weight cache (torch's default)")
    parser.add_argument("--attn", default=None, help="default: flash_attention_2 if installed, else sdpa")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100 SXM: 989)")
    parser.add_argument("--count", action="store_true", help="no step: training state by arithmetic (meta device)")
    args = parser.parse_args()
    if args.count:
        print("| size | recipe | trainable | adamw_torch GiB | adamw_8bit GiB |  (arithmetic, not measured)")
        print("|---|---|---|---|---|")
        for size, recipe in itertools.product(args.size, args.recipe):
            r = count(size, recipe)
            print(f"| {size} | {recipe} | {r['trainable']:,} | {r['adamw_torch'] / 2**30:.2f} | "
                  f"{r['adamw_8bit'] / 2**30:.2f} |")  # fmt: skip
            print(json.dumps(r))
        return

    device = pick_device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"# InternVL training step, {gpu}, {pick_attention(args.attn, device)}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}")  # fmt: skip
    rows = []
    for size, recipe, optim, batch in itertools.product(args.size, args.recipe, args.optim, args.batch):
        try:
            rows.append(run(size, recipe, optim, batch, args, device))
        except torch.OutOfMemoryError:
            rows.append({"size": size, "recipe": recipe, "optim": optim, "batch": batch, "error": "out of memory"})
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print("| size | recipe | optim | batch | seq len | s/step | tokens/s | MFU | peak GiB | state GiB | B/param |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        head = f"| {r['size']} | {r['recipe']} | {r['optim']} | {r['batch']} |"
        if "error" in r:
            print(f"{head} | | | | {r['error']} | | |")
        else:
            print(f"{head} {r['seq_len']} | {r['s_per_step']:.3f} | {r['tokens_per_s']:.0f} | {100 * r['mfu']:.1f}% | "
                  f"{r['peak_gib']} | {r['state_gib']} | {r['state_bytes_per_param']} |")  # fmt: skip
    print(json.dumps({"device": gpu, "rows": rows}))


if __name__ == "__main__":
    main()
