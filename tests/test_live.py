"""LiveAnalyzer: per-frame results, online micro-expression events, errors that do not stop the stream,
thread safety and the overlay."""

from __future__ import annotations

import dataclasses
import threading

import cv2
import numpy as np
import pandas as pd
import pytest

from larnet_core.video import LiveAnalyzer, LiveEvent, LiveResult

CLASSES = ["happiness", "surprise", "others"]
FPS = 30


@pytest.fixture(scope="module")
def predictor(lite_predictor):
    return lite_predictor


@pytest.fixture(scope="module")
def webcam():
    """640x480 frames of a real photo (Grace Hopper) showing one micro-expression, and its truth."""
    from larnet_core.face import sample_face_photos
    from larnet_core.synth import make_sample_clip

    photo = cv2.resize(sample_face_photos()["grace_hopper"], (400, 469), interpolation=cv2.INTER_AREA)
    frames, truth = make_sample_clip(photo, "surprise", seed=5, fps=FPS, seconds=4.0)
    canvas = np.full((480, 640, 3), 40, np.uint8)
    placed = []
    for frame in frames:
        image = canvas.copy()
        image[5:474, 120:520] = frame
        placed.append(image)
    return placed, truth


def test_stream_gives_results_and_one_event_at_the_expression(predictor, webcam):
    frames, truth = webcam
    analyzer = LiveAnalyzer(predictor, fps_hint=FPS)
    results = []
    for frame in frames:
        out, result = analyzer.process(frame)
        assert out.shape == frame.shape and out.dtype == np.uint8
        results.append(result)
    assert all(isinstance(r, LiveResult) and r.error is None for r in results)
    assert [r.frame_index for r in results] == list(range(len(frames)))
    with_face = [r for r in results if r.box is not None]
    assert len(with_face) >= len(frames) - 2
    last = with_face[-1]
    assert last.label in CLASSES and last.probabilities[last.label] == pytest.approx(last.confidence)
    assert sum(last.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    analyzer.finish()  # the clip ends half a second after the expression: settle the last frames
    events = analyzer.events
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, LiveEvent) and event.label in CLASSES
    assert abs(event.time_s - truth.onset / FPS) < 0.15
    assert 1 / 25 <= event.duration_s <= 0.5
    reported = [r for r in results if r.event is not None]
    # Reported after it ends: on a later frame, or when the stream stopped (this clip ends soon after it).
    assert len(reported) <= 1 and all(r.time_s > event.time_s + event.duration_s for r in reported)
    # A frame's motion is final reference_s (9 frames) after it: the peak shows up that much later.
    peak = max(results, key=lambda r: np.nan_to_num(r.motion, nan=-1.0))
    assert truth.onset - 2 <= peak.frame_index <= truth.offset + 12 + 9


def test_a_failing_frame_is_reported_and_the_stream_goes_on(predictor, webcam):
    frames, _ = webcam
    analyzer = LiveAnalyzer(predictor, fps_hint=FPS)
    analyzer.process(frames[0])
    out, bad = analyzer.process(np.zeros((10, 10), np.float32))
    assert bad.error is not None and "dtype float32" in bad.error and bad.box is None
    blanks = [analyzer.process(np.zeros((480, 640, 3), np.uint8))[1] for _ in range(8)]  # the track gives up
    assert all(r.error is None for r in blanks)
    assert blanks[-1].box is None and blanks[-1].label is None and blanks[-1].probabilities == {}
    out, good = analyzer.process(frames[1])
    assert good.error is None and good.box is not None and good.frame_index == 10


def test_one_analyzer_is_safe_to_share_between_threads(predictor, webcam):
    frames, _ = webcam
    analyzer = LiveAnalyzer(predictor, fps_hint=FPS)
    results: list[LiveResult] = []
    lock = threading.Lock()

    def feed(chunk):
        for frame in chunk:
            _, result = analyzer.process(frame)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=feed, args=(frames[i:i + 12],)) for i in (0, 12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.frame_index for r in results) == list(range(24))
    assert all(r.error is None for r in results)


