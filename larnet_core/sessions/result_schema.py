"""What a saved table must look like for the page that reopens it: checked when a bundle is imported (and by
the clip view before it draws a stored session), so a stranger's bundle cannot crash a shared page.

A clip session's ``results`` is the analysis result's per-frame table and its ``intervals`` the spotted intervals
(column groups of :mod:`larnet_core.results`); the columns listed here are those the clip view reads, asked of
the result type's groups. Other columns may follow (new column groups stay readable).
Text that reaches charts and captions (class and interval labels) is limited to the alphabet of class names,
because chart libraries read a little HTML in labels.
"""

from __future__ import annotations

import re
from typing import Mapping

import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.results import EVENT_COLUMNS, INTERVAL_COLUMNS, KEY_COLUMNS, PROB_PREFIX, class_names_in

__all__ = ["CLIP_FRAME_COLUMNS", "CLIP_INTERVAL_COLUMNS", "LIVE_EVENT_COLUMNS", "LABEL_PATTERN",
           "check_result_record", "check_session_tables"]

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


def _fail(what: str, problem: str) -> LarnetError:
    return LarnetError(f"the {what} table {problem}; it does not have the layout LARNet Studio saves")


def _check_column(table: pd.DataFrame, column: str, kind: str, what: str) -> None:
    values = table[column]
    if values.empty:  # an empty table's columns carry no type worth checking (e.g. no events yet)
        return
    if kind == "integer" and not pd.api.types.is_integer_dtype(values.dtype):
        raise _fail(what, f"column {column!r} is {values.dtype}, not integers")
    if kind == "number" and not (pd.api.types.is_numeric_dtype(values.dtype)
                                 and not pd.api.types.is_bool_dtype(values.dtype)):
        raise _fail(what, f"column {column!r} is {values.dtype}, not numbers")
    if kind == "label":
        text = values.dropna()
        if not all(isinstance(v, str) and LABEL_PATTERN.fullmatch(v) for v in text.unique()):
            raise _fail(what, f"column {column!r} holds values that are not labels (1-64 letters, digits, spaces "
                              "or _ . + - / ')")


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


def check_result_record(record: Mapping[str, object]) -> None:
    """Check the labels of a session's result record (class names, the prediction's label and classes): they
    reach charts and captions like the tables' labels.

    Raises:
        LarnetError: naming what is not a label.
    """
    def label(value: object, what: str) -> None:
        if not isinstance(value, str) or not LABEL_PATTERN.fullmatch(value):
            raise LarnetError(f"the saved result's {what} {str(value)[:80]!r} is not a label (1-64 letters, "
                              "digits, spaces or _ . + - / '); it does not have the layout LARNet Studio saves")

    classes = record.get("class_names") or []
    if not isinstance(classes, list):
        raise LarnetError("the saved result's class names are not a list")
    for name in classes:
        label(name, "class name")
    prediction = record.get("prediction")
    if isinstance(prediction, Mapping):
        label(prediction.get("label"), "predicted label")
        probabilities = prediction.get("probabilities")
        for name in probabilities if isinstance(probabilities, Mapping) else []:
            label(name, "class name")


def check_session_tables(kind: str, results: pd.DataFrame | None, intervals: pd.DataFrame | None,
                         events: pd.DataFrame | None) -> None:
    """Check that a session's tables have the layout the page for ``kind`` reads.

    Raises:
        LarnetError: naming the table and the missing or mistyped column.
    """
    for what, table in (("results", results), ("intervals", intervals), ("events", events)):
        if table is not None and not all(isinstance(c, str) for c in table.columns):
            raise _fail(what, "has column names that are not text")
    if kind == "clip":
        _check_clip(results, intervals)
    elif kind == "live":
        if results is not None:
            _check_columns(results, {"time_s": "number", "motion": "number"}, "results")
        if events is not None:
            _check_columns(events, LIVE_EVENT_COLUMNS, "events")
