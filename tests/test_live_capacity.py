"""Several live streams on one server: frames are admitted first come, first served, a frame never waits longer
than its bound, a stream beyond capacity skips frames (and counts them) instead of holding up the others."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import av
import numpy as np

from larnet_core.video import LiveAnalyzer
from larnet_core.video.stream import FrameSlots, LiveStream


def _frame(index: int) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 90, np.uint8), format="rgb24").reformat(format="yuv420p")
    frame.pts, frame.time_base = index, Fraction(1, 30)
    return frame


def test_a_waiting_stream_is_served_before_one_that_comes_back():
    slots = FrameSlots(1)
    assert slots.acquire(0.0)
    served = []
    waiter = threading.Thread(target=lambda: served.append(slots.acquire(2.0)))
    waiter.start()
    time.sleep(0.1)  # the second stream is now waiting in line
    slots.release()
    # The first stream comes straight back for its next frame: the waiting stream goes first.
    assert not slots.acquire(0.0)
    waiter.join(timeout=5)
    assert served == [True]
    slots.release()
    assert slots.acquire(0.0)


def test_no_frame_waits_longer_than_its_bound():
    slots = FrameSlots(1)
    assert slots.acquire(0.0)
    started = time.perf_counter()
    assert not slots.acquire(0.05)
    assert time.perf_counter() - started < 1.0


def test_a_stream_over_capacity_skips_frames_and_says_so(lite_predictor):
    slots = FrameSlots(1)
    stream = LiveStream(LiveAnalyzer(lite_predictor, fps_hint=30.0), slots, max_wait_s=0.01)
    out, result = stream.process(_frame(0))
    assert result is not None and isinstance(out, av.VideoFrame) and out.format.name == "rgb24"
    assert slots.acquire(0.0)  # another stream holds the only slot
    frame = _frame(1)
    out, result = stream.process(frame)
    assert result is None and out is frame  # passed through unanalysed, at once
    assert (stream.frames_in, stream.frames_analysed, stream.frames_skipped) == (2, 1, 1)
    assert stream.skipped_share == 0.5
    slots.release()
    assert stream.process(_frame(2))[1] is not None


def test_the_capacity_benchmark_runs_through_the_page_path(capsys):
    from larnet_core.cli import main

    assert main(["bench", "live_streams", "--streams", "1", "--seconds", "0.5", "--no-codec"]) == 0
    out = capsys.readouterr().out
    assert "1 stream(s): analysed fps per stream" in out and "estimated from CPU time" in out


def test_the_stage_trace_records_every_frame_when_asked(lite_predictor, tmp_path, monkeypatch):
    import json

    from larnet_core.video.stream import TRACE_ENV

    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv(TRACE_ENV, str(trace))
    slots = FrameSlots(1)
    stream = LiveStream(LiveAnalyzer(lite_predictor, fps_hint=30.0), slots, max_wait_s=0.01)
    for index in range(3):
        stream.process(_frame(index))
    assert slots.acquire(0.0)
    stream.process(_frame(3))  # skipped: no slot
    slots.release()
    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    frames = [row for row in rows if "callback" in row]
    assert len(frames) == 3 and sum(1 for row in rows if row.get("skipped")) == 1
    for row in frames:
        assert row["callback"] >= row["analyse"] >= 0 and row["to_rgb"] >= 0 and row["from_rgb"] >= 0
    names = [row["threads"] for row in rows if "threads" in row]
    assert names and threading.current_thread().name in names[0].values()


def test_no_trace_is_written_unless_asked(lite_predictor, tmp_path, monkeypatch):
    from larnet_core.video.stream import TRACE_ENV

    monkeypatch.delenv(TRACE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    stream = LiveStream(LiveAnalyzer(lite_predictor, fps_hint=30.0), FrameSlots(1))
    stream.process(_frame(0))
    assert stream._trace is None and list(tmp_path.iterdir()) == []
