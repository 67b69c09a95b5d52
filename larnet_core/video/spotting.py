"""Spotting expression intervals in a motion signal.

The method is the field's training-free optical-flow baseline (MEGC): smooth the facial motion signal,
threshold it at ``mean + p * (max - mean)``, take the peaks above the threshold, and grow an interval around
each peak while the signal stays above a fraction of the peak's height over the resting level (the median). Intervals lasting 1/25 to 1/2 s are
micro-expressions, longer ones macro-expressions, shorter ones are dropped as noise.

Scoring spotted intervals against annotations, as MEGC scores them, lives beside training:
:mod:`larnet_core.training.spotting_scores`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd

# Columns of a spotted-interval table (plus ``label`` and ``confidence`` once classified), named with the result's.
from larnet_core.result.schema import SPOTTED_COLUMNS as INTERVAL_COLUMNS

__all__ = [
    "SpottingParams",
    "MacroSides",
    "SIDE_LEVEL",
    "StreamingSpotter",
    "spot_expressions",
    "spot_expression_rows",
    "INTERVAL_COLUMNS",
    "spot_intervals",
    "smooth_signal",
]


MICRO_MIN_S = 1 / 25
MICRO_MAX_S = 0.5


@dataclass(frozen=True)
class SpottingParams:
    """Settings of the spotting baseline (fixed in advance, never tuned on an evaluated set).

    The defaults were chosen on a development set of synthetic long videos (``larnet synth --long``, seed 100)
    that no evaluation uses; see docs/clip-analysis.md.

    Attributes:
        p: threshold position between the signal's mean (0) and its maximum (1).
        extent: an interval spans the frames around a peak whose smoothed signal is at least this fraction of
            the way from the signal's median (its resting level) up to the peak.
        min_motion: peaks below this (pixels of the 96-pixel face crop) are noise, whatever the threshold
            says; it keeps a still clip from producing intervals out of sensor noise.
        smooth_s: moving-average window, seconds.
        min_s: shortest interval kept, seconds (1/25 s, the shortest micro-expression).
        micro_max_s: longest micro-expression, seconds; longer intervals are ``macro``.
        max_s: longest interval kept, seconds (slower changes are pose or lighting, not expressions).
        merge_gap_s: intervals this close (seconds) are joined: the signal of a slow expression can dip
            in its middle.
        guard_s: an interval that begins or ends this close (seconds) to a frame that cannot hold an expression
            (head moving, no face) is dropped: it is the edge of that movement, not an expression.
    """

    p: float = 0.2
    extent: float = 0.1
    min_motion: float = 0.08
    smooth_s: float = 0.04
    min_s: float = MICRO_MIN_S
    micro_max_s: float = MICRO_MAX_S
    max_s: float = 4.0
    merge_gap_s: float = 0.2
    guard_s: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.p <= 1 or not 0 < self.extent < 1:
            raise ValueError(f"p must be in [0, 1] and extent in (0, 1), got p={self.p}, extent={self.extent}")


def smooth_signal(signal: np.ndarray, fps: float, window_s: float) -> np.ndarray:
    """Centred moving average over ``window_s`` seconds (odd number of frames, at least 1)."""
    signal = np.asarray(signal, dtype=np.float64)
    width = max(1, int(round(window_s * fps)))
    width += 1 - width % 2
    if width == 1 or len(signal) < 2:
        return signal.copy()
    padded = np.pad(signal, width // 2, mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _empty_intervals() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype="int64") for name in INTERVAL_COLUMNS[:3]})
    for name in INTERVAL_COLUMNS[3:7]:
        frame[name] = pd.Series(dtype="float64")
    frame["kind"] = pd.Series(dtype="object")
    frame["peak_motion"] = pd.Series(dtype="float64")
    return frame


def spot_intervals(signal: Sequence[float], fps: float, params: SpottingParams | None = None,
                   segments: Sequence[int] | None = None) -> pd.DataFrame:
    """Find expression intervals in a per-frame motion signal.

    Args:
        signal: non-negative motion per frame (the ``motion`` column of an analysis); NaN marks frames that
            cannot hold an expression (no face, head moving).
        fps: frames per second.
        params: settings; defaults as in :class:`SpottingParams`.
        segments: per frame, the face segment it belongs to (a shot cut or a lost face starts a new one);
            an interval never crosses from one segment to another. ``None``: one segment.

    Returns:
        One row per interval, in time order, with :data:`INTERVAL_COLUMNS` (frame positions 0-based and
        inclusive; ``duration_s`` = (offset - onset + 1) / fps; ``kind`` ``micro`` or ``macro``).
    """
    rows = _spot_rows(signal, fps, params or SpottingParams(), segments)
    if not rows:
        return _empty_intervals()
    return pd.DataFrame(rows)[list(INTERVAL_COLUMNS)]


def _spot_rows(signal: Sequence[float], fps: float, params: SpottingParams,
               segments: Sequence[int] | None) -> list[dict]:
    """:func:`spot_intervals` as plain rows (the streaming form calls it on every frame; no DataFrame)."""
    raw = np.asarray(signal, dtype=np.float64)
    n = len(raw)
    seg = np.zeros(n, dtype=np.int64) if segments is None else np.asarray(segments, dtype=np.int64)
    valid = np.isfinite(raw) & (seg >= 0)
    if n < 3 or valid.sum() < 3:
        return []
    # Smooth within each run of valid frames of one segment, so no value leaks across a cut or a gap.
    values = np.full(n, np.nan)
    run_id = np.cumsum(np.r_[True, (seg[1:] != seg[:-1]) | (valid[1:] != valid[:-1])])
    for run in np.unique(run_id[valid]):
        positions = np.flatnonzero(run_id == run)
        values[positions] = smooth_signal(raw[positions], fps, params.smooth_s)
    finite = values[np.isfinite(values)]
    mean, top, base = float(finite.mean()), float(finite.max()), float(np.median(finite))
    threshold = max(mean + params.p * (top - mean), params.min_motion)
    min_frames = max(1, int(np.ceil(params.min_s * fps - 1e-9)))
    searchable = np.where(np.isfinite(values), values, -np.inf)
    peaks = _local_peaks(searchable, threshold)
    taken = np.zeros(n, dtype=bool)
    usable = np.isfinite(values)
    guard = int(round(params.guard_s * fps))

    def joins(a: int, b: int) -> bool:
        return bool(np.isfinite(values[b]) and run_id[a] == run_id[b] and not taken[b])

    rows = []
    for peak in sorted(peaks, key=lambda i: -values[i]):  # tallest first: a shoulder never splits a big peak
        if taken[peak]:
            continue
        floor = base + params.extent * (values[peak] - base)
        onset = peak
        while onset > 0 and joins(peak, onset - 1) and values[onset - 1] >= floor:
            onset -= 1
        offset = peak
        while offset < n - 1 and joins(peak, offset + 1) and values[offset + 1] >= floor:
            offset += 1
        taken[onset:offset + 1] = True
        length = offset - onset + 1
        duration = length / fps
        if length < min_frames or duration > params.max_s or _near_unusable(onset, offset, usable, guard):
            continue
        rows.append({
            "onset_frame": int(onset), "apex_frame": int(peak), "offset_frame": int(offset),
            "onset_s": onset / fps, "apex_s": peak / fps, "offset_s": offset / fps, "duration_s": duration,
            "kind": "micro" if duration <= params.micro_max_s + 0.5 / fps else "macro",
            "peak_motion": float(values[peak]), "_run": int(run_id[peak]),
        })
    if not rows:
        return []
    rows = _merge_close(sorted(rows, key=lambda r: r["onset_frame"]), params.merge_gap_s * fps)
    for row in rows:
        row["kind"] = "micro" if row["duration_s"] <= params.micro_max_s + 0.5 / fps else "macro"
    return [{key: row[key] for key in INTERVAL_COLUMNS} for row in rows if row["duration_s"] <= params.max_s]


class StreamingSpotter:
    """The streaming form of :func:`spot_intervals`, for live video: the same function and settings run over the
    last ``window_s`` seconds of signal, and an interval is reported once it has ended and can no longer grow or
    merge (``merge_gap_s`` plus a smoothing window after its offset).

    Frames are given in order with :meth:`push` (NaN signal and segment -1 without a face).
    """

    def __init__(self, fps: float, params: SpottingParams | None = None, window_s: float = 10.0,
                 warmup_s: float = 2.0) -> None:
        self.fps = float(fps)
        self.params = params or SpottingParams()
        self.window = max(8, int(round(window_s * fps)))
        self.warmup = max(3, int(round(warmup_s * fps)))
        self._index: deque[int] = deque(maxlen=self.window)
        self._signal: deque[float] = deque(maxlen=self.window)
        self._segment: deque[int] = deque(maxlen=self.window)
        self._reported_until = -1  # offset frame of the last reported interval
        self._seen = 0

    def push(self, index: int, value: float, segment: int) -> list[dict]:
        """Add one frame's final signal; returns the intervals (rows of :data:`INTERVAL_COLUMNS`, frame
        numbers of the stream) completed by it."""
        self._index.append(int(index))
        self._signal.append(float(value))
        self._segment.append(int(segment))
        self._seen += 1
        if self._seen < self.warmup:
            return []
        return self._report(final=False)

    def flush(self) -> list[dict]:
        """The stream ended: report the intervals that are complete now, without waiting for later frames."""
        if not self._index:
            return []
        return self._report(final=True)

    def _report(self, final: bool) -> list[dict]:
        found = _spot_rows(np.fromiter(self._signal, float, len(self._signal)), self.fps, self.params,
                           np.fromiter(self._segment, np.int64, len(self._segment)))
        if not found:
            return []
        first = self._index[0]
        latest = self._index[-1]
        settle = int(np.ceil((self.params.merge_gap_s + self.params.smooth_s) * self.fps)) + 1
        out = []
        for row in found:
            onset, offset = first + int(row["onset_frame"]), first + int(row["offset_frame"])
            if onset <= self._reported_until or (offset + settle > latest and not final):
                continue
            if int(row["onset_frame"]) == 0:  # may have begun before the window: not a whole interval
                continue
            shift = first / self.fps
            row.update(onset_frame=onset, apex_frame=first + int(row["apex_frame"]), offset_frame=offset,
                       onset_s=row["onset_s"] + shift, apex_s=row["apex_s"] + shift,
                       offset_s=row["offset_s"] + shift)
            out.append(row)
            self._reported_until = offset
        return out


def _local_peaks(values: np.ndarray, height: float) -> np.ndarray:
    """Indices of local maxima at least ``height`` (the middle of a flat top), the ends included.

    The few lines of numpy scipy.signal.find_peaks would do here; importing scipy.signal costs seconds at start-up,
    and inside a live stream's first callback.
    """
    padded = np.concatenate([[-np.inf], values, [-np.inf]])
    rising = np.flatnonzero(padded[1:-1] > padded[:-2])          # strictly above the left neighbour
    out = []
    for start in rising:
        stop = start
        while stop + 1 < len(values) and values[stop + 1] == values[start]:
            stop += 1                                               # walk a flat top
        if padded[stop + 2] < values[start] and values[start] >= height:
            out.append((start + stop) // 2)
    return np.unique(np.asarray(out, dtype=np.int64))


def _near_unusable(onset: int, offset: int, usable: np.ndarray, guard: int) -> bool:
    """True when a frame within ``guard`` frames before the onset or after the offset cannot hold an expression
    (the clip's own start and end do not count)."""
    if guard <= 0:
        return False
    before = usable[max(0, onset - guard):onset]
    after = usable[offset + 1:offset + 1 + guard]
    return bool((~before).any() or (~after).any())


@dataclass(frozen=True)
class MacroSides:
    """The macro scale's one-sided movements per frame, combined over the regions as its signal is
    (:attr:`~larnet_core.video.motion.MotionSample.back` and ``forward``): ``back`` from ``reach`` frames before
    to the frame, ``forward`` from the frame to ``reach`` frames after (``reach``: the scale's reference distance
    in frames); NaN where unknown.

    The two-sided signal (each side less the span between the two references) is high only where both
    references see the face at rest. An expression held longer than ``reach`` (a smile of 1.5 s against 1 s
    references) gives it only over the frames where both do, fewer than the expression lasts (``2 reach -
    duration``), so its interval was too short to count as a macro-expression, or too short for its expression.
    The back side is high from the expression's onset on, the forward side up to its offset: the interval is grown
    backwards while the back side stays at :data:`SIDE_LEVEL` of its value at the apex, and forwards while the
    forward side does, to no more than ``reach`` before the interval's end and after its start (an expression
    seen by both references at its apex began and ended within ``reach`` of it), never across a frame that cannot
    be spotted. A side grows the interval only where the two-sided value at the apex is at least
    :data:`SIDE_LEVEL` of it: both references saw the face at rest there, and the side is the expression's. On a
    face that never rests (crying, talking) both sides stay up everywhere while the two-sided value is small
    where it peaks; grown over them, its small peaks became long macro intervals. An expression shorter than ``reach`` is found whole by the two-sided signal, and its sides are at
    rest either side of it: its interval does not grow.
    """

    back: np.ndarray
    forward: np.ndarray
    reach: int


#: A one-sided movement belongs to the expression at the apex while it is at least this share of its value there
#: (half its height: the middle of the onset's and the offset's ramps).
SIDE_LEVEL = 0.5


def spot_expressions(micro: Sequence[float], macro: Sequence[float], fps: float,
                     params: SpottingParams | None = None, segments: Sequence[int] | None = None,
                     sides: MacroSides | None = None) -> pd.DataFrame:
    """Spot on both scales of the motion signal (:meth:`~larnet_core.video.motion.MotionConfig.macro`):
    micro-expressions (up to ``micro_max_s``) on the micro signal, macro-expressions on the macro signal, whose
    references lie far enough apart to see a whole slow movement, each sized with the scale's one-sided movements
    (``sides``, :class:`MacroSides`; None, for a table made before them: the two-sided signal's extent). A micro
    interval inside a macro one is a piece of it and is dropped.

    Args:
        micro, macro: per-frame signals (NaN where nothing can be spotted).
        fps, params, segments: as for :func:`spot_intervals`.
    """
    rows = spot_expression_rows(micro, macro, fps, params, segments, sides)
    if not rows:
        return _empty_intervals()
    return pd.DataFrame(rows)[list(INTERVAL_COLUMNS)]


def spot_expression_rows(micro: Sequence[float], macro: Sequence[float], fps: float,
                         params: SpottingParams | None = None, segments: Sequence[int] | None = None,
                         sides: MacroSides | None = None) -> list[dict]:
    """:func:`spot_expressions` as plain rows (:data:`INTERVAL_COLUMNS`, in onset order): a stream spots its last
    seconds every few frames, where building the DataFrames cost several milliseconds a look."""
    params = params or SpottingParams()
    found_micro = [row for row in _spot_rows(micro, fps, params, segments) if row["kind"] == "micro"]
    if sides is None:
        macro_params = replace(params, min_s=params.micro_max_s)
        found_macro = [row for row in _spot_rows(macro, fps, macro_params, segments) if row["kind"] == "macro"]
    else:  # sized by the sides first: an interval too short on the two-sided signal may be a long expression
        on_macro_scale = _sized_by_sides(_spot_rows(macro, fps, params, segments), macro, fps, params, segments,
                                         sides)
        found_macro = [row for row in on_macro_scale if row["kind"] == "macro" and row["duration_s"] <= params.max_s]
        found_micro = [_sized_on_macro_scale(row, on_macro_scale, fps, params) for row in found_micro]
    found_micro = [row for row in found_micro
                   if not any(m["onset_frame"] <= row["offset_frame"] and row["onset_frame"] <= m["offset_frame"]
                              for m in found_macro)]
    return sorted(found_micro + found_macro, key=lambda row: row["onset_frame"])


def _sized_on_macro_scale(row: dict, on_macro_scale: list[dict], fps: float, params: SpottingParams) -> dict:
    """A micro interval sized as the macro scale sees it, where that scale finds a movement of micro-expression
    length around its apex.

    The micro scale's two-sided signal is high only where both its references (0.3 s either side) see the face
    at rest: on an expression held a little longer than that (a quick smile of 0.47 s) only over its middle, so
    the interval is a third of the expression. The macro scale's references (1 s either side) see all of it. Where
    the micro interval is at most half as long as the macro scale's (under MEGC's IoU of 0.5 with what that scale
    sees; an expression shorter than the micro references are apart is seen whole by both, a little wider on the
    macro scale), it takes the union of both, while that stays a micro-expression's length."""
    apex = int(row["apex_frame"])
    length = int(row["offset_frame"]) - int(row["onset_frame"]) + 1
    for other in on_macro_scale:
        if other["kind"] != "micro" or not other["onset_frame"] <= apex <= other["offset_frame"]:
            continue
        if 2 * length > int(other["offset_frame"]) - int(other["onset_frame"]) + 1:
            continue
        onset = min(int(row["onset_frame"]), int(other["onset_frame"]))
        offset = max(int(row["offset_frame"]), int(other["offset_frame"]))
        duration = (offset - onset + 1) / fps
        if duration <= params.micro_max_s + 0.5 / fps:
            return {**row, "onset_frame": onset, "offset_frame": offset, "onset_s": onset / fps,
                    "offset_s": offset / fps, "duration_s": duration}
    return row


def _sized_by_sides(rows: list[dict], signal: Sequence[float], fps: float, params: SpottingParams,
                    segments: Sequence[int] | None, sides: MacroSides) -> list[dict]:
    """Macro-signal intervals grown with the scale's one-sided movements (:class:`MacroSides`), overlapping ones
    joined, each one's kind set by its new length."""
    values = np.asarray(signal, dtype=np.float64)
    n = len(values)
    back = np.asarray(sides.back, dtype=np.float64)[:n]
    forward = np.asarray(sides.forward, dtype=np.float64)[:n]
    seg = np.zeros(n, dtype=np.int64) if segments is None else np.asarray(segments, dtype=np.int64)
    usable = np.isfinite(values) & (seg >= 0)
    grown = []
    for row in rows:
        onset, apex, offset = int(row["onset_frame"]), int(row["apex_frame"]), int(row["offset_frame"])
        same = usable & (seg == seg[apex])
        peak = float(row["peak_motion"])
        # Only where both references saw the face at rest at the apex (the span between them small: the two-sided
        # value near the side's own); a face that never rests (crying, talking) keeps both sides up everywhere.
        if np.isfinite(back[apex]) and 0 < back[apex] <= peak / SIDE_LEVEL:
            floor, first = SIDE_LEVEL * back[apex], max(offset - sides.reach, 0)
            while onset - 1 >= first and same[onset - 1] and back[onset - 1] >= floor:
                onset -= 1
        if np.isfinite(forward[apex]) and 0 < forward[apex] <= peak / SIDE_LEVEL:
            floor, last = SIDE_LEVEL * forward[apex], min(int(row["onset_frame"]) + sides.reach, n - 1)
            while offset + 1 <= last and same[offset + 1] and forward[offset + 1] >= floor:
                offset += 1
        grown.append({**row, "onset_frame": onset, "offset_frame": offset, "onset_s": onset / fps,
                      "offset_s": offset / fps})
    merged: list[dict] = []
    for row in sorted(grown, key=lambda r: r["onset_frame"]):
        last = merged[-1] if merged else None
        if last is not None and row["onset_frame"] <= last["offset_frame"] + 1 and seg[row["onset_frame"]] == seg[
                last["offset_frame"]]:
            if row["peak_motion"] > last["peak_motion"]:
                last.update(apex_frame=row["apex_frame"], apex_s=row["apex_s"], peak_motion=row["peak_motion"])
            last["offset_frame"] = max(last["offset_frame"], row["offset_frame"])
            last["offset_s"] = last["offset_frame"] / fps
        else:
            merged.append(dict(row))
    for row in merged:
        row["duration_s"] = (row["offset_frame"] - row["onset_frame"] + 1) / fps
        row["kind"] = "micro" if row["duration_s"] <= params.micro_max_s + 0.5 / fps else "macro"
    return merged


def _merge_close(rows: list[dict], max_gap: float) -> list[dict]:
    """Join intervals separated by at most ``max_gap`` frames (pieces of one slower movement)."""
    merged: list[dict] = []
    for row in rows:
        if (merged and row["onset_frame"] - merged[-1]["offset_frame"] - 1 <= max_gap
                and row.get("_run") == merged[-1].get("_run")):
            last = merged[-1]
            if row["peak_motion"] > last["peak_motion"]:
                last.update(apex_frame=row["apex_frame"], apex_s=row["apex_s"], peak_motion=row["peak_motion"])
            last["offset_frame"], last["offset_s"] = row["offset_frame"], row["offset_s"]
            last["duration_s"] = row["duration_s"] + (row["onset_s"] - last["onset_s"])
        else:
            merged.append(dict(row))
    return merged
