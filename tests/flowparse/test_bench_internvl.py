"""The InternVL GPU benchmark stays runnable and measures the real architectures.

Its figures come from a GPU session; these checks make sure that session does not spend its
device time on a script that broke, or on a model of the wrong size.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the InternVL benchmark needs torch")
pytest.importorskip("transformers", reason="the InternVL benchmark needs transformers")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_internvl.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_internvl", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("size", "published"), [("1b", 938e6), ("2b", 2.21e9)])
def test_random_models_have_the_published_parameter_counts(size, published):
    """InternVL2-1B is published as 938M parameters, InternVL2-2B as 2.21B (model cards)."""
    loaded = _bench().build_random_model(size, torch.device("meta"), torch.bfloat16, "sdpa")
    count = sum(p.numel() for p in loaded.model.parameters())
    assert abs(count - published) / published < 0.003
    vision = sum(p.numel() for p in loaded.model.model.vision_tower.parameters())
    assert round(vision / 1e6) == 304  # InternViT-300M-448px


def test_smoke_run_prints_every_row():
    args = ["--size", "tiny", "--device", "cpu", "--batches", "1", "--baseline-images", "1", "--tokens", "4"]
    args += ["--batch-sizes", "1", "2", "--cache", "dynamic", "static"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    modes = [(r["mode"], r["batch"]) for r in result["rows"]]
    assert modes == [
        ("one-at-a-time generate", 1),
        ("flowparse parse_many, dynamic cache", 1),
        ("flowparse parse_many, dynamic cache", 2),
        ("flowparse parse_many, static cache", 1),
        ("flowparse parse_many, static cache", 2),
    ]
    assert all(r["images_per_s"] > 0 for r in result["rows"])
