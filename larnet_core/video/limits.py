"""Safety limits for clip input: how big, how long and how many frames an analysis accepts.

Uploaded clips come from anywhere, so every reader checks these bounds before decoding much and again while
streaming (a container may not declare its length, or may lie about it). Each breach raises
:class:`~larnet_core.errors.VideoError` naming the limit and how to raise it.
"""

from __future__ import annotations

from dataclasses import dataclass

from larnet_core.errors import VideoError
from larnet_core.images import MAX_IMAGE_PIXELS
from larnet_core.safezip import MAX_ZIP_RATIO, ZipLimits

__all__ = ["VideoLimits", "DEFAULT_LIMITS"]

_MiB = 1024 * 1024


@dataclass(frozen=True)
class VideoLimits:
    """Bounds a clip must respect.

    Attributes:
        max_frames: frames decoded at most (a 200 fps clip of 10 minutes has 120,000).
        max_seconds: clip duration at most, in seconds.
        max_pixels: width x height of one frame at most (default: 8K UHD, 7680 x 4320).
        max_bytes: size of a video file, zip archive or upload at most.
        max_zip_members: entries in a zip archive of frames at most.
        max_zip_total_bytes: uncompressed size of all zip members together at most.
        max_zip_ratio: largest uncompressed/compressed ratio of a zip member larger than 1 MiB (frame images
            barely compress, zip bombs reach ratios in the thousands); the same bound as session bundles.
        max_zip_member_bytes: uncompressed size of one zip member (one frame image) at most.
        min_frames: frames needed for an analysis (motion needs two).
    """

    max_frames: int = 120_000
    max_seconds: float = 600.0
    max_pixels: int = MAX_IMAGE_PIXELS
    max_bytes: int = 2048 * _MiB
    max_zip_members: int = 20_000
    max_zip_total_bytes: int = 4096 * _MiB
    max_zip_ratio: float = MAX_ZIP_RATIO
    max_zip_member_bytes: int = 256 * _MiB
    min_frames: int = 2

    def __post_init__(self) -> None:
        for name in ("max_frames", "max_pixels", "max_bytes", "max_zip_members", "max_zip_total_bytes",
                     "max_zip_member_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"VideoLimits.{name} must be at least 1, got {getattr(self, name)}")
        if self.max_seconds <= 0 or self.max_zip_ratio <= 1:
            raise ValueError("VideoLimits.max_seconds must be positive and max_zip_ratio above 1")
        if self.min_frames < 1:
            raise ValueError(f"VideoLimits.min_frames must be at least 1, got {self.min_frames}")

    def check_bytes(self, size: int, what: str) -> None:
        if size > self.max_bytes:
            raise VideoError(f"{what} is {size / _MiB:.1f} MiB, above the {self.max_bytes / _MiB:.0f} MiB limit; "
                             "trim the clip or raise VideoLimits(max_bytes=...)")

    def check_size(self, width: int, height: int, what: str) -> None:
        if width * height > self.max_pixels:
            raise VideoError(f"{what} has {width}x{height} frames, above the {self.max_pixels:,}-pixel limit; "
                             "downscale it or raise VideoLimits(max_pixels=...)")

    def zip_limits(self) -> ZipLimits:
        """The bounds a zip archive of frames must respect, for :class:`larnet_core.safezip.SafeZip`."""
        return ZipLimits(max_archive_bytes=self.max_bytes, max_members=self.max_zip_members,
                         max_member_bytes=self.max_zip_member_bytes, max_total_bytes=self.max_zip_total_bytes,
                         max_ratio=self.max_zip_ratio)

    @staticmethod
    def zip_hint(field: str) -> str:
        """How to raise the ``ZipLimits`` field ``field`` through this class (appended to limit messages)."""
        names = {"max_archive_bytes": "max_bytes", "max_members": "max_zip_members",
                 "max_member_bytes": "max_zip_member_bytes", "max_total_bytes": "max_zip_total_bytes"}
        return f" (the {names[field]} limit; raise VideoLimits({names[field]}=...))" if field in names else ""

    def check_frame(self, width: int, height: int, what: str, index: int) -> None:
        """Raise when decoded frame ``index`` is larger than ``max_pixels`` (frames may grow mid-stream)."""
        if width * height > self.max_pixels:
            raise VideoError(f"frame {index} of {what} is {width}x{height}, above the {self.max_pixels:,}-pixel "
                             "limit (the stream changes size mid-way); downscale the clip or raise "
                             "VideoLimits(max_pixels=...)")

    def check_frames(self, n_frames: int, fps: float, what: str) -> None:
        """Raise when ``n_frames`` frames at ``fps`` break ``max_frames`` or ``max_seconds``."""
        if n_frames > self.max_frames:
            raise VideoError(f"{what} has more than {self.max_frames:,} frames (the max_frames limit); "
                             "trim the clip or raise VideoLimits(max_frames=...) (CLI: --max-frames)")
        seconds = n_frames / fps if fps > 0 else 0.0
        if seconds > self.max_seconds:
            raise VideoError(f"{what} is longer than {self.max_seconds:g} s (the max_seconds limit); "
                             "trim the clip or raise VideoLimits(max_seconds=...) (CLI: --max-seconds)")


DEFAULT_LIMITS = VideoLimits()
