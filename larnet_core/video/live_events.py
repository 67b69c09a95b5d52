"""Spot, then recognise, on a live stream: what the last seconds of the followed face keep, and how an event is
labelled from them as a clip's interval is.

A clip's interval is labelled by the model on its own onset -> apex input and its action units are read from the
skin's movement between a neutral frame (a little before the onset) and the apex
(:func:`~larnet_core.video.recognise.recognise_intervals`, which reads those frames again from the file). A stream
cannot be read again, so :class:`FrameRing` keeps, for each recent frame of the followed face, what those steps
need: the aligned model-size crop with its alignment record, and the face crop the AU flow reads. An event is final
a while after it ends; when it is reported, :func:`event_job` takes its neutral, onset and apex frames from the
ring and :func:`run_event_job` (on the model thread) makes the same model input
(:func:`~larnet_core.face.inputs.input_from_crops`) and the same AU reading (:func:`~larnet_core.video.recognise.
crop_units`, :func:`~larnet_core.video.recognise.unit_labels`) as the clip.

The ring holds :func:`ring_frames` frames: the longest interval the spotter reports (``SpottingParams.max_s``),
the neutral frame's lead before it, and the delay before an interval is reported (the macro motion signal is
final ``macro_reference_s`` after its frame, and the spotter waits until a micro interval can no longer grow or
turn out to be part of a macro one). Each frame costs ``3 * size**2`` bytes of model crop, plus with a face mesh a
112x112 grey crop and its 478-point mesh (about 24 KB): at 30 fps and the default settings 185 frames, about
11.5 MB for a 112-pixel model and 32 MB for a 224-pixel one (:attr:`FrameRing.nbytes`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
import math
from typing import Any

import numpy as np

from larnet_core.aus.flow import face_crop
from larnet_core.aus.held import held_units, shape_units, with_held
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.face.inputs import InputConfig, alignment_record, input_from_crops, warp_crop
from larnet_core.video.motion import MotionConfig
from larnet_core.video.face_state import covered_units
from larnet_core.video.recognise import crop_units, neutral_frame, neutral_lead, unit_labels
from larnet_core.video.spotting import SpottingParams

__all__ = ["KeptFrame", "FrameRing", "ring_frames", "EventJob", "event_job", "run_event_job"]

_NOT_AU43 = np.array([name != "AU43" for name in AU_COLUMNS])


@dataclass(frozen=True)
class KeptFrame:
    """One frame of the followed face as the ring keeps it.

    Attributes:
        index: the stream frame.
        face_id: the followed face.
        run: the stretch of frames the face was followed in without a break (no gap, no shot cut, no other face).
        crop: the aligned RGB model-input crop (``size`` x ``size``), cut with this frame's alignment.
        record: the frame's alignment record (:func:`~larnet_core.face.inputs.alignment_record`, ``frame`` and
            ``face_id``), as a clip's table row holds it.
        face: the :class:`~larnet_core.aus.flow.FaceCrop` the AU flow reads (None without a face mesh).
    """

    index: int
    face_id: int
    run: int
    crop: np.ndarray
    record: dict[str, Any]
    face: Any = None

    @property
    def nbytes(self) -> int:
        face = 0 if self.face is None else self.face.crop.nbytes + self.face.mesh.nbytes + self.face.matrix.nbytes
        return int(self.crop.nbytes) + int(face)


def ring_frames(fps: float, spotting: SpottingParams, motion: MotionConfig, report_delay_frames: int) -> int:
    """Frames the ring keeps: the longest interval, its neutral lead, the macro signal's delay and the spotter's
    own wait (``report_delay_frames``: frames between an interval's end and its report), and two to spare."""
    return (int(math.ceil(spotting.max_s * fps)) + neutral_lead(fps) + int(math.ceil(motion.macro_reference_s * fps))
            + int(report_delay_frames) + 2)


class FrameRing:
    """The last ``capacity`` frames of the followed face (a new frame drops the oldest).

    Args:
        capacity: frames kept (:func:`ring_frames`).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = int(capacity)
        self._frames: OrderedDict[int, KeptFrame] = OrderedDict()
        self._run = 0
        self._last: tuple[int, int] | None = None  # (index, face_id) of the last frame kept

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def nbytes(self) -> int:
        """Bytes of pixels and meshes held now."""
        return sum(frame.nbytes for frame in self._frames.values())

    def clear(self) -> None:
        self._frames.clear()
        self._last = None

    def add(self, index: int, face_id: int, frame_rgb: np.ndarray, matrix: np.ndarray, aligned: bool,
            config: InputConfig, crop: np.ndarray | None = None, mesh3d: np.ndarray | None = None,
            cut: bool = False) -> None:
        """Keep one frame of the followed face (``crop``: its model-size crop when already cut; ``mesh3d``: its
        mesh, for the AU crop). A frame that does not follow the last one kept (a gap, another face, a shot cut)
        starts a new run."""
        if cut or self._last is None or self._last != (index - 1, face_id):
            self._run += 1
        self._last = (int(index), int(face_id))
        if crop is None:
            crop = warp_crop(frame_rgb, matrix, config.size)
        record = {**alignment_record(matrix, aligned), "frame": int(index), "face_id": int(face_id)}
        face = None if mesh3d is None else face_crop(frame_rgb, mesh3d)
        self._frames[int(index)] = KeptFrame(int(index), int(face_id), self._run, crop, record, face)
        while len(self._frames) > self.capacity:
            self._frames.popitem(last=False)

    def get(self, index: int) -> KeptFrame | None:
        return self._frames.get(int(index))


@dataclass(frozen=True)
class EventJob:
    """An event's frames, taken from the ring when it was reported (the ring may drop them before the model
    thread gets to the job)."""

    neutral: KeptFrame
    onset: KeptFrame
    apex: KeptFrame
    apex_units: np.ndarray | None = None
    covered: tuple[str, ...] = ()  # regions covered between the neutral and the apex: their units say nothing
    held_baseline: np.ndarray | None = None  # the face's baseline for the units its mouth holds (aus.held)


def event_job(ring: FrameRing, onset: int, apex: int, fps: float,
              apex_units: np.ndarray | None = None) -> EventJob | None:
    """The job of labelling one event, or None when its onset or apex frame of the same face is no longer kept
    (it then keeps the label of its per-frame outputs, as a clip's interval whose frames cannot be read)."""
    first, peak = ring.get(onset), ring.get(apex)
    if first is None or peak is None or first.face_id != peak.face_id:
        return None

    def continues(i: int) -> bool:
        kept = ring.get(i)
        return kept is not None and kept.run == first.run

    neutral = ring.get(neutral_frame(onset, neutral_lead(fps), continues)) or first
    return EventJob(neutral, first, peak, apex_units)


def run_event_job(job: EventJob, predictor: Any,
                  config: InputConfig) -> tuple[np.ndarray | None, str, str, bool]:
    """``(class probabilities, aus, rule_label, aus_read)`` of one event: the model on its onset -> apex input
    (None when the input cannot be made) and the action units from its neutral frame to its apex, as a clip's
    interval; ``aus_read``: any unit but AU43 was read there (False: the movement fits no unit's pattern, or every
    region was covered), so an event without units says "AUs not read" rather than "no AU", as a clip's does."""
    record = {**job.apex.record, "input_reference": job.onset.index}
    try:
        model_input = input_from_crops(job.apex.crop, record, config, job.onset.crop, config.flow)
        probs = np.asarray(predictor.predict_proba([model_input.image])[0], dtype=np.float64)
    except ValueError:
        probs = None
    values = crop_units(job.neutral.face, job.apex.face, job.apex_units, bool(job.covered))
    if (job.held_baseline is not None and np.isfinite(job.held_baseline).any() and job.neutral.face is not None
            and job.apex.face is not None):
        # The mouth units the apex holds where the neutral frame holds them too, as a clip's interval reads them.
        values = with_held(values, held_units(shape_units(job.apex.face), shape_units(job.neutral.face),
                                              job.held_baseline))
    values = covered_units(values, job.covered)
    aus, rule = unit_labels(values)
    return probs, aus, rule, bool(np.isfinite(np.asarray(values, dtype=np.float64)[_NOT_AU43]).any())
