"""The docstring examples of the classical detector's modules still run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

pytest.importorskip("cv2", reason="opencv-python-headless (flowparse[classical]) is not installed")

MODULES = [
    "flowparse.backends.classical.page", "flowparse.backends.classical.shapes",
    "flowparse.backends.classical.crossings", "flowparse.backends.classical.frames",
    "flowparse.backends.classical.detector",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
