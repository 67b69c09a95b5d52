"""CAS(ME)^3 part A loader.

Layout::

    ROOT/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx
    ROOT/.../spNO.1/b/color/175.jpg      (the frame folders may sit up to three levels down)

Spreadsheet columns ``Subject, Filename, Onset, Apex, Offset, AU, Objective class, emotion``; ``Filename`` is
the recording folder (``b``) inside the subject folder. One recording holds several micro-expressions, so a
clip id is ``<Filename>_<Onset>`` (``b_175``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from larnet_core.data import _files, _sheets
from larnet_core.data.records import ClipRecord
from larnet_core.errors import DatasetError

__all__ = ["load_casme3"]

log = logging.getLogger(__name__)

SPREADSHEET_PATTERNS = ("cas(me)3_part_A_ME_label*.xlsx", "*part_A*label*.xlsx", "*part_A*label*.csv")

_COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename",),
    "onset": ("Onset",),
    "apex": ("Apex",),
    "offset": ("Offset",),
    "emotion": ("emotion",),
}
_OPTIONAL = {"au": ("AU", "Action Units")}
_SUBJECT_DIR = re.compile(r"spNO\.\d+", re.IGNORECASE)


def load_casme3(root: Path | str, spreadsheet: Path | str | None = None, camera: str = "color") -> list[ClipRecord]:
    """Read CAS(ME)^3 part A micro-expression clips.

    Args:
        root: folder holding the label spreadsheet and the ``spNO.*`` subject folders (those may be up to three
            levels down, e.g. ``part_A/spNO.1``).
        spreadsheet: the label file, when it is not in ``root``.
        camera: frame sub-folder of each recording (``color``; the depth maps live in ``depth``).

    Returns:
        One record per labelled row whose recording folder exists; frames Onset..Offset; subjects ``spNO.1``.

    Raises:
        DatasetError: missing root, frames or spreadsheet; missing columns; an invalid Subject/Filename/emotion cell.
    """
    root = _files.require_root(root, "CAS(ME)^3")
    base = _files.find_dir(root, lambda p: _files.has_child_matching(p, _SUBJECT_DIR), max_depth=3)
    if base is None:
        raise DatasetError(f"no CAS(ME)^3 frame folders (spNO.1, spNO.2, ...) found in {root} or three levels below")
    sheet = _files.annotation_file(root, spreadsheet, SPREADSHEET_PATTERNS, "CAS(ME)^3 part A label spreadsheet")
    rows = _sheets.read_rows(sheet)
    columns = _sheets.find_columns(rows, sheet, _COLUMNS, _OPTIONAL)
    subject_dirs = {p.name.lower(): p for p in _files.subdirs(base)}
    listings: dict[Path, list[tuple[int, Path]]] = {}  # a recording holds thousands of frames: list it once

    records: list[ClipRecord] = []
    skipped: list[str] = []
    for row in rows:
        if row.number <= columns.header_row or row.is_blank():
            continue
        number = _files.digits_of(row.cell(columns["subject"]))
        recording = _sheets.to_text(row.cell(columns["filename"]))
        emotion = _sheets.to_text(row.cell(columns["emotion"])).lower()
        if number is None or not recording or not emotion:
            raise DatasetError(
                f"{sheet} row {row.number}: Subject, Filename or emotion is empty or invalid; "
                "fix the cell or delete the row"
            )
        subject = f"spNO.{number}"
        onset = _sheets.to_int(row.cell(columns["onset"]))
        apex = _sheets.to_int(row.cell(columns["apex"]))
        offset = _sheets.to_int(row.cell(columns["offset"]))
        subject_dir = subject_dirs.get(subject.lower())
        folder = subject_dir / recording / camera if subject_dir else None
        if folder is None or not folder.is_dir():
            skipped.append(f"row {row.number} {subject}/{recording}")
            continue
        if folder not in listings:
            listings[folder] = _files.numbered_frames(folder)
        frames = _files.between(listings[folder], onset, offset)
        if not frames:
            log.warning("%s row %d: no frames numbered %s..%s in %s; row skipped",
                        sheet.name, row.number, onset, offset, folder)
            continue
        records.append(
            ClipRecord(
                dataset="casme3",
                subject=subject,
                clip=f"{recording}_{onset if onset is not None else row.number}",
                emotion=emotion,
                frames=tuple(p for _, p in frames),
                frame_numbers=tuple(n for n, _ in frames),
                onset=onset,
                apex=apex,
                offset=offset,
                action_units=_sheets.to_text(row.cell(columns["au"])),
            )
        )
    _files.report_skipped(log, "CAS(ME)^3", skipped, base)
    log.info("CAS(ME)^3: %d clips from %s", len(records), sheet.name)
    return records
