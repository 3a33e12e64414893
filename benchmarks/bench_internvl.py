"""InternVL throughput: one image at a time with plain ``generate`` vs flowparse's batched path.

Random weights in the exact InternVL2 architectures (InternViT-300M-448px with Qwen2-0.5B for the
1B size, with InternLM2-1.8B as Llama for the 2B size), bf16, a fixed number of generated tokens
per image (300 by default), 1280 x 960 charts (a 3 x 2 grid: 6 tiles plus the thumbnail).
Reports images/s and peak GPU memory for (a) one image at a time with plain ``generate`` and
(b) ``InternVLBackend.parse_many`` at batch sizes 1 to 64, with each ``--cache`` kind: ``dynamic``
(eager decoding) and ``static`` (transformers compiles the decoding step with CUDA graphs). Each
batched row is measured after one warm-up batch of its size; the warm-up's seconds are reported too,
since for ``static`` they hold the compile time a pipeline pays once per batch size.

    python benchmarks/bench_internvl.py --size 1b            # on a GPU: the figures for docs/benchmarks.md
    python benchmarks/bench_internvl.py --size 2b
    python benchmarks/bench_internvl.py --size tiny --device cpu --batches 1 --tokens 8 --batch-sizes 1 4  # smoke test

Each batch size is timed over ``--batches`` whole batches (after its warm-up batch), so small
batch sizes do not take the run past a 10-minute slot: at 300 tokens an eager decoding step of the
1B model costs tens of milliseconds, about 8 s per batch whatever its size.

Targets on one H100: batched >= 10x one-at-a-time, >= 20 images/s for the 1B size.

No real tokenizer can be downloaded here, so prompts use the tiny offline one (the model keeps the
real vocabulary size, so the LM head costs what it should). Random ids beyond the tiny vocabulary
decode to nothing, which makes text decoding a little cheaper than with a real model.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from functools import partial

import torch
from PIL import Image, ImageDraw

from flowparse.backends.internvl.backend import InternVLBackend
from flowparse.backends.internvl.loading import LoadedInternVL, pick_attention, pick_device, pick_dtype
from flowparse.backends.internvl.preprocessing import (
    IMAGE_PLACEHOLDER,
    TilingConfig,
    expand_image_tokens,
    preprocess_image,
)
from flowparse.backends.internvl.templates import template_for_llm
from flowparse.backends.internvl.tiny import build_tiny_tokenizer
from flowparse.grounding import prompt_for

# InternViT-300M-448px (OpenGVLab/InternViT-300M-448px config.json).
VIT_300M = dict(
    hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096, attention_bias=True
)
# Qwen2-0.5B-Instruct, InternVL2-1B's language model (vocabulary as extended by InternVL). The head
# is not tied to the embeddings: 938M parameters in all, InternVL2-1B's published size (tied: 802M).
QWEN2_05B = dict(
    vocab_size=151655, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
    num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
    rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
)  # fmt: skip
# internlm2-chat-1_8b as Llama, InternVL2-2B's language model.
INTERNLM2_18B = dict(
    vocab_size=92553, hidden_size=2048, intermediate_size=8192, num_hidden_layers=24,
    num_attention_heads=16, num_key_value_heads=8, max_position_embeddings=32768,
    rope_theta=1000000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
)  # fmt: skip
TINY_VIT = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, attention_bias=True)
TINY_LLM = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
)

SIZES = {
    "1b": ("qwen2", VIT_300M, QWEN2_05B),
    "2b": ("llama", VIT_300M, INTERNLM2_18B),
    "tiny": ("qwen2", TINY_VIT, TINY_LLM),
}


def build_random_model(size: str, device, dtype, attn: str) -> LoadedInternVL:
    """An InternVL model of the given size with random weights, and a small offline tokenizer."""
    from transformers import (
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLVisionConfig,
        LlamaConfig,
        Qwen2Config,
    )

    llm, vit, text = SIZES[size]
    tokenizer = build_tiny_tokenizer(llm)
    text = {"vocab_size": max(len(tokenizer), 1024), **text}  # the real vocabulary size: the LM head costs
    text_config = (Qwen2Config if llm == "qwen2" else LlamaConfig)(**text, pad_token_id=tokenizer.pad_token_id)
    config = InternVLConfig(
        vision_config=InternVLVisionConfig(**vit, image_size=448, patch_size=14),
        text_config=text_config,
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        tie_word_embeddings=text.get("tie_word_embeddings", False),
    )
    with torch.device(device):  # initialised in place on the GPU, in bf16
        model = InternVLForConditionalGeneration._from_config(config, attn_implementation=attn, dtype=dtype).eval()
    return LoadedInternVL(model, tokenizer, template_for_llm(llm), TilingConfig(max_tiles=6), "graph", device, dtype)


def chart(k: int) -> Image.Image:
    """A 1280 x 960 drawing (a 3 x 2 grid of tiles), a little different for each k."""
    image = Image.new("RGB", (1280, 960), "white")
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x, y = 100 + 180 * i, 100 + 120 * ((i + k) % 5)
        draw.rectangle((x, y, x + 150, y + 80), outline="black", width=3)
        draw.text((x + 10, y + 30), f"step {k}.{i}", fill="black")
    return image


def one_at_a_time(loaded: LoadedInternVL, images, tokens: int) -> float:
    """(a) The plain loop: preprocess, tokenize and ``generate`` each image alone. Returns seconds."""
    question = f"{IMAGE_PLACEHOLDER}\n{prompt_for('graph')}"
    start = time.perf_counter()
    for image in images:
        pixels = preprocess_image(image, loaded.tiling)
        prompt = expand_image_tokens(loaded.template.prompt(question), [pixels.shape[0]], loaded.tiling.tokens_per_tile)
        ids = loaded.tokenizer(prompt, return_tensors="pt")["input_ids"].to(loaded.device)
        with torch.inference_mode():
            loaded.model.generate(
                input_ids=ids, pixel_values=pixels.to(loaded.device, loaded.dtype), do_sample=False,
                max_new_tokens=tokens, min_new_tokens=tokens, pad_token_id=loaded.tokenizer.pad_token_id,
            )  # fmt: skip
    _sync(loaded.device)
    return time.perf_counter() - start


def batched(loaded: LoadedInternVL, images, tokens: int, batch_size: int, cache: str = "dynamic") -> float:
    """(b) flowparse's path: ``parse_many`` with one padded, batched generate per batch. Returns seconds."""
    backend = InternVLBackend(loaded, max_new_tokens=tokens, min_new_tokens=tokens, edges="never", cache=cache)
    start = time.perf_counter()
    backend.parse_many(images, batch_size=batch_size)
    _sync(loaded.device)
    return time.perf_counter() - start


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _measure(device, run):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    seconds = run()
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="1b")
    parser.add_argument("--batches", type=int, default=2, help="timed batches per batch size (after a warm-up one)")
    parser.add_argument("--baseline-images", type=int, default=4, help="images for the one-at-a-time loop")
    parser.add_argument("--tokens", type=int, default=300, help="generated tokens per image (fixed)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--cache", nargs="+", choices=["dynamic", "static"], default=["dynamic", "static"])
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--attn", default=None, help="default: flash_attention_2 if installed, else sdpa")
    args = parser.parse_args()

    device = pick_device(args.device)
    dtype = pick_dtype(args.dtype, device)
    attn = pick_attention(args.attn, device)
    loaded = build_random_model(args.size, device, dtype, attn)
    images = [chart(k) for k in range(max(args.batches * max(args.batch_sizes), args.baseline_images))]
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"# InternVL {args.size}, {dtype}, {attn}, {gpu}, {args.tokens} tokens/image, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}")  # fmt: skip

    batched(loaded, images[:2], 4, 2)  # warm-up: kernels, allocator
    seconds, peak = _measure(device, lambda: one_at_a_time(loaded, images[: args.baseline_images], args.tokens))
    base = args.baseline_images / seconds
    rows = [{"mode": "one-at-a-time generate", "batch": 1, "images_per_s": base, "peak_gib": peak, "speedup": 1.0}]
    for cache in args.cache:
        for bs in args.batch_sizes:
            n = args.batches * bs
            warmup = time.perf_counter()
            batched(loaded, images[:bs], args.tokens, bs, cache)  # compiles (static) / warms this batch shape
            warmup = time.perf_counter() - warmup
            seconds, peak = _measure(device, partial(batched, loaded, images[:n], args.tokens, bs, cache))
            rows.append(
                {
                    "mode": f"flowparse parse_many, {cache} cache",
                    "batch": bs,
                    "images_per_s": n / seconds,
                    "peak_gib": peak,
                    "speedup": n / seconds / base,
                    "warmup_s": warmup,
                }
            )
    print("| mode | batch | images/s | peak GiB | vs one-at-a-time | warm-up batch s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['batch']} | {r['images_per_s']:.2f} | {r['peak_gib']:.1f} | {r['speedup']:.1f}x "
              f"| {r.get('warmup_s', float('nan')):.1f} |")  # fmt: skip
    print(
        json.dumps(
            {"size": args.size, "device": gpu, "dtype": str(dtype), "attn": attn, "tokens": args.tokens, "rows": rows}
        )
    )


if __name__ == "__main__":
    main()
