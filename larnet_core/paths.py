"""Where LARNet Studio keeps its own files (sessions database, uploaded models, caches)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "data_dir", "cache_dir", "demo_checkpoint_path"]

DATA_DIR_ENV = "LARNET_DATA_DIR"


def data_dir() -> Path:
    """The directory for LARNet's own files: ``$LARNET_DATA_DIR``, else ``~/.larnet``. Not created here."""
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".larnet"


def cache_dir(kind: str) -> Path:
    """A cache folder under :func:`data_dir` (e.g. ``cache/onnx``); deleting it only costs recomputation."""
    return data_dir() / "cache" / kind


def demo_checkpoint_path() -> Path:
    """The bundled demo model (trained on synthetic faces) in the source tree's ``assets/models``."""
    return Path(__file__).resolve().parents[1] / "assets" / "models" / "larnet-lite-demo.pt"
