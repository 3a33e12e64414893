"""Fixtures shared by every test folder."""

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests: the suite's budget is one core of a shared 2-core box,
    where thread contention makes tiny models 5-10x slower (and results must hold there)."""
    import torch  # only the modules that ask for this fixture pay for torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
