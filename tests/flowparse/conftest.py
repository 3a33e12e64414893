"""Test set-up for tests/flowparse."""

import sys
from pathlib import Path

# The pipeline tests and the CLI subprocesses they start import test_pipeline_fakes by its plain
# name, so that both see one module and one registered fake backend (not a second copy under a
# package name).
sys.path.insert(0, str(Path(__file__).resolve().parent))
