"""Devices and processes: single device, DDP under ``torchrun``, DeepSpeed ZeRO 1/2/3.

``torchrun --nproc_per_node=N -m flowparse.training.cli CONFIG.yaml`` (or the ``deepspeed``
launcher) sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them the run is one process.
DeepSpeed is optional: it is imported only when a config asks for it, and a missing package is a
clear error naming it. It runs where its accelerator is: CUDA on a GPU machine, its CPU
accelerator elsewhere (the test suite runs ZeRO 1/2/3 that way).

>>> cfg = deepspeed_config(TrainConfig(deepspeed="zero2"), world_size=8, accumulation=4)  # doctest: +SKIP
>>> cfg["train_batch_size"], cfg["zero_optimization"]["stage"]                            # doctest: +SKIP
(128, 2)
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from flowparse.training.config import ConfigError

__all__ = [
    "DistEnv",
    "setup_distributed",
    "teardown_distributed",
    "deepspeed_config",
    "import_deepspeed",
]

_CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "deepspeed"


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the run."""

    rank: int
    world_size: int
    local_rank: int
    device: object  # torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, logs and the progress bar."""
        return self.rank == 0


def setup_distributed(device: str = "auto", *, group_when_alone: bool = False) -> DistEnv:
    """Read the launcher's environment, pick the device and join the process group (if several).

    NCCL on CUDA, gloo on CPU (tests run two CPU processes this way). ``group_when_alone``: when
    no launcher started the process, set the variables a one-process launch would (rank 0 of 1, a
    free local port) and form a group of one: DeepSpeed needs both, and without the variables it
    goes looking for MPI.
    """
    import torch

    if group_when_alone and "WORLD_SIZE" not in os.environ:
        for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1")):
            os.environ[key] = value
        os.environ["MASTER_PORT"] = str(_free_port())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda asked for but torch sees no CUDA device")
    if use_cuda:
        torch.cuda.set_device(local)
        target = torch.device("cuda", local)
    else:
        target = torch.device("cpu")
    if (world > 1 or group_when_alone) and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    return DistEnv(rank, world, local, target)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def teardown_distributed() -> None:
    """Leave the process group (no-op when there is none).

    When DeepSpeed ran, its own teardown also forgets the groups it cached, so that a later run in
    the same process (a notebook, the tests) does not meet a destroyed group.
    """
    import sys

    import torch

    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    deepspeed_comm = sys.modules.get("deepspeed.comm.comm")
    if deepspeed_comm is not None and deepspeed_comm.cdb is not None:
        deepspeed_comm.destroy_process_group()
    else:
        torch.distributed.destroy_process_group()


def import_deepspeed(device):
    """The deepspeed module, checked to run on ``device``; else a clear error saying what to do."""
    try:
        import deepspeed
        from deepspeed.accelerator import get_accelerator
    except ImportError:
        raise ConfigError(
            "deepspeed is not installed: `DS_BUILD_OPS=0 pip install --no-build-isolation deepspeed` "
            "(with torch already installed), or set deepspeed: null for plain PyTorch/DDP"
        ) from None
    accelerator = get_accelerator().device_name()
    if accelerator != device.type:
        raise ConfigError(
            f"deepspeed runs on its {accelerator} accelerator but the run is on {device.type}: "
            f"set device: {accelerator}, or deepspeed: null"
        )
    return deepspeed


def deepspeed_config(cfg, *, world_size: int, accumulation: int) -> dict:
    """The DeepSpeed JSON for ``cfg`` with every ``"auto"`` filled in from the config.

    The recipe passes its own AdamW (same betas/eps/weight decay, no decay on biases and norms,
    as the transformers Trainer groups them), so the files carry no ``optimizer`` block.
    """
    name = cfg.deepspeed
    path = _CONFIGS / f"{name}.json" if name in ("zero1", "zero2", "zero3") else Path(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read DeepSpeed config: {e}", source=path) from None
    data.pop("optimizer", None)
    micro = cfg.per_device_train_batch_size
    fills = {
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": accumulation,
        "train_batch_size": micro * accumulation * world_size,
        "gradient_clipping": cfg.max_grad_norm,
    }
    for key, value in fills.items():
        if data.get(key, "auto") == "auto":
            data[key] = value
    for key, on in (("bf16", cfg.dtype == "bfloat16"), ("fp16", cfg.dtype == "float16")):
        section = data.setdefault(key, {})
        if section.get("enabled", "auto") == "auto":
            section["enabled"] = on
    if cfg.optim != "adamw_torch":
        # ZeRO refuses a client optimizer it does not know (bitsandbytes' AdamW8bit) unless told to.
        data.setdefault("zero_allow_untested_optimizer", True)
    leftover = [k for k, v in _flatten(data) if v == "auto"]
    if leftover:
        raise ConfigError(f"DeepSpeed config keeps 'auto' values we cannot fill: {', '.join(leftover)}", source=path)
    return data


def _flatten(data: dict, prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
