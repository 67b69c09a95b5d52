"""Plotly figures for the pages. Figures only: the numbers they draw come from ``larnet_core``."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "CLASS_COLOURS",
    "class_colour",
    "confusion_figure",
    "per_class_figure",
    "per_class_delta_figure",
    "per_subject_figure",
    "probability_bars",
    "timeline_figure",
    "rolling_probabilities_figure",
    "motion_figure",
    "response_figure",
    "figure_html",
]

CLASS_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b", "#9d755d",
                 "#ff9da6", "#bab0ac")
_METRIC_COLOURS = {"precision": "#4c78a8", "recall": "#f58518", "f1": "#54a24b"}


def class_colour(index: int) -> str:
    """A stable colour for the class at ``index``."""
    return CLASS_COLOURS[index % len(CLASS_COLOURS)]


def confusion_figure(confusion: pd.DataFrame, *, normalise: bool = False) -> go.Figure:
    """The confusion matrix as a grid of square markers with their values written in.

    Drawn as a scatter rather than a heatmap so Streamlit's point selection works on cells. Each point's
    ``customdata`` is ``[true class, predicted class, count]``.

    Args:
        confusion: Counts, rows = true class, columns = predicted class.
        normalise: Colour and label by the share of each true class (row-normalised) instead of counts.
    """
    classes_true = [str(c) for c in confusion.index]
    classes_pred = [str(c) for c in confusion.columns]
    counts = confusion.to_numpy(dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    values = shares if normalise else counts
    xs, ys, colours, texts, custom = [], [], [], [], []
    for i, true in enumerate(classes_true):
        for j, pred in enumerate(classes_pred):
            xs.append(pred)
            ys.append(true)
            colours.append(values[i, j])
            texts.append(f"{values[i, j]:.2f}" if normalise else f"{int(counts[i, j])}")
            custom.append([true, pred, int(counts[i, j])])
    top = float(values.max()) if values.size else 1.0
    size = max(18, min(70, int(420 / max(1, len(classes_pred)))))
    figure = go.Figure(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=texts, customdata=custom,
        marker=dict(symbol="square", size=size, color=colours, colorscale="Blues", cmin=0, cmax=top or 1.0,
                    showscale=True, colorbar=dict(title="share" if normalise else "count"),
                    line=dict(width=1, color="#cbd5e0")),
        textfont=dict(color=["white" if v > 0.6 * (top or 1.0) else "#1a202c" for v in colours]),
        # Keep every count readable while a cell is selected (plotly fades unselected points by default).
        selected=dict(marker=dict(opacity=1.0)),
        unselected=dict(marker=dict(opacity=0.45), textfont=dict(color="#2d3748")),
        hovertemplate="true %{customdata[0]}<br>predicted %{customdata[1]}<br>%{customdata[2]} sample(s)"
                      "<extra></extra>",
    ))
    figure.update_layout(
        xaxis=dict(title="Predicted class", categoryorder="array", categoryarray=classes_pred, side="bottom"),
        yaxis=dict(title="True class", categoryorder="array", categoryarray=list(reversed(classes_true))),
        height=max(320, 70 + size * len(classes_true) + 60), margin=dict(l=10, r=10, t=30, b=10),
        showlegend=False, plot_bgcolor="white",
    )
    return figure


def per_class_figure(per_class: pd.DataFrame, title: str = "") -> go.Figure:
    """Grouped bars of precision, recall and F1 per class (the paper's Table 4 as a chart)."""
    figure = go.Figure()
    for metric, colour in _METRIC_COLOURS.items():
        figure.add_trace(go.Bar(x=per_class["class"], y=per_class[metric], name=metric, marker_color=colour,
                                hovertemplate=f"%{{x}}<br>{metric} %{{y:.3f}}<extra></extra>"))
    figure.update_layout(barmode="group", yaxis=dict(range=[0, 1.05], title="score"), title=title or None,
                         height=340, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         legend=dict(orientation="h", y=1.1))
    return figure


def per_class_delta_figure(deltas: pd.DataFrame, names: tuple[str, str]) -> go.Figure:
    """Bars of the per-class F1 change from run ``names[0]`` to run ``names[1]``."""
    colours = ["#38a169" if d >= 0 else "#e53e3e" for d in deltas["f1_delta"]]
    figure = go.Figure(go.Bar(x=deltas["class"], y=deltas["f1_delta"], marker_color=colours,
                              hovertemplate="%{x}<br>F1 change %{y:+.3f}<extra></extra>"))
    figure.update_layout(yaxis=dict(title=f"F1: {names[1]} minus {names[0]}", zeroline=True), height=300,
                         margin=dict(l=10, r=10, t=10, b=10))
    return figure


def per_subject_figure(per_subject: pd.DataFrame) -> go.Figure:
    """Accuracy, UF1 and UAR per held-out subject (LOSO)."""
    figure = go.Figure()
    for metric, colour in (("accuracy", "#4c78a8"), ("uf1", "#54a24b"), ("uar", "#f58518")):
        figure.add_trace(go.Bar(x=per_subject["subject"].astype(str), y=per_subject[metric], name=metric,
                                marker_color=colour, customdata=per_subject["n"],
                                hovertemplate=f"subject %{{x}}<br>{metric} %{{y:.3f}}<br>%{{customdata}} "
                                              "sample(s)<extra></extra>"))
    figure.update_layout(barmode="group", yaxis=dict(range=[0, 1.05]), xaxis=dict(title="subject", type="category"),
                         height=320, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.12))
    return figure


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
    return [(name, f"prob_{name}") for name in class_names if f"prob_{name}" in frames]


