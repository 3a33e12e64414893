"""Checkpoints that survive a crash and load in ``parse(model=...)``.

A checkpoint ``output_dir/checkpoint-<step>/`` is written under a temporary name and renamed when
complete, so a run killed at any moment leaves either a whole checkpoint or none; resuming takes
the newest complete one. It holds:

- the model as the InternVL backend loads it: native weights (full recipe) or the LoRA adapter
  (LoRA recipe), tokenizer with chat template, ``generation_config.json`` and
  ``flowparse_internvl.json`` (template, tiling, default task);
- ``training_state.pt``: float32 trainable weights, optimizer, scheduler and every RNG state,
  which is what makes a resumed run end with the same weights as an uninterrupted one;
- ``trainer_state.json`` (step, epoch, losses so far), ``metrics.jsonl`` and ``loss_curve.png``.

>>> last_checkpoint("runs/empty")            # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

__all__ = [
    "TRAINING_STATE",
    "TRAINER_STATE",
    "DEEPSPEED_STATE",
    "write_trainer_state",
    "read_trainer_state",
    "last_checkpoint",
    "checkpoint_dir",
    "open_checkpoint",
    "commit_checkpoint",
    "rotate_checkpoints",
    "rng_state",
    "restore_rng_state",
    "write_flowparse_settings",
    "save_tokenizer_files",
]

TRAINING_STATE = "training_state.pt"
TRAINER_STATE = "trainer_state.json"
DEEPSPEED_STATE = "deepspeed"
_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_dir(output_dir: str | os.PathLike, step: int) -> Path:
    """Where the checkpoint of ``step`` lives."""
    return Path(output_dir) / f"checkpoint-{step}"


def _complete(path: Path) -> bool:
    # trainer_state.json is written last, so its presence marks a whole checkpoint.
    return (path / TRAINER_STATE).is_file() and ((path / TRAINING_STATE).is_file() or (path / DEEPSPEED_STATE).is_dir())


def last_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest complete ``checkpoint-N`` folder of ``output_dir``, or ``None``.

    >>> last_checkpoint("/no/such/dir") is None
    True
    """
    root = Path(output_dir)
    if not root.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and p.is_dir() and _complete(p)]
    return max(found)[1] if found else None


def open_checkpoint(output_dir: str | os.PathLike, step: int) -> Path:
    """A fresh temporary folder to write the checkpoint of ``step`` into."""
    tmp = Path(output_dir) / f".checkpoint-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def commit_checkpoint(tmp: Path, output_dir: str | os.PathLike, step: int) -> Path:
    """Make the temporary folder the checkpoint of ``step`` (one rename: all or nothing)."""
    final = checkpoint_dir(output_dir, step)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def rotate_checkpoints(output_dir: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest complete checkpoints (and stale temporary folders)."""
    root = Path(output_dir)
    for stale in root.glob(".checkpoint-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    found = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and p.is_dir())
    doomed = [p for _, p in found[: max(len(found) - max(keep, 1), 0)]]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed


def rng_state() -> dict:
    """Every random state a step consumes: Python, NumPy, torch CPU and CUDA."""
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Put back what :func:`rng_state` saved."""
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_trainer_state(path: Path, state: dict) -> None:
    """``trainer_state.json``: step, epoch, total steps and the logged losses."""
    from flowparse.files import write_text_atomic

    write_text_atomic(path / TRAINER_STATE, json.dumps(state, indent=2) + "\n")


def read_trainer_state(path: Path) -> dict:
    """The ``trainer_state.json`` of a checkpoint."""
    return json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))


def write_flowparse_settings(base_model: str, out: Path, template: str, tiling, task: str | None) -> None:
    """``flowparse_internvl.json`` for ``out``: the base's template, the training tiling, the task.

    The tiling the model was trained with is what inference should use, so the checkpoint
    records it; the template is the base model's (fine-tuning does not change it).
    """
    from flowparse.backends.internvl.tiny import FLOWPARSE_CONFIG
    from flowparse.files import write_text_atomic

    source = Path(base_model) / FLOWPARSE_CONFIG
    data = json.loads(source.read_text(encoding="utf-8")) if source.is_file() else {}
    data["template"] = template
    data["tiling"] = tiling.to_dict()
    if task is not None:
        data["task"] = task
    write_text_atomic(out / FLOWPARSE_CONFIG, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def save_tokenizer_files(tokenizer, out: Path) -> None:
    """Tokenizer (with its chat template) in the layout ``AutoTokenizer`` and the backend read."""
    tokenizer.save_pretrained(out)
