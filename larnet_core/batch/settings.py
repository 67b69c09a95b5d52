"""How a batch analyses its clips, and the hashes that decide whether a finished clip can be kept.

A clip's result is reused when its input's content hash and the batch's settings hash (the analysis settings
plus the model file's SHA-256) both match what its completion marker recorded. How the work is spread (workers,
threads, Ray) is not part of the settings: it does not change a result.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from larnet_core import __version__
from larnet_core.batch.inputs import MAX_CLIP_BYTES, BatchInputError
from larnet_core.paths import sha256_input
from larnet_core.video.settings import AnalysisSettings

__all__ = ["BATCH_FORMAT", "AnalysisSettings", "BatchSettings", "settings_sha256", "content_sha256", "input_stat"]

#: Version of the batch output layout; part of the settings hash, so a new layout redoes old results.
BATCH_FORMAT = 1


#: A batch's analysis settings are a clip's: one type (``BatchSettings`` is its name in batch code).
BatchSettings = AnalysisSettings


def settings_sha256(settings: BatchSettings, model_sha256: str) -> str:
    """The hash a finished clip's marker must match: layout version, analysis settings, model file, code version."""
    payload = {"format": BATCH_FORMAT, "settings": settings.to_dict(), "model_sha256": model_sha256,
               "version": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def content_sha256(path: str | Path, data: bytes | None = None) -> str:
    """SHA-256 of a clip's content: a file's bytes (``data`` when already read), or for a folder of frames every
    file's relative name and content, in name order."""
    if data is not None:
        return hashlib.sha256(data).hexdigest()
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(item.relative_to(path).as_posix().encode() + b"\0")
            digest.update(_file_digest(item))
        return digest.hexdigest()
    return _file_digest(path).hex()


def _file_digest(path: Path) -> bytes:
    # Streamed and bounded; a device or FIFO is refused instead of read for ever.
    return bytes.fromhex(sha256_input(path, str(path), max_bytes=MAX_CLIP_BYTES, error=BatchInputError))


def input_stat(path: str | Path) -> dict[str, int]:
    """Size and modification time of a clip (a folder: of its newest file and total size), recorded so a rerun
    can skip hashing inputs that have not been touched."""
    path = Path(path)
    if path.is_dir():
        stats = [p.stat() for p in path.rglob("*") if p.is_file()]
        return {"size": sum(s.st_size for s in stats), "mtime_ns": max((s.st_mtime_ns for s in stats), default=0),
                "files": len(stats)}
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "files": 1}
