"""The analysis result: one per-frame table with named column groups, and everything needed to read it again.

:class:`AnalysisResult` is what clip analysis returns (``ClipAnalysis`` is the same type), what a live stream
saves, what a saved session reopens as and what the pages, the CLI's JSON and bundles read. Column names live
here and only here: other code asks :func:`prob_column`, :func:`probability_columns`, :func:`class_names_in`
and the column groups (:data:`TRACK_COLUMNS`, :data:`MOTION_COLUMNS` ...) instead of spelling them out.

Per-frame column groups (in table order):

* ``frame``, ``time_s``;
* face track (:data:`TRACK_COLUMNS`): whether and which face was followed, the face box in stored-frame pixels;
* probabilities: one ``prob_<class>`` column per class, then :data:`PREDICTION_COLUMNS`;
* motion (:data:`MOTION_COLUMNS`): overall and by face region, head motion, the face segment;
* interval membership (:data:`MEMBERSHIP_COLUMNS`);
* model input record (:data:`INPUT_COLUMNS`): the alignment that made the model input of the row.

``to_session()`` / ``from_session()`` convert to and from a saved :class:`~larnet_core.sessions.AnalysisSession`
without loss: the tables keep their dtypes, and prediction, class names, model, settings and warnings travel in
the session's ``result`` record (:meth:`AnalysisResult.record`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np
import pandas as pd

from larnet_core.aus.names import FACE_STATE_COLUMNS, INTERVAL_AU_COLUMNS, LIVE_FACE_STATE_COLUMNS, live_face_state
from larnet_core.errors import LarnetError
from larnet_core.face.inputs import INPUT_COLUMNS
from larnet_core.video.motion import REGIONS
from larnet_core.video.reader import ClipMeta
from larnet_core.video.spotting import INTERVAL_COLUMNS as _SPOTTED_COLUMNS

if TYPE_CHECKING:  # the sessions package imports this module; keep the import one way at run time
    from larnet_core.face.inputs import ModelInput
    from larnet_core.sessions.model import AnalysisSession

__all__ = [
    "PROB_PREFIX",
    "RESULT_FORMAT",
    "KEY_COLUMNS",
    "TRACK_COLUMNS",
    "PREDICTION_COLUMNS",
    "MOTION_COLUMNS",
    "MEMBERSHIP_COLUMNS",
    "INPUT_COLUMNS",
    "FRAME_COLUMNS",
    "INTERVAL_COLUMNS",
    "EVENT_COLUMNS",
    "LIVE_COLUMNS",
    "prob_column",
    "probability_columns",
    "class_names_in",
    "frame_layout",
    "model_info",
    "live_result",
    "events_table",
    "ClipPrediction",
    "AnalysisResult",
]

PROB_PREFIX = "prob_"
#: Version of the ``result`` record a session stores (prediction, class names, model, settings, warnings).
RESULT_FORMAT = 1

KEY_COLUMNS = ("frame", "time_s")
TRACK_COLUMNS = ("face_found", "face_id", "faces_in_frame", "shot_cut", "face_x0", "face_y0", "face_x1", "face_y1",
                 "face_confidence")
#: The columns after the ``prob_<class>`` group: the top class, its probability, whether the model saw the frame.
PREDICTION_COLUMNS = ("pred_label", "confidence", "inferred")
MOTION_COLUMNS = ("motion", *(f"motion_{name}" for name in REGIONS), "motion_macro", "head_motion", "head_moving",
                  "head_moving_macro", "segment")
MEMBERSHIP_COLUMNS = ("in_interval",)
#: Per-frame columns other than the ``prob_<class>`` group (which sits after the face track).
FRAME_COLUMNS = (*KEY_COLUMNS, *TRACK_COLUMNS, *PREDICTION_COLUMNS, *MOTION_COLUMNS, *FACE_STATE_COLUMNS,
                 *MEMBERSHIP_COLUMNS, *INPUT_COLUMNS)
#: Interval table: the face, the spotted interval, the label and its confidence (after ``kind``), peak motion.
INTERVAL_COLUMNS = ("face_id", *_SPOTTED_COLUMNS[:_SPOTTED_COLUMNS.index("kind") + 1], "label", "confidence",
                    *_SPOTTED_COLUMNS[_SPOTTED_COLUMNS.index("kind") + 1:], *INTERVAL_AU_COLUMNS)
#: A live stream's events table.
EVENT_COLUMNS = ("time_s", "kind", "label", "confidence", "duration_s", "face_id", "apex_s", "peak_motion",
                 *INTERVAL_AU_COLUMNS)
#: A live stream's smoothed per-frame history: these, with the ``prob_<class>`` group after ``face_found``.
LIVE_COLUMNS = ("frame", "time_s", "face_found", "pred_label", "confidence", "motion")

_MAX_RECORD_BYTES = 1024 * 1024


def prob_column(class_name: str) -> str:
    """The column holding the probability of ``class_name`` (``prob_happiness``)."""
    return f"{PROB_PREFIX}{class_name}"


def probability_columns(class_names: Iterable[str]) -> list[str]:
    """``prob_<class>`` column names, in class order."""
    return [prob_column(name) for name in class_names]


def class_names_in(columns: Iterable[Any]) -> list[str]:
    """The classes whose probability columns a table has, in column order."""
    return [str(c)[len(PROB_PREFIX):] for c in columns if isinstance(c, str) and c.startswith(PROB_PREFIX)]


def frame_layout(class_names: Iterable[str]) -> list[str]:
    """Every per-frame column in table order, the probability group placed after the face track."""
    split = len(KEY_COLUMNS) + len(TRACK_COLUMNS)
    return [*FRAME_COLUMNS[:split], *probability_columns(class_names), *FRAME_COLUMNS[split:]]


def model_info(predictor) -> dict[str, Any]:
    """What a result records about the model behind a :class:`~larnet_core.inference.Predictor`: preset,
    checkpoint path and SHA-256, synthetic flag, training data, sample mode, label scheme, backend."""
    loaded = getattr(predictor, "loaded", None)
    card = predictor.card
    return {
        "preset": card.preset, "checkpoint": str(getattr(loaded, "path", "") or ""),
        "sha256": getattr(loaded, "sha256", "") or "", "synthetic": bool(card.synthetic),
        "training_data": card.training_data, "sample_mode": card.sample_mode,
        "label_scheme": card.label_scheme, "backend": getattr(predictor, "backend", ""),
    }


@dataclass(frozen=True)
class ClipPrediction:
    """The clip's label.

    Attributes:
        label: most probable class.
        confidence: its probability (averaged over ``window``).
        probabilities: every class's averaged probability.
        window: first and last frame (inclusive) the average was taken over.
        source: ``interval`` (the model on the onset -> apex input of the strongest spotted interval),
            ``apex-window`` (the mean around its apex: analyses made before spot-then-recognise) or ``whole-clip``
            (the face frames of the whole clip, when nothing was spotted).
    """

    label: str
    confidence: float
    probabilities: dict[str, float]
    window: tuple[int, int]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": self.confidence, "probabilities": dict(self.probabilities),
                "window": list(self.window), "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClipPrediction:
        """Read :meth:`to_dict`'s output back, checking every type (it may come from a stranger's bundle)."""
        try:
            probabilities = {str(k): float(v) for k, v in dict(data["probabilities"]).items()}
            window = tuple(int(v) for v in data["window"])
            label, source = data["label"], data["source"]
            if not isinstance(label, str) or not isinstance(source, str) or len(window) != 2:
                raise TypeError("label and source must be text, window two frame numbers")
            return cls(label, float(data["confidence"]), probabilities, window, source)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise LarnetError(f"the saved clip prediction is malformed ({exc}); re-run the analysis") from None


@dataclass
class AnalysisResult:
    """Everything an analysis produced (a clip's, or a live stream's).

    Attributes:
        meta: the clip (frame_count is the number of frames actually decoded; a live stream's frames analysed).
        frames: one row per frame (per followed face with ``all_faces``), columns :func:`frame_layout` for a
            clip, :data:`LIVE_COLUMNS` plus probabilities for a live stream. Face boxes are in stored-frame
            pixels; motion in pixels of a 96-pixel aligned face crop; ``input_*`` record the alignment
            (working-frame pixels -> model input) and the flow reference frame of the row's model input.
        intervals: one row per spotted interval, columns :data:`INTERVAL_COLUMNS`.
        prediction: the clip-level label (of the main face); None for a live stream.
        class_names: the model's classes, in ``prob_`` column order.
        model: what model produced the probabilities (:func:`model_info`).
        settings: how the analysis ran (face mode, tracker backend, inference stride, working size, spotting ...).
        warnings: things the user should know (other faces, whole-frame fallback, truncated stream).
        faces: one row per face track (:func:`~larnet_core.face.tracking.summarize_tracks`) with ``main``.
        events: a live stream's spotted events (:data:`EVENT_COLUMNS`); None for a clip.
        kind: ``clip`` or ``live``.
    """

    meta: ClipMeta
    frames: pd.DataFrame
    intervals: pd.DataFrame
    prediction: ClipPrediction | None
    class_names: list[str]
    model: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    faces: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: pd.DataFrame | None = None
    kind: str = "clip"

    # ------------------------------------------------------------------------------------------- accessors
    def _group(self, columns: Iterable[str]) -> pd.DataFrame:
        return self.frames[[c for c in columns if c in self.frames.columns]]

    @property
    def probabilities(self) -> pd.DataFrame:
        """The ``prob_<class>`` columns, in class order."""
        return self.frames[probability_columns(self.class_names)]

    @property
    def predictions(self) -> pd.DataFrame:
        """Per-frame top class, its probability and whether the model saw the frame."""
        return self._group(PREDICTION_COLUMNS)

    @property
    def track(self) -> pd.DataFrame:
        """The face-track columns: face found, face id, faces in frame, shot cut, face box and confidence."""
        return self._group(TRACK_COLUMNS)

    @property
    def motion(self) -> pd.DataFrame:
        """The motion columns: overall, by region, macro scale, head motion, face segment."""
        return self._group(MOTION_COLUMNS)

    @property
    def inputs(self) -> pd.DataFrame:
        """The model input record of every row (see :func:`~larnet_core.video.analysis.model_input_at`)."""
        return self._group(INPUT_COLUMNS)

    @property
    def in_interval(self) -> pd.Series:
        """Whether each row lies inside a spotted interval."""
        return self.frames["in_interval"]

    @property
    def synthetic(self) -> bool:
        """True when the model was trained on generated faces (every display must say so)."""
        return bool(self.model.get("synthetic", False))

    @property
    def face_ids(self) -> list[int]:
        """The face ids that have rows (in a main-face analysis, every id the followed person had)."""
        if "face_id" not in self.frames:
            return []
        ids = self.frames.loc[self.frames["face_id"] >= 0, "face_id"].unique().tolist()
        return sorted(int(v) for v in ids)

    def for_face(self, face_id: int) -> AnalysisResult:
        """The result restricted to one face's rows and intervals (for ``all_faces`` results)."""
        frames = self.frames
        if "face_id" in frames and frames["face_id"].nunique() > 1:
            mask = (frames["face_id"] == face_id) | (frames.groupby("frame")["face_id"].transform("max") < 0)
            frames = frames[mask].drop_duplicates("frame").reset_index(drop=True)
        intervals = self.intervals
        if "face_id" in intervals:
            intervals = intervals[intervals["face_id"] == face_id].reset_index(drop=True)
        return AnalysisResult(self.meta, frames, intervals, self.prediction, list(self.class_names),
                              dict(self.model), dict(self.settings), list(self.warnings), self.faces,
                              self.events, self.kind)

    def input_at(self, source, frame_index: int, face_id: int | None = None) -> ModelInput:
        """The exact model input behind a frame's probabilities (see
        :func:`~larnet_core.video.analysis.model_input_at`)."""
        from larnet_core.face.inputs import InputConfig
        from larnet_core.video.analysis import model_input_at, working_max_side

        config = InputConfig(size=int(self.settings.get("input_size", 112)),
                             sample_mode=str(self.model.get("sample_mode", "apex")))
        return model_input_at(self.frames, source, frame_index, config,
                              int(self.settings.get("working_max_side", working_max_side(config.size))),
                              fps=self.meta.fps, face_id=face_id)

    # ------------------------------------------------------------------------------------------- plots
    def plot_timeline(self, current_time_s: float | None = None):
        """Probabilities and motion over time with the intervals shaded (a plotly figure; needs plotly)."""
        from larnet_core import plots

        return plots.timeline_figure(self.frames, self.intervals, self.class_names, current_time_s)

    def plot_prediction(self):
        """The clip prediction's class probabilities as bars (a plotly figure; needs plotly)."""
        from larnet_core import plots

        if self.prediction is None:
            raise LarnetError("this result has no clip prediction (a live stream's); plot its timeline instead")
        return plots.probability_bars(self.prediction.probabilities, self.class_names)

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
            "frames_with_face": int(self.frames.drop_duplicates("frame")["face_found"].sum())
            if "face_found" in self.frames and "frame" in self.frames else len(self.frames),
            "settings": dict(self.settings),
            "warnings": list(self.warnings),
        }
        if self.events is not None:
            out["events"] = json.loads(self.events.to_json(orient="records")) if len(self.events) else []
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`summary` as JSON text."""
        return json.dumps(self.summary(), indent=indent, default=_json_default)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the result by name (``frames``, ``intervals``, ``faces`` and ``events`` when present)."""
        out = {"frames": self.frames, "intervals": self.intervals, "faces": self.faces}
        if self.events is not None:
            out["events"] = self.events
        return out

    # ------------------------------------------------------------------------------------------- sessions
    def record(self) -> dict[str, Any]:
        """What a session keeps besides the tables: prediction, class names, model, settings, warnings, clip."""
        return json.loads(json.dumps({
            "format": RESULT_FORMAT, "kind": self.kind, "clip": self.meta.to_dict(),
            "class_names": list(self.class_names),
            "prediction": self.prediction.to_dict() if self.prediction is not None else None,
            "model": dict(self.model), "settings": dict(self.settings), "warnings": list(self.warnings),
        }, default=_json_default))

    def to_session(self, name: str, notes: str = "", *, clip: bytes | None = None) -> AnalysisSession:
        """This result as an unsaved session (``store.create(result.to_session(name))``).

        Args:
            name: the session's name.
            notes: free text kept with it.
            clip: the analysed clip's bytes, to store with the session (reopening then shows frames, the model
                input and its heat map, and renders the annotated video).
        """
        from larnet_core.sessions.model import AnalysisSession, InputRef, ModelRef

        model = ModelRef(preset=str(self.model.get("preset", "") or ""),
                         checkpoint_path=str(self.model.get("checkpoint", "") or ""),
                         checkpoint_sha256=str(self.model.get("sha256", "") or ""), synthetic=self.synthetic)
        # The clip's own hash is checked against its bytes; an archive or folder is hashed differently.
        sha = "" if clip is not None else _hex_or_empty(self.meta.sha256)
        ref = InputRef(name=self.meta.name, sha256=sha, fps=float(self.meta.fps), width=int(self.meta.width),
                       height=int(self.meta.height), frame_count=int(self.meta.frame_count), data=clip)
        return AnalysisSession(
            name=name, notes=notes, kind=self.kind, model=model, input=ref, results=self.frames,
            intervals=self.intervals if self.kind == "clip" else None, events=self.events,
            faces=self.faces if len(self.faces.columns) else None, result=self.record())

    @classmethod
    def from_session(cls, session: AnalysisSession) -> AnalysisResult:
        """The result a saved session holds. Sessions saved before results kept their record (no prediction,
        settings or warnings) get the clip prediction computed again from their tables.

        Raises:
            LarnetError: when the session is not an analysis (metrics, attention) or its record is malformed.
        """
        if session.kind not in ("clip", "live") or session.results is None:
            raise LarnetError(f"session {session.name!r} is a {session.kind} session without an analysis result; "
                              "open it in Sessions")
        record = dict(session.result or {})
        frames = session.results
        class_names = record.get("class_names") or class_names_in(frames.columns)
        if not isinstance(class_names, list) or not all(isinstance(c, str) for c in class_names):
            raise LarnetError("the saved result's class names are malformed; re-run the analysis")
        ref = session.input
        clip = record.get("clip") if isinstance(record.get("clip"), dict) else {}
        fps = float(ref.fps or clip.get("fps") or 0.0)
        meta = ClipMeta(ref.name, fps, int(ref.width), int(ref.height), int(ref.frame_count),
                        ref.frame_count / fps if fps else 0.0, str(clip.get("sha256", ref.sha256) or ref.sha256))
        model = record.get("model") if isinstance(record.get("model"), dict) else {}
        # The session's model reference is authoritative: it is what the store indexes and shows.
        model = {**model, "preset": session.model.preset, "checkpoint": session.model.checkpoint_path,
                 "sha256": session.model.checkpoint_sha256, "synthetic": bool(session.model.synthetic)}
        settings = record.get("settings") if isinstance(record.get("settings"), dict) else {}
        warnings = record.get("warnings", [])
        if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
            raise LarnetError("the saved result's warnings are malformed; re-run the analysis")
        intervals = session.intervals if session.intervals is not None else _empty_intervals()
        prediction = None
        if session.kind == "clip":
            if record.get("prediction") is not None:
                prediction = ClipPrediction.from_dict(record["prediction"])
            elif class_names and len(frames) and set(probability_columns(class_names)) <= set(frames.columns):
                from larnet_core.video.analysis import clip_prediction

                # Older tables may lack the intervals' peak motion: then the whole clip gives the label.
                spotted = intervals if "peak_motion" in intervals else intervals.iloc[0:0]
                prediction = clip_prediction(spotted, frames, class_names, fps or 1.0)
        faces = session.faces if session.faces is not None else pd.DataFrame()
        return cls(meta, frames, intervals, prediction, list(class_names), model, dict(settings), list(warnings),
                   faces, session.events, session.kind)


