"""`flowparse convert` and the top-level command: formats, stdin/stdout, errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from flowparse.converters import from_dot, from_mermaid, read_json

from flowparse import __version__
from flowparse.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "graphs"
ORDER = str(FIXTURES / "order.json")


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("fmt, reader", [("mermaid", from_mermaid), ("dot", from_dot)])
def test_convert_json_to_stdout(fmt, reader):
    result = run("convert", ORDER, "--to", fmt)
    assert result.exit_code == 0, result.output
    G = reader(result.output)
    assert sorted(G.nodes) == sorted(read_json(ORDER).nodes)


def test_convert_to_file_infers_format_from_extension(tmp_path):
    out = tmp_path / "order.dot"
    result = run("convert", ORDER, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert from_dot(out.read_text(encoding="utf-8")).nodes["n2"]["shape"] == "diamond"


def test_convert_from_stdin_needs_and_uses_from():
    mermaid = "flowchart TD\n  a[Go] --> b{ok?}\n"
    result = run("convert", "-", "--from", "mermaid", "--to", "json", input=mermaid)
    assert result.exit_code == 0
    assert '"shape": "diamond"' in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["convert", "-", "--to", "json"], "cannot tell the input format"),
        (["convert", ORDER], "cannot tell the output format"),
        (["convert", ORDER, "--to", "svg"], "Invalid value for '--to'"),
        (["convert"], "Missing argument 'IN'"),
        (["frobnicate"], "No such command"),
    ],
)
def test_usage_errors_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_bad_input_exits_1_and_names_the_file(tmp_path):
    bad = tmp_path / "broken.mmd"
    bad.write_text("flowchart TD\n  a[unclosed --> b\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["convert", str(bad), "--to", "json"])
    assert result.exit_code == 1
    assert "broken.mmd: line 2" in result.output
    missing = CliRunner().invoke(main, ["convert", str(tmp_path / "nope.json"), "--to", "dot"])
    assert missing.exit_code == 1 and "nope.json: cannot read: no such file" in missing.output


def test_bad_stdin_is_named_stdin():
    result = CliRunner().invoke(main, ["convert", "-", "--from", "json", "--to", "dot"], input="{nope")
    assert result.exit_code == 1 and "<stdin>: not JSON" in result.output


def every_command(group=main, prefix=()):
    for name, command in sorted(getattr(group, "commands", {}).items()):
        yield (*prefix, name)
        yield from every_command(command, (*prefix, name))


@pytest.mark.parametrize("command", [(), *every_command()], ids=lambda c: " ".join(c) or "flowparse")
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output and "Show this message and exit." in result.output


def test_installed_console_script_runs():
    # The entry point a user types, in a real process (catches packaging mistakes).
    exe = Path(sys.executable).with_name("flowparse")
    done = subprocess.run([str(exe), "convert", ORDER, "--to", "mermaid"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("flowchart TD\n")
