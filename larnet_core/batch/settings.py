"""How a batch analyses its clips, and the hashes that decide whether a finished clip can be kept.

A clip's result is reused when its input's content hash and the batch's settings hash (the analysis settings
plus the model file's SHA-256) both match what its completion marker recorded. How the work is spread (workers,
threads, Ray) is not part of the settings: it does not change a result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from larnet_core.errors import LarnetError

__all__ = ["BATCH_FORMAT", "BatchSettings", "settings_sha256", "content_sha256", "input_stat"]

#: Version of the batch output layout; part of the settings hash, so a new layout redoes old results.
BATCH_FORMAT = 1


@dataclass(frozen=True)
class BatchSettings:
    """The analysis settings of every clip of a batch (as ``larnet analyze``'s options).

    Attributes:
        face: face mode (``auto``, ``mediapipe``, ``mtcnn``, ``haar``, ``none``).
        all_faces: rows and intervals for every face track, not only the main face.
        fps: frame rate of image sequences (zips or folders of frames); None: the reader's default.
        max_infer_fps: run the model on at most this many frames a second (None or 0: every frame).
        threshold_p: spotting threshold position p (None: the default).
        max_frames: refuse clips with more frames than this (None: the default limit).
        max_seconds: refuse clips longer than this (None: the default limit).
        backend: inference backend (``auto``: ONNX Runtime on CPU).
    """

    face: str = "auto"
    all_faces: bool = False
    fps: float | None = None
    max_infer_fps: float | None = 60.0
    threshold_p: float | None = None
    max_frames: int | None = None
    max_seconds: float | None = None
    backend: str = "auto"

    def __post_init__(self) -> None:
        from larnet_core.face.inputs import FACE_MODES

        if self.face not in FACE_MODES:
            raise LarnetError(f"unknown face mode {self.face!r}; use one of {', '.join(FACE_MODES)}")
        if self.backend not in ("auto", "torch", "onnxruntime"):
            raise LarnetError(f"unknown backend {self.backend!r}; use auto, torch or onnxruntime")
        for name in ("fps", "max_infer_fps", "max_seconds"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise LarnetError(f"{name} must be a positive number, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def analyze_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~larnet_core.video.analyze_clip` for these settings."""
        from larnet_core.video import analysis_limits

        limits, spotting = analysis_limits(self.max_frames, self.max_seconds, self.threshold_p)
        return {"face": self.face, "all_faces": self.all_faces, "fps": self.fps, "limits": limits,
                "spotting": spotting, "max_infer_fps": self.max_infer_fps or None}


def settings_sha256(settings: BatchSettings, model_sha256: str) -> str:
    """The hash a finished clip's marker must match: layout version, analysis settings, model file, code version."""
    from larnet_core import __version__

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
    from larnet_core.batch.inputs import MAX_CLIP_BYTES, BatchInputError
    from larnet_core.paths import sha256_input

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
