"""Per-frame face tracking: every face in every frame, with an id that stays with the person.

``FaceTracker.update(frame)`` returns a :class:`TrackedFrame`: zero or more :class:`TrackedFace` (id, box, five
landmarks, dense mesh when the backend gives one, confidence) and whether a shot cut came just before the frame.

* **Association.** Faces are matched to the tracks seen in the last ``max_gap_s`` seconds by box overlap with
  where each track should be now (its last box moved on at its recent speed), best pair first (greedy on IoU,
  so the closest box keeps its track; unlike a maximum matching it may leave a box unpaired when that box's
  only partner was taken by a closer one: ``larnet_core.matching``). A pair needs IoU >= 0.3, or, for
  fast motion, centres closer than 0.5 face sizes and sizes within a factor 2.
  Faces sitting side by side do not overlap, so an id never passes to the neighbour. An unmatched face starts a
  new id (ids count up from 0 and are never reused); a track unseen for more than ``max_gap_s`` is dropped.
* **Shot cuts** (:class:`larnet_core.face.cuts.ShotCutDetector`) are looked for before each frame is searched.
  On a cut the backend forgets its state (MediaPipe's graph restarts, so no landmarks are carried over) and a
  face after the cut keeps an earlier id only if it is at the same place: IoU >= 0.5 with that track's last box.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.face.base import Box, FaceDetection, FaceDetector, as_rgb_uint8, box_iou
from larnet_core.face.cuts import ShotCutDetector
from larnet_core.face.haar import HaarFaceDetector
from larnet_core.face.mesh import mediapipe_available
from larnet_core.face.mtcnn import MTCNNFaceDetector
from larnet_core.face.sources import DetectorSource, FaceSource, MeshSource
from larnet_core.matching import greedy_pairs

__all__ = ["TRACKER_BACKENDS", "FaceTracker", "TrackedFace", "TrackedFrame", "main_face_id", "summarize_tracks"]

log = logging.getLogger(__name__)

TRACKER_BACKENDS: tuple[str, ...] = ("auto", "mediapipe", "mtcnn", "haar")

_MATCH_IOU = 0.3
_CUT_MATCH_IOU = 0.5  # after a cut only a face at the same place keeps its id
_NEAR_CENTRE = 0.5  # fast-motion fallback: centre distance in face sizes
_NMS_IOU = 0.5  # two detections overlapping this much in one frame are one face


@dataclass(frozen=True)
class TrackedFace:
    """One face in one frame.

    Attributes:
        face_id: the track's id, stable across frames and short gaps; ids count up from 0.
        detection: box, ``score`` (the confidence, see :attr:`confidence`), five landmarks (``None`` for Haar
            without both eyes) and dense ``mesh`` (``(478, 2)`` with MediaPipe, else ``None``), frame pixels.
        frames_tracked: frames this id has been seen in so far, this one included.
    """

    face_id: int
    detection: FaceDetection
    frames_tracked: int

    @property
    def box(self) -> Box:
        return self.detection.box

    @property
    def landmarks(self) -> np.ndarray | None:
        return self.detection.landmarks

    @property
    def mesh(self) -> np.ndarray | None:
        return self.detection.mesh

    @property
    def mesh3d(self) -> np.ndarray | None:
        """``(478, 3)`` mesh points with depth (pixels), or ``None``."""
        return self.detection.mesh3d

    @property
    def confidence(self) -> float:
        """MediaPipe and MTCNN: a face probability in [0, 1] (MediaPipe's full-range face detector at the last
        acquisition, at most ``detect_every_s`` old). Haar: the cascade's weight (unbounded, about 2.5-10)."""
        return self.detection.score


