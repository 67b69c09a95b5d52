"""The followed face of a live stream: its pose and action units frame by frame, which of its motion samples
are kept out of spotting, and which spotted events are only blinks. (An event's own AUs are read as a clip's are:
:mod:`larnet_core.video.live_events`.)

The same rules as clip analysis (:mod:`larnet_core.video.face_state`), on the past only: the neutral is the
median of the face's recent measures (:class:`~larnet_core.aus.estimate.AuTracker`), and a motion sample, final
``k`` frames after its frame, is kept out when that frame's head was turned beyond 30 degrees, when the head moved
and its rigid movement could not be removed from its flow, without a mesh when the head moved, and when the mouth,
the brows or the eyes were covered within the sample's reach (:mod:`larnet_core.face.occlusion`, against the recent
uncovered past: :class:`~larnet_core.face.occlusion.OcclusionTracker`). A cover that leaves counted regions (a
hand over the mouth leaves the brows) and holds over every frame the sample is measured against makes the
sample's value of those regions instead (:func:`~larnet_core.video.face_state.kept_motion`, as a clip's
``motion_left_out``). Covered frames report the covered region's units as NaN (covered eyes no blink) and do not
set the neutral; their other units are read against the recent frames under the same cover, as in a clip.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np
import pandas as pd

from larnet_core.aus.estimate import AuTracker
from larnet_core.aus.flow import crop_intensities, neutral_model
from larnet_core.aus.held import RunningBaseline, held_units, shape_units, with_held
from larnet_core.aus.reference_flow import WINDOW_S, FlowSample, choose_references, sample_crop, sample_stride
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.result.schema import REGIONS
from larnet_core.face.occlusion import OcclusionTracker
from larnet_core.video.blinks import (APEX_REACH_S, MAX_BLINK_S, RECENT_S, blink_column, eye_apertures, eye_closure,
                                      is_blink, lids_closing)
from larnet_core.video.face_state import (FAST_TURN_DEG, MACRO_ALLOWANCE, MAX_POSE_RESIDUAL, MAX_YAW_DEG,
                                          held_cover, kept_motion, left_out_regions, occluded_units, pose_swing,
                                          residual_limit)

__all__ = ["LiveFaceState", "FlowUnits", "COVER_GAP_S"]

#: A cover seen again after this long is another cover: its frames get a neutral of their own.
COVER_GAP_S = 0.5
_AU43 = AU_COLUMNS.index("AU43")


class LiveFaceState:
    """One followed face's live pose, AUs and exclusions.

    Args:
        fps: the stream's frame rate.
        max_residual_px: :attr:`~larnet_core.video.motion.MotionConfig.max_residual_px`.
        macro_factor: the macro crop's size over the micro crop's.
        keep_s: seconds of per-frame pose and AUs kept (events, final a while after their frames, fall back on the
            per-frame AUs at their apex where the flow cannot be read).
        reach: the micro and macro scales' reference distances in frames
            (:func:`~larnet_core.video.face_state.motion_reach`): a sample is kept out when a region was covered
            this close to its frame.
    """

    def __init__(self, fps: float, max_residual_px: float, macro_factor: float, keep_s: float = 12.0,
                 reach: tuple[int, int] = (0, 0), reader: Executor | None = None) -> None:
        self.fps = float(fps)
        self.max_residual_px = float(max_residual_px)
        self.macro_factor = float(macro_factor)
        self.reach = (int(reach[0]), int(reach[1]))
        self._tracker = AuTracker(fps)
        self._covers: dict[tuple[str, ...], tuple[AuTracker, int]] = {}  # per cover: its neutral, last frame seen
        self._occlusion = OcclusionTracker(fps)
        self._covered: OrderedDict[int, tuple[str, ...]] = OrderedDict()  # per frame: the regions occluded
        self._keep = max(8, int(keep_s * fps))
        self._frames: OrderedDict[int, tuple[float, float, float, float, np.ndarray, np.ndarray]] = OrderedDict()
        # Each eye's lid aperture, one frame in three of the last 10 s: its median is the eye's neutral (blinks).
        self._apertures: deque[np.ndarray] = deque(maxlen=max(5, int(10.0 * fps / 3)))
        self._neutral_apertures: np.ndarray | None = None
        self._recent_apertures: deque[np.ndarray] = deque(maxlen=max(1, int(round(RECENT_S * fps))))
        self._count = 0
        self._face_id: int | None = None
        self._regions: OrderedDict[int, np.ndarray] = OrderedDict()  # micro region motion per frame, for blinks
        self._units = FlowUnits(self.fps, reader)
        # Per scale, the stable points' stray from the rigid model on the recent samples: this face's usual level.
        self._residuals: dict[str, deque[float]] = {}
        #: Per scale, the final motion samples of the stream so far, and those kept out as a head movement too fast
        #: for the flow (the clip's "fast head motion"): how often that rule fires on a face (not reset per face).
        self.samples_seen: dict[str, int] = {"micro": 0, "macro": 0}
        self.too_fast: dict[str, int] = {"micro": 0, "macro": 0}
        #: Whether the last :meth:`spotting_value` was of the regions a steady cover leaves, not the whole face.
        self.thinned = False

    def update(self, index: int, face_id: int | None, measure: Any, appearance: np.ndarray | None = None,
               frame: np.ndarray | None = None,
               mesh3d: np.ndarray | None = None) -> tuple[tuple[float, float, float] | None, dict[str, float]]:
        """Record this frame of the followed face (``measure``: its pose and mesh measures, or None; ``appearance``:
        its :func:`~larnet_core.face.occlusion.face_appearance`; ``frame`` and ``mesh3d``: the frame and the face's
        mesh, for the units read from the flow); returns its ``(yaw, pitch, roll)`` and AU intensities (empty
        without a mesh; a covered region's units NaN). A new face starts a new neutral."""
        if face_id != self._face_id:
            self._units.reset()
            self._tracker.reset()
            self._covers.clear()
            self._occlusion.reset()
            self._frames.clear()
            self._apertures.clear()
            self._recent_apertures.clear()
            self._neutral_apertures, self._count = None, 0
            self._regions.clear()
            self._covered.clear()
            self._residuals.clear()
            self._face_id = face_id
        covered = tuple(region for region, flag in self._occlusion.update(appearance).items() if flag)
        self._covered[int(index)] = covered
        while len(self._covered) > self._keep:
            self._covered.popitem(last=False)
        if measure is None:
            return None, {}
        if covered:  # a covered region neither reads as units nor sets the neutral; the rest is read against the
            # recent frames under the same cover, as in a clip (the mesh around an occluder is out of shape as a whole)
            neutral = self._cover_neutral(covered, int(index)).observe(measure.features)
            pose, values = measure.pose, occluded_units(measure.features - neutral, covered)
        else:
            pose, values = self._tracker.update_measure(measure)
        apertures = eye_apertures(measure.features)[0]
        eyes_covered = "eyes" in covered or "brows" in covered  # a hand, sunglasses: no resting aperture
        if self._count % 3 == 0 and not eyes_covered:
            self._apertures.append(apertures)
            self._neutral_apertures = np.median(np.asarray(self._apertures), axis=0)
        self._count += 1
        # Covered eyes have no aperture (the mesh invents their lids): no blink there, as in a clip.
        closure = np.full(2, np.nan) if "eyes" in covered else eye_closure(apertures, self._neutral_apertures)
        # Lids closing against the moment before (as a clip reads them): a flow reference's lids are in this state.
        lids = apertures if "eyes" not in covered else np.full(2, np.nan)
        seen = [recent for recent in self._recent_apertures if np.isfinite(recent).all()]
        closing = bool(lids_closing(lids, np.median(seen, axis=0) if seen else np.full(2, np.nan))[0])
        self._recent_apertures.append(lids)
        if frame is not None and mesh3d is not None:
            values = self._units.update(int(index), frame, mesh3d, values, pose, covered, closing)
        self._frames[index] = (pose.yaw, pose.pitch, pose.roll, pose.residual, values, closure)
        while len(self._frames) > self._keep:
            self._frames.popitem(last=False)
        return (pose.yaw, pose.pitch, pose.roll), dict(zip(AU_COLUMNS, map(float, values)))

    def _cover_neutral(self, covered: tuple[str, ...], index: int) -> AuTracker:
        """The neutral of the frames under this cover: a new one when the same cover was last seen over
        :data:`COVER_GAP_S` ago (another cover, another hand)."""
        tracker, last = self._covers.get(covered, (None, -1))
        if tracker is None or index - last > COVER_GAP_S * self.fps:
            tracker = AuTracker(self.fps)
        self._covers[covered] = (tracker, index)
        return tracker

    def spotting_value(self, sample: Any) -> float:
        """A final motion sample's value for the spotter: NaN where it is kept out of spotting, the value of the
        regions a steady cover leaves, else its own (see the module docstring). Every final sample passes here:
        a micro one's region motion is kept for :meth:`is_blink`. The brows of a covered sample are measured
        against its own :attr:`~larnet_core.video.motion.MotionSample.drag_eyes`, as its combined value is."""
        self.thinned = False
        if sample.segment < 0:
            return float("nan")
        self._residuals.setdefault(sample.scale, deque(maxlen=self._keep)).append(
            float(getattr(sample, "residual", float("nan"))))
        if sample.scale == "micro":
            self._regions[int(sample.index)] = np.asarray(sample.regions, dtype=np.float64)
            while len(self._regions) > self._keep:
                self._regions.popitem(last=False)
        # Each rule once per sample: a cover near it, a turned head or lost mesh, a movement too fast to follow
        # (without a mesh nothing was compensated: any head movement).
        near = bool(self._covered_near(int(sample.index), self._reach_of(sample)))
        turned, fast = self._turned_or_lost(sample), self._too_fast(sample)
        unusable = (turned or fast) if int(sample.index) in self._frames else bool(sample.head_moving)
        self.samples_seen[sample.scale] = self.samples_seen.get(sample.scale, 0) + 1
        if fast and not near and not turned:  # counted as a clip names a frame's reason: cover, turn, lost first
            self.too_fast[sample.scale] = self.too_fast.get(sample.scale, 0) + 1
        if not near and not unusable:
            return float(sample.combined)
        held = self._held(sample)
        if not held or unusable:
            return float("nan")
        self.thinned = True
        dragging = float(getattr(sample, "drag_eyes", float("nan")))
        return float(kept_motion(np.asarray(sample.regions)[None], [dragging], left_out_regions(held))[0])

    def _reach_of(self, sample: Any) -> int:
        return self.reach[1] if sample.scale == "macro" else self.reach[0]

    def _held(self, sample: Any) -> tuple[str, ...]:
        """The covers near a sample when each of them leaves counted regions and holds over every frame the
        sample's motion is measured against (a steady cover: the other regions are read), else ``()``."""
        index, reach = int(sample.index), self._reach_of(sample)
        near = self._covered_near(index, reach)
        window = [self._covered.get(i, ()) for i in range(index - reach, index + reach + 1)]
        flags = {region: np.array([region in covered for covered in window]) for region in near}
        return near if near and held_cover(flags, reach)[reach] else ()

    def _turned_or_lost(self, sample: Any) -> bool:
        """The head turned beyond :data:`MAX_YAW_DEG` or the mesh lost, on the sample's frame (which has a mesh)."""
        frame = self._frames.get(int(sample.index))
        if frame is None:
            return False
        yaw, pitch, _, fit, _, _ = frame
        return bool(abs(yaw) > MAX_YAW_DEG or abs(pitch) > MAX_YAW_DEG or fit > MAX_POSE_RESIDUAL)

    def _too_fast(self, sample: Any) -> bool:
        """The head moved, its 3-D pose turned by :data:`~larnet_core.video.face_state.FAST_TURN_DEG` or more within
        the sample's reach, and its stable points strayed from the rigid model beyond this face's usual stray on
        the recent samples (or the fixed limit, where larger): a movement the flow could not follow, as a clip
        decides it. Needs a mesh."""
        index = int(sample.index)
        if index not in self._frames:
            return False
        fixed = self.max_residual_px * (self.macro_factor * MACRO_ALLOWANCE if sample.scale == "macro" else 1.0)
        residual = float(getattr(sample, "residual", float("nan")))
        recent = np.array(self._residuals.get(sample.scale, ()), dtype=np.float64)
        if not (bool(sample.head_moving) and np.isfinite(residual) and residual > residual_limit(recent, fixed)):
            return False
        reach = self._reach_of(sample)
        missing = (np.nan, np.nan, np.nan)
        angles = np.array([self._frames.get(i, missing)[:3] for i in range(index - reach, index + reach + 1)])
        return pose_swing(angles, reach, reach) >= FAST_TURN_DEG

    def _covered_near(self, index: int, reach: int) -> tuple[str, ...]:
        """The regions covered on a frame at most ``reach`` frames from ``index`` (a sample is final ``reach``
        frames after its frame, so all of them are known)."""
        return self.covered_between(index - reach, index + reach)

    def covered_between(self, first: int, last: int) -> tuple[str, ...]:
        """The regions covered on any kept frame from ``first`` to ``last``."""
        return tuple(sorted({region for i in range(first, last + 1) for region in self._covered.get(i, ())}))

    def is_blink(self, row: dict, min_motion: float) -> bool:
        """Whether a spotted interval (a row of the stream spotter) is only a blink, by the clip's rule
        (:func:`larnet_core.video.blinks.is_blink`, both eyes closing together by
        :func:`~larnet_core.video.blinks.blink_column`) on the frames kept around its apex."""
        apex = int(row["apex_frame"])
        reach = int(round((APEX_REACH_S + MAX_BLINK_S) * self.fps)) + 1
        frames = range(apex - reach, apex + reach + 1)
        table = pd.DataFrame({f"motion_{name}": [self._regions[i][k] if i in self._regions else np.nan for i in frames]
                              for k, name in enumerate(REGIONS)})
        closure = np.array([self._frames[i][5] if i in self._frames else (np.nan, np.nan) for i in frames])
        table["blink"] = blink_column(closure, table["motion_eyes"].to_numpy(), self.fps)
        return is_blink(table, reach, self.fps, min_motion)

    def held_baseline(self) -> np.ndarray:
        """The face's baseline for the units its mouth holds (:class:`~larnet_core.aus.held.RunningBaseline`)."""
        return self._units.baseline.value()

    def leave_out_of_baseline(self, first: int, last: int) -> None:
        """A reported expression's frames set no baseline for the mouth's held units (as a clip's intervals)."""
        self._units.baseline.leave_out(first, last)

    def units_at(self, index: int) -> np.ndarray | None:
        """The per-frame AU intensities of frame ``index`` (None when it is not kept or had no mesh)."""
        frame = self._frames.get(int(index))
        return None if frame is None else np.asarray(frame[4], dtype=np.float64)


class FlowUnits:
    """The followed face's units read from the skin's movement (:mod:`larnet_core.aus.reference_flow`), live: every
    :func:`~larnet_core.aus.reference_flow.sample_stride` frames against the most neutral sampled frame of the past
    half :data:`~larnet_core.aus.reference_flow.WINDOW_S` under the same cover and near the same pose, held until the
    next reading under the same cover; the mesh's units where there is no reading, no unit but AU43 where the
    reading's movement fits no unit's pattern, and AU43 always (as a clip). For a sampling step after a cover arrives
    or leaves no unit but AU43 is read (a clip also blanks the step before it, which live cannot know yet), nor after
    that until the first reading under the new cover, within a second step.

    With a ``reader`` (an executor: the live analyser's own thread for them) the flow is read there, about 5 ms a
    reading that would otherwise fall on every third frame's latency: a reading lands a frame or two after its own
    frame, and the previous one is held meanwhile. While one is running, the next sample is not read (its frame
    holds the previous reading). Without one, as in tests, every reading is made inline and lands on its frame.

    Each reading also reads the mouth's shape against the average face (:mod:`larnet_core.aus.held`): the units
    the frame holds where its reference holds them too, against the face's running baseline over its readings with
    the mouth in view (:class:`~larnet_core.aus.held.RunningBaseline`, as a clip's over the whole clip)."""

    def __init__(self, fps: float, reader: Executor | None = None) -> None:
        self.fps = float(fps)
        self.stride = sample_stride(fps)
        self._reader = reader
        # A reading on the reader's thread: its frame, its reference's frame, the reference's shape reading and the
        # baseline (None: the mouth covered) and the (rigid model, units, shape) to come.
        self._pending: tuple[int, int, tuple[np.ndarray, np.ndarray] | None, Future] | None = None
        self._samples: deque[FlowSample] = deque(maxlen=int(WINDOW_S / 2 * self.fps / self.stride) + 2)
        self._models: dict[int, object] = {}  # the rigid model of each reference used, by its frame
        # The latest reading: its frame, the flow's units and the mouth's held units (None: none).
        self._last: tuple[int, np.ndarray, np.ndarray | None] | None = None
        self._shapes: dict[int, np.ndarray] = {}  # each sample's mouth read from its shape (aus.held), by frame
        self.baseline = RunningBaseline(keep=int(60.0 * self.fps / self.stride))  # the last minute's readings
        self._cover: tuple[str, int] | None = None  # the cover now, and the frame it began
        self._cover_changed = False  # whether that cover followed another (not the face's first cover)
        # The face's first frames in view (after an absence too) are no reference (reference_flow says why).
        self._firsts: set[int] = set()
        self._seen: int | None = None  # the face's latest frame

    def reset(self) -> None:
        self._samples.clear()
        self._models.clear()
        self._shapes.clear()
        self.baseline.reset()
        self._last = None
        self._pending = None  # a reading still running is dropped when it ends
        self._cover = None
        self._cover_changed = False
        self._firsts.clear()
        self._seen = None

    def update(self, index: int, frame: np.ndarray, mesh3d: np.ndarray, values: np.ndarray, pose: Any,
               covered: tuple[str, ...], lids_closing: bool = False) -> np.ndarray:
        """This frame's units (``values``: the mesh's, covered regions NaN): the latest flow reading where it
        reads them, else ``values``. ``lids_closing``: the lids are closing on this frame
        (:func:`~larnet_core.video.blinks.lids_closing`): no reference, and no unit but AU43 read, as in a clip."""
        cover = "+".join(covered)
        if self._seen is None or int(index) != self._seen + 1:  # first seen, or seen again after an absence
            self._firsts.add(int(index))
        self._seen = int(index)
        if self._cover is None or self._cover[0] != cover:
            if self._cover is not None:
                self._last = self._pending = None  # a reading is not held across a change of cover
            self._cover_changed = self._cover is not None
            self._cover = (cover, index) if self._cover is not None else (cover, index - self.stride)
        since_change = index - self._cover[1]
        if since_change < self.stride:  # the occluder is arriving or leaving
            return np.where(np.arange(len(values)) == _AU43, values, np.nan)
        self._collect()
        if index % self.stride == 0 and np.isfinite(values).any():
            self._read(index, frame, mesh3d, values, pose, cover, lids_closing)
        awaited = self._pending is not None  # a reading on the reader's thread: the last one is held till it lands
        if self._last is None and self._cover_changed and (since_change < 2 * self.stride or awaited):
            # Until the first reading under the new cover: the mesh the occluder dragged as it came or went is no
            # better than the flow there (a hand leaving the mouth read AU20 0.6-0.9 from the mesh).
            return np.where(np.arange(len(values)) == _AU43, values, np.nan)
        if self._last is None or index - self._last[0] >= self.stride * (2 if awaited else 1):
            return values
        held = self._last[2]
        if held is not None:
            held = np.where(np.isfinite(values), held, np.nan)  # covered regions
        if not np.isfinite(self._last[1]).any():  # the movement fits no unit's pattern: not read (as a clip)
            out = np.where(np.arange(len(values)) == _AU43, values, np.nan)
        else:
            flow = self._last[1].copy()
            flow[_AU43] = np.nan
            flow[~np.isfinite(values)] = np.nan  # covered regions
            out = np.where(np.isfinite(flow), flow, values)
        return out if held is None else with_held(out, held)

    def _read(self, index: int, frame: np.ndarray, mesh3d: np.ndarray, values: np.ndarray, pose: Any,
              cover: str, lids_closing: bool) -> None:
        """Reads this sampled frame against its reference (on the reader's thread when there is one)."""
        if lids_closing:  # the flow around the eyes is the blink's: not read (as a clip), nor kept as a reference
            self._last, self._pending = (index, np.full(len(AU_COLUMNS), np.nan), None), None
            return
        self._samples.append(FlowSample(index, sample_crop(frame, mesh3d), float(np.nansum(values)), float(pose.yaw),
                                        float(pose.pitch), cover))
        samples = list(self._samples)
        position = len(samples) - 1
        self._firsts = {k for k in self._firsts if k >= samples[0].index}
        # A first frame is no later frame's reference; alone, it reads 0 against itself as any first sample does.
        first = np.array([s.index in self._firsts for s in samples[:-1]] + [False])
        reference = int(choose_references(samples, self.fps, causal=True, only=position, not_reference=first)[position])
        if reference < 0:
            self._last = self._pending = None  # a reading still running is older: dropped
            return
        frames = {s.index for s in samples}
        for gone in [k for k in self._models if k not in frames]:
            del self._models[gone]
        for gone in [k for k in self._shapes if k not in frames]:
            del self._shapes[gone]
        chosen = samples[reference]
        mouth = "mouth" not in cover  # the mouth in view: its shape is read
        if reference == position:
            held = None
            if mouth:
                shape = self._shape(index, samples[position].crop)
                self.baseline.add(shape, index)
                held = held_units(shape, shape, self.baseline.value())
            self._last, self._pending = (index, np.zeros(len(AU_COLUMNS)), held), None
            return
        # The reference's shape was read when it was read itself (or is read here, once).
        shapes = (self._shape(chosen.index, chosen.crop), self.baseline.value()) if mouth else None
        if self._reader is None:
            model, units, shape = _read_units(chosen.crop, samples[position].crop, self._models.get(chosen.index),
                                              bool(cover), shapes)
            self._models[chosen.index] = model
            self._landed(index, units, shape, shapes)
        elif self._pending is None:
            self._pending = (index, chosen.index, shapes, self._reader.submit(
                _read_units, chosen.crop, samples[position].crop, self._models.get(chosen.index), bool(cover),
                shapes))

    def _shape(self, index: int, crop: Any) -> np.ndarray:
        if index not in self._shapes:
            self._shapes[index] = shape_units(crop)
        return self._shapes[index]

    def _landed(self, index: int, units: np.ndarray, shape: np.ndarray | None,
                shapes: tuple[np.ndarray, np.ndarray] | None) -> None:
        """A reading of frame ``index`` is done: it becomes the last one, with the units the mouth holds where its
        reference holds them (``shapes``: the reference's shape reading and the baseline when it was made)."""
        held = None
        if shape is not None and shapes is not None:
            self._shapes[index] = shape
            self.baseline.add(shape, index)
            held = held_units(shape, shapes[0], shapes[1])
        self._last = (index, units, held)

    def _collect(self) -> None:
        """The reading made on the reader's thread, once it is done: it becomes the last reading."""
        if self._pending is None or not self._pending[3].done():
            return
        index, reference, shapes, future = self._pending
        self._pending = None
        model, units, shape = future.result()
        if any(sample.index == reference for sample in self._samples):
            self._models[reference] = model
        self._landed(index, units, shape, shapes)


def _read_units(reference: Any, current: Any, model: Any, covered: bool,
                shapes: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Any, np.ndarray, np.ndarray | None]:
    """A flow reading of ``current`` against ``reference`` (:class:`~larnet_core.aus.flow.FaceCrop`) with the
    reference's rigid model (made here when None: about 2 ms, once per reference), and, with ``shapes`` (the mouth
    in view), ``current``'s mouth read from its shape (:func:`~larnet_core.aus.held.shape_units`): ``(model,
    units, shape or None)``."""
    model = neutral_model(reference) if model is None else model
    shape = shape_units(current) if shapes is not None else None
    return model, crop_intensities(reference, current, model, covered=covered), shape

