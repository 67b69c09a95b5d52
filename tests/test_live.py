"""LiveAnalyzer: per-frame results, online micro-expression events, errors that do not stop the stream,
thread safety and the overlay."""

from __future__ import annotations

import dataclasses
import threading

import cv2
import numpy as np
import pandas as pd
import pytest

from larnet_core.video import AnalysisSettings, LiveAnalyzer, LiveEvent, LiveResult

CLASSES = ["happiness", "surprise", "others"]
FPS = 30


@pytest.fixture(scope="module")
def predictor(lite_predictor):
    return lite_predictor


@pytest.fixture(scope="module")
def flow_predictor(tmp_path_factory):
    """An untrained flow checkpoint (the model reads the flow from onset to apex) behind a Predictor."""
    from larnet_core.inference import Predictor
    from larnet_core.models import ModelCard, load_checkpoint, save_checkpoint

    card = dataclasses.replace(ModelCard.for_preset("larnet-lite", CLASSES), sample_mode="flow", flow="farneback")
    path = save_checkpoint(card.build(), card, tmp_path_factory.mktemp("flow_model") / "flow.pt")
    return Predictor(load_checkpoint(path))


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


@pytest.mark.parametrize("mode", ["apex", "flow"])
def test_live_and_clip_spot_and_recognise_the_same_intervals_on_the_same_frames(request, mode, webcam, tmp_path):
    """The same frames as a stream and as a clip (lossless PNG frames): the same intervals on the same frames, and
    each labelled the same way (the model on its own onset -> apex input, its action units and FACS rule), for an
    apex checkpoint and a flow one."""
    from larnet_core.video import analyze_clip

    predictor = request.getfixturevalue("predictor" if mode == "apex" else "flow_predictor")
    assert predictor.card.sample_mode == mode

    frames, truth = webcam
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    clip = analyze_clip(folder, predictor, **AnalysisSettings(fps=FPS, max_infer_fps=None).analyze_kwargs())
    analyzer = LiveAnalyzer(predictor, fps_hint=FPS, settings=AnalysisSettings(max_infer_fps=None),
                            async_model=False, draw=False)
    for frame in frames:
        analyzer.process(frame)
    analyzer.finish()
    spotted = [(int(r.onset_frame), int(r.apex_frame), int(r.offset_frame), r.kind, r.label, r.aus, r.rule_label)
               for r in clip.intervals.itertuples()]
    live = [(round(e.time_s * FPS), round(e.apex_s * FPS), round((e.time_s + e.duration_s) * FPS) - 1, e.kind,
             e.label, e.aus, e.rule_label) for e in analyzer.events]
    assert spotted and live == spotted
    from larnet_core.face.mesh import mediapipe_available

    if mediapipe_available():  # with a face mesh both read the action units from the skin's movement
        assert all(aus and rule for *_, aus, rule in spotted)
    # Not the mean of the per-frame outputs over the interval: the model's output on the interval's own input.
    assert clip.prediction.source == "interval"
    assert analyzer.events[0].confidence == pytest.approx(clip.prediction.confidence, abs=1e-5)
    # The live result carries them as a clip's interval table.
    columns = ["onset_frame", "apex_frame", "offset_frame", "kind", "label", "aus", "rule_label"]
    pd.testing.assert_frame_equal(analyzer.intervals[columns], clip.intervals[columns])
    pd.testing.assert_series_equal(analyzer.intervals["confidence"], clip.intervals["confidence"], atol=1e-5)
    assert list(analyzer.intervals.columns) == list(clip.intervals.columns)
    assert abs(spotted[0][0] - truth.onset) <= 4


def test_events_wait_for_their_label_from_the_model_thread(predictor, webcam):
    """With the model on its own thread the event is labelled there, on its onset -> apex input, and reported on
    a later frame: the same label as inline."""
    frames, _ = webcam
    inline = LiveAnalyzer(predictor, fps_hint=FPS, async_model=False, draw=False)
    threaded = LiveAnalyzer(predictor, fps_hint=FPS, draw=False)
    for frame in frames:
        inline.process(frame)
        threaded.process(frame)
    inline.finish()
    threaded.finish()
    assert len(threaded.events) == len(inline.events) == 1
    assert threaded.events[0].label == inline.events[0].label
    assert threaded.events[0].confidence == pytest.approx(inline.events[0].confidence, abs=1e-5)