def timeline_figure(frames: pd.DataFrame, intervals: pd.DataFrame, class_names: Sequence[str],
                    current_time_s: float | None = None) -> go.Figure:
    """Per-class probabilities and the motion signal over time, spotted intervals shaded, apexes marked."""
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
    # What the tracker saw: grey where the face is out of view, hatched where the head moved (never spotted),
    # a line at each shot cut. Empty probabilities there are gaps in the lines, not zeros.
    for column, colour, label in (("face_found", "#a0aec0", "no face"), ("head_moving", "#805ad5", "head moving")):
        if column not in frames:
            continue
        mask = ~frames[column].astype(bool) if column == "face_found" else frames[column].astype(bool)
        for start, stop in _runs(mask.to_numpy(), frames["time_s"].to_numpy()):
            figure.add_vrect(x0=start, x1=stop, fillcolor=colour, opacity=0.18, line_width=0,
                             annotation_text=label, annotation_position="bottom left", annotation_font_size=9)
    if "shot_cut" in frames:
        for time_s in frames.loc[frames["shot_cut"].astype(bool), "time_s"]:
            figure.add_vline(x=float(time_s), line=dict(color="#4a5568", width=1, dash="dot"),
                             annotation_text="cut", annotation_font_size=9)
    if current_time_s is not None:
        figure.add_vline(x=current_time_s, line=dict(color="#2b6cb0", width=2))
    figure.update_layout(xaxis=dict(title="time (s)"), yaxis=dict(title="probability", range=[0, 1.02]),
                         height=360, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.15),
                         hovermode="x unified")
    return figure


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


def motion_figure(history: pd.DataFrame) -> go.Figure:
    """Live page: the facial motion signal over time (columns ``time_s``, ``motion``)."""
    figure = go.Figure(go.Scatter(x=history["time_s"], y=history["motion"], mode="lines",
                                  line=dict(color="#1a202c", width=1.4), fill="tozeroy"))
    figure.update_layout(xaxis=dict(title="time (s)"), yaxis=dict(title="motion"), height=180,
                         margin=dict(l=10, r=10, t=10, b=10))
    return figure


def response_figure(responses: pd.DataFrame, x: str, y: str, colour: str | None = None) -> go.Figure:
    """Attention page: mean absolute response per stage or module (the paper's Fig. 3)."""
    figure = go.Figure()
    if colour and colour in responses:
        for index, (name, group) in enumerate(responses.groupby(colour, sort=False)):
            figure.add_trace(go.Bar(x=group[x].astype(str), y=group[y], name=str(name),
                                    marker_color=class_colour(index)))
    else:
        figure.add_trace(go.Bar(x=responses[x].astype(str), y=responses[y], marker_color=class_colour(0)))
    figure.update_layout(yaxis=dict(title="mean |activation|"), height=320, margin=dict(l=10, r=10, t=10, b=10),
                         legend=dict(orientation="h", y=1.12))
    return figure


def figure_html(figure: go.Figure) -> bytes:
    """A standalone HTML file of a figure (plotly.js embedded, so it opens offline)."""
    return figure.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")
