"""CASME II loader.

Layout (docs/datasets.md has the full description)::

    ROOT/CASME2-coding-20190701.xlsx            (or -20140508)
    ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg
    ROOT/Cropped/sub01/EP02_01f/reg_img46.jpg   (the cropped release)

The coding sheet's columns are ``Subject | Filename | (blank) | OnsetFrame | ApexFrame | OffsetFrame | (blank) |
Action Units | Estimated Emotion``; they are found by header text, so the blank spacer columns are harmless.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal

from larnet_core.data import _files, _sheets
from larnet_core.data.records import ClipRecord
from larnet_core.errors import DatasetError

__all__ = ["load_casme2", "CASME2_VARIANTS"]

log = logging.getLogger(__name__)

# Frame folder names of each release (case ignored), tried in this order when the variant is "auto".
CASME2_VARIANTS = {"raw": ("CASME2_RAW_selected",), "cropped": ("Cropped", "CASME2_Cropped")}
SPREADSHEET_PATTERNS = ("CASME2-coding-*.xlsx", "CASME2-coding*.xlsx", "CASME2-coding*.csv")

_COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename", "File name"),
    "onset": ("OnsetFrame", "Onset Frame", "Onset"),
    "apex": ("ApexFrame", "Apex Frame", "Apex"),
    "offset": ("OffsetFrame", "Offset Frame", "Offset"),
    "emotion": ("Estimated Emotion", "Emotion"),
}
_OPTIONAL = {"au": ("Action Units", "AUs", "AU")}
_SUBJECT_DIR = re.compile(r"sub\d+", re.IGNORECASE)


def load_casme2(
    root: Path | str,
    variant: Literal["auto", "raw", "cropped"] = "auto",
    spreadsheet: Path | str | None = None,
) -> list[ClipRecord]:
    """Read CASME II clips: one record per coding-sheet row whose frame folder exists.

    Args:
        root: folder holding the coding spreadsheet and the frame folder(s).
        variant: ``raw`` (CASME2_RAW_selected), ``cropped`` (Cropped, ``reg_`` frames) or ``auto`` (raw when
            present, else cropped; a root that directly holds ``subNN`` folders is used as is).
        spreadsheet: the coding file, when it is not in ``root``.

    Returns:
        Records in spreadsheet order. Subjects read ``sub01``; frames are the numbered files from OnsetFrame to
        OffsetFrame; a blank or non-numeric ApexFrame gives ``apex=None`` (logged).

    Raises:
        DatasetError: missing root, frame folder or spreadsheet; a spreadsheet without the required columns;
            a row with no subject, filename or emotion (named by row number).
    """
    root = _files.require_root(root, "CASME II")
    frames_dir = _frames_dir(root, variant)
    sheet = _files.annotation_file(root, spreadsheet, SPREADSHEET_PATTERNS, "CASME II coding spreadsheet")
    rows = _sheets.read_rows(sheet)
    columns = _sheets.find_columns(rows, sheet, _COLUMNS, _OPTIONAL)

    def locate(clip: _sheets.CodedClip) -> tuple[str, str, Path]:
        subject = _subject(clip.subject, sheet, clip.row)
        return subject, clip.filename, frames_dir / subject / clip.filename

    return _sheets.coded_records("casme2", "CASME II", _sheets.coded_clips(rows, columns, sheet), sheet, frames_dir,
                                 locate)


def _frames_dir(root: Path, variant: str) -> Path:
    if variant not in ("auto", *CASME2_VARIANTS):
        raise ValueError(f"unknown CASME II variant {variant!r}; use one of auto, {', '.join(CASME2_VARIANTS)}")
    variants = list(CASME2_VARIANTS) if variant == "auto" else [variant]
    names = [name for v in variants for name in CASME2_VARIANTS[v]]
    for v in variants:
        accepted = {name.lower() for name in CASME2_VARIANTS[v]}
        found = _files.find_dir(root, lambda p: p.name.lower() in accepted and _has_subjects(p), max_depth=2)
        if found is not None:
            return found
    if variant == "auto" and _has_subjects(root):
        return root
    raise DatasetError(
        f"no CASME II frame folder ({' or '.join(names)} holding subNN folders) found in {root}; "
        "unpack the frames next to the coding spreadsheet"
    )


def _has_subjects(folder: Path) -> bool:
    return _files.has_child_matching(folder, _SUBJECT_DIR)


def _subject(value: object, sheet: Path, row: int) -> str:
    number = _files.digits_of(value)
    text = _sheets.to_text(value)
    if number is None or not re.fullmatch(r"(sub)?0*\d+", text, re.IGNORECASE):
        raise DatasetError(f"{sheet} row {row}: Subject {value!r} is not a subject number (1 or sub01); fix the cell")
    return f"sub{number:02d}"

