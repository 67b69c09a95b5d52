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

    def locate(clip: _sheets.CodedClip) -> tuple[str, str, Path | None]:
        number = _files.digits_of(clip.subject)
        if number is None:
            raise DatasetError(f"{sheet} row {clip.row}: Subject {clip.subject!r} is not a subject number (1 or "
                               "spNO.1); fix the cell")
        subject = f"spNO.{number}"
        subject_dir = subject_dirs.get(subject.lower())
        # one recording holds several coded movements: the clip name carries the onset to keep them apart
        name = f"{clip.filename}_{clip.onset if clip.onset is not None else clip.row}"
        return subject, name, subject_dir / clip.filename / camera if subject_dir else None

    return _sheets.coded_records("casme3", "CAS(ME)^3", _sheets.coded_clips(rows, columns, sheet), sheet, base,
                                 locate)
