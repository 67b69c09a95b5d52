"""Reading a ZIP archive from an untrusted source, entirely in memory and within stated limits.

Everything the central directory declares is checked before any member is decompressed: member names (no
absolute paths, drive letters, ``..``, backslashes, symlinks or duplicates), member count, declared sizes
and compression ratios. Members are then read through a capped reader that never holds more than the
declared size, so an archive that lies about its sizes cannot inflate beyond the limits either.
Nothing is ever extracted to disk.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from larnet_core.errors import BundleError
from larnet_core.safezip import bomb_ratio, unsafe_member_reason

__all__ = ["ZipLimits", "check_member_name", "read_zip_members"]

_MiB = 1024 * 1024
_READ_CHUNK = _MiB


@dataclass(frozen=True)
class ZipLimits:
    """Bounds an archive must respect before any of it is decompressed.

    Attributes:
        max_archive_bytes: Size of the archive file itself.
        max_members: Number of entries in the archive.
        max_member_bytes: Uncompressed size of any one member.
        max_total_bytes: Uncompressed size of all members together.
        max_ratio: Largest uncompressed/compressed ratio for members above ``ratio_floor_bytes``
            (ordinary data stays well below 100; zip bombs reach thousands).
        ratio_floor_bytes: Members smaller than this are not ratio-checked (tiny files compress oddly and
            cannot inflate to anything harmful).
    """

    max_archive_bytes: int = 300 * _MiB
    max_members: int = 256
    max_member_bytes: int = 64 * _MiB
    max_total_bytes: int = 256 * _MiB
    max_ratio: float = 100.0
    ratio_floor_bytes: int = _MiB


def check_member_name(name: str) -> str | None:
    """Why ``name`` is unsafe as a member name, or None when it is a plain relative path."""
    return unsafe_member_reason(zipfile.ZipInfo(name))


def read_zip_members(
    path: str | os.PathLike[str],
    limits: ZipLimits,
    allowed: Callable[[str], bool],
    what: str = "bundle",
) -> dict[str, bytes]:
    """Validate an archive's directory, then read every file member into memory.

    Args:
        path: The archive.
        limits: Size, count and ratio bounds.
        allowed: Whether a (safe) member name belongs in this kind of archive; others are refused.
        what: How the archive is named in messages.

    Returns:
        Member name -> bytes, in archive order (directory entries skipped).

    Raises:
        BundleError: naming the archive and the offending member, before anything is decompressed where the
            directory already shows the problem.
    """
    path = Path(path)
    label = f"{what} {path.name}"
    try:
        archive_size = path.stat().st_size
    except OSError as exc:
        raise BundleError(f"cannot read {label}: {exc.strerror}; check the path") from exc
    if archive_size > limits.max_archive_bytes:
        raise BundleError(f"{label} is {archive_size} bytes; the limit is {limits.max_archive_bytes} bytes")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BundleError(f"{label} is not a valid ZIP archive ({exc}); export it again") from exc
    with archive:
        infos = archive.infolist()
        files = _check_directory(infos, limits, allowed, label)
        members: dict[str, bytes] = {}
        total = 0
        for info in files:
            data = _read_capped(archive, info, limits, label)
            total += len(data)
            if total > limits.max_total_bytes:
                raise BundleError(f"{label} holds more than {limits.max_total_bytes} bytes uncompressed")
            members[info.filename] = data
    return members


def _check_directory(
    infos: list[zipfile.ZipInfo], limits: ZipLimits, allowed: Callable[[str], bool], label: str
) -> list[zipfile.ZipInfo]:
    if len(infos) > limits.max_members:
        raise BundleError(f"{label} has {len(infos)} members; at most {limits.max_members} are allowed")
    seen: set[str] = set()
    files: list[zipfile.ZipInfo] = []
    declared_total = 0
    for info in infos:
        name = info.filename
        problem = unsafe_member_reason(info)
        if problem == "is a symbolic link":
            raise BundleError(f"{label}: member {name!r} is a symbolic link; links are not allowed in a bundle")
        if problem is not None:
            raise BundleError(f"{label}: member {name[:200]!r} {problem}; refusing the whole archive")
        if name in seen:
            raise BundleError(f"{label}: member {name!r} appears twice; refusing an ambiguous archive")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise BundleError(f"{label}: member {name!r} is encrypted; bundles are never encrypted")
        if info.is_dir():
            continue
        if not allowed(name):
            raise BundleError(f"{label}: unexpected member {name!r}; it is not part of the bundle format")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BundleError(f"{label}: member {name!r} uses an unsupported compression method")
        if info.file_size > limits.max_member_bytes:
            raise BundleError(
                f"{label}: member {name!r} declares {info.file_size} bytes; the limit is {limits.max_member_bytes}"
            )
        ratio = bomb_ratio(info, limits.max_ratio, limits.ratio_floor_bytes)
        if ratio is not None:
            raise BundleError(
                f"{label}: member {name!r} has a compression ratio of {ratio:.0f}:1 (limit "
                f"{limits.max_ratio:.0f}:1), typical of a zip bomb; refusing it"
            )
        declared_total += info.file_size
        if declared_total > limits.max_total_bytes:
            raise BundleError(
                f"{label} declares more than {limits.max_total_bytes} bytes uncompressed; refusing it"
            )
        files.append(info)
    return files


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits, label: str) -> bytes:
    cap = min(info.file_size, limits.max_member_bytes)
    buffer = bytearray()
    try:
        with archive.open(info) as stream:
            while True:
                chunk = stream.read(min(_READ_CHUNK, cap + 1 - len(buffer)))
                if not chunk:
                    break
                buffer += chunk
                if len(buffer) > cap:
                    raise BundleError(
                        f"{label}: member {info.filename!r} holds more data than the {info.file_size} bytes it "
                        "declares; refusing a forged archive"
                    )
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise BundleError(
            f"{label}: member {info.filename!r} is damaged or does not match its declared size and CRC ({exc}); "
            "export the session again"
        ) from exc
    if len(buffer) != info.file_size:
        raise BundleError(
            f"{label}: member {info.filename!r} holds {len(buffer)} bytes but declares {info.file_size}; "
            "the archive is damaged"
        )
    return bytes(buffer)
