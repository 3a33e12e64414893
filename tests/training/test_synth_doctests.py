"""The docstring examples of the data engine, the harness and the overlay still run as written."""

from __future__ import annotations

import doctest
import importlib
import shutil

import pytest

MODULES = [
    "flowparse.training.synth.phrases", "flowparse.training.synth.structure", "flowparse.training.synth.fonts",
    "flowparse.training.synth.truth", "flowparse.training.synth.layout", "flowparse.training.synth.pil_render",
    "flowparse.training.synth.degrade", "flowparse.training.synth.graphviz_render",
    "flowparse.training.synth.mermaid_render", "flowparse.training.synth.engine", "flowparse.training.synth",
    "flowparse.training.export", "flowparse.evaluation", "flowparse.overlay",
]
NEEDS_DOT = {"flowparse.training.synth.graphviz_render", "flowparse.training.synth.engine", "flowparse.training.synth"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name in NEEDS_DOT and shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' is not installed")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0 or name.endswith("fonts")
