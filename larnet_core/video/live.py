"""Live video: analyse a stream frame by frame (a webcam through the dashboard's /live page).

Per frame, :meth:`LiveAnalyzer.process` tracks the face (:class:`~larnet_core.face.FaceTrack`), crops it, runs
the model (for ``flow`` models on the flow image against the crop from ``reference_s`` earlier), measures
facial motion against that same earlier frame, spots micro-expression events online and draws the results
on a copy of the frame.

Online spotting uses the clip pipeline's signal with a delay: the motion of frame ``t - k`` counts as the
smaller of its movement against frame ``t - 2k`` and against frame ``t`` (``k`` = ``reference_s``), so a brief
expression stands out and a lasting change does not. An event opens when that signal rises above
``max(min_motion, median + z * MAD)`` of the last seconds, closes when it falls back, and is reported when it
lasted 1/25 to 1/2 s (a micro-expression), labelled with the model's mean probabilities over its frames.
Events are therefore reported about ``reference_s`` after they end.

A failure while processing one frame is logged and written on that frame; the stream goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from larnet_core.video.motion import MotionConfig, face_patch, region_motion
from larnet_core.video.overlay import SYNTHETIC_NOTICE, draw_face_result, draw_motion_trace, draw_notice
from larnet_core.video.spotting import MICRO_MAX_S, MICRO_MIN_S

__all__ = ["LiveEvent", "LiveResult", "LiveAnalyzer"]

log = logging.getLogger(__name__)

_CROP_MARGIN = 0.2
_BASELINE_S = 8.0
_TRACE_S = 6.0
_WARMUP_S = 1.0   # seconds of signal the baseline needs before events can open
_MOVE_IOU = 0.8   # the crop box follows the track once they overlap less than this


@dataclass(frozen=True)
class LiveEvent:
    """A micro-expression spotted in the stream.

    Attributes:
        time_s: when it started (stream seconds).
        label: most probable class over its frames.
        confidence: that class's mean probability.
        duration_s: how long it lasted.
    """

    time_s: float
    label: str
    confidence: float
    duration_s: float


@dataclass(frozen=True)
class LiveResult:
    """What one processed frame gave.

    Attributes:
        frame_index: 0-based count of frames given to :meth:`LiveAnalyzer.process`.
        time_s: stream time of the frame.
        box: face box ``(x0, y0, x1, y1)`` in frame pixels, or None without a face.
        label, confidence: the model's top class for this frame and its probability (None without a face).
        probabilities: every class's probability (empty without a face).
        motion: facial motion against the frame ``reference_s`` earlier, pixels of a 96-pixel face crop.
        latency_ms: processing time of this frame.
        event: the event that was completed at this frame, if any.
        error: what went wrong on this frame, or None.
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


class _RegionFirstDetector:
    """Looks for the face near where it was first (a small, cheap search), then in the whole frame.

    A full-frame Haar search of a 640x480 frame costs several times a model call; the region around the
    last box, shrunk so the face is about 80 pixels tall, is searched in a few milliseconds. Only when that
    finds nothing is the whole frame searched.
    """

    def __init__(self, full) -> None:
        from larnet_core.face import HaarFaceDetector

        self.full = full
        self.near = HaarFaceDetector(max_side=160, min_size=40) if getattr(full, "name", "") == "haar" else None
        self.hint: tuple[float, float, float, float] | None = None

    def detect(self, image: np.ndarray):
        if self.near is not None and self.hint is not None:
            x0, y0, x1, y1 = self.hint
            pad_x, pad_y = 0.5 * (x1 - x0), 0.5 * (y1 - y0)
            h, w = image.shape[:2]
            left, top = int(max(0, x0 - pad_x)), int(max(0, y0 - pad_y))
            right, bottom = int(min(w, x1 + pad_x)), int(min(h, y1 + pad_y))
            if right - left >= 48 and bottom - top >= 48:
                found = self.near.detect(image[top:bottom, left:right])
                if found:
                    return [_shifted(d, left, top) for d in found]
        return self.full.detect(image)


def _shifted(detection, dx: float, dy: float):
    from larnet_core.face import FaceDetection

    x0, y0, x1, y1 = detection.box
    landmarks = None if detection.landmarks is None else detection.landmarks + np.array([dx, dy])
    return FaceDetection((x0 + dx, y0 + dy, x1 + dx, y1 + dy), detection.score, landmarks)


