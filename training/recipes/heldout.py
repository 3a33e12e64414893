"""The optional held-out evaluation at the end of a run: parse the held-out charts with the new
checkpoint through the public ``parse`` API, then score them with the evaluation harness.

>>> evaluate_checkpoint("runs/tiny", "heldout/images", "heldout/truth", "runs/tiny/eval")  # doctest: +SKIP
{'predictions': 20, 'failed': 0, 'metrics': {...}}
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "evaluate_checkpoint"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def evaluate_checkpoint(checkpoint: str | os.PathLike, images: str | os.PathLike, truth: str | os.PathLike,
                        out: str | os.PathLike) -> dict:
    """Predictions for every image of ``images`` written to ``out/pred/<stem>.json``, scored against
    ``truth/<stem>.json`` by ``flowparse.evaluation`` (the harness of ``flowparse eval``)."""
    from flowparse.api import load
    from flowparse.converters.json_graph import write_json
    from flowparse.errors import FlowparseError

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
    result = {"predictions": len(paths) - failed, "failed": failed}
    result["metrics"] = _score(Path(truth), pred_dir)
    return result


def _score(truth: Path, pred: Path) -> dict:
    try:
        from flowparse.evaluation import evaluate_dirs
    except ImportError:
        return {"error": "flowparse.evaluation (the data engine's harness) is not installed in this build"}
    report = evaluate_dirs(truth, pred)
    return report if isinstance(report, dict) else getattr(report, "to_dict", lambda: {"report": str(report)})()
