"""Viola-Jones face detection with the Haar cascades that ship inside OpenCV: fast, no landmarks by default."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from larnet_core.errors import LarnetError
from larnet_core.face.base import FaceDetection, FaceDetector, as_rgb_uint8

__all__ = ["HaarFaceDetector", "HAAR_CASCADES"]

#: Frontal-face cascades shipped in ``cv2.data.haarcascades`` (OpenCV 4.x), by short name.
HAAR_CASCADES = {
    "default": "haarcascade_frontalface_default.xml",
    "alt": "haarcascade_frontalface_alt.xml",
    "alt2": "haarcascade_frontalface_alt2.xml",
}
# Each eye cascade misses some eyes the other finds (glasses, glare), so both are run and their hits pooled.
_EYE_CASCADES = ("haarcascade_eye_tree_eyeglasses.xml", "haarcascade_eye.xml")
_EYE_SEARCH_WIDTH = 150  # the face is resized to this width before looking for eyes: cheap and scale-free
# Nose and mouth corners relative to the eyes, from the widely used 5-point template of a 112x112 aligned face
# (eyes at (38.3, 51.7) and (73.5, 51.5)); used only to complete landmarks when the eye cascade found both eyes.
_TEMPLATE_5 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)


def _load_cascade(file_name: str) -> cv2.CascadeClassifier:
    data_dir = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(data_dir or "") / file_name
    if not data_dir or not path.is_file():
        raise LarnetError(f"OpenCV's Haar cascade {file_name} was not found; install opencv-python-headless "
                          "4.x (pinned in requirements.txt; OpenCV 5 ships no cascades) or use --face mtcnn")
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise LarnetError(f"OpenCV could not read the Haar cascade {path}; reinstall opencv-python-headless")
    return classifier


class HaarFaceDetector(FaceDetector):
    """OpenCV's frontal-face Haar cascade.

    Large images are shrunk to ``max_side`` pixels on the long side before searching (faces in analysis
    footage fill a good part of the frame, so little is lost) and boxes are mapped back to full resolution.

    Args:
        max_side: long side, in pixels, the image is shrunk to before searching; ``None`` searches full size.
        scale_factor: step between the cascade's search scales (``detectMultiScale``'s ``scaleFactor``).
        min_neighbors: overlapping hits a face needs; higher means fewer false faces.
        min_size: smallest face searched, in pixels of the shrunk image.
        min_score: hits whose cascade weight (the detection's ``score``) is below this are dropped. On the
            sample photos, shifted, rotated and resized, real faces scored 2.6 or more and the false hits (on the
            astronaut's background) at most 2.53, mostly under 1; the default drops most of them. The
            scale is the cascade's own: the ``alt`` cascades score far higher, so set it anew for them.
        cascade: which shipped frontal-face cascade to use, a key of :data:`HAAR_CASCADES`.
        find_eyes: also look for the two eyes inside each face with OpenCV's two eye cascades (about 15 ms
            per face). When both are found, ``landmarks`` holds the measured eyes; the nose and mouth points are
            then placed from a standard face template, not measured. Without both eyes, ``landmarks`` is None.
    """

    name = "haar"

    def __init__(
        self,
        max_side: int | None = 320,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 24,
        min_score: float = 2.0,
        cascade: str = "default",
        find_eyes: bool = False,
    ) -> None:
        if max_side is not None and max_side < 32:
            raise ValueError(f"max_side must be at least 32 pixels or None, got {max_side}")
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be above 1.0, got {scale_factor}")
        if min_neighbors < 0 or min_size < 1:
            raise ValueError(f"min_neighbors must be >= 0 and min_size >= 1, got {min_neighbors}, {min_size}")
        if cascade not in HAAR_CASCADES:
            raise ValueError(f"unknown Haar cascade {cascade!r}; choose one of {', '.join(HAAR_CASCADES)}")
        self.max_side = max_side
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(min_size)
        self.min_score = float(min_score)
        self.cascade = cascade
        self.find_eyes = bool(find_eyes)
        self._faces = _load_cascade(HAAR_CASCADES[cascade])
        self._eyes = [_load_cascade(name) for name in _EYE_CASCADES] if find_eyes else []
        # CascadeClassifier keeps per-call scratch buffers; calls on one instance must not overlap.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"HaarFaceDetector(max_side={self.max_side}, cascade={self.cascade!r}, "
                f"min_neighbors={self.min_neighbors}, min_score={self.min_score}, find_eyes={self.find_eyes})")

    def detect(self, image_rgb: np.ndarray) -> list[FaceDetection]:
        rgb = as_rgb_uint8(image_rgb)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        height, width = grey.shape
        scale = 1.0
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            small = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA)
        else:
            small = grey
        if min(small.shape) < self.min_size:
            return []
        with self._lock:
            rects, _levels, weights = self._faces.detectMultiScale3(
                small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                minSize=(self.min_size, self.min_size), outputRejectLevels=True,
            )
            detections = []
            for (x, y, w, h), weight in zip(np.reshape(rects, (-1, 4)), np.ravel(weights)):
                if weight < self.min_score:
                    continue
                box = (x / scale, y / scale, (x + w) / scale, (y + h) / scale)
                landmarks = self._find_eyes(grey, box) if self._eyes else None
                detections.append(FaceDetection(box, float(weight), landmarks).clipped(width, height))
        detections.sort(key=lambda d: d.score, reverse=True)
        return detections

    def _find_eyes(self, grey: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """Five landmarks from the two eyes found in the face's upper part, or None (caller holds the lock)."""
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        face = grey[max(y0, 0):y1, max(x0, 0):x1]
        if face.size == 0:
            return None
        factor = _EYE_SEARCH_WIDTH / face.shape[1]
        face = cv2.resize(face, (_EYE_SEARCH_WIDTH, max(1, round(face.shape[0] * factor))),
                          interpolation=cv2.INTER_AREA)
        upper = face[: int(face.shape[0] * 0.6)]  # eyes sit in the upper part; nostrils fool the cascade
        half = _EYE_SEARCH_WIDTH / 2
        best: dict[bool, tuple[float, np.ndarray]] = {}  # image-left half -> (weight, eye centre)
        for cascade in self._eyes:
            rects, _levels, weights = cascade.detectMultiScale3(
                upper, scaleFactor=1.1, minNeighbors=2, minSize=(15, 15), outputRejectLevels=True
            )
            for (x, y, w, h), weight in zip(np.reshape(rects, (-1, 4)), np.ravel(weights)):
                centre = np.array([x + w / 2, y + h / 2])
                is_left = centre[0] < half
                if is_left not in best or weight > best[is_left][0]:
                    best[is_left] = (float(weight), centre)
        if len(best) < 2:
            return None
        eyes = np.stack([best[True][1], best[False][1]]) / factor + [max(x0, 0), max(y0, 0)]
        return _complete_from_eyes(eyes)


def _complete_from_eyes(eyes: np.ndarray) -> np.ndarray:
    """Five landmarks: the two measured eyes plus template nose/mouth placed by the eyes' similarity transform."""
    src = _TEMPLATE_5[:2]
    src_vec = src[1] - src[0]
    dst_vec = eyes[1] - eyes[0]
    # Complex-number form of the 2-D similarity that maps the template eyes onto the measured ones.
    ratio = complex(*dst_vec) / complex(*src_vec)
    rest = (_TEMPLATE_5 - src[0]) @ np.array([[ratio.real, ratio.imag], [-ratio.imag, ratio.real]]) + eyes[0]
    rest[:2] = eyes
    return rest
