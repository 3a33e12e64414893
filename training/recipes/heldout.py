"""The optional held-out evaluation at the end of a run: parse the held-out charts with the new
checkpoint through the public ``parse`` API, then score them with the evaluation harness.

>>> evaluate_checkpoint("runs/tiny", "heldout/images", "heldout/truth", "runs/tiny/eval")  # doctest: +SKIP
{'predictions': 20, 'failed': 0, 'node_f1': 0.97, ...}
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "evaluate_checkpoint"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def evaluate_checkpoint(
    checkpoint: str | os.PathLike, images: str | os.PathLike, truth: str | os.PathLike, out: str | os.PathLike
) -> dict:
    """Predictions for every image of ``images`` written to ``out/pred/<stem>.json``, scored against
    ``truth/<stem>.json`` by ``flowparse.evaluation`` (the harness of ``flowparse eval``), with its
    Markdown report in ``out/report.md``; returns the headline figures."""
    from flowparse.converters.json_graph import write_json

    from flowparse.api import load
    from flowparse.errors import FlowparseError
    from flowparse.evaluation import evaluate_dirs, write_report

    pred_dir = Path(out) / "pred"
    pred_dir.mkdir(parents=True, exist_ok=True)
    parser = load(backend="internvl", model=str(checkpoint))
    paths = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    failed = 0
    for path in paths:
        try:
            write_json(parser.parse(path), pred_dir / f"{path.stem}.json")
        except FlowparseError:
            failed += 1  # the harness scores a missing prediction as empty

    report = evaluate_dirs(truth, pred_dir)
    write_report(report, Path(out) / "report.md")
    return {
        "predictions": len(paths) - failed,
        "failed": failed,
        "node_f1": report["nodes"]["f1"],
        "edge_f1": report["edges"]["f1"],
        "shape_accuracy": report["shape_accuracy"],
        "text_exact": report["text_exact"],
        "diagram_exact": report["diagram_exact"],
        "report": str(Path(out) / "report.md"),
    }
