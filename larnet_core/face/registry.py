"""One front door to the detectors, and the "exactly one face, please" helper built on them."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from larnet_core.errors import NoFaceError
from larnet_core.face.base import FaceDetection, FaceDetector
from larnet_core.face.haar import HaarFaceDetector
from larnet_core.face.mesh import MeshFaceDetector
from larnet_core.face.mtcnn import MTCNNFaceDetector

__all__ = ["DETECTORS", "available_detectors", "build_detector", "largest_face", "no_face_message"]

#: Detector classes by name; ``haar`` is the fast default.
DETECTORS: dict[str, type[FaceDetector]] = {
    HaarFaceDetector.name: HaarFaceDetector,
    MTCNNFaceDetector.name: MTCNNFaceDetector,
    MeshFaceDetector.name: MeshFaceDetector,
}
# The package each detector needs beyond the runtime pins, checked without importing it.
_NEEDS = {"mtcnn": "facenet_pytorch", "mediapipe": "mediapipe"}


def available_detectors() -> list[str]:
    """Names of the detectors that can be built here (``haar`` always; ``mtcnn`` when facenet-pytorch is installed,
    ``mediapipe`` when mediapipe is)."""
    return [name for name in DETECTORS if name not in _NEEDS or importlib.util.find_spec(_NEEDS[name]) is not None]


def build_detector(name: str = "haar", **kwargs: Any) -> FaceDetector:
    """Build a face detector by name.

    Args:
        name: ``"haar"`` (fast, boxes only), ``"mtcnn"`` (boxes and five landmarks) or ``"mediapipe"`` (boxes,
            five landmarks and a 478-point mesh).
        **kwargs: passed to the detector's constructor (e.g. ``device="cuda"`` for MTCNN).

    Raises:
        ValueError: unknown name; the message lists the valid ones.
        LarnetError: the detector's package or model files are missing.
    """
    key = (name or "").strip().lower()
    if key not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    return DETECTORS[key](**kwargs)


def no_face_message(what: str) -> str:
    """The message of :class:`NoFaceError` for a named input, shared so every caller words it the same."""
    return f"no face found in {what}; use a clearer frontal face photo, or analyse the full frame with --face none"


def largest_face(image: np.ndarray, detector: FaceDetector, what: str = "the image") -> FaceDetection:
    """The largest face in an image (ties go to the higher score).

    Args:
        image: RGB uint8 image (grey-scale and RGBA are converted).
        detector: any :class:`FaceDetector`.
        what: how to name the image in the error message (a file name, "frame 0 of clip.mp4").

    Raises:
        NoFaceError: the detector found nothing.
        LarnetError: the array is not an image.
    """
    detections = detector.detect(image)
    if not detections:
        raise NoFaceError(no_face_message(what))
    return max(detections, key=lambda d: (d.area, d.score))