@dataclass(frozen=True)
class TrackedFrame:
    """The faces of one frame, sorted by ``face_id``; ``()`` when there is none."""

    index: int
    faces: tuple[TrackedFace, ...]
    cut: bool

    def face(self, face_id: int) -> TrackedFace | None:
        """The face with this id in this frame, or ``None``."""
        return next((face for face in self.faces if face.face_id == face_id), None)

    @property
    def face_ids(self) -> tuple[int, ...]:
        return tuple(face.face_id for face in self.faces)


@dataclass
class _Track:
    face_id: int
    box: Box
    last_seen: int
    score: float
    seen: int = 1
    before_cut: bool = False
    velocity: tuple[float, float] = (0.0, 0.0)  # box-centre pixels per frame, smoothed

    def predicted(self, index: int) -> Box:
        """Where the box should be at frame ``index`` if it keeps moving as it did (constant velocity)."""
        steps = index - self.last_seen
        dx, dy = self.velocity[0] * steps, self.velocity[1] * steps
        return (self.box[0] + dx, self.box[1] + dy, self.box[2] + dx, self.box[3] + dy)

    def moved_to(self, box: Box, index: int) -> None:
        steps = max(1, index - self.last_seen)
        step = (((box[0] + box[2]) - (self.box[0] + self.box[2])) / 2 / steps,
                ((box[1] + box[3]) - (self.box[1] + self.box[3])) / 2 / steps)
        if self.before_cut:  # the same place in a new shot: no motion to carry
            self.velocity = (0.0, 0.0)
        else:
            self.velocity = (0.5 * self.velocity[0] + 0.5 * step[0], 0.5 * self.velocity[1] + 0.5 * step[1])
        self.box, self.last_seen, self.seen, self.before_cut = box, index, self.seen + 1, False


