"""CAS(ME)^3 part A long videos (expression spotting; Li et al., "CAS(ME)^3: a third generation facial
spontaneous micro-expression database with depth information and high ecological validity", IEEE TPAMI 2023).

Layout, as released (part A; the frame folders sit under a folder whose name varies between copies, e.g.
``part_A/data/part_A`` or ``Compressed_version1_seperate_compress``, up to three levels below ROOT)::

    ROOT/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx              micro-expressions
    ROOT/cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx     macro-expressions
    ROOT/.../spNO.1/a/color/0.jpg                                one long recording per letter folder

* Each recording folder (``a``, ``b``, ...) of a subject is one long video; its ``color`` sub-folder holds the
  frames (``depth`` the depth maps). Frames are numbered **from 0** (``0.jpg``), and the sheets' "JpgIndex"
  onsets, apexes and offsets are those numbers.
* The micro-expression sheet's columns: ``Subject, Filename, Onset, Apex, Offset, AU, Objective class,
  emotion``. The macro-expression sheet names them in lower case and otherwise: ``sub, seq, onset, apex,
  offset, ..., emotion``. Headers are found by content, so both read.
* ``Subject`` reads ``spNO.1`` (or 1); ``Filename``/``seq`` is the recording letter.
* Either sheet may be absent (the other type is then not annotated); rows naming no recording on disk are
  skipped with a warning. CAS(ME)^3 records at 30 fps.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from larnet_core.data import _files, _sheets
from larnet_core.data.casme2_long import interval_table
from larnet_core.data.records import LongVideoRecord
from larnet_core.errors import DatasetError

__all__ = ["load_casme3_long"]

log = logging.getLogger(__name__)

MICRO_PATTERNS = ("cas(me)3_part_A_ME_label*.xlsx", "*part_A_ME_label*.xlsx", "*part_A_ME_label*.csv")
MACRO_PATTERNS = ("cas(me)3_part_A_MaE_label*.xlsx", "*part_A_MaE_label*.xlsx", "*part_A_MaE_label*.csv")
_SUBJECT_DIR = re.compile(r"spNO\.\d+", re.IGNORECASE)
_COLUMNS = {
    "subject": ("Subject", "sub"),
    "filename": ("Filename", "seq"),
    "onset": ("Onset",),
    "apex": ("Apex",),
    "offset": ("Offset",),
}
_OPTIONAL = {"emotion": ("emotion", "Emotion"), "au": ("AU", "Action Units")}


def load_casme3_long(root: Path | str, camera: str = "color") -> list[LongVideoRecord]:
    """Read CAS(ME)^3 part A recordings as long videos with their micro- and macro-expression intervals.

    Args:
        root: folder holding the label sheets and (up to three levels down) the ``spNO.*`` subject folders.
        camera: frame sub-folder of each recording (``color``; ``depth`` for the depth maps).

    Returns:
        One record per recording folder with frames, in subject then recording order (recordings without
        annotations get an empty interval table); subject ``spNO.1``, video ``a``.

    Raises:
        DatasetError: missing root, frames or both sheets; missing columns; a row whose Subject or onset is not
            a number.
    """
    root = _files.require_root(root, "CAS(ME)^3")
    base = _files.find_dir(root, lambda p: _files.has_child_matching(p, _SUBJECT_DIR), max_depth=3)
    if base is None:
        raise DatasetError(f"no CAS(ME)^3 subject folders (spNO.1, spNO.2, ...) found in {root} or three levels "
                           "below; expected .../spNO.1/a/color/0.jpg")
    sheets = []
    for kind, patterns in (("micro", MICRO_PATTERNS), ("macro", MACRO_PATTERNS)):
        try:
            sheets.append((kind, _files.find_file(root, patterns, f"CAS(ME)^3 {kind}-expression label sheet")))
        except DatasetError:
            continue
    if not sheets:
        raise DatasetError(f"no CAS(ME)^3 label sheet in {root} (looked for {MICRO_PATTERNS[0]} and "
                           f"{MACRO_PATTERNS[0]}); put the part A annotation files there")
    recordings: dict[tuple[str, str], Path] = {}
    for subject_dir in _files.subdirs(base):
        if not _SUBJECT_DIR.fullmatch(subject_dir.name):
            continue
        for recording in _files.subdirs(subject_dir):
            frames_dir = recording / camera
            if frames_dir.is_dir():
                recordings[(f"spNO.{_files.digits_of(subject_dir.name)}", recording.name.lower())] = frames_dir
    assigned: dict[tuple[str, str], list[dict]] = {key: [] for key in recordings}
    unmatched: list[str] = []
    for kind, sheet in sheets:
        rows = _sheets.read_rows(sheet)
        columns = _sheets.find_columns(rows, sheet, _COLUMNS, _OPTIONAL)
        for row in rows:
            if row.number <= columns.header_row or row.is_blank():
                continue
            number = _files.digits_of(row.cell(columns["subject"]))
            onset = _sheets.to_int(row.cell(columns["onset"]))
            if number is None or onset is None:
                raise DatasetError(f"{sheet} row {row.number}: Subject {row.cell(columns['subject'])!r} / Onset "
                                   f"{row.cell(columns['onset'])!r} is not a number; fix the row")
            apex = _sheets.to_int(row.cell(columns["apex"]))
            offset = _sheets.to_int(row.cell(columns["offset"]))
            offset = offset if offset is not None and offset >= onset else apex
            if offset is None:
                raise DatasetError(f"{sheet} row {row.number}: no Offset and no Apex; fix the row")
            key = (f"spNO.{number}", _sheets.to_text(row.cell(columns["filename"])).lower())
            if key not in assigned:
                unmatched.append(f"{sheet.name} row {row.number} ({key[0]}/{key[1]})")
                continue
            assigned[key].append({"onset": onset, "apex": apex if apex is not None else (onset + offset) // 2,
                                  "offset": offset, "type": kind,
                                  "emotion": _sheets.to_text(row.cell(columns["emotion"])).lower(),
                                  "au": _sheets.to_text(row.cell(columns["au"])), "self_report": ""})
    _files.report_skipped(log, "CAS(ME)^3", unmatched, base)
    records = []
    for (subject, video), frames_dir in recordings.items():
        frames = _files.numbered_frames(frames_dir)
        if frames:
            records.append(LongVideoRecord(subject=subject, video=video, frames=tuple(p for _, p in frames),
                                           frame_numbers=tuple(n for n, _ in frames),
                                           intervals=interval_table(assigned[(subject, video)]),
                                           dataset="casme3-long"))
    if not records:
        raise DatasetError(f"the CAS(ME)^3 recordings under {base} hold no numbered frames ({camera}/0.jpg)")
    return records
