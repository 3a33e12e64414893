"""Loading a native InternVL checkpoint: model, tokenizer, chat template and tiling.

Safetensors only (a pickle checkpoint can run code on load) and no remote code unless asked.
On CUDA: bf16 with ``flash_attention_2`` when flash-attn is installed, else sdpa; on CPU: float32
(slow, but works for small models).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowparse.backends.internvl.preprocessing import TilingConfig
from flowparse.backends.internvl.templates import ChatTemplate, get_template, template_for_llm
from flowparse.backends.internvl.tiny import FLOWPARSE_CONFIG
from flowparse.errors import InputError

__all__ = ["ModelLoadError", "LoadedInternVL", "load_internvl", "pick_device", "pick_dtype", "pick_attention"]


class ModelLoadError(InputError):
    """A model folder or hub id cannot be loaded as a native InternVL checkpoint."""


@dataclass
class LoadedInternVL:
    """Everything inference needs, loaded once."""

    model: Any
    tokenizer: Any
    template: ChatTemplate
    tiling: TilingConfig
    #: The task the checkpoint was trained to answer by default ("graph" or "detection").
    task: str
    device: Any
    dtype: Any


def pick_device(device: str | None = None):
    """``device`` as a torch device; the default is CUDA when available, else CPU.

    >>> str(pick_device("cpu"))
    'cpu'
    """
    import torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(dtype: Any, device) -> Any:
    """The torch dtype: as given (``"bfloat16"``, ``torch.float16``, ...), else bf16 on CUDA, fp32 on CPU.

    >>> import torch; pick_dtype(None, torch.device("cpu"))
    torch.float32
    """
    import torch

    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        value = getattr(torch, dtype.replace("torch.", ""), None)
        if not isinstance(value, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}")
        return value
    return dtype


def pick_attention(attn_implementation: str | None, device) -> str:
    """``flash_attention_2`` on CUDA when flash-attn imports, else ``sdpa`` (unless one is named).

    >>> import torch; pick_attention(None, torch.device("cpu"))
    'sdpa'
    """
    if attn_implementation:
        return attn_implementation
    if device.type == "cuda":
        try:
            import flash_attn  # noqa: F401
        except ImportError:
            return "sdpa"
        return "flash_attention_2"
    return "sdpa"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _hub_file(model: str, name: str, local_only: bool) -> Path | None:
    """``name`` from the checkpoint (folder or hub id), or None when it has none."""
    folder = Path(model)
    if folder.is_dir():
        return folder / name if (folder / name).is_file() else None
    try:
        from transformers.utils import cached_file

        found = cached_file(model, name, local_files_only=local_only, _raise_exceptions_for_missing_entries=False)
    except Exception:  # no network, no such repo: the loader reports those itself
        return None
    return Path(found) if found else None


def _check_location(name: str) -> None:
    """A path that is not a folder fails here, before the hub is asked about it."""
    path = Path(name)
    if path.exists() and not path.is_dir():
        raise ModelLoadError("not a folder (a checkpoint is a folder with config.json)", source=name)
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
    if not path.exists() and looks_like_path:
        raise ModelLoadError("no such folder", source=name)


def _check_native(model: str, local_only: bool) -> None:
    """Refuse the original (remote-code) layout with the command that converts it."""
    config_path = _hub_file(model, "config.json", local_only)
    config = _read_json(config_path) if config_path else None
    if config is None:
        if Path(model).exists() or local_only:
            raise ModelLoadError("no readable config.json: not a transformers checkpoint", source=model)
        return
    if config.get("model_type") == "internvl_chat" or "llm_config" in config:
        raise ModelLoadError(
            "original InternVL chat layout (remote code); convert it once with "
            f"`flowparse model import {model} NEW_DIR` and load NEW_DIR",
            source=model,
        )
    if config.get("model_type") != "internvl":
        raise ModelLoadError(
            f"model_type {config.get('model_type')!r} is not a native InternVL checkpoint", source=model
        )


def _flowparse_settings(
    model: str, local_only: bool, llm_type: str, patch_size: int
) -> tuple[ChatTemplate, TilingConfig, str]:
    path = _hub_file(model, FLOWPARSE_CONFIG, local_only)
    data = (_read_json(path) if path else None) or {}
    template = get_template(data["template"]) if "template" in data else template_for_llm(llm_type)
    tiling = TilingConfig.from_dict({"patch_size": patch_size, **data.get("tiling", {})})
    return template, tiling, data.get("task", "graph")


def load_internvl(
    model: str | os.PathLike,
    *,
    device: str | None = None,
    dtype: Any = None,
    attn_implementation: str | None = None,
    trust_remote_code: bool = False,
    local_files_only: bool | None = None,
    max_tiles: int | None = None,
) -> LoadedInternVL:
    """Load a native InternVL checkpoint from a local folder (offline) or a hub id.

    >>> loaded = load_internvl("checkpoints/flowparse-internvl2-1b")  # doctest: +SKIP
    >>> loaded.template.name                                           # doctest: +SKIP
    'Hermes-2'
    """
    from transformers import AutoTokenizer, InternVLForConditionalGeneration

    name = os.fspath(model)
    local_only = Path(name).is_dir() if local_files_only is None else local_files_only
    _check_location(name)
    _check_native(name, local_only)
    target = pick_device(device)
    torch_dtype = pick_dtype(dtype, target)
    try:
        net = InternVLForConditionalGeneration.from_pretrained(
            name,
            dtype=torch_dtype,
            attn_implementation=pick_attention(attn_implementation, target),
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            local_files_only=local_only,
        )
        tokenizer = AutoTokenizer.from_pretrained(
            name, trust_remote_code=trust_remote_code, local_files_only=local_only
        )
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot load: {e}", source=name) from None
    tokenizer.padding_side = "left"  # batched generation continues every row from its last token
    if tokenizer.pad_token is None:  # padding needs one; its positions are masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    net = net.to(target).eval()
    text_type = net.config.text_config.model_type
    patch = net.config.vision_config.patch_size
    template, tiling, task = _flowparse_settings(
        name, local_only, text_type, patch[0] if isinstance(patch, (list, tuple)) else patch
    )
    if max_tiles is not None:
        tiling = TilingConfig.from_dict({**tiling.to_dict(), "max_tiles": max_tiles})
    return LoadedInternVL(net, tokenizer, template, tiling, task, target, torch_dtype)
