"""Faces cut from real photographs, ready to animate and composite into footage.

A :class:`HeadLayer` is the head and shoulders of a sample photo (``larnet_core.face.sample_face_photos``),
resized so the face is a chosen width, with a feathered alpha mask, the photo's key points and its face box in
the layer's pixels. The expression machinery (:func:`~larnet_core.synth.render.render_frames`) deforms the
layer; :mod:`larnet_core.synth.scene` places it in a frame.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import functools

import cv2
import numpy as np

from larnet_core.errors import LarnetError
from larnet_core.face import available_detectors, build_detector, largest_face, sample_face_photos
from larnet_core.face.mesh import MeshFaceDetector, mediapipe_available
from larnet_core.synth.landmarks import FaceLandmarks, landmarks_from_box, landmarks_from_five_points

__all__ = ["HeadLayer", "LANDMARK_SOURCES", "photo_landmarks", "lips_from_mesh", "head_layer", "available_photos"]

LANDMARK_SOURCES = ("auto", "mtcnn", "haar")
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1)

# Extent of the cut-out around the face box, in face-box widths/heights: hair above, shoulders below.
_ABOVE, _BELOW, _HALF_WIDTH = 0.75, 1.7, 1.25


@dataclass(frozen=True, eq=False)
class HeadLayer:
    """The head and shoulders of one photo, as a layer to composite.

    Attributes:
        name: Photo name (a key of ``sample_face_photos()``).
        image: ``(H, W, 3)`` uint8 RGB cut-out, resized so the face box is ``face_px`` wide.
        alpha: ``(H, W)`` float32 coverage in 0..1: head, neck and shoulders, feathered at the edge.
        landmarks: Key points of the face in the layer's pixels.
        face_box: ``(x0, y0, x1, y1)`` of the detector's face box in the layer's pixels.
        source: Where the key points came from: ``"mtcnn"`` (five measured points), ``"haar"`` (measured eyes,
            nose and mouth from a template) or ``"haar-box"`` (proportions of the box), with ``"+mesh lips"`` when
            the lip centres were measured by the face mesh (:func:`lips_from_mesh`) rather than guessed.
    """

    name: str
    image: np.ndarray
    alpha: np.ndarray
    landmarks: FaceLandmarks
    face_box: Box
    source: str

    @property
    def face_centre(self) -> tuple[float, float]:
        """Centre of the face box: the point the scene places and rotates about."""
        x0, y0, x1, y1 = self.face_box
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)

    @property
    def face_size(self) -> tuple[float, float]:
        """``(width, height)`` of the face box in pixels."""
        x0, y0, x1, y1 = self.face_box
        return (x1 - x0, y1 - y0)

    def mirrored(self) -> "HeadLayer":
        """The layer flipped left-right (image-left key points stay on the image's left)."""
        w = self.image.shape[1]
        flip = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0]])
        m = self.landmarks.transformed(flip)
        marks = FaceLandmarks(
            left_eye=m.right_eye, right_eye=m.left_eye, left_brow_inner=m.right_brow_inner,
            left_brow_outer=m.right_brow_outer, right_brow_inner=m.left_brow_inner,
            right_brow_outer=m.left_brow_outer, nose_tip=m.nose_tip, mouth_left=m.mouth_right,
            mouth_right=m.mouth_left, upper_lip=m.upper_lip, lower_lip=m.lower_lip,
        )
        x0, y0, x1, y1 = self.face_box
        return HeadLayer(f"{self.name}-mirrored", np.ascontiguousarray(self.image[:, ::-1]),
                         np.ascontiguousarray(self.alpha[:, ::-1]), marks, (w - 1.0 - x1, y0, w - 1.0 - x0, y1),
                         self.source)


def available_photos() -> tuple[str, ...]:
    """Names of the sample photos installed here (``grace_hopper`` always; ``astronaut`` with scikit-image)."""
    return tuple(sample_face_photos())


def photo_landmarks(photo: np.ndarray, source: str = "auto") -> tuple[FaceLandmarks, Box, str]:
    """Key points and face box of the largest face in a photo.

    Args:
        photo: RGB uint8 image.
        source: ``"mtcnn"`` (five measured points), ``"haar"`` (the Haar box with its measured eyes, or box
            proportions when the eyes are not found), or ``"auto"``: MTCNN when facenet-pytorch is installed,
            else Haar.

    Returns:
        ``(landmarks, (x0, y0, x1, y1), source used)``.

    Raises:
        NoFaceError: no face in the photo.
    """
    if source not in LANDMARK_SOURCES:
        raise ValueError(f"unknown landmark source {source!r}; use one of {', '.join(LANDMARK_SOURCES)}")
    if source == "mtcnn" or (source == "auto" and "mtcnn" in available_detectors()):
        face = largest_face(photo, build_detector("mtcnn"), what="the photo")
        if face.landmarks is not None:
            return landmarks_from_five_points(*face.landmarks), face.box, "mtcnn"
    face = largest_face(photo, build_detector("haar", find_eyes=True), what="the photo")
    if face.landmarks is not None:
        return landmarks_from_five_points(*face.landmarks), face.box, "haar"
    x0, y0, x1, y1 = face.box
    return landmarks_from_box((x0, y0, x1 - x0, y1 - y0)), face.box, "haar-box"


#: Face-mesh points of the upper lip's outer border (the top of the Cupid's bow) and the lower lip's outer border,
#: at the midline (MediaPipe's canonical face mesh).
_MESH_UPPER_LIP, _MESH_LOWER_LIP = 0, 17


