"""``flowparse model merge ADAPTER_DIR OUT``: fold a LoRA adapter into its base model.

The result is a native InternVL checkpoint (weights, tokenizer with chat template, generation
config, ``flowparse_internvl.json``) that ``parse(model=OUT)`` loads like any other. The merge
runs in float32 on the CPU (a 2B model needs about 10 GB of RAM) and saves in the base's dtype.

Light at import: click only; torch, transformers and peft are imported by the function.

>>> merge_lora("runs/2b-lora", "models/flowparse-2b")   # doctest: +SKIP
PosixPath('models/flowparse-2b')
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import click

from flowparse.errors import InputError

__all__ = ["MergeError", "merge_lora", "merge_command"]


class MergeError(InputError):
    """An adapter folder cannot be merged (the message names it and the problem)."""


def _adapter_base(adapter: Path, base: str | None) -> str:
    config_path = adapter / "adapter_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError("no adapter_config.json: not a LoRA adapter folder", source=adapter) from None
    except (OSError, ValueError) as e:
        raise MergeError(f"unreadable adapter_config.json: {e}", source=adapter) from None
    found = base or config.get("base_model_name_or_path")
    if not found:
        raise MergeError("the adapter does not name its base model: pass --base", source=adapter)
    return found


def _saved_dtype(base: str) -> str:
    """The dtype the base checkpoint was saved in (its config.json), float32 when it does not say."""
    try:
        config = json.loads((Path(base) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "float32"
    return str(config.get("dtype") or config.get("torch_dtype") or "float32")


def merge_lora(
    adapter_dir: str | os.PathLike, out: str | os.PathLike, *, base: str | None = None, dtype: str = "auto"
) -> Path:
    """Merge the LoRA adapter of ``adapter_dir`` into its base and save a native checkpoint to ``out``.

    ``base`` overrides the base recorded in the adapter; ``dtype`` ("auto": the base's) is the
    dtype of the saved weights. ``out`` must not exist or be empty; it is written under a
    temporary name and renamed, so a failed merge leaves nothing half-written.
    """
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from flowparse.backends.internvl.loading import load_internvl
    from flowparse.backends.internvl.tiny import FLOWPARSE_CONFIG

    adapter, target = Path(adapter_dir), Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise MergeError("exists and is not an empty folder", source=target)
    base_name = _adapter_base(adapter, base)
    save_dtype = getattr(torch, _saved_dtype(base_name) if dtype == "auto" else dtype)
    loaded = load_internvl(base_name, device="cpu", dtype="float32")
    extra = adapter / "non_lora_trainables.safetensors"
    if extra.is_file():
        # Trained base weights go in first: some sit under LoRA layers, and the merge adds B @ A to them.
        weights = load_file(str(extra))
        missing = [k for k in weights if k not in loaded.model.state_dict()]
        if missing:
            raise MergeError(f"non-LoRA weights do not fit the base: {', '.join(missing[:3])}", source=extra)
        loaded.model.load_state_dict(weights, strict=False)
    merged = PeftModel.from_pretrained(loaded.model, adapter).merge_and_unload()
    merged.config.use_cache = True
    weights = {k: (v.to(save_dtype) if v.is_floating_point() else v) for k, v in merged.state_dict().items()}
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp, state_dict=weights, safe_serialization=True)
    tokenizer_source = adapter if (adapter / "tokenizer_config.json").is_file() else Path(base_name)
    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(tmp)
    for source in (adapter / FLOWPARSE_CONFIG, Path(base_name) / FLOWPARSE_CONFIG):
        if source.is_file():
            shutil.copyfile(source, tmp / FLOWPARSE_CONFIG)
            break
    if target.exists():
        target.rmdir()
    os.replace(tmp, target)
    return target


@click.command("merge")
@click.argument("adapter_dir", type=click.Path(file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--base", default=None, help="Base checkpoint (default: the one the adapter records).")
@click.option(
    "--dtype",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "bfloat16", "float16", "float32"]),
    help="Dtype of the saved weights.",
)
def merge_command(adapter_dir: str, out: str, base: str | None, dtype: str) -> None:
    """Merge the LoRA adapter in ADAPTER_DIR into its base; save a native checkpoint to OUT.

    ADAPTER_DIR is a LoRA run's output folder or one of its checkpoint-N folders. Example:

        flowparse model merge runs/2b-lora models/flowparse-2b
    """
    from flowparse.cli import fail
    from flowparse.errors import FlowparseError

    try:
        path = merge_lora(adapter_dir, out, base=base, dtype=dtype)
    except FlowparseError as e:
        fail(e)
    click.echo(f"merged {adapter_dir} -> {path}")
