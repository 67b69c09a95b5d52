"""Where LARNet Studio keeps its own files (sessions database, uploaded models, caches)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "data_dir", "cache_dir", "demo_checkpoint_path", "write_atomic"]

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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all at once: into a temporary file beside it, then renamed over it, so a reader
    (or a process killed half-way) never sees a partial file. Creates the parent folder.

    Raises:
        OSError: the folder cannot be created or written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
