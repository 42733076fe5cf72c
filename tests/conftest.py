"""Fixtures of the unit tests."""

import pytest
from _support import synthetic_mnist

from harness.data import MNIST


@pytest.fixture(scope="session")
def tiny_mnist() -> MNIST:
    return synthetic_mnist()
