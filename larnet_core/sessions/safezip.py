"""Reading a bundle archive: every member into memory, through the project's one checked zip reader.

The checks themselves (end record before the directory, names, sizes, ratios, capped reads) live in
:mod:`larnet_core.safezip`, shared with frame archives and checkpoints; this module only fixes the error type
and reads all members at once.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Callable

from larnet_core.errors import BundleError
from larnet_core.safezip import SafeZip, ZipLimits, unsafe_member_reason

__all__ = ["ZipLimits", "check_member_name", "read_zip_members"]


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
    with SafeZip(path, limits, f"{what} {Path(path).name}", error=BundleError, allowed=allowed) as archive:
        return {name: archive.read(name) for name in archive.names}
