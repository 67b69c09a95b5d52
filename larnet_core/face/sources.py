"""Where the face tracker's per-frame faces come from: MediaPipe's streaming Face Mesh, or a plain detector.

A source turns one frame into a list of :class:`FaceDetection` and knows nothing of face ids; the tracker
(:mod:`larnet_core.face.tracking`) associates them. A detection's ``score`` may be NaN when a source has no
confidence for it: the tracker then carries the track's last one.
"""

from __future__ import annotations

import abc
import math

import numpy as np

from larnet_core.face.base import FaceDetection, FaceDetector, box_iou
from larnet_core.matching import greedy_pairs
from larnet_core.face.mesh import (
    MeshFaceDetector,
    _shrink,
    Graph,
    detection_from_mesh,
    import_mediapipe,
    mesh_box,
    mesh_points,
)

__all__ = ["DetectorSource", "FaceSource", "MeshSource"]

_SAME_FACE_IOU = 0.3  # a detector box and a mesh box this close are one face (their extents differ: brow vs forehead)


class FaceSource(abc.ABC):
    """Faces of one stream, frame after frame. Not thread-safe: the tracker serialises calls."""

    name: str = ""

    @abc.abstractmethod
    def faces(self, rgb: np.ndarray) -> list[FaceDetection]:
        """The faces in this frame (uint8 RGB, checked by the caller), in full-resolution pixels."""

    def reset(self) -> None:
        """Forget everything carried from earlier frames (called on a shot cut and by ``FaceTracker.reset``)."""

    def close(self) -> None:
        """Release native resources, if any."""


