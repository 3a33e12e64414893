"""``flowparse train CONFIG.yaml [key=value ...]``: run a training recipe.

One process: ``flowparse train training/configs/internvl2_1b_lora.yaml model=... meta_path=...``.
Several GPUs: ``torchrun --nproc_per_node=8 -m flowparse.training.cli CONFIG.yaml [key=value ...]``
or ``deepspeed --num_gpus=8 --module flowparse.training.cli CONFIG.yaml ...``. Light at import: click only.
"""

from __future__ import annotations

import click

__all__ = ["train"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
# The deepspeed launcher appends --local_rank=N; the rank comes from the environment anyway.
@click.option("--local_rank", "--local-rank", "local_rank", type=int, default=None, hidden=True)
def train(config: str, overrides: tuple[str, ...], local_rank: int | None) -> None:
    """Fine-tune InternVL with the recipe in CONFIG (a YAML under training/configs/).

    OVERRIDES are key=value pairs that replace the YAML's values, e.g.

        flowparse train training/configs/internvl2_2b_lora.yaml model=work/InternVL2-2B
        meta_path=work/data/meta.json output_dir=work/runs/2b-lora max_steps=100

    A run resumes from the last checkpoint in output_dir. Progress goes to stderr; losses to
    output_dir/metrics.jsonl, with loss_curve.png next to every checkpoint.
    """
    import os

    from flowparse.training.config import load_config
    from flowparse.training.recipes import run_recipe

    from flowparse.cli import fail
    from flowparse.errors import FlowparseError

    # Samples are tokenised before the data-loader workers fork; tokenizers' own threads would
    # then be disabled with a warning per worker, so say so once, up front.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        cfg = load_config(config, overrides)
        for key in ("model", "meta_path", "output_dir"):
            if not getattr(cfg, key):
                raise click.UsageError(f"{config}: {key} is empty (set it in the YAML or as {key}=...)")
        run_recipe(cfg)
    except FlowparseError as e:
        fail(e)


if __name__ == "__main__":  # torchrun -m flowparse.training.cli CONFIG.yaml ...
    train()
