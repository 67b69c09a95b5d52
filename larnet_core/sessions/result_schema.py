"""What a saved result must look like for the pages that read it: checked when a session is saved or a bundle is
imported (and again by the clip view before it draws a stored session), so a stranger's bundle cannot crash or
overload a shared page.

Three checks, each raising :class:`~larnet_core.errors.LarnetError` with a message naming the table, the column
and the bound:

* :func:`check_session_values` - the values of every table (any kind of session): numbers finite and of a sane
  magnitude, text cells short, and for clip and live sessions the columns the pages read, by name: frame numbers
  non-negative integers within :data:`MAX_FRAME_COUNT`, times finite, face boxes
  within :data:`MAX_BOX_PIXELS` of the frame, probabilities within 0-1, face ids integers; plus the record;
* :func:`check_session_tables` - the layout the reopening page reads (the columns of a clip's per-frame and
  interval tables, a live session's events), then the values;
* :func:`check_result_record` - the result record (``result.json``): class names and labels, the prediction field
  by field, the settings the clip view reads (``main_face_id`` an integer or null ...), warnings.

A clip session's ``results`` is the analysis result's per-frame table and its ``intervals`` the spotted intervals
(column groups of :mod:`larnet_core.result`); the columns listed here are those the clip view reads, asked of
the result type's groups. Other columns may follow (new column groups stay readable).
Text that reaches charts and captions (class and interval labels) is limited to the alphabet of class names,
because chart libraries read a little HTML in labels.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import numpy as np
import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.result import (
    EVENT_COLUMNS,
    INTERVAL_COLUMNS,
    KEY_COLUMNS,
    PREDICTION_COLUMNS,
    PROB_PREFIX,
    TRACK_COLUMNS,
    class_names_in,
)

__all__ = ["CLIP_FRAME_COLUMNS", "CLIP_INTERVAL_COLUMNS", "LIVE_EVENT_COLUMNS", "LABEL_PATTERN", "MAX_TEXT_CELL_CHARS",
           "MAX_NUMBER", "MAX_SECONDS", "MAX_FACE_ID", "MAX_BOX_PIXELS", "check_result_record",
           "check_session_tables", "check_session_values", "check_table_values"]

#: Columns a clip's per-frame table needs, with their kind (plus at least one ``prob_<class>`` column).
CLIP_FRAME_COLUMNS: Mapping[str, str] = {
    **dict(zip(KEY_COLUMNS, ("integer", "number"))), **{c: "number" for c in ("face_x0", "face_y0", "face_x1",
                                                                               "face_y1")},
    "pred_label": "label", "confidence": "number", "motion": "number",
}
#: Columns a clip's interval table needs.
CLIP_INTERVAL_COLUMNS: Mapping[str, str] = {
    c: "integer" if c.endswith("_frame") else "label" if c in ("kind", "label") else "number"
    for c in INTERVAL_COLUMNS if c not in ("face_id", "confidence", "peak_motion", "aus", "rule_label")
}
#: Columns of a live session's events table.
LIVE_EVENT_COLUMNS: Mapping[str, str] = {c: "label" if c == "label" else "number" for c in EVENT_COLUMNS
                                         if c in ("time_s", "label", "confidence", "duration_s")}
#: Class names and labels (the model card's class-name alphabet).
LABEL_PATTERN = re.compile(r"\w[\w .+\-/']{0,63}")

#: Longest text in any cell of a stored table (labels are 64 characters; names and paths a few hundred).
MAX_TEXT_CELL_CHARS = 4096
#: Largest magnitude of any stored number (areas of the largest frame are 10^10; nothing real comes near).
MAX_NUMBER = 1e12
#: Largest stored integer: every one stays exact in a browser's 64-bit floating point.
MAX_INTEGER = 2**53
#: Times (seconds) lie in 0 ... MAX_SECONDS (115 days).
MAX_SECONDS = 1e7
#: Face ids lie in -1 (no face) ... MAX_FACE_ID.
MAX_FACE_ID = 1_000_000
#: Face boxes lie within this many pixels around the frame (a box may overhang the frame's edge).
#: Bounds on the numbers of an input reference (each fits a 64-bit database column with room to spare).
MAX_FRAME_SIDE = 100_000
MAX_FRAME_COUNT = 10**9
MAX_FPS = 100_000.0
MAX_BOX_PIXELS = MAX_FRAME_SIDE
_MAX_COLUMN_NAME_CHARS = 200
_MAX_CLASSES = 1000
_MAX_WARNINGS = 200
_MAX_WARNING_CHARS = 2000
_MAX_RECORD_TEXT_CHARS = 20_000
# Probabilities may exceed 1 by rounding when averaged.
_UNIT = (-1e-6, 1 + 1e-6)

# Columns the pages read, by name (asked of larnet_core.result's groups): how each must look in a clip's or a
# live session's tables. Frame numbers are the key column and every "*_frame" column (interval bounds, a face
# track's first and last frame); the times that are drawn are the key column and the interval's times.
_FRAME, _TIME = KEY_COLUMNS
_FACE_ID = next(c for c in TRACK_COLUMNS if c.endswith("_id"))
_BOX = tuple(c for c in TRACK_COLUMNS if c.startswith("face_") and c[-2:] in ("x0", "y0", "x1", "y1"))
_TIMES = (_TIME, *(c for c in INTERVAL_COLUMNS if c.endswith("_s")))
_UNIT_COLUMNS = (PREDICTION_COLUMNS[1], *(c for c in TRACK_COLUMNS if c.endswith("_confidence")))


def _fail(what: str, problem: str) -> LarnetError:
    return LarnetError(f"the {what} table {problem}; it does not have the layout LARNet Studio saves")


def _check_column(table: pd.DataFrame, column: str, kind: str, what: str) -> None:
    values = table[column]
    if values.empty:  # an empty table's columns carry no type worth checking (e.g. no events yet)
        return
    if kind == "integer" and not _is_integer(values):
        raise _fail(what, f"column {column!r} is {values.dtype}, not integers")
    if kind == "number" and not _is_number(values):
        raise _fail(what, f"column {column!r} is {values.dtype}, not numbers")
    if kind == "label":
        text = values.dropna()
        if not all(isinstance(v, str) and LABEL_PATTERN.fullmatch(v) for v in text.unique()):
            raise _fail(what, f"column {column!r} holds values that are not labels (1-64 letters, digits, spaces "
                              "or _ . + - / ')")


def _is_integer(values: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)


def _is_number(values: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
            and not pd.api.types.is_complex_dtype(values.dtype))


def _check_columns(table: pd.DataFrame, wanted: Mapping[str, str], what: str) -> None:
    if not all(isinstance(c, str) for c in table.columns):
        raise _fail(what, "has column names that are not text")
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise _fail(what, f"lacks the column(s) {', '.join(missing)}")
    if table.columns.duplicated().any():
        raise _fail(what, "names a column twice")
    for column, kind in wanted.items():
        _check_column(table, column, kind, what)


def _check_clip(results: pd.DataFrame | None, intervals: pd.DataFrame | None) -> None:
    if results is None:
        raise _fail("results", "is missing (a clip session holds its per-frame table)")
    _check_columns(results, CLIP_FRAME_COLUMNS, "results")
    classes = class_names_in(results.columns)
    if not classes:
        raise _fail("results", f"has no {PROB_PREFIX}<class> columns")
    for name in classes:
        column = PROB_PREFIX + name
        if not LABEL_PATTERN.fullmatch(name):
            raise _fail("results", f"has the column {column[:80]!r}, whose class name is not a label")
        _check_column(results, column, "number", "results")
    if len(results) and not results["frame"].is_monotonic_increasing:
        raise _fail("results", "has frame numbers out of order")
    if intervals is not None:
        _check_columns(intervals, CLIP_INTERVAL_COLUMNS, "intervals")


# ---------------------------------------------------------------------------------------------------- values
def _as_floats(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _check_range(values: pd.Series, column: str, what: str, low: float, high: float, *, missing: bool) -> None:
    """Every value of a numeric column within ``low ... high``; NaN (a missing value) only when ``missing``."""
    numbers = _as_floats(values)
    absent = np.isnan(numbers)
    if absent.any() and not missing:
        raise _fail(what, f"column {column!r} has missing values")
    present = numbers[~absent]
    if present.size and (present.min() < low or present.max() > high):
        bad = present[(present < low) | (present > high)][0]
        raise _fail(what, f"column {column!r} holds {str(bad)[:40]}, outside {low:g} ... {high:g}")


def _check_text(values: pd.Series, column: str, what: str) -> None:
    present = values[values.notna()]
    if present.empty:
        return
    if not present.map(type).eq(str).all():
        raise _fail(what, f"column {column!r} mixes text with other values")
    longest = int(present.str.len().max())
    if longest > MAX_TEXT_CELL_CHARS:
        raise _fail(what, f"column {column!r} holds a text of {longest:,} characters; at most "
                          f"{MAX_TEXT_CELL_CHARS:,} are accepted")


def _check_any(values: pd.Series, column: str, what: str) -> None:
    """Bounds every column of every stored table obeys, whatever its name."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        _check_any(pd.Series(dtype.categories), column, what)
    elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype) \
            or pd.api.types.is_timedelta64_dtype(dtype):
        return
    elif _is_integer(values):
        _check_range(values, column, what, -MAX_INTEGER, MAX_INTEGER, missing=True)
    elif _is_number(values):
        numbers = _as_floats(values)
        if np.isinf(numbers).any():
            raise _fail(what, f"column {column!r} holds an infinite number")
        _check_range(values, column, what, -MAX_NUMBER, MAX_NUMBER, missing=True)
    elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        _check_text(values, column, what)
    else:
        raise _fail(what, f"column {column!r} has the type {dtype}; only numbers, booleans, text, categories and "
                          "date-times are stored")