class FaceTracker:
    """Per-frame face tracking with stable ids, boxes, dense landmarks, confidence and shot cuts.

    One instance per clip or stream. ``update`` calls are serialised by a lock.

    Args:
        backend: ``"mediapipe"`` (Face Mesh, 478 landmarks), ``"mtcnn"`` (boxes + 5 landmarks, every frame),
            ``"haar"`` (boxes + eyes when found, every frame) or ``"auto"``: mediapipe if it is installed and
            works, else mtcnn if facenet-pytorch is installed, else haar.
        fps: frame rate, to turn the ``_s`` durations into frames.
        max_faces: most faces per frame (the largest are kept).
        max_gap_s: a track unseen for longer than this is dropped; a face seen again within it keeps its id.
        detect_every_s: MediaPipe: seconds between full-range detector runs (confidence, small faces).
        min_confidence: faces below this confidence are ignored (MediaPipe, and MTCNN whose own floor is 0.9).
        detector: use this detector on every frame instead of building one for ``backend``.
        max_side: MediaPipe: long side, in pixels, frames are shrunk to for the landmark graph and detector
            (results are in full-resolution pixels).
    """

    def __init__(
        self,
        backend: str = "auto",
        *,
        fps: float = 30.0,
        max_faces: int = 4,
        max_gap_s: float = 0.5,
        detect_every_s: float = 0.5,
        min_confidence: float = 0.5,
        detector: FaceDetector | None = None,
        max_side: int | None = 960,
    ) -> None:
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be a positive number, got {fps}")
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        if max_gap_s < 0 or detect_every_s <= 0:
            raise ValueError(f"max_gap_s must be >= 0 and detect_every_s > 0, got {max_gap_s}, {detect_every_s}")
        key = (backend or "").strip().lower()
        if detector is None and key not in TRACKER_BACKENDS:
            raise ValueError(f"unknown face tracker backend {backend!r}; choose one of: {', '.join(TRACKER_BACKENDS)}")
        self.fps = float(fps)
        self.max_faces = int(max_faces)
        self.max_gap_s = float(max_gap_s)
        self.detect_every_s = float(detect_every_s)
        self.min_confidence = float(min_confidence)
        self.max_gap_frames = int(round(max_gap_s * fps))
        detect_every = max(1, int(round(detect_every_s * fps)))
        self._source = _build_source(key, detector, max_faces, min_confidence, detect_every, max_side)
        self.backend: str = self._source.name
        self._cuts = ShotCutDetector()
        self._lock = threading.Lock()
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._index = 0

    def __repr__(self) -> str:
        return f"FaceTracker(backend={self.backend!r}, fps={self.fps}, max_faces={self.max_faces})"

    def close(self) -> None:
        """Release the backend's native resources (MediaPipe graphs and their threads); also done when the tracker
        is garbage-collected, or at the end of a ``with FaceTracker(...) as tracker:`` block."""
        with self._lock:
            self._source.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def reset(self) -> None:
        """Start again as for a new clip: no tracks, ids from 0, frame index 0."""
        with self._lock:
            self._source.reset()
            self._cuts.reset()
            self._tracks, self._next_id, self._index = [], 0, 0

    def update(self, frame_rgb: np.ndarray) -> TrackedFrame:
        """Track the faces of the next frame.

        Args:
            frame_rgb: ``(H, W, 3)`` uint8 RGB (grey-scale and RGBA are converted).

        Raises:
            LarnetError: the array is not an image.
        """
        rgb = as_rgb_uint8(frame_rgb, what=f"frame {self._index}")
        with self._lock:
            index = self._index
            self._index += 1
            cut = self._cuts.update(rgb).cut
            if cut:
                self._source.reset()
                for track in self._tracks:
                    track.before_cut = True
            self._tracks = [t for t in self._tracks if index - t.last_seen <= self.max_gap_frames + 1]
            detections = _dedupe(self._source.faces(rgb))[: self.max_faces]
            faces = self._associate(index, detections)
        return TrackedFrame(index, tuple(sorted(faces, key=lambda f: f.face_id)), cut)

    def _associate(self, index: int, detections: list[FaceDetection]) -> list[TrackedFace]:
        pairs = []
        for i, det in enumerate(detections):
            for j, track in enumerate(self._tracks):
                # Across a cut only the same place counts; otherwise where the face was heading.
                if track.before_cut:
                    similarity = _similarity(det.box, track.box, _CUT_MATCH_IOU)
                else:
                    similarity = _similarity(det.box, track.predicted(index), _MATCH_IOU)
                if similarity > 0:
                    pairs.append((similarity, i, j))
        matched = {i: self._tracks[j] for i, j, _similarity_value in greedy_pairs(pairs)}
        faces = []
        for i, det in enumerate(detections):
            track = matched.get(i)
            if track is None:
                score = det.score if math.isfinite(det.score) else self.min_confidence
                track = _Track(self._next_id, det.box, index, score)
                self._next_id += 1
                self._tracks.append(track)
            else:
                track.moved_to(det.box, index)
                if math.isfinite(det.score):
                    track.score = det.score
            detection = det if det.score == track.score else FaceDetection(det.box, track.score, det.landmarks,
                                                                           det.mesh, det.depth)
            faces.append(TrackedFace(track.face_id, detection, track.seen))
        return faces


def _similarity(box: Box, last: Box, min_iou: float) -> float:
    """How well a detection continues a track: its IoU when >= ``min_iou``; for fast motion (no cut) a small
    positive value when centres are near and sizes alike; else 0 (no match)."""
    iou = box_iou(box, last)
    if iou >= min_iou:
        return iou
    if min_iou > _MATCH_IOU:
        return 0.0
    size = math.sqrt((last[2] - last[0]) * (last[3] - last[1]))
    area_ratio = ((box[2] - box[0]) * (box[3] - box[1])) / ((last[2] - last[0]) * (last[3] - last[1]))
    distance = math.dist(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2),
                         ((last[0] + last[2]) / 2, (last[1] + last[3]) / 2))
    if distance < _NEAR_CENTRE * size and 0.5 <= area_ratio <= 2.0:
        return 1e-3 * (1.0 - distance / (_NEAR_CENTRE * size))
    return 0.0


