"""The ``flowparse`` command line.

Exit codes: 0 success, 1 an input failed (the message names it), 2 usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from flowparse._version import __version__
from flowparse.errors import FlowparseError

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flowparse")
def main() -> None:
    """flowparse: flowchart images to graphs (networkx), DOT, JSON and Mermaid."""


def fail(error: FlowparseError) -> None:
    """Report a failed input on stderr and exit with status 1."""
    click.echo(f"error: {error}", err=True)
    sys.exit(1)


_FORMAT_NAMES = ("json", "dot", "mermaid")


def _format_of(path: str, given: str | None, what: str) -> str:
    from flowparse.converters import EXTENSIONS

    if given:
        return given
    if path != "-" and Path(path).suffix.lower() in EXTENSIONS:
        return EXTENSIONS[Path(path).suffix.lower()]
    raise click.UsageError(
        f"cannot tell the {what} format of {path!r}: name it with --{'from' if what == 'input' else 'to'}"
    )


@main.command()
@click.argument("input_path", metavar="IN")
@click.option(
    "--to", "to_format", type=click.Choice(_FORMAT_NAMES), help="Output format (default: from -o's extension)."
)
@click.option(
    "--from", "from_format", type=click.Choice(_FORMAT_NAMES), help="Input format (default: from IN's extension)."
)
@click.option("-o", "--output", default="-", show_default=True, help="Output file, or - for stdout.")
def convert(input_path: str, to_format: str | None, from_format: str | None, output: str) -> None:
    """Convert a graph file between JSON, DOT and Mermaid.

    IN is a file or - for stdin. Example: flowparse convert chart.json --to mermaid
    """
    from flowparse.converters import FORMATS
    from flowparse.converters._io import read_graph
    from flowparse.files import write_text_atomic

    source = _format_of(input_path, from_format, "input")
    target = _format_of(output, to_format, "output")
    to_text, from_text = FORMATS[target][0], FORMATS[source][1]
    try:
        if input_path == "-":
            try:
                G = from_text(sys.stdin.read())
            except FlowparseError as e:
                raise e.with_source("<stdin>") from None
        else:
            G = read_graph(input_path, from_text)
        text = to_text(G)
        if output == "-":
            click.echo(text, nl=not text.endswith("\n"))
        else:
            write_text_atomic(output, text)
    except FlowparseError as e:
        fail(e)


def _register_commands() -> None:
    """Commands live beside what they drive; each of their modules is light at import (click only)."""
    from flowparse.data_cli import register_data_commands
    from flowparse.model_cli import model
    from flowparse.parse_cli import parse_command
    from flowparse.training.cli import train
    from flowparse.training.merge import merge_command

    model.add_command(merge_command)
    for command in (parse_command, model, train):
        main.add_command(command)
    register_data_commands(main)  # data, draw, eval


_register_commands()

if __name__ == "__main__":
    main()
