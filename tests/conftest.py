"""Fixtures of the unit tests."""

import pytest
import torch
from _support import synthetic_mnist

from harness.data import MNIST


@pytest.fixture(scope="session")
def tiny_mnist() -> MNIST:
    return synthetic_mnist()


@pytest.fixture(scope="module")
def one_thread():
    """For modules of tiny tensors: intra-op threads only add contention (seconds on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
