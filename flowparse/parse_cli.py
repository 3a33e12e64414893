"""``flowparse parse``: images, folders and PDFs to graph files, with a manifest.

Light at import (click only): the pipeline and the backends load when the command runs.
"""

from __future__ import annotations

import sys

import click

__all__ = ["parse_command"]

_FORMAT_HELP = "json, mermaid, dot, overlay (a PNG with the graph drawn on the image)"


def _split_formats(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """``-f json,mermaid -f dot`` -> ('json', 'mermaid', 'dot')."""
    return tuple(f for v in value for f in v.split(",") if f.strip()) or ("json",)


def _backend_options(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict:
    """``-O cache=static -O max_new_tokens=1500`` -> {'cache': 'static', 'max_new_tokens': 1500}."""
    options = {}
    for item in value:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE")
        options[key.strip()] = _scalar(raw.strip())
    return options


def _scalar(raw: str):
    """A JSON scalar (1500, 0.5, true, null, "text") as such; anything else stays the string."""
    import json

    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return raw if isinstance(value, (dict, list)) else value


def _check_pages(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from flowparse.documents import parse_page_spec

    try:
        parse_page_spec(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    return value


def _stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so temporary files are removed and workers are stopped."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@click.command("parse")
@click.argument("inputs", metavar="IMAGES...", nargs=-1, required=True)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option(
    "-f",
    "--format",
    "formats",
    multiple=True,
    callback=_split_formats,
    help=f"Output formats, comma-separated: {_FORMAT_HELP}. [default: json]",
)
@click.option(
    "--backend",
    default="auto",
    show_default=True,
    help="Detector: classical, internvl, or auto (internvl when a model is given).",
)
@click.option("--model", default=None, help="InternVL checkpoint (folder or hub id) for the internvl backend.")
@click.option(
    "-O",
    "--option",
    "options",
    multiple=True,
    callback=_backend_options,
    metavar="KEY=VALUE",
    help="A backend option (repeatable), e.g. -O cache=static -O max_new_tokens=1500 for internvl.",
)
@click.option("--pages", default=None, callback=_check_pages, help="PDF pages, e.g. 1,3-5 or 2- (default: all).")
@click.option(
    "--dpi",
    default=None,
    type=click.FloatRange(min=10, max=1200),
    help="Resolution PDF pages are rendered at. [default: 200]",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes (classical detector; each loads its own).",
)
@click.option(
    "--batch-size",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Images per model call (InternVL on a GPU).",
)
@click.option("--resume", is_flag=True, help="Skip inputs the manifest records as done whose outputs all exist.")
@click.option(
    "--figures",
    is_flag=True,
    help="Parse the flowcharts found on each page (not the body text); outputs <stem>-f1.json, ...",
)
@click.option(
    "--glob",
    "globs",
    multiple=True,
    help="Files a folder contributes, e.g. '*.png' (repeatable). [default: images and PDFs]",
)
@click.option(
    "--keep-folders",
    is_flag=True,
    help="Write a folder's outputs under OUTPUT/<folder name>/ (for folders whose files share names).",
)
@click.option(
    "--manifest", default=None, type=click.Path(dir_okay=False), help="Manifest path. [default: OUTPUT/manifest.jsonl]"
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show counts and rate on stderr.")
def parse_command(
    inputs,
    out_dir,
    formats,
    backend,
    model,
    options,
    pages,
    dpi,
    workers,
    batch_size,
    resume,
    figures,
    globs,
    keep_folders,
    manifest,
    progress,
):
    """Parse flowchart images, folders and PDFs into graph files.

    IMAGES are image files, folders (searched recursively), PDFs (every page, or --pages) or -
    for stdin. Each image becomes OUTPUT/<stem>.json (OUTPUT/<stem>-p3.json for page 3 of a
    PDF) in every format asked for, and OUTPUT/manifest.jsonl gets one line per input.

    Exit status: 0 all inputs parsed, 1 some failed (see the manifest), 2 usage error.

    Example: flowparse parse scans/ report.pdf --pages 1,3-5 -o out -f json,mermaid --workers 2
    """
    from flowparse.pipeline import PipelineSetupError, run_pipeline

    _stop_on_sigterm()
    try:
        summary = run_pipeline(
            inputs, out_dir, formats=formats, backend=backend, model=model, options=options, pages=pages, dpi=dpi,
            workers=workers, batch_size=batch_size, resume=resume, figures=figures, globs=globs,
            keep_folders=keep_folders, manifest=manifest, progress=progress,
        )  # fmt: skip
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    except PipelineSetupError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted: finished inputs are in the manifest; rerun with --resume", err=True)
        sys.exit(130)
    click.echo(
        f"{summary.ok} parsed, {summary.failed} failed, {summary.skipped} already done "
        f"in {summary.seconds:.1f} s; manifest: {summary.manifest}",
        err=True,
    )
    sys.exit(summary.exit_code)
