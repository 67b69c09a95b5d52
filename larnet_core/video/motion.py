"""Facial motion for spotting, measured on the aligned face with the head's own movement removed.

For every frame ``t`` of a face segment (consecutive frames of one tracked face, no shot cut in between) the
engine measures how far each facial region moved between frame ``t - k`` and frame ``t`` (``k`` =
:attr:`MotionConfig.reference_s` seconds; the segment's first frame while fewer than ``k`` frames exist), on
small grey crops cut with the face's alignment (:class:`~larnet_core.face.inputs.InputBuilder`), so the regions
stay on the same facial parts however the head moves. Two things remove the head's movement:

* before measuring, the rigid flow of the nose region (the field's training-free baseline uses the nose tip
  the same way: it moves with the head, hardly with expressions of the brows, eyes and mouth) is subtracted;
* the head's pose is followed from the key points (eye line, nose position against the eyes): frames whose pose
  strays by more than :attr:`MotionConfig.head_max_px` within the frames their signal is measured on are marked
  ``head_moving`` and never spotted, because a turn or a nod deforms the 2-D face in ways no flow subtraction
  undoes.

The spotting signal of frame ``s`` is the smaller of its movement against frame ``s - k`` and against frame
``s + k``, less the movement between those two (see :class:`MotionEngine`): a brief expression differs from both
neighbours, which resemble each other; a lasting change differs from one side only. It is therefore known ``k``
frames late, which is what makes the same engine work for a live stream (:meth:`MotionEngine.push`
returns the frames whose signal became final) and for a recorded clip.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from larnet_core.face.head_compensation import RigidModel, compensate
from larnet_core.face.mesh import region_boxes
from larnet_core.video.blinks import BLINK_DRAG
# The facial regions measured, in the order of the ``motion_<region>`` columns, are named with the result's columns.
from larnet_core.result.schema import REGIONS

__all__ = ["REGIONS", "MotionConfig", "MotionSample", "MotionEngine", "aligned_regions", "face_flow", "flow_regions",
           "region_motion", "head_pose", "dragging_eyes", "combine_regions"]

#: Regions as fractions ``(x0, y0, x1, y1)`` of the aligned crop (faces are aligned to
#: :data:`larnet_core.face.inputs.TEMPLATE`, eyes at 0.40 down and 0.32 apart); dense landmarks, when the tracker
#: gives them, place the regions on the person's own face instead (:func:`aligned_regions`).
TEMPLATE_REGIONS: dict[str, tuple[float, float, float, float]] = {
    "brows": (0.20, 0.22, 0.80, 0.345),
    "eyes": (0.22, 0.345, 0.78, 0.46),
    "nose": (0.40, 0.50, 0.60, 0.61),
    "mouth": (0.30, 0.66, 0.70, 0.83),
    "cheeks": (0.18, 0.53, 0.82, 0.68),
    "chin": (0.36, 0.84, 0.64, 0.95),
}

Regions = dict[str, tuple[float, float, float, float]]

# Cheap Farneback: the crops are small and the motions a pixel or two.
_FARNEBACK = dict(pyr_scale=0.5, levels=2, winsize=9, iterations=2, poly_n=5, poly_sigma=1.1, flags=0)


@dataclass(frozen=True)
class MotionConfig:
    """How the motion signal is measured (one object for clip analysis, live and ``spot-eval``).

    Attributes:
        size: side of the square grey aligned crop flow is computed on, pixels.
        reference_s: time between a frame and its reference frames, seconds.
        weights: how much each region counts in the combined signal. Eyes count 0 by default: blinks move the
            eyelids more than most micro-expressions move anything, and they are not expressions. The nose counts
            with what is left after its own rigid flow is removed (wrinkling, AU9); the cheeks carry the smile
            (AU6, and AU12 pulling the mouth corners over them). The chin is measured and shown but does not count.
        macro_reference_s, macro_size: the macro-expression scale (0.5 to 4 s movements): a second signal with
            references this far away, on a crop this size. Micro-expressions are spotted on the first signal,
            macro-expressions on this one.
        head_max_px: a frame whose head pose strays further than this (pixels of the crop at the key points)
            within the frames its signal is measured on (``reference_s`` either side) is ``head_moving``. With a
            face mesh the head's movement is removed from the flow (:mod:`~larnet_core.face.head_compensation`)
            and such frames are spotted like any other; without one they are set aside.
        max_residual_px: with a face mesh, a frame whose stable points stray further than this (crop pixels) from
            the head's fitted rigid movement cannot be trusted (a turn too fast for the flow) and is excluded from
            spotting (``excluded`` = ``"fast head motion"``) where the head also turns
            (:data:`~larnet_core.video.face_state.FAST_TURN_DEG`).
        flow: the dense flow motion is measured with (``farneback``; ``dis`` is faster but misses the sub-pixel
            movements of micro-expressions).
        max_fps: measure motion on at most this many frames a second (see :meth:`frame_step`).
    """

    size: int = 96
    reference_s: float = 0.3
    weights: dict[str, float] = field(default_factory=lambda: {"brows": 1.0, "eyes": 0.0, "nose": 1.0,
                                                               "mouth": 1.0, "cheeks": 1.0, "chin": 0.0})
    head_max_px: float = 1.2
    max_residual_px: float = 0.5
    macro_reference_s: float = 1.0
    macro_size: int = 64
    flow: str = "farneback"
    max_fps: float | None = 100.0

    def reference_frames(self, fps: float) -> int:
        return max(1, int(round(self.reference_s * fps)))

    def frame_step(self, fps: float) -> int:
        """Motion is measured on every ``frame_step``-th frame: at most about ``max_fps`` frames a second (None:
        every frame). A 200 fps clip is measured at 100 fps; the shortest micro-expressions (1/25 s) still span
        four measured frames, and the frames between get interpolated values (:func:`samples_table`)."""
        if not self.max_fps or fps <= self.max_fps:
            return 1
        return max(1, int(round(fps / self.max_fps)))

    def macro(self) -> "MotionConfig":
        """The settings of the macro-expression scale: the same measurement with references
        ``macro_reference_s`` away, on a smaller crop (macro-expressions are larger movements)."""
        return dataclasses.replace(self, reference_s=self.macro_reference_s, size=self.macro_size)

    def weight_vector(self) -> np.ndarray:
        return np.array([self.weights.get(name, 0.0) for name in REGIONS], dtype=np.float32)


def aligned_regions(mesh_in_crop: np.ndarray | None, size: int) -> Regions:
    """Region fractions of an aligned crop: from dense landmarks mapped into the crop when given (index groups of
    :data:`larnet_core.face.mesh.MESH_REGIONS`), else :data:`TEMPLATE_REGIONS`."""
    if mesh_in_crop is None or len(mesh_in_crop) < 468:
        return dict(TEMPLATE_REGIONS)
    boxes = region_boxes(np.asarray(mesh_in_crop, dtype=np.float64))
    if "brows" in boxes and "eyes" in boxes:
        # The mesh's brow points include the brow's lower edge, right above the upper eyelid: a blink would read
        # as a brow movement. Lift the region by a third of its height and keep it off the eyelid fold.
        x0, y0, x1, y1 = boxes["brows"]
        lift = (y1 - y0) / 3
        top_of_eyes = boxes["eyes"][1]
        boxes["brows"] = (x0, y0 - lift, x1, min(y1 - lift, top_of_eyes - 0.45 * max(top_of_eyes - y0, 0.0)))
    if "nose" in boxes and "eyes" in boxes:
        # The nose points run up the bridge between the eyes, where the lids pull during a blink: keep the lower
        # nose (wings and tip), which is where the head's rigid movement and nose wrinkling show.
        x0, y0, x1, y1 = boxes["nose"]
        bottom_of_eyes = boxes["eyes"][3]
        boxes["nose"] = (x0, max(y0, bottom_of_eyes + 0.35 * max(y1 - bottom_of_eyes, 0.0)), x1, y1)
    if "cheeks" in boxes and "eyes" in boxes:
        # The same for the cheeks' upper edge, which touches the lower lids.
        x0, y0, x1, y1 = boxes["cheeks"]
        bottom_of_eyes = boxes["eyes"][3]
        boxes["cheeks"] = (x0, max(y0, bottom_of_eyes + 0.3 * max(y1 - bottom_of_eyes, 0.0)), x1, y1)
    out: Regions = {}
    for name in REGIONS:
        if name not in boxes:
            out[name] = TEMPLATE_REGIONS[name]
            continue
        x0, y0, x1, y1 = (float(np.clip(v / size, 0.0, 1.0)) for v in boxes[name])
        if x1 - x0 < 0.04 or y1 - y0 < 0.03:  # a degenerate group (face at the frame edge): keep the template
            out[name] = TEMPLATE_REGIONS[name]
        else:
            out[name] = (x0, y0, x1, y1)
    return out


def _masks(size: int, regions: Regions) -> list[tuple[slice, slice]]:
    out = []
    for name in REGIONS:
        x0, y0, x1, y1 = regions[name]
        r0, c0 = int(y0 * size), int(x0 * size)
        out.append((slice(r0, max(int(y1 * size), r0 + 1)), slice(c0, max(int(x1 * size), c0 + 1))))
    return out


def face_flow(reference: np.ndarray, current: np.ndarray, method: str = "farneback") -> np.ndarray:
    """Dense flow ``(H, W, 2)`` from ``reference`` to ``current`` (grey crops of one size), in crop pixels."""
    if method == "dis":
        return _dis().calc(reference, current, None)
    return cv2.calcOpticalFlowFarneback(reference, current, None, **_FARNEBACK)


def flow_regions(flow: np.ndarray, regions: Regions | None = None) -> np.ndarray:
    """Mean flow magnitude per region (in :data:`REGIONS` order) of a dense flow, after removing the nose
    region's median flow (what the head did)."""
    return _region_flow(flow, regions)[0]


