"""Loading by hub id, offline: a tiny checkpoint placed in a Hugging Face cache is found by its id.

No network here, so the cache is written by hand in the layout huggingface_hub reads
(``models--ORG--NAME/refs/main`` naming a snapshot folder), and the child process runs with
``HF_HUB_OFFLINE=1``: the id goes through the same resolution as a downloaded model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="the InternVL backend needs torch")
pytest.importorskip("transformers", reason="the InternVL backend needs transformers")

from flowparse.backends.internvl.tiny import build_tiny_internvl  # noqa: E402

REPO = "flowparse-tests/tiny-internvl"
CHILD = """
import json, sys
from PIL import Image
import flowparse
from flowparse.backends.internvl.loading import load_internvl

loaded = load_internvl(sys.argv[1], max_tiles=2)
G = flowparse.parse(Image.new("RGB", (300, 200), "white"), model=sys.argv[1], max_new_tokens=4)
print(json.dumps({"template": loaded.template.name, "task": loaded.task, "tiles": loaded.tiling.max_tiles,
                  "backend": G.graph["backend"], "nodes": G.number_of_nodes()}))
"""


def _hub_cache(tmp_path, checkpoint):
    """A cache holding ``checkpoint`` as the main revision of REPO."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / f"models--{REPO.replace('/', '--')}"
    shutil.copytree(checkpoint, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return tmp_path / "hub"


def _run(cache, model_id):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", CHILD, model_id], capture_output=True, text=True, env=env, timeout=300)


def test_a_hub_id_loads_from_the_cache_with_its_flowparse_settings(tmp_path):
    checkpoint = build_tiny_internvl(tmp_path / "tiny", "llama")
    settings = json.loads((checkpoint / "flowparse_internvl.json").read_text())
    settings["task"] = "detection"  # a setting only the checkpoint's own file can carry
    (checkpoint / "flowparse_internvl.json").write_text(json.dumps(settings))
    done = _run(_hub_cache(tmp_path, checkpoint), REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == {"template": "internlm2-chat", "task": "detection", "tiles": 2, "backend": "internvl", "nodes": 0}


def test_an_unknown_hub_id_offline_is_a_clear_error(tmp_path):
    done = _run(tmp_path / "empty-hub", "flowparse-tests/not-there")
    assert done.returncode != 0
    assert "flowparse-tests/not-there" in done.stderr and "ModelLoadError" in done.stderr
