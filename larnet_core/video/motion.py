"""Facial motion signal for spotting: optical flow in brow, eye, nose and mouth regions, head motion removed.

For every frame ``t`` the tracker measures how far each facial region moved between frame ``t`` and a
reference ``k`` frames earlier (``k`` = :attr:`MotionConfig.reference_s` seconds; the first frame for the
first ``k`` frames), after subtracting the median flow of the whole face, which is what the head as a whole
did. The spotting signal of frame ``t`` is the smaller of its movement against frame ``t - k`` and against
frame ``t + k``: a brief expression differs from both neighbours, while a lasting change (a head turn, a
held pose) or the frames after an expression differ from one side only. Expressions up to ``2 k`` long
keep their full amplitude; that covers micro-expressions (at most 1/2 s) with ``k`` = 0.3 s.

Flow is Farneback's on small grey crops of the face box (``size`` pixels square), a few milliseconds a frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["REGIONS", "Regions", "MotionConfig", "MotionTracker", "region_motion", "regions_for", "face_patch"]

#: Facial regions as fractions ``(x0, y0, x1, y1)`` of a frontal face box (Haar/MTCNN proportions: brows
#: near 0.29 of the height, eyes 0.40, nose tip 0.60, mouth 0.77); used when the detector gives no landmarks.
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "brows": (0.12, 0.16, 0.88, 0.34),
    "eyes": (0.14, 0.33, 0.86, 0.48),
    "nose": (0.34, 0.48, 0.66, 0.68),
    "mouth": (0.24, 0.66, 0.76, 0.92),
}

Regions = dict[str, tuple[float, float, float, float]]


def regions_for(box: tuple[float, float, float, float], landmarks: np.ndarray | None) -> Regions:
    """Facial regions as fractions of ``box``: placed from the five landmarks (eyes, nose, mouth corners)
    when there are some, else the typical proportions of :data:`REGIONS`.

    Landmarks matter most for the line between brows and eyes: a box only a little higher than usual puts
    the upper eyelids in the brow region, and then every blink looks like a raised brow.
    """
    if landmarks is None:
        return dict(REGIONS)
    x0, y0, x1, y1 = box
    width, height = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    left_eye, right_eye, nose, mouth_left, mouth_right = np.asarray(landmarks, dtype=np.float64)
    iod = max(float(np.hypot(*(right_eye - left_eye))), 1e-6)
    eye_y = (left_eye[1] + right_eye[1]) / 2
    mouth_y = (mouth_left[1] + mouth_right[1]) / 2
    centre_x = (left_eye[0] + right_eye[0]) / 2
    outer_left, outer_right = left_eye[0] - 0.45 * iod, right_eye[0] + 0.45 * iod
    pixels = {
        "brows": (outer_left, eye_y - 0.75 * iod, outer_right, eye_y - 0.27 * iod),
        "eyes": (outer_left, eye_y - 0.24 * iod, outer_right, eye_y + 0.22 * iod),
        "nose": (centre_x - 0.3 * iod, eye_y + 0.28 * iod, centre_x + 0.3 * iod, nose[1] + 0.12 * iod),
        "mouth": (mouth_left[0] - 0.25 * iod, mouth_y - 0.3 * iod, mouth_right[0] + 0.25 * iod, mouth_y + 0.35 * iod),
    }
    out: Regions = {}
    for name, (a, b, c, d) in pixels.items():
        fx0, fx1 = sorted((np.clip((a - x0) / width, 0, 1), np.clip((c - x0) / width, 0, 1)))
        fy0, fy1 = sorted((np.clip((b - y0) / height, 0, 1), np.clip((d - y0) / height, 0, 1)))
        if fx1 - fx0 < 0.05 or fy1 - fy0 < 0.03:  # a landmark set that makes no sense here: use proportions
            return dict(REGIONS)
        out[name] = (float(fx0), float(fy0), float(fx1), float(fy1))
    return out


# Cheap Farneback: the crops are small and the motions a pixel or two.
_FARNEBACK = dict(pyr_scale=0.5, levels=2, winsize=9, iterations=2, poly_n=5, poly_sigma=1.1, flags=0)


@dataclass(frozen=True)
class MotionConfig:
    """How the motion signal is measured.

    Attributes:
        size: side of the square grey face crop flow is computed on, pixels.
        reference_s: time between a frame and its reference frames, seconds.
        weights: how much each region counts in the combined signal. Eyes count 0 by default: blinks move
            the eyelids more than most micro-expressions move anything, and they are not expressions.
    """

    size: int = 96
    reference_s: float = 0.3
    weights: dict[str, float] = field(default_factory=lambda: {"brows": 1.0, "eyes": 0.0, "nose": 1.0, "mouth": 1.0})

    def reference_frames(self, fps: float) -> int:
        return max(1, int(round(self.reference_s * fps)))


def face_patch(frame_rgb: np.ndarray, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """The face box of a frame as a ``size`` x ``size`` grey crop (pixels outside the frame repeat the edge)."""
    height, width = frame_rgb.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0 = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
    x1, y1 = max(min(x1, width), x0 + 1), max(min(y1, height), y0 + 1)
    patch = frame_rgb[y0:y1, x0:x1]
    grey = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY) if patch.ndim == 3 else patch
    interpolation = cv2.INTER_AREA if grey.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(grey, (size, size), interpolation=interpolation)


def _masks(size: int, regions: Regions) -> list[tuple[slice, slice]]:
    return [(slice(int(regions[name][1] * size), max(int(regions[name][3] * size), int(regions[name][1] * size) + 1)),
             slice(int(regions[name][0] * size), max(int(regions[name][2] * size), int(regions[name][0] * size) + 1)))
            for name in REGIONS]


def region_motion(reference: np.ndarray, current: np.ndarray, regions: Regions | None = None) -> np.ndarray:
    """Mean flow magnitude per region (in :data:`REGIONS` order) from ``reference`` to ``current``, in pixels of
    the crop, after removing the face's median flow (the head's own motion).

    Args:
        reference, current: grey crops of one size (from :func:`face_patch`).
        regions: region fractions of the crop (:func:`regions_for`); default :data:`REGIONS`.
    """
    flow = cv2.calcOpticalFlowFarneback(reference, current, None, **_FARNEBACK)
    flow -= np.median(flow.reshape(-1, 2), axis=0)
    magnitude = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
    return np.array([magnitude[rows, cols].mean() for rows, cols in _masks(current.shape[0], regions or REGIONS)],
                    dtype=np.float32)


class MotionTracker:
    """Streams grey face crops in, gives the per-region spotting signal out (see the module docstring).

    Memory is ``k + 1`` crops plus two small numbers per region and frame, whatever the clip's length.
    """

    def __init__(self, fps: float, config: MotionConfig | None = None, regions: Regions | None = None) -> None:
        self.config = config or MotionConfig()
        #: region fractions of the crop; set before pushing frames of a (new) face box.
        self.regions: Regions = dict(regions or REGIONS)
        self.k = self.config.reference_frames(fps)
        self._window: deque[np.ndarray] = deque(maxlen=self.k + 1)
        self._back: list[np.ndarray] = []       # movement against the frame k earlier (or the segment start)
        self._segments: list[int] = [0]          # frame positions where the face box moved: references reset
        self._tail: dict[int, np.ndarray] = {}   # movement against the segment's last frame, for its last k frames

    def __len__(self) -> int:
        return len(self._back)

    def push(self, patch: np.ndarray) -> None:
        """Add the next frame's grey crop (from :func:`face_patch`)."""
        reference = self._window[0] if self._window else patch
        self._back.append(region_motion(reference, patch, self.regions) if self._window
                          else np.zeros(len(REGIONS), np.float32))
        self._window.append(patch)

    def restart(self) -> None:
        """Start a new segment (the face box moved): later frames are never compared with earlier ones."""
        self._close_segment()
        self._window.clear()
        self._segments.append(len(self._back))

    def _close_segment(self) -> None:
        if not self._window:
            return
        last = self._window[-1]
        end = len(self._back)
        for offset, patch in enumerate(list(self._window)[:-1]):
            position = end - len(self._window) + offset
            self._tail[position] = region_motion(last, patch, self.regions)
        self._tail[end - 1] = np.zeros(len(REGIONS), np.float32)

    def finish(self) -> np.ndarray:
        """``(n_frames, len(REGIONS))`` spotting signal: per region, min(movement vs t-k, movement vs t+k)."""
        self._close_segment()
        self._window.clear()
        n = len(self._back)
        if n == 0:
            return np.zeros((0, len(REGIONS)), np.float32)
        back = np.stack(self._back)
        forward = np.empty_like(back)
        bounds = self._segments + [n]
        for start, stop in zip(bounds[:-1], bounds[1:]):
            for t in range(start, stop):
                ahead = t + self.k
                forward[t] = back[ahead] if ahead < stop else self._tail.get(t, back[t])
        return np.minimum(back, forward)

    def combine(self, signal: np.ndarray) -> np.ndarray:
        """Per-frame combined signal: the largest weighted region (expressions are local, averaging dilutes them)."""
        weights = np.array([self.config.weights.get(name, 0.0) for name in REGIONS], dtype=np.float32)
        if signal.size == 0:
            return np.zeros(len(signal), np.float32)
        return (signal * weights[None, :]).max(axis=1)