def _region_flow(flow: np.ndarray, regions: Regions | None = None) -> tuple[np.ndarray, float]:
    """:func:`flow_regions`, and the eye region's mean vertical flow (crop pixels, positive downwards: the lids
    closing; negative as they open wide) after the same removal of the nose region's median flow."""
    masks = _masks(flow.shape[0], regions or TEMPLATE_REGIONS)
    nose_rows, nose_cols = masks[REGIONS.index("nose")]
    flow = flow - np.median(flow[nose_rows, nose_cols].reshape(-1, 2), axis=0)
    magnitude = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
    eye_rows, eye_cols = masks[REGIONS.index("eyes")]
    return (np.array([magnitude[rows, cols].mean() for rows, cols in masks], dtype=np.float32),
            float(flow[eye_rows, eye_cols, 1].mean()))


def region_motion(reference: np.ndarray, current: np.ndarray, regions: Regions | None = None,
                  method: str = "farneback") -> np.ndarray:
    """Mean flow magnitude per region (in :data:`REGIONS` order) from ``reference`` to ``current``, in pixels of
    the crop, after removing the nose region's median flow (what the head did)."""
    return flow_regions(face_flow(reference, current, method), regions)


_DIS = threading.local()


def _dis() -> Any:
    """One DIS flow object per thread (it keeps buffers between calls)."""
    dis = getattr(_DIS, "flow", None)
    if dis is None:
        dis = _DIS.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis


