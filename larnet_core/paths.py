"""Where LARNet Studio keeps its own files (sessions database, uploaded models, caches), and the one way an
input file named by a user is opened.

Every path read as input (a clip, an image, a checkpoint, a bundle, a manifest) goes through
:func:`open_input`: it must be a regular file within a size limit. A device (``/dev/zero`` reports a size of 0
and never ends), a FIFO (opening it waits for a writer) or a socket is refused with a message before a byte is
read, and reads stop at the limit even when the file grows meanwhile. Output paths are checked up front by
:func:`check_output_file` and :func:`check_output_dir`, so a long analysis never ends in an unwritable path.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from larnet_core.errors import LarnetError

__all__ = ["DATA_DIR_ENV", "data_dir", "cache_dir", "demo_checkpoint_path", "write_atomic", "open_input",
           "read_input", "sha256_input", "check_input_file", "check_output_file", "check_output_dir",
           "describe_os_error"]

DATA_DIR_ENV = "LARNET_DATA_DIR"


def data_dir() -> Path:
    """The directory for LARNet's own files: ``$LARNET_DATA_DIR``, else ``~/.larnet``. Not created here."""
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".larnet"


def cache_dir(kind: str) -> Path:
    """A cache folder under :func:`data_dir` (e.g. ``cache/onnx``); deleting it only costs recomputation."""
    return data_dir() / "cache" / kind


def demo_checkpoint_path() -> Path:
    """The bundled demo model (trained on synthetic faces) in the source tree's ``assets/models``."""
    return Path(__file__).resolve().parents[1] / "assets" / "models" / "larnet-lite-demo.pt"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all at once: into a temporary file beside it, then renamed over it, so a reader
    (or a process killed half-way) never sees a partial file. Creates the parent folder.

    Raises:
        OSError: the folder cannot be created or written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------------------ input files
_CHUNK = 1 << 20


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _refuse_os_error(exc: OSError, what: str, error: type[LarnetError]) -> LarnetError:
    return error(describe_os_error(exc, what))


def describe_os_error(exc: OSError, what: str | None = None) -> str:
    """One line saying what went wrong with a file and what to do, for an :class:`OSError` of any kind."""
    name = what or (str(exc.filename) if exc.filename is not None else "the file")
    if isinstance(exc, FileNotFoundError):
        return f"{name} does not exist; check the path"
    if isinstance(exc, PermissionError):
        return f"cannot access {name}: permission denied; check its permissions or pick another path"
    if isinstance(exc, NotADirectoryError):
        return f"{name}: a part of the path is a file where a folder is expected; check the path"
    if isinstance(exc, IsADirectoryError):
        return f"{name} is a folder where a file is expected; give a file path"
    if isinstance(exc, FileExistsError):
        return f"{name} already exists as a file where a folder is needed; pick another path"
    detail = exc.strerror or type(exc).__name__
    return f"cannot use {name}: {detail}; check the path"


def open_input(path: str | os.PathLike[str], what: str | None = None, *, max_bytes: int | None = None,
               error: type[LarnetError] = LarnetError) -> BinaryIO:
    """Open a file named by a user for reading, after checking that it is a regular file within ``max_bytes``.

    The type is checked before opening (opening a FIFO would wait for a writer) and again on the opened
    descriptor (the path may have been replaced in between); the open itself never blocks.

    Args:
        path: The file.
        what: How to name it in messages (default: the path).
        max_bytes: Largest size accepted (None: any size of a regular file).
        error: The :class:`~larnet_core.errors.LarnetError` subclass raised.

    Returns:
        A binary file object positioned at the start; the caller closes it.

    Raises:
        error: missing, unreadable, a folder, FIFO, socket or device, or larger than ``max_bytes``.
    """
    what = what or str(path)
    try:
        before = os.stat(path)
    except OSError as exc:
        raise _refuse_os_error(exc, what, error) from None
    _check_regular(before, what, max_bytes, error)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        raise _refuse_os_error(exc, what, error) from None
    try:
        _check_regular(os.fstat(descriptor), what, max_bytes, error)
        if flags & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(descriptor, True)  # plain blocking reads from here on
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _check_regular(info: os.stat_result, what: str, max_bytes: int | None, error: type[LarnetError]) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{what} is a folder where a file is expected; give the path of a file")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} is {_kind(info.st_mode)}, not a regular file; give the path of "
                    "a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise error(f"{what} is {info.st_size:,} bytes, above the {max_bytes:,}-byte limit for this kind of file")


