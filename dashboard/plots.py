"""Figures of an analysis result (plotly).

The pages draw every figure of an analysis result from here, so a chart anywhere is drawn from the result's own
tables.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from larnet_core.result import prob_column

__all__ = ["CLASS_COLOURS", "class_colour", "probability_bars", "timeline_figure", "rolling_probabilities_figure"]

CLASS_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b", "#9d755d",
                 "#ff9da6", "#bab0ac")


def class_colour(index: int) -> str:
    """A stable colour for the class at ``index``."""
    return CLASS_COLOURS[index % len(CLASS_COLOURS)]


def probability_bars(probabilities: Mapping[str, float], class_names: Sequence[str] | None = None) -> go.Figure:
    """Horizontal bars of one prediction's class probabilities."""
    names = list(class_names or probabilities)
    values = [float(probabilities.get(name, 0.0)) for name in names]
    figure = go.Figure(go.Bar(x=values, y=names, orientation="h",
                              marker_color=[class_colour(i) for i in range(len(names))],
                              text=[f"{v:.2f}" for v in values], textposition="auto",
                              hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    figure.update_layout(xaxis=dict(range=[0, 1], title="probability"), yaxis=dict(autorange="reversed"),
                         height=40 + 28 * len(names), margin=dict(l=10, r=10, t=10, b=10))
    return figure


def _prob_columns(frames: pd.DataFrame, class_names: Sequence[str]) -> list[tuple[str, str]]:
    return [(name, prob_column(name)) for name in class_names if prob_column(name) in frames]


def timeline_figure(frames: pd.DataFrame, intervals: pd.DataFrame, class_names: Sequence[str],
                    current_time_s: float | None = None) -> go.Figure:
    """Per-class probabilities and the motion signal over time, spotted intervals shaded, apexes marked; frames
    out of view or set aside from spotting shaded by why (:func:`_shade_face_states`)."""
    figure = go.Figure()
    for index, (name, column) in enumerate(_prob_columns(frames, class_names)):
        figure.add_trace(go.Scatter(x=frames["time_s"], y=frames[column], name=name, mode="lines",
                                    line=dict(color=class_colour(index), width=1.6),
                                    hovertemplate=f"{name} %{{y:.2f}} at %{{x:.2f}} s<extra></extra>"))
    if "motion" in frames:
        motion = frames["motion"].astype(float)
        scale = float(np.nanmax(motion.to_numpy())) if motion.notna().any() else 1.0
        scale = scale or 1.0
        figure.add_trace(go.Scatter(x=frames["time_s"], y=motion / scale, name="motion (scaled)", mode="lines",
                                    line=dict(color="#1a202c", width=1.2, dash="dot"), customdata=motion,
                                    hovertemplate="motion %{customdata:.3f} at %{x:.2f} s<extra></extra>"))
    for row in intervals.itertuples(index=False):
        colour = "#e53e3e" if getattr(row, "kind", "micro") == "micro" else "#dd6b20"
        figure.add_vrect(x0=row.onset_s, x1=row.offset_s, fillcolor=colour, opacity=0.12, line_width=0,
                         annotation_text=f"{row.label} ({row.kind})", annotation_position="top left",
                         annotation_font_size=10)
        figure.add_vline(x=row.apex_s, line=dict(color=colour, width=1.5, dash="dash"))
    _shade_face_states(figure, frames)
    if "shot_cut" in frames:
        for time_s in frames.loc[frames["shot_cut"].astype(bool), "time_s"]:
            figure.add_vline(x=float(time_s), line=dict(color="#4a5568", width=1, dash="dot"),
                             annotation_text="cut", annotation_font_size=9)
    if current_time_s is not None:
        figure.add_vline(x=current_time_s, line=dict(color="#2b6cb0", width=2))
    figure.update_layout(xaxis=dict(title="time (s)"), yaxis=dict(title="probability", range=[0, 1.02]),
                         height=420, margin=dict(l=10, r=10, t=30, b=10),
                         legend=dict(orientation="h", yanchor="top", y=-0.2),  # below: the shading adds entries
                         hovermode="x unified")
    return figure


#: Fill of the frames set aside from spotting: the colour of the first of these words their ``excluded`` reason holds.
_SET_ASIDE_COLOURS = (("occluded", "#4a5568"), ("head", "#805ad5"), ("mesh", "#a0aec0"))
#: A reason that holds for one scale only (``"... (macro scale)"``): the other scale is still spotted there.
_ONE_SCALE_OPACITY, _BOTH_SCALES_OPACITY = 0.07, 0.18


def _shade_face_states(figure: go.Figure, frames: pd.DataFrame) -> None:
    """Grey where the face is out of view; the frames set aside from spotting shaded by why (the ``excluded``
    reason, each reason once in the legend), lighter where one scale still spots them. A table made before the
    ``excluded`` column is shaded where the head moved: such frames were not spotted then. Empty probabilities
    there are gaps in the lines, not zeros."""
    times = frames["time_s"].to_numpy()
    shaded: list[tuple[str, np.ndarray, str, float]] = []
    if "face_found" in frames:
        shaded.append(("no face", ~frames["face_found"].astype(bool).to_numpy(), "#a0aec0", _BOTH_SCALES_OPACITY))
    if "excluded" in frames:
        reasons = frames["excluded"].fillna("").astype(str).to_numpy()
        found = frames["face_found"].astype(bool).to_numpy() if "face_found" in frames else np.ones(len(frames), bool)
        for reason in dict.fromkeys(r for r, f in zip(reasons, found) if r and f):
            colour = next((c for word, c in _SET_ASIDE_COLOURS if word in reason), "#718096")
            opacity = _ONE_SCALE_OPACITY if reason.endswith("scale)") else _BOTH_SCALES_OPACITY
            shaded.append((f"set aside: {reason}", (reasons == reason) & found, colour, opacity))
    elif "head_moving" in frames:
        shaded.append(("head moving (not spotted)", frames["head_moving"].astype(bool).to_numpy(), "#805ad5",
                       _BOTH_SCALES_OPACITY))
    for label, mask, colour, opacity in shaded:
        for number, (start, stop) in enumerate(_runs(mask, times)):
            figure.add_vrect(x0=start, x1=stop, fillcolor=colour, opacity=opacity, line_width=0, layer="below",
                             name=label, legendgroup=label, showlegend=number == 0)


def _runs(mask, times) -> list[tuple[float, float]]:
    """``(start, stop)`` times of each run of True in ``mask``."""
    runs, start = [], None
    for position, flag in enumerate(mask):
        if flag and start is None:
            start = position
        elif not flag and start is not None:
            runs.append((float(times[start]), float(times[position - 1])))
            start = None
    if start is not None:
        runs.append((float(times[start]), float(times[len(mask) - 1])))
    return runs


def rolling_probabilities_figure(history: pd.DataFrame, class_names: Sequence[str]) -> go.Figure:
    """Live page: the last seconds of per-class probabilities (columns ``time_s`` and ``prob_<class>``)."""
    figure = go.Figure()
    for index, (name, column) in enumerate(_prob_columns(history, class_names)):
        figure.add_trace(go.Scatter(x=history["time_s"], y=history[column], name=name, mode="lines",
                                    line=dict(color=class_colour(index), width=1.6)))
    figure.update_layout(xaxis=dict(title="time (s)"), yaxis=dict(title="probability", range=[0, 1.02]),
                         height=260, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.2))
    return figure
