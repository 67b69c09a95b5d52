"""Frame sequences stored as image files: a folder (the CASME II layout) or a zip archive of one.

Zip archives are untrusted input. Every member the central directory declares is checked before anything is
decompressed (names: no absolute paths, drive letters, ``..``, backslashes or NUL; no symlinks; member count;
declared total size; compression ratio), and each image is then read through a capped read, so an archive
that lies about its sizes cannot inflate beyond the limits either. Nothing is ever extracted to disk.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np

from larnet_core.errors import VideoError
from larnet_core.safezip import bomb_ratio, unsafe_member_reason
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
    """Decode one encoded image to RGB uint8, checking its pixel count before decoding it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            limits.check_size(image.width, image.height, what)
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise VideoError(f"{what} is not a readable image ({exc}); replace or remove that file") from None


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
        size = path.stat().st_size
        limits.check_bytes(size, str(path))
        return path.read_bytes()

    return FrameImages(names, read_bytes, str(folder), limits)


def zip_frames(source: Path | bytes, limits: VideoLimits, what: str) -> FrameImages:
    """Validate a zip archive of frame images and return its frames, read on demand, in natural order.

    The images must sit in one folder of the archive (any depth); other files are ignored.

    Raises:
        VideoError: not a zip, an unsafe member, a breached limit, no images, or images in several folders.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise VideoError(f"{what} is not a valid zip archive ({exc}); re-create it with a standard zip tool") from None
    try:
        infos = archive.infolist()
        if len(infos) > limits.max_zip_members:
            raise VideoError(f"{what} has {len(infos):,} members, above the max_zip_members limit of "
                             f"{limits.max_zip_members:,}; zip one clip or raise VideoLimits(max_zip_members=...)")
        total = 0
        for info in infos:
            problem = unsafe_member_reason(info)
            if problem:
                raise VideoError(f"{what}: member {info.filename!r} {problem}; the archive is unsafe and was not read")
            total += info.file_size
            ratio = bomb_ratio(info, limits.max_zip_ratio)
            if ratio is not None:
                raise VideoError(f"{what}: member {info.filename!r} expands {ratio:.0f}"
                                 f"-fold (limit {limits.max_zip_ratio:g}), which is how zip bombs look; "
                                 "the archive was not read")
        if total > limits.max_zip_total_bytes:
            raise VideoError(f"{what} expands to {total / 2**20:.0f} MiB, above the max_zip_total_bytes limit of "
                             f"{limits.max_zip_total_bytes / 2**20:.0f} MiB; split the clip or raise the limit")
        images = [i for i in infos if not i.is_dir() and _is_image(i.filename)]
        if not images:
            raise VideoError(f"{what} holds no frame images ({', '.join(IMAGE_EXTENSIONS)}); zip the frames "
                             "of one clip (e.g. the folder sub01/EP02_01f of CASME II)")
        folders = sorted({PurePosixPath(i.filename).parent.as_posix() for i in images})
        if len(folders) > 1:
            raise VideoError(f"{what} holds frames in {len(folders)} folders ({', '.join(folders[:3])} ...); "
                             "zip the frames of one clip only")
        by_name = {i.filename: i for i in images}
        names = sorted(by_name, key=natural_key)
    except BaseException:
        archive.close()
        raise

    def read_bytes(name: str) -> bytes:
        info = by_name[name]
        try:
            with archive.open(info) as member:
                data = member.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
            raise VideoError(f"{what}: member {name!r} is corrupt ({exc}); re-create the archive") from None
        if len(data) > info.file_size:
            raise VideoError(f"{what}: member {name!r} is larger than its header declares; the archive is unsafe")
        return data

    return FrameImages(names, read_bytes, what, limits, closer=archive.close)
