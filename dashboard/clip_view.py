"""What the clip page shows: one analysis result (fresh, or reopened from a saved session) and the clip's bytes.

Kept out of the page script so the page's state survives reruns as one type, and tests can hand the page a result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.text import plain
from larnet_core.aus.estimate import ACTIVE_LEVEL
from larnet_core.aus.names import AU_COLUMNS, units_at, units_text
from larnet_core.errors import LarnetError
from larnet_core.face.inputs import ModelInput
from larnet_core.result import AnalysisResult
from larnet_core.video.analysis import input_at

__all__ = ["ClipView", "frame_caption", "intervals_shown"]


@dataclass
class ClipView:
    """What the page shows: an analysis result (fresh, or reopened from a saved session) and the clip's bytes."""

    result: AnalysisResult
    data: bytes | None
    session_id: str = ""
    face_id: int | None = None   # the face shown, for an analysis of every face
    shown: AnalysisResult | None = None  # the picked face's rows and intervals, for an analysis of every face

    @property
    def name(self) -> str:
        return self.result.meta.name

    @property
    def frames(self) -> pd.DataFrame:
        """The shown face's table, one row per frame (the main face's until another is picked)."""
        return (self.shown or self.result).main

    @property
    def intervals(self) -> pd.DataFrame:
        return (self.shown or self.result).intervals

    @property
    def class_names(self) -> list[str]:
        return self.result.class_names

    def model_input(self, index: int) -> ModelInput:
        """The model input behind a frame's probabilities (of the shown face), rebuilt from the analysis' own
        settings: whatever model the sidebar shows now, the crop is the one that produced the row.

        Raises:
            LarnetError: the clip was not stored, or the face has no inferred frame.
        """
        if self.data is None:
            raise LarnetError("the clip was not stored with this result, so its frames cannot be shown")
        try:
            return input_at(self.result, self.data, index, self.face_id)
        except ValueError as exc:
            raise LarnetError(f"frame {index} has no model input: {exc}") from None
        except (KeyError, TypeError):  # a table saved before the input record was kept, or a damaged one
            raise LarnetError("this analysis did not record its model inputs; analyse the clip again") from None

    def explainable_by(self, card) -> str | None:
        """None when a model with this card reads this analysis' inputs (same classes, input size and sample
        mode), so its heat map explains the rows; else why not, in one line."""
        size = int(self.result.settings.get("input_size", 0) or 0)
        mode = str(self.result.model.get("sample_mode", "") or "")
        if list(card.class_names) != self.class_names:
            return "the model in the sidebar has other classes than the one that made this analysis"
        if size and int(card.input_size) != size:
            return (f"the model in the sidebar takes {int(card.input_size)} px inputs; this analysis was made with "
                    f"{size} px inputs")
        if mode and str(card.sample_mode) != mode:
            return f"the model in the sidebar reads {card.sample_mode} inputs; this analysis was made from {mode} inputs"
        return None


def _number(row: pd.Series, column: str) -> float:
    """``row[column]`` as a float, NaN where the table has no such column or no value."""
    value = pd.to_numeric(row.get(column, np.nan), errors="coerce")
    return float(value) if pd.notna(value) else float("nan")


def _units_said(row: pd.Series) -> str:
    """The frame's active units with their intensities, or why none are named (older tables: nothing)."""
    if not all(name in row.index for name in AU_COLUMNS):
        return ""
    values = {name: _number(row, name) for name in AU_COLUMNS}
    if not any(np.isfinite(v) for name, v in values.items() if name != "AU43"):
        return "AUs not read"
    active = [f"{name} {v:.1f}" for name, v in values.items() if np.isfinite(v) and v >= ACTIVE_LEVEL]
    return "AUs " + ", ".join(active) if active else "no AU active"


def frame_caption(row: pd.Series) -> str:
    """The scrubber's line on one frame of the shown face (Markdown): prediction, motion at both scales, head pose,
    the AUs its lanes read, and whether it is set aside from spotting and why (``excluded``; a table made before
    that column: where the head moved, which was then never spotted) or inside a spotted interval."""
    head = f"Frame {int(row['frame'])} at {float(row['time_s']):.3f} s"
    if not bool(row.get("face_found", True)):
        return f"{head} · no face in view: no prediction, no motion"
    parts = [head]
    if isinstance(row.get("pred_label"), str) and row["pred_label"]:
        parts.append(f"predicted **{plain(row['pred_label'])}** ({_number(row, 'confidence'):.2f})")
    micro, macro = _number(row, "motion"), _number(row, "motion_macro")
    if np.isfinite(micro) or np.isfinite(macro):
        parts.append(f"motion {micro:.3f} (micro), {macro:.3f} (macro)" if np.isfinite(macro)
                     else f"motion {micro:.3f}")
    yaw, pitch, roll = (_number(row, f"pose_{axis}") for axis in ("yaw", "pitch", "roll"))
    if np.isfinite(yaw):
        parts.append(f"head yaw {yaw:+.0f}°, pitch {pitch:+.0f}°, roll {roll:+.0f}°")
    units = _units_said(row)
    if units:
        parts.append(units)
    if "excluded" in row.index:
        reason = row["excluded"] if isinstance(row["excluded"], str) else ""
        if reason:
            parts.append(f"set aside from spotting: {reason}")
    elif bool(row.get("head_moving", False)):
        parts.append("head moving (not spotted)")
    if bool(row.get("in_interval", False)):
        parts.append("inside a spotted interval")
    return " · ".join(parts)


#: The interval columns the page's table leads with: when, how long, the units and their rule's name, then the
#: model's label (a 1400-pixel page shows about ten columns before the table scrolls).
_LEADING = ("face_id", "onset_s", "apex_s", "offset_s", "duration_s", "kind", "aus", "rule_label", "label",
            "confidence")


def intervals_shown(intervals: pd.DataFrame, frames: pd.DataFrame) -> pd.DataFrame:
    """The spotted intervals as the page's table shows them: times, kind, units and rule first (frame numbers and
    peak motion after), and an interval without units says why in its ``aus`` cell, as its label on the AU lanes
    does ("AUs not read" where its apex read nothing but AU43, else "no AU": :func:`~larnet_core.aus.names.
    units_text`). The result's own table (downloads, sessions) keeps its columns and ``aus`` empty."""
    if intervals.empty or "aus" not in intervals.columns:
        return intervals
    shown = intervals.copy()
    apexes = shown["apex_frame"] if "apex_frame" in shown.columns else pd.Series([None] * len(shown), index=shown.index)
    shown["aus"] = [units_text(aus if isinstance(aus, str) else "", None if apex is None or pd.isna(apex)
                               else units_at(frames, int(apex)))
                    for aus, apex in zip(shown["aus"], apexes)]
    leading = [column for column in _LEADING if column in shown.columns]
    return shown[leading + [column for column in shown.columns if column not in leading]]
