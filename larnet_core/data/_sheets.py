"""Reading annotation spreadsheets the way the datasets ship them.

Rows keep their spreadsheet row number (1-based, as Excel shows it) so that every error can point at the row.
Columns are found by header text, ignoring case, spaces and punctuation, so blank spacer columns and small
spelling differences between dataset releases do not matter.
"""

from __future__ import annotations

import csv
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from larnet_core.data import _files
from larnet_core.data.records import ClipRecord
from larnet_core.errors import DatasetError

log = logging.getLogger(__name__)

# How far down a sheet a header row may sit (SAMM has 13 note rows above its header).
HEADER_SEARCH_ROWS = 40


@dataclass(frozen=True)
class SheetRow:
    """One spreadsheet row: its 1-based row number and its cell values."""

    number: int
    values: tuple[Any, ...]

    def cell(self, column: int | None) -> Any:
        if column is None or column >= len(self.values):
            return None
        return self.values[column]

    def is_blank(self) -> bool:
        return all(v is None or (isinstance(v, str) and not v.strip()) for v in self.values)


def read_rows(path: Path, sheet: int | str = 0) -> list[SheetRow]:
    """All rows of one sheet of an .xlsx/.xlsm workbook, or of a .csv file.

    Raises:
        DatasetError: the file is missing, not a spreadsheet, or corrupt.
    """
    if not path.is_file():
        raise DatasetError(f"annotation file {path} does not exist; check the path")
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    if path.suffix.lower() == ".xls":
        raise DatasetError(f"{path} is an old .xls workbook; open it and save it as .xlsx, then load again")
    values = _worksheet(path, sheet).iter_rows(values_only=True)
    return [SheetRow(i + 1, tuple(row)) for i, row in enumerate(values)]


def sheet_names(path: Path) -> list[str]:
    """Names of the sheets of a workbook (a .csv has one, called after the file)."""
    if path.suffix.lower() == ".csv":
        return [path.stem]
    return list(_open_workbook(path).sheetnames)


def _open_workbook(path: Path) -> Any:
    # lazy: openpyxl only when a spreadsheet is read
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(path, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DatasetError(
            f"cannot read spreadsheet {path} ({type(exc).__name__}: {exc}); check that it is an intact .xlsx file "
            "(re-download it or re-save it from a spreadsheet program)"
        ) from exc


def _worksheet(path: Path, sheet: int | str) -> Any:
    book = _open_workbook(path)
    try:
        return book.worksheets[sheet] if isinstance(sheet, int) else book[sheet]
    except (IndexError, KeyError) as exc:
        raise DatasetError(f"spreadsheet {path} has no sheet {sheet!r}; its sheets are {book.sheetnames}") from exc


def _read_csv(path: Path) -> list[SheetRow]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle)
            return [SheetRow(i + 1, tuple(v if v != "" else None for v in row)) for i, row in enumerate(rows)]
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise DatasetError(f"cannot read CSV file {path} ({exc}); save it as UTF-8 CSV or .xlsx") from exc


def normalise_header(value: Any) -> str:
    """``'Estimated Emotion '`` -> ``'estimatedemotion'``: header text without case, spaces or punctuation."""
    return re.sub(r"[^a-z0-9]", "", str(value).lower()) if value is not None else ""


@dataclass(frozen=True)
class Columns:
    """Where each wanted column sits, found from the header row."""

    header_row: int
    index: Mapping[str, int]

    def __getitem__(self, key: str) -> int | None:
        return self.index.get(key)


def find_columns(
    rows: Sequence[SheetRow],
    path: Path,
    required: Mapping[str, Sequence[str]],
    optional: Mapping[str, Sequence[str]] | None = None,
) -> Columns:
    """Locate the header row by its content and map each wanted column to its position.

    Args:
        rows: the sheet's rows.
        path: the file, for messages.
        required: key -> accepted header spellings, the first being the one shown to users.
        optional: the same for columns that may be absent.

    Raises:
        DatasetError: no header row in the first rows, or one lacking required columns (all named).
    """
    optional = optional or {}
    wanted = {**required, **optional}
    accepted = {key: {normalise_header(s) for s in spellings} for key, spellings in wanted.items()}
    best: tuple[int, SheetRow | None, dict[str, int]] = (0, None, {})
    for row in rows[:HEADER_SEARCH_ROWS]:
        found: dict[str, int] = {}
        for position, value in enumerate(row.values):
            text = normalise_header(value)
            for key, names in accepted.items():
                if text in names and key not in found:
                    found[key] = position
        hits = sum(1 for key in required if key in found)
        if hits > best[0]:
            best = (hits, row, found)
        if hits == len(required):
            return Columns(row.number, found)
    expected = ", ".join(spellings[0] for spellings in required.values())
    hits, row, found = best
    if row is None or hits < 2:
        raise DatasetError(
            f"{path}: no header row with the columns {expected} in its first {HEADER_SEARCH_ROWS} rows; "
            "check that this is the dataset's annotation spreadsheet"
        )
    missing = ", ".join(required[key][0] for key in required if key not in found)
    raise DatasetError(
        f"{path}: header row {row.number} lacks the column(s) {missing} (expected {expected}); "
        "use the annotation spreadsheet as the dataset ships it"
    )


