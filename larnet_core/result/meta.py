"""What an analysed input is (:class:`ClipMeta`): a clip's name, frame rate, size, frame count and hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ClipMeta"]


@dataclass(frozen=True)
class ClipMeta:
    """What a clip is.

    Attributes:
        name: file or folder name (``"upload"`` for bytes without a name).
        fps: frames per second (declared by the container; the caller's or 200 for image sequences).
        width, height: frame size in pixels, as stored.
        frame_count: frames decoded (after an analysis), or the container's declared/estimated count.
        duration_s: ``frame_count / fps``.
        sha256: hex digest of the file, bytes, or (for a folder) of the frame files in order.
    """

    name: str
    fps: float
    width: int
    height: int
    frame_count: int
    duration_s: float
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}
