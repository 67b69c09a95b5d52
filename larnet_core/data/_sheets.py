"""Reading annotation spreadsheets the way the datasets ship them.

Rows keep their spreadsheet row number (1-based, as Excel shows it) so that every error can point at the row.
Columns are found by header text, ignoring case, spaces and punctuation, so blank spacer columns and small
spelling differences between dataset releases do not matter.
"""

from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from larnet_core.errors import DatasetError

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
    import openpyxl  # imported on use: it is only needed when a spreadsheet is read
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
