"""``flowparse model``: checkpoint housekeeping (import of original InternVL2 checkpoints, ...).

Light at import: click only; torch and transformers are imported by the commands.
"""

from __future__ import annotations

import click

__all__ = ["model"]


@click.group()
def model() -> None:
    """Manage InternVL checkpoints (import, merge)."""


@model.command("import")
@click.argument("src", type=click.Path(file_okay=False))
@click.argument("dst", type=click.Path(file_okay=False))
def import_command(src: str, dst: str) -> None:
    """Convert an original InternVL2 chat checkpoint SRC into a native one in DST.

    SRC is a folder in OpenGVLab's layout (InternVL2-1B/2B/4B/8B or a model fine-tuned with
    InternVL's scripts, safetensors weights). DST must be new or empty. Example:

        flowparse model import ./InternVL2-1B ./internvl2-1b-native
    """
    from flowparse.backends.internvl.convert import import_checkpoint
    from flowparse.cli import fail
    from flowparse.errors import FlowparseError

    try:
        out = import_checkpoint(src, dst)
    except FlowparseError as e:
        fail(e)
    click.echo(f"imported {src} -> {out}")
