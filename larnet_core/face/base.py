"""Face detections, the detector interface, and the image checks every detector shares.

Coordinates are pixels of the image given to the detector, ``x`` to the right and ``y`` down. Landmarks follow
MTCNN's order: left eye, right eye, nose, left mouth corner, right mouth corner, where "left" means the
image's left (the subject's right).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
import pandas as pd

from larnet_core.errors import LarnetError

__all__ = [
    "Box",
    "FaceDetection",
    "FaceDetector",
    "LANDMARK_NAMES",
    "as_rgb_uint8",
    "box_iou",
    "detections_frame",
]

Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in pixels, ``x1 > x0`` and ``y1 > y0``."""

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class FaceDetection:
    """One face found in one image.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in pixels of the image that was searched.
        score: detector confidence, higher is surer. MTCNN gives a probability in [0, 1]; the Haar detector
            gives its cascade's last-stage weight (unbounded; about 2.5-10 for real faces with the default cascade).
        landmarks: ``(5, 2)`` float array of ``(x, y)`` points in :data:`LANDMARK_NAMES` order, or ``None``.
            Read-only.
        mesh: ``(N, 2)`` float array of dense landmarks in pixels (478 for MediaPipe Face Mesh with irises, indexed
            as MediaPipe's canonical face mesh; see :data:`larnet_core.face.mesh.MESH_REGIONS`), or ``None``.
            Read-only. Equality and hashing use ``box`` and ``score`` only.
        depth: ``(N,)`` relative depth of the mesh points in pixels (MediaPipe's z: smaller is nearer the camera),
            or ``None``. With ``mesh`` it gives the 3-D points the head pose is fitted on
            (:mod:`larnet_core.face.pose`).
    """

    box: Box
    score: float
    landmarks: np.ndarray | None = field(default=None, compare=False)
    mesh: np.ndarray | None = field(default=None, compare=False, repr=False)
    depth: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = (float(v) for v in self.box)
        if not (x1 > x0 and y1 > y0) or not np.isfinite([x0, y0, x1, y1]).all():
            raise ValueError(f"face box must be finite with x1 > x0 and y1 > y0, got {self.box!r}")
        object.__setattr__(self, "box", (x0, y0, x1, y1))
        object.__setattr__(self, "score", float(self.score))
        if self.landmarks is not None:
            points = np.array(self.landmarks, dtype=np.float64).reshape(-1, 2)
            if points.shape != (5, 2):
                raise ValueError(f"landmarks must be 5 (x, y) points, got shape {np.shape(self.landmarks)}")
            points.flags.writeable = False  # frozen means frozen: callers share detections across threads
            object.__setattr__(self, "landmarks", points)
        if self.mesh is not None:
            mesh = np.array(self.mesh, dtype=np.float64)
            if mesh.ndim != 2 or mesh.shape[1] != 2 or len(mesh) == 0:
                raise ValueError(f"mesh must be (N, 2) points, got shape {np.shape(self.mesh)}")
            mesh.flags.writeable = False
            object.__setattr__(self, "mesh", mesh)
        if self.depth is not None:
            depth = np.array(self.depth, dtype=np.float64).reshape(-1)
            if self.mesh is None or len(depth) != len(self.mesh):
                raise ValueError(f"depth must have one value per mesh point, got shape {np.shape(self.depth)}")
            depth.flags.writeable = False
            object.__setattr__(self, "depth", depth)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    @property
    def eyes(self) -> np.ndarray | None:
        """``(2, 2)`` array: left eye then right eye (image left/right), or ``None`` without landmarks."""
        return None if self.landmarks is None else self.landmarks[:2]

    @property
    def mesh3d(self) -> np.ndarray | None:
        """``(N, 3)`` mesh points ``(x, y, depth)`` in pixels, or ``None`` without a mesh or its depth."""
        if self.mesh is None or self.depth is None:
            return None
        return np.column_stack([self.mesh, self.depth])

    def scaled(self, factor: float) -> FaceDetection:
        """The same detection in an image resized by ``factor`` (0.5 = half size)."""
        landmarks = None if self.landmarks is None else self.landmarks * factor
        mesh = None if self.mesh is None else self.mesh * factor
        depth = None if self.depth is None else self.depth * factor
        return FaceDetection(tuple(v * factor for v in self.box), self.score, landmarks, mesh, depth)

    def clipped(self, width: int, height: int) -> FaceDetection:
        """The detection with its box clipped to a ``width`` x ``height`` image; unchanged if nothing would remain."""
        x0, y0, x1, y1 = self.box
        box = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
        if box[2] <= box[0] or box[3] <= box[1]:
            return self
        return FaceDetection(box, self.score, self.landmarks, self.mesh, self.depth)


class FaceDetector(abc.ABC):
    """Finds faces in RGB images. Implementations are safe to share between threads."""

    #: Short name used by :func:`larnet_core.face.build_detector` and the ``--face`` options.
    name: str = ""

    @abc.abstractmethod
    def detect(self, image_rgb: np.ndarray) -> list[FaceDetection]:
        """Find the faces in one image.

        Args:
            image_rgb: ``(H, W, 3)`` uint8 RGB. Grey-scale ``(H, W)`` / ``(H, W, 1)`` and RGBA ``(H, W, 4)``
                are converted.

        Returns:
            Detections sorted by score, best first; ``[]`` when there is no face (never an error).

        Raises:
            LarnetError: the array is not an image (wrong dtype, shape, or empty).
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def as_rgb_uint8(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Check an image and return it as a C-contiguous ``(H, W, 3)`` uint8 RGB array.

    Grey-scale is replicated to three channels and an alpha channel is dropped. The input is not modified.

    Args:
        image: the array to check.
        what: how to name the image in error messages (a file name, "frame 12 of clip.mp4").

    Raises:
        LarnetError: not a numpy array, not uint8, not 2-D/3-D with 1, 3 or 4 channels, or empty.
    """
    if not isinstance(image, np.ndarray):
        raise LarnetError(f"{what} is a {type(image).__name__}, not an image array; pass a numpy uint8 RGB array "
                          "(for example np.asarray(PIL.Image.open(path).convert('RGB')))")
    if image.dtype != np.uint8:
        raise LarnetError(f"{what} has dtype {image.dtype}; face detection needs uint8 pixels 0-255, convert it "
                          "first (for example (image * 255).clip(0, 255).astype(np.uint8) for floats in 0-1)")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise LarnetError(f"{what} has shape {image.shape}; expected (H, W) grey, (H, W, 3) RGB or "
                          "(H, W, 4) RGBA; pass one image, not a batch or a video")
    if image.size == 0:
        raise LarnetError(f"{what} is empty (shape {image.shape}); pass an image with at least one pixel")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(np.ascontiguousarray(image.reshape(image.shape[:2])), cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGBA2RGB)
    return np.ascontiguousarray(image)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes; 0.0 when they do not overlap."""
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def detections_frame(detections: Sequence[FaceDetection]) -> pd.DataFrame:
    """One row per detection: ``x0, y0, x1, y1, score`` and ``<landmark>_x/_y`` columns (NaN when absent)."""
    columns = ["x0", "y0", "x1", "y1", "score"] + [f"{n}_{c}" for n in LANDMARK_NAMES for c in "xy"]
    rows = []
    for det in detections:
        points = det.landmarks.ravel().tolist() if det.landmarks is not None else [np.nan] * 10
        rows.append([*det.box, det.score, *points])
    return pd.DataFrame(rows, columns=columns, dtype=float)
