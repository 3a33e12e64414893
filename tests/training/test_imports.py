"""The training CLI, config and data modules stay light: no torch, transformers, peft or deepspeed."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "peft", "deepspeed", "bitsandbytes")


@pytest.mark.parametrize(
    "module",
    [
        "flowparse.cli",
        "flowparse.training.cli",
        "flowparse.training.merge",
        "flowparse.training.config",
        "flowparse.training.data",
        "flowparse.training.recipes",
    ],
)
def test_import_is_light(module):
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing {module} imported {out}"


def test_top_level_training_folder_is_not_importable():
    done = subprocess.run([sys.executable, "-c", "import training"], capture_output=True, text=True, cwd="/")
    assert done.returncode != 0
