"""The recipes' DeepSpeed path, run on CPU through DeepSpeed's CPU accelerator.

ZeRO 1, 2 and 3 with gradient accumulation give the weights plain PyTorch gives; the official
setting (ZeRO-1 in bf16) tracks bf16 autocast; a crashed DeepSpeed run resumes to the same
weights; two processes under torchrun match one. A single process needs no launcher (the recipe
forms a group of one). What stays untested here: NCCL, GPU kernels, and the memory savings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs torch (the internvl extra)")

from flowparse.training.config import ConfigError, load_config  # noqa: E402
from flowparse.training.recipes import run_recipe  # noqa: E402
from flowparse.training.recipes.checkpointing import DEEPSPEED_STATE, TRAINING_STATE  # noqa: E402
from flowparse.training.recipes.distributed import _free_port  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(
        find_spec("deepspeed") is None,
        reason="deepspeed is not installed (make test installs it: pip install --no-build-isolation -e '.[deepspeed]')",
    ),
]

TINY = Path(__file__).resolve().parents[2] / "training" / "configs" / "tiny_cpu.yaml"
LAUNCHER = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# Two micro-batches of one sample per step: DeepSpeed's accumulation boundary is exercised.
ACCUMULATE = ["per_device_train_batch_size=1", "global_batch_size=2", "dataloader_num_workers=0"]


@pytest.fixture(autouse=True)
def no_launcher():
    """Each run starts as a bare process; the variables a run sets for itself do not leak."""
    saved = {key: os.environ.pop(key) for key in LAUNCHER if key in os.environ}
    yield
    for key in LAUNCHER:
        os.environ.pop(key, None)
    os.environ.update(saved)


class _Crash(RuntimeError):
    pass


def _run(model, meta, out, *overrides, on_step_end=None):
    cfg = load_config(TINY, [f"model={model}", f"meta_path={meta}", f"output_dir={out}", *ACCUMULATE, *overrides])
    return run_recipe(cfg, log=lambda m: None, on_step_end=on_step_end)


def _weights(folder: Path, name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / name))


def _logged(folder: Path, key: str = "loss") -> list[float]:
    return [json.loads(line)[key] for line in (folder / "metrics.jsonl").read_text().splitlines()]


LORA = ["recipe=lora", "use_llm_lora=8", "freeze_llm=true", "lora_dropout=0"]


@pytest.mark.parametrize(
    "stage, overrides, weights",
    [
        ("zero1", [], "model.safetensors"),
        ("zero2", [], "model.safetensors"),
        ("zero3", [], "model.safetensors"),  # the export gathers the sharded weights
        pytest.param(
            "zero2",
            LORA,
            "adapter_model.safetensors",
            marks=pytest.mark.skipif(find_spec("peft") is None, reason="peft is not installed"),
        ),
    ],
)
def test_zero_stages_give_the_plain_pytorch_weights(tiny_internvl, tiny_charts, tmp_path, stage, overrides, weights):
    meta, _ = tiny_charts
    common = ["max_steps=3", "save_steps=3", *overrides]
    _run(tiny_internvl, meta, tmp_path / "plain", *common)
    _run(tiny_internvl, meta, tmp_path / "ds", *common, f"deepspeed={stage}")
    checkpoint = tmp_path / "ds" / "checkpoint-3"
    assert (checkpoint / DEEPSPEED_STATE).is_dir() and not (checkpoint / TRAINING_STATE).exists()  # DeepSpeed ran
    a, b = _weights(tmp_path / "plain", weights), _weights(tmp_path / "ds", weights)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert _logged(tmp_path / "ds") == pytest.approx(_logged(tmp_path / "plain"), rel=1e-6)
    # Adam and clipping hide a wrongly scaled gradient from the weights; the norm does not.
    assert _logged(tmp_path / "ds", "grad_norm") == pytest.approx(_logged(tmp_path / "plain", "grad_norm"), rel=1e-5)


@pytest.mark.skipif(find_spec("bitsandbytes") is None, reason="bitsandbytes is not installed")
def test_8_bit_adam_under_zero2_tracks_plain_8_bit_adam(tiny_internvl, tiny_charts, tmp_path):
    """A client optimizer ZeRO does not know. Under ZeRO it quantizes DeepSpeed's flat partitions
    instead of each tensor, so the weights agree to the quantization's grain, not to float error."""
    meta, _ = tiny_charts
    common = ["optim=adamw_8bit", "max_steps=3", "save_steps=3"]
    _run(tiny_internvl, meta, tmp_path / "plain", *common)
    _run(tiny_internvl, meta, tmp_path / "ds", *common, "deepspeed=zero2")
    assert _logged(tmp_path / "ds") == pytest.approx(_logged(tmp_path / "plain"), rel=1e-4)
    start = _weights(Path(tiny_internvl), "model.safetensors")
    a, b = _weights(tmp_path / "plain", "model.safetensors"), _weights(tmp_path / "ds", "model.safetensors")
    moved = sum((a[k].float() - start[k].float()).abs().sum() for k in a)
    apart = sum((a[k].float() - b[k].float()).abs().sum() for k in a)
    assert apart < 0.05 * moved  # the two runs differ by a small fraction of what training moved


