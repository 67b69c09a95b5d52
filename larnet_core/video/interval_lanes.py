"""The per-frame AU lanes of a clip read on every frame of each spotted interval, against the interval's neutral.

Outside the spotted intervals a face's lanes come from the skin's movement read ten times a second
(:mod:`larnet_core.aus.reference_flow`) and spread linearly between readings. A micro-expression lasts 0.2-0.5 s,
so it gets two to five readings: its apex is often missed, and the lanes showed a weaker, shifted blip while the
interval's ``aus`` (read at its apex frame) named the unit. So once the intervals are known, every frame from
each one's neutral frame (:func:`~larnet_core.video.recognise.neutral_frame`, 0.2 s before the spotted onset) to
:data:`~larnet_core.video.recognise.NEUTRAL_LEAD_S` past its offset is read against that neutral frame, with the
same crops, the same rigid model and the same rule as the interval's own units
(:func:`~larnet_core.video.recognise.recognise_intervals` makes both; the interval's units *are* its reading at the
apex frame). :func:`with_interval_readings` puts them into the lanes:

* from the onset to the offset the lanes are the interval's readings (the apex frame's equal the interval's);
* between the neutral frame and the onset, and over as many frames after the offset, they are blended linearly
  with the ten-a-second lanes (:meth:`IntervalReading.weights`: 0 at the neutral frame, 1 from the onset to the
  offset, back to 0 a lead after it), so no step shows where the interval's reference takes over from the
  ten-a-second one: the neutral frame reads zero against itself, and a spotted offset is near neutral again;
* where intervals overlap, a frame takes the interval that weighs most there, then the one whose apex is nearest;
* a frame whose movement fits no unit's pattern (:func:`~larnet_core.aus.flow.crop_intensities`) reads no unit
  but AU43, as the ten-a-second lanes there;
* AU43 stays the mesh's (the lids, on every frame); a region covered between the neutral frame and a frame reads
  NaN there (:func:`~larnet_core.video.face_state.covered_units`, as the interval's units); a frame where a cover
  arrives or leaves (``blanked``: :func:`~larnet_core.video.face_state.cover_changing`) and a frame that could not
  be read keep their lanes. A frame whose ten-a-second lanes were not read (NaN: the movement against their
  reference fitted no unit's pattern) takes the interval's reading where that one reads units: the interval's
  units are its reading at the apex, and the lanes there show them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from larnet_core.aus.names import AU_COLUMNS

__all__ = ["IntervalReading", "with_interval_readings"]

_NOT_AU43 = np.array([name != "AU43" for name in AU_COLUMNS])


@dataclass(frozen=True)
class IntervalReading:
    """One interval's units on each frame read against its neutral frame: ``frames`` (increasing, from after the
    neutral frame to before ``end``) and ``values`` (``(len(frames), len(AU_COLUMNS))``; a row all NaN: that
    frame could not be read, or, where ``not_read`` says so, its movement fits no unit's pattern). ``end``: the
    first frame after the offset's blend, where it weighs nothing."""

    neutral: int
    onset: int
    apex: int
    offset: int
    end: int
    frames: np.ndarray
    values: np.ndarray
    not_read: np.ndarray | None = None

    def is_not_read(self, frame: int) -> bool:
        """Whether ``frame`` was read and its movement fits no unit's pattern
        (:func:`~larnet_core.aus.flow.crop_intensities`: no units are named there, and none are taken from
        elsewhere)."""
        position = np.searchsorted(self.frames, int(frame))
        return bool(self.not_read is not None and position < len(self.frames)
                    and int(self.frames[position]) == int(frame) and self.not_read[position])

    def weights(self) -> np.ndarray:
        """How much each of ``frames`` takes the interval's reading over the ten-a-second lanes: rising linearly
        from 0 at the neutral frame to 1 at the onset, 1 to the offset, falling linearly to 0 at ``end``."""
        frames = np.asarray(self.frames, dtype=np.float64)
        rise = (frames - self.neutral) / max(self.onset - self.neutral, 1)
        fall = (self.end - frames) / max(self.end - self.offset, 1)
        return np.clip(np.minimum(rise, fall), 0.0, 1.0)

    def at(self, frame: int) -> np.ndarray | None:
        """The reading of ``frame`` (None where it was not read)."""
        position = np.searchsorted(self.frames, int(frame))
        if position == len(self.frames) or int(self.frames[position]) != int(frame):
            return None
        values = self.values[position]
        return values if np.isfinite(values).any() else None


def with_interval_readings(lanes: np.ndarray, readings: list[IntervalReading],
                           blanked: np.ndarray | None = None) -> np.ndarray:
    """A face's ``(n, len(AU_COLUMNS))`` per-frame units with its intervals' readings put in (see the module
    docstring; ``blanked``: per frame, a cover arrives or leaves there and its lanes stay as they are)."""
    out = np.array(lanes, dtype=np.float64, copy=True)
    n = len(out)
    # Per frame: the chosen interval, its weight there and the distance to its apex.
    chosen = np.full(n, -1, dtype=np.int64)
    row = np.full(n, -1, dtype=np.int64)
    weight = np.zeros(n)
    distance = np.full(n, np.inf)
    for number, reading in enumerate(readings):
        not_read = np.zeros(len(reading.frames), dtype=bool) if reading.not_read is None else reading.not_read
        for position, (frame, w) in enumerate(zip(np.asarray(reading.frames, dtype=np.int64), reading.weights())):
            if not 0 <= frame < n or w <= 0 or not (np.isfinite(reading.values[position]).any()
                                                     or not_read[position]):
                continue
            away = abs(int(frame) - reading.apex)
            if w > weight[frame] or (w == weight[frame] and away < distance[frame]):
                chosen[frame], row[frame], weight[frame], distance[frame] = number, position, w, away
    for frame in np.flatnonzero(chosen >= 0):
        if blanked is not None and blanked[frame]:  # a cover arriving or leaving drags the skin: nothing is read
            continue
        lane = out[frame, _NOT_AU43]
        reading = readings[chosen[frame]]
        if reading.not_read is not None and reading.not_read[row[frame]]:
            out[frame, _NOT_AU43] = np.nan  # the movement fits no unit's pattern: not read, as the ten-a-second lanes
            continue
        read = reading.values[row[frame], _NOT_AU43]
        w = weight[frame]
        if w >= 1.0:
            out[frame, _NOT_AU43] = read  # inside the interval: its reading, exactly
        else:  # a covered unit (NaN in the reading) stays NaN; a unit the lane had no value for takes the reading
            out[frame, _NOT_AU43] = np.where(np.isfinite(lane), w * read + (1.0 - w) * lane, read)
    return out
