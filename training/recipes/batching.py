"""Which samples go into which micro-batch, on which device, at which step: a pure function of
the plan, the seed and the epoch, so a resumed run (or another rank) recomputes it exactly.

>>> steps = plan_steps([5, 9, 3, 7], per_device=2, world_size=1, accumulation=1, epochs=1.0, seed=0)
>>> [len(s.micro_batches[0]) for s in steps]
[2, 2]
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Step", "epoch_batches", "plan_steps", "MEGABATCH_FACTOR"]

#: Length grouping sorts within windows of per-device x devices x 50 samples, as transformers'
#: ``LengthGroupedSampler`` does: batches of similar length, order still random at large scale.
MEGABATCH_FACTOR = 50


@dataclass(frozen=True)
class Step:
    """One optimizer step: for every rank, its micro-batches of ``(epoch, sample)`` pairs."""

    index: int
    epoch: int
    micro_batches: tuple[tuple[tuple[int, int], ...], ...]  # this rank's
    all_ranks: tuple[tuple[tuple[tuple[int, int], ...], ...], ...]  # [rank][micro] -> samples


def epoch_batches(
    lengths: Sequence[int], batch: int, *, epoch: int, seed: int, group_by_length: bool
) -> list[list[int]]:
    """The global batches (``batch`` = per-device x devices samples) of one epoch, shuffled by
    ``(seed, epoch)``; with ``group_by_length`` sorted by length inside each megabatch, the
    megabatch holding the longest sample first (an out-of-memory error shows at step one).

    >>> epoch_batches([1, 2, 3, 4], 2, epoch=0, seed=0, group_by_length=False)
    [[2, 3], [1, 0]]
    """
    order = list(range(len(lengths)))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    if group_by_length:
        size = batch * MEGABATCH_FACTOR
        megas = [sorted(order[k : k + size], key=lambda i: -lengths[i]) for k in range(0, len(order), size)]
        if megas:
            longest = max(range(len(megas)), key=lambda m: lengths[megas[m][0]])
            megas[0][0], megas[longest][0] = megas[longest][0], megas[0][0]
        order = [i for mega in megas for i in mega]
    return [order[k : k + batch] for k in range(0, len(order), batch)]


def plan_steps(
    lengths: Sequence[int],
    *,
    per_device: int,
    world_size: int,
    accumulation: int,
    epochs: float,
    seed: int,
    rank: int = 0,
    group_by_length: bool = False,
    max_steps: int = -1,
    drop_short_window: bool = False,
) -> list[Step]:
    """Every optimizer step of the run. A step takes ``accumulation`` global batches; each global
    batch is split across ranks (rank r takes samples r, r + world, ...). A fractional last epoch
    keeps that share of its steps; ``max_steps`` > 0 cycles epochs until that many steps.
    ``drop_short_window`` leaves out an epoch's last step when it has fewer than ``accumulation``
    batches (DeepSpeed counts accumulation by micro-batches and cannot take a short step).

    >>> len(plan_steps(list(range(10)), per_device=1, world_size=2, accumulation=2, epochs=1.5, seed=0))
    5
    """
    if not lengths:
        return []
    global_batch = per_device * world_size
    steps: list[Step] = []
    epoch = 0
    while True:
        batches = epoch_batches(lengths, global_batch, epoch=epoch, seed=seed, group_by_length=group_by_length)
        # A last batch too small to give every rank a sample is left out: a rank with nothing to
        # run would leave the others waiting in the gradient all-reduce.
        batches = [b for b in batches if len(b) >= world_size]
        windows = _windows(batches, accumulation)
        if drop_short_window:
            windows = [w for w in windows if len(w) == accumulation]
        if max_steps <= 0:
            share = min(max(epochs - epoch, 0.0), 1.0)
            windows = windows[: math.ceil(len(windows) * share - 1e-9)]
        for window in windows:
            ranks = tuple(
                tuple(tuple((epoch, i) for i in batch[r::world_size]) for batch in window) for r in range(world_size)
            )
            steps.append(Step(len(steps), epoch, ranks[rank], ranks))
            if 0 < max_steps <= len(steps):
                return steps
        epoch += 1
        if max_steps <= 0 and epoch >= epochs:
            return steps


def _windows(batches: list[list[int]], accumulation: int) -> list[list[list[int]]]:
    """Batches grouped per optimizer step; the last window may be short (it still steps)."""
    return [batches[k : k + accumulation] for k in range(0, len(batches), accumulation)]
