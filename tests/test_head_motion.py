"""Head motion compensated in 3-D, on footage of real photos: turns and nods alone spot nothing; expressions of
known action units are spotted through a turn or a nod, with the right AUs and FACS-rule label; live agrees."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from larnet_core.aus.names import AU_COLUMNS
from larnet_core.synth.footage import make_footage, write_footage
from larnet_core.video.analysis import analyze_clip
from larnet_core.training.spotting_scores import interval_iou
from live_feed import stream_file
from markers import needs_mediapipe

pytestmark = needs_mediapipe


@functools.lru_cache(maxsize=None)
def _footage(tmp: str, **options):
    if isinstance(options.get("aus"), tuple):  # hashable for the cache, a dict for the generator
        options = {**options, "aus": dict(options["aus"])}
    footage = make_footage(**options)
    name = "-".join(f"{k}{v}" for k, v in sorted(options.items()) if k != "name").replace(" ", "")
    return write_footage(f"{tmp}/{options['name']}-{name}.mp4", footage.frames, 30.0), footage.truth


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return str(tmp_path_factory.mktemp("head_motion"))


def test_turns_and_nods_without_expression_spot_nothing_and_are_not_blanked(tmp, lite_predictor):
    path, truth = _footage(tmp, name="head_turn_and_nod", seconds=5.0, seed=3)
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=5.0)
    frames = analysis.frames
    assert analysis.intervals.empty
    assert frames["pose_yaw"].notna().all() and frames["pose_pitch"].notna().all()
    moving = [m for m in truth.head_movements]
    inside = np.zeros(len(frames), dtype=bool)
    for move in moving:
        inside[move.start:move.end + 1] = True
    # The head movements are measured (compensated), not set aside: at most a few frames at the fastest point.
    assert (frames.loc[inside, "excluded"] != "").mean() < 0.3
    assert frames.loc[inside, "head_moving"].any()  # the old test would have blanked them


@pytest.mark.parametrize("kind, movement", [("micro", "turn"), ("micro", "nod"), ("macro", "turn"),
                                            ("micro", None)])
def test_a_smile_is_spotted_through_head_movement_with_its_units_and_rule(tmp, lite_predictor, kind, movement):
    path, truth = _footage(tmp, name="expression_while_moving", kind=kind, movement=movement, photo="astronaut",
                           seconds=3.0 if kind == "micro" else 4.0, aus=None)
    expression = truth.expressions[0]
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10.0)
    hits = [r for r in analysis.intervals.itertuples()
            if interval_iou((r.onset_frame, r.offset_frame), (expression.onset, expression.offset)) >= 0.3]
    assert len(hits) == 1, analysis.intervals
    hit = hits[0]
    assert hit.kind == kind
    assert {"AU6", "AU12"} <= set(hit.aus.split("+"))
    assert hit.rule_label.startswith("EMFACS happiness") and hit.rule_label.endswith("objective class I")
    assert len(analysis.intervals) == 1  # the movement itself is not spotted
    frames = analysis.frames
    au12 = frames["AU12"].to_numpy()
    assert au12[expression.apex] > np.nanmedian(au12) + 0.3  # the per-frame estimate rises at the apex too
    assert analysis.prediction.source == "interval"


def test_live_reports_pose_units_and_events_with_their_units(tmp, lite_predictor):
    from larnet_core.video.live import LiveAnalyzer

    path, truth = _footage(tmp, name="expression_while_moving", kind="micro", movement="turn", photo="astronaut",
                           seconds=3.0, aus=None)
    analyzer = LiveAnalyzer(lite_predictor, fps_hint=30.0, async_model=False, draw=False)
    results = stream_file(analyzer, path, 30.0)
    assert any(r.pose is not None for r in results)
    last = next(r for r in reversed(results) if r.aus)
    assert set(last.aus) == set(AU_COLUMNS)
    expression = truth.expressions[0]
    spotted = [e for e in analyzer.events if abs(e.apex_s - expression.apex / 30.0) < 0.25]
    assert spotted and "AU12" in spotted[0].aus.split("+")
    assert len(analyzer.events) == 1


# Two combinations the estimator does not read right on this photo. The clip read them right only through a second,
# static-image mesh detection on the re-read frames; live, reading the tracked meshes, never did, and the clip now
# reads the tracked meshes too (the same units as live on the same frames).
_NOD_LOSES_AU7 = pytest.mark.xfail(strict=True, reason=(
    "AU7 reads 0.45 (< 0.6) at the spotted apex, frame 45 (rendered apex 44), against neutral frame 37: the nod's "
    "compensation in the AU flow halves it (0.90 on the same frames without the nod); static re-detected meshes "
    "read 0.61, the tracked ones at frame 44 0.71. AU4 alone (0.86; AU25 0.59 stays under the level) makes the rule "
    "EMFACS sadness; objective class III"))
_SADNESS_READS_AU25 = pytest.mark.xfail(strict=True, reason=(
    "AU1+AU15 are read (2.0, 1.4) but AU4 is not (under 0.45), and the lip corners' pull reads as AU20 (2.2) and "
    "AU25 (1.05 over the 0.87 relative cut): objective class II. A still head gives the same on this photo (AU20 "
    "1.7-2.0, AU25 0.9-1.1): the estimator's unmixing, not the turn. Static re-detected meshes read AU24 instead of "
    "AU25, and the rule's tie-break then gave class V"))


@pytest.mark.parametrize("aus, kind, movement, shown, rule", [
    ({1: 1.0, 2: 1.0}, "micro", "turn", {"AU1", "AU2"}, "EMFACS surprise; objective class II"),
    ({1: 1.0, 2: 1.0}, "macro", "nod", {"AU1", "AU2"}, "EMFACS surprise; objective class II"),
    pytest.param({4: 1.0, 7: 1.0}, "micro", "nod", {"AU4", "AU7"}, "EMFACS anger; objective class III",
                 marks=_NOD_LOSES_AU7),
    pytest.param({1: 1.0, 4: 1.0, 15: 1.0}, "macro", "turn", {"AU1", "AU15"}, "EMFACS sadness; objective class V",
                 marks=_SADNESS_READS_AU25),
])
def test_emfacs_combinations_through_head_movement_get_their_rule(tmp, lite_predictor, aus, kind, movement, shown,
                                                                  rule):
    path, truth = _footage(tmp, name="expression_while_moving", kind=kind, movement=movement, photo="astronaut",
                           seconds=3.0 if kind == "micro" else 4.0, aus=tuple(sorted(aus.items())))
    expression = truth.expressions[0]
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10.0)
    assert len(analysis.intervals) == 1, analysis.intervals
    hit = analysis.intervals.iloc[0]
    assert interval_iou((hit.onset_frame, hit.offset_frame), (expression.onset, expression.offset)) >= 0.3
    assert hit.kind == kind and shown <= set(hit.aus.split("+")) and hit.rule_label == rule
