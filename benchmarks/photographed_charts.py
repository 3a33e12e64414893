"""Synthetic charts photographed: each chart of a set printed on the data engine's "photo" paper.

The degraded sets mix a photo into about one chart in eleven, together with rotations and
blur; this set holds the light alone (a gradient, a vignette and a colour cast, multiplied into
page and ink, plus grain), on the same charts and truth as the clean set it comes from, so a
change to how the detector copes with uneven light is measured on its own.

    flowparse data synth -n 100 -o /tmp/gv --seed 11300 --degrade 0 --renderer graphviz
    python benchmarks/photographed_charts.py /tmp/gv /tmp/pil -o /tmp/photo --limit 50 --seed 11300
    python benchmarks/bench_classical.py /tmp/photo --threads 1
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image


def photographed(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """``image`` printed on a sheet under the light of a photo (the data engine's paper)."""
    from flowparse.training.synth.degrade import paper_background

    paper = paper_background(image.size, "photo", rng)
    ink = np.asarray(image.convert("RGB"), np.float32) / 255.0
    return Image.fromarray((np.clip(ink * paper, 0, 1) * 255 + 0.5).astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", type=Path, nargs="+", help="synthetic sets (images/, truth/, synth.json)")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=0, help="charts per set (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    (args.out / "truth").mkdir(exist_ok=True)
    charts = []
    for k, folder in enumerate(args.sets):
        meta = {c["id"]: c for c in json.loads((folder / "synth.json").read_text(encoding="utf-8"))["charts"]}
        images = sorted((folder / "images").glob("*.png"))
        for path in images[: args.limit or None]:
            name = f"{k}-{path.stem}"  # ids of two sets of one seed collide
            with Image.open(path) as image:
                photographed(image, rng).save(args.out / "images" / f"{name}.png")
            shutil.copyfile(folder / "truth" / f"{path.stem}.json", args.out / "truth" / f"{name}.json")
            charts.append({**meta[path.stem], "id": name, "degradations": ["paper:photo"]})
    summary = {"options": {"sources": [str(s) for s in args.sets], "seed": args.seed}, "charts": charts}
    (args.out / "synth.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"wrote {len(charts)} photographed charts to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
