"""Facial key points that drive the action-unit deformations, and estimates of them from a face box.

Sides follow the image, as face detectors report them (MTCNN's ``left_eye`` is the eye on the image's left):
``left_*`` is the viewer's left, which is the subject's right side of the face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

__all__ = ["Point", "FaceLandmarks", "landmarks_from_box", "landmarks_from_five_points"]

Point = tuple[float, float]


def _pt(p: Sequence[float]) -> Point:
    return (float(p[0]), float(p[1]))


@dataclass(frozen=True)
class FaceLandmarks:
    """Eleven key points of a frontal face, in pixel coordinates ``(x, y)`` of the image they belong to.

    Attributes:
        left_eye: Centre of the eye on the image's left.
        right_eye: Centre of the eye on the image's right.
        left_brow_inner: Inner end (towards the nose) of the left brow.
        left_brow_outer: Outer end of the left brow.
        right_brow_inner: Inner end of the right brow.
        right_brow_outer: Outer end of the right brow.
        nose_tip: Tip of the nose.
        mouth_left: Mouth corner on the image's left.
        mouth_right: Mouth corner on the image's right.
        upper_lip: Centre of the upper lip's outer edge.
        lower_lip: Centre of the lower lip's outer edge.
    """

    left_eye: Point
    right_eye: Point
    left_brow_inner: Point
    left_brow_outer: Point
    right_brow_inner: Point
    right_brow_outer: Point
    nose_tip: Point
    mouth_left: Point
    mouth_right: Point
    upper_lip: Point
    lower_lip: Point

    @property
    def eye_distance(self) -> float:
        """Distance between the eye centres in pixels: the unit every deformation is measured in."""
        return float(math.hypot(self.right_eye[0] - self.left_eye[0], self.right_eye[1] - self.left_eye[1]))

    @property
    def roll(self) -> float:
        """In-plane rotation of the eye line, in radians (0 for a level face, positive clockwise on screen)."""
        return float(math.atan2(self.right_eye[1] - self.left_eye[1], self.right_eye[0] - self.left_eye[0]))

    def as_array(self) -> np.ndarray:
        """All points as a ``(11, 2)`` float64 array, in field order."""
        return np.array([getattr(self, f.name) for f in fields(self)], dtype=np.float64)

    @classmethod
    def from_array(cls, points: np.ndarray) -> "FaceLandmarks":
        """Inverse of :meth:`as_array`."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        names = [f.name for f in fields(cls)]
        if len(points) != len(names):
            raise ValueError(f"expected {len(names)} points, got {len(points)}")
        return cls(**{name: _pt(p) for name, p in zip(names, points)})

    def transformed(self, matrix: np.ndarray) -> "FaceLandmarks":
        """Apply a 2x3 affine matrix (as used by ``cv2.warpAffine``) to every point."""
        matrix = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
        pts = self.as_array()
        return FaceLandmarks.from_array(pts @ matrix[:, :2].T + matrix[:, 2])

    def scaled(self, sx: float, sy: float | None = None) -> "FaceLandmarks":
        """Scale every coordinate, e.g. after resizing the image."""
        sy = sx if sy is None else sy
        return self.transformed(np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0]]))


def landmarks_from_box(box: Sequence[float]) -> FaceLandmarks:
    """Estimate key points from a face box with typical adult proportions.

    The proportions suit the tight boxes of Haar cascades and MTCNN (brows near the top fifth, mouth at about
    three quarters of the height). They are a fair guess for a frontal, level face; pass real landmarks when a
    detector gives them (see :func:`landmarks_from_five_points`).

    Args:
        box: ``(x, y, width, height)`` of the face in pixels.

    Returns:
        The estimated landmarks.
    """
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(f"face box must have a positive size, got {tuple(box)}")

    def at(u: float, v: float) -> Point:
        return (x + u * w, y + v * h)

    return FaceLandmarks(
        left_eye=at(0.31, 0.40),
        right_eye=at(0.69, 0.40),
        left_brow_inner=at(0.42, 0.29),
        left_brow_outer=at(0.17, 0.29),
        right_brow_inner=at(0.58, 0.29),
        right_brow_outer=at(0.83, 0.29),
        nose_tip=at(0.50, 0.60),
        mouth_left=at(0.36, 0.77),
        mouth_right=at(0.64, 0.77),
        upper_lip=at(0.50, 0.73),
        lower_lip=at(0.50, 0.82),
    )


def landmarks_from_five_points(
    left_eye: Sequence[float],
    right_eye: Sequence[float],
    nose: Sequence[float],
    mouth_left: Sequence[float],
    mouth_right: Sequence[float],
) -> FaceLandmarks:
    """Complete the five points of MTCNN-style detectors (eyes, nose, mouth corners) to the full set.

    Brows and lips are placed in the face's own frame (along and across the eye line), so a tilted face keeps
    its brows above its eyes.
    """
    le, re_, nose_, ml, mr = (np.asarray(p, dtype=np.float64) for p in (left_eye, right_eye, nose, mouth_left, mouth_right))
    across = re_ - le
    iod = float(np.hypot(*across))
    if iod <= 0:
        raise ValueError("the two eye points coincide; pass distinct eye centres")
    ex = across / iod
    ey = np.array([-ex[1], ex[0]])  # points down the face
    mouth_mid = (ml + mr) / 2

    def off(origin: np.ndarray, u: float, v: float) -> Point:
        return _pt(origin + (u * ex + v * ey) * iod)

    return FaceLandmarks(
        left_eye=_pt(le),
        right_eye=_pt(re_),
        left_brow_inner=off(le, 0.28, -0.28),
        left_brow_outer=off(le, -0.36, -0.28),
        right_brow_inner=off(re_, -0.28, -0.28),
        right_brow_outer=off(re_, 0.36, -0.28),
        nose_tip=_pt(nose_),
        mouth_left=_pt(ml),
        mouth_right=_pt(mr),
        upper_lip=off(mouth_mid, 0.0, -0.10),
        lower_lip=off(mouth_mid, 0.0, 0.13),
    )