def _check_read_column(values: pd.Series, column: str, what: str) -> None:
    """The columns a clip's or live session's page reads, by name (only when present: layouts are checked
    separately)."""
    if column == _FRAME or column.endswith("_frame"):
        if not _is_integer(values):
            raise _fail(what, f"column {column!r} is {values.dtype}, not frame numbers")
        _check_range(values, column, what, 0, MAX_FRAME_COUNT, missing=False)
    elif column == _FACE_ID:
        if not _is_integer(values):
            raise _fail(what, f"column {column!r} is {values.dtype}, not integer face ids")
        _check_range(values, column, what, -1, MAX_FACE_ID, missing=False)
    elif column in _BOX:
        if not _is_number(values):
            raise _fail(what, f"column {column!r} is {values.dtype}, not pixel coordinates")
        _check_range(values, column, what, -MAX_BOX_PIXELS, 2 * MAX_BOX_PIXELS, missing=True)
    elif column in _TIMES or (column.endswith("_s") and _is_number(values)):
        if not _is_number(values):
            raise _fail(what, f"column {column!r} is {values.dtype}, not times in seconds")
        # The time axis and interval bounds are drawn: they must be there; other times may be missing.
        _check_range(values, column, what, 0, MAX_SECONDS, missing=column not in _TIMES)
    elif column.startswith(PROB_PREFIX) or column in _UNIT_COLUMNS:
        if not _is_number(values):
            raise _fail(what, f"column {column!r} is {values.dtype}, not probabilities")
        _check_range(values, column, what, *_UNIT, missing=True)


