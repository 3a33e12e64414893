"""``flowparse parse``: help, exit codes, and a run killed mid-way then resumed.

The kill tests run the real CLI in a subprocess with the fake backend of test_pipeline_fakes.py
(slowed down, so the kill lands mid-run) and compare with an uninterrupted run, file by file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import test_pipeline_fakes as F  # on sys.path through conftest.py
from click.testing import CliRunner

from flowparse.cli import main
from flowparse.pipeline import MANIFEST_NAME, read_manifest


def cli(*args: str):
    return CliRunner().invoke(main, ["parse", *args], catch_exceptions=False)


def outputs(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }


def test_help_names_every_option():
    result = cli("--help")
    assert result.exit_code == 0
    for option in (
        "-o, --output",
        "-f, --format",
        "--backend",
        "--model",
        "-O, --option",
        "--pages",
        "--dpi",
        "--workers",
        "--batch-size",
        "--resume",
        "--figures",
        "--glob",
        "--keep-folders",
        "--manifest",
    ):
        assert option in result.output, option


def test_all_good_exits_0_some_bad_exits_1(tmp_path):
    folder = F.make_mixed_folder(tmp_path / "in")
    good = cli(
        str(folder / "a.png"),
        str(folder / "doc.pdf"),
        "-o",
        str(tmp_path / "ok"),
        "--backend",
        F.FAKE,
        "-f",
        "json,mermaid",
        "--no-progress",
    )
    assert good.exit_code == 0, good.output
    assert sorted(outputs(tmp_path / "ok")) == [
        "a.json",
        "a.mmd",
        "doc-p1.json",
        "doc-p1.mmd",
        "doc-p2.json",
        "doc-p2.mmd",
        "doc-p3.json",
        "doc-p3.mmd",
    ]
    bad = cli(str(folder), "-o", str(tmp_path / "mixed"), "--backend", F.FAKE, "--no-progress")
    assert bad.exit_code == 1
    assert "notes.png: not an image" in bad.output and "7 parsed, 2 failed" in bad.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["-f", "json,pdf"], "unknown output format pdf"),  # no such format
        (["--pages", "2-1"], "bad page range"),  # a backwards range
        (["--pages", "x"], "bad page range"),  # not a number
        (["--workers", "0"], "--workers"),  # below the minimum
        (["--glob", "*.svg"], "no inputs"),  # the folder holds nothing that matches
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    folder = F.make_mixed_folder(tmp_path / "in")
    result = CliRunner().invoke(main, ["parse", str(folder), "-o", str(tmp_path / "out"), "--backend", F.FAKE, *args])
    assert result.exit_code == 2 and message in result.output


def test_two_folders_with_the_same_file_names_keep_their_folders(tmp_path):
    for name in ("2024", "2025"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "chart.png").write_bytes(F.png_bytes(40, 30))
    args = [str(tmp_path / "2024"), str(tmp_path / "2025"), "--backend", F.FAKE, "--no-progress"]
    assert cli(*args, "-o", str(tmp_path / "flat")).exit_code == 1  # the second chart.png fails
    result = cli(*args, "-o", str(tmp_path / "out"), "--keep-folders")
    assert result.exit_code == 0
    assert set(outputs(tmp_path / "out")) == {"2024/chart.json", "2025/chart.json"}


def test_missing_output_folder_or_inputs_exit_2(tmp_path):
    assert CliRunner().invoke(main, ["parse", str(tmp_path)]).exit_code == 2
    assert CliRunner().invoke(main, ["parse", "-o", str(tmp_path / "out")]).exit_code == 2


def test_a_backend_that_cannot_load_exits_2(tmp_path):
    (tmp_path / "a.png").write_bytes(F.png_bytes(40, 30))
    result = CliRunner().invoke(
        main, ["parse", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--backend", "no-such"]
    )
    assert result.exit_code == 2 and "unknown backend 'no-such'" in result.output


def test_backend_options_reach_the_backend(tmp_path):
    folder = F.make_mixed_folder(tmp_path / "in")
    args = [str(folder / "a.png"), "-o", str(tmp_path / "out"), "--backend", F.FAKE]
    width = read_png_width(folder / "a.png")
    assert cli(*args).exit_code == 0
    crashed = cli(*args, "-O", f"crash_on_width={width}", "--no-progress")  # an int, as JSON reads it
    assert crashed.exit_code == 1
    assert [r["status"] for r in read_manifest(tmp_path / "out" / MANIFEST_NAME)][-1] == "error"


@pytest.mark.parametrize(
    "option, message",
    [
        ("cache", "expected KEY=VALUE"),
        ("=static", "expected KEY=VALUE"),
        ("no_such_option=1", "does not take these options"),
    ],
)
def test_bad_backend_options_exit_2(tmp_path, option, message):
    (tmp_path / "a.png").write_bytes(F.png_bytes(40, 30))
    result = CliRunner().invoke(
        main, ["parse", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--backend", "classical", "-O", option]
    )
    assert result.exit_code == 2 and message in result.output


def read_png_width(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return image.width


# --- killed and resumed ----------------------------------------------------------------------


def _charts(folder: Path, n: int) -> Path:
    folder.mkdir()
    for k in range(n):
        (folder / f"chart{k:02d}.png").write_bytes(F.png_bytes(30 + 10 * (k % 7), 20 + k))
    return folder


def _start(args: list[str], delay: float) -> subprocess.Popen:
    env = {**os.environ, "FAKE_PIPELINE_DELAY": str(delay)}
    # a session of its own: the kill reaches worker processes too, and nothing is left running
    return subprocess.Popen(
        [sys.executable, "-c", F.FAKE_CLI, "parse", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def _wait_for_lines(manifest: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if manifest.exists() and manifest.read_text().count("\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"{manifest} never reached {n} lines")


@pytest.mark.parametrize(
    "sig, extra",
    [
        (signal.SIGKILL, []),  # no chance to clean up: temporaries may be left, never a half file
        (signal.SIGTERM, []),  # stopped politely: exit 130, temporaries removed
        (signal.SIGKILL, ["--workers", "2"]),  # worker processes killed with the run
    ],
)
def test_killed_run_resumed_equals_an_uninterrupted_run(tmp_path, sig, extra):
    charts = _charts(tmp_path / "in", 24)
    common = ["-f", "json,mermaid,overlay", "--backend", F.FAKE, "--no-progress", *extra]
    reference = subprocess.run(
        [sys.executable, "-c", F.FAKE_CLI, "parse", str(charts), "-o", str(tmp_path / "ref"), *common],
        capture_output=True,
    )
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "out"
    proc = _start([str(charts), "-o", str(out), *common], delay=0.15)  # 24 x 0.15 s: the kill lands long before the end
    _wait_for_lines(out / MANIFEST_NAME, 4, proc)
    os.killpg(proc.pid, sig)
    returncode = proc.wait(timeout=30)
    assert returncode == (130 if sig == signal.SIGTERM else -signal.SIGKILL)
    done_before = len(list(read_manifest(out / MANIFEST_NAME)))
    assert 4 <= done_before < 24, "the kill must land mid-run"
    for path in out.rglob("*.json"):  # every final file that exists is whole
        json.loads(path.read_text())
    if sig == signal.SIGTERM:
        assert not list(out.rglob("*.tmp"))

    resumed = subprocess.run(
        [sys.executable, "-c", F.FAKE_CLI, "parse", str(charts), "-o", str(out), *common, "--resume"],
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{24 - done_before} parsed, 0 failed, {done_before} already done" in resumed.stderr
    assert outputs(out) == outputs(tmp_path / "ref")  # no partial or stray files either
    records = list(read_manifest(out / MANIFEST_NAME))
    assert len(records) == 24 and {r["path"] for r in records} == {str(p) for p in charts.iterdir()}
    assert all(r["status"] == "ok" for r in records)


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find worker processes")
def test_workers_exit_when_their_run_is_killed_alone(tmp_path):
    charts = _charts(tmp_path / "in", 12)
    out = tmp_path / "out"
    proc = _start([str(charts), "-o", str(out), "--backend", F.FAKE, "--no-progress", "--workers", "2"], delay=0.2)
    try:
        _wait_for_lines(out / MANIFEST_NAME, 2, proc)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        os.kill(proc.pid, signal.SIGKILL)  # the run only: its workers are orphaned
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
            time.sleep(0.1)
        alive = [
            w for w in workers if Path(f"/proc/{w}/stat").exists() and " Z " not in Path(f"/proc/{w}/stat").read_text()
        ]
        assert not alive, "orphaned workers kept running"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_classical_end_to_end_matches_the_api(tmp_path):
    import importlib.util

    for module in ("cv2", "rapidocr"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the classical detector needs {module} (pip install 'flowparse[classical]')")
    from flowparse.converters import read_json

    import flowparse

    chart = Path(__file__).resolve().parents[2] / "fixtures" / "charts" / "decision-labels.png"
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    result = cli(str(chart), str(tmp_path / "bad.png"), "-o", str(tmp_path / "out"), "-f", "json,mermaid,overlay")
    assert result.exit_code == 1 and "bad.png" in result.output
    expected = flowparse.parse(chart, backend="classical")
    G = read_json(tmp_path / "out" / "decision-labels.json")
    assert G.graph["backend"] == "classical" and G.number_of_nodes() == expected.number_of_nodes() > 0
    assert sorted(G.nodes(data="text")) == sorted(expected.nodes(data="text"))
    assert (tmp_path / "out" / "decision-labels.mmd").read_text().strip()
    assert (tmp_path / "out" / "decision-labels.overlay.png").stat().st_size > 0