#: Face-mesh points that move with the head and hardly with any expression: the nose (bridge, back and tip) and
#: the sides of the face between the cheekbones and the jaw angle. The forehead is left out: raised or lowered
#: brows move its skin. Chosen on a development set of photo long videos (seed 100), by how far each point moved
#: in head turns and nods against how far it moved in expressions.
RIGID_MESH_POINTS = (1, 4, 5, 6, 195, 197, 58, 288, 93, 323, 132, 361, 454)


def head_pose(landmarks: np.ndarray | None, matrix: np.ndarray, mesh: np.ndarray | None = None) -> np.ndarray | None:
    """A small pose vector of one frame, mapped through the frame's (smoothed) alignment ``matrix`` for the
    motion crop (source -> motion-crop pixels): with a face mesh, its :data:`RIGID_MESH_POINTS`; else the eye
    centres and the nose tip. Their change between two frames is what the head did that the alignment did not
    follow (turns and nods move these points against each other); ``None`` without key points."""
    if mesh is not None and len(mesh) > max(RIGID_MESH_POINTS):
        points = np.asarray(mesh, dtype=np.float64)[list(RIGID_MESH_POINTS)]
    elif landmarks is not None:
        points = np.asarray(landmarks, dtype=np.float64)[:3]
    else:
        return None
    return (points @ matrix[:, :2].T + matrix[:, 2]).ravel()


