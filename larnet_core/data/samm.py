"""SAMM loader.

Layout::

    ROOT/SAMM_Micro_FACS_Codes_v2.xlsx
    ROOT/SAMM/006/006_1_2/006_05562.jpg

The spreadsheet has note rows above its header (13 in v2); the header row is found by its content.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from larnet_core.data import _files, _sheets
from larnet_core.data.records import ClipRecord
from larnet_core.errors import DatasetError

__all__ = ["load_samm"]

log = logging.getLogger(__name__)

SPREADSHEET_PATTERNS = ("SAMM_Micro_FACS_Codes*.xlsx", "SAMM_Micro_FACS_Codes*.csv")

_COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename", "File name"),
    "onset": ("Onset Frame", "Onset"),
    "apex": ("Apex Frame", "Apex"),
    "offset": ("Offset Frame", "Offset"),
    "emotion": ("Estimated Emotion", "Emotion"),
}
_OPTIONAL = {"au": ("Action Units", "AUs", "AU")}
_SUBJECT_DIR = re.compile(r"\d{3}")


def load_samm(root: Path | str, spreadsheet: Path | str | None = None) -> list[ClipRecord]:
    """Read SAMM clips: one record per coded micro-movement whose frame folder exists.

    Args:
        root: folder holding ``SAMM_Micro_FACS_Codes_v2.xlsx`` and the ``SAMM`` frame folder (a root that
            directly holds the 3-digit subject folders also works).
        spreadsheet: the FACS codes file, when it is not in ``root``.

    Returns:
        Records in spreadsheet order; subjects zero-padded (``006``), emotions lower case (``Anger`` -> ``anger``),
        frames from Onset Frame to Offset Frame.

    Raises:
        DatasetError: missing root, frames or spreadsheet; missing columns; an empty Filename/Emotion cell.
    """
    root = _files.require_root(root, "SAMM")
    frames_dir = _files.find_dir(root, lambda p: _files.has_child_matching(p, _SUBJECT_DIR), max_depth=2)
    if frames_dir is None:
        raise DatasetError(f"no SAMM frame folder (holding 3-digit subject folders like 006) found in {root}")
    sheet = _files.annotation_file(root, spreadsheet, SPREADSHEET_PATTERNS, "SAMM FACS codes spreadsheet")
    rows = _sheets.read_rows(sheet)
    columns = _sheets.find_columns(rows, sheet, _COLUMNS, _OPTIONAL)

    def locate(clip: _sheets.CodedClip) -> tuple[str, str, Path]:
        number = _files.digits_of(clip.subject)
        if number is None:
            raise DatasetError(f"{sheet} row {clip.row}: Subject {clip.subject!r} is not a subject number (6 or 006); "
                               "fix the cell")
        subject = f"{number:03d}"
        return subject, clip.filename, frames_dir / subject / clip.filename

    return _sheets.coded_records("samm", "SAMM", _sheets.coded_clips(rows, columns, sheet), sheet, frames_dir, locate)
