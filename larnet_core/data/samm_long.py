"""SAMM Long Videos (SAMM-LV) loader (expression spotting; Yap, Kendrick and Yap, "SAMM Long Videos: a
spontaneous facial micro- and macro-expressions dataset", FG 2020).

Layout, as released (V1, V2 and V3 differ only in the workbook's name and rows)::

    ROOT/SAMM_LongVideos_V3_Release.xlsx
    ROOT/SAMM_longvideos/006_1/006_1_0001.jpg        (one folder per long video, no subject level)

The workbook's first sheet has note rows above its header (the header is row 10 in the releases); the header is
found by its content. Columns: ``Subject, Filename, Inducement Code, Onset, Apex, Offset, Duration, Type,
Action Units, Notes``. ``Filename`` names the expression (``006_1_2``: the second coded movement of video
``006_1``); the video is its first two parts. ``Type`` reads ``Macro`` or ``Micro - 1/2``. Frame numbers are the
4-digit numbers ending each image name (1-based). Quirks handled: an Apex of ``-1`` (not annotated: the middle of
the interval stands in); an Offset of 0 (no coded offset: the apex stands in, as for CAS(ME)^2); a macro row with
Onset 0 (an expression already under way when the recording starts) is skipped with a warning, as the MEGC
spotting code skips it. SAMM-LV records at 200 fps.

The release workbook names no emotion. When SAMM's micro-expression codes (``SAMM_Micro_FACS_Codes_v2.xlsx``,
whose Filenames are the same ``006_1_2`` names) sit in ROOT too, a micro-expression row takes its Estimated
Emotion from there (what spot-then-recognise scoring needs); other rows keep an empty emotion.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from larnet_core.data import _files, _sheets
from larnet_core.data.casme2_long import expression_type, interval_table
from larnet_core.data.records import LongVideoRecord
from larnet_core.data.samm import SPREADSHEET_PATTERNS as CODES
from larnet_core.errors import DatasetError

__all__ = ["load_samm_long"]

log = logging.getLogger(__name__)

SPREADSHEET_PATTERNS = ("SAMM_LongVideos_V*_Release*.xlsx", "SAMM_LongVideos*.xlsx", "SAMM_LongVideos*.csv")
_VIDEO_DIR = re.compile(r"\d{3}_\d+")
_COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename", "File name"),
    "onset": ("Onset", "Onset Frame"),
    "apex": ("Apex", "Apex Frame"),
    "offset": ("Offset", "Offset Frame"),
    "type": ("Type",),
}
_OPTIONAL = {"au": ("Action Units", "AUs"), "notes": ("Notes",)}


def load_samm_long(root: Path | str, spreadsheet: Path | str | None = None) -> list[LongVideoRecord]:
    """Read SAMM-LV long videos with their annotated micro- and macro-expression intervals.

    Args:
        root: folder holding the release workbook and ``SAMM_longvideos`` (a root that directly holds the
            ``006_1`` video folders also works).
        spreadsheet: the workbook, when it is not in ``root``.

    Returns:
        One record per video folder on disk, in natural order (videos without annotations get an empty interval
        table: spotting needs them for false positives); subject ``006``, video ``006_1``.

    Raises:
        DatasetError: missing root, videos or workbook; missing columns; a row whose onset is not a number or
            whose Filename names no video (``006_1_2``).
    """
    root = _files.require_root(root, "SAMM-LV")
    base = _files.find_dir(root, lambda p: _files.has_child_matching(p, _VIDEO_DIR), max_depth=2)
    if base is None:
        raise DatasetError(f"no SAMM-LV video folders (006_1, 006_2, ...) found in {root} or two levels below; "
                           "expected SAMM_longvideos/006_1/006_1_0001.jpg")
    sheet = _files.annotation_file(root, spreadsheet, SPREADSHEET_PATTERNS, "SAMM-LV release workbook")
    rows = _sheets.read_rows(sheet)
    columns = _sheets.find_columns(rows, sheet, _COLUMNS, _OPTIONAL)
    emotions = _micro_emotions(root)
    videos = {p.name: p for p in _files.subdirs(base) if _VIDEO_DIR.fullmatch(p.name)}
    assigned: dict[str, list[dict]] = {name: [] for name in videos}
    unmatched, skipped = [], []
    for row in rows:
        if row.number <= columns.header_row or row.is_blank():
            continue
        filename = _sheets.to_text(row.cell(columns["filename"]))
        parts = filename.split("_")
        if len(parts) < 2 or not filename:
            raise DatasetError(f"{sheet} row {row.number}: Filename {filename!r} is not <subject>_<video>_<n> "
                               "(006_1_2); fix the cell")
        onset = _sheets.to_int(row.cell(columns["onset"]))
        if onset is None:
            raise DatasetError(f"{sheet} row {row.number}: Onset {row.cell(columns['onset'])!r} is not a frame "
                               "number; fix the cell")
        apex = _sheets.to_int(row.cell(columns["apex"]))
        offset = _sheets.to_int(row.cell(columns["offset"]))
        kind = expression_type(row.cell(columns["type"]))
        if apex is not None and apex < 0:
            apex = None
        if not offset:
            offset = apex
        if offset is None:
            raise DatasetError(f"{sheet} row {row.number}: no Offset and no Apex for {filename}; fix the row")
        if kind == "macro" and onset == 0:
            skipped.append(f"row {row.number} ({filename})")
            continue
        if apex is None:
            apex = (onset + offset) // 2
        video = f"{parts[0]}_{parts[1]}"
        if video not in assigned:
            unmatched.append(f"row {row.number} ({filename})")
            continue
        assigned[video].append({"onset": onset, "apex": apex, "offset": offset, "type": kind,
                                "emotion": emotions.get(filename.lower(), "") if kind == "micro" else "",
                                "au": _sheets.to_text(row.cell(columns["au"])),
                                "self_report": _sheets.to_text(row.cell(columns["notes"]))})
    if skipped:
        log.warning("SAMM-LV: %d macro-expression row(s) with Onset 0 (under way when the recording starts) "
                    "skipped: %s", len(skipped), "; ".join(skipped[:10]))
    _files.report_skipped(log, "SAMM-LV", unmatched, base)
    records = []
    for name, folder in videos.items():
        frames = _files.numbered_frames(folder)
        if not frames:
            continue
        records.append(LongVideoRecord(subject=name.split("_")[0], video=name, frames=tuple(p for _, p in frames),
                                       frame_numbers=tuple(n for n, _ in frames), intervals=interval_table(
                                           assigned[name]), dataset="samm-lv"))
    if not records:
        raise DatasetError(f"the SAMM-LV video folders in {base} hold no numbered images (006_1_0001.jpg)")
    return records


def _micro_emotions(root: Path) -> dict[str, str]:
    """``{filename: emotion}`` from SAMM's micro-expression codes when they sit in ``root``, else empty."""
    try:
        sheet = _files.find_file(root, CODES, "SAMM micro-expression codes")
    except DatasetError:
        return {}
    rows = _sheets.read_rows(sheet)
    columns = _sheets.find_columns(rows, sheet, {"filename": ("Filename", "File name"),
                                                 "emotion": ("Estimated Emotion", "Emotion")})
    return {_sheets.to_text(row.cell(columns["filename"])).lower():
            _sheets.to_text(row.cell(columns["emotion"])).lower()
            for row in rows if row.number > columns.header_row and not row.is_blank()}
