"""Action-unit figures for the pages: AU lanes over a clip's time, AU bars of a frame or a photo, the class
curves smoothed (secondary to the AUs), and a live stream's events as its table shows their units. Numbers come
from ``larnet_core.aus``; pages only call these."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from larnet_core.aus.estimate import photo_intensities
from larnet_core.aus.names import AU_COLUMNS, NO_UNIT, NOT_READ, units_at, units_text
from larnet_core.errors import LarnetError
from larnet_core.face.mesh import MeshFaceDetector, mediapipe_available
from larnet_core.result import events_table, probability_columns

__all__ = ["has_units", "au_lanes_figure", "au_bars_figure", "smoothed_frames", "photo_units", "events_shown"]

# FACS names, for hover text and bar labels.
_NAMES = {
    "AU01": "inner brow raiser", "AU02": "outer brow raiser", "AU04": "brow lowerer", "AU05": "upper lid raiser",
    "AU06": "cheek raiser", "AU07": "lid tightener", "AU09": "nose wrinkler", "AU10": "upper lip raiser",
    "AU12": "lip corner puller", "AU14": "dimpler", "AU15": "lip corner depressor", "AU17": "chin raiser",
    "AU20": "lip stretcher", "AU23": "lip tightener", "AU24": "lip pressor", "AU25": "lips part",
    "AU26": "jaw drop", "AU43": "eyes closed",
}


def has_units(frames: pd.DataFrame) -> bool:
    """Whether a per-frame table carries AU estimates (analyses made with a face mesh)."""
    return all(c in frames.columns for c in AU_COLUMNS) and bool(frames[list(AU_COLUMNS)].notna().any().any())


def au_lanes_figure(frames: pd.DataFrame, intervals: pd.DataFrame, current_time_s: float | None = None) -> go.Figure:
    """One lane per action unit: its intensity (0-5) over time as a heat map; spotted intervals outlined with the
    AUs read at their apex and their FACS-rule label; frames kept out of spotting marked below, and frames in a
    blink (both eyes closing together) marked on the eyes-closed lane."""
    values = frames[list(AU_COLUMNS)].to_numpy(dtype=np.float64).T
    labels = [f"{c} {_NAMES[c]}" for c in AU_COLUMNS]
    figure = go.Figure(go.Heatmap(
        z=values, x=frames["time_s"], y=labels, zmin=0.0, zmax=3.0, colorscale="YlOrRd",
        colorbar=dict(title="intensity", len=0.8), hovertemplate="%{y}: %{z:.2f} at %{x:.2f} s<extra></extra>"))
    label_rows = _outline_intervals(figure, intervals, frames,
                                    float(np.ptp(frames["time_s"])) if len(frames) else 0.0)
    if "excluded" in frames.columns:
        excluded = frames["excluded"].fillna("").astype(str).to_numpy()
        if "motion_left_out" in frames.columns:  # a held cover: the other regions are still spotted
            left_out = frames["motion_left_out"].fillna("").astype(str).to_numpy()
            excluded = np.array([f"{e}; spotted without {o}" if o else e for e, o in zip(excluded, left_out)],
                                dtype=object)
        times = frames["time_s"].to_numpy()
        marked = excluded != ""
        if marked.any():
            figure.add_trace(go.Scatter(x=times[marked], y=[labels[-1]] * int(marked.sum()), mode="markers",
                                        marker=dict(symbol="line-ns", color="#805ad5", size=10),
                                        text=excluded[marked], name="set aside",
                                        hovertemplate="set aside: %{text} at %{x:.2f} s<extra></extra>"))
    if "blink" in frames.columns:  # analyses made before the column have none
        blinks = frames["blink"].to_numpy(dtype=bool, na_value=False)
        if blinks.any():
            lane = labels[AU_COLUMNS.index("AU43")]  # eyes closed: where a blink shows
            figure.add_trace(go.Scatter(x=frames["time_s"].to_numpy()[blinks], y=[lane] * int(blinks.sum()),
                                        mode="markers", marker=dict(symbol="circle-open", color="#2b6cb0", size=7),
                                        name="blink", hovertemplate="blink (both eyes) at %{x:.2f} s<extra></extra>"))
    if current_time_s is not None:
        figure.add_vline(x=current_time_s, line=dict(color="#2b6cb0", width=2))
    above = _LABEL_ROW_PX * label_rows  # room for the interval labels above the lanes
    figure.update_layout(height=440 + above, margin=dict(l=10, r=10, t=20 + above, b=10),
                         xaxis=dict(title="time (s)"), yaxis=dict(autorange="reversed"), showlegend=False)
    return figure


#: An interval's label is about this share of the time axis wide; a later one that starts closer than this to a
#: label on the same row goes on the row above, so that neighbouring labels never print over each other.
_LABEL_SHARE = 0.22
_LABEL_ROW_PX = 30  # a two-line label at font size 10


def _outline_intervals(figure: go.Figure, intervals: pd.DataFrame, frames: pd.DataFrame, duration_s: float) -> int:
    """Outline each spotted interval and label it above the lanes with its apex AUs (or why it has none:
    :func:`~larnet_core.aus.names.units_text`) and (second line) its FACS-rule name, labels of nearby intervals
    stacked on rows of their own; returns the number of rows."""
    row_ends: list[float] = []  # per row, where its last label ends (seconds)
    width = _LABEL_SHARE * max(duration_s, 1e-6)
    for row in intervals.sort_values("onset_s").itertuples(index=False):
        apex = getattr(row, "apex_frame", None)
        aus = units_text(getattr(row, "aus", "") or "", None if apex is None else units_at(frames, apex))
        # The EMFACS name only: the full label (with the objective class) is in the intervals table.
        rule = (getattr(row, "rule_label", "") or "").split(";")[0].strip()
        level = next((i for i, end in enumerate(row_ends) if row.onset_s >= end), len(row_ends))
        if level == len(row_ends):
            row_ends.append(0.0)
        row_ends[level] = float(row.onset_s) + width
        figure.add_vrect(x0=row.onset_s, x1=row.offset_s, line=dict(color="#1a365d", width=1.5), fillcolor=None)
        figure.add_annotation(x=row.onset_s, y=1.0, yshift=level * _LABEL_ROW_PX, xref="x", yref="paper",
                              xanchor="left", yanchor="bottom", showarrow=False, align="left", font=dict(size=10),
                              text=f"{aus}<br>{rule}" if rule else aus)
    return len(row_ends)


def au_bars_figure(units: Mapping[str, float], title: str = "") -> go.Figure:
    """Bars of one frame's or photo's AU intensities (0-5)."""
    names = [c for c in AU_COLUMNS if c in units]
    values = [float(units[c]) if np.isfinite(units[c]) else 0.0 for c in names]
    # A unit not read (covered, or a movement that fits no unit's pattern) says so, rather than showing as 0.
    labels = [f"{c} {_NAMES[c]}" + ("" if np.isfinite(units[c]) else " (not read)") for c in names]
    figure = go.Figure(go.Bar(x=values, y=labels, orientation="h",
                              marker_color=["#dd6b20" if v >= 0.6 else "#a0aec0" for v in values],
                              hovertemplate="%{y}: %{x:.2f}<extra></extra>"))
    figure.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=30 if title else 10, b=10),
                         xaxis=dict(range=[0, 5], title="intensity (0 neutral - 5 maximum)"),
                         yaxis=dict(autorange="reversed"))
    return figure


def smoothed_frames(frames: pd.DataFrame, class_names: Sequence[str], fps: float,
                    seconds: float = 0.25) -> pd.DataFrame:
    """The table with each class probability averaged over ``seconds`` (centred): the per-frame class outputs
    flicker on real faces, so the timeline shows them smoothed, after the AU lanes."""
    out = frames.copy()
    window = max(1, int(round(seconds * fps)))
    columns = [c for c in probability_columns(class_names) if c in out.columns]
    out[columns] = out[columns].rolling(window, center=True, min_periods=1).mean()
    return out


def photo_units(image) -> tuple[tuple[float, float, float], dict[str, float]] | None:
    """Pose and AU intensities of the largest face in a photo (against an average face:
    :func:`~larnet_core.aus.estimate.photo_intensities`), or None
    (no MediaPipe, no face). A clip frame's model input is read on its face crop."""
    image = image if isinstance(image, np.ndarray) else getattr(image, "crop", None)
    if image is None or not mediapipe_available():
        return None
    try:
        faces = [f for f in MeshFaceDetector(max_faces=1).detect(image) if f.mesh3d is not None]
    except LarnetError:
        return None
    if not faces:
        return None
    pose, values = photo_intensities(faces[0].mesh3d)
    return (pose.yaw, pose.pitch, pose.roll), dict(zip(AU_COLUMNS, map(float, values)))


def events_shown(events: Sequence) -> pd.DataFrame:
    """A live stream's events (``LiveEvent``) as the live page's table shows them: an event without units says
    why in its ``aus`` cell, as a clip's interval does ("AUs not read" where its apex read nothing but AU43, else
    "no AU"), from its ``aus_read``; without the apex and peak motion columns. The result's events table keeps
    ``aus`` empty."""
    events = list(events)
    table = events_table(events).drop(columns=["apex_s", "peak_motion"])
    table["aus"] = [event.aus or (NO_UNIT if event.aus_read else NOT_READ) for event in events]
    return table