def lips_from_mesh(photo: np.ndarray, marks: FaceLandmarks) -> FaceLandmarks | None:
    """``marks`` with the lip centres measured by the face mesh instead of guessed from the mouth corners, or
    ``None`` without mediapipe or a mesh.

    Why: five-point detectors give the mouth corners only; the lip centres guessed from them land up to a lip's
    height off on another face (0.23 eye distances above the astronaut's lower lip), and every unit that hangs on
    the lips (AU17's chin below the lower lip, AU24, AU25) then moves other skin than on the tuning photo."""
    if not mediapipe_available():
        return None
    detector = MeshFaceDetector(max_faces=4)
    try:
        faces = detector.detect(photo)
    finally:
        detector.close()
    centre = (np.asarray(marks.mouth_left) + np.asarray(marks.mouth_right)) / 2.0
    meshes = [face.mesh for face in faces if face.mesh is not None]
    if not meshes:
        return None
    # The mesh of the face whose mouth is the one the key points describe.
    mesh = min(meshes, key=lambda m: float(np.hypot(*(m[[_MESH_UPPER_LIP, _MESH_LOWER_LIP], :2].mean(axis=0) - centre))))
    upper, lower = mesh[_MESH_UPPER_LIP, :2], mesh[_MESH_LOWER_LIP, :2]
    if np.hypot(*(upper - centre)) > 0.5 * marks.eye_distance:
        return None  # another face's mesh
    return dataclasses.replace(marks, upper_lip=(float(upper[0]), float(upper[1])),
                               lower_lip=(float(lower[0]), float(lower[1])))


@functools.lru_cache(maxsize=8)
def _photo_landmarks_cached(name: str, source: str, mesh_lips: bool = False) -> tuple[FaceLandmarks, Box, str]:
    # Detection (MTCNN: seconds on a CPU) runs once per photo and process.
    photo = sample_face_photos()[name]
    marks, box, used = photo_landmarks(photo, source)
    if mesh_lips:
        measured = lips_from_mesh(photo, marks)
        if measured is not None:
            return measured, box, f"{used}+mesh lips"
    return marks, box, used


def _head_mask(shape: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """Coverage of head (with hair), neck and shoulders, from the face box, feathered by a blur."""
    h, w = shape
    x0, y0, x1, y1 = box
    fw, fh = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    mask = np.zeros((h, w), dtype=np.uint8)

    def ellipse(centre_y: float, half_w: float, half_h: float) -> None:
        cv2.ellipse(mask, (int(round(cx)), int(round(centre_y))), (int(round(half_w)), int(round(half_h))),
                    0, 0, 360, 255, -1, cv2.LINE_AA)

    ellipse(cy - 0.12 * fh, 0.66 * fw, 0.80 * fh)  # head and hair
    cv2.rectangle(mask, (int(cx - 0.36 * fw), int(cy + 0.3 * fh)), (int(cx + 0.36 * fw), h), 255, -1)  # neck
    ellipse(cy + 1.9 * fh, 1.2 * fw, 1.05 * fh)  # shoulders, cut by the layer's bottom edge
    sigma = max(1.0, 0.03 * fw)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)


@functools.lru_cache(maxsize=16)
def head_layer(name: str, face_px: int = 160, source: str = "auto", mesh_lips: bool = False) -> HeadLayer:
    """Cut the head and shoulders out of a sample photo, with the face box ``face_px`` pixels wide.

    Args:
        name: A key of ``larnet_core.face.sample_face_photos()`` (see :func:`available_photos`).
        face_px: Width of the face box in the layer (and so in footage at scale 1).
        source: Where the key points come from (see :func:`photo_landmarks`); cached per photo.
        mesh_lips: Take the lip centres from the face mesh when mediapipe is installed (:func:`lips_from_mesh`)
            instead of guessing them from the mouth corners. Off by default: the generated footage and the
            action-unit calibration use the guessed ones (measured lips were tried for the calibration and not
            adopted, docs/action-units.md); ``scripts/au_figures.py --mesh-lips`` measures with them.

    Raises:
        LarnetError: unknown or missing photo, or a face size under 24 pixels.
    """
    photos = sample_face_photos()
    if name not in photos:
        raise LarnetError(f"no sample photo {name!r} here; available: {', '.join(photos) or 'none'} "
                          "(astronaut needs scikit-image: pip install -r requirements-test.txt)")
    if face_px < 24:
        raise LarnetError(f"face size {face_px} px is too small for a face detector to find; use 24 or more")
    marks, box, used = _photo_landmarks_cached(name, source, mesh_lips)
    x0, y0, x1, y1 = box
    k = float(face_px) / (x1 - x0)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    fw, fh = (x1 - x0), (y1 - y0)
    left, top = cx - _HALF_WIDTH * fw, y0 - _ABOVE * fh
    out_w = int(round(2 * _HALF_WIDTH * fw * k))
    out_h = int(round((_ABOVE + 1.0 + _BELOW) * fh * k))
    # One affine from photo to layer: crop and scale; border pixels are replicated where the cut-out
    # reaches past the photo (the mask leaves most of them out).
    matrix = np.array([[k, 0.0, -left * k], [0.0, k, -top * k]])
    image = cv2.warpAffine(sample_face_photos()[name], matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    layer_box = ((x0 - left) * k, (y0 - top) * k, (x1 - left) * k, (y1 - top) * k)
    alpha = _head_mask((out_h, out_w), layer_box)
    image.setflags(write=False)
    alpha.setflags(write=False)
    return HeadLayer(name, image, alpha, marks.transformed(matrix), layer_box, used)
