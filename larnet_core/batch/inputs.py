"""What a batch analyses: clips found in files, folders (recursively, by extension) and CSV manifests.

Every clip gets a stable, filesystem-safe id made from how it was named (a folder's name plus the path inside it,
a file as given, a manifest's ``path`` cell) and a short hash of that name, so the same command on another
machine, or a rerun, finds the same ids and therefore the same results to resume from.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from larnet_core.errors import LarnetError
from larnet_core.paths import check_input_file, read_input, sha256_input
from larnet_core.text import strip_bidi
from larnet_core.video.limits import DEFAULT_LIMITS

__all__ = [
    "BatchInputError",
    "BATCH_EXTENSIONS",
    "MANIFEST_COLUMNS",
    "ClipInput",
    "clip_id",
    "clip_sha256",
    "discover_clips",
    "read_manifest",
]

#: File endings a folder is searched for: the video formats the reader opens, and zips of frames.
BATCH_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".webm", ".mkv", ".mpg", ".mpeg", ".ogv", ".zip")
#: The manifest's required column, then the optional ones carried into the summary.
MANIFEST_COLUMNS = ("path", "subject", "label")

#: Largest manifest read (a million rows of paths fit well within it).
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
#: Largest clip file hashed: the video reader's own size limit.
MAX_CLIP_BYTES = DEFAULT_LIMITS.max_bytes

_MAX_ID_STEM = 60
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BatchInputError(LarnetError):
    """A batch input that cannot be used: a missing path, a manifest without a ``path`` column, no clips."""


@dataclass(frozen=True)
class ClipInput:
    """One clip of a batch.

    Attributes:
        clip_id: stable, filesystem-safe id (the partition name in the output datasets).
        path: where the clip is read from (a video file, a zip of frames or a folder of frames).
        source: how the inputs named it (folder name + relative path, the file as given, the manifest cell).
        subject: the manifest's ``subject`` cell ("" without one).
        label: the manifest's ``label`` cell ("" without one).
    """

    clip_id: str
    path: Path
    source: str
    subject: str = ""
    label: str = ""


def clip_id(source: str) -> str:
    """A filesystem-safe id for a clip named ``source``: its readable tail plus 8 hex digits of its hash.

    >>> clip_id("interviews/day 1/a.mp4")
    'interviews_day_1_a.mp4-269427fd'
    """
    normalised = source.replace("\\", "/").strip("/")
    stem = _UNSAFE.sub("_", normalised.replace("/", "_")).strip("._") or "clip"
    # '=' and '/' never appear (Hive partition names), and the hash keeps ids unique when tails collide.
    return f"{stem[-_MAX_ID_STEM:].lstrip('._-') or 'clip'}-{hashlib.sha1(normalised.encode()).hexdigest()[:8]}"


def _norm_extensions(extensions: Iterable[str] | None) -> tuple[str, ...]:
    chosen = BATCH_EXTENSIONS if extensions is None else tuple(extensions)
    out = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in chosen if e)
    if not out:
        raise BatchInputError("no file extensions to search folders for; pass e.g. --ext mp4")
    return out


def _from_folder(folder: Path, extensions: tuple[str, ...]) -> list[ClipInput]:
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in extensions
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    name = folder.resolve().name or "clips"
    clips = []
    for path in found:
        source = f"{name}/{path.relative_to(folder).as_posix()}"
        clips.append(ClipInput(clip_id(source), path, strip_bidi(source)))
    return clips


def _check_clip_path(path: Path, what: str) -> None:
    """A clip is a folder of frames or a regular file: a device (``/dev/zero`` never ends), a FIFO (reading
    waits for a writer) or a socket is refused here, before any worker hashes it."""
    if not path.is_dir():
        check_input_file(path, what, error=BatchInputError)


def clip_sha256(path: str | Path, data: bytes | None = None, *, max_bytes: int = MAX_CLIP_BYTES) -> str:
    """SHA-256 of a clip's content, streamed and bounded: a file's bytes (``data`` when already read), or for a
    folder of frames every regular file's relative name and content, in name order (the same digest as
    :func:`larnet_core.batch.settings.content_sha256`).

    Raises:
        BatchInputError: the clip (or a file of the folder) is not a regular file, or is larger than
            ``max_bytes``.
    """
    if data is not None:
        return hashlib.sha256(data).hexdigest()
    path = Path(path)
    if not path.is_dir():
        return sha256_input(path, str(path), max_bytes=max_bytes, error=BatchInputError)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode() + b"\0")
        digest.update(bytes.fromhex(sha256_input(item, str(item), max_bytes=max_bytes, error=BatchInputError)))
    return digest.hexdigest()


def read_manifest(path: str | Path) -> list[ClipInput]:
    """The clips a CSV manifest lists: a ``path`` column (relative paths are read from the manifest's folder),
    optional ``subject`` and ``label`` columns carried into the summary.

    Raises:
        BatchInputError: an unreadable file, no ``path`` column, an empty ``path`` cell or a path that does not
            exist (named with its row).
    """
    path = Path(path)
    data = read_input(path, f"the manifest {path}", max_bytes=MAX_MANIFEST_BYTES, error=BatchInputError)
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        columns = [c.strip() for c in (reader.fieldnames or [])]
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchInputError(f"cannot read the manifest {path}: {exc}; save it as a UTF-8 CSV file") from None
    if "path" not in columns:
        raise BatchInputError(f"the manifest {path} has no 'path' column (it has: {', '.join(columns) or 'none'}); "
                              "add a header row with a 'path' column, and optionally 'subject' and 'label'")
    clips = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        cell = row.get("path", "")
        if not cell:
            raise BatchInputError(f"the manifest {path}, row {number}, has an empty 'path'")
        target = Path(cell).expanduser()
        if not target.is_absolute():
            target = path.parent / target
        if not target.exists():
            raise BatchInputError(f"the manifest {path}, row {number}: {cell} does not exist (relative paths are "
                                  f"read from {path.parent})")
        _check_clip_path(target, f"the manifest {path}, row {number}: {cell}")
        clips.append(ClipInput(clip_id(cell), target, strip_bidi(cell), strip_bidi(row.get("subject", "")),
                               strip_bidi(row.get("label", ""))))
    return clips


def discover_clips(inputs: Sequence[str | Path], extensions: Iterable[str] | None = None) -> list[ClipInput]:
    """Every clip of a batch's inputs, in the order given (a clip named twice is kept once).

    Args:
        inputs: video files or zips of frames, folders (searched recursively for ``extensions``; hidden entries
            skipped) and ``.csv`` manifests (:func:`read_manifest`).
        extensions: file endings to search folders for (default :data:`BATCH_EXTENSIONS`).

    Raises:
        BatchInputError: no inputs, a path that does not exist, a bad manifest, or no clip found at all.
    """
    if not inputs:
        raise BatchInputError("no inputs; name video files, folders of clips or a CSV manifest")
    wanted = _norm_extensions(extensions)
    clips: list[ClipInput] = []
    for given in inputs:
        path = Path(given).expanduser()
        if not path.exists():
            raise BatchInputError(f"{given} does not exist; name video files, folders of clips or a CSV manifest")
        if path.is_dir():
            clips.extend(_from_folder(path, wanted))
        elif path.suffix.lower() == ".csv":
            clips.extend(read_manifest(path))
        else:
            _check_clip_path(path, str(given))
            source = Path(given).as_posix()
            clips.append(ClipInput(clip_id(source), path, strip_bidi(source)))
    seen: set[str] = set()
    unique = [c for c in clips if not (c.clip_id in seen or seen.add(c.clip_id))]
    if not unique:
        raise BatchInputError(f"no clips found in {', '.join(map(str, inputs))} (searched for "
                              f"{', '.join(wanted)}); pass --ext to search for other file types")
    return unique
