"""The one road from a frame and a tracked face to the model's input.

Every consumer that shows the model a face — clip analysis, live, the /clip heat map, the attention page,
robustness, ``spot-eval`` and the dataset sample builder — gets it from :class:`InputBuilder` (streams) or
:func:`build_photo_input` (single images), so an explanation is computed on exactly the pixels that produced a
row's probabilities.

Alignment is a similarity transform (rotation, uniform scale, translation) that puts the face's five key points
(eye centres, nose tip, mouth corners) onto :data:`TEMPLATE`, a canonical frontal face inside the crop. Between
frames the transform is smoothed adaptively: changes of the size of landmark jitter (a fraction of a pixel on the
face) are mostly held back, because a crop that jitters reads as facial motion; real head movements are followed
within a frame or two. A face without landmarks (the Haar detector without eyes) is cropped from its box.

The same transform, scaled, cuts the small grey crop that motion is measured on (:meth:`ModelInput.motion_patch`),
so motion regions sit at fixed places of the aligned face and the head's rigid movement is largely gone before
any flow is computed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from larnet_core.errors import LarnetError
from larnet_core.face.align import AlignedFace, _pixel_centre_matrix
from larnet_core.face.base import as_rgb_uint8
from larnet_core.face.flow import compute_flow_image
from larnet_core.face.registry import available_detectors, build_detector, largest_face
# The per-frame input record columns (see :meth:`ModelInput.to_record`) are named with the result's other columns.
from larnet_core.result.schema import INPUT_COLUMNS

__all__ = [
    "TEMPLATE",
    "InputConfig",
    "ModelInput",
    "InputBuilder",
    "FaceAligner",
    "similarity_to_template",
    "box_matrix",
    "whole_frame_matrix",
    "build_photo_input",
    "warp_crop",
    "INPUT_COLUMNS",
    "alignment_record",
    "input_from_record",
    "input_from_crops",
    "photo_model_input",
    "FACE_MODES",
    "check_face_mode",
]

#: Canonical positions of left eye, right eye, nose tip, left and right mouth corner (image left first), as
#: fractions of a square crop. The eyes sit 0.40 down and 0.32 of the width apart, which leaves the brows and
#: forehead above and the chin below inside the crop (a loose face crop, like CASME II's cropped set).
TEMPLATE = np.array([
    [0.340, 0.400],
    [0.660, 0.400],
    [0.500, 0.575],
    [0.370, 0.740],
    [0.630, 0.740],
], dtype=np.float64)

#: Changes whenever :data:`TEMPLATE` or the way crops are cut changes, so cached aligned samples are remade.
ALIGNMENT_VERSION = 1

# Margin used when only a box is known: the box of Haar/MTCNN/mesh extent grown by this on each side.
_BOX_MARGIN = 0.2


@dataclass(frozen=True)
class InputConfig:
    """How model inputs are made (one object shared by clip analysis, live and the sample builder).

    Attributes:
        size: side of the square model input in pixels (the checkpoint's ``input_size``).
        sample_mode: the checkpoint's sample mode; ``flow`` makes the onset->apex flow image against the aligned
            crop ``reference_s`` earlier.
        reference_s: seconds between a frame and its flow/motion reference.
        motion_size: side of the grey aligned crop motion is measured on.
        jitter_px: transform changes (in pixels of the motion crop) up to about this size are treated as landmark
            jitter and smoothed away; larger ones are followed.
        min_follow: the smallest share of a change followed per frame (0 < x <= 1).
        flow: the flow estimator of single-image (onset/apex) inputs: the checkpoint's own (``tvl1`` or
            ``farneback``). Streams always use Farneback, the only one fast enough per frame.
    """

    size: int = 112
    sample_mode: str = "apex"
    reference_s: float = 0.3
    motion_size: int = 96
    jitter_px: float = 1.5
    min_follow: float = 0.15
    flow: str = "farneback"

    @classmethod
    def for_card(cls, card: Any, **overrides: Any) -> "InputConfig":
        """The configuration for a checkpoint's :class:`~larnet_core.models.ModelCard`."""
        overrides.setdefault("flow", str(getattr(card, "flow", "") or "farneback"))
        return cls(size=int(card.input_size), sample_mode=str(card.sample_mode), **overrides)

    def reference_frames(self, fps: float) -> int:
        return max(1, int(round(self.reference_s * fps)))