def test_overlay_says_when_the_model_is_synthetic(predictor, webcam):
    frames, _ = webcam
    plain = LiveAnalyzer(predictor, fps_hint=FPS)
    demo = LiveAnalyzer(predictor, fps_hint=FPS)
    demo.card = dataclasses.replace(demo.card, synthetic=True)
    out_plain, _ = plain.process(frames[0])
    out_demo, _ = demo.process(frames[0])
    assert not np.array_equal(out_plain, frames[0])  # box and bars drawn
    strip = slice(440, 480), slice(0, 300)           # bottom-left, where notices go
    assert not np.array_equal(out_plain[strip], out_demo[strip])
    undrawn = LiveAnalyzer(predictor, fps_hint=FPS, draw=False)
    out, result = undrawn.process(frames[0])
    assert np.array_equal(out, frames[0]) and result.box is not None


def test_time_stamps_of_a_slower_stream_are_used(predictor, webcam):
    """A 15 fps stream with its real time stamps, analysed by an analyzer told to expect 30 fps."""
    frames, truth = webcam
    analyzer = LiveAnalyzer(predictor, fps_hint=FPS)
    for i, frame in enumerate(frames[::2]):
        _, result = analyzer.process(frame, time_s=2 * i / FPS)
        assert result.time_s == pytest.approx(2 * i / FPS)
    analyzer.finish()
    assert len(analyzer.events) == 1
    assert 0.15 <= analyzer.events[0].duration_s <= 0.5  # measured on the stream's clock, not fps_hint
    assert abs(analyzer.events[0].time_s - truth.onset / FPS) < 0.2


def test_live_and_clip_spot_the_same_intervals_on_the_same_frames(predictor, webcam, tmp_path):
    """The same frames as a stream and as a clip (lossless PNG frames): the same intervals, frames and labels."""
    from larnet_core.video import analyze_clip

    frames, truth = webcam
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    clip = analyze_clip(folder, predictor, fps=FPS, max_infer_fps=None)
    analyzer = LiveAnalyzer(predictor, fps_hint=FPS, max_infer_fps=None, async_model=False, draw=False)
    for frame in frames:
        analyzer.process(frame)
    analyzer.finish()
    spotted = [(int(r.onset_frame), int(r.apex_frame), int(r.offset_frame), r.kind, r.label)
               for r in clip.intervals.itertuples()]
    live = [(round(e.time_s * FPS), round(e.apex_s * FPS), round((e.time_s + e.duration_s) * FPS) - 1, e.kind,
             e.label) for e in analyzer.events]
    assert spotted and live == spotted
    # The live result carries them as a clip's interval table. (Its confidence is the mean of the stream's
    # per-frame outputs over the interval; a clip's is the model's output on the interval's own onset -> apex
    # input, read again from the file, so only the frames and kinds must agree exactly.)
    columns = ["onset_frame", "apex_frame", "offset_frame", "kind"]
    pd.testing.assert_frame_equal(analyzer.intervals[columns], clip.intervals[columns])
    assert list(analyzer.intervals.columns) == list(clip.intervals.columns)
    assert abs(spotted[0][0] - truth.onset) <= 4


def test_live_drops_a_micro_interval_inside_a_macro_one_as_a_clip_does():
    """Streamed signals of both scales give exactly the clip's intervals: a micro movement inside a macro
    expression is part of it, a lone one is its own interval."""
    from larnet_core.video.spotting import SpottingParams, spot_expressions
    from larnet_core.video.stream_spotting import TwoScaleStreamingSpotter

    fps, n = 30.0, 360
    rng = np.random.default_rng(0)
    micro = 0.02 + 0.01 * rng.random(n)
    macro = 0.02 + 0.01 * rng.random(n)
    micro[100:106] += 0.9                 # a lone micro-expression (0.2 s)
    macro[200:245] += 1.0                 # a macro-expression (1.5 s) ...
    micro[215:221] += 1.2                 # ... with a quick movement inside it
    segments = np.zeros(n, dtype=np.int64)
    params = SpottingParams()
    whole = spot_expressions(micro, macro, fps, params, segments)
    assert list(whole["kind"]) == ["micro", "macro"]
    spotter = TwoScaleStreamingSpotter(fps, params)
    streamed = []
    for i in range(n):
        spotter.push(i, "micro", micro[i], 0)
        if i >= 12:  # the macro signal is final later than the micro one (a longer reference)
            spotter.push(i - 12, "macro", macro[i - 12], 0)
        streamed += spotter.poll()
    for i in range(n - 12, n):
        spotter.push(i, "macro", macro[i], 0)
    streamed += spotter.flush()
    assert pd.DataFrame(streamed)[list(whole.columns)].equals(whole)
