"""Finding dataset folders and frame files on disk.

Every loader lists frames the same way: image files whose name ends in a number, sorted by that number (so
``img2`` comes before ``img10``), because that number is what the annotation spreadsheets refer to.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable, Iterable

from larnet_core.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})

_TRAILING_NUMBER = re.compile(r"(\d+)$")
_DIGITS = re.compile(r"(\d+)")


def frame_number(path: Path) -> int | None:
    """The number at the end of a file's stem (``reg_img46.jpg`` -> 46), or None when there is none."""
    match = _TRAILING_NUMBER.search(path.stem)
    return int(match.group(1)) if match else None


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``sub2`` before ``sub10``, ``s9`` before ``s10``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in _DIGITS.split(text) if part)


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def numbered_frames(folder: Path) -> list[tuple[int, Path]]:
    """Image files of one clip folder with their frame numbers, in numeric order.

    Files without a trailing number are ignored: dataset folders sometimes hold thumbnails or notes.
    """
    frames: list[tuple[int, Path]] = []
    for path in folder.iterdir():
        if not is_image(path):
            continue
        number = frame_number(path)
        if number is not None:
            frames.append((number, path))
    frames.sort(key=lambda item: (item[0], item[1].name))
    return frames


def subdirs(folder: Path) -> list[Path]:
    """Visible sub-folders, in natural order."""
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: natural_key(p.name)
    )


def require_root(root: Path | str, what: str) -> Path:
    """Check that a dataset root exists and is a folder; return it as a Path."""
    path = Path(root).expanduser()
    if not path.exists():
        raise DatasetError(f"{what} root {path} does not exist; pass the folder that holds your copy of the dataset")
    if not path.is_dir():
        raise DatasetError(f"{what} root {path} is a file, not a folder; pass the folder that holds the dataset")
    return path


def find_dir(root: Path, accept: Callable[[Path], bool], max_depth: int = 2) -> Path | None:
    """Breadth-first search for the first folder (root included) that ``accept`` takes, at most ``max_depth`` down."""
    level = [root]
    for _ in range(max_depth + 1):
        for folder in level:
            if accept(folder):
                return folder
        level = [child for folder in level for child in subdirs(folder)]
    return None


def has_child_matching(folder: Path, pattern: re.Pattern[str]) -> bool:
    """Whether ``folder`` has a sub-folder whose whole name matches ``pattern``."""
    try:
        return any(pattern.fullmatch(child.name) for child in subdirs(folder))
    except OSError:
        return False


def find_file(root: Path, patterns: Iterable[str], what: str, max_depth: int = 1) -> Path:
    """The first file under ``root`` (or up to ``max_depth`` folders down) whose name matches a glob pattern.

    Matching ignores case. Several matches at the same depth: the name sorting last wins, so a newer dated file
    (``CASME2-coding-20190701.xlsx``) is preferred over an older one (``-20140508``).

    Raises:
        DatasetError: nothing matches; the message names the patterns looked for.
    """
    regexes = [re.compile(_glob_to_regex(p), re.IGNORECASE) for p in patterns]
    level = [root]
    for _ in range(max_depth + 1):
        files = (p for folder in level for p in folder.iterdir() if p.is_file())
        found = sorted((p for p in files if any(r.fullmatch(p.name) for r in regexes)), key=lambda p: p.name)
        if found:
            return found[-1]
        level = [child for folder in level for child in subdirs(folder)]
    raise DatasetError(
        f"no {what} found in {root} (looked for {', '.join(patterns)}); put the dataset's annotation file in that "
        "folder or pass its path explicitly"
    )


def _glob_to_regex(pattern: str) -> str:
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)


def digits_of(value: object) -> int | None:
    """The first run of digits in a value's text (``'s15'`` -> 15, ``15.0`` -> 15), or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    match = _DIGITS.search(str(value))
    return int(match.group(1)) if match else None


def between(frames: list[tuple[int, Path]], onset: int | None, offset: int | None) -> list[tuple[int, Path]]:
    """Numbered frames from onset to offset inclusive; a missing bound, or an offset before the onset, is open."""
    high = offset if offset is not None and (onset is None or offset >= onset) else None
    return [(n, p) for n, p in frames if (onset is None or n >= onset) and (high is None or n <= high)]


def annotation_file(root: Path, given: Path | str | None, patterns: Iterable[str], what: str) -> Path:
    """The spreadsheet the user passed, else the one found in ``root`` by :func:`find_file`."""
    return Path(given) if given else find_file(root, patterns, what)


def report_skipped(log: logging.Logger, what: str, skipped: list[str], where: Path) -> None:
    """One warning listing (the first ten of) the annotation rows that had no frame folder."""
    if skipped:
        shown = "; ".join(skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        log.warning("%s: %d row(s) have no frame folder under %s and were skipped: %s",
                    what, len(skipped), where, shown)
