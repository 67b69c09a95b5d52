"""Live video: the clip pipeline fed one frame at a time (a webcam through the dashboard's /live page).

A stream is analysed with the same frozen :class:`~larnet_core.video.settings.AnalysisSettings` as a clip (face
mode, model rate, spotting threshold), so the live page, ``larnet analyze`` and the clip page mean the same by each.

Per frame, :meth:`LiveAnalyzer.process` runs the same engine as clip analysis (:class:`~larnet_core.video.pipeline.
FaceStream`: face tracker, aligned model input, motion with head movement removed), follows the main face (chosen
by the clip's rule over the last seconds when the followed one leaves), draws the others, runs the model on the main face, and spots
micro- and macro-expressions with :class:`~larnet_core.video.stream_spotting.TwoScaleStreamingSpotter` — the
clip's two-scale spotting function and settings over the last seconds of both signals (a micro interval inside a
macro one is dropped, as in a clip). Events are therefore reported a little after they end (the motion
signal is two-sided, ``reference_s`` late, and an interval is final once it can no longer grow or merge).

Spot, then recognise, as a clip: each event is labelled by the model on its own onset -> apex input, and its action
units are read from the skin's movement between a frame just before its onset and its apex, with the clip's code
(:mod:`larnet_core.video.live_events`), from a bounded ring of the last seconds of the followed face. That runs on
a thread of its own (one worker: events are labelled one after another, in order), so neither the frame that
completes an event nor the per-frame model calls wait for it (a flow checkpoint's TV-L1 flow takes a few tenths
of a second): the event is reported on a later frame, once its label is known.

Per-frame classes flicker on a real face, so the shown prediction is the mean of the last ``smooth_s`` seconds of
the main face's probabilities; the raw ones are in :attr:`LiveResult.raw_probabilities`.

A failure while processing one frame is logged and written on that frame; the stream goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.face.base import as_rgb_uint8
from larnet_core.face.inputs import InputConfig, ModelInput
from larnet_core.face.tracking import summarize_tracks
from larnet_core.video.motion import MotionConfig
from larnet_core.video.overlay import (SYNTHETIC_NOTICE, draw_face_result, draw_motion_trace, draw_notice,
                                       draw_other_face)
from larnet_core.video.analysis import build_tracker
from larnet_core.video.live_events import EventJob, FrameRing, event_job, ring_frames, run_event_job
from larnet_core.video.face_state import motion_reach
from larnet_core.video.live_face import LiveFaceState
from larnet_core.video.pipeline import FaceStream
from larnet_core.result import INTERVAL_COLUMNS, empty_intervals, interval_label
from larnet_core.result.schema import INTERVAL_DTYPES
from larnet_core.video.settings import AnalysisSettings
from larnet_core.video.stream_spotting import TwoScaleStreamingSpotter

__all__ = ["LiveEvent", "LiveResult", "LiveAnalyzer", "LIVE_SETTINGS"]

#: A stream's default settings: the clip's, with the model run at most 15 times a second on the followed face
#: (the shown prediction is a half-second mean anyway, and the tracker and motion still see every frame).
LIVE_SETTINGS = AnalysisSettings(max_infer_fps=15.0)

log = logging.getLogger(__name__)

_TRACE_S = 6.0
# Seconds of tracks the main face is chosen over when the followed face leaves.
_MAIN_FACE_S = 10.0
# Each face's segments get ids of their own (as in clip analysis), so two faces' frames never join an interval.
_SEGMENTS_PER_FACE = 1_000_000


@dataclass(frozen=True)
class LiveEvent:
    """An expression spotted in the stream.

    Attributes:
        time_s: when it started (stream seconds).
        label: the model's class on the event's own onset -> apex input (as a clip's interval; the most probable
            class of its per-frame outputs when its frames were no longer kept).
        confidence: that class's probability.
        duration_s: how long it lasted.
        kind: ``micro`` (1/25 to 1/2 s) or ``macro``.
        face_id: the tracked face.
        apex_s: stream time of its strongest motion.
        peak_motion: the motion at the apex (pixels of the aligned 96-pixel crop).
        aus: the action units it shows (``"AU6+AU12"``; empty without a face mesh).
        rule_label: the FACS rules' name for those units (a rule, not a model output).
        aus_read: whether its units were read at all (False: its apex's movement fits no unit's pattern, or its
            frames were no longer kept), so that an event without units says "AUs not read" rather than "no AU",
            as a clip's interval does (:func:`~larnet_core.aus.names.units_text`). The page's; the result's events
            table does not keep it (a clip's intervals tell it from their frames' units).
    """

    time_s: float
    label: str
    confidence: float
    duration_s: float
    kind: str = "micro"
    face_id: int = 0
    apex_s: float = 0.0
    peak_motion: float = 0.0
    aus: str = ""
    rule_label: str = ""
    aus_read: bool = True


@dataclass(frozen=True)
class LiveResult:
    """What one processed frame gave.

    Attributes:
        frame_index: 0-based count of frames given to :meth:`LiveAnalyzer.process`.
        time_s: stream time of the frame.
        box: the followed face's box ``(x0, y0, x1, y1)`` in frame pixels, or None without a face.
        label, confidence: the smoothed prediction's top class and its probability (None without a face).
        probabilities: every class's smoothed probability (empty without a face).
        motion: the followed face's latest final motion value (NaN while unknown or without a face).
        latency_ms: processing time of this frame.
        event: the event whose label became known at this frame, if any (a few frames after the spotter
            reported it, with events labelled on their own thread).
        error: what went wrong on this frame, or None.
        face_id: the followed face's id (-1 without a face).
        faces_in_frame: faces tracked in this frame.
        raw_probabilities: this frame's own probabilities, before smoothing (empty on frames the model skipped,
            see ``max_infer_fps``).
        pose: the followed face's ``(yaw, pitch, roll)`` in degrees (None without a face mesh).
        aus: its action-unit intensities against its recent neutral (empty without a face mesh).
        occluded: the followed face's regions found covered on this frame (``"mouth"``, ``"brows"``, ``"eyes"``;
            a clip's ``occluded`` column), empty when none is or without a face.
    """

    frame_index: int
    time_s: float
    box: tuple[float, float, float, float] | None
    label: str | None
    confidence: float | None
    probabilities: dict[str, float]
    motion: float
    latency_ms: float
    event: LiveEvent | None = None
    error: str | None = None
    face_id: int = -1
    faces_in_frame: int = 0
    raw_probabilities: dict[str, float] = field(default_factory=dict)
    pose: tuple[float, float, float] | None = None
    aus: dict[str, float] = field(default_factory=dict)
    occluded: tuple[str, ...] = ()

    @property
    def face_found(self) -> bool:
        return self.box is not None


class LiveAnalyzer:
    """Frame-by-frame analysis of one live stream. Thread-safe: calls on one instance are serialised.

    Args:
        predictor: a :class:`larnet_core.inference.Predictor` (may be shared between analyzers).
        detector: a face detector for the tracker instead of its backend's own (tests, special cameras).
        fps_hint: frame rate used for timing when ``process`` gets no time stamp, and for the windows.
        settings: the analysis settings a clip takes (default :data:`LIVE_SETTINGS`): ``face`` (tracker backend,
            or ``none`` for the whole frame), ``max_infer_fps`` (the model on the followed face at most this often;
            None or 0: every frame) and ``threshold_p`` (spotting). A stream follows one face, so ``all_faces`` is
            refused; the clip-only fields (image-sequence ``fps``, limits, ``backend``: the predictor is given) do
            not apply.
        smooth_s: seconds of probabilities averaged into the shown prediction (what the page shows, not a setting
            of the analysis).
        async_model: run the model on a thread of its own, label events on another and read the action units from
            the flow on a third, so a frame's latency is the tracker's and the motion's, not the model's; its
            probabilities (and a flow reading) join a frame or two later. False runs them inline (every frame then
            waits for them).
        max_events: events kept (oldest dropped first).
        draw: draw the overlay on the returned frame (False returns the frame unchanged, a little faster).
    """

    def __init__(self, predictor, detector=None, fps_hint: float = 30.0, *, settings: AnalysisSettings | None = None,
                 smooth_s: float = 0.5, async_model: bool = True, max_events: int = 500, draw: bool = True) -> None:
        if fps_hint <= 0:
            raise ValueError(f"fps_hint must be positive, got {fps_hint}")
        settings = LIVE_SETTINGS if settings is None else settings
        if not isinstance(settings, AnalysisSettings):
            raise LarnetError(f"settings must be an AnalysisSettings, got {type(settings).__name__}")
        if settings.all_faces:
            raise LarnetError("a live stream follows one face: all_faces is for clips; use AnalysisSettings("
                              "all_faces=False)")
        self.analysis_settings = settings
        self.predictor = predictor
        self.card = predictor.card
        self.class_names = list(self.card.class_names)
        self.fps_hint = float(fps_hint)
        self.face_mode = settings.face
        self.detector = detector
        self.motion_config = MotionConfig()  # as analyze_clip takes it from AnalysisSettings: the defaults
        self.spotting = settings.spotting
        self.smooth_s = float(smooth_s)
        self.max_infer_fps = settings.max_infer_fps or None
        self.draw = draw
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="larnet-live-model") \
            if async_model else None
        # Events are labelled on their own worker: the per-frame model calls go on while one is labelled.
        self._event_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="larnet-live-events") \
            if async_model else None
        # The action units read from the flow (about 5 ms every third frame) on theirs: off the frame's latency.
        self._units_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="larnet-live-units") \
            if async_model else None
        self.input_config = InputConfig.for_card(self.card, reference_s=self.motion_config.reference_s,
                                                 motion_size=self.motion_config.size)
        self._lock = threading.Lock()
        self._events: deque[LiveEvent] = deque(maxlen=max_events)
        self._intervals: deque[dict] = deque(maxlen=max_events)  # the same events as a clip's interval rows
        self._build_stream()
        self._reset_state()

    def _build_stream(self) -> None:
        tracker = build_tracker(self.face_mode, self.fps_hint, self.detector, max_faces=4)
        self.tracker_backend = getattr(tracker, "backend", "none")
        # The streaming spotters take one sample per frame: measure every frame, whatever the camera's rate.
        self.stream = FaceStream(self.input_config, self.fps_hint, tracker, replace(self.motion_config, max_fps=None))

    def _reset_state(self) -> None:
        self._index = 0
        self._times: dict[int, float] = {}
        self._main: int | None = None
        self._tracked: deque = deque(maxlen=max(8, int(_MAIN_FACE_S * self.fps_hint)))  # for the main-face rule
        # The clip's two-scale spotting over the last seconds of both signals.
        self._spotter = TwoScaleStreamingSpotter(self.fps_hint, self.spotting,
                                                 macro_reach=self.motion_config.macro().reference_frames(self.fps_hint))
        # What spot-then-recognise needs of the last seconds of the followed face (module docstring), and the
        # events reported by the spotter whose label the event thread is still working out (in order).
        self._ring = FrameRing(ring_frames(self.fps_hint, self.spotting, self.motion_config,
                                           self._spotter.micro_hold + self._spotter.every))
        self._pending: deque[tuple[dict, int, EventJob | None, object]] = deque()
        self._probs: deque[tuple[int, float, np.ndarray]] = deque()   # (frame, time, probabilities) main face
        # Per-frame probabilities kept for the label of an event whose frames the ring no longer holds.
        self._labels: deque[tuple[int, np.ndarray]] = deque(maxlen=max(8, int(12 * self.fps_hint)))
        self._trace: deque[float] = deque(maxlen=max(2, int(_TRACE_S * self.fps_hint)))
        self._last_motion = float("nan")
        self._last_infer = float("-inf")
        self._inflight = None  # (frame index, time, future) of the model call on the model thread
        self._face_state = LiveFaceState(self.fps_hint, self.motion_config.max_residual_px,
                                         self.motion_config.macro_size / self.motion_config.size,
                                         reach=motion_reach(self.motion_config, self.fps_hint),
                                         reader=self._units_thread)

    # -- public ---------------------------------------------------------------------------------------------
    @property
    def events(self) -> list[LiveEvent]:
        """Events spotted so far, oldest first (a copy)."""
        with self._lock:
            return list(self._events)

    @property
    def intervals(self) -> pd.DataFrame:
        """The events so far as a clip's interval table (:data:`~larnet_core.result.INTERVAL_COLUMNS`, stream
        frames and seconds), labelled by the clip's labeller."""
        with self._lock:
            rows = list(self._intervals)
        if not rows:
            return empty_intervals()
        table = pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))
        # Typed as a clip's: numbers as the schema says, labels as Python text, kinds as pandas infers them.
        table = table.astype({c: t for c, t in INTERVAL_DTYPES.items() if t != "object"})
        for text in ("label", "aus", "rule_label"):
            table[text] = pd.Series([r[text] for r in rows], dtype=object, index=table.index)
        return table

    @property
    def settings(self) -> dict:
        """The stream's settings, as a session records them: the keys of a clip result's settings that mean the
        same for a stream, the stream's own (``fps_hint``, ``smooth_s``), and the :class:`AnalysisSettings`."""
        config = self.input_config
        return {"face": self.face_mode, "face_source": "whole-frame" if self.face_mode == "none" else "tracked",
                "tracker": self.tracker_backend, "all_faces": False, "main_face_id": self._main,
                "input_size": int(self.card.input_size), "max_infer_fps": self.max_infer_fps,
                "motion_reference_s": self.motion_config.reference_s, "head_max_px": self.motion_config.head_max_px,
                "max_residual_px": self.motion_config.max_residual_px, "spotting": dict(self.spotting.__dict__),
                "fps_hint": self.fps_hint, "smooth_s": self.smooth_s, "sample_mode": config.sample_mode,
                "recognise_frames": self._ring.capacity, "analysis": self.analysis_settings.to_dict()}

    @property
    def ring(self) -> FrameRing:
        """The recent frames of the followed face events are labelled from (bounded: :func:`ring_frames`)."""
        return self._ring

    def reset(self) -> None:
        """Forget the faces, the motion history and the events (a new stream)."""
        with self._lock:
            self.stream.reset()
            self._events.clear()
            self._intervals.clear()
            self._reset_state()  # events still on the event thread are forgotten with the rest

    def finish(self) -> list[LiveEvent]:
        """The stream stopped: settle the last frames' motion and report the events they complete (an event is
        otherwise reported about half a second after it ends). The analyzer can go on with a new stream after."""
        with self._lock:
            self._collect(wait=True)
            before = len(self._events)
            for face_id, samples in self.stream.finish().items():
                if face_id == self._main:
                    for sample in samples:
                        self._spot(face_id, sample)
            for row in self._spotter.flush():
                self._report(row)
            self._settle_events(wait=True)
            return list(self._events)[before:]

    def process(self, frame_rgb: np.ndarray, time_s: float | None = None) -> tuple[np.ndarray, LiveResult]:
        """Analyse one frame.

        Args:
            frame_rgb: ``(H, W, 3)`` uint8 RGB frame (not modified).
            time_s: the frame's stream time in seconds; default ``frame_index / fps_hint``.

        Returns:
            ``(annotated copy of the frame, LiveResult)``. Errors are reported in ``LiveResult.error`` and
            on the frame, never raised.
        """
        with self._lock:
            start = time.perf_counter()
            index = self._index
            self._index += 1
            now = float(time_s) if time_s is not None else index / self.fps_hint
            try:
                out, result = self._process(frame_rgb, index, now, start)
            except Exception as exc:  # noqa: BLE001 - a bad frame must not end the stream
                log.exception("live analysis failed on frame %d", index)
                message = f"{type(exc).__name__}: {exc}"
                out = _safe_copy(frame_rgb)
                if out is not None and self.draw:
                    draw_notice(out, f"error: {message[:90]}", row=0, colour=(255, 80, 80))
                result = LiveResult(index, now, None, None, None, {}, float("nan"),
                                    (time.perf_counter() - start) * 1000.0, None, message)
                return (out if out is not None else frame_rgb), result
            return out, result

    # -- internals --------------------------------------------------------------------------------------------
    def _choose_main(self, face_ids: list[int], boxes: dict[int, tuple]) -> int | None:
        if not face_ids:
            return self._main
        if self._main in face_ids:
            return self._main
        # The clip's rule over the last seconds (summarize_tracks' score: area x presence x steadiness), so a
        # passer-by does not take over; the largest on a tie (a face new to the stream has no score yet).
        scores: dict[int, float] = {}
        if self._tracked:
            table = summarize_tracks(list(self._tracked))
            scores = {int(f): float(s) for f, s in zip(table["face_id"], table["score"])}
        return max(face_ids, key=lambda f: (scores.get(f, 0.0), _area(boxes[f])))

    def _process(self, frame: np.ndarray, index: int, now: float, start: float) -> tuple[np.ndarray, LiveResult]:
        frame = as_rgb_uint8(frame, f"live frame {index}")
        self._times[index] = now
        def follow(boxes: dict[int, tuple]) -> set[int]:
            previous = self._main
            self._main = self._choose_main(list(boxes), boxes)
            due = (self.max_infer_fps is None or self._main != previous
                   or now - self._last_infer >= 1.0 / self.max_infer_fps - 1e-6)
            if self._main is None or not due:
                return set()
            self._last_infer = now
            return {self._main}

        # The tracker runs first; the model runs only on the followed face.
        step = self.stream.step(index, frame, infer=follow)
        self._tracked.append(step.light())
        main_step = next((f for f in step.faces if f.face_id == self._main), None)
        pose, units = self._face_state.update(index, self._main, None if main_step is None else main_step.measure,
                                              None if main_step is None else main_step.appearance, frame,
                                              None if main_step is None else main_step.mesh3d)
        covered = self._face_state.covered_between(index, index) if main_step is not None else ()
        if main_step is not None and main_step.matrix is not None:
            self._ring.add(index, main_step.face_id, frame, main_step.matrix, main_step.aligned, self.input_config,
                           crop=main_step.crop, mesh3d=main_step.mesh3d, cut=step.cut)
        samples = list(step.orphan_samples.get(self._main, [])) if self._main is not None else []
        if main_step is not None:
            samples.extend(main_step.samples)
        for sample in samples:
            if sample.segment >= 0 and sample.scale == "micro":
                self._last_motion = sample.combined
            self._spot(self._main, sample)
        for row in self._spotter.poll():
            self._report(row)
        event = self._settle_events()
        raw = self._collect()
        if main_step is not None and main_step.model_input is not None:
            raw = self._infer(main_step.model_input, index, now, raw)
        elif main_step is None:
            self._probs.clear()  # no face: nothing to smooth with
            raw = None
        while self._probs and self._probs[0][1] < now - self.smooth_s:
            self._probs.popleft()
        for old in [k for k in self._times if k < index - int(30 * self.fps_hint)]:
            del self._times[old]
        smoothed = np.mean([p for _, _, p in self._probs], axis=0) if self._probs else None
        motion_now = self._last_motion if main_step is not None else float("nan")
        self._trace.append(motion_now)
        out = frame.copy() if self.draw else frame
        if self.draw:
            for other in step.faces:
                if other.face_id != self._main:
                    draw_other_face(out, other.box, other.face_id)
            if main_step is None:
                draw_notice(out, "no face in view", row=1, colour=(255, 120, 120))
            draw_face_result(out, main_step.box if main_step else None, self.class_names, smoothed,
                             highlight=event is not None)
            self._draw_common(out)
        if main_step is None or smoothed is None:
            result = LiveResult(index, now, None if main_step is None else main_step.box, None, None, {},
                                motion_now, (time.perf_counter() - start) * 1000.0, event,
                                face_id=-1 if main_step is None else main_step.face_id,
                                faces_in_frame=step.faces_in_frame, pose=pose, aus=units, occluded=covered)
            return out, result
        top = int(np.argmax(smoothed))
        result = LiveResult(index, now, main_step.box, self.class_names[top], float(smoothed[top]),
                            {n: float(p) for n, p in zip(self.class_names, smoothed)}, motion_now,
                            (time.perf_counter() - start) * 1000.0, event, face_id=main_step.face_id,
                            faces_in_frame=step.faces_in_frame,
                            raw_probabilities={} if raw is None else dict(zip(self.class_names, map(float, raw))),
                            pose=pose, aus=units, occluded=covered)
        return out, result

    def _infer(self, model_input: ModelInput, index: int, now: float, raw: np.ndarray | None) -> np.ndarray | None:
        """Run the model on the followed face's input: inline, or on the model thread (``async_model``), whose
        result is collected on a later frame. While a call is in flight a new input waits for the next due frame
        (the model runs at most ``max_infer_fps`` anyway). Returns the probabilities that arrived by now."""
        if self._model_thread is None:
            probs = np.asarray(self.predictor.predict_proba([model_input.image])[0], dtype=np.float64)
            self._keep(index, now, probs)
            return probs
        if self._inflight is None:
            # The flow image of a flow checkpoint is made on the model thread too (ModelInput.image is lazy).
            future = self._model_thread.submit(lambda: self.predictor.predict_proba([model_input.image]))
            self._inflight = (index, now, future)
        return raw

    def _collect(self, wait: bool = False) -> np.ndarray | None:
        """The model thread's result, once it is done (or waiting for it with ``wait``)."""
        if self._inflight is None or not (wait or self._inflight[2].done()):
            return None
        index, when, future = self._inflight
        self._inflight = None
        probs = np.asarray(future.result()[0], dtype=np.float64)
        self._keep(index, when, probs)
        return probs

    def _keep(self, index: int, when: float, probs: np.ndarray) -> None:
        self._probs.append((index, when, probs))
        self._labels.append((index, probs))

    def _spot(self, face_id: int | None, sample) -> None:
        """Feed one final motion sample of the followed face to the spotter (nothing to spot on frames whose
        head movement could not be removed)."""
        value = self._face_state.spotting_value(sample)
        segment = sample.segment + int(face_id or 0) * _SEGMENTS_PER_FACE if sample.segment >= 0 else -1
        # A macro sample's sides size its intervals (spotting.MacroSides), unless a cover thinned its value.
        whole = sample.scale == "macro" and not self._face_state.thinned
        self._spotter.push(sample.index, sample.scale, value, segment,
                           float(getattr(sample, "back", np.nan)) if whole else np.nan,
                           float(getattr(sample, "forward", np.nan)) if whole else np.nan)

    def _report(self, row: dict) -> None:
        """The spotter reported an interval: take its frames from the ring and have the event thread label it (or
        label it now, without one). A blink is not an expression: it is dropped, as a clip drops it."""
        if self._face_state.is_blink(row, self.spotting.min_motion):
            return
        apex = int(row["apex_frame"])
        # Its frames set no baseline for the mouth's held units, as a clip's intervals set none: not for itself, nor
        # for the frames after it.
        self._face_state.leave_out_of_baseline(int(row["onset_frame"]), int(row["offset_frame"]))
        job = event_job(self._ring, int(row["onset_frame"]), apex, self.fps_hint, self._face_state.units_at(apex))
        if job is not None:  # a region covered from the neutral to the apex reads as no unit, as in a clip
            job = replace(job, covered=self._face_state.covered_between(job.neutral.index, apex),
                          held_baseline=self._face_state.held_baseline())
        face_id = job.apex.face_id if job is not None else int(self._main if self._main is not None else 0)
        if job is None:
            done = None
        elif self._event_thread is None:
            done = run_event_job(job, self.predictor, self.input_config)
        else:
            done = self._event_thread.submit(run_event_job, job, self.predictor, self.input_config)
        self._pending.append((row, face_id, job, done))

    def _settle_events(self, wait: bool = False) -> LiveEvent | None:
        """Turn the reported intervals whose labels are known into events, in order; the last one made."""
        event = None
        while self._pending:
            row, face_id, job, done = self._pending[0]
            if hasattr(done, "done"):
                if not (wait or done.done()):
                    break
                try:
                    done = done.result()
                except Exception:  # noqa: BLE001 - a failed label must not lose the event: per-frame label
                    log.exception("labelling the event at frame %s failed", row["onset_frame"])
                    done = None
            self._pending.popleft()
            event = self._event(row, face_id, done)
        return event

    def _event(self, row: dict, face_id: int, done: tuple | None) -> LiveEvent:
        onset, offset = int(row["onset_frame"]), int(row["offset_frame"])
        probs, aus, rule, read = done if done is not None else (None, "", "", False)
        if probs is not None:
            top = int(np.argmax(probs))
            label, confidence = self.class_names[top], float(probs[top])
        else:  # its frames were no longer kept: the label of its per-frame outputs, as a clip's would keep
            window = np.array([p for i, p in self._labels if onset <= i <= offset]).reshape(-1, len(self.class_names))
            label, confidence = interval_label(window, self.class_names)
        start = self._times.get(onset, row["onset_s"])
        apex = self._times.get(int(row["apex_frame"]), row["apex_s"])
        duration = float(row["duration_s"])
        if onset in self._times and offset in self._times and offset > onset:
            # The stream's own clock: a slower camera than fps_hint stretches every frame.
            span = self._times[offset] - self._times[onset]
            duration = span * (offset - onset + 1) / (offset - onset)
        event = LiveEvent(float(start), label, confidence, duration, str(row["kind"]), face_id, float(apex),
                          float(row["peak_motion"]), aus, rule, read)
        self._events.append(event)
        self._intervals.append({**row, "face_id": event.face_id, "label": label, "confidence": confidence,
                                "aus": aus, "rule_label": rule})
        return event

    def _draw_common(self, out: np.ndarray) -> None:
        row = 0
        if self.card.synthetic:
            draw_notice(out, SYNTHETIC_NOTICE, row=row)
            row += 1
        if self._events:
            last = self._events[-1]
            draw_notice(out, f"events: {len(self._events)}  last: {last.label} at {last.time_s:.1f} s",
                        row=row + 1, colour=(255, 170, 0))
        values = np.nan_to_num(np.asarray(self._trace, dtype=np.float64), nan=0.0)
        draw_motion_trace(out, values, self.spotting.min_motion)


def _area(box: tuple[float, float, float, float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _safe_copy(frame) -> np.ndarray | None:
    try:
        array = np.asarray(frame)
        if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3 and array.size:
            return array.copy()
    except Exception:  # noqa: BLE001 - the frame itself may be what is broken
        return None
    return None
