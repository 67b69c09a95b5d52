"""CAS(ME)^2 long-video loader (expression spotting).

Layout::

    ROOT/CAS(ME)^2code_final.xlsx
    ROOT/rawpic/s15/15_0101disgustingteeth/img1.jpg     (frames of each long video)
    ROOT/rawvideo/s15/15_0101disgustingteeth.avi        (used when there is no rawpic folder)

The code sheet (the workbook's first sheet) has NO header; its columns are subject, video, onset, apex, offset,
AU, emotion, type, self-report. An offset of 0 means the expression has no coded offset: the apex stands in.

Rows are matched to video folders like this (docs/datasets.md explains it with examples):

* subject: the row's subject number equals the number in the subject folder's name (``s15`` -> 15); when the
  workbook has a ``naming rule1`` sheet (columns: folder number, name, participant number), the row's participant
  number is first translated through it (participant 1 -> folder 15).
* video: the row's video name loses a trailing expression index (``disgust1_1`` -> ``disgust1``); when the workbook
  has a ``naming rule2`` sheet (columns: video code, name) the name is translated to its code (``disgust1`` ->
  ``0101``). The folder whose name equals that key, or whose name after the ``<subject>_`` prefix starts with it
  (``15_0101disgustingteeth``), is the match. Rows matching no folder, or several, are skipped with a warning.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from larnet_core.data import _files, _sheets
from larnet_core.data.records import INTERVAL_COLUMNS, LongVideoRecord, empty_intervals
from larnet_core.errors import DatasetError

__all__ = ["load_casme2_long"]

log = logging.getLogger(__name__)

SPREADSHEET_PATTERNS = ("CAS(ME)^2code_final*.xlsx", "CAS(ME)2code_final*.xlsx", "CAS(ME)^2code_final*.csv")
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv", ".webm"})
_SUBJECT_DIR = re.compile(r"s?\d+", re.IGNORECASE)
_EXPRESSION_INDEX = re.compile(r"_\d+$")


@dataclass(frozen=True)
class _Video:
    subject: str
    subject_number: int
    name: str
    frames: tuple[tuple[int, Path], ...]
    video_path: Path | None


def load_casme2_long(
    root: Path | str, spreadsheet: Path | str | None = None, frames_folder: str = "rawpic"
) -> list[LongVideoRecord]:
    """Read CAS(ME)^2 long videos with their annotated expression intervals.

    Args:
        root: folder holding the code spreadsheet and ``rawpic`` (or ``rawvideo``).
        spreadsheet: the code file, when it is not in ``root``.
        frames_folder: name of the frame folder (``rawpic``; ``selectedpic``/``cropped`` if you use those).

    Returns:
        One record per video found on disk (videos without annotations get an empty interval table, which
        spotting evaluation needs for false positives), in subject then video order.

    Raises:
        DatasetError: missing root, spreadsheet or videos; a row whose onset is not a frame number.
    """
    root = _files.require_root(root, "CAS(ME)^2")
    sheet = _files.annotation_file(root, spreadsheet, SPREADSHEET_PATTERNS, "CAS(ME)^2 code spreadsheet")
    videos = _videos_on_disk(root, frames_folder)
    participant_to_folder, name_to_code = _naming_rules(sheet)

    assigned: dict[int, list[dict]] = {i: [] for i in range(len(videos))}
    unmatched: list[str] = []
    for row in _sheets.read_rows(sheet):
        if row.is_blank():
            continue
        onset = _sheets.to_int(row.cell(2))
        if onset is None:
            if row.number == 1:  # a header row someone added: tolerated
                continue
            raise DatasetError(f"{sheet} row {row.number}: onset {row.cell(2)!r} is not a frame number; fix the cell")
        apex = _sheets.to_int(row.cell(3))
        offset = _sheets.to_int(row.cell(4))
        if not offset:  # 0 (or blank) means "no coded offset": use the apex, as the dataset's readme says
            offset = apex
        subject_number = _files.digits_of(row.cell(0))
        if subject_number is not None:
            subject_number = participant_to_folder.get(subject_number, subject_number)
        name = _sheets.to_text(row.cell(1))
        stem = _EXPRESSION_INDEX.sub("", name)
        key = name_to_code.get(stem.lower(), stem)
        match = _match(videos, subject_number, name, key)
        if match is None:
            unmatched.append(f"row {row.number} ({_sheets.to_text(row.cell(0))}, {name})")
            continue
        assigned[match].append(
            {
                "onset": onset,
                "apex": apex,
                "offset": offset,
                "type": expression_type(row.cell(7)),
                "emotion": _sheets.to_text(row.cell(6)).lower(),
                "au": _sheets.to_text(row.cell(5)),
                "self_report": _sheets.to_text(row.cell(8)),
            }
        )
    if unmatched:
        log.warning("CAS(ME)^2: %d row(s) match no video (or several) and were skipped: %s", len(unmatched),
                    "; ".join(unmatched[:10]) + (" ..." if len(unmatched) > 10 else ""))
    return [
        LongVideoRecord(
            subject=video.subject,
            video=video.name,
            frames=tuple(p for _, p in video.frames),
            frame_numbers=tuple(n for n, _ in video.frames),
            video_path=video.video_path,
            intervals=interval_table(assigned[i]),
        )
        for i, video in enumerate(videos)
    ]


def _videos_on_disk(root: Path, frames_folder: str) -> list[_Video]:
    def subject_parent(name: str):
        return lambda p: p.name.lower() == name.lower() and _files.has_child_matching(p, _SUBJECT_DIR)

    videos: list[_Video] = []
    frames_dir = _files.find_dir(root, subject_parent(frames_folder), max_depth=2)
    if frames_dir is not None:
        for subject_dir in _subject_dirs(frames_dir):
            for video_dir in _files.subdirs(subject_dir):
                frames = _files.numbered_frames(video_dir)
                if frames:
                    videos.append(_Video(subject_dir.name, _files.digits_of(subject_dir.name), video_dir.name,
                                         tuple(frames), None))
        return videos
    video_dir = _files.find_dir(root, subject_parent("rawvideo"), max_depth=2)
    if video_dir is not None:
        for subject_dir in _subject_dirs(video_dir):
            for path in sorted(subject_dir.iterdir(), key=lambda p: _files.natural_key(p.name)):
                if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
                    videos.append(_Video(subject_dir.name, _files.digits_of(subject_dir.name), path.stem, (), path))
        return videos
    raise DatasetError(
        f"no CAS(ME)^2 videos found in {root}: expected {frames_folder}/<subject>/<video>/imgN.jpg or "
        "rawvideo/<subject>/<video>.avi"
    )


def _subject_dirs(folder: Path) -> list[Path]:
    return [p for p in _files.subdirs(folder) if _SUBJECT_DIR.fullmatch(p.name)]


def _naming_rules(sheet: Path) -> tuple[dict[int, int], dict[str, str]]:
    """Translation tables from the workbook's ``naming rule1``/``naming rule2`` sheets, empty when absent."""
    participant_to_folder: dict[int, int] = {}
    name_to_code: dict[str, str] = {}
    for name in _sheets.sheet_names(sheet):
        compact = _sheets.normalise_header(name)
        if compact.endswith("rule1"):
            for row in _sheets.read_rows(sheet, name):
                folder = _files.digits_of(row.cell(0))
                if folder is None:
                    folder = _files.digits_of(row.cell(1))
                participant = _files.digits_of(row.cell(2))
                if folder is not None and participant is not None:
                    participant_to_folder[participant] = folder
        elif compact.endswith("rule2"):
            for row in _sheets.read_rows(sheet, name):
                code, label = row.cell(0), _sheets.to_text(row.cell(1))
                if code is None or not label:
                    continue
                code_text = f"{int(code):04d}" if isinstance(code, (int, float)) else _sheets.to_text(code)
                name_to_code[label.lower()] = code_text
    return participant_to_folder, name_to_code


def _match(videos: list[_Video], subject_number: int | None, name: str, key: str) -> int | None:
    candidates = [i for i, v in enumerate(videos) if v.subject_number == subject_number]
    for accept in (
        lambda v: v.name.lower() in (name.lower(), key.lower()),
        lambda v: v.name.split("_", 1)[-1].lower().startswith(key.lower()),
    ):
        found = [i for i in candidates if accept(videos[i])]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            return None
    return None


def expression_type(value: object) -> str:
    text = _sheets.to_text(value).lower()
    for kind in ("micro", "macro"):
        if text.startswith(kind):
            return kind
    return text


def interval_table(rows: list[dict]) -> pd.DataFrame:
    if not rows:
        return empty_intervals()
    frame = pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))
    frame = frame.sort_values("onset", kind="stable").reset_index(drop=True)
    for name in ("onset", "apex", "offset"):
        frame[name] = frame[name].astype("Int64")
    for name in INTERVAL_COLUMNS[3:]:
        frame[name] = frame[name].astype("string")
    return frame