@dataclass(frozen=True)
class MotionSample:
    """The final motion of one frame (emitted ``k`` frames after it was pushed).

    Attributes:
        index: frame position.
        regions: per-region two-sided movement, :data:`REGIONS` order (NaN when the frame had no face).
        combined: the largest weighted region (expressions are local; averaging dilutes them); NaN without a face.
        head: the largest head-pose change from this frame within ``reference_s`` either side, crop pixels
            (NaN without key points).
        head_moving: the head moved more than :attr:`MotionConfig.head_max_px`: not spottable.
        segment: the face segment the frame belongs to (-1 without a face).
        scale: ``micro`` or ``macro``: which of the two signals (:meth:`MotionConfig.macro`) this sample is of.
        residual: how far the stable points strayed from the head's fitted rigid movement in the flows this
            frame's signal is made of, crop pixels (:mod:`~larnet_core.face.head_compensation`; NaN without a
            mesh): large when the compensation cannot be trusted.
        drag_eyes: the eye region's movement that can be a blink dragging the brows (all but the lids opening:
            :func:`dragging_eyes`), the largest of the segment's last ``k // 2 + 1`` samples, crop pixels; the
            brows count beyond 0.6 times it (:func:`combine_regions`). NaN: not known (the brows are then
            measured against the eye region's value).
        back, forward: the one-sided movements the two-sided one is made of, combined over the regions as
            :attr:`combined` is: from ``k`` frames before to this frame, and from this frame to ``k`` frames after
            (no span subtracted). An expression held longer than ``k`` shows in one of them only from its onset
            and in the other up to its offset: the spotter sizes a macro interval with them
            (:class:`~larnet_core.video.spotting.MacroSides`). NaN: not measured.
    """

    index: int
    regions: np.ndarray
    combined: float
    head: float
    head_moving: bool
    segment: int
    scale: str = "micro"
    residual: float = float("nan")
    drag_eyes: float = float("nan")
    back: float = float("nan")
    forward: float = float("nan")


