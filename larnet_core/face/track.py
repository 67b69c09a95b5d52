"""Face boxes over time: one fixed box per recorded clip, and a smoothed track for live video.

Micro-expressions are movements of a few pixels, so a crop that follows the detector's frame-to-frame jitter
would add more motion than the face makes. Recorded clips therefore use one box for every frame
(:class:`ClipFaceBox`, the field's usual practice); live streams, where the head does move, use a slowly
following box (:class:`FaceTrack`).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from larnet_core.errors import NoFaceError
from larnet_core.face.align import AlignedFace, align_face
from larnet_core.face.base import Box, FaceDetection, FaceDetector, box_iou
from larnet_core.face.registry import no_face_message

__all__ = ["ClipFaceBox", "FaceTrack"]


@dataclass(frozen=True)
class ClipFaceBox:
    """One face box for a whole clip, taken from its first (onset) frames.

    Attributes:
        detection: the per-coordinate median of the largest face in each probed frame; its landmarks are the
            median landmarks when every probed detection had them, else ``None``.
        n_probed: frames looked at.
        n_found: probed frames in which a face was found.
    """

    detection: FaceDetection
    n_probed: int
    n_found: int

    @property
    def box(self) -> Box:
        return self.detection.box

    @classmethod
    def from_frames(
        cls, frames: Iterable[np.ndarray], detector: FaceDetector, n_probe: int = 5, what: str = "the clip"
    ) -> ClipFaceBox:
        """Detect the face in the first ``n_probe`` frames and keep the median box.

        Args:
            frames: RGB uint8 frames in time order (a list or any iterable; only ``n_probe`` are read).
            detector: any :class:`FaceDetector`.
            n_probe: how many leading frames to detect in; the median ignores a stray miss or false box.
            what: how to name the clip in the error message.

        Raises:
            NoFaceError: no face in any probed frame.
            ValueError: ``n_probe`` below 1.
        """
        if n_probe < 1:
            raise ValueError(f"n_probe must be at least 1, got {n_probe}")
        found: list[FaceDetection] = []
        n_probed = 0
        for frame in itertools.islice(frames, n_probe):
            n_probed += 1
            detections = detector.detect(frame)
            if detections:
                found.append(max(detections, key=lambda d: (d.area, d.score)))
        if not found:
            raise NoFaceError(no_face_message(f"the first {n_probed} frame(s) of {what}"))
        box = tuple(np.median([d.box for d in found], axis=0))
        landmarks = None
        if all(d.landmarks is not None for d in found):
            landmarks = np.median(np.stack([d.landmarks for d in found]), axis=0)
        score = float(np.median([d.score for d in found]))
        return cls(FaceDetection(box, score, landmarks), n_probed=n_probed, n_found=len(found))

    def crop(self, frame: np.ndarray, output_size: tuple[int, int] = (224, 224), margin: float = 0.2) -> AlignedFace:
        """Crop (and, with landmarks, level) one frame with the clip's box: the same warp for every frame."""
        return align_face(frame, self.detection, output_size=output_size, margin=margin)


class FaceTrack:
    """A face box that follows one live stream: detect every few frames, smooth in between.

    ``update(frame)`` runs the detector when the track is new, lost, after a miss, or every ``redetect_every``
    frames; other frames reuse the current box. Each new detection moves the box part of the way
    (``box = smoothing * box + (1 - smoothing) * detected``); a detection that hardly overlaps the box
    (a different face, or a jump) replaces it outright. After ``max_missed`` detection attempts in a row find
    nothing the track is lost and ``update`` returns ``None`` until a face is found again.

    One instance per stream; calls are serialised by a lock, so a stream's callback thread and a reader can
    share it.

    Args:
        detector: any :class:`FaceDetector` (may be shared between tracks).
        smoothing: weight of the previous box, in [0, 1); 0 follows the detector exactly.
        redetect_every: frames between detections while tracking (1 = every frame).
        max_missed: consecutive failed detections before the track is lost.
        snap_iou: a detection overlapping the current box less than this replaces it instead of blending.
    """

    def __init__(
        self,
        detector: FaceDetector,
        smoothing: float = 0.6,
        redetect_every: int = 5,
        max_missed: int = 3,
        snap_iou: float = 0.1,
    ) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if redetect_every < 1 or max_missed < 1:
            raise ValueError(f"redetect_every and max_missed must be at least 1, got {redetect_every}, {max_missed}")
        self.detector = detector
        self.smoothing = float(smoothing)
        self.redetect_every = int(redetect_every)
        self.max_missed = int(max_missed)
        self.snap_iou = float(snap_iou)
        self._lock = threading.Lock()
        self._current: FaceDetection | None = None
        self._since_detect = 0
        self._missed = 0

    @property
    def current(self) -> FaceDetection | None:
        """The smoothed face, or ``None`` before the first detection and after the track was lost."""
        return self._current

    @property
    def lost(self) -> bool:
        """True while no face is held (not found yet, or missed ``max_missed`` times in a row)."""
        return self._current is None

    @property
    def missed(self) -> int:
        """Consecutive detection attempts that found nothing."""
        return self._missed

    def reset(self) -> None:
        """Forget the face; the next ``update`` detects from scratch."""
        with self._lock:
            self._current, self._since_detect, self._missed = None, 0, 0

    def update(self, frame: np.ndarray) -> FaceDetection | None:
        """Advance the track by one frame.

        Args:
            frame: RGB uint8 frame (grey-scale and RGBA are converted).

        Returns:
            The smoothed face for this frame, or ``None`` when no face is held.
        """
        with self._lock:
            due = self._current is None or self._missed > 0 or self._since_detect + 1 >= self.redetect_every
            if not due:
                self._since_detect += 1
                return self._current
            self._since_detect = 0
            detections = self.detector.detect(frame)
            if not detections:
                self._missed += 1
                if self._missed >= self.max_missed:
                    self._current = None
                return self._current
            self._missed = 0
            self._current = self._blend(detections)
            return self._current

    def _blend(self, detections: list[FaceDetection]) -> FaceDetection:
        previous = self._current
        if previous is not None:
            best = max(detections, key=lambda d: box_iou(d.box, previous.box))
            if box_iou(best.box, previous.box) >= self.snap_iou:
                keep = self.smoothing
                box = tuple(keep * p + (1 - keep) * n for p, n in zip(previous.box, best.box))
                landmarks = best.landmarks
                if landmarks is not None and previous.landmarks is not None:
                    landmarks = keep * previous.landmarks + (1 - keep) * landmarks
                return FaceDetection(box, best.score, landmarks)
        return max(detections, key=lambda d: (d.area, d.score))
