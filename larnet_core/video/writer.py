"""Write frame sequences as video files (mp4/h264 or HEVC, avi/mjpeg, webm/vp9, mkv) with PyAV.

Other parts of the project need clips in several codecs (reader tests, sample clips for the dashboard, the
long synthetic videos); this is the one place that encodes them.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from larnet_core.errors import VideoError

__all__ = ["CODECS", "CONTAINER_CODECS", "VideoClipWriter", "export_clip_video"]

# codec name -> (PyAV encoder, pixel format, encoder options)
CODECS: dict[str, tuple[str, str, dict[str, str]]] = {
    "h264": ("libx264", "yuv420p", {"preset": "ultrafast", "crf": "17", "threads": "1"}),
    # PyAV's wheels bundle libx265; one thread pool and one frame thread keep it to one core, and quiet.
    "hevc": ("libx265", "yuv420p", {"preset": "ultrafast", "crf": "20",
                                    "x265-params": "log-level=error:pools=1:frame-threads=1"}),
    "mjpeg": ("mjpeg", "yuvj420p", {}),
    "vp9": ("libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0", "threads": "1"}),
    "ffv1": ("ffv1", "bgr0", {}),  # lossless RGB
    "mpeg4": ("mpeg4", "yuv420p", {"qscale": "3"}),
}

# container extension -> (default codec, allowed codecs)
CONTAINER_CODECS: dict[str, tuple[str, tuple[str, ...]]] = {
    ".mp4": ("h264", ("h264", "hevc", "mpeg4")),
    ".avi": ("mjpeg", ("mjpeg", "h264", "ffv1", "mpeg4")),
    ".webm": ("vp9", ("vp9",)),
    ".mkv": ("h264", ("h264", "hevc", "vp9", "mjpeg", "ffv1", "mpeg4")),
}


class VideoClipWriter:
    """Streaming encoder: open, :meth:`write` RGB frames one by one, close (or use as a context manager).

    Frames of odd width or height are padded by one replicated row/column, since 4:2:0 chroma needs even
    sizes; every frame must have the size of the first.
    """

    def __init__(self, path: str | Path, fps: float = 30.0, codec: str | None = None) -> None:
        import av  # heavy: only when a video is written

        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in CONTAINER_CODECS:
            raise VideoError(f"cannot write {self.path.name}: unknown container {suffix!r}; "
                             f"use one of {', '.join(CONTAINER_CODECS)}")
        default, allowed = CONTAINER_CODECS[suffix]
        self.codec = (codec or default).lower()
        if self.codec not in allowed:
            raise VideoError(f"cannot write {self.codec} into {suffix}; that container takes {', '.join(allowed)}")
        if not fps or fps <= 0:
            raise VideoError(f"frame rate must be positive, got {fps}")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._av = av
        self._container = av.open(str(self.path), mode="w")
        self._stream = None
        self._size: tuple[int, int] | None = None
        self.frames_written = 0

    def _open_stream(self, height: int, width: int) -> None:
        encoder, pix_fmt, options = CODECS[self.codec]
        stream = self._container.add_stream(encoder, rate=self.fps)
        stream.width = width + (width % 2)
        stream.height = height + (height % 2)
        stream.pix_fmt = pix_fmt
        stream.options = dict(options)
        stream.time_base = Fraction(1, 1) / self.fps
        if self.codec == "hevc" and self.path.suffix.lower() == ".mp4":
            stream.codec_tag = "hvc1"  # the tag Apple players and browsers expect for HEVC in mp4
        self._stream = stream
        self._size = (height, width)

    def write(self, frame: np.ndarray) -> None:
        """Encode one RGB uint8 frame ``(H, W, 3)``."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise VideoError(f"frames must be RGB uint8 (H, W, 3); got {frame.dtype} {frame.shape}")
        if self._stream is None:
            self._open_stream(frame.shape[0], frame.shape[1])
        elif frame.shape[:2] != self._size:
            raise VideoError(f"frame {self.frames_written} is {frame.shape[1]}x{frame.shape[0]}, but the clip "
                             f"started at {self._size[1]}x{self._size[0]}; all frames must have one size")
        pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = self.frames_written
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and close the file."""
        if self._container is None:
            return
        try:
            if self._stream is not None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> "VideoClipWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def export_clip_video(frames: Iterable[np.ndarray], path: str | Path, fps: float = 30.0,
                      codec: str | None = None) -> Path:
    """Write RGB frames to a video file.

    Args:
        frames: RGB uint8 arrays ``(H, W, 3)``, all of one size (a list or any iterable).
        path: Output file; its extension picks the container (``.mp4``, ``.avi``, ``.webm``, ``.mkv``).
        fps: Frame rate.
        codec: ``h264``, ``hevc``, ``mjpeg``, ``vp9``, ``ffv1`` or ``mpeg4``; default per container (mp4 -> h264,
            avi -> mjpeg, webm -> vp9, mkv -> h264).

    Returns:
        The written path.

    Raises:
        VideoError: unknown container or codec, a codec the container cannot hold, no frames, or frames of
            mixed sizes.
    """
    writer = VideoClipWriter(path, fps=fps, codec=codec)
    try:
        with writer:
            for frame in frames:
                writer.write(frame)
    except Exception:
        Path(path).unlink(missing_ok=True)
        raise
    if writer.frames_written == 0:
        Path(path).unlink(missing_ok=True)
        raise VideoError(f"no frames to write to {Path(path).name}; pass at least one frame")
    return Path(path)