def check_table_values(part: str, table: pd.DataFrame, kind: str | None = None) -> None:
    """Check the values of one stored table: every column (and a non-trivial index) within the bounds any stored
    table obeys, and, for a ``clip`` or ``live`` session, the columns its pages read (see the module docstring).

    Raises:
        LarnetError: naming the table, the column and the bound.
    """
    if not isinstance(table, pd.DataFrame):
        raise LarnetError(f"the {part} table must be a pandas DataFrame, got {type(table).__name__}")
    if table.empty:
        return
    for column in table.columns:
        if not isinstance(column, str) or len(column) > _MAX_COLUMN_NAME_CHARS:
            raise _fail(part, f"has a column name that is not text of at most {_MAX_COLUMN_NAME_CHARS} characters")
    if table.columns.duplicated().any():
        raise _fail(part, "names a column twice")
    if not isinstance(table.index, pd.RangeIndex):
        for level in range(table.index.nlevels):
            _check_any(pd.Series(table.index.get_level_values(level)), "(index)", part)
    for column in table.columns:
        values = table[column]
        _check_any(values, column, part)
        if kind in ("clip", "live"):
            _check_read_column(values, column, part)
    if kind == "clip" and part == "faces" and _FACE_ID in table and table[_FACE_ID].duplicated().any():
        raise _fail(part, "lists a face id twice")


def check_session_values(kind: str, tables: Mapping[str, pd.DataFrame | None],
                         record: Mapping[str, Any] | None = None) -> None:
    """Check every table's values (:func:`check_table_values`) and the result record
    (:func:`check_result_record`) of a session of ``kind``: what a session save and a bundle import run.

    Raises:
        LarnetError: naming what is wrong.
    """
    for part, table in tables.items():
        if table is not None:
            check_table_values(part, table, kind)
    if record:
        check_result_record(record)


# ---------------------------------------------------------------------------------------------------- record
def _record_fail(problem: str) -> LarnetError:
    return LarnetError(f"the saved result's {problem}; it does not have the layout LARNet Studio saves")


def _label(value: object, what: str) -> None:
    if not isinstance(value, str) or not LABEL_PATTERN.fullmatch(value):
        raise LarnetError(f"the saved result's {what} {str(value)[:80]!r} is not a label (1-64 letters, "
                          "digits, spaces or _ . + - / '); it does not have the layout LARNet Studio saves")


