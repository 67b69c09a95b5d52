"""MTCNN face detection (facenet-pytorch): face boxes plus five landmarks, weights shipped in the wheel."""

from __future__ import annotations

import threading
from typing import Sequence

import cv2
import numpy as np

from larnet_core.devices import resolve_device
from larnet_core.errors import LarnetError
from larnet_core.face.base import FaceDetection, FaceDetector, as_rgb_uint8

__all__ = ["MTCNNFaceDetector"]


class MTCNNFaceDetector(FaceDetector):
    """Zhang et al.'s three-stage MTCNN, as packaged by facenet-pytorch 2.6 (no download: weights are in the wheel).

    The network is built once per detector and runs under a lock, so one instance can serve several threads
    (the dashboard shares one between sessions).

    Args:
        device: ``None`` or ``"cpu"`` (default) keep it on the CPU; ``"auto"``, ``"cuda"`` or a
            :class:`torch.device` move it (see :func:`larnet_core.devices.resolve_device`).
        min_face_size: smallest face searched, in pixels of the (possibly shrunk) image.
        thresholds: score thresholds of the three stages (P-Net, R-Net, O-Net).
        min_score: detections below this final probability are dropped.
        max_side: long side, in pixels, large images are shrunk to before searching (the search cost grows
            with the pixel count); ``None`` searches full size. Boxes and landmarks come back in full-size pixels.
    """

    name = "mtcnn"

    def __init__(
        self,
        device: object | None = None,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        min_score: float = 0.9,
        max_side: int | None = 640,
    ) -> None:
        if min_face_size < 12:
            raise ValueError(f"min_face_size must be at least 12 pixels (MTCNN's smallest window), got {min_face_size}")
        if len(thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in thresholds):
            raise ValueError(f"thresholds must be three probabilities, got {thresholds!r}")
        if max_side is not None and max_side < 32:
            raise ValueError(f"max_side must be at least 32 pixels or None, got {max_side}")
        try:
            # lazy: torch only when the MTCNN detector is used (`larnet --help` imports this module)
            import torch
            from facenet_pytorch import MTCNN
        except ImportError as exc:
            raise LarnetError(
                f"the MTCNN face detector needs facenet-pytorch ({exc}); install it with "
                "`pip install --no-deps facenet-pytorch==2.6.0` (see requirements-nodeps.txt) or use --face haar"
            ) from exc
        self._torch = torch
        self.device = _pick_device(device)
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.min_score = float(min_score)
        self.max_side = max_side
        # keep_all: every face, not only the most probable one; the caller chooses.
        self._mtcnn = MTCNN(
            keep_all=True, min_face_size=self.min_face_size, thresholds=list(self.thresholds), device=self.device
        ).eval()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MTCNNFaceDetector(device={str(self.device)!r}, min_face_size={self.min_face_size}, " \
               f"min_score={self.min_score}, max_side={self.max_side})"

    def detect(self, image_rgb: np.ndarray) -> list[FaceDetection]:
        rgb = as_rgb_uint8(image_rgb)
        height, width = rgb.shape[:2]
        scale = 1.0
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            rgb = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                             interpolation=cv2.INTER_AREA)
        # Smaller than the smallest face: facenet-pytorch would fail on an empty image pyramid.
        if min(rgb.shape[:2]) < self.min_face_size:
            return []
        with self._lock, self._torch.inference_mode():
            boxes, probs, points = self._mtcnn.detect(rgb, landmarks=True)
        if boxes is None:
            return []
        detections = []
        # facenet-pytorch returns object arrays under numpy 2; cast each row.
        for box, prob, landmarks in zip(boxes, probs, points):
            if prob is None or float(prob) < self.min_score:
                continue
            box = np.asarray(box, dtype=np.float64) / scale
            landmarks = np.asarray(landmarks, dtype=np.float64).reshape(5, 2) / scale
            if not (box[2] > box[0] and box[3] > box[1]):
                continue
            detections.append(FaceDetection(tuple(box), float(prob), landmarks).clipped(width, height))
        detections.sort(key=lambda d: d.score, reverse=True)
        return detections


def _pick_device(device: object | None):
    import torch  # lazy: torch only when the MTCNN detector is used (`larnet --help` imports this module)

    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        return device
    if isinstance(device, str):
        return resolve_device(device)
    raise ValueError(f"device must be None, a string (auto|cpu|cuda) or a torch.device, got {device!r}")
