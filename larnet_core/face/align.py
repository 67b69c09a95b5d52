"""Face crops and eye-line alignment that remember how to map results back onto the source frame.

Every crop is one affine warp (``cv2.warpAffine``) from source pixels to crop pixels. The crop region is the face
box grown by ``margin`` on each side, then widened or heightened to the output's aspect ratio (never squashed).
With landmarks, the region is also rotated about the box centre so that the eyes end up level.

Points and matrices use continuous pixel coordinates, like the detectors' boxes: pixel ``[row i, column j]``
covers ``[j, j + 1) x [i, i + 1)``, so its centre is ``(j + 0.5, i + 0.5)`` and a ``W x H`` image spans
``(0, 0)-(W, H)``. OpenCV's warps put pixel centres on integers; :func:`_pixel_centre_matrix` converts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from larnet_core.face.base import Box, FaceDetection, as_rgb_uint8

__all__ = ["AlignedFace", "align_face", "crop_face", "eye_angle"]


@dataclass(frozen=True, eq=False)
class AlignedFace:
    """A face crop and the transform that made it.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB crop; pixels outside the source frame are black.
        matrix: ``(2, 3)`` affine matrix taking source ``(x, y)`` to crop ``(x, y)``.
        source_box: the face box, in source pixels, the crop was made from.
        angle: degrees the face was rotated to level the eyes (0.0 for a plain crop).
        landmarks: the detection's landmarks in crop pixels, or ``None``.
    """

    image: np.ndarray = field(repr=False)
    matrix: np.ndarray
    source_box: Box
    angle: float = 0.0
    landmarks: np.ndarray | None = field(default=None, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the crop."""
        return self.image.shape[1], self.image.shape[0]

    @property
    def inverse_matrix(self) -> np.ndarray:
        """``(2, 3)`` affine matrix taking crop ``(x, y)`` back to source ``(x, y)``."""
        return cv2.invertAffineTransform(self.matrix)

    def to_source(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Map ``(N, 2)`` crop points (e.g. a heat map's peak) to source-frame pixels."""
        return _apply(self.inverse_matrix, points)

    def from_source(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Map ``(N, 2)`` source-frame points into crop pixels."""
        return _apply(self.matrix, points)

    def source_corners(self) -> np.ndarray:
        """``(4, 2)`` corners of the crop in source pixels (top-left, top-right, bottom-right, bottom-left)."""
        w, h = self.size
        return self.to_source([[0, 0], [w, 0], [w, h], [0, h]])

    def map_to_source(self, values: np.ndarray, source_size: tuple[int, int]) -> np.ndarray:
        """Warp a per-pixel map of the crop (a heat map) back onto the source frame.

        Args:
            values: ``(h, w)`` float map over the crop; any size, it is first resized to the crop's size
                (CAM maps are often coarser than the crop).
            source_size: ``(width, height)`` of the source frame.

        Returns:
            ``(height, width)`` float32 map; zero outside the crop region.
        """
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2:
            raise ValueError(f"map_to_source needs a 2-D map, got shape {values.shape}")
        if values.shape != self.image.shape[:2]:
            values = cv2.resize(values, self.size, interpolation=cv2.INTER_LINEAR)
        size = (int(source_size[0]), int(source_size[1]))
        return cv2.warpAffine(values, _pixel_centre_matrix(self.matrix), size,
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0.0)


def eye_angle(landmarks: np.ndarray) -> float:
    """Angle of the eye line in degrees (0 = level; positive when the right-hand eye sits lower in the image)."""
    (lx, ly), (rx, ry) = np.asarray(landmarks, dtype=np.float64)[:2]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def crop_face(
    image: np.ndarray, box: Sequence[float], output_size: tuple[int, int] = (224, 224), margin: float = 0.2
) -> AlignedFace:
    """Crop an axis-aligned face region and resize it to ``output_size``.

    Args:
        image: RGB uint8 frame (grey-scale and RGBA are converted).
        box: face box ``(x0, y0, x1, y1)`` in pixels.
        output_size: ``(width, height)`` of the crop.
        margin: fraction of the box's width (height) added on the left and right (top and bottom).
    """
    return _warp(image, tuple(float(v) for v in box), 0.0, output_size, margin, None)


def align_face(
    image: np.ndarray, detection: FaceDetection, output_size: tuple[int, int] = (224, 224), margin: float = 0.2
) -> AlignedFace:
    """Crop a face with its eye line made horizontal, or a plain crop when the detection has no landmarks.

    The region is the detection box grown by ``margin`` and rotated about the box centre by the eye-line angle,
    so the face keeps its size and position in the crop whatever its tilt.

    Args:
        image: RGB uint8 frame (grey-scale and RGBA are converted).
        detection: the face, usually from a detector with landmarks (MTCNN).
        output_size: ``(width, height)`` of the crop.
        margin: fraction of the box's width (height) added on each side.
    """
    angle = eye_angle(detection.landmarks) if detection.landmarks is not None else 0.0
    return _warp(image, detection.box, angle, output_size, margin, detection.landmarks)


def _warp(
    image: np.ndarray,
    box: Box,
    angle: float,
    output_size: tuple[int, int],
    margin: float,
    landmarks: np.ndarray | None,
) -> AlignedFace:
    out_w, out_h = (int(v) for v in output_size)
    if out_w < 1 or out_h < 1:
        raise ValueError(f"output_size must be two positive integers (width, height), got {output_size!r}")
    if not 0.0 <= margin <= 5.0:
        raise ValueError(f"margin must be a fraction of the box between 0 and 5, got {margin}")
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"face box must have x1 > x0 and y1 > y0, got {box!r}")
    rgb = as_rgb_uint8(image)
    region_w = (x1 - x0) * (1 + 2 * margin)
    region_h = (y1 - y0) * (1 + 2 * margin)
    # Grow the shorter side to the output's aspect ratio rather than stretch the face.
    if region_w / region_h < out_w / out_h:
        region_w = region_h * out_w / out_h
    else:
        region_h = region_w * out_h / out_w
    scale = out_w / region_w
    theta = math.radians(angle)
    cos, sin = math.cos(theta) * scale, math.sin(theta) * scale
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    # Rotate by -angle about the box centre (levels the eye line), scale, then centre in the output.
    linear = np.array([[cos, sin], [-sin, cos]])
    matrix = np.hstack([linear, (np.array([out_w / 2, out_h / 2]) - linear @ centre)[:, None]])
    crop = cv2.warpAffine(rgb, _pixel_centre_matrix(matrix), (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))
    mapped = None if landmarks is None else _apply(matrix, landmarks)
    return AlignedFace(image=crop, matrix=matrix, source_box=(x0, y0, x1, y1), angle=float(angle), landmarks=mapped)


def _pixel_centre_matrix(matrix: np.ndarray) -> np.ndarray:
    """The same affine map expressed for OpenCV, whose pixel centres sit on integer coordinates."""
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return shifted


def _apply(matrix: np.ndarray, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts @ matrix[:, :2].T + matrix[:, 2]
