"""What a saved table must look like for the page that reopens it: checked when a bundle is imported (and by
the clip view before it draws a stored session), so a stranger's bundle cannot crash a shared page.

A clip session's ``results`` is the clip analysis' per-frame table and its ``intervals`` the spotted intervals
(:data:`larnet_core.video.analysis.FRAME_COLUMNS`, :data:`larnet_core.video.spotting.INTERVAL_COLUMNS`); the
columns listed here are those the clip view reads. Other columns may follow (new column groups stay readable).
Text that reaches charts and captions (class and interval labels) is limited to the alphabet of class names,
because chart libraries read a little HTML in labels.
"""

from __future__ import annotations

import re
from typing import Mapping

import pandas as pd

from larnet_core.errors import LarnetError

__all__ = ["CLIP_FRAME_COLUMNS", "CLIP_INTERVAL_COLUMNS", "LIVE_EVENT_COLUMNS", "LABEL_PATTERN",
           "check_session_tables"]

#: Columns a clip's per-frame table needs, with their kind (plus at least one ``prob_<class>`` column).
CLIP_FRAME_COLUMNS: Mapping[str, str] = {
    "frame": "integer", "time_s": "number", "face_x0": "number", "face_y0": "number", "face_x1": "number",
    "face_y1": "number", "pred_label": "label", "confidence": "number", "motion": "number",
}
#: Columns a clip's interval table needs.
CLIP_INTERVAL_COLUMNS: Mapping[str, str] = {
    "onset_frame": "integer", "apex_frame": "integer", "offset_frame": "integer", "onset_s": "number",
    "apex_s": "number", "offset_s": "number", "duration_s": "number", "kind": "label", "label": "label",
}
#: Columns of a live session's events table.
LIVE_EVENT_COLUMNS: Mapping[str, str] = {"time_s": "number", "label": "label", "confidence": "number",
                                         "duration_s": "number"}
#: Class names and labels (the model card's class-name alphabet).
LABEL_PATTERN = re.compile(r"\w[\w .+\-/']{0,63}")
_PROB_PREFIX = "prob_"


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
    probabilities = [c for c in results.columns if c.startswith(_PROB_PREFIX)]
    if not probabilities:
        raise _fail("results", "has no prob_<class> columns")
    for column in probabilities:
        if not LABEL_PATTERN.fullmatch(column[len(_PROB_PREFIX):]):
            raise _fail("results", f"has the column {column[:80]!r}, whose class name is not a label")
        _check_column(results, column, "number", "results")
    if len(results) and not results["frame"].is_monotonic_increasing:
        raise _fail("results", "has frame numbers out of order")
    if intervals is not None:
        _check_columns(intervals, CLIP_INTERVAL_COLUMNS, "intervals")


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
