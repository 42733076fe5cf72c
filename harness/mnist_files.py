"""What MNIST is: its four files, their canonical checksums and sizes, and the one error about them.

Shared by the loader (harness.data) and the downloader (harness.download), each of which imports only this,
so neither imports the other at module level.
"""

from __future__ import annotations

import math

ENV_VAR = "MNIST_ROOT"

# name -> (sha256 of the decompressed file, IDX magic, shape)
FILES = {
    "train-images-idx3-ubyte": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 0x803, (60000, 28, 28)),
    "train-labels-idx1-ubyte": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 0x801, (60000,)),
    "t10k-images-idx3-ubyte": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 0x803, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 0x801, (10000,)),
}

HOW_TO_PROVIDE = (
    "Point the harness at a folder holding the four MNIST IDX files (gzip or raw): "
    f"set {ENV_VAR}=/path/to/mnist or pass --data-root (in CI: ../shared/data/mnist). "
    "With the network, `python -m harness download DIR` fetches and verifies them."
)
CACHE_SUBDIR = "mnist"  # with neither --data-root nor MNIST_ROOT: $AUDIT_CACHE_DIR/mnist, fetched once


def decompressed_size(name: str) -> int:
    """The canonical size of a decompressed MNIST file: its IDX header plus one byte per value."""
    _, _, shape = FILES[name]
    return 4 + 4 * len(shape) + math.prod(shape)


class DataError(RuntimeError):
    """MNIST is missing or damaged; the message names the file and what to do."""
