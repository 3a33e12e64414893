"""Commands of the data engine and the harness: ``data synth``, ``data export``, ``draw``, ``eval``.

Light at import (click only); the work is imported inside each command.
"""

from __future__ import annotations

import json
import sys

import click

__all__ = ["data", "draw", "eval_command", "COMMANDS", "register_data_commands"]


def _fail(error) -> None:
    from flowparse.cli import fail

    fail(error)


@click.group()
def data() -> None:
    """Synthetic flowcharts with exact truth, and training-data exports."""


@data.command()
@click.option("--count", "-n", type=click.IntRange(min=1), required=True, help="Number of charts.")
@click.option("--out", "-o", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same files (any --workers).")
@click.option("--workers", "-j", type=click.IntRange(min=1), default=1, show_default=True, help="Processes.")
@click.option("--renderer", "renderers", default="graphviz,pil", show_default=True,
              help="Comma-separated: graphviz, pil, mermaid, or 'all'.")
@click.option("--min-nodes", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--max-nodes", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--degrade", type=click.FloatRange(0, 2), default=1.0, show_default=True,
              help="Degradation strength: 0 clean, 1 the usual mix.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="Index of the first chart.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def synth(count, out, seed, workers, renderers, min_nodes, max_nodes, degrade, start, quiet) -> None:
    """Generate COUNT charts: OUT/images/<id>.png and OUT/truth/<id>.json.

    Example: flowparse data synth --count 1000 --out data/synth --seed 1 --workers 2
    """
    from flowparse.errors import FlowparseError
    from flowparse.training.synth import RENDERERS, SynthOptions, generate

    names = RENDERERS if renderers.strip() == "all" else tuple(r.strip() for r in renderers.split(",") if r.strip())
    unknown = [r for r in names if r not in RENDERERS]
    if unknown or not names:
        raise click.BadParameter(f"unknown renderer {', '.join(unknown)} (expected {', '.join(RENDERERS)} or all)",
                                 param_hint="--renderer")
    if min_nodes > max_nodes:
        raise click.BadParameter("--min-nodes is larger than --max-nodes", param_hint="--min-nodes")
    options = SynthOptions(count=count, seed=seed, renderers=names, min_nodes=min_nodes, max_nodes=max_nodes,
                           degrade=degrade, start=start)
    done = [0]
    on_terminal = sys.stderr.isatty()
    step = max(1, count // 10)  # a log file gets about ten plain lines, a terminal one live line

    def progress(info: dict) -> None:
        done[0] += 1
        if quiet:
            return
        if on_terminal:
            click.echo(f"\r{done[0]}/{count} charts", nl=False, err=True)
        elif done[0] % step == 0 or done[0] == count:
            click.echo(f"{done[0]}/{count} charts", err=True)

    try:
        generate(out, options, workers=workers, progress=progress)
    except FlowparseError as e:
        _fail(e)
    if not quiet and on_terminal:
        click.echo("", err=True)
    click.echo(f"wrote {count} charts to {out}")


@data.command("export")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(("internvl", "swift", "coco")), required=True)
@click.option("--out", "-o", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--tasks", default="detection,grounding,graph", show_default=True,
              help="Comma-separated task kinds (internvl, swift).")
@click.option("--name", default="flowcharts", show_default=True, help="Dataset name (file names, meta key).")
@click.option("--seed", type=int, default=0, show_default=True, help="Picks prompt paraphrases and texts to ground.")
@click.option("--repeat-time", type=float, default=1.0, show_default=True, help="InternVL meta repeat_time.")
def export_command(folder, fmt, out, tasks, name, seed, repeat_time) -> None:
    """Export a synth folder as InternVL / ms-swift / COCO training data.

    Example: flowparse data export data/synth --format internvl --out data/internvl
    """
    from flowparse.errors import FlowparseError
    from flowparse.training.export import TASKS, export

    task_list = tuple(t.strip() for t in tasks.split(",") if t.strip())
    if not task_list or any(t not in TASKS for t in task_list):
        raise click.BadParameter(f"expected some of {', '.join(TASKS)}", param_hint="--tasks")
    try:
        summary = export(folder, fmt, out, tasks=task_list, seed=seed, name=name, repeat_time=repeat_time)
    except FlowparseError as e:
        _fail(e)
    click.echo(json.dumps(summary))


@click.command()
@click.argument("image", type=click.Path())
@click.argument("graph", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output PNG.")
def draw(image, graph, output) -> None:
    """Draw GRAPH.json over IMAGE (boxes, shapes, texts, edges) into OUT.png.

    Example: flowparse draw chart.png chart.json -o check.png
    """
    from PIL import Image, UnidentifiedImageError

    from flowparse.converters.json_graph import read_json
    from flowparse.errors import FlowparseError, InputError
    from flowparse.overlay import draw_graph

    try:
        G = read_json(graph)
        try:
            picture = Image.open(image)
            picture.load()
        except FileNotFoundError:
            raise InputError("cannot read: no such file", source=image) from None
        except (UnidentifiedImageError, OSError) as e:
            raise InputError(f"not an image ({e.__class__.__name__})", source=image) from None
        draw_graph(picture, G).save(output)
    except FlowparseError as e:
        _fail(e)


@click.command("eval")
@click.argument("truth_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("pred_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print all metrics as JSON.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write a Markdown report (+ confusion PNG).")
@click.option("--iou", type=click.FloatRange(0.05, 1.0), default=0.5, show_default=True, help="Node match IoU.")
def eval_command(truth_dir, pred_dir, as_json, report, iou) -> None:
    """Score predicted graph JSON files against truth files of the same names.

    Missing or broken predictions score as empty. Example: flowparse eval truth/ pred/ --report eval.md
    """
    from flowparse.errors import FlowparseError
    from flowparse.evaluation import evaluate_dirs, write_report

    try:
        result = evaluate_dirs(truth_dir, pred_dir, iou=iou)
    except FlowparseError as e:
        _fail(e)
    if report:
        write_report(result, report)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=1))
        return
    n, e = result["nodes"], result["edges"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    click.echo(f"diagrams {result['diagrams']}  broken predictions {len(result['broken'])}")
    click.echo(f"nodes  P {fmt(n['precision'])}  R {fmt(n['recall'])}  F1 {fmt(n['f1'])}  "
               f"mAP {fmt(result['map']['map'])}")
    click.echo(f"shape acc {fmt(result['shape_accuracy'])}  text exact {fmt(result['text_exact'])}  "
               f"CER {fmt(result['text_cer'])}")
    click.echo(f"edges  P {fmt(e['precision'])}  R {fmt(e['recall'])}  F1 {fmt(e['f1'])}  "
               f"label acc {fmt(result['edge_label_accuracy'])}  arrow acc {fmt(result['arrow_accuracy'])}")
    g = result["subgraphs"]
    if g["tp"] + g["fp"] + g["fn"]:  # only for sets with groups, found or claimed
        click.echo(f"groups P {fmt(g['precision'])}  R {fmt(g['recall'])}  F1 {fmt(g['f1'])}  "
                   f"title acc {fmt(result['subgraph_title_accuracy'])}")
    click.echo(f"diagram exact {fmt(result['diagram_exact'])}")
    sys.stdout.flush()


#: The commands this module adds to the ``flowparse`` group.
COMMANDS = (data, draw, eval_command)


def register_data_commands(group: click.Group) -> None:
    """Add ``data``, ``draw`` and ``eval`` to ``group`` (flowparse/cli.py calls this once)."""
    for command in COMMANDS:
        group.add_command(command)
