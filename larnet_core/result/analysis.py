"""The analysis result: one per-frame table per face, the spotted intervals, the clip label, and everything needed
to read it again.

:class:`AnalysisResult` is what clip analysis returns, what a live stream saves, what a saved session, a bundle
or a batch folder reopens as, and what the pages, the CLI's JSON and bundles read. Whatever the face mode, it
holds one table per face with one row per frame (:attr:`AnalysisResult.tables`): a main-face analysis has one,
that follows the main face (its rows may carry several ids when the person left and came back); an every-face
analysis one per tracked face, whose rows for frames without that face are empty (``face_found`` False). The
main face's table is :attr:`AnalysisResult.main`; :attr:`AnalysisResult.frames` is every face's table one after
the other (what files store).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from larnet_core.result.labels import ClipPrediction
from larnet_core.result.meta import ClipMeta
from larnet_core.result.schema import (
    ABSENT_VALUES,
    AU_COLUMNS,
    EVENT_COLUMNS,
    FRAME_GROUPS,
    FRAME_WIDE_COLUMNS,
    INPUT_COLUMNS,
    LIVE_COLUMNS,
    LIVE_FACE_STATE_COLUMNS,
    MOTION_COLUMNS,
    PREDICTION_COLUMNS,
    RESULT_FORMAT,
    TRACK_COLUMNS,
    empty_intervals,
    prob_column,
    probability_columns,
)

__all__ = ["AnalysisResult", "split_faces", "events_table", "live_result"]


@dataclass
class AnalysisResult:
    """Everything an analysis produced (a clip's, or a live stream's).

    Attributes:
        meta: the clip (frame_count is the number of frames actually decoded; a live stream's frames analysed).
        tables: face id -> that face's per-frame table, one row per frame, columns
            :func:`~larnet_core.result.schema.frame_layout` for a clip,
            :data:`~larnet_core.result.schema.LIVE_COLUMNS` plus probabilities for a live stream. Face boxes are
            in stored-frame pixels; motion in pixels of a 96-pixel aligned face crop; ``input_*`` record the
            alignment (working-frame pixels -> model input) and the flow reference frame of the row's model input.
        intervals: one row per spotted interval, columns :data:`~larnet_core.result.schema.INTERVAL_COLUMNS`.
        prediction: the clip-level label (of the main face); None for a live stream.
        class_names: the model's classes, in ``prob_`` column order.
        model: what model produced the probabilities (:func:`~larnet_core.result.model_provenance`).
        settings: how the analysis ran (face mode, tracker backend, inference stride, working size, spotting ...).
        warnings: things the user should know (other faces, whole-frame fallback, truncated stream).
        faces: one row per face track with ``main``.
        events: a live stream's spotted events (:data:`~larnet_core.result.schema.EVENT_COLUMNS`); None for a clip.
        kind: ``clip`` or ``live``.
    """

    meta: ClipMeta
    tables: dict[int, pd.DataFrame]
    intervals: pd.DataFrame
    prediction: ClipPrediction | None
    class_names: list[str]
    model: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    faces: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: pd.DataFrame | None = None
    kind: str = "clip"

    @classmethod
    def from_frames(cls, meta: ClipMeta, frames: pd.DataFrame, intervals: pd.DataFrame,
                    prediction: ClipPrediction | None, class_names: list[str], model: Mapping[str, Any] | None = None,
                    settings: Mapping[str, Any] | None = None, warnings: Iterable[str] = (),
                    faces: pd.DataFrame | None = None, events: pd.DataFrame | None = None,
                    kind: str = "clip") -> AnalysisResult:
        """A result from its stored form: every face's rows in one table (:attr:`frames`)."""
        settings = dict(settings or {})
        tables = split_faces(frames, every_face=bool(settings.get("all_faces")),
                             main_id=_int(settings.get("main_face_id"), 0))
        return cls(meta, tables, intervals, prediction, list(class_names), dict(model or {}), settings,
                   list(warnings), faces if faces is not None else pd.DataFrame(), events, kind)

    # ------------------------------------------------------------------------------------------- tables
    @property
    def main_face_id(self) -> int:
        """The id of the main face's table."""
        wanted = _int(self.settings.get("main_face_id"), -1)
        return wanted if wanted in self.tables else next(iter(self.tables), 0)

    @property
    def main(self) -> pd.DataFrame:
        """The main face's table: one row per frame."""
        return self.tables[self.main_face_id] if self.tables else pd.DataFrame()

    @property
    def frames(self) -> pd.DataFrame:
        """Every face's table in one, as files store it: one row per frame and face table, frames in order (a
        frame's rows in face order)."""
        if len(self.tables) == 1:
            return next(iter(self.tables.values()))
        if not self.tables:
            return pd.DataFrame()
        joined = pd.concat([self.tables[f] for f in sorted(self.tables)], ignore_index=True)
        return joined.sort_values("frame", kind="stable").reset_index(drop=True)

    def group(self, name: str) -> pd.DataFrame:
        """One column group of the main face's table (:data:`~larnet_core.result.schema.FRAME_GROUPS`)."""
        return self.main[[c for c in FRAME_GROUPS[name] if c in self.main.columns]]

    @property
    def probabilities(self) -> pd.DataFrame:
        """The main face's ``prob_<class>`` columns, in class order."""
        return self.main[probability_columns(self.class_names)]

    @property
    def predictions(self) -> pd.DataFrame:
        """Per-frame top class, its probability and whether the model saw the frame (main face)."""
        return self.main[[c for c in PREDICTION_COLUMNS if c in self.main.columns]]

    @property
    def track(self) -> pd.DataFrame:
        """The face-track columns of the main face's table."""
        return self.main[[c for c in TRACK_COLUMNS if c in self.main.columns]]

    @property
    def motion(self) -> pd.DataFrame:
        """The motion columns of the main face's table: overall, by region, macro scale, head motion, segment."""
        return self.main[[c for c in MOTION_COLUMNS if c in self.main.columns]]

    @property
    def inputs(self) -> pd.DataFrame:
        """The model input record of every row of the main face's table."""
        return self.main[[c for c in INPUT_COLUMNS if c in self.main.columns]]

    @property
    def in_interval(self) -> pd.Series:
        """Whether each frame lies inside a spotted interval of the main face."""
        return self.main["in_interval"]

    @property
    def synthetic(self) -> bool:
        """True when the model was trained on generated faces (every display must say so)."""
        return bool(self.model.get("synthetic", False))

    @property
    def face_ids(self) -> list[int]:
        """The face ids that have rows (in a main-face analysis, every id the followed person had)."""
        ids: set[int] = set()
        for table in self.tables.values():
            if "face_id" in table:
                ids.update(int(v) for v in table.loc[table["face_id"] >= 0, "face_id"].unique())
        return sorted(ids)

    @property
    def frames_with_face(self) -> int:
        """Frames in which any followed face is in view."""
        if not self.tables:
            return 0
        found = [t["face_found"].to_numpy(dtype=bool) for t in self.tables.values() if "face_found" in t]
        if not found:
            return len(self.main)
        return int(np.logical_or.reduce(found).sum())

    def for_face(self, face_id: int) -> AnalysisResult:
        """The result of one face: its table and intervals (for every-face results; a main-face result has one)."""
        table = self.tables.get(face_id, self.main)
        intervals = self.intervals
        if "face_id" in intervals and len(self.tables) > 1:
            intervals = intervals[intervals["face_id"] == face_id].reset_index(drop=True)
        return replace(self, tables={face_id: table}, intervals=intervals,
                       settings={**self.settings, "main_face_id": face_id})

    # ------------------------------------------------------------------------------------------- summaries
    def summary(self) -> dict[str, Any]:
        """A JSON-able summary: clip, model, prediction, faces, intervals, settings and warnings."""
        intervals = self.intervals
        records = json.loads(intervals.to_json(orient="records")) if len(intervals) else []
        faces = json.loads(self.faces.to_json(orient="records")) if len(self.faces) else []
        out = {
            "kind": self.kind,
            "clip": self.meta.to_dict(),
            "model": dict(self.model),
            "prediction": self.prediction.to_dict() if self.prediction is not None else None,
            "class_names": list(self.class_names),
            "faces": faces,
            "intervals": records,
            "n_micro": int((intervals["kind"] == "micro").sum()) if len(intervals) else 0,
            "n_macro": int((intervals["kind"] == "macro").sum()) if len(intervals) else 0,
            "frames_with_face": self.frames_with_face,
            "settings": dict(self.settings),
            "warnings": list(self.warnings),
        }
        if self.events is not None:
            out["events"] = json.loads(self.events.to_json(orient="records")) if len(self.events) else []
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`summary` as JSON text."""
        return json.dumps(self.summary(), indent=indent, default=json_default)

    def record(self) -> dict[str, Any]:
        """What a store keeps besides the tables: prediction, class names, model, settings, warnings, clip."""
        return json.loads(json.dumps({
            "format": RESULT_FORMAT, "kind": self.kind, "clip": self.meta.to_dict(),
            "class_names": list(self.class_names),
            "prediction": self.prediction.to_dict() if self.prediction is not None else None,
            "model": dict(self.model), "settings": dict(self.settings), "warnings": list(self.warnings),
        }, default=json_default))

    def stored_tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the result by name as files store it (``frames``, ``intervals``, ``faces``, and
        ``events`` when present)."""
        out = {"frames": self.frames, "intervals": self.intervals, "faces": self.faces}
        if self.events is not None:
            out["events"] = self.events
        return out


def split_faces(frames: pd.DataFrame, *, every_face: bool, main_id: int = 0) -> dict[int, pd.DataFrame]:
    """One table per face, one row per frame, from the stored form (:attr:`AnalysisResult.frames`).

    A main-face table is kept whole under ``main_id``. An every-face table gets one table per face id: that face's
    rows, and for frames without it an empty row (:data:`~larnet_core.result.schema.ABSENT_VALUES`, NaN
    elsewhere, the frame's own time, face count and cut), whatever order the rows were stored in.
    """
    if not every_face or "face_id" not in frames or "frame" not in frames:
        return {int(main_id): frames.reset_index(drop=True)}
    ids = sorted(int(v) for v in frames.loc[frames["face_id"] >= 0, "face_id"].unique())
    if len(ids) < 2 and frames["frame"].is_unique:
        return {ids[0] if ids else int(main_id): frames.reset_index(drop=True)}
    per_frame = frames.drop_duplicates("frame").sort_values("frame", kind="stable").set_index("frame")
    out = {}
    for face_id in ids or [int(main_id)]:
        own = frames[frames["face_id"] == face_id].drop_duplicates("frame").set_index("frame")
        table = own.reindex(per_frame.index)
        missing = ~table.index.isin(own.index)
        if missing.any():
            for column in table.columns:
                if column in FRAME_WIDE_COLUMNS:
                    table.loc[missing, column] = per_frame.loc[missing, column]
                elif column in ABSENT_VALUES:
                    values = table[column].to_numpy(dtype=object, copy=True)
                    values[missing] = ABSENT_VALUES[column]  # None stays None (as analysis writes it), not NaN
                    table[column] = pd.Series(values, dtype=object, index=table.index)
                else:
                    table.loc[missing, column] = np.nan
        table = table.reset_index()[list(frames.columns)]
        out[face_id] = table.astype({c: frames[c].dtype for c in frames.columns if frames[c].dtype != object})
    return out


def events_table(events: Iterable[Any]) -> pd.DataFrame:
    """A live stream's spotted events (objects with the :data:`EVENT_COLUMNS` as attributes) as a table."""
    # Events of streams saved before action units were estimated have no ``aus`` / ``rule_label``: empty text.
    table = pd.DataFrame([{c: getattr(e, c, "") for c in EVENT_COLUMNS} for e in events],
                         columns=list(EVENT_COLUMNS))
    return table.astype({"time_s": "float64", "kind": "object", "label": "object", "confidence": "float64",
                         "duration_s": "float64", "face_id": "int64", "apex_s": "float64", "peak_motion": "float64",
                         "aus": "object", "rule_label": "object"})


def live_face_state(report: object) -> dict[str, float]:
    """A live frame report's :data:`LIVE_FACE_STATE_COLUMNS` (``pose`` and ``aus`` attributes; NaN without)."""
    pose = getattr(report, "pose", None) or (float("nan"),) * 3
    units = getattr(report, "aus", None) or {}
    row = dict(zip(LIVE_FACE_STATE_COLUMNS[:3], map(float, pose)))
    row.update({name: float(units.get(name, float("nan"))) for name in AU_COLUMNS})
    return row


def live_result(history: Iterable[Any], events: Iterable[Any], class_names: list[str], model: dict[str, Any],
                settings: dict[str, Any], *, fps: float, name: str = "webcam",
                intervals: pd.DataFrame | None = None) -> AnalysisResult:
    """A live stream's result: its smoothed per-frame history, the events it spotted and its settings.

    Args:
        history: per-frame reports with ``frame_index``, ``time_s``, ``label``, ``confidence``,
            ``probabilities`` (class -> smoothed probability) and ``motion``, oldest first.
        events: the stream's events (``LiveEvent``), oldest first.
        class_names: the model's classes.
        model: :func:`~larnet_core.result.model_provenance` of the stream's predictor.
        settings: the stream's settings (``LiveAnalyzer.settings``).
        fps: the stream's frame rate (for the input reference).
        name: what the input is called.
        intervals: the same events as a clip's interval table (``LiveAnalyzer.intervals``).
    """
    rows = []
    for report in history:
        probabilities = dict(report.probabilities or {})
        row = {"frame": int(report.frame_index), "time_s": float(report.time_s),
               "face_found": report.label is not None}
        row.update({prob_column(c): float(probabilities.get(c, np.nan)) for c in class_names})
        row.update({"pred_label": report.label, "confidence": float(report.confidence)
                    if report.confidence is not None else np.nan, "motion": float(report.motion)})
        row.update(live_face_state(report))
        rows.append(row)
    layout = [*LIVE_COLUMNS[:3], *probability_columns(class_names), *LIVE_COLUMNS[3:], *LIVE_FACE_STATE_COLUMNS]
    frames = pd.DataFrame(rows, columns=layout)
    dtypes = {"frame": "int64", "time_s": "float64", "face_found": "bool", "pred_label": "object",
              "confidence": "float64", "motion": "float64", **{c: "float64" for c in probability_columns(class_names)},
              **{c: "float64" for c in LIVE_FACE_STATE_COLUMNS}}
    frames = frames.astype(dtypes)
    # Missing labels stay None (as in a clip's table), not the NaN text inference would give.
    frames["pred_label"] = pd.Series([r["pred_label"] for r in rows], dtype=object, index=frames.index)
    table = events_table(events)
    n = int(frames["frame"].iloc[-1]) + 1 if len(frames) else 0
    meta = ClipMeta(name, float(fps), 0, 0, n, n / fps if fps else 0.0, "")
    intervals = intervals if intervals is not None else empty_intervals()
    return AnalysisResult(meta, {0: frames}, intervals, None, list(class_names), dict(model),
                          dict(settings), [], pd.DataFrame(), table, "live")


def json_default(value: Any) -> Any:
    """JSON for numpy scalars, arrays and tuples (anything else as text)."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    return str(value)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