def similarity_to_template(points: np.ndarray, size: int) -> np.ndarray:
    """Least-squares similarity (Umeyama) taking five key points to :data:`TEMPLATE` in a ``size`` crop.

    Returns:
        ``(2, 3)`` matrix from source ``(x, y)`` to crop ``(x, y)`` (continuous pixel coordinates).
    """
    src = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    dst = TEMPLATE[: len(src)] * float(size)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    var = float((src_c ** 2).sum())
    if var <= 1e-9:
        raise ValueError("face key points are all in one place; they cannot be aligned")
    # Closed form for 2-D: the complex ratio of centred destination and source points.
    a = float((src_c[:, 0] * dst_c[:, 0] + src_c[:, 1] * dst_c[:, 1]).sum()) / var
    b = float((src_c[:, 0] * dst_c[:, 1] - src_c[:, 1] * dst_c[:, 0]).sum()) / var
    linear = np.array([[a, -b], [b, a]])
    return np.hstack([linear, (dst_mean - linear @ src_mean)[:, None]])


def box_matrix(box: tuple[float, float, float, float], size: int, margin: float = _BOX_MARGIN) -> np.ndarray:
    """Axis-aligned crop of a face box grown by ``margin`` (squared up, never squashed) into a ``size`` crop."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    scale = size / max(side, 1e-6)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([[scale, 0.0, size / 2 - scale * cx], [0.0, scale, size / 2 - scale * cy]])


def whole_frame_matrix(width: int, height: int, size: int) -> np.ndarray:
    """The whole frame as a model input (face mode ``none``, face-filled frames), in training and inference alike:
    scaled so its long side fills the ``size`` crop, centred, black bars on the short side; never squashed, so a
    face keeps the proportions it has in aligned crops."""
    return box_matrix((0.0, 0.0, float(width), float(height)), size, margin=0.0)


def face_matrix(face: Any, size: int) -> np.ndarray:
    """The unsmoothed alignment of one face: from its key points when it has them, else from its box."""
    landmarks = getattr(face, "landmarks", None)
    if landmarks is not None:
        try:
            return similarity_to_template(landmarks, size)
        except ValueError:
            pass
    return box_matrix(face.box, size)


def warp_crop(image: np.ndarray, matrix: np.ndarray, size: int, grey: bool = False) -> np.ndarray:
    """Cut the ``size`` x ``size`` crop that ``matrix`` (source -> crop) describes; outside the frame is black."""
    source = image
    scale = math.hypot(matrix[0, 0], matrix[1, 0])
    shrink = scale < 0.5
    if (shrink or grey) and scale > 0:
        # Only the frame up to a little beyond the crop's right and bottom edges is converted and shrunk (a face
        # is a small part of a live frame): the crop reads the same pixels, because the frame's origin stays
        # and INTER_AREA's cells start there (a shrunk pixel depends on the frame's pixels under it alone).
        margin = 4.0 / (scale * 2) + 3.0 if shrink else 3.0
        right, bottom = np.maximum(_far_corner(matrix, size), 0.0) + margin
        height, width = image.shape[:2]
        source = image[:min(height, math.ceil(bottom)), :min(width, math.ceil(right))]
    if grey and source.ndim == 3:
        source = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)
    # Shrinking by more than 2 with bilinear sampling aliases (texture reads as motion): pre-blur with INTER_AREA.
    if shrink:
        factor = scale * 2
        small = cv2.resize(source, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        matrix = matrix.copy()
        matrix[:, :2] /= factor
        source = small
    return cv2.warpAffine(source, _pixel_centre_matrix(matrix), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


_CROP_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def _far_corner(matrix: np.ndarray, size: int) -> np.ndarray:
    """``(x, y)``: the largest frame coordinates of the ``size`` crop's corners (``matrix``: frame -> crop)."""
    linear = matrix[:, :2]
    corners = (_CROP_CORNERS * size - matrix[:, 2]) @ np.linalg.inv(linear).T
    return corners.max(axis=0)


