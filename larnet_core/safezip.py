"""The one reader of untrusted ZIP archives: session bundles, zipped frame sequences and checkpoint files.

Order of the checks, cheapest first, so that no hostile archive costs more than its limits:

1. the archive's size;
2. the end-of-central-directory record alone (read from the last 64 KiB): member count and directory size,
   *before* Python's :mod:`zipfile` parses the directory (a million-member archive is refused without building
   a million ``ZipInfo`` objects);
3. every directory entry: names (no absolute paths, drive letters, ``..``, backslashes, NUL, symbolic links,
   duplicates), encryption, compression method, declared sizes, compression ratio, total declared size;
4. members are then read through a capped read that never holds more than the declared size, so an archive
   that lies about its sizes cannot inflate beyond the limits either. Nothing is ever extracted to disk.

Every refusal raises the caller's error type (``BundleError`` for bundles, ``VideoError`` for frame archives,
``CheckpointError`` for checkpoints) with a message naming the archive, the member and the limit.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator

from larnet_core.errors import LarnetError
from larnet_core.paths import open_input

__all__ = ["ZipLimits", "SafeZip", "MAX_ZIP_RATIO", "unsafe_member_reason", "bomb_ratio"]

_MiB = 1024 * 1024
_READ_CHUNK = _MiB
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Largest uncompressed/compressed ratio of a member above the ratio floor. Images, video, Parquet and
#: weights barely compress; JSON reaches 10-20; zip bombs reach thousands. One value for every archive kind.
MAX_ZIP_RATIO = 100.0
#: Directory bytes allowed per member (46-byte header + name + extra fields; real archives use 80-200).
_DIRECTORY_BYTES_PER_MEMBER = 1024
_SUPPORTED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


@dataclass(frozen=True)
class ZipLimits:
    """Bounds an archive must respect before any of it is decompressed.

    The defaults are the bundle limits; frame archives derive theirs from
    :class:`larnet_core.video.VideoLimits` (:meth:`~larnet_core.video.VideoLimits.zip_limits`).

    Attributes:
        max_archive_bytes: Size of the archive file itself.
        max_members: Number of entries in the archive (read from the end record before the directory is parsed).
        max_member_bytes: Uncompressed size of any one member.
        max_total_bytes: Uncompressed size of all members together.
        max_ratio: Largest uncompressed/compressed ratio for members above ``ratio_floor_bytes``.
        ratio_floor_bytes: Members smaller than this are not ratio-checked (tiny files compress oddly and
            cannot inflate to anything harmful).
    """

    max_archive_bytes: int = 300 * _MiB
    max_members: int = 256
    max_member_bytes: int = 64 * _MiB
    max_total_bytes: int = 256 * _MiB
    max_ratio: float = MAX_ZIP_RATIO
    ratio_floor_bytes: int = _MiB

    def __post_init__(self) -> None:
        for name in ("max_archive_bytes", "max_members", "max_member_bytes", "max_total_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"ZipLimits.{name} must be at least 1, got {getattr(self, name)}")
        if self.max_ratio <= 1:
            raise ValueError(f"ZipLimits.max_ratio must be above 1, got {self.max_ratio}")


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


def bomb_ratio(info: zipfile.ZipInfo, max_ratio: float, floor_bytes: int = _MiB) -> float | None:
    """The member's compression ratio when it exceeds ``max_ratio`` (a zip bomb's signature), else None."""
    if info.file_size <= floor_bytes:
        return None
    ratio = info.file_size / max(info.compress_size, 1)
    return ratio if ratio > max_ratio else None


def _end_record(handle) -> tuple[int, int]:
    """``(member count, directory bytes)`` from the end-of-central-directory record zipfile itself will use.

    ``zipfile._EndRecData`` is the function ``ZipFile`` calls to find that record (Zip64 included); reading the
    same one guarantees that the count checked here is the directory zipfile then parses.
    """
    record = zipfile._EndRecData(handle)  # noqa: SLF001 - see the docstring
    if not record:
        raise zipfile.BadZipFile("no end-of-central-directory record")
    return int(record[zipfile._ECD_ENTRIES_TOTAL]), int(record[zipfile._ECD_SIZE])  # noqa: SLF001


class SafeZip:
    """An untrusted archive, opened after its directory passed every check; members are read on demand.

    Args:
        source: A path or the archive's bytes.
        limits: Size, count and ratio bounds.
        what: How the archive is named in messages (e.g. ``"bundle x.larnet.zip"``).
        error: The :class:`~larnet_core.errors.LarnetError` subclass raised for every refusal.
        allowed: Whether a (safe) member name belongs in this kind of archive; others are refused. None
            accepts every safe name (callers pick what they read).
        hint: Advice appended to a limit message, given the ``ZipLimits`` field name (e.g. how to raise it).

    Raises:
        error: for anything wrong with the archive or its directory, before any member is decompressed.
    """

    def __init__(self, source: str | os.PathLike[str] | bytes, limits: ZipLimits, what: str, *,
                 error: type[LarnetError] = LarnetError, allowed: Callable[[str], bool] | None = None,
                 hint: Callable[[str], str] | None = None) -> None:
        self.limits = limits
        self.what = what
        self._error = error
        self._hint = hint or (lambda _field: "")
        self._archive: zipfile.ZipFile | None = None
        handle = self._open_handle(source)
        try:
            self._check_end_record(handle)
            try:
                self._archive = zipfile.ZipFile(handle)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
                raise error(f"{what} is not a valid ZIP archive ({exc}); re-create it with a standard zip tool") \
                    from None
            self._infos = self._check_directory(self._archive.infolist(), allowed)
        except BaseException:
            self.close()
            handle.close()
            raise
        self._by_name = {info.filename: info for info in self._infos}

    # -- opening ---------------------------------------------------------------------------------------------
    def _open_handle(self, source: str | os.PathLike[str] | bytes):
        if isinstance(source, (bytes, bytearray, memoryview)):
            size = len(source)
            self._check_archive_size(size)
            return io.BytesIO(bytes(source))
        # A regular file only: a device reports a size of 0 and never ends, a FIFO blocks the open.
        handle = open_input(source, self.what, error=self._error)
        try:
            self._check_archive_size(os.fstat(handle.fileno()).st_size)
        except BaseException:
            handle.close()
            raise
        return handle

    def _check_archive_size(self, size: int) -> None:
        if size > self.limits.max_archive_bytes:
            raise self._error(f"{self.what} is {size} bytes; the limit is {self.limits.max_archive_bytes} bytes"
                              f"{self._hint('max_archive_bytes')}")

    def _check_end_record(self, handle) -> None:
        try:
            members, directory_bytes = _end_record(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise self._error(f"{self.what} is not a valid ZIP archive ({exc}); re-create it with a standard zip "
                              "tool") from None
        limits = self.limits
        if members > limits.max_members:
            raise self._error(f"{self.what} has {members:,} members; at most {limits.max_members:,} are allowed"
                              f"{self._hint('max_members')}")
        if directory_bytes > limits.max_members * _DIRECTORY_BYTES_PER_MEMBER + 65536:
            raise self._error(f"{self.what} has a {directory_bytes:,}-byte directory, far more than "
                              f"{limits.max_members:,} members need; refusing it{self._hint('max_members')}")

    def _check_directory(self, infos: list[zipfile.ZipInfo],
                         allowed: Callable[[str], bool] | None) -> list[zipfile.ZipInfo]:
        limits, what, error = self.limits, self.what, self._error
        if len(infos) > limits.max_members:  # the end record lied about the count
            raise error(f"{what} has {len(infos):,} members; at most {limits.max_members:,} are allowed"
                        f"{self._hint('max_members')}")
        seen: set[str] = set()
        files: list[zipfile.ZipInfo] = []
        declared_total = 0
        for info in infos:
            name = info.filename
            problem = unsafe_member_reason(info)
            if problem is not None:
                raise error(f"{what}: member {name[:200]!r} {problem}; the archive is unsafe and was not read")
            if name in seen:
                raise error(f"{what}: member {name[:200]!r} appears twice; refusing an ambiguous archive")
            seen.add(name)
            if info.flag_bits & 0x1:
                raise error(f"{what}: member {name[:200]!r} is encrypted; encrypted archives are not read")
            if info.is_dir():
                continue
            if allowed is not None and not allowed(name):
                raise error(f"{what}: unexpected member {name[:200]!r}; it is not part of the format")
            if info.compress_type not in _SUPPORTED_METHODS:
                raise error(f"{what}: member {name[:200]!r} uses an unsupported compression method "
                            f"({info.compress_type}); use stored or deflated members")
            if info.file_size > limits.max_member_bytes:
                raise error(f"{what}: member {name[:200]!r} declares {info.file_size} bytes; the limit is "
                            f"{limits.max_member_bytes}{self._hint('max_member_bytes')}")
            ratio = bomb_ratio(info, limits.max_ratio, limits.ratio_floor_bytes)
            if ratio is not None:
                raise error(f"{what}: member {name[:200]!r} has a compression ratio of {ratio:.0f}:1 (limit "
                            f"{limits.max_ratio:.0f}:1), typical of zip bombs; the archive was not read")
            declared_total += info.file_size
            if declared_total > limits.max_total_bytes:
                raise error(f"{what} declares more than {limits.max_total_bytes} bytes uncompressed; refusing it"
                            f"{self._hint('max_total_bytes')}")
            files.append(info)
        return files

    # -- reading ---------------------------------------------------------------------------------------------
    @property
    def infos(self) -> list[zipfile.ZipInfo]:
        """The file members (directories left out), in archive order."""
        return list(self._infos)

    @property
    def names(self) -> list[str]:
        return [info.filename for info in self._infos]

    def read(self, name: str) -> bytes:
        """A member's bytes, read through a cap of its declared size.

        Raises:
            error: the member is unknown, damaged, or holds more or less data than it declares.
        """
        if self._archive is None:
            raise self._error(f"{self.what} is closed")
        info = self._by_name.get(name)
        if info is None:
            raise self._error(f"{self.what} has no member {name[:200]!r}")
        cap = min(info.file_size, self.limits.max_member_bytes)
        buffer = bytearray()
        try:
            with self._archive.open(info) as stream:
                while chunk := stream.read(min(_READ_CHUNK, cap + 1 - len(buffer))):
                    buffer += chunk
                    if len(buffer) > cap:
                        raise self._error(f"{self.what}: member {name[:200]!r} holds more data than the "
                                          f"{info.file_size} bytes it declares; refusing a forged archive")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
                NotImplementedError) as exc:
            raise self._error(f"{self.what}: member {name[:200]!r} is damaged or does not match its declared size "
                              f"and CRC ({exc}); re-create the archive") from None
        if len(buffer) != info.file_size:
            raise self._error(f"{self.what}: member {name[:200]!r} holds {len(buffer)} bytes but declares "
                              f"{info.file_size}; the archive is damaged")
        return bytes(buffer)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def close(self) -> None:
        if self._archive is not None:
            fp = self._archive.fp
            self._archive.close()
            self._archive = None
            if fp is not None:
                fp.close()

    def __enter__(self) -> "SafeZip":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