class LiveAnalyzer:
    """Frame-by-frame analysis of one live stream. Thread-safe: calls on one instance are serialised.

    Args:
        predictor: a :class:`larnet_core.inference.Predictor` (may be shared between analyzers).
        detector: face detector for the track; default a Haar detector.
        fps_hint: frame rate used for timing when ``process`` gets no time stamp.
        reference_s: time between a frame and its motion (and flow) reference.
        z: how many MADs above the recent median the motion must rise to open an event.
        min_motion: the motion an event needs at least, whatever the recent level.
        max_events: events kept (oldest dropped first).
        draw: draw the overlay on the returned frame (False returns the frame unchanged, a little faster).
    """

    def __init__(self, predictor, detector=None, fps_hint: float = 30.0, *, reference_s: float = 0.3,
                 z: float = 6.0, min_motion: float = 0.12, max_events: int = 500, draw: bool = True,
                 motion: MotionConfig | None = None) -> None:
        from larnet_core.face import FaceTrack, build_detector

        if fps_hint <= 0:
            raise ValueError(f"fps_hint must be positive, got {fps_hint}")
        self.predictor = predictor
        self.card = predictor.card
        self.class_names = list(self.card.class_names)
        self.detector = detector if detector is not None else build_detector("haar")
        self._search = _RegionFirstDetector(self.detector)
        self.track = FaceTrack(self._search)
        self.fps_hint = float(fps_hint)
        self.reference_s = float(reference_s)
        self.z, self.min_motion = float(z), float(min_motion)
        self.draw = draw
        self.motion_config = motion or MotionConfig()
        self._weights = np.array([self.motion_config.weights.get(n, 0.0) for n in ("brows", "eyes", "nose", "mouth")],
                                 dtype=np.float32)
        self._lock = threading.Lock()
        self._events: deque[LiveEvent] = deque(maxlen=max_events)
        self._reset_state()

    def _reset_state(self) -> None:
        self._index = 0
        # (time, grey patch, model crop, movement against its own reference frame)
        self._history: deque[tuple[float, np.ndarray, np.ndarray, float]] = deque()
        self._last_scored = float("-inf")                     # time of the last frame the delayed signal scored
        self._signal: deque[float] = deque()                   # delayed spotting signal, for the baseline
        self._trace: deque[float] = deque()
        self._probs: deque[tuple[float, np.ndarray]] = deque()
        self._open: dict | None = None
        self._last_probs: np.ndarray | None = None
        self._box: tuple[float, float, float, float] | None = None

    # -- public ---------------------------------------------------------------------------------------------
    @property
    def events(self) -> list[LiveEvent]:
        """Events spotted so far, oldest first (a copy)."""
        with self._lock:
            return list(self._events)

    def reset(self) -> None:
        """Forget the face, the motion history and the events (a new stream)."""
        with self._lock:
            self.track.reset()
            self._events.clear()
            self._reset_state()

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
                result = LiveResult(index, now, None, None, None, {}, 0.0,
                                    (time.perf_counter() - start) * 1000.0, None, message)
                return (out if out is not None else frame_rgb), result
            return out, result

    # -- internals --------------------------------------------------------------------------------------------
    def _process(self, frame: np.ndarray, index: int, now: float, start: float) -> tuple[np.ndarray, LiveResult]:
        from larnet_core.face import as_rgb_uint8, crop_face

        frame = as_rgb_uint8(frame, f"live frame {index}")
        current = self.track.current
        self._search.hint = None if current is None else current.box
        detection = self.track.update(frame)
        event = None
        if detection is None:
            self._history.clear()
            self._open = None
            self._box = None
            out = frame.copy() if self.draw else frame
            if self.draw:
                draw_notice(out, "no face", row=1)
                self._draw_common(out)
            return out, LiveResult(index, now, None, None, None, {}, 0.0, (time.perf_counter() - start) * 1000.0)
        box = self._motion_box(detection.box)
        size = int(self.card.input_size)
        crop = crop_face(frame, box, output_size=(size, size), margin=_CROP_MARGIN).image
        patch = face_patch(frame, box, self.motion_config.size)
        reference = self._reference(now)
        if self.card.sample_mode == "flow":
            from larnet_core.data.flow import compute_flow_image

            model_input = compute_flow_image(reference[2] if reference else crop, crop, size)
        else:
            model_input = crop
        probs = self.predictor.predict_proba([model_input])[0]
        move = float((region_motion(reference[1], patch) * self._weights).max()) if reference else 0.0
        self._history.append((now, patch, crop, move))
        self._probs.append((now, probs))
        self._trace.append(move)
        self._trim(now)
        event = self._spot(reference, move)
        self._last_probs = probs
        top = int(np.argmax(probs))
        out = frame.copy() if self.draw else frame
        if self.draw:
            draw_face_result(out, box, self.class_names, probs, highlight=self._open is not None)
            self._draw_common(out)
        result = LiveResult(index, now, tuple(float(v) for v in box), self.class_names[top], float(probs[top]),
                            {n: float(p) for n, p in zip(self.class_names, probs)}, move,
                            (time.perf_counter() - start) * 1000.0, event)
        return out, result

    def _motion_box(self, tracked: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """The box crops are cut from: held still while the track moves a little, so detector jitter (a few
        per cent of the box, as large as a micro-expression on a 96-pixel crop) adds no motion; moved, and the
        motion history restarted, when the face has really moved."""
        from larnet_core.face import box_iou

        if self._box is None or box_iou(self._box, tracked) < _MOVE_IOU:
            self._box = tuple(float(v) for v in tracked)
            self._history.clear()
            self._open = None
        return self._box

    def _reference(self, now: float):
        """The stored frame closest to ``reference_s`` before now, or None when the history is too short."""
        target = now - self.reference_s
        best = None
        for entry in self._history:
            if entry[0] <= target + 0.5 / self.fps_hint:
                best = entry
            else:
                break
        return best

    def _trim(self, now: float) -> None:
        while self._history and self._history[0][0] < now - self.reference_s - 1.0:
            self._history.popleft()
        while self._probs and self._probs[0][0] < now - MICRO_MAX_S - 2 * self.reference_s - 1.0:
            self._probs.popleft()
        keep = int(_TRACE_S * self.fps_hint)
        while len(self._trace) > keep:
            self._trace.popleft()
        while len(self._signal) > int(_BASELINE_S * self.fps_hint):
            self._signal.popleft()

    def _threshold(self) -> float:
        if len(self._signal) < max(5, int(_WARMUP_S * self.fps_hint)):
            return float("inf")
        values = np.asarray(self._signal)
        median = float(np.median(values))
        mad = float(np.median(np.abs(values - median)))
        return max(self.min_motion, median + self.z * max(mad, 1e-3))

    def _spot(self, reference, move: float) -> LiveEvent | None:
        """Score the reference frame now that its successor ``reference_s`` later (this frame) is known, and
        advance the event state; return an event that just completed.

        The reference frame moved ``reference[3]`` against its own reference and ``move`` against this frame:
        the smaller of the two is its two-sided signal, whatever the stream's actual frame rate.
        """
        if reference is None or reference[0] <= self._last_scored:
            return None
        t_mid = self._last_scored = reference[0]
        value = min(reference[3], move)
        threshold = self._threshold()
        self._signal.append(value)
        if self._open is None:
            if value > threshold:
                self._open = {"start": t_mid, "peak": value}
            return None
        self._open["peak"] = max(self._open["peak"], value)
        if value > max(self._open["peak"] * 0.25, min(threshold, self._open["peak"]) * 0.5):
            if t_mid - self._open["start"] > MICRO_MAX_S * 2:  # a long movement: not a micro-expression
                self._open = None
            return None
        start, self._open = self._open["start"], None
        duration = t_mid - start
        if not MICRO_MIN_S - 1e-6 <= duration <= MICRO_MAX_S + 0.5 / self.fps_hint:
            return None
        window = [p for t, p in self._probs if start <= t <= t_mid]
        if not window:
            return None
        mean = np.mean(window, axis=0)
        top = int(np.argmax(mean))
        event = LiveEvent(float(start), self.class_names[top], float(mean[top]), float(duration))
        self._events.append(event)
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
        threshold = self._threshold()
        draw_motion_trace(out, list(self._trace), None if not np.isfinite(threshold) else threshold)


def _safe_copy(frame) -> np.ndarray | None:
    try:
        array = np.asarray(frame)
        if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3 and array.size:
            return array.copy()
    except Exception:  # noqa: BLE001 - the frame itself may be what is broken
        return None
    return None