def _scaled(matrix: np.ndarray, factor: float) -> np.ndarray:
    """The same alignment for a crop ``factor`` times the size."""
    return matrix * factor


class FaceAligner:
    """Adaptive temporal smoothing of one face's alignment (a small one-euro-style filter on the matrix).

    Each frame the smoothed matrix moves towards the new one by a share that grows with the size of the change,
    measured as how far the crop's corners would move on a ``motion_size`` crop: jitter-sized changes are
    followed by ``min_follow``, changes of several ``jitter_px`` are followed fully.
    """

    def __init__(self, config: InputConfig) -> None:
        self.config = config
        self.matrix: np.ndarray | None = None  # in model-input pixels

    def reset(self) -> None:
        self.matrix = None

    def update(self, raw: np.ndarray) -> np.ndarray:
        if self.matrix is None:
            self.matrix = raw.copy()
            return self.matrix.copy()
        size = self.config.size
        corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], dtype=np.float64)
        # Where the new and old crops' corners lie in the source, expressed in motion-crop pixels.
        old = _apply(cv2.invertAffineTransform(self.matrix), corners)
        new = _apply(cv2.invertAffineTransform(raw), corners)
        old_scale = math.hypot(self.matrix[0, 0], self.matrix[1, 0]) * self.config.motion_size / size
        change = float(np.abs(new - old).max()) * old_scale
        follow = min(1.0, max(self.config.min_follow, (change / max(self.config.jitter_px, 1e-6)) ** 2 / 4))
        self.matrix = self.matrix + follow * (raw - self.matrix)
        return self.matrix.copy()


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts @ matrix[:, :2].T + matrix[:, 2]


