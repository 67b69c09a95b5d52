"""Action units from the face mesh's movement, unmixed with patterns learned on real faces.

The flow's templates (:mod:`larnet_core.aus.calibration`) are measured on 2-D warps of photos, and a real face's
skin does not move as a warp does: on real footage they explain a small share of the movement (the first real clip
of docs/action-units.md, 0.02-0.40) and what they name there is not the face's units (a broad smile read as lip
stretcher and tightener, AU20+AU23, with no cheek raiser). For each unit this module has instead the mesh movement
that goes with it on real faces: py-feat's AU-to-mesh model (``au_to_mesh_pls_v4``, a partial least squares fit of
MediaPipe face meshes on the action units its detector reads, over real faces; Cheong et al., *Py-Feat: Python
Facial Expression Analysis Toolbox*, Affective Science 2023, doi:10.1007/s42761-023-00191-4). Its coefficients ship
inside py-feat's wheel (MIT), which is installed without dependencies and never imported; py-feat documents the
datasets behind its models and their terms in its wheel's ``LICENSES/DATASETS.md``.

A reading is the pose-normalised mesh's movement between two frames (:meth:`larnet_core.face.pose.HeadPose.
normalise`: turns and nods are gone, eye distance 1), unmixed by sparse non-negative least squares on the units'
patterns (:data:`PENALTY`). The mesh follows a broad expression well (a real smile moves it ten times as far as the
jitter between still frames) but not a micro-expression (of the order of that jitter), so this reading stands in for
the flow's only where the mesh moved far and the flow's templates do not describe the movement
(:func:`prefer_learned`, used by :func:`larnet_core.aus.flow.crop_intensities`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from larnet_core.aus.features import FEATURE_NAMES, mesh_features
from larnet_core.aus.names import ANTAGONIST_SLACK, ANTAGONISTS, AU_COLUMNS
from larnet_core.aus.nnls import sparse_unmix
from larnet_core.face.pose import STABLE_POINTS, HeadPose, canonical_face

__all__ = ["PATTERNS_SOURCE", "PENALTY", "MODEL_UNIT", "LEARNED_MOVEMENT", "LEARNED_SHARE", "MAX_TURN_DEG",
           "MAX_MISFIT_RISE", "LIPS_APART", "MeshReading", "learned_patterns", "learned_mean_face",
           "mesh_reading", "prefer_learned", "turned_little"]

log = logging.getLogger(__name__)

#: The distribution and the file in it that hold the learned patterns.
PATTERNS_SOURCE = ("py-feat", "feat/resources/au_to_mesh_pls_v4.npz")
_POINTS = 468
#: Weight of the L1 penalty on the model's units (eye distances squared): a unit joins the fit only where twice its
#: pattern's match to the movement exceeds it. Set on still frames, not on expressions: between two frames of the
#: first half second of each real clip (py-feat's ``single_face.mp4``, ``WolfgangLanger_Pexels.mp4``: a still
#: face), the best-matching unit's doubled match is at most 0.25 and 0.32 in 95 % of the pairs.
PENALTY = 0.3
#: One unit of the model, its detector sure that the unit is present, is read as 2.5 on the 0-5 scale: a clear
#: macro-expression, the strength the generated macro-expressions are rendered at. Nobody coded a real face's
#: intensities for this project; the scale is a convention, not a measurement.
MODEL_UNIT = 2.5
#: How far the mesh must move (root mean square over its points, eye distances) for this reading to be used: five
#: times the jitter between still frames of a real face (0.004-0.007). A broad real smile moves it 0.06; the
#: generated footage's units alone at 2.5 move it 0.004-0.036.
LEARNED_MOVEMENT = 0.03
#: The learned patterns must explain this share of the mesh's movement, and the flow's templates less than this
#: share of the skin's, for the learned reading to stand in for the flow's (:func:`prefer_learned`).
LEARNED_SHARE = 0.6
#: The most the head may turn (yaw, pitch or roll, degrees) between the two frames for the learned reading to be
#: used: a rigid fit of a face that is not rigid leaves some of a larger turn in the pose-normalised mesh, and the
#: learned patterns explain that residue as units (a generated micro-expression of raised brows during a 20-degree
#: turn read as AU5+AU26). The same 5 degrees that tell a fast head movement from a nod the flow follows
#: (``larnet_core.video.face_state.FAST_TURN_DEG``); the real smile nods about 4.
MAX_TURN_DEG = 5.0
#: The most the stable points' misfit to the rigid canonical face (:attr:`~larnet_core.face.pose.HeadPose.residual`,
#: eye distances) may grow between the two frames. No expression moves the nose, the eye corners and the face's
#: outline; a movement that bends them is the head's or the camera's, and the learned patterns would read it as
#: units. The generated footage's head turns are 2-D warps that bend the face rather than turn it (a 20-degree turn
#: reads 1.3 degrees of yaw, the misfit grows from 0.014 to 0.034) and its raised brows during one read AU5+AU26;
#: the real smile's misfit falls from 0.05 to 0.04.
MAX_MISFIT_RISE = 0.01
#: How far the inner lips must part (eye distances, from the one mesh to the other) to be read as lips apart, AU25,
#: at :data:`MODEL_UNIT` at least. The model's own lips-apart pattern is faint (parting the lips moves few of the
#: mesh's points: its pattern is a quarter of the jaw drop's), and a broad smile's parted lips go to the jaw drop
#: and the cheek raiser. The mesh keeps its inner lip points together until the lips part, then lets them go at
#: once: on the real smile the gap goes from 0.00 to 0.16-0.23 within two frames; between still frames it moves
#: 0.002.
LIPS_APART = 0.1
_LIP_GAP = FEATURE_NAMES.index("lip_gap")
_AU25 = AU_COLUMNS.index("AU25")


@dataclass(frozen=True)
class MeshReading:
    """The units read from the mesh's movement between two frames.

    Attributes:
        values: intensities in :data:`~larnet_core.aus.names.AU_COLUMNS` order, 0-5.
        share: the share of the movement the units' patterns explain (0-1).
        size: the movement's root mean square over the mesh's points, eye distances.
    """

    values: np.ndarray
    share: float
    size: float


@functools.lru_cache(maxsize=1)
def _stored_model() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None:
    """``(per_unit, mean_face, units)`` of py-feat's model on the canonical face: each unit's ``(468, 3)`` movement,
    the mean face (stable points fitted to the canonical face's) and the units' names (``"AU01"``, ...); None, said
    once in the log, where py-feat's wheel or its file is missing or not what is expected."""
    try:
        path = Path(str(importlib.metadata.distribution(PATTERNS_SOURCE[0]).locate_file(PATTERNS_SOURCE[1])))
        with np.load(path, allow_pickle=False) as stored:
            coef, mean = stored["coef"], stored["mean_aligned_mesh"]
            units = tuple(str(name) for name in stored["au_columns"])
    except (importlib.metadata.PackageNotFoundError, OSError, KeyError, ValueError) as exc:
        log.warning("action units from real faces' patterns are off: %s is not readable (%s); install it with "
                    "`pip install --no-deps -r requirements-nodeps.txt`", "/".join(PATTERNS_SOURCE), exc)
        return None
    if mean.shape[0] < _POINTS or coef.shape[1] != 3 * mean.shape[0] or coef.shape[0] < len(units):
        log.warning("action units from real faces' patterns are off: %s has unexpected shapes", PATTERNS_SOURCE[1])
        return None
    points = mean.shape[0]
    # The model's rows are the units then the pose; its columns axis-major (all x, all y, all z).
    per_unit = np.asarray(coef[:len(units)], np.float64).reshape(len(units), 3, points).transpose(0, 2, 1)
    mean = np.asarray(mean, np.float64)[:_POINTS]
    scale, rotation = _onto_canonical(mean)
    stable = list(STABLE_POINTS)
    face = scale * (mean - mean[stable].mean(axis=0)) @ rotation.T + canonical_face()[stable].mean(axis=0)
    return scale * per_unit[:, :_POINTS] @ rotation.T, face, units


@functools.lru_cache(maxsize=1)
def learned_patterns() -> tuple[np.ndarray, tuple[str, ...]] | None:
    """``(patterns, units)``: ``(936, n_units)`` mesh movement per model unit (x and y of each of the 468 points
    interleaved, canonical face's axes, eye distances) and the units' names; None where the model is not
    installed or not readable (the log says why, once)."""
    stored = _stored_model()
    if stored is None:
        return None
    per_unit, _, units = stored
    patterns = per_unit[:, :, :2].reshape(len(units), -1).T
    patterns.flags.writeable = False
    return patterns, units


@functools.lru_cache(maxsize=1)
def learned_mean_face() -> np.ndarray | None:
    """The model's mean face, the average of the real faces it was fitted on, on the canonical face (``(468, 3)``,
    stable points fitted; read-only): a photo's neutral where it has none of its own. None where the model is not
    installed."""
    stored = _stored_model()
    if stored is None:
        return None
    face = stored[1].copy()
    face.flags.writeable = False
    return face


def _onto_canonical(mean: np.ndarray) -> tuple[float, np.ndarray]:
    """Scale and rotation of the similarity that best maps the model's mean face onto the canonical face at the
    stable points (Umeyama, no reflection)."""
    source, target = mean[list(STABLE_POINTS)], canonical_face()[list(STABLE_POINTS)]
    source, target = source - source.mean(axis=0), target - target.mean(axis=0)
    u, sigma, vt = np.linalg.svd(target.T @ source)
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    return float((sigma * np.diag(sign)).sum() / np.square(source).sum()), rotation


@functools.lru_cache(maxsize=1)
def _columns() -> tuple[np.ndarray, tuple[tuple[int, int], ...]] | None:
    """For each :data:`~larnet_core.aus.names.AU_COLUMNS` unit its column in the model (-1: none), and the
    :data:`~larnet_core.aus.names.ANTAGONISTS` pairs as the model's columns."""
    loaded = learned_patterns()
    if loaded is None:
        return None
    units = loaded[1]
    pairs = [tuple(f"AU{number:02d}" for number in pair) for pair in ANTAGONISTS]
    return (np.array([units.index(name) if name in units else -1 for name in AU_COLUMNS]),
            tuple((units.index(a), units.index(b)) for a, b in pairs if a in units and b in units))


def mesh_reading(neutral: np.ndarray, current: np.ndarray) -> MeshReading | None:
    """The units of the movement from one pose-normalised mesh to another (``(>= 468, 2 or 3)``, canonical
    units: :meth:`~larnet_core.face.pose.HeadPose.normalise`); None where the patterns are not installed or a
    mesh is not finite. The model's units this project does not report (AU11, AU28) are fitted, so they take their
    own movement, and left out. Lips apart (AU25) are read from the inner lips' gap as well (:data:`LIPS_APART`)."""
    loaded, model_columns = learned_patterns(), _columns()
    if loaded is None or model_columns is None:
        return None
    columns, antagonists = model_columns
    change = (np.asarray(current, np.float64)[:_POINTS, :2] - np.asarray(neutral, np.float64)[:_POINTS, :2]).ravel()
    if not np.isfinite(change).all():
        return None
    patterns = loaded[0]
    fitted = sparse_unmix(patterns, change, PENALTY, antagonists, ANTAGONIST_SLACK)
    energy = float(np.square(change).sum())
    share = 1.0 - float(np.square(change - patterns @ fitted).sum()) / energy if energy > 0 else 0.0
    values = np.where(columns >= 0, fitted[np.maximum(columns, 0)] * MODEL_UNIT, 0.0)
    opened = mesh_features(current)[_LIP_GAP] - mesh_features(neutral)[_LIP_GAP]
    if opened >= LIPS_APART:
        values[_AU25] = max(values[_AU25], MODEL_UNIT)
    return MeshReading(np.clip(values, 0.0, 5.0), share, float(np.sqrt(np.mean(np.square(change)))))


def prefer_learned(reading: MeshReading | None, flow_share: float) -> bool:
    """Whether the mesh's reading stands in for the flow's: the mesh moved :data:`LEARNED_MOVEMENT` or more, its
    learned patterns explain :data:`LEARNED_SHARE` or more of that movement, and the flow's templates explain less
    than that share of the skin's (``flow_share``; NaN counts as nothing explained)."""
    if reading is None:
        return False
    flow_share = flow_share if np.isfinite(flow_share) else 0.0
    return reading.size >= LEARNED_MOVEMENT and reading.share >= LEARNED_SHARE > flow_share


def turned_little(first: HeadPose, second: HeadPose) -> bool:
    """Whether the head turned less than :data:`MAX_TURN_DEG` in each angle between two frames' poses and its
    stable points' misfit grew by less than :data:`MAX_MISFIT_RISE`: the pose-normalised meshes compare."""
    change = np.abs(np.array([first.yaw - second.yaw, first.pitch - second.pitch, first.roll - second.roll]))
    rise = second.residual - first.residual
    return bool(np.isfinite(change).all() and change.max() < MAX_TURN_DEG and rise < MAX_MISFIT_RISE)
