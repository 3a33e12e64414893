"""The optimizer choice (``TrainConfig.optim``) and what its training state costs per parameter."""

from __future__ import annotations

import sys
from importlib.util import find_spec

import pytest

torch = pytest.importorskip("torch", reason="the optimizers need torch (the internvl extra)")

from flowparse.training.config import ConfigError, TrainConfig  # noqa: E402
from flowparse.training.recipes.optim import build_optimizer, training_state_bytes  # noqa: E402

needs_bnb = pytest.mark.skipif(
    find_spec("bitsandbytes") is None, reason="bitsandbytes is not installed (pip install -e '.[train]')"
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model():
    """Two matrices above bitsandbytes' ``min_8bit_size`` (4096 values), as every matrix of a real
    model is, plus small 1-D tensors (biases, a norm) that it keeps in 32 bit, as it does there."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(96, 128), torch.nn.LayerNorm(128), torch.nn.Linear(128, 64))


def _one_step(optim: str):
    model = _model()
    cfg = TrainConfig(optim=optim, learning_rate=1e-3, weight_decay=0.1, adam_beta2=0.95, adam_epsilon=1e-6)
    optimizer = build_optimizer(model, cfg, torch.device("cpu"))
    model(torch.randn(8, 96)).square().mean().backward()
    optimizer.step()
    return model, optimizer


@pytest.mark.parametrize("optim", ["adamw_torch", pytest.param("adamw_8bit", marks=needs_bnb)])
def test_both_optimizers_get_the_same_groups_and_hyperparameters(optim):
    model, optimizer = _one_step(optim)
    decay, no_decay = optimizer.param_groups
    assert all(p.ndim == 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    assert decay["betas"] == (0.9, 0.95) and decay["eps"] == 1e-6 and decay["lr"] == 1e-3


@needs_bnb
def test_adamw_8bit_keeps_8_bit_moments_for_matrices_only():
    import bitsandbytes as bnb

    model, optimizer = _one_step("adamw_8bit")
    assert isinstance(optimizer, bnb.optim.AdamW8bit)
    matrix, bias = optimizer.state[model[0].weight], optimizer.state[model[0].bias]
    assert matrix["state1"].dtype == matrix["state2"].dtype == torch.uint8
    assert bias["state1"].dtype == torch.float32  # 128 values: under min_8bit_size


@needs_bnb
def test_adamw_8bit_optimizer_state_is_at_most_a_third_of_adamw():
    """Counted after one step on a model whose matrices hold 97% of the parameters."""
    full = training_state_bytes(*_one_step("adamw_torch"))
    lean = training_state_bytes(*_one_step("adamw_8bit"))
    n = full["trainable_params"]
    assert lean["trainable_params"] == n == 96 * 128 + 128 + 2 * 128 + 128 * 64 + 64
    assert full["weights"] == full["grads"] == lean["weights"] == lean["grads"] == 4 * n
    assert 8 <= full["optimizer"] / n < 8.1  # two float32 moments (+ a step counter per tensor)
    assert lean["optimizer"] / n <= full["optimizer"] / n / 3
    assert full["total"] == full["weights"] + full["grads"] + full["optimizer"]


@needs_bnb
def test_shared_storage_is_counted_once():
    """bitsandbytes gives every 8-bit tensor the same quantisation maps: counted once, not per tensor."""
    model, optimizer = _one_step("adamw_8bit")
    every = sum(v.nbytes for s in optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor))
    assert training_state_bytes(model, optimizer)["optimizer"] < every


def test_missing_bitsandbytes_names_the_train_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # makes `import bitsandbytes` fail
    with pytest.raises(ConfigError, match=r"bitsandbytes.*\.\[train\]"):
        build_optimizer(_model(), TrainConfig(optim="adamw_8bit"), torch.device("cpu"))


@pytest.mark.parametrize("optim, allowed", [("adamw_torch", None), ("adamw_8bit", True)])
def test_zero_accepts_the_8_bit_optimizer(optim, allowed):
    from flowparse.training.recipes.distributed import deepspeed_config

    data = deepspeed_config(TrainConfig(optim=optim), world_size=8, accumulation=4)
    assert data.get("zero_allow_untested_optimizer") is allowed


@needs_bnb
@pytest.mark.parametrize("optim", ["adamw_torch", "adamw_8bit"])
def test_the_benchmarks_arithmetic_matches_the_measured_state(optim):
    """``bench_train.py --count`` (the 2B figures) uses the rule that this measurement checks."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_train.py"
    spec = importlib.util.spec_from_file_location("bench_train", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model, optimizer = _one_step(optim)
    measured = training_state_bytes(model, optimizer)["total"]
    # what the rule leaves out: a step counter per tensor (torch), the two shared 256-value maps (bnb)
    assert 0 <= measured - bench.state_by_arithmetic(model)[optim] <= 4 * 5 + 2 * 256 * 4


@needs_bnb
def test_bench_train_reports_the_state_of_each_optimizer():
    """The benchmark's CPU path on the tiny architecture: one row per optimizer, state in the JSON."""
    import json
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, str(root / "benchmarks" / "bench_train.py"), "--size", "tiny", "--device", "cpu",
               "--recipe", "full", "--optim", "adamw_torch", "adamw_8bit", "--batch", "1", "--steps", "1",
               "--warmup", "1", "--tiles", "1", "--text-tokens", "40", "--answer-tokens", "20"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["optim"]: r for r in json.loads(done.stdout.strip().splitlines()[-1])["rows"]}
    assert rows["adamw_torch"]["state_bytes_per_param"] == pytest.approx(16, abs=0.01)
    assert rows["adamw_8bit"]["state_bytes_per_param"] < 11  # 10.3: a few small tensors stay 32-bit
    assert rows["adamw_8bit"]["trainable"] == rows["adamw_torch"]["trainable"] > 0
