"""Frame sequences stored as image files: a folder (the CASME II layout) or a zip archive of one.

Zip archives are untrusted input: they are read through :class:`larnet_core.safezip.SafeZip`, the reader
session bundles use too (member count from the end record, names, sizes and ratios checked before anything
is decompressed, capped reads, nothing extracted to disk). Each image is decoded by
:func:`larnet_core.images.decode_image`, which checks its declared pixels before decoding.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np

from larnet_core.errors import VideoError
from larnet_core.images import decode_image as decode
from larnet_core.paths import read_input
from larnet_core.safezip import SafeZip
from larnet_core.video.limits import VideoLimits

__all__ = ["IMAGE_EXTENSIONS", "natural_key", "FrameImages", "folder_frames", "zip_frames", "decode_image"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_IGNORED_PARTS = ("__MACOSX",)


def natural_key(name: str) -> tuple:
    """Sort key putting ``img9.jpg`` before ``img10.jpg`` (numbers compared as numbers)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def _is_image(name: str) -> bool:
    path = PurePosixPath(name)
    return (path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
            and not any(part in _IGNORED_PARTS for part in path.parts))


def decode_image(data: bytes, what: str, limits: VideoLimits) -> np.ndarray:
    """Decode one encoded frame image to RGB uint8, checking its pixel count before decoding it."""
    return decode(data, what, max_pixels=limits.max_pixels, error=VideoError)


class FrameImages:
    """An ordered list of encoded frame images and a way to read each one.

    Attributes:
        names: member or file names in frame order.
        what: how to name the sequence in messages.
    """

    def __init__(self, names: list[str], read_bytes, what: str, limits: VideoLimits, closer=None) -> None:
        self.names = names
        self._read_bytes = read_bytes
        self.what = what
        self.limits = limits
        self._closer = closer

    def __len__(self) -> int:
        return len(self.names)

    def read(self, index: int) -> np.ndarray:
        """RGB uint8 image of frame ``index`` (0-based)."""
        name = self.names[index]
        return decode_image(self._read_bytes(name), f"{name} in {self.what}", self.limits)

    def raw(self, index: int) -> bytes:
        return self._read_bytes(self.names[index])

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self.names)):
            yield self.read(index)

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None


def folder_frames(folder: Path, limits: VideoLimits) -> FrameImages:
    """The frame images directly inside ``folder``, in natural order.

    Raises:
        VideoError: no images there (the message points at sub-folders that do hold frames), or too many.
    """
    names = sorted((p.name for p in folder.iterdir() if p.is_file() and _is_image(p.name)), key=natural_key)
    if not names:
        nested = sorted({p.parent.relative_to(folder).as_posix() for p in folder.rglob("*")
                         if p.is_file() and _is_image(p.name)})[:3]
        hint = f" (sub-folders with frames: {', '.join(nested)}; point at one clip folder)" if nested else ""
        raise VideoError(f"folder {folder} holds no frame images ({', '.join(IMAGE_EXTENSIONS)}){hint}")
    if len(names) > limits.max_zip_members:
        raise VideoError(f"folder {folder} holds {len(names):,} frames, above the max_zip_members limit of "
                         f"{limits.max_zip_members:,}; split the clip or raise VideoLimits(max_zip_members=...)")

    def read_bytes(name: str) -> bytes:
        path = folder / name
        return read_input(path, str(path), max_bytes=limits.max_bytes, error=VideoError)

    return FrameImages(names, read_bytes, str(folder), limits)


def zip_frames(source: Path | bytes, limits: VideoLimits, what: str) -> FrameImages:
    """Validate a zip archive of frame images and return its frames, read on demand, in natural order.

    The archive goes through :class:`larnet_core.safezip.SafeZip` (the checks shared with session bundles).
    The images must sit in one folder of the archive (any depth); other files are ignored.

    Raises:
        VideoError: not a zip, an unsafe member, a breached limit, no images, or images in several folders.
    """
    archive = SafeZip(source, limits.zip_limits(), what, error=VideoError, hint=limits.zip_hint)
    try:
        images = [name for name in archive.names if _is_image(name)]
        if not images:
            raise VideoError(f"{what} holds no frame images ({', '.join(IMAGE_EXTENSIONS)}); zip the frames "
                             "of one clip (e.g. the folder sub01/EP02_01f of CASME II)")
        folders = sorted({PurePosixPath(name).parent.as_posix() for name in images})
        if len(folders) > 1:
            raise VideoError(f"{what} holds frames in {len(folders)} folders ({', '.join(folders[:3])} ...); "
                             "zip the frames of one clip only")
        names = sorted(images, key=natural_key)
    except BaseException:
        archive.close()
        raise
    return FrameImages(names, archive.read, what, limits, closer=archive.close)