class MotionEngine:
    """Streams aligned grey crops in, gives each frame's final motion out, ``k`` frames late.

    One engine per followed face. Call :meth:`push` for every frame (``patch=None`` when the face is absent),
    :meth:`break_segment` at a shot cut, and :meth:`finish` at the end of a clip. Memory is ``2k + 1`` crops.

    The signal of frame ``s`` is ``max(0, min(back, forward) - span)`` per region, where ``back`` is the movement
    from ``s - k`` to ``s``, ``forward`` from ``s`` to ``s + k`` and ``span`` from ``s - k`` to ``s + k``. A brief
    expression peaking at ``s`` has both sides large and ``span`` small (the face is back where it was); a lasting
    change has one side small; and two different movements ``2k`` apart — a blink after a brow raise — make both
    sides large but ``span`` large too, so they do not add up to a phantom event between them.
    """

    def __init__(self, fps: float, config: MotionConfig | None = None, scale: str = "micro", step: int = 1) -> None:
        self.config = config or MotionConfig()
        self.scale = scale
        # Frames are pushed every ``step`` frames of the stream (``fps`` is the pushed rate): k counts pushes.
        self.step = max(1, int(step))
        self.k = self.config.reference_frames(fps)
        self._weights = self.config.weight_vector()
        self._window: deque[tuple[int, np.ndarray, np.ndarray | None]] = deque(maxlen=2 * self.k + 1)
        self._poses = _PoseWindow(2 * self.k + 1, self.step)
        # Frames waiting for their forward side: index, backward movement, its flow field, reference frame, the
        # fit's residual and the eye region's vertical flow (positive: the lids moved down, closing).
        self._pending: deque[tuple[int, np.ndarray, np.ndarray | None, int, float, float]] = deque()
        self._segment = -1
        self._in_segment = False
        self.regions: Regions = dict(TEMPLATE_REGIONS)
        self.rigid: RigidModel | None = None
        # The dragging eye movement of the last emitted frames: a blink's drag on the brows outlasts the lids'.
        self._recent_drag: deque[float] = deque(maxlen=max(2, self.k // 2 + 1))

    @property
    def in_segment(self) -> bool:
        """True while a face segment is open (the next frame continues it)."""
        return self._in_segment

    def break_segment(self) -> list[MotionSample]:
        """End the current face segment (shot cut, face lost): nothing is compared across it."""
        out = self._close()
        self._in_segment = False
        return out

    def push(self, index: int, patch: np.ndarray | None, pose: np.ndarray | None = None,
             regions: Regions | None = None, rigid: RigidModel | None = None) -> list[MotionSample]:
        """Add one frame.

        Args:
            index: frame position (increasing).
            patch: the aligned grey crop (:meth:`InputBuilder.motion_patch`), or ``None`` without a face.
            pose: :func:`head_pose` of the frame in crop pixels, or ``None``.
            regions: region fractions for a new segment (used when this frame starts one).
            rigid: the stable points and depth of a new segment's crop
                (:func:`~larnet_core.face.head_compensation.rigid_model`): the head's rigid movement is removed
                from every flow of the segment. ``None``: only the nose region's median flow is.

        Returns:
            The frames whose motion became final, in order.
        """
        if patch is None:
            out = self.break_segment()
            nan = np.full(len(REGIONS), np.nan, np.float32)
            out.append(MotionSample(index, nan, float("nan"), float("nan"), False, -1, self.scale))
            return out
        out: list[MotionSample] = []
        if not self._in_segment:
            self._segment += 1
            self._in_segment = True
            self._window.clear()
            self._poses.clear()
            if regions is not None:
                self.regions = dict(regions)
            self.rigid = rigid
        self._window.append((index, patch, pose))
        self._poses.add(index, pose)
        reference = self._at(len(self._window) - 1 - self.k)
        residual = float("nan")
        if len(self._window) > 1:
            flow, residual = self._flow(reference[1], patch)
            back, down = _region_flow(flow, self.regions)
        else:
            flow, back, down = None, np.zeros(len(REGIONS), np.float32), 0.0
        self._pending.append((index, back, flow, reference[0], residual, down))
        # Frame index - k now has its forward side: this frame's backward movement (the same pair of frames).
        if len(self._pending) > self.k:
            old_index, old_back, old_flow, old_reference, old_residual, old_down = self._pending.popleft()
            start = self._at(len(self._window) - 1 - 2 * self.k)
            if start[0] == old_index:
                span = np.zeros_like(back)
            elif reference[0] == old_index and old_reference == start[0] and old_flow is not None:
                # Flows add up: (s - k -> s) + (s -> s + k) is the movement from s - k to s + k (the crops are
                # aligned and the movements small, so the second field needs no warping onto the first).
                span = flow_regions(old_flow + flow, self.regions)
            else:
                span = flow_regions(self._flow(start[1], patch)[0], self.regions)
            out.append(self._sample(old_index, old_back, back, span, self._head_range(old_index),
                                    np.nanmax([old_residual, residual, -1.0]), old_down))
        return out

    def _flow(self, reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, float]:
        """The flow between two crops of the segment with the head's rigid movement removed, and the fit's
        residual (NaN without a rigid model)."""
        compensated = compensate(face_flow(reference, current, self.config.flow), self.rigid)
        return compensated.flow, compensated.residual

    def finish(self) -> list[MotionSample]:
        """Close the last segment; returns the frames still waiting."""
        return self.break_segment()

    def _at(self, position: int) -> tuple[int, np.ndarray, np.ndarray | None]:
        """The window entry at ``position``, or the segment's oldest kept frame before it."""
        return self._window[max(position, 0)]

    def _close(self) -> list[MotionSample]:
        """The last ``k`` frames of a segment take their forward side against the segment's last frame."""
        out: list[MotionSample] = []
        if not self._pending:
            self._window.clear()
            return out
        entries = list(self._window)
        positions = {entry[0]: position for position, entry in enumerate(entries)}
        last_index, last_patch, last_pose = entries[-1]
        zero = np.zeros(len(REGIONS), np.float32)
        for index, back, flow, reference, residual, down in self._pending:
            forward_residual = float("nan")
            if index == last_index or index not in positions:
                forward, span = zero, zero
            else:
                _, patch, pose = entries[positions[index]]
                forward_flow, forward_residual = self._flow(patch, last_patch)
                forward = flow_regions(forward_flow, self.regions)
                if flow is not None and reference == entries[max(positions[index] - self.k, 0)][0]:
                    span = flow_regions(flow + forward_flow, self.regions)
                else:
                    start = entries[max(positions[index] - self.k, 0)]
                    span = flow_regions(self._flow(start[1], last_patch)[0], self.regions)
            out.append(self._sample(index, back, forward, span, self._head_range(index),
                                    np.nanmax([residual, forward_residual, -1.0]), down))
        self._pending.clear()
        self._window.clear()
        return out

    def _head_range(self, index: int) -> float:
        """How far the head's pose strayed from frame ``index``'s within the frames its signal depends on (the
        window from ``index - k`` to ``index + k``, as much of it as the segment has)."""
        return self._poses.spread(index, self.k * self.step)

    def _sample(self, index: int, back: np.ndarray, forward: np.ndarray, span: np.ndarray,
                head: float, residual: float = float("nan"), down: float = 0.0) -> MotionSample:
        """The final sample of frame ``index`` (``down``: the eye region's vertical flow on its backward side)."""
        regions = np.maximum(np.minimum(back, forward) - span, 0.0).astype(np.float32)
        eyes = REGIONS.index("eyes")
        self._recent_drag.append(dragging_eyes(float(regions[eyes]), down, float(back[eyes])))
        drag_eyes = max(self._recent_drag)
        combined = combine_regions(regions, self._weights, drag_eyes)
        moving = bool(np.isfinite(head) and head > self.config.head_max_px)
        residual = float(residual) if residual is not None and residual >= 0 else float("nan")
        return MotionSample(index, regions, combined, head, moving, self._segment, self.scale, residual,
                            drag_eyes, combine_regions(back, self._weights), combine_regions(forward, self._weights))


def dragging_eyes(eyes: float, down: float, back: float) -> float:
    """How much of a frame's eye-region value (``eyes``) can be a blink dragging the brows: all of it but the share
    of the lids opening. The share opening is how much of the region's backward flow (from ``k`` frames before to
    the frame; ``back`` its mean magnitude, ``down`` its mean vertical flow, positive downwards in the aligned crop)
    goes up. A blink's upper lid comes down (on the generated blinks of the story footage 0.89-0.99 of the flow
    goes down): all of it drags. Lids opening wide (AU5, with the brows raised) go up (0.99 of the flow at the
    astronaut's wide eyes): nothing drags, and the raised brows count in full. Where the flow has no clear direction
    (a nod's residue, noise) the whole value drags, as it did before the direction was measured."""
    if not (np.isfinite(eyes) and np.isfinite(down) and back > 0):
        return float(eyes) if np.isfinite(eyes) else 0.0
    return float(eyes) * float(np.clip(1.0 + down / back, 0.0, 1.0))


def combine_regions(regions: np.ndarray, weights: np.ndarray, drag_eyes: float | None = None) -> float:
    """One frame's spotting value from its region values: the largest weighted region (expressions are local;
    averaging dilutes them). Brow movement that comes with the lids' movement is a blink spilling over the brows
    (the lid drags the skin above it), so the brows count only beyond :data:`~larnet_core.video.blinks.BLINK_DRAG`
    (0.6) x the eye movement that can drag them (``drag_eyes``: the sample's :attr:`MotionSample.drag_eyes`, which
    leaves out lids opening wide; None or NaN, for a table made before it: the eye region's value of this frame,
    whichever way the lids moved)."""
    values = np.array(regions, dtype=np.float32, copy=True)
    brows = REGIONS.index("brows")
    dragging = np.nan if drag_eyes is None else float(drag_eyes)
    if not np.isfinite(dragging):
        dragging = float(values[REGIONS.index("eyes")])
    values[brows] = max(0.0, float(values[brows]) - BLINK_DRAG["brows"] * dragging)
    return float((values * weights).max())


class _PoseWindow:
    """The head poses of the last ``capacity`` frames of a segment, in one array (a ring), so the largest pose
    change around a frame is one vectorised step rather than a walk over the window."""

    def __init__(self, capacity: int, step: int = 1) -> None:
        self.capacity = capacity
        self.step = step  # frames are added every `step` frames: their slots follow index // step
        self._frames = np.full(capacity, -1, dtype=np.int64)
        self._poses: np.ndarray | None = None

    def clear(self) -> None:
        self._frames[:] = -1

    def add(self, index: int, pose: np.ndarray | None) -> None:
        slot = (index // self.step) % self.capacity
        self._frames[slot] = -1
        if pose is None:
            return
        flat = np.asarray(pose, dtype=np.float64).ravel()
        if self._poses is None or self._poses.shape[1] != flat.size:
            if self._poses is not None and (self._frames >= 0).any():
                return  # a pose of another kind (key points vs mesh) within a segment: not comparable
            self._poses = np.zeros((self.capacity, flat.size))
        self._poses[slot] = flat
        self._frames[slot] = index

    def spread(self, index: int, k: int) -> float:
        """The largest pose change from frame ``index`` to the frames within ``k`` of it (NaN without a pose)."""
        if self._poses is None:
            return float("nan")
        slot = (index // self.step) % self.capacity
        if self._frames[slot] != index:
            return float("nan")
        near = (self._frames >= 0) & (np.abs(self._frames - index) <= k)
        return _pose_changes(self._poses[slot], self._poses[near])


def _pose_changes(centre: np.ndarray, poses: np.ndarray) -> float:
    """The largest change of head pose from ``centre`` to any of ``poses`` (``(n, 2p)``), crop pixels."""
    a = np.asarray(centre, dtype=np.float64).reshape(1, -1, 2)
    b = np.asarray(poses, dtype=np.float64).reshape(len(poses), -1, 2)
    if a.shape[1] == 3:
        # Eyes and nose only: the nose against the eyes' midpoint (turns and nods), and the eyes themselves.
        nose_a = a[:, 2] - a[:, :2].mean(axis=1)
        nose_b = b[:, 2] - b[:, :2].mean(axis=1)
        eyes = np.abs(b[:, :2] - a[:, :2]).max(axis=(1, 2))
        return float(np.maximum(np.abs(nose_b - nose_a).max(axis=1), eyes).max())
    # Rigid mesh points: how far they moved in the aligned crop (the median point, so one badly tracked point or
    # a skin fold pulled by an expression does not decide).
    return float(np.median(np.abs(b - a).max(axis=2), axis=1).max())


def samples_table(samples: list[MotionSample], n_frames: int, present: np.ndarray | None = None) -> dict[str, Any]:
    """Columns for the per-frame table from a clip's samples of both scales: the micro scale's region values,
    combined signal, head measure and segments, and the macro scale's combined signal (``motion_macro``) and head
    flag (``head_moving_macro``) and region values (``motion_macro_<region>``); each scale's
    :attr:`MotionSample.drag_eyes` (``drag_eyes``, ``drag_eyes_macro``). Face frames between measured ones
    (:meth:`MotionConfig.frame_step`) take values interpolated within their segment, and a segment's last frames
    after its last measured one (only when ``present``, the frames with the face, is given) that one's values;
    frames never measured otherwise stay NaN."""
    micro = [s for s in samples if s.scale != "macro" and 0 <= s.index < n_frames]
    macro = [s for s in samples if s.scale == "macro" and 0 <= s.index < n_frames]
    micro_index = np.array([s.index for s in micro], dtype=np.int64)
    macro_index = np.array([s.index for s in macro], dtype=np.int64)
    micro_segment = np.array([s.segment for s in micro], dtype=np.int64)
    macro_segment = np.array([s.segment for s in macro], dtype=np.int64)
    regions = _filled(micro_index, np.array([s.regions for s in micro], dtype=np.float64).reshape(-1, len(REGIONS)),
                      micro_segment, n_frames, present)
    values = _filled(micro_index, np.array([[s.combined, s.head, s.head_moving, s.residual, s.drag_eyes]
                                            for s in micro], dtype=np.float64).reshape(-1, 5),
                     micro_segment, n_frames, present)
    segment = _filled(micro_index, micro_segment.astype(np.float64).reshape(-1, 1), micro_segment, n_frames, present,
                      interpolate=False)[:, 0]
    macro_values = _filled(macro_index, np.array([[s.combined, s.head_moving, s.residual, s.drag_eyes, s.back,
                                                   s.forward] for s in macro], dtype=np.float64).reshape(-1, 6),
                           macro_segment, n_frames, present)
    macro_regions = _filled(macro_index, np.array([s.regions for s in macro], dtype=np.float64).reshape(
        -1, len(REGIONS)), macro_segment, n_frames, present)
    columns: dict[str, Any] = {"motion": values[:, 0]}
    for position, name in enumerate(REGIONS):
        columns[f"motion_{name}"] = regions[:, position]
    columns["motion_macro"] = macro_values[:, 0]
    for position, name in enumerate(REGIONS):  # what a cover leaves of the macro signal is made of these
        columns[f"motion_macro_{name}"] = macro_regions[:, position]
    # ... and the brows of it are measured against the lids' closing movement (a blink's drag)
    columns["drag_eyes"] = values[:, 4]
    columns["drag_eyes_macro"] = macro_values[:, 3]
    # ... and a macro interval's extent is read from its one-sided movements (spotting.MacroSides)
    columns["motion_macro_back"] = macro_values[:, 4]
    columns["motion_macro_forward"] = macro_values[:, 5]
    columns["head_motion"] = values[:, 1]
    columns["head_moving"] = np.nan_to_num(values[:, 2]) > 0
    columns["head_moving_macro"] = np.nan_to_num(macro_values[:, 1]) > 0
    columns["head_residual"] = values[:, 3]
    columns["head_residual_macro"] = macro_values[:, 2]
    columns["segment"] = np.where(np.isnan(segment), -1, segment).astype(np.int64)
    return columns


def _filled(index: np.ndarray, values: np.ndarray, segment: np.ndarray, n_frames: int,
            present: np.ndarray | None = None, interpolate: bool = True) -> np.ndarray:
    """``values`` (one row per sample at frames ``index``) spread over ``n_frames`` rows. A frame without a sample
    that lies between two samples of one segment gets the linear interpolation of the two (or the earlier one's
    values, ``interpolate=False``). With ``present`` (the face's frames), a face frame after the last sample of a
    segment and before any other sample keeps that sample's values (a segment's last frames that fell between
    measured ones). Everything else is NaN."""
    out = np.full((n_frames, values.shape[1]), np.nan)
    if len(index) == 0:
        return out
    order = np.argsort(index, kind="stable")
    index, values, segment = index[order], values[order], segment[order]
    out[index] = values
    missing = np.setdiff1d(np.arange(n_frames), index)
    if len(missing) == 0:
        return out
    after = np.searchsorted(index, missing)  # position of the next sample
    before = np.maximum(after - 1, 0)
    nxt = np.minimum(after, len(index) - 1)
    in_segment = (after > 0) & (segment[before] >= 0)
    between = in_segment & (after < len(index)) & (segment[nxt] == segment[before])
    if interpolate:
        span = np.maximum(index[nxt] - index[before], 1)
        weight = ((missing - index[before]) / span)[:, None]
        mixed = values[before] + weight * (values[nxt] - values[before])
    else:
        mixed = values[before]
    out[missing[between]] = mixed[between]
    if present is not None:
        # Only up to the face's next absence: frames of the same unbroken run of presence as the sample.
        run = np.cumsum(~np.asarray(present, dtype=bool)[:n_frames])
        tail = in_segment & ~between & np.asarray(present, dtype=bool)[missing] & (run[missing] == run[index[before]])
        out[missing[tail]] = values[before[tail]]
    return out
