"""What the harness agrees to read, build and train: every bound a spec is checked against.

The fast tier builds and runs every spec, `--shard` costs every spec and a reproduction trains it, so a
spec must be refused from its shapes alone, before anything is allocated, when it would only exhaust
memory or time. Each bound sits one to two orders of magnitude above the largest spec of the five
audited READMEs (0.9 MiB of activations and 75 MFLOPs per sample, 593,200 parameters, 31 layers,
20 epochs), so a real MNIST iteration never meets one.
"""

from __future__ import annotations

MAX_SPEC_BYTES = 1 << 20           # a spec file (the largest audited spec is about 4 KiB)
MAX_EXTENDS_DEPTH = 16             # files in one `extends` chain
MAX_YAML_DEPTH = 32                # values nested in values (the deepest spec nests 5)
MAX_INT = 2**31 - 1                # any integer of a spec: past this, arithmetic on it only overflows
MNIST_INPUT = (1, 28, 28)          # what the data pipeline feeds every model
MNIST_TRAIN_SAMPLES = 60_000       # MNIST's training images: also the largest batch that means anything
MNIST_TEST_SAMPLES = 10_000
MAX_LAYERS = 256
MAX_PARAMETERS = 50_000_000
MAX_ACTIVATION_BYTES = 16 << 20    # float32 outputs of every layer for one sample (kept for the backward pass)
MAX_FLOPS = 2_000_000_000          # forward FLOPs (2 x multiply-accumulates) for one sample
MAX_EPOCHS = 200
MAX_SEEDS = 100

# How one spec names another (`extends`, a comparison's `other`, a spec id on the command line): a name in
# the same folder or slug/name, no leading dot or slash, so a reference cannot climb out of the spec root.
SPEC_REF_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,99})?$"


def mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"
