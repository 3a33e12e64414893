"""The step plan: every sample once per epoch, split over ranks, deterministic for resume."""

from __future__ import annotations

import pytest
from flowparse.training.recipes.batching import epoch_batches, plan_steps


def _samples(steps, rank=None):
    return [
        pos
        for s in steps
        for ranks in ([s.all_ranks[rank]] if rank is not None else s.all_ranks)
        for micro in ranks
        for _, pos in micro
    ]


@pytest.mark.parametrize(
    "n, per_device, world, acc, expected_steps",
    [(16, 4, 1, 1, 4), (16, 2, 2, 2, 2), (10, 2, 1, 2, 3), (17, 2, 2, 1, 4)],  # plain; DDP+acc; short last; ragged
)
def test_every_sample_once_per_epoch_split_across_ranks(n, per_device, world, acc, expected_steps):
    steps = plan_steps(list(range(n)), per_device=per_device, world_size=world, accumulation=acc, epochs=1, seed=3)
    assert len(steps) == expected_steps
    seen = _samples(steps)
    usable = n - n % (per_device * world) if n % (per_device * world) < world else n
    assert len(seen) == len(set(seen)) == usable  # no repeats; a batch too small for every rank is left out
    if world > 1:
        per_rank = [set(_samples(steps, r)) for r in range(world)]
        assert not per_rank[0] & per_rank[1]
        rank1 = plan_steps(
            list(range(n)), per_device=per_device, world_size=world, accumulation=acc, epochs=1, seed=3, rank=1
        )
        assert [s.micro_batches for s in rank1] == [s.all_ranks[1] for s in steps]


def test_plan_is_a_pure_function_of_seed_and_epoch():
    a = plan_steps(list(range(20)), per_device=2, world_size=1, accumulation=2, epochs=3, seed=5)
    b = plan_steps(list(range(20)), per_device=2, world_size=1, accumulation=2, epochs=3, seed=5)
    c = plan_steps(list(range(20)), per_device=2, world_size=1, accumulation=2, epochs=3, seed=6)
    assert a == b and a != c
    assert a[0].micro_batches != a[5].micro_batches  # each epoch is reshuffled
    assert {s.epoch for s in a} == {0, 1, 2}


@pytest.mark.parametrize("epochs, max_steps, expected", [(1.5, -1, 15), (0.5, -1, 5), (1, 25, 25)])
def test_fractional_epochs_and_max_steps(epochs, max_steps, expected):
    steps = plan_steps(
        list(range(10)), per_device=1, world_size=1, accumulation=1, epochs=epochs, seed=0, max_steps=max_steps
    )
    assert len(steps) == expected and [s.index for s in steps] == list(range(expected))


def test_group_by_length_puts_similar_lengths_together_and_the_longest_first():
    lengths = [10, 500, 12, 480, 11, 490, 9, 470]
    batches = epoch_batches(lengths, 2, epoch=0, seed=1, group_by_length=True)
    assert 500 in [lengths[i] for i in batches[0]]
    assert all(abs(lengths[a] - lengths[b]) < 100 for a, b in batches)


def test_deepspeed_plans_drop_the_short_last_window():
    steps = plan_steps(
        list(range(10)), per_device=2, world_size=1, accumulation=2, epochs=1, seed=0, drop_short_window=True
    )
    assert len(steps) == 2 and all(len(s.micro_batches) == 2 for s in steps)
