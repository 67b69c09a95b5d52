"""Action-unit intensities from the face mesh: per frame against the person's neutral, or a photo against the
canonical face.

A frame's mesh (with depth) is pose-normalised (:func:`larnet_core.face.pose.fit_pose`), measured
(:func:`~larnet_core.aus.features.mesh_features`), and its change from the neutral face is unmixed into action
units by non-negative least squares on the calibrated responses, each measure weighted by its noise
(:mod:`larnet_core.aus.calibration`; a calibration with a second model for lips apart, and its misfit, is read
too). Intensities are on FACS's 0-5 scale: 0 is the neutral face, 1 what the
project's generated micro-expressions reach at full strength, about 2.5 its macro-expressions, 5 the most; they
are clipped to [0, 5].

The neutral is the person's own, as OpenFace normalises each person against a running median of their features:
a clip uses the median of the face's measures over a window centred on each frame (:func:`track_intensities`),
live the median of the recent past (:class:`AuTracker`), so one face's resting frown or wide eyes do not read as
AU4 or AU5 all along. A photo has no neutral frame of its own and is measured against an average face
(:func:`photo_intensities`: the mean real face of :mod:`larnet_core.aus.learned_patterns` where its patterns explain
the difference, else the canonical face); its values say more about how the face differs from an average face.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import functools

import numpy as np
import pandas as pd

from larnet_core.aus.calibration import AU_COLUMNS, Calibration, load_calibration
from larnet_core.aus.features import FEATURE_NAMES, mesh_features
from larnet_core.aus.learned_patterns import learned_mean_face, mesh_reading, prefer_learned
from larnet_core.aus.nnls import nnls
from larnet_core.face.pose import HeadPose, canonical_face, fit_pose

__all__ = ["ACTIVE_LEVEL", "RELATIVE_LEVEL", "AuTracker", "expression_units", "FaceMeasure", "intensities",
           "measure_mesh", "photo_intensities", "running_neutral",
           "track_intensities", "active_units"]

#: Intensity from which an action unit counts as present (interval labels, photo summaries, AU F1). Set on
#: generated renderings of the calibration photo: below it, noise on still faces; above it, generated
#: micro-expressions at full strength.
ACTIVE_LEVEL = 0.6


@dataclass(frozen=True)
class FaceMeasure:
    """One face's pose and mesh measures in one frame."""

    pose: HeadPose
    features: np.ndarray


def measure_mesh(mesh3d: np.ndarray) -> FaceMeasure:
    """Pose and measures of one ``(478, 3)`` mesh with depth."""
    pose = fit_pose(mesh3d)
    return FaceMeasure(pose, mesh_features(pose.normalise(mesh3d)))


@functools.lru_cache(maxsize=1)
def _calibration() -> Calibration:
    return load_calibration()


