"""Two-scale spotting of a live stream: the clip's :func:`~larnet_core.video.spotting.spot_expressions` run over the
last seconds of both motion signals, each interval reported once it is final.

Clip analysis spots micro-expressions on the micro signal and macro-expressions on the macro signal, and drops a
micro interval inside a macro one (a piece of it). A stream gets the same function on the same signals, so a
micro interval is only reported once the macro signal has gone far enough past it to know that no macro interval
covers it. The last frames of a stream are settled with :meth:`TwoScaleStreamingSpotter.flush`.
"""

from __future__ import annotations

import numpy as np

from larnet_core.video.spotting import INTERVAL_COLUMNS, MacroSides, SpottingParams, spot_expression_rows

__all__ = ["TwoScaleStreamingSpotter"]

_SCALES = ("micro", "macro")


class TwoScaleStreamingSpotter:
    """Frames' final motion of both scales in (:meth:`push`, any order within the window), final intervals out
    (:meth:`poll`, once per frame).

    Args:
        fps: the stream's frame rate.
        params: the spotting settings, the same object clip analysis takes.
        window_s: seconds of signal kept (a macro-expression and its resting level around it must fit).
        warmup_s: nothing is reported before this much signal (a threshold over a second of signal is noise).
        every_s: look for final intervals this often (each look spots over the whole window).
        macro_reach: the macro scale's reference distance in frames: macro intervals are sized with its one-sided
            movements (:class:`~larnet_core.video.spotting.MacroSides`, given to :meth:`push`), as a clip's are;
            None: by the two-sided signal alone.
    """

    def __init__(self, fps: float, params: SpottingParams | None = None, window_s: float = 20.0,
                 warmup_s: float = 2.0, every_s: float = 0.1, macro_reach: int | None = None) -> None:
        self.fps = float(fps)
        self.params = params or SpottingParams()
        self.window = max(8, int(round(window_s * self.fps)))
        self.warmup = max(3, int(round(warmup_s * self.fps)))
        self.every = max(1, int(round(every_s * self.fps)))
        # An interval is final when its signal can no longer grow or merge it; a micro one also waits until a
        # macro interval around it would be long enough to be seen (it would then be dropped as a piece of it).
        self.settle = int(np.ceil((self.params.merge_gap_s + self.params.smooth_s) * self.fps)) + 1
        self.macro_reach = None if macro_reach is None else max(1, int(macro_reach))
        # (A macro interval sized by its sides may begin up to its reach before its two-sided signal rises. A micro
        # one does not wait that second longer for it: at the quick onset of an expression held 1-2 s a stream may
        # report a micro event that a clip drops as a piece of the macro one, rather than every event a second
        # later.)
        self.micro_hold = self.settle + int(np.ceil(self.params.micro_max_s * self.fps))
        # A peak further back than the longest interval and its wait cannot make an interval still to report.
        self.reach = int(np.ceil(self.params.max_s * self.fps)) + self.micro_hold
        # Frame ``base + i`` is row ``i``: columns micro, macro, segment, and the macro scale's back and forward
        # sides (NaN unknown); kept for ``window`` frames.
        self._rows = np.full((2 * self.window, 5), np.nan)
        self._base: int | None = None
        self._latest = {scale: -1 for scale in _SCALES}
        self._start: int | None = None
        self._reported_until = -1
        self._looked_at = -1
        self._loud_at = -(10 ** 12)  # the last frame with a value above the noise floor

    def push(self, index: int, scale: str, value: float, segment: int, back: float = float("nan"),
             forward: float = float("nan")) -> None:
        """One frame's final value of one scale (NaN where nothing can be spotted: no face, head moving); for the
        macro scale, its back and forward sides (NaN where a cover thinned the value)."""
        index = int(index)
        if self._base is None:
            self._base = index
        if index < self._base:
            return  # older than the window
        if index - self._base >= len(self._rows):
            self._slide(index)
        row = self._rows[index - self._base]
        row[_SCALES.index(scale)] = float(value)
        if scale == "macro":
            row[3], row[4] = float(back), float(forward)
        if scale == "micro" or np.isnan(row[2]):
            row[2] = int(segment)
        self._latest[scale] = max(self._latest[scale], index)
        self._start = index if self._start is None else min(self._start, index)
        if np.isfinite(value) and value >= self.params.min_motion:
            self._loud_at = max(self._loud_at, index)

    def _slide(self, index: int) -> None:
        """Drop the frames older than the window before ``index`` (amortised: at most every ``window`` frames)."""
        keep_from = index - self.window + 1
        shift = keep_from - self._base
        kept = self._rows[shift:].copy() if shift < len(self._rows) else np.empty((0, self._rows.shape[1]))
        self._rows[:] = np.nan
        self._rows[:len(kept)] = kept
        self._base = keep_from

    def poll(self) -> list[dict]:
        """The intervals that became final since the last call (rows of :data:`INTERVAL_COLUMNS`, stream frames)."""
        latest = max(self._latest.values())
        if self._start is None or latest - self._start + 1 < self.warmup or latest - self._looked_at < self.every:
            return []
        self._looked_at = latest
        # Spotting the window costs milliseconds and most of a stream is still: skip while no value above the
        # noise floor lies within reach of an interval still to report.
        if latest - self._loud_at > self.reach:
            return []
        return self._report(final=False)

    def flush(self) -> list[dict]:
        """The stream ended: every interval still open is final now."""
        return self._report(final=True) if self._base is not None else []

    def _report(self, final: bool) -> list[dict]:
        first = self._base
        # Only frames both signals have reached: an unknown future is not a frame without a face.
        last = max(self._latest.values()) if final else min(self._latest.values())
        if last < first:
            return []
        rows = self._rows[:last - first + 1]
        segments = np.where(np.isnan(rows[:, 2]), -1, rows[:, 2]).astype(np.int64)
        out = []
        sides = None if self.macro_reach is None else MacroSides(rows[:, 3], rows[:, 4], self.macro_reach)
        for row in spot_expression_rows(rows[:, 0], rows[:, 1], self.fps, self.params, segments, sides):
            onset, offset = first + int(row["onset_frame"]), first + int(row["offset_frame"])
            if onset <= self._reported_until:
                continue
            if int(row["onset_frame"]) == 0 and first > self._start:  # may have begun before the window
                continue
            if not final and offset + (self.micro_hold if row["kind"] == "micro" else self.settle) > last:
                break  # later intervals wait for this one, so they are reported in order
            shift = first / self.fps
            row.update(onset_frame=onset, apex_frame=first + int(row["apex_frame"]), offset_frame=offset,
                       onset_s=row["onset_s"] + shift, apex_s=row["apex_s"] + shift,
                       offset_s=row["offset_s"] + shift)
            out.append({key: row[key] for key in INTERVAL_COLUMNS})
            self._reported_until = offset
        return out
