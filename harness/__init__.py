"""Audit the claims of MNIST READMEs: specs, models, training, verdicts, reports."""

__version__ = "0.1.0"
