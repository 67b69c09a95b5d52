"""Marks shared by the test files: a test that needs MediaPipe's face mesh is skipped, with the reason, where the
installed MediaPipe cannot be imported."""

from __future__ import annotations

import pytest

from larnet_core.errors import LarnetError
from larnet_core.face import mesh as mesh_module

try:
    mesh_module.import_mediapipe()
    MEDIAPIPE_ERROR = ""
except LarnetError as exc:  # pragma: no cover - depends on the installation
    MEDIAPIPE_ERROR = str(exc)

needs_mediapipe = pytest.mark.skipif(bool(MEDIAPIPE_ERROR), reason=f"mediapipe cannot be imported: {MEDIAPIPE_ERROR}")
