"""YUV4MPEG2 (``.y4m``) writing: the raw format Chromium plays as a fake webcam
(``--use-file-for-fake-video-capture=clip.y4m``), used by the browser tests of the live page."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from larnet_core.errors import VideoError

__all__ = ["write_y4m"]


def write_y4m(frames: Iterable[np.ndarray], path: str | Path, fps: float = 30.0) -> Path:
    """Write RGB uint8 frames as an uncompressed 4:2:0 ``.y4m`` file.

    Args:
        frames: ``(H, W, 3)`` RGB uint8 frames of one size; odd sizes are cropped by one row/column (4:2:0
            needs even sizes).
        path: output file.
        fps: frame rate written in the header.

    Returns:
        The written path.

    Raises:
        VideoError: no frames, frames of mixed sizes, or frames that are not RGB uint8.
    """
    path = Path(path)
    if fps <= 0:
        raise VideoError(f"frame rate must be positive, got {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    size = None
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb") as fh:
            for frame in frames:
                frame = np.asarray(frame)
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise VideoError(f"frame {count} must be RGB uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
                frame = frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]
                if size is None:
                    size = frame.shape[:2]
                    if min(size) < 2:
                        raise VideoError(f"frames must be at least 2x2 pixels, got {frame.shape[1]}x{frame.shape[0]}")
                    fh.write(f"YUV4MPEG2 W{size[1]} H{size[0]} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n"
                             .encode("ascii"))
                elif frame.shape[:2] != size:
                    raise VideoError(f"frame {count} is {frame.shape[1]}x{frame.shape[0]}, the first was "
                                     f"{size[1]}x{size[0]}; all frames must have one size")
                fh.write(b"FRAME\n")
                fh.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420).tobytes())
                count += 1
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if count == 0:
        path.unlink(missing_ok=True)
        raise VideoError(f"no frames to write to {path.name}; pass at least one frame")
    return path