def events_table(events: Iterable[Any]) -> pd.DataFrame:
    """A live stream's spotted events (:class:`~larnet_core.video.live.LiveEvent`) as a table, columns
    :data:`EVENT_COLUMNS`."""
    table = pd.DataFrame([{c: getattr(e, c, "") for c in EVENT_COLUMNS} for e in events], columns=list(EVENT_COLUMNS))
    return table.astype({"time_s": "float64", "kind": "object", "label": "object", "confidence": "float64",
                         "duration_s": "float64", "face_id": "int64", "apex_s": "float64", "peak_motion": "float64",
                         "aus": "object", "rule_label": "object"})


def live_result(history: Iterable[Any], events: Iterable[Any], class_names: list[str], model: dict[str, Any],
                settings: dict[str, Any], *, fps: float, name: str = "webcam") -> AnalysisResult:
    """A live stream's result: its smoothed per-frame history, the events it spotted and its settings.

    Args:
        history: per-frame reports with ``frame_index``, ``time_s``, ``label``, ``confidence``,
            ``probabilities`` (class -> smoothed probability) and ``motion``, oldest first.
        events: :class:`~larnet_core.video.live.LiveEvent` objects, oldest first.
        class_names: the model's classes.
        model: :func:`model_info` of the stream's predictor.
        settings: the stream's settings (``LiveAnalyzer.settings``).
        fps: the stream's frame rate (for the input reference).
        name: what the input is called.
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
    return AnalysisResult(meta, frames, _empty_intervals(), None, list(class_names), dict(model), dict(settings),
                          [], pd.DataFrame(), table, "live")


def _empty_intervals() -> pd.DataFrame:
    dtypes = {"face_id": "int64", "onset_frame": "int64", "apex_frame": "int64", "offset_frame": "int64",
              "kind": "object", "label": "object", "aus": "object", "rule_label": "object"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "float64")) for c in INTERVAL_COLUMNS})


def _hex_or_empty(value: str) -> str:
    value = (value or "").lower()
    return value if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else ""


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    return str(value)
