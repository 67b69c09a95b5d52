"""Analysis results to and from saved sessions, without loss: the tables keep their dtypes, and prediction, class
names, model, settings and warnings travel in the session's ``result`` record
(:meth:`~larnet_core.result.AnalysisResult.record`)."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.result import AnalysisResult, ClipMeta, ClipPrediction, class_names_in, clip_prediction
from larnet_core.result import empty_intervals, probability_columns
from larnet_core.sessions.model import AnalysisSession, InputRef, ModelRef

__all__ = ["result_to_session", "result_from_session", "model_ref"]


def model_ref(provenance: Mapping[str, Any]) -> ModelRef:
    """The model a session names, from a result's model record (:func:`~larnet_core.result.model_provenance`)."""
    return ModelRef(preset=str(provenance.get("preset", "") or ""),
                    checkpoint_path=str(provenance.get("checkpoint", "") or ""),
                    checkpoint_sha256=str(provenance.get("sha256", "") or ""),
                    synthetic=bool(provenance.get("synthetic", False)))


def result_to_session(result: AnalysisResult, name: str, notes: str = "", *,
                      clip: bytes | None = None) -> AnalysisSession:
    """A result as an unsaved session (``store.create(result_to_session(result, name))``).

    Args:
        result: the analysis result.
        name: the session's name.
        notes: free text kept with it.
        clip: the analysed clip's bytes, to store with the session (reopening then shows frames, the model
            input and its heat map, and renders the annotated video).
    """
    model = model_ref(result.model)
    # The clip's own hash is checked against its bytes; an archive or folder is hashed differently.
    meta = result.meta
    sha = "" if clip is not None else _hex_or_empty(meta.sha256)
    ref = InputRef(name=meta.name, sha256=sha, fps=float(meta.fps), width=int(meta.width), height=int(meta.height),
                   frame_count=int(meta.frame_count), data=clip)
    return AnalysisSession(
        name=name, notes=notes, kind=result.kind, model=model, input=ref, results=result.frames,
        intervals=result.intervals, events=result.events,
        faces=result.faces if len(result.faces.columns) else None, result=result.record())


def result_from_session(session: AnalysisSession) -> AnalysisResult:
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
    intervals = session.intervals if session.intervals is not None else empty_intervals()
    faces = session.faces if session.faces is not None else pd.DataFrame()
    result = AnalysisResult.from_frames(meta, frames, intervals, None, list(class_names), model, settings,
                                        warnings, faces, session.events, session.kind)
    if session.kind == "clip":
        if record.get("prediction") is not None:
            result.prediction = ClipPrediction.from_dict(record["prediction"])
        elif class_names and len(frames) and set(probability_columns(class_names)) <= set(frames.columns):
            # Older tables may lack the intervals' peak motion: then the whole clip gives the label.
            spotted = intervals if "peak_motion" in intervals else intervals.iloc[0:0]
            result.prediction = clip_prediction(spotted, result.main, class_names, fps or 1.0)
    return result


def _hex_or_empty(value: str) -> str:
    value = (value or "").lower()
    return value if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else ""
