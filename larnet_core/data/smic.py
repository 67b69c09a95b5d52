"""SMIC loader.

Layout::

    ROOT/HS/s1/micro/negative/s1_ne_01/image046212.bmp   (also VIS and NIR)

Labels are the emotion folder names; SMIC annotates no apex, onset or offset (clips are already cut), so those
stay None and the middle frame stands in for the apex.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from larnet_core.data import _files
from larnet_core.data.records import ClipRecord
from larnet_core.errors import DatasetError

__all__ = ["load_smic", "SMIC_MODALITIES"]

log = logging.getLogger(__name__)

SMIC_MODALITIES = ("HS", "VIS", "NIR")
_SUBJECT_DIR = re.compile(r"s\d+", re.IGNORECASE)


def load_smic(root: Path | str, modality: str = "HS") -> list[ClipRecord]:
    """Read SMIC clips of one camera modality.

    Args:
        root: folder holding ``HS``/``VIS``/``NIR`` (searched up to two levels down), or the modality folder itself.
        modality: ``HS`` (100 fps high-speed), ``VIS`` or ``NIR`` (25 fps).

    Returns:
        One record per clip folder under ``<subject>/micro/<emotion>/`` (``<subject>/<emotion>/`` is accepted
        too), subjects as ``s1``, emotions the folder names in lower case; folders without frames are skipped.

    Raises:
        DatasetError: missing root, no subject folders, or an unknown modality.
    """
    if modality.upper() not in SMIC_MODALITIES:
        raise ValueError(f"unknown SMIC modality {modality!r}; use one of {', '.join(SMIC_MODALITIES)}")
    root = _files.require_root(root, "SMIC")
    wanted = modality.upper()
    base = _files.find_dir(root, lambda p: p.name.upper() == wanted and _has_subjects(p), max_depth=2)
    if base is None and _has_subjects(root):
        base = root
    if base is None:
        raise DatasetError(
            f"no SMIC {wanted} folder holding subject folders (s1, s2, ...) found in {root}; pass the folder that "
            f"holds {wanted}/ or the {wanted} folder itself"
        )

    records: list[ClipRecord] = []
    for subject_dir in _files.subdirs(base):
        if not _SUBJECT_DIR.fullmatch(subject_dir.name):
            continue
        subject = f"s{_files.digits_of(subject_dir.name)}"
        micro = next((p for p in _files.subdirs(subject_dir) if p.name.lower() == "micro"), subject_dir)
        for emotion_dir in _files.subdirs(micro):
            if emotion_dir.name.lower() in ("micro", "non_micro"):
                continue
            for clip_dir in _files.subdirs(emotion_dir):
                frames = _files.numbered_frames(clip_dir)
                if not frames:
                    log.warning("SMIC: %s holds no numbered frames; skipped", clip_dir)
                    continue
                records.append(
                    ClipRecord(
                        dataset="smic",
                        subject=subject,
                        clip=clip_dir.name,
                        emotion=emotion_dir.name.lower(),
                        frames=tuple(p for _, p in frames),
                        frame_numbers=tuple(n for n, _ in frames),
                        onset=None,
                        apex=None,
                        offset=None,
                    )
                )
    log.info("SMIC %s: %d clips under %s", wanted, len(records), base)
    return records


def _has_subjects(folder: Path) -> bool:
    return _files.has_child_matching(folder, _SUBJECT_DIR)
