"""Geometric measures of a pose-normalised face mesh that action units change.

Every measure is a mean over a few mesh points (one point's jitter is of the order of what a micro-expression
moves), in eye distances, in the canonical face's axes (:func:`larnet_core.face.pose.HeadPose.normalise`: x to
the image's right for a frontal face, y down). Heights are measured from the eye line (the mean height of the four
eye corners, which move with the skull), so a raised brow has a more negative value. Left and right are the
image's (the subject's right first), as in :data:`larnet_core.face.mesh.MESH_REGIONS`.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["FEATURE_NAMES", "mesh_features"]

# Point groups, (image-left side, image-right side) for pairs. Indices of MediaPipe's canonical face mesh.
_EYE_CORNERS = [33, 133, 362, 263]
_BROW_INNER = ([55, 65, 107, 66], [285, 295, 336, 296])
_BROW_OUTER = ([46, 53, 52, 63, 70], [276, 283, 282, 293, 300])
_UPPER_LID = ([159, 158, 160, 157, 161], [386, 385, 387, 384, 388])
_LOWER_LID = ([145, 144, 153, 154, 163], [374, 373, 380, 381, 390])
_CHEEK = ([117, 118, 119, 100, 101, 50], [346, 347, 348, 329, 330, 280])
_NOSE_WING = ([64, 98, 48, 115], [294, 327, 278, 344])
_CORNER = ([61, 76, 62], [291, 306, 292])
_UPPER_LIP_OUT = [0, 37, 267]
_UPPER_LIP_IN = [13, 82, 312]
_LOWER_LIP_IN = [14, 87, 317]
_LOWER_LIP_OUT = [17, 84, 314]
_CHIN = [152, 175, 199, 200, 377, 148]
_NOSE_BASE = [2, 94, 164]

#: Names of :func:`mesh_features`' values, in order.
FEATURE_NAMES = (
    "brow_inner_l", "brow_inner_r", "brow_outer_l", "brow_outer_r", "brow_gap",
    "upper_lid_l", "upper_lid_r", "lower_lid_l", "lower_lid_r", "cheek_l", "cheek_r",
    "nose_wing", "upper_lip", "nose_to_lip",
    "corner_y_l", "corner_y_r", "corner_x_l", "corner_x_r",
    "lip_gap", "upper_lip_thickness", "lower_lip_thickness", "lower_lip", "chin",
)


def _y(points: np.ndarray, group: list[int]) -> float:
    return float(points[group, 1].mean())


def mesh_features(normalised: np.ndarray) -> np.ndarray:
    """The :data:`FEATURE_NAMES` measures of one pose-normalised ``(>= 468, 3)`` mesh, ``float64``.

    Every measure is a difference of point means, so all of them are one linear map of the points' x and y:
    computed as one matrix product (:func:`_linear_map`, derived once from :func:`_measures`)."""
    p = np.asarray(normalised, dtype=np.float64)
    return _linear_map() @ p[:_POINTS, :2].ravel()


_POINTS = 468


@functools.lru_cache(maxsize=1)
def _linear_map() -> np.ndarray:
    """``(len(FEATURE_NAMES), 936)``: :func:`_measures` of each unit displacement of one coordinate."""
    zero = _measures(np.zeros((_POINTS, 2)))
    basis = np.zeros((_POINTS * 2, _POINTS, 2))
    basis.reshape(_POINTS * 2, -1)[np.arange(_POINTS * 2), np.arange(_POINTS * 2)] = 1.0
    return np.column_stack([_measures(unit) - zero for unit in basis])


def _measures(p: np.ndarray) -> np.ndarray:
    """The measures' definition, point group by point group (``p``: ``(468, >= 2)``)."""
    eye_line = _y(p, _EYE_CORNERS)
    nose_base = _y(p, _NOSE_BASE)
    upper_in, lower_in = _y(p, _UPPER_LIP_IN), _y(p, _LOWER_LIP_IN)
    upper_out, lower_out = _y(p, _UPPER_LIP_OUT), _y(p, _LOWER_LIP_OUT)
    centre_x = float(p[_NOSE_BASE, 0].mean())
    values = []
    for left, right in (_BROW_INNER, _BROW_OUTER):
        values += [_y(p, left) - eye_line, _y(p, right) - eye_line]
    values.append(float(p[_BROW_INNER[1], 0].mean() - p[_BROW_INNER[0], 0].mean()))
    for left, right in (_UPPER_LID, _LOWER_LID, _CHEEK):
        values += [_y(p, left) - eye_line, _y(p, right) - eye_line]
    values += [
        float(np.mean([_y(p, side) for side in _NOSE_WING])) - eye_line,
        upper_out - eye_line,
        upper_out - nose_base,
        _y(p, _CORNER[0]) - eye_line, _y(p, _CORNER[1]) - eye_line,
        centre_x - float(p[_CORNER[0], 0].mean()), float(p[_CORNER[1], 0].mean()) - centre_x,
        lower_in - upper_in,
        upper_in - upper_out,
        lower_out - lower_in,
        lower_out - eye_line,
        _y(p, _CHIN) - eye_line,
    ]
    return np.array(values, dtype=np.float64)
