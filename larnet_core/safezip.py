"""Checks shared by every reader of untrusted ZIP archives (session bundles, zipped frame sequences).

Each reader validates the whole central directory with these before decompressing anything, then reads members
through a capped read of its own.
"""

from __future__ import annotations

import re
import stat
import zipfile

__all__ = ["unsafe_member_reason", "bomb_ratio"]

_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    """Why this member must not be read (path traversal, absolute path, link ...), or None when it is safe."""
    name = info.filename
    if not name:
        return "has an empty name"
    if "\x00" in name:
        return "has a NUL character in its name"
    if name.startswith(("/", "\\")):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "is an absolute path with a drive letter"
    parts = re.split(r"[\\/]", name)
    if ".." in parts:
        return "is a path traversal ('..')"
    if "\\" in name:
        return "uses backslashes as separators"
    if any(part in ("", ".") for part in parts[:-1]):
        return "has empty or '.' path components"
    # Unix mode bits live in the high 16 bits of external_attr when the archive was made on a Unix system.
    if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return None


def bomb_ratio(info: zipfile.ZipInfo, max_ratio: float, floor_bytes: int = 1 << 20) -> float | None:
    """The member's compression ratio when it exceeds ``max_ratio`` (a zip bomb's signature), else None.

    Members under ``floor_bytes`` are not judged: tiny files compress oddly and cannot inflate to anything harmful.
    """
    if info.file_size <= floor_bytes:
        return None
    ratio = info.file_size / max(info.compress_size, 1)
    return ratio if ratio > max_ratio else None
