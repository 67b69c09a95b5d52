"""The live page's per-frame path for one WebRTC stream, and the admission that keeps several streams fair.

streamlit-webrtc gives each stream a worker thread that hands the callback the newest frame (older ones are
dropped while the callback is busy). :class:`LiveStream` is that callback's body: convert the frame to RGB,
run :meth:`LiveAnalyzer.process`, convert the annotated result back. Every stream of the process shares one
:class:`FrameSlots`: at most one frame per CPU core is analysed at a time, and a frame that finds no slot
within about one frame interval is passed through unanalysed and counted as skipped. A stream beyond the
server's capacity therefore degrades (fewer analysed frames, and the page says so) and never slows the others:
no stream waits longer than one frame interval, and streams queue for slots first come, first served.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from typing import Any

import numpy as np

__all__ = ["FrameSlots", "LiveStream", "default_slots", "shared_slots", "SLOTS_ENV", "TRACE_ENV"]

#: Overrides the number of frames analysed at once by all streams of the process.
SLOTS_ENV = "LARNET_LIVE_SLOTS"
#: A file path: every frame's stage times are appended to it as one JSON line (``scripts/bench_live_page.py``).
TRACE_ENV = "LARNET_LIVE_TRACE"
_SKIP_WINDOW = 60  # frames over which the skipped share is reported


def default_slots() -> int:
    """Frames analysed at once: ``$LARNET_LIVE_SLOTS``, else the CPU cores this process may use."""
    configured = os.environ.get(SLOTS_ENV, "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class FrameSlots:
    """A fair, bounded-wait counting semaphore: first come, first served, and nobody waits past ``timeout``.

    A plain semaphore lets the stream that just released a slot take it straight back for its next frame, so
    two streams can hold two slots forever while a third gets nothing; here a stream that comes back queues
    behind those already waiting.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots = int(slots)
        self._free = int(slots)
        self._waiting: deque[object] = deque()
        self._cond = threading.Condition()

    def acquire(self, timeout: float) -> bool:
        """Take a slot, waiting at most ``timeout`` seconds in line; False when none came free in time."""
        with self._cond:
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return True
            ticket = object()
            self._waiting.append(ticket)
            deadline = time.monotonic() + timeout
            while True:
                if self._waiting[0] is ticket and self._free > 0:
                    self._waiting.popleft()
                    self._free -= 1
                    self._cond.notify_all()
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._waiting.remove(ticket)
                    self._cond.notify_all()
                    return False
                self._cond.wait(remaining)

    def release(self) -> None:
        with self._cond:
            self._free = min(self.slots, self._free + 1)
            self._cond.notify_all()


_SHARED: FrameSlots | None = None
_SHARED_LOCK = threading.Lock()


def shared_slots() -> FrameSlots:
    """The process-wide slots every live stream shares (created on first use with :func:`default_slots`)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = FrameSlots(default_slots())
        return _SHARED


class LiveStream:
    """One stream's frame callback: ``av.VideoFrame`` in, annotated ``av.VideoFrame`` and the analysis out.

    Args:
        analyzer: a :class:`larnet_core.video.LiveAnalyzer` for this stream.
        slots: the slots shared by all streams (default :func:`shared_slots`).
        max_wait_s: the longest a frame waits for a slot before it is passed through unanalysed (about one
            frame interval of a 30 fps camera).

    Attributes:
        frames_in, frames_analysed, frames_skipped: counts since the stream started.
    """

    def __init__(self, analyzer, slots: FrameSlots | None = None, max_wait_s: float = 0.033) -> None:
        self.analyzer = analyzer
        self.slots = slots or shared_slots()
        self.max_wait_s = float(max_wait_s)
        self.frames_in = self.frames_analysed = self.frames_skipped = 0
        self._recent: deque[bool] = deque(maxlen=_SKIP_WINDOW)
        self._lock = threading.Lock()
        # One YUV -> RGB converter for all the stream's frames: VideoFrame.to_ndarray makes a converter of its own
        # for every new frame (a third of the conversion's time); the same conversion, so the same pixels.
        self._reformatter = None
        self._reformatter_lock = threading.Lock()
        trace = os.environ.get(TRACE_ENV, "").strip()
        self._trace = open(trace, "a", buffering=1, encoding="utf-8") if trace else None  # noqa: SIM115

    def write_trace(self, **stages: float) -> None:
        """One frame's stage times (ms) and its start (monotonic s), when ``$LARNET_LIVE_TRACE`` names a file."""
        if self._trace is not None:
            self._trace.write(json.dumps(stages) + "\n")

    @property
    def skipped_share(self) -> float:
        """Share of the last frames passed through unanalysed because the server was at capacity."""
        with self._lock:
            return sum(self._recent) / len(self._recent) if self._recent else 0.0

    def _count(self, skipped: bool) -> None:
        with self._lock:
            self.frames_in += 1
            self.frames_skipped += skipped
            self.frames_analysed += not skipped
            self._recent.append(skipped)

    def _to_rgb(self, frame: Any) -> np.ndarray:
        """``frame.to_ndarray(format="rgb24")`` with the stream's own converter."""
        from av.video.reformatter import VideoReformatter  # lazy: PyAV only when a WebRTC frame arrives

        with self._reformatter_lock:
            if self._reformatter is None:
                self._reformatter = VideoReformatter()
            return self._reformatter.reformat(frame, format="rgb24").to_ndarray()

    def process(self, frame: Any) -> tuple[Any, Any]:
        """Analyse one ``av.VideoFrame`` when a slot is free in time.

        Returns:
            ``(frame to send back, LiveResult)``, or ``(the input frame, None)`` when the frame was skipped
            (the server is at capacity) or could not be converted. Never raises.
        """
        import av  # lazy: PyAV only when a live frame is converted

        arrived = time.perf_counter()
        if not self.slots.acquire(self.max_wait_s):
            self._count(skipped=True)
            self.write_trace(start=time.monotonic(), skipped=1.0)
            return frame, None
        got_slot = time.perf_counter()
        try:
            try:
                image = self._to_rgb(frame)
            except Exception:  # noqa: BLE001 - an undecodable frame must not end the stream
                self._count(skipped=True)
                return frame, None
            converted = time.perf_counter()
            # process() never raises: a failure is logged, reported in result.error and written on the frame.
            annotated, result = self.analyzer.process(image, frame.time)
            analysed = time.perf_counter()
            out = av.VideoFrame.from_ndarray(np.ascontiguousarray(annotated), format="rgb24")
        finally:
            self.slots.release()
        self._count(skipped=False)
        if self._trace is not None:
            done = time.perf_counter()
            if self.frames_in % 90 == 1:  # which thread is which, for per-thread CPU time read from /proc
                self.write_trace(start=time.monotonic(), threads={t.native_id: t.name for t in threading.enumerate()})
            self.write_trace(start=time.monotonic() - (done - arrived), slot_wait=1e3 * (got_slot - arrived),
                              to_rgb=1e3 * (converted - got_slot), analyse=1e3 * (analysed - converted),
                              analyser_latency=float(result.latency_ms), from_rgb=1e3 * (done - analysed),
                              callback=1e3 * (done - arrived))
        return out, result