@functools.lru_cache(maxsize=2)
def _weighted(open_lips: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The weighted responses and weights of the model for lips together (or apart)."""
    return _calibration().weighted(open_lips)


_LIP_GAP = FEATURE_NAMES.index("lip_gap")


def intensities(change: np.ndarray) -> np.ndarray:
    """Action-unit intensities (:data:`AU_COLUMNS` order, 0-5) of a change of the mesh measures from neutral
    (``(n_features,)``, or ``(n, n_features)`` for several frames); NaN rows stay NaN. A frame whose lips are
    apart (its lip gap opened beyond the calibration's ``open_lip_gap``) is read with the model measured on
    open mouths where the calibration has one (the stored one does not: :class:`~larnet_core.aus.calibration.
    Calibration` says why it was tried)."""
    change = np.asarray(change, dtype=np.float64)
    single = change.ndim == 1
    rows = np.atleast_2d(change)
    threshold = _calibration().open_lip_gap
    out = np.full((len(rows), len(AU_COLUMNS)), np.nan)
    for index, row in enumerate(rows):
        if np.isfinite(row).all():
            response, weights = _weighted(bool(row[_LIP_GAP] > threshold))
            out[index] = nnls(response, row * weights)[0]
    out = np.clip(out, 0.0, 5.0)
    return out[0] if single else out


@functools.lru_cache(maxsize=1)
def _canonical_features() -> np.ndarray:
    return mesh_features(canonical_face())


#: The units a photo reads from the mesh's own measures even where the learned patterns read the rest: the lids'
#: aperture (AU5 raised, AU43 closed) is measured directly, as video reads AU43 from the mesh on every frame.
_LID_UNITS = [AU_COLUMNS.index("AU05"), AU_COLUMNS.index("AU43")]


def photo_intensities(mesh3d: np.ndarray) -> tuple[HeadPose, np.ndarray]:
    """Pose and intensities of a face in a photo: against the mean of the real faces the learned patterns were
    fitted on (:mod:`larnet_core.aus.learned_patterns`), where the face differs from it by a large movement that
    those patterns explain (the rule video uses, no flow to compare with), the lids from the mesh's measures;
    otherwise the mesh's measures against the canonical neutral face."""
    measure = measure_mesh(mesh3d)
    values = intensities(measure.features - _canonical_features())
    mean_face = learned_mean_face()
    if mean_face is not None:
        learned = mesh_reading(mean_face, measure.pose.normalise(mesh3d))
        if prefer_learned(learned, float("nan")):
            lids = values[_LID_UNITS]
            values = learned.values.copy()
            values[_LID_UNITS] = lids
    return measure.pose, values


#: In an expression, units weaker than this share of its strongest are not counted: the weak units beside a
#: strong expression are mostly what a moving head leaves in the flow (set on generated footage).
RELATIVE_LEVEL = 0.4


def expression_units(values: np.ndarray) -> list[str]:
    """The units an expression shows: at least :data:`ACTIVE_LEVEL` and :data:`RELATIVE_LEVEL` of its strongest."""
    array = np.asarray(values, dtype=np.float64)
    top = float(np.nanmax(array)) if np.isfinite(array).any() else 0.0
    return active_units(array, max(ACTIVE_LEVEL, RELATIVE_LEVEL * top))


def active_units(values: np.ndarray | pd.Series | dict, level: float = ACTIVE_LEVEL) -> list[str]:
    """The action-unit names whose intensity reaches ``level`` (``["AU06", "AU12"]``), in AU order."""
    if isinstance(values, dict):
        values = [values.get(name, np.nan) for name in AU_COLUMNS]
    elif isinstance(values, pd.Series):
        values = [values.get(name, np.nan) for name in AU_COLUMNS]
    array = np.asarray(values, dtype=np.float64)
    return [name for name, value in zip(AU_COLUMNS, array) if np.isfinite(value) and value >= level]


def running_neutral(features: np.ndarray, window: int, resting: np.ndarray | None = None) -> np.ndarray:
    """One face's neutral measures on each frame: the median of its measures (``(n, n_features)``, NaN rows where
    not measured) over ``window`` frames centred on it. ``resting`` (per frame): only those frames set it (a clip's
    spotted expressions are not), except where the window holds none of them."""
    frame = pd.DataFrame(np.asarray(features, dtype=np.float64))
    median = frame.rolling(max(1, int(window)), center=True, min_periods=1).median()
    if resting is None:
        return median.to_numpy()
    kept = pd.DataFrame(np.where(np.asarray(resting, dtype=bool)[:, None], frame.to_numpy(), np.nan))
    return kept.rolling(max(1, int(window)), center=True, min_periods=1).median().fillna(median).to_numpy()


def track_intensities(features: np.ndarray, window: int, resting: np.ndarray | None = None) -> np.ndarray:
    """Intensities of one face's frames (``(n, n_features)`` measures, NaN rows where the face was not measured)
    against its own neutral (:func:`running_neutral`; ``resting``: the frames that may set it)."""
    features = np.asarray(features, dtype=np.float64)
    return intensities(features - running_neutral(features, window, resting))


class AuTracker:
    """Live action units of one face: each frame against the median of its recent past.

    Args:
        fps: frames a second of the stream.
        window_s: how much past the neutral is the median of.
        every: keep one frame in ``every`` in the history and refresh the median every ``every`` frames
            (cheap enough for 30 fps and more).
    """

    def __init__(self, fps: float = 30.0, window_s: float = 10.0, every: int = 3) -> None:
        self.every = max(1, int(every))
        self._history: deque[np.ndarray] = deque(maxlen=max(5, int(window_s * fps / self.every)))
        self._neutral: np.ndarray | None = None
        self._count = 0

    def reset(self) -> None:
        self._history.clear()
        self._neutral = None
        self._count = 0

    def update(self, mesh3d: np.ndarray) -> tuple[HeadPose, np.ndarray]:
        """The pose and intensities of this frame's mesh."""
        return self.update_measure(measure_mesh(mesh3d))

    def update_measure(self, measure: FaceMeasure) -> tuple[HeadPose, np.ndarray]:
        """The same from a frame's measures already made (:func:`measure_mesh`)."""
        return measure.pose, intensities(measure.features - self.observe(measure.features))

    def observe(self, features: np.ndarray) -> np.ndarray:
        """Count one frame's measures in the neutral; returns the neutral it is read against."""
        if self._count % self.every == 0:
            self._history.append(features)
            self._neutral = np.median(np.asarray(self._history), axis=0)
        self._count += 1
        return self._neutral


