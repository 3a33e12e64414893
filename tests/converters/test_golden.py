"""Golden files: the fixtures' DOT and Mermaid are exactly what we expect to ship.

Regenerate after a deliberate change with FLOWPARSE_REGEN_GOLDEN=1 pytest tests/converters,
then read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flowparse.converters import from_dot, from_mermaid, read_json, to_dot, to_mermaid

from .conftest import assert_same_graph

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "graphs"
REGEN = os.environ.get("FLOWPARSE_REGEN_GOLDEN") == "1"
CHARTS = sorted(p.stem for p in FIXTURES.glob("*.json"))


def test_golden_regeneration_is_off_in_ci():
    # A run with the flag on rewrites the expectations instead of checking them.
    assert not (REGEN and os.environ.get("CI")), "FLOWPARSE_REGEN_GOLDEN must not be set in CI"


@pytest.mark.parametrize("name", CHARTS)
@pytest.mark.parametrize("fmt, to_text, suffix", [("dot", to_dot, ".dot"), ("mermaid", to_mermaid, ".mmd")])
def test_output_matches_golden_file(name, fmt, to_text, suffix):
    text = to_text(read_json(FIXTURES / f"{name}.json"))
    golden = FIXTURES / f"{name}{suffix}"
    if REGEN:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", CHARTS)
def test_golden_files_read_back_to_the_fixture(name):
    G = read_json(FIXTURES / f"{name}.json")
    assert_same_graph(G, from_dot((FIXTURES / f"{name}.dot").read_text(encoding="utf-8")))
    assert_same_graph(G, from_mermaid((FIXTURES / f"{name}.mmd").read_text(encoding="utf-8")), geometry=False)


def test_fixture_charts_exist():
    assert {"order", "hostile"} <= set(CHARTS)
