"""Plotly figures for the pages. Figures only: the numbers they draw come from ``larnet_core``; the figures of an
analysis result live in :mod:`dashboard.plots` and are re-exported here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.plots import (
    CLASS_COLOURS,
    class_colour,
    probability_bars,
    rolling_probabilities_figure,
    timeline_figure,
)

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

_METRIC_COLOURS = {"precision": "#4c78a8", "recall": "#f58518", "f1": "#54a24b"}


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
