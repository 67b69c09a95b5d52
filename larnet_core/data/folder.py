"""Loader for the user's own data, arranged by class folder.

Two layouts, which may be mixed::

    ROOT/<class>/<clip>/<frames>     a clip of numbered frames (frame names sort by their trailing number)
    ROOT/<class>/<image>             a single image, a one-frame clip

The class folder name (lower case) is the emotion. The subject is the part of the clip folder name (or image
file stem) before the first ``_`` when there is one (``anna_take3`` -> ``anna``), else the whole name, so name your
clips ``<subject>_<anything>`` to get subject-independent splits.
"""

from __future__ import annotations

import logging
from pathlib import Path

from larnet_core.data import _files
from larnet_core.data.records import ClipRecord
from larnet_core.errors import DatasetError

__all__ = ["load_folder", "subject_from_name"]

log = logging.getLogger(__name__)


def subject_from_name(name: str) -> str:
    """``anna_take3`` -> ``anna``; a name without ``_`` is its own subject."""
    return name.split("_", 1)[0] if "_" in name.strip("_") else name


def load_folder(root: Path | str) -> list[ClipRecord]:
    """Read a class-per-folder tree of clips and/or single images.

    Frames of a clip are ordered by their trailing number (``f2`` before ``f10``); files without one are ordered
    by name and numbered 0, 1, 2, ... No onset/apex/offset is known: the middle frame is the apex.

    Raises:
        DatasetError: missing root, or no class folder holding images.
    """
    root = _files.require_root(root, "image folder")
    records: list[ClipRecord] = []
    for class_dir in _files.subdirs(root):
        emotion = class_dir.name.lower()
        for entry in sorted(class_dir.iterdir(), key=lambda p: _files.natural_key(p.name)):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                frames = _clip_frames(entry)
                if not frames:
                    log.warning("folder dataset: %s holds no images; skipped", entry)
                    continue
                name = entry.name
            elif _files.is_image(entry):
                frames = [(_files.frame_number(entry) or 0, entry)]
                name = entry.stem
            else:
                continue
            records.append(
                ClipRecord(
                    dataset="folder",
                    subject=subject_from_name(name),
                    clip=name,
                    emotion=emotion,
                    frames=tuple(p for _, p in frames),
                    frame_numbers=tuple(n for n, _ in frames),
                    onset=None,
                    apex=None,
                    offset=None,
                )
            )
    if not records:
        raise DatasetError(
            f"no images found in {root}; arrange them as {root}/<class>/<clip>/<frames> or {root}/<class>/<image>"
        )
    log.info("folder dataset: %d clips in %d classes", len(records), len({r.emotion for r in records}))
    return records


def _clip_frames(folder: Path) -> list[tuple[int, Path]]:
    images = [p for p in folder.iterdir() if _files.is_image(p)]
    numbers = [_files.frame_number(p) for p in images]
    if images and None not in numbers and len(set(numbers)) == len(numbers):
        return sorted(zip(numbers, images), key=lambda item: item[0])  # type: ignore[arg-type]
    # Unnumbered (or clashing) names: order by name and number by position.
    ordered = sorted(images, key=lambda p: _files.natural_key(p.name))
    return list(enumerate(ordered))