def test_the_recognition_ring_stays_within_its_bound_on_a_long_stream(predictor, webcam):
    """The ring of recent frames events are labelled from never holds more than its capacity (the longest
    interval plus the reporting delay), however long the stream runs."""
    from larnet_core.video.live_events import ring_frames

    frames, _ = webcam
    analyzer = LiveAnalyzer(predictor, fps_hint=FPS, async_model=False, draw=False)
    capacity = analyzer.ring.capacity
    spotting, spotter = analyzer.spotting, analyzer._spotter
    assert capacity == ring_frames(FPS, spotting, analyzer.motion_config, spotter.micro_hold + spotter.every)
    assert capacity >= (spotting.max_s + analyzer.motion_config.macro_reference_s) * FPS
    assert capacity < 10 * FPS  # seconds, not the whole stream
    per_frame = 3 * predictor.card.input_size ** 2
    sizes = []
    for frame in (frames * 4)[:int(capacity * 1.6)]:  # well past the capacity
        analyzer.process(frame)
        sizes.append(len(analyzer.ring))
    assert max(sizes) == capacity and sizes[-1] == capacity
    # Without a face mesh (this machine's tracker may have none) a frame is its model crop; with one, a little more.
    assert analyzer.ring.nbytes <= capacity * (per_frame + 40_000)


def test_live_takes_the_clips_analysis_settings(predictor):
    from larnet_core.errors import LarnetError

    analyzer = LiveAnalyzer(predictor, fps_hint=FPS, settings=AnalysisSettings(face="none", threshold_p=0.4,
                                                                               max_infer_fps=5.0), draw=False)
    assert analyzer.face_mode == "none" and analyzer.tracker_backend == "none"
    assert analyzer.spotting.p == 0.4 and analyzer.max_infer_fps == 5.0
    recorded = analyzer.settings
    assert recorded["analysis"] == AnalysisSettings(face="none", threshold_p=0.4, max_infer_fps=5.0).to_dict()
    assert recorded["spotting"]["p"] == 0.4 and recorded["face_source"] == "whole-frame"
    with pytest.raises(LarnetError, match="follows one face"):
        LiveAnalyzer(predictor, settings=AnalysisSettings(all_faces=True))
    with pytest.raises(LarnetError, match="unknown face mode"):
        AnalysisSettings(face="webcam")


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


def test_per_frame_results_keep_arriving_while_an_event_is_labelled(predictor, webcam, monkeypatch):
    """An event's label (a flow checkpoint's TV-L1 flow takes tenths of a second) runs on its own thread: while a
    deliberately held event job runs, every frame's own model call still completes and its probabilities arrive;
    the event is reported once its job is let go."""
    import larnet_core.video.live as live

    started, release = threading.Event(), threading.Event()
    label_event = live.run_event_job

    def held_job(*args):
        started.set()
        release.wait(timeout=120)
        return label_event(*args)

    monkeypatch.setattr(live, "run_event_job", held_job)
    frames, _ = webcam
    analyzer = LiveAnalyzer(predictor, fps_hint=FPS, settings=AnalysisSettings(max_infer_fps=None), draw=False)
    stream = frames + [frames[-1]] * 90  # the expression ends near the clip's end: a still face after it
    fed = 0
    while not started.wait(timeout=0) and fed < len(stream) - 30:
        analyzer.process(stream[fed])
        fed += 1
    try:
        assert started.wait(timeout=60), "no event was reported"
        arrived = 0
        for frame in stream[fed:fed + 30]:
            _, result = analyzer.process(frame)
            arrived += bool(result.raw_probabilities)
            inflight = analyzer._inflight
            if inflight is not None:  # the frame's model call finishes while the event job is held
                inflight[2].result(timeout=60)
        assert arrived >= 25 and not analyzer.events  # results kept coming; the event waits for its label
    finally:
        release.set()
    analyzer.finish()
    assert len(analyzer.events) == 1