def test_official_zero1_in_bf16_tracks_bf16_autocast(tiny_internvl, tiny_charts, tmp_path):
    """The official set-up: ZeRO-1, bf16 weights in the engine, float32 master weights in DeepSpeed."""
    meta, _ = tiny_charts
    common = ["dtype=bfloat16", "max_steps=6", "save_steps=6"]
    _run(tiny_internvl, meta, tmp_path / "plain", *common)
    _run(tiny_internvl, meta, tmp_path / "ds", *common, "deepspeed=zero1")
    plain, ds = _logged(tmp_path / "plain"), _logged(tmp_path / "ds")
    assert ds == pytest.approx(plain, rel=1e-3)
    assert ds[-1] < ds[0] - 0.5  # and it learns
    assert all(v.dtype == torch.bfloat16 for v in _weights(tmp_path / "ds", "model.safetensors").values())


@pytest.mark.parametrize("stage", ["zero1", "zero3"])
def test_crashed_deepspeed_run_resumes_to_the_same_weights(tiny_internvl, tiny_charts, tmp_path, stage):
    meta, _ = tiny_charts
    common = [f"deepspeed={stage}", "max_steps=4", "save_steps=2"]
    _run(tiny_internvl, meta, tmp_path / "straight", *common)

    def crash(done):
        if done == 3:
            raise _Crash("after step 3: checkpoint-2 is the last one")

    with pytest.raises(_Crash):
        _run(tiny_internvl, meta, tmp_path / "crashed", *common, on_step_end=crash)
    summary = _run(tiny_internvl, meta, tmp_path / "crashed", *common)
    assert summary["resumed_at"] == 2
    a, b = _weights(tmp_path / "straight", "model.safetensors"), _weights(tmp_path / "crashed", "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"


def _launcher(name: str) -> list[str]:
    """``python -m`` arguments that start 2 processes of a module (the deepspeed one adds --local_rank)."""
    if name == "torchrun":
        return ["torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m"]
    return ["deepspeed.launcher.runner", "--num_gpus=2", f"--master_port={_free_port()}", "--module"]


@pytest.mark.parametrize("launcher", ["torchrun", "deepspeed"])
def test_two_deepspeed_processes_match_one_plain_process(tiny_internvl, tiny_charts, tmp_path, launcher):
    """2 CPU processes under ZeRO-2 (gloo), one sample each per micro-batch, vs one plain process."""
    meta, _ = tiny_charts
    args = [f"model={tiny_internvl}", f"meta_path={meta}", "max_steps=2", "save_steps=2", "global_batch_size=4"]
    _run(tiny_internvl, meta, tmp_path / "one", "max_steps=2", "save_steps=2", "global_batch_size=4")
    command = [sys.executable, "-m", *_launcher(launcher), "flowparse.training.cli", str(TINY)]
    command += [*args, *ACCUMULATE[::2], "deepspeed=zero2", f"output_dir={tmp_path / 'two'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}  # launcher scratch stays here
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"world_size": 2' in (tmp_path / "two" / "train.log").read_text()
    a, b = _weights(tmp_path / "one", "model.safetensors"), _weights(tmp_path / "two", "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert _logged(tmp_path / "two") == pytest.approx(_logged(tmp_path / "one"), rel=1e-5)
    assert _logged(tmp_path / "two", "grad_norm") == pytest.approx(_logged(tmp_path / "one", "grad_norm"), rel=1e-5)


def test_deepspeed_refuses_a_device_its_accelerator_does_not_drive():
    from flowparse.training.recipes.distributed import import_deepspeed

    assert import_deepspeed(torch.device("cpu")).__name__ == "deepspeed"
    with pytest.raises(ConfigError, match="deepspeed runs on its cpu accelerator but the run is on cuda"):
        import_deepspeed(torch.device("cuda"))
