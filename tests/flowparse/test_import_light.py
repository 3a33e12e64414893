"""`import flowparse` stays light: heavy engines load only in the functions that use them."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "peft", "deepspeed", "cv2", "rapidocr", "onnxruntime", "pydot", "matplotlib")


@pytest.mark.parametrize(
    "statement",
    [
        "import flowparse",
        "import flowparse.converters",
        "import flowparse.cli",
        "import flowparse.training",
        "from flowparse.converters import to_mermaid, to_json, to_dot",
    ],
)
def test_import_pulls_in_no_heavy_engine(statement):
    code = f"import sys; {statement}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"{statement} imported: {done.stdout.strip()}"


def test_folders_refuse_import_as_top_level_packages(tmp_path):
    # converters/ and training/ are mapped into flowparse; importing them bare must fail loudly.
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for name in ("converters", "training"):
        done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=root, capture_output=True, text=True)
        assert done.returncode != 0 and f"import flowparse.{name}" in done.stderr