def check_input_file(path: str | os.PathLike[str], what: str | None = None, *, max_bytes: int | None = None,
                     error: type[LarnetError] = LarnetError) -> int:
    """:func:`open_input`'s checks without keeping the file open; returns its size in bytes."""
    with open_input(path, what, max_bytes=max_bytes, error=error) as handle:
        return os.fstat(handle.fileno()).st_size


def _too_large(what: str, max_bytes: int, error: type[LarnetError]) -> LarnetError:
    return error(f"{what} grew beyond the {max_bytes:,}-byte limit while it was read; use a file that is not "
                 "being written")


def read_input(path: str | os.PathLike[str], what: str | None = None, *, max_bytes: int,
               error: type[LarnetError] = LarnetError) -> bytes:
    """A regular file's bytes (:func:`open_input`), never more than ``max_bytes`` even if it grows meanwhile."""
    what = what or str(path)
    with open_input(path, what, max_bytes=max_bytes, error=error) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise _refuse_os_error(exc, what, error) from None
    if len(data) > max_bytes:
        raise _too_large(what, max_bytes, error)
    return data


def sha256_input(path: str | os.PathLike[str], what: str | None = None, *, max_bytes: int | None = None,
                 error: type[LarnetError] = LarnetError) -> str:
    """SHA-256 (hex) of a regular file, streamed in 1 MiB blocks and stopped at ``max_bytes``."""
    what = what or str(path)
    digest, total = hashlib.sha256(), 0
    with open_input(path, what, max_bytes=max_bytes, error=error) as handle:
        try:
            while block := handle.read(_CHUNK):
                total += len(block)
                if max_bytes is not None and total > max_bytes:
                    raise _too_large(what, max_bytes, error)
                digest.update(block)
        except OSError as exc:
            raise _refuse_os_error(exc, what, error) from None
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------ output paths
def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def check_output_dir(path: str | os.PathLike[str], what: str = "the output folder",
                     error: type[LarnetError] = LarnetError) -> Path:
    """Check, before any work starts, that ``path`` is or can become a writable folder (nothing is created).

    Raises:
        error: the path is a file, lies under a file, or its nearest existing folder is not writable.
    """
    path = Path(path)
    existing = _nearest_existing(path)
    if existing == path and not path.is_dir():
        raise error(f"{what} {path} exists and is not a folder; give a folder path")
    if not existing.is_dir():
        raise error(f"{what} {path} cannot be created: {existing} is a file, not a folder; pick another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise error(f"{what} {path} cannot be written: {existing} is not writable; pick another path")
    return path


def check_output_file(path: str | os.PathLike[str], what: str = "the output file",
                      error: type[LarnetError] = LarnetError) -> Path:
    """Check, before any work starts, that a file can be written at ``path`` (nothing is created).

    Raises:
        error: the path is a folder or not a regular file, lies under a file, or cannot be written.
    """
    path = Path(path)
    if os.path.lexists(path):
        if path.is_dir():
            raise error(f"{what} {path} is a folder; give a file name")
        if not path.is_file():
            raise error(f"{what} {path} exists and is not a regular file; pick another path")
        if not os.access(path, os.W_OK):
            raise error(f"{what} {path} cannot be overwritten (not writable); pick another path")
        return path
    check_output_dir(path.parent, f"the folder of {what}", error)
    return path