def to_int(value: Any) -> int | None:
    """A frame number from a cell: ints, whole floats and digit strings; anything else (blank, '/', '-1') is None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            return None
        number = int(value)
    else:
        text = str(value).strip()
        if not re.fullmatch(r"\d+(\.0+)?", text):
            return None
        number = int(float(text))
    return number if number >= 0 else None


def to_text(value: Any) -> str:
    """A cell as stripped text; whole floats lose their '.0' (an AU cell '12' read as 12.0 stays '12')."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True)
class CodedClip:
    """The cells of one coding-sheet row that every micro-expression set shares."""

    row: int
    subject: Any  # the raw Subject cell; each dataset has its own naming
    filename: str
    emotion: str
    onset: int | None
    apex: int | None
    offset: int | None
    action_units: str


def coded_clips(rows: Sequence[SheetRow], columns: "Columns", sheet: Path) -> Iterator[CodedClip]:
    """The data rows of a coding sheet (below the header, not blank) as :class:`CodedClip`.

    Needs the columns ``subject``, ``filename``, ``emotion``, ``onset``, ``apex``, ``offset`` and optionally ``au``.

    Raises:
        DatasetError: a row whose Subject, Filename or emotion cell is empty, naming the row.
    """
    for row in rows:
        if row.number <= columns.header_row or row.is_blank():
            continue
        clip = CodedClip(
            row=row.number,
            subject=row.cell(columns["subject"]),
            filename=to_text(row.cell(columns["filename"])),
            emotion=to_text(row.cell(columns["emotion"])).lower(),
            onset=to_int(row.cell(columns["onset"])),
            apex=to_int(row.cell(columns["apex"])),
            offset=to_int(row.cell(columns["offset"])),
            action_units=to_text(row.cell(columns["au"])),
        )
        if not to_text(clip.subject) or not clip.filename or not clip.emotion:
            raise DatasetError(
                f"{sheet} row {row.number}: Subject, Filename or emotion is empty; fill it in or delete the row"
            )
        if clip.apex is None:
            log.info("%s row %d (%s): the apex cell %r is not a frame number; the middle frame stands in",
                     sheet.name, row.number, clip.filename, row.cell(columns["apex"]))
        yield clip


# Where a coded clip's frames are: (subject name, clip name, frame folder or None when it does not exist).
ClipLocator = Callable[[CodedClip], tuple[str, str, "Path | None"]]


def coded_records(dataset: str, what: str, clips: Iterable[CodedClip], sheet: Path, where: Path,
                  locate: ClipLocator) -> list[ClipRecord]:
    """One :class:`ClipRecord` per coded clip whose frame folder exists, frames from onset to offset.

    Rows without a folder are reported in one warning (a partial download is common); rows whose folder holds
    no frame in the onset..offset range are skipped with a warning naming the row. A recording folder shared by
    several rows (CAS(ME)^3) is listed once.
    """
    records: list[ClipRecord] = []
    skipped: list[str] = []
    listings: dict[Path, list[tuple[int, Path]]] = {}
    for clip in clips:
        subject, name, folder = locate(clip)
        if folder is None or not folder.is_dir():
            skipped.append(f"row {clip.row} {subject}/{clip.filename}")
            continue
        if folder not in listings:
            listings[folder] = _files.numbered_frames(folder)
        frames = _files.between(listings[folder], clip.onset, clip.offset)
        if not frames:
            log.warning("%s row %d: no frames numbered %s..%s in %s; row skipped",
                        sheet.name, clip.row, clip.onset, clip.offset, folder)
            continue
        records.append(ClipRecord(
            dataset=dataset, subject=subject, clip=name, emotion=clip.emotion,
            frames=tuple(p for _, p in frames), frame_numbers=tuple(n for n, _ in frames),
            onset=clip.onset, apex=clip.apex, offset=clip.offset, action_units=clip.action_units,
        ))
    _files.report_skipped(log, what, skipped, where)
    log.info("%s: %d clips from %s", what, len(records), sheet.name)
    return records
