"""Files that visitors upload and the server keeps for a while (checkpoints): a bounded, expiring cache.

A shared dashboard accepts checkpoint uploads from anyone; kept forever, they would fill the disk. The cache
keeps each file under its content hash (uploading the same file twice stores it once), forgets files not used
for ``max_age_s``, and keeps at most ``max_files`` files and ``max_bytes`` bytes, dropping the least recently
used first. Writes are atomic (temporary name, then rename), so concurrent sessions never read half a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from larnet_core.errors import LarnetError
from larnet_core.paths import write_atomic

__all__ = ["UploadCache"]

log = logging.getLogger(__name__)


class UploadCache:
    """A folder of uploaded files bounded in count, total size and age.

    Args:
        folder: Where the files live (created when missing).
        suffix: File name suffix (e.g. ``.pt``).
        max_files: Files kept at most.
        max_bytes: Bytes kept at most, and the largest single file accepted.
        max_age_s: Seconds a file is kept after it was last stored or used.
    """

    def __init__(self, folder: str | os.PathLike[str], *, suffix: str = "", max_files: int = 8,
                 max_bytes: int = 1024**3, max_age_s: float = 24 * 3600.0) -> None:
        if max_files < 1 or max_bytes < 1 or max_age_s <= 0:
            raise ValueError("max_files and max_bytes must be at least 1, max_age_s positive")
        self.folder = Path(folder)
        self.suffix = suffix
        self.max_files, self.max_bytes, self.max_age_s = int(max_files), int(max_bytes), float(max_age_s)

    def _entries(self) -> list[tuple[float, int, Path]]:
        entries = []
        for path in self.folder.glob(f"*{self.suffix}"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # pruned by another session meanwhile
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        return sorted(entries, reverse=True)  # most recently used first

    def prune(self, keep: Path | None = None, now: float | None = None) -> list[Path]:
        """Remove expired files, then the least recently used beyond the count and size bounds.

        Args:
            keep: A file never removed by this call (the one just stored).
            now: The current time (for tests).

        Returns:
            The files removed.
        """
        now = time.time() if now is None else now
        removed, kept_files, kept_bytes = [], 0, 0
        for mtime, size, path in self._entries():
            if path != keep and (now - mtime > self.max_age_s or kept_files + 1 > self.max_files
                                 or kept_bytes + size > self.max_bytes):
                try:
                    path.unlink()
                    removed.append(path)
                except FileNotFoundError:
                    pass
                continue
            kept_files += 1
            kept_bytes += size
        if removed:
            log.info("upload cache %s: removed %d file(s)", self.folder, len(removed))
        return removed

    def put(self, data: bytes) -> Path:
        """Store ``data`` (or mark the identical file as used) and return its path.

        Raises:
            LarnetError: the file is larger than the cache may hold, or the folder cannot be written.
        """
        if len(data) > self.max_bytes:
            raise LarnetError(f"the upload is {len(data):,} bytes; uploads of at most {self.max_bytes:,} bytes are "
                              "kept; use the command line for larger files")
        path = self.folder / f"{hashlib.sha256(data).hexdigest()}{self.suffix}"
        try:
            if path.exists():
                os.utime(path)  # used again: it moves to the end of the eviction order
            else:
                write_atomic(path, data)
        except OSError as exc:
            raise LarnetError(f"cannot keep the upload in {self.folder}: {exc.strerror}") from None
        self.prune(keep=path)
        return path

    def discard(self, path: str | os.PathLike[str]) -> None:
        """Remove a file of this cache (e.g. an upload that failed validation)."""
        path = Path(path)
        if path.parent.resolve() == self.folder.resolve():
            try:
                path.unlink()
            except FileNotFoundError:
                pass
