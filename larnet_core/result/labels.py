"""Labels from per-frame probabilities: one spotted interval's (:func:`interval_label`, clips and live streams
alike) and the clip's (:func:`clip_prediction`, :class:`ClipPrediction`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.result.schema import probability_columns

__all__ = ["interval_label", "label_intervals", "ClipPrediction", "clip_prediction"]

# The clip label averages this many seconds either side of the strongest interval's apex.
_APEX_HALF_WINDOW_S = 0.05


def interval_label(probabilities: np.ndarray, class_names: list[str]) -> tuple[str, float]:
    """The label of a spotted interval, for clips and live streams alike: the class with the highest mean
    probability over the interval's frames (rows of NaN, frames without a model output, left out), and that mean.
    Without any output the classes are equally likely (the first is named)."""
    probs = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(class_names))
    rows = probs[np.isfinite(probs).all(axis=1)]
    mean = rows.mean(axis=0) if len(rows) else np.full(len(class_names), 1.0 / len(class_names))
    top = int(mean.argmax())
    return class_names[top], float(mean[top])


def label_intervals(intervals: pd.DataFrame, probs: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """Spotted intervals with ``label`` and ``confidence`` inserted after ``kind`` (:func:`interval_label` over
    each interval's rows of ``probs``, one row per frame)."""
    labelled = [interval_label(probs[row.onset_frame:row.offset_frame + 1], class_names)
                for row in intervals.itertuples()]
    out = intervals.copy()
    position = out.columns.get_loc("kind") + 1
    out.insert(position, "label", pd.Series([label for label, _ in labelled], dtype=object, index=out.index))
    out.insert(position + 1, "confidence", pd.Series([confidence for _, confidence in labelled], dtype="float64",
                                                     index=out.index))
    return out


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


def clip_prediction(intervals: pd.DataFrame, table: pd.DataFrame, class_names: list[str],
                    fps: float) -> ClipPrediction:
    """The clip's label from one face's table (one row per frame): the mean probabilities around the apex of the
    interval with the most motion (``apex-window``), or over every face frame when nothing was spotted
    (``whole-clip``)."""
    probs = table[probability_columns(class_names)].to_numpy(dtype=np.float64)
    if len(intervals):
        best = intervals.loc[intervals["peak_motion"].idxmax()]
        half = max(1, int(round(_APEX_HALF_WINDOW_S * fps)))
        start = max(int(best.onset_frame), int(best.apex_frame) - half)
        stop = min(int(best.offset_frame), int(best.apex_frame) + half)
        source = "apex-window"
    else:
        found = np.flatnonzero(np.isfinite(probs).all(axis=1))
        start, stop, source = (int(found[0]), int(found[-1]), "whole-clip") if len(found) else (0, len(probs) - 1,
                                                                                                  "whole-clip")
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(probs[start:stop + 1], axis=0)
    mean = np.nan_to_num(mean, nan=1.0 / len(class_names))
    top = int(mean.argmax())
    return ClipPrediction(class_names[top], float(mean[top]),
                          {name: float(value) for name, value in zip(class_names, mean)}, (start, stop), source)