def _number(value: object, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise _record_fail(f"{what} {str(value)[:40]!r} is not a number from {low:g} to {high:g}")
    return float(value)


def _integer(value: object, what: str, low: int, high: int, *, null: bool = False) -> None:
    if value is None and null:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _record_fail(f"{what} {str(value)[:40]!r} is not an integer from {low:,} to {high:,}"
                           f"{' (or null)' if null else ''}")


def _check_prediction(prediction: object) -> None:
    if prediction is None:
        return
    if not isinstance(prediction, Mapping):
        raise _record_fail("prediction is not a JSON object")
    _label(prediction.get("label"), "predicted label")
    _number(prediction.get("confidence"), "prediction confidence", *_UNIT)
    probabilities = prediction.get("probabilities")
    if not isinstance(probabilities, Mapping) or len(probabilities) > _MAX_CLASSES:
        raise _record_fail(f"prediction probabilities are not a mapping of at most {_MAX_CLASSES} classes")
    for name, value in probabilities.items():
        _label(name, "class name")
        _number(value, f"probability of {name}", *_UNIT)
    window = prediction.get("window")
    if not isinstance(window, list) or len(window) != 2:
        raise _record_fail("prediction window is not two frame numbers")
    for value in window:
        _integer(value, "prediction window frame", 0, MAX_FRAME_COUNT)
    _label(prediction.get("source"), "prediction source")


def _check_settings(settings: object) -> None:
    if settings is None:
        return
    if not isinstance(settings, Mapping):
        raise _record_fail("settings are not a JSON object")
    # The settings the clip view reads; the others are only shown (as JSON, bounded by the record's size).
    if "main_face_id" in settings:
        _integer(settings["main_face_id"], "settings.main_face_id", -1, MAX_FACE_ID, null=True)
    if "all_faces" in settings and not isinstance(settings["all_faces"], bool):
        raise _record_fail("settings.all_faces is not true or false")
    for key, low, high in (("working_max_side", 16, MAX_FRAME_SIDE), ("input_size", 16, 512),
                           ("inference_stride", 1, MAX_FRAME_COUNT)):
        if key in settings:
            _integer(settings[key], f"settings.{key}", low, high)


def _check_texts(section: object, what: str) -> None:
    """A record section shown as text (model, clip): a JSON object of short plain values."""
    if section is None:
        return
    if not isinstance(section, Mapping):
        raise _record_fail(f"{what} is not a JSON object")
    for key, value in section.items():
        if isinstance(value, str) and len(value) > _MAX_RECORD_TEXT_CHARS:
            raise _record_fail(f"{what}.{str(key)[:40]} is longer than {_MAX_RECORD_TEXT_CHARS:,} characters")
        if isinstance(value, float) and not math.isfinite(value):
            raise _record_fail(f"{what}.{str(key)[:40]} is not a finite number")


def check_result_record(record: Mapping[str, object]) -> None:
    """Check a session's result record (``result.json``): class names and the prediction's labels (they reach
    charts and captions like the tables' labels), the prediction's numbers, the settings the clip view reads
    (``main_face_id`` an integer or null, ``working_max_side`` ...), the warnings (short text), the model and clip
    sections.

    Raises:
        LarnetError: naming the field and what it should be.
    """
    if not isinstance(record, Mapping):
        raise _record_fail("record is not a JSON object")
    classes = record.get("class_names") or []
    if not isinstance(classes, list) or len(classes) > _MAX_CLASSES:
        raise LarnetError(f"the saved result's class names are not a list of at most {_MAX_CLASSES}")
    for name in classes:
        _label(name, "class name")
    _check_prediction(record.get("prediction"))
    _check_settings(record.get("settings"))
    warnings = record.get("warnings")
    if warnings is not None:
        if not isinstance(warnings, list) or len(warnings) > _MAX_WARNINGS or not all(
                isinstance(w, str) and len(w) <= _MAX_WARNING_CHARS for w in warnings):
            raise _record_fail(f"warnings are not a list of at most {_MAX_WARNINGS} texts of at most "
                               f"{_MAX_WARNING_CHARS} characters")
    _check_texts(record.get("model"), "model")
    clip = record.get("clip")
    _check_texts(clip, "clip")
    if isinstance(clip, Mapping) and clip.get("fps") is not None:
        _number(clip["fps"], "clip fps", 0, MAX_FPS)


def check_session_tables(kind: str, results: pd.DataFrame | None, intervals: pd.DataFrame | None,
                         events: pd.DataFrame | None, faces: pd.DataFrame | None = None) -> None:
    """Check that a session's tables have the layout the page for ``kind`` reads, and their values
    (:func:`check_table_values`).

    Raises:
        LarnetError: naming the table and the missing, mistyped or out-of-range column.
    """
    tables = {"results": results, "intervals": intervals, "events": events, "faces": faces}
    for what, table in tables.items():
        if table is not None and not all(isinstance(c, str) for c in table.columns):
            raise _fail(what, "has column names that are not text")
    if kind == "clip":
        _check_clip(results, intervals)
    elif kind == "live":
        if results is not None:
            _check_columns(results, {"time_s": "number", "motion": "number"}, "results")
        if events is not None:
            _check_columns(events, LIVE_EVENT_COLUMNS, "events")
    check_session_values(kind, tables)