@dataclass(frozen=True, eq=False)
class ModelInput:
    """What the model was shown for one frame and face, and how it was made.

    Attributes:
        crop: the aligned RGB crop (``size`` x ``size``), what a person should look at.
        matrix: ``(2, 3)`` source ``(x, y)`` -> crop ``(x, y)``.
        frame_index: the frame it was made from.
        face_id: the tracked face (``-1`` for a whole-frame input or a single photo).
        reference_index: the frame the flow image was computed against (``None`` for RGB inputs).
        aligned: True when the matrix came from facial key points, False for a box crop or the whole frame.
        flow_reference: for flow checkpoints, the reference frame's crop (same alignment); ``None`` for RGB inputs.
        flow_method: how the flow image is computed (``farneback`` or ``tvl1``).
    """

    crop: np.ndarray = field(repr=False)
    matrix: np.ndarray
    frame_index: int = 0
    face_id: int = -1
    reference_index: int | None = None
    aligned: bool = False
    flow_reference: np.ndarray | None = field(default=None, repr=False)
    flow_method: str = "farneback"

    @property
    def image(self) -> np.ndarray:
        """The array given to the predictor: the aligned crop, or for flow checkpoints the flow image from
        :attr:`flow_reference` to :attr:`crop`. The flow is computed on first use and kept, so the thread that
        runs the model makes it, not the one that tracks faces."""
        cached = self.__dict__.get("_image")
        if cached is None:
            if self.flow_reference is None:
                cached = self.crop
            else:
                cached = compute_flow_image(self.flow_reference, self.crop, self.size, self.flow_method)
            object.__setattr__(self, "_image", cached)
        return cached

    @property
    def size(self) -> int:
        return int(self.crop.shape[0])

    @property
    def aligned_face(self) -> AlignedFace:
        """The crop as an :class:`~larnet_core.face.AlignedFace`, to map heat maps and points to the frame."""
        inverse = cv2.invertAffineTransform(self.matrix)
        centre = _apply(inverse, [[self.size / 2, self.size / 2]])[0]
        half = self.size / 2 / max(math.hypot(self.matrix[0, 0], self.matrix[1, 0]), 1e-9)
        angle = math.degrees(math.atan2(self.matrix[1, 0], self.matrix[0, 0]))
        box = (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
        return AlignedFace(image=self.crop, matrix=self.matrix, source_box=box, angle=-angle)

    def to_record(self) -> dict[str, Any]:
        """Per-frame record of what was done (matrix entries, reference frame), for the results table."""
        return alignment_record(self.matrix, self.aligned, self.reference_index)

    @staticmethod
    def matrix_from_record(record: Any) -> np.ndarray:
        """The source -> crop matrix stored by :meth:`to_record` (a dict or a table row)."""
        get = record.get if hasattr(record, "get") else (lambda k: getattr(record, k))
        a, b, tx, ty = (float(get(k)) for k in ("input_a", "input_b", "input_tx", "input_ty"))
        return np.array([[a, -b, tx], [b, a, ty]])


def alignment_record(matrix: np.ndarray, aligned: bool, reference_index: int | None = None) -> dict[str, Any]:
    """The :data:`INPUT_COLUMNS` of one frame: the similarity matrix as ``a, b, tx, ty`` (``[[a, -b, tx],
    [b, a, ty]]``), the flow reference frame (-1 for none) and whether key points made the alignment."""
    m = matrix
    return {"input_a": float(m[0, 0]), "input_b": float(m[1, 0]), "input_tx": float(m[0, 2]),
            "input_ty": float(m[1, 2]), "input_reference": -1 if reference_index is None else int(reference_index),
            "input_aligned": bool(aligned)}



class InputBuilder:
    """Makes model inputs for a stream of frames, one face track at a time.

    Holds per-face state: the alignment smoother and, for flow checkpoints, the recent aligned crops the flow
    reference is taken from. Call :meth:`build` once per frame and face in time order; call :meth:`break_face`
    when a face's track was interrupted (gap or shot cut) so nothing is compared across the break.
    """

    def __init__(self, config: InputConfig, fps: float) -> None:
        self.config = config
        self.fps = float(fps)
        self.k = config.reference_frames(fps)
        self._aligners: dict[int, FaceAligner] = {}
        self._crops: dict[int, list[tuple[int, np.ndarray]]] = {}

    @property
    def flow(self) -> bool:
        return self.config.sample_mode == "flow"

    def break_face(self, face_id: int | None = None) -> None:
        """Forget one face's smoothing and references (``None``: every face)."""
        ids = list(self._aligners) if face_id is None else [face_id]
        for key in ids:
            self._aligners.pop(key, None)
            self._crops.pop(key, None)

    def matrix(self, face: Any, face_id: int = -1) -> tuple[np.ndarray, bool]:
        """The smoothed alignment for this frame of a face, and whether it came from key points."""
        size = self.config.size
        raw = face_matrix(face, size)
        aligner = self._aligners.setdefault(face_id, FaceAligner(self.config))
        return aligner.update(raw), getattr(face, "landmarks", None) is not None

    def build(self, frame_rgb: np.ndarray, face: Any | None, frame_index: int, face_id: int = -1,
              matrix: tuple[np.ndarray, bool] | None = None) -> ModelInput:
        """The model input of one frame for one face (``face=None``: the whole frame, squared up).

        Args:
            frame_rgb: the frame, RGB uint8.
            face: a tracked face or detection (anything with ``box`` and ``landmarks``), or ``None``.
            frame_index: position of the frame in the stream.
            face_id: the face's track id; state is kept per id.
            matrix: an alignment already computed for this frame by :meth:`matrix` (so motion and model input
                share it); computed here when omitted.

        For flow checkpoints every frame's crop is kept as a possible reference; the flow image itself is made
        only when :attr:`ModelInput.image` is read, so frames the model skips cost nothing more.
        """
        size = self.config.size
        if face is None:
            height, width = frame_rgb.shape[:2]
            m, aligned = whole_frame_matrix(width, height, size), False
        else:
            m, aligned = matrix if matrix is not None else self.matrix(face, face_id)
        crop = warp_crop(frame_rgb, m, size)
        reference_index = reference = None
        if self.flow:
            history = self._crops.setdefault(face_id, [])
            history.append((frame_index, crop))
            while len(history) > self.k + 1:
                history.pop(0)
            reference_index, reference = history[0]
        return ModelInput(crop=crop, matrix=m, frame_index=int(frame_index), face_id=int(face_id),
                          reference_index=reference_index, aligned=aligned, flow_reference=reference)

    def motion_patch(self, frame_rgb: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The grey aligned crop motion is measured on (same alignment, ``motion_size`` pixels)."""
        factor = self.config.motion_size / self.config.size
        return warp_crop(frame_rgb, _scaled(matrix, factor), self.config.motion_size, grey=True)


def build_photo_input(image: np.ndarray, config: InputConfig, face: Any | None = None,
                      reference: np.ndarray | None = None) -> ModelInput:
    """The model input for a single photo (or an onset/apex pair): the attention page, ``larnet explain``,
    robustness and the dataset sample builder.

    Args:
        image: RGB uint8 photo (grey and RGBA are converted); for flow checkpoints the apex frame.
        config: see :class:`InputConfig`.
        face: the detected face (``box`` and optional ``landmarks``); ``None`` treats the image as a face crop.
        reference: for flow checkpoints, the onset frame, aligned with the same matrix as ``image``.
    """
    rgb = as_rgb_uint8(image)
    size = config.size
    if face is None:
        height, width = rgb.shape[:2]
        matrix, aligned = whole_frame_matrix(width, height, size), False
    else:
        matrix, aligned = face_matrix(face, size), getattr(face, "landmarks", None) is not None
    crop = warp_crop(rgb, matrix, size)
    onset = reference_index = None
    if config.sample_mode == "flow":
        onset = crop if reference is None else warp_crop(as_rgb_uint8(reference), matrix, size)
        reference_index = 0
    return ModelInput(crop=crop, matrix=matrix, frame_index=0, face_id=-1, reference_index=reference_index,
                      aligned=aligned, flow_reference=onset, flow_method=config.flow)


def input_from_record(frame_rgb: np.ndarray, row: Any, config: InputConfig, reference_rgb: np.ndarray | None = None,
                      reference_row: Any = None, flow_method: str = "farneback") -> ModelInput:
    """Rebuild the exact model input an analysis row records (:data:`INPUT_COLUMNS`) from its frame, decoded the
    same way as during the analysis (the same working size): the same alignment matrix and crop, and for flow
    checkpoints the flow image against the recorded reference frame (decoded the same way, with its own row).
    ``flow_method`` is Farneback, as the analysis' per-frame inputs are; an interval's onset -> apex input, read
    as the checkpoint was trained, passes the checkpoint's own (``config.flow``).

    Raises:
        ValueError: the row has no recorded input (no face in that frame, or a frame the model did not run on),
            or a flow input is asked for without its reference frame.
    """
    _check_record(row)
    crop = warp_crop(as_rgb_uint8(frame_rgb), ModelInput.matrix_from_record(row), config.size)
    reference = None
    if config.sample_mode == "flow" and reference_rgb is not None and reference_row is not None:
        _check_record(reference_row)
        reference = warp_crop(as_rgb_uint8(reference_rgb), ModelInput.matrix_from_record(reference_row), config.size)
    return input_from_crops(crop, row, config, reference, flow_method)


def input_from_crops(crop: np.ndarray, row: Any, config: InputConfig,
                     reference_crop: np.ndarray | None = None, flow_method: str = "farneback") -> ModelInput:
    """The model input of one frame from its aligned crop (``config.size``, cut with the row's recorded matrix) and
    row, and for flow checkpoints the reference frame's crop (cut with its own matrix): what
    :func:`input_from_record` makes from whole frames, for a caller that kept only the crops (live video).

    Raises:
        ValueError: the row has no recorded input, or a flow input is asked for without its reference crop.
    """
    _check_record(row)
    reference_index = None
    if config.sample_mode == "flow":
        reference_index = int(row["input_reference"])
        if reference_crop is None:
            raise ValueError("a flow model's input needs its reference frame and that frame's row "
                             f"(input_reference = {reference_index})")
    return ModelInput(crop=crop, matrix=ModelInput.matrix_from_record(row), frame_index=int(row["frame"]),
                      face_id=int(row["face_id"]) if "face_id" in row else -1, reference_index=reference_index,
                      aligned=bool(row["input_aligned"]),
                      flow_reference=reference_crop if config.sample_mode == "flow" else None,
                      flow_method=flow_method)


def _check_record(row: Any) -> None:
    if not np.isfinite([float(row["input_a"]), float(row["input_b"])]).all():
        raise ValueError(f"frame {int(row['frame'])} has no model input (no face, or not an inferred frame)")


#: How a face is found, everywhere (clips, live, photos, training samples): a backend, ``auto`` (the best one
#: installed: MediaPipe, else MTCNN, else Haar), or ``none`` (the frame already is a face crop, taken whole).
FACE_MODES = ("auto", "mediapipe", "mtcnn", "haar", "none")


def check_face_mode(face: str) -> str:
    """``face`` when it is one of :data:`FACE_MODES`; the one check of a face mode, everywhere.

    Raises:
        LarnetError: an unknown mode, with the modes there are.
    """
    if face not in FACE_MODES:
        raise LarnetError(f"unknown face mode {face!r}; use one of {', '.join(FACE_MODES)}")
    return face


#: Smallest photo side accepted: the networks downsample by 16 or more, so less leaves nothing to look at.
MIN_PHOTO_SIDE = 16


def best_detector_name() -> str:
    """The detector ``auto`` means: MediaPipe (dense landmarks) when installed, else MTCNN, else Haar."""
    available = available_detectors()
    return next(name for name in ("mediapipe", "mtcnn", "haar") if name in available)


@functools.lru_cache(maxsize=None)
def _shared_detector(name: str):
    """One detector per backend for single photos (detectors are thread-safe; building MediaPipe's graphs or MTCNN
    costs more than a detection)."""
    return build_detector(name)


def photo_model_input(image: np.ndarray, config: InputConfig, face: str = "auto",
                      reference: np.ndarray | None = None, what: str = "the image") -> tuple[ModelInput, Any]:
    """Find the main face of a photo and make its model input on the same road as video frames.

    Args:
        image: RGB uint8 photo (grey and RGBA are converted); for flow checkpoints the apex frame.
        config: the checkpoint's input configuration (:meth:`InputConfig.for_card`).
        face: one of :data:`FACE_MODES`.
        reference: the onset frame for flow checkpoints (aligned with the apex frame's face).
        what: how to name the photo in error messages.

    Returns:
        ``(ModelInput, detection)``; the detection is ``None`` with ``face="none"``.

    Raises:
        NoFaceError: no face found; LarnetError: not an image, or an unknown face mode.
    """
    check_face_mode(face)
    rgb = as_rgb_uint8(image, what)
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_PHOTO_SIDE:
        raise LarnetError(f"{what} is only {width}x{height} pixels, too small to explain or analyse; use a face of "
                          f"at least {MIN_PHOTO_SIDE}x{MIN_PHOTO_SIDE} pixels (faces of 100 px or more work best)")
    if config.sample_mode == "flow" and reference is None:
        raise LarnetError("this model reads optical flow between two frames; give an onset (reference) image "
                          "as well as the apex image")
    detection = None
    if face != "none":
        name = best_detector_name() if face == "auto" else face
        detection = largest_face(rgb, _shared_detector(name), what)
    return build_photo_input(rgb, config, detection, reference), detection
