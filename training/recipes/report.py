"""The run's record: ``metrics.jsonl`` (one JSON line per logged step) and ``loss_curve.png``.

Both are written next to every checkpoint and in the output folder at the end, so any
checkpoint can be judged without the run's terminal.

>>> log = MetricsLog("runs/x/metrics.jsonl")   # doctest: +SKIP
>>> log.append({"step": 1, "loss": 2.5})        # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

__all__ = ["MetricsLog", "plot_loss_curve"]


class MetricsLog:
    """An append-only JSON-lines log that a resumed run cuts back to its checkpoint's step."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def append(self, row: dict) -> None:
        """Add one line (flushed at once, so a crash loses at most the line being written)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def rows(self) -> list[dict]:
        """Every complete line (a half-written last line after a crash is ignored)."""
        if not self.path.is_file():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

    def truncate_after(self, step: int) -> None:
        """Keep only the lines up to ``step``: a resumed run logs the later steps again."""
        from flowparse.files import write_text_atomic

        kept = [r for r in self.rows() if r.get("step", 0) <= step]
        write_text_atomic(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))

    def copy_to(self, folder: Path) -> None:
        """A copy next to a checkpoint."""
        if self.path.is_file():
            shutil.copyfile(self.path, folder / self.path.name)


def plot_loss_curve(rows: list[dict], out: str | os.PathLike, *, title: str = "training loss") -> Path | None:
    """Loss (and learning rate on a second axis) against step, as a PNG; ``None`` without rows.

    >>> plot_loss_curve([], "x.png") is None
    True
    """
    points = [(r["step"], r["loss"]) for r in rows if "loss" in r and "step" in r]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps, losses = zip(*points)
    ax.plot(steps, losses, color="tab:blue", linewidth=1.2, label="loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("token cross-entropy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    lrs = [(r["step"], r["lr"]) for r in rows if "lr" in r]
    if lrs:
        twin = ax.twinx()
        twin.plot(*zip(*lrs), color="tab:orange", linewidth=0.8, alpha=0.7, label="learning rate")
        twin.set_ylabel("learning rate")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
