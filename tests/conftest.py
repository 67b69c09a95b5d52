"""Shared test fixtures. Tests make every file they need; nothing is downloaded."""

from __future__ import annotations

import os

import pytest
import torch

# Two cores: keep intra-op threads bounded so parallel helpers (dataloaders, browsers) do not thrash.
torch.set_num_threads(2)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip when a system dependency is missing on a laptop, but fail in CI where it must be present."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run, install the dependency)")
    pytest.skip(reason)