def _dedupe(detections: list[FaceDetection]) -> list[FaceDetection]:
    """Largest first, dropping any detection that overlaps an already kept one by IoU >= 0.5."""
    kept: list[FaceDetection] = []
    for det in sorted(detections, key=lambda d: d.area, reverse=True):
        if all(box_iou(det.box, k.box) < _NMS_IOU for k in kept):
            kept.append(det)
    return kept


def _build_source(key: str, detector: FaceDetector | None, max_faces: int, min_confidence: float,
                  detect_every: int, max_side: int | None) -> FaceSource:
    if detector is not None:
        return DetectorSource(detector)
    if key in ("auto", "mediapipe"):
        if key == "mediapipe" or mediapipe_available():
            try:
                return MeshSource(max_faces, min_confidence, detect_every, max_side)
            except LarnetError as exc:
                if key == "mediapipe":
                    raise
                log.warning("MediaPipe face tracking is unavailable (%s); falling back to another detector", exc)
        key = "mtcnn" if _has_facenet() else "haar"
    if key == "mtcnn":
        return DetectorSource(MTCNNFaceDetector(min_score=max(0.9, min_confidence)))

    # Eyes give the alignment two measured points; about 15 ms a face more.
    return DetectorSource(HaarFaceDetector(find_eyes=True))


def _has_facenet() -> bool:
    return importlib.util.find_spec("facenet_pytorch") is not None


def summarize_tracks(frames: Sequence[TrackedFrame]) -> pd.DataFrame:
    """One row per ``face_id`` seen in ``frames``, sorted by id.

    Columns: ``face_id, first_frame, last_frame, n_frames, mean_area`` (pixels^2), ``mean_confidence``,
    ``steadiness`` = 1 / (1 + median jump of the box centre between consecutive frames, in face sizes: 1.0 is
    perfectly still), and ``score`` = area share x presence share x steadiness, where the shares are relative to the
    largest mean area and the most frames among the tracks; :func:`main_face_id` picks the highest score.
    """
    columns = ["face_id", "first_frame", "last_frame", "n_frames", "mean_area", "mean_confidence", "steadiness",
               "score"]
    seen: dict[int, list[tuple[int, TrackedFace]]] = {}
    for frame in frames:
        for face in frame.faces:
            seen.setdefault(face.face_id, []).append((frame.index, face))
    rows = []
    for face_id, sightings in sorted(seen.items()):
        indices = np.array([i for i, _ in sightings])
        dets = [f.detection for _, f in sightings]
        centres = np.array([d.center for d in dets])
        sizes = np.sqrt([d.area for d in dets])
        consecutive = np.diff(indices) == 1
        jumps = np.linalg.norm(np.diff(centres, axis=0), axis=1) / sizes[1:]
        jump = float(np.median(jumps[consecutive])) if consecutive.any() else 0.0
        rows.append([face_id, int(indices.min()), int(indices.max()), len(sightings),
                     float(np.mean([d.area for d in dets])), float(np.mean([d.score for d in dets])),
                     1.0 / (1.0 + jump), 0.0])
    table = pd.DataFrame(rows, columns=columns)
    if len(table):
        area_share = table["mean_area"] / table["mean_area"].max()
        presence_share = table["n_frames"] / table["n_frames"].max()
        table["score"] = area_share * presence_share * table["steadiness"]
    return table.astype({"face_id": int, "first_frame": int, "last_frame": int, "n_frames": int})


def main_face_id(frames: Sequence[TrackedFrame]) -> int | None:
    """The id of the main face: the largest, steadiest, longest-present track (highest ``summarize_tracks``
    score; ties go to the lower id), or ``None`` when no frame has a face."""
    table = summarize_tracks(frames)
    if table.empty:
        return None
    best = table.sort_values(["score", "face_id"], ascending=[False, True]).iloc[0]
    return int(best["face_id"])
