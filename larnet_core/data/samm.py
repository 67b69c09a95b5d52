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

    records: list[ClipRecord] = []
    skipped: list[str] = []
    for row in rows:
        if row.number <= columns.header_row or row.is_blank():
            continue
        number = _files.digits_of(row.cell(columns["subject"]))
        clip = _sheets.to_text(row.cell(columns["filename"]))
        emotion = _sheets.to_text(row.cell(columns["emotion"])).lower()
        if number is None or not clip or not emotion:
            raise DatasetError(
                f"{sheet} row {row.number}: Subject, Filename or Estimated Emotion is empty or invalid; "
                "fix the cell or delete the row"
            )
        subject = f"{number:03d}"
        onset = _sheets.to_int(row.cell(columns["onset"]))
        apex = _sheets.to_int(row.cell(columns["apex"]))
        offset = _sheets.to_int(row.cell(columns["offset"]))
        if apex is None:
            log.info("%s row %d (%s): Apex Frame %r is not a frame number; the middle frame stands in",
                     sheet.name, row.number, clip, row.cell(columns["apex"]))
        folder = frames_dir / subject / clip
        if not folder.is_dir():
            skipped.append(f"row {row.number} {subject}/{clip}")
            continue
        frames = _files.between(_files.numbered_frames(folder), onset, offset)
        if not frames:
            log.warning("%s row %d: no frames numbered %s..%s in %s; row skipped",
                        sheet.name, row.number, onset, offset, folder)
            continue
        records.append(
            ClipRecord(
                dataset="samm",
                subject=subject,
                clip=clip,
                emotion=emotion,
                frames=tuple(p for _, p in frames),
                frame_numbers=tuple(n for n, _ in frames),
                onset=onset,
                apex=apex,
                offset=offset,
                action_units=_sheets.to_text(row.cell(columns["au"])),
            )
        )
    _files.report_skipped(log, "SAMM", skipped, frames_dir)
    log.info("SAMM: %d clips from %s", len(records), sheet.name)
    return records