class DetectorSource(FaceSource):
    """Any :class:`FaceDetector` run on every frame: no state, so nothing can drift or survive a cut."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector
        self.name = detector.name or type(detector).__name__

    def faces(self, rgb: np.ndarray) -> list[FaceDetection]:
        return self.detector.detect(rgb)


class MeshSource(FaceSource):
    """MediaPipe Face Mesh in streaming mode, with a full-range detector to confirm and to acquire faces.

    * **Landmarks every frame.** ``FaceMesh(static_image_mode=False, refine_landmarks=True)`` runs on the frame
      (shrunk to ``max_side``). Its graph tracks each face's landmarks from the previous frame's, and runs its own
      (short-range) face detector on every frame while it holds fewer faces than it was built for. That detector
      is half the cost of a frame, so the graph is built for as many faces as are in view (at least one, at most
      ``max_faces``): with nobody in view a face that walks in is picked up on the frame it becomes detectable;
      a further face joining those in view is found by the full-range detector below (within ``detect_every``
      frames), and the graph is rebuilt for one more face. After ``detect_every`` x 4 frames with fewer faces
      it is rebuilt for fewer. A face it stops holding (gone, or its face-presence score below
      ``min_confidence``) is dropped on that frame.
    * **Confidence.** The legacy Face Mesh exposes no per-face score, so every ``detect_every`` frames, on the frame
      a face appears, and every ``detect_every // 5`` frames while a face is not confirmed yet, MediaPipe's
      full-range face detector (``model_selection=1``) runs too; its probability for the box matching a mesh
      (IoU >= 0.3) is that face's confidence, carried from frame to frame (by box overlap) until the next
      acquisition. A face never confirmed is not reported: the
      short-range detector inside Face Mesh fires now and then on textured backgrounds, and a face only partly in
      the frame is of little use.
    * **Small or far faces.** The short-range detector inside Face Mesh misses faces smaller than about a tenth
      of the frame. A face the full-range detector finds that no mesh covers gets its mesh from a crop around it
      (:meth:`MeshFaceDetector.mesh_in_box`). Any face given on the previous frame that the graph does not hold
      on this one (a small face it never held, a fast move it lost track of) is looked for the same way on a crop
      around its last box, and let go when the crop holds no face.
    * ``reset()`` restarts the graph, so nothing is carried across a shot cut.
    """

    name = "mediapipe"

    def __init__(self, max_faces: int = 4, min_confidence: float = 0.5, detect_every: int = 15,
                 max_side: int | None = 960) -> None:
        mp = import_mediapipe()
        self.max_faces = int(max_faces)
        self.min_confidence = float(min_confidence)
        self.detect_every = max(1, int(detect_every))
        self.max_side = max_side
        self._mp = mp
        self._detector = MeshFaceDetector(max_faces=max_faces, min_confidence=min_confidence, max_side=max_side)
        self._capacity = 1
        self._stream = self._graph(self._capacity)
        self._fewer_since = 0  # frames in a row with fewer faces than the graph is built for
        # The faces found last frame: box and confidence (None while the full-range detector has not confirmed it).
        self._previous: list[tuple[tuple[float, float, float, float], float | None]] = []
        self._since_acquire: int | None = None

    def reset(self) -> None:
        self._stream.reset()
        self._previous, self._since_acquire = [], None

    def close(self) -> None:
        """Release the native graphs."""
        self._stream.close()
        self._detector.close()

    def _graph(self, faces: int) -> Graph:
        return Graph(self._mp.solutions.face_mesh.FaceMesh, static_image_mode=False, max_num_faces=faces,
                     refine_landmarks=True, min_detection_confidence=self.min_confidence,
                     min_tracking_confidence=self.min_confidence)

    def _fit_capacity(self, faces: int) -> None:
        """Rebuild the streaming graph for more faces at once, or for fewer after a while (see the class doc)."""
        wanted = min(self.max_faces, max(1, faces))
        if wanted < self._capacity:
            self._fewer_since += 1
            if self._fewer_since < 4 * self.detect_every:
                return
        self._fewer_since = 0
        if wanted != self._capacity:
            self._stream.close()
            self._capacity = wanted
            self._stream = self._graph(wanted)

    def faces(self, rgb: np.ndarray) -> list[FaceDetection]:
        height, width = rgb.shape[:2]
        small, scale = _shrink(rgb, self.max_side)
        result = self._stream.process(small)
        meshes = [mesh_points(face, small.shape[1], small.shape[0], scale)
                  for face in (result.multi_face_landmarks or ())]
        # A face found last frame that the graph no longer holds (a fast move it lost, a small face it never
        # held) gets one try on a crop around its last box before it is let go.
        for box, _score in self._previous:
            if len(meshes) >= self.max_faces or any(box_iou(box, mesh_box(m)) >= _SAME_FACE_IOU for m in meshes):
                continue
            mesh = self._detector.mesh_in_box(rgb, box)
            if mesh is not None and all(box_iou(mesh_box(mesh), mesh_box(m)) < _SAME_FACE_IOU for m in meshes):
                meshes.append(mesh)
        carried = [self._carried(mesh_box(mesh)) for mesh in meshes]
        scores = [score for _known, score in carried]
        since = math.inf if self._since_acquire is None else self._since_acquire + 1
        # A new face is confirmed at once; one the detector did not confirm is tried again every few frames (a
        # false face the graph keeps holding would otherwise cost a detector run on every frame).
        due = (since >= self.detect_every or any(not known for known, _score in carried)
               or (None in scores and since >= max(1, self.detect_every // 5)))
        if due:
            self._since_acquire = 0
            for box, score in self._acquire(rgb, meshes, scores):
                mesh = self._detector.mesh_in_box(rgb, box)
                if mesh is not None and all(box_iou(mesh_box(mesh), mesh_box(m)) < _SAME_FACE_IOU for m in meshes):
                    meshes.append(mesh)
                    scores.append(score)
        else:
            self._since_acquire += 1
        self._previous = [(mesh_box(mesh), score) for mesh, score in zip(meshes, scores)]
        self._fit_capacity(len(meshes))
        # Faces the full-range detector has never confirmed stay candidates: the short-range detector inside
        # Face Mesh fires now and then on textured backgrounds, and a face only partly in the frame is of no use.
        return [detection_from_mesh(mesh, score, width, height) for mesh, score in zip(meshes, scores)
                if score is not None]

    def _carried(self, box: tuple[float, float, float, float]) -> tuple[bool, float | None]:
        """Whether a face was found last frame at this place (IoU >= 0.3), and its confidence (None: unconfirmed)."""
        best = max(self._previous, key=lambda item: box_iou(box, item[0]), default=None)
        if best is None or box_iou(box, best[0]) < _SAME_FACE_IOU:
            return False, None
        return True, best[1]

    def _acquire(self, rgb: np.ndarray, meshes: list[np.ndarray], scores: list[float | None]):
        """Run the full-range detector: fill ``scores`` of the meshes it confirms (in place) and return the
        ``(box, score)`` of the faces no mesh covers, most confident first, as many as ``max_faces`` leaves room."""
        found = self._detector.find_boxes(rgb)
        boxes = [mesh_box(mesh) for mesh in meshes]
        pairs = greedy_pairs(((box_iou(f[0], b), i, j) for i, f in enumerate(found) for j, b in enumerate(boxes)),
                             minimum=_SAME_FACE_IOU)
        for i, j, _iou in pairs:
            scores[j] = found[i][1]
        used_found = {i for i, _j, _iou in pairs}
        room = self.max_faces - len(meshes)
        return [f for i, f in enumerate(found) if i not in used_found][: max(0, room)]
