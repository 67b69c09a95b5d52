"""Spotting: interval IoU and matching, the MEGC scores (per type, maximal one-to-one), spot-then-recognise,
the baseline on hand-made signals, the facial motion signal, and ``larnet spot-eval`` / ``str-eval`` on generated
long videos in the three long-video layouts."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from larnet_core.video.motion import REGIONS, TEMPLATE_REGIONS, MotionConfig, MotionEngine
from larnet_core.matching import greedy_pairs, maximal_pairs
from larnet_core.training.spotting_scores import (
    SpottingScores,
    interval_iou,
    match_intervals,
    megc_k,
    score_spotting,
    score_str,
    str_class,
)
from larnet_core.video.spotting import (INTERVAL_COLUMNS, MacroSides, SpottingParams, StreamingSpotter,
                                        spot_expressions, spot_intervals)


def test_interval_iou_counts_frames_inclusively():
    assert interval_iou((10, 19), (10, 19)) == 1.0
    assert interval_iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    assert interval_iou((0, 9), (10, 19)) == 0.0
    assert interval_iou((3, 3), (3, 3)) == 1.0
    assert interval_iou((0, 9), (2, 6)) == pytest.approx(5 / 10)


def test_matching_is_one_to_one_best_first():
    truth = [(10, 19), (40, 49)]
    predicted = [(11, 20), (10, 18), (41, 49), (70, 80)]
    hits = match_intervals(predicted, truth)
    assert sorted((i, j) for i, j, _ in hits) == [(1, 0), (2, 1)]  # (10, 18) beats (11, 20) for the first truth
    assert match_intervals(predicted, truth, iou=0.95) == []


def test_scores_pool_over_videos_and_handle_empty_cases():
    scores = score_spotting([([(10, 19), (70, 80)], [(10, 19)]), ([], [(5, 9)]), ([(0, 3)], [])]).overall
    assert (scores.true_positives, scores.spotted, scores.ground_truth) == (1, 3, 2)
    assert (scores.false_positives, scores.false_negatives) == (2, 1)
    assert scores.precision == pytest.approx(1 / 3) and scores.recall == pytest.approx(1 / 2)
    assert scores.f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    nothing = SpottingScores.from_counts(0, 0, 0)
    assert (nothing.precision, nothing.recall, nothing.f1) == (0.0, 0.0, 0.0)


def test_a_hit_needs_the_right_expression_type():
    """The per-type counterexample: a spotted micro-expression lying exactly on an annotated macro-expression
    (and the other way round) scored 1.0 when types were ignored; MEGC matches within a type, so it is 0."""
    spotted = [(10, 19, "micro"), (40, 79, "macro")]
    annotated = [(10, 19, "macro"), (40, 79, "micro")]
    scores = score_spotting([(spotted, annotated)])
    assert scores.overall.true_positives == 0 and scores.overall.f1 == 0.0
    assert (scores.overall.spotted, scores.overall.ground_truth) == (2, 2)
    assert scores.micro.false_positives == 1 and scores.micro.false_negatives == 1
    assert scores.macro.false_positives == 1 and scores.macro.false_negatives == 1
    untyped = score_spotting([([s[:2] for s in spotted], [a[:2] for a in annotated])])
    assert untyped.overall.f1 == 1.0  # what the old type-blind figure said


def test_overall_sums_the_per_type_counts():
    videos = [([(0, 9, "micro"), (20, 59, "macro"), (100, 105, "micro")], [(0, 9, "micro"), (20, 60, "macro")]),
              ([(30, 40, "micro")], [(200, 260, "macro")])]
    scores = score_spotting(videos)
    assert (scores.micro.true_positives, scores.micro.spotted, scores.micro.ground_truth) == (1, 3, 1)
    assert (scores.macro.true_positives, scores.macro.spotted, scores.macro.ground_truth) == (1, 1, 2)
    overall = scores.overall
    assert (overall.true_positives, overall.spotted, overall.ground_truth) == (2, 4, 3)
    assert overall.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_matching_is_maximal_where_greedy_is_not():
    """The matching counterexample: spotted A overlaps annotated X (IoU 1) and Y (0.67); spotted B overlaps
    only X (0.67). Best-IoU-first pairing takes A-X and leaves one hit; the maximal matching takes A-Y and B-X."""
    x, y = (10, 19), (12, 21)
    a, b = (10, 19), (8, 17)
    assert interval_iou(a, x) == 1.0 and interval_iou(a, y) == pytest.approx(8 / 12)
    assert interval_iou(b, x) == pytest.approx(8 / 12) and interval_iou(b, y) < 0.5
    candidates = [(interval_iou(p, t), i, j) for i, p in enumerate((a, b)) for j, t in enumerate((x, y))]
    assert len(greedy_pairs(candidates, minimum=0.5)) == 1
    hits = match_intervals([a, b], [x, y])
    assert sorted((i, j) for i, j, _ in hits) == [(0, 1), (1, 0)]
    assert score_spotting([([a, b], [x, y])]).overall.f1 == 1.0


def test_maximal_pairs_prefers_the_larger_total_among_equal_counts():
    pairs = maximal_pairs([(0.9, 0, 0), (0.6, 0, 1), (0.55, 1, 1)], minimum=0.5)
    assert sorted((i, j) for i, j, _ in pairs) == [(0, 0), (1, 1)]
    assert maximal_pairs([(0.4, 0, 0)], minimum=0.5) == []
    with pytest.raises(ValueError, match="scores in \\[0, 1\\]"):
        maximal_pairs([(2.0, 0, 0)])


def test_megc_k_is_half_the_average_length():
    assert megc_k([10, 12, 14]) == 6          # N = 12: int(13 / 2)
    assert megc_k([35, 40]) == 19             # N = 37.5: int(38.5 / 2)
    assert megc_k([0]) == 1 and megc_k([]) == 0


def test_str_score_on_a_hand_computed_case():
    """Spot-then-recognise on five videos, worked by hand (the example the STRS authors publish with their
    script): IoUs 0.34 and 0.44 miss, 0.67, 0.61 and 0.64 hit, so spotting P = R = F1 = 3/5. The three hits are
    (others -> others), (happiness -> repression) twice; over the classes happiness, others, repression the
    precisions are 0, 1, 0 and the recalls 0, 1, 0, so the analysis F1 is 1/3 and STRS = 0.6 / 3 = 0.2."""
    rows = [((10, 70, "micro", "happiness"), (45, 85, "micro", "happiness")),
            ((100, 170, "micro", "others"), (130, 160, "micro", "others")),
            ((0, 70, "micro", "others"), (20, 75, "micro", "others")),
            ((20, 90, "micro", "happiness"), (45, 95, "micro", "repression")),
            ((70, 140, "micro", "happiness"), (30, 140, "micro", "repression"))]
    result = score_str([([p], [t]) for p, t in rows])
    spotting = result.spotting
    assert (spotting.true_positives, spotting.false_positives, spotting.false_negatives) == (3, 2, 2)
    assert result.spotting.f1 == pytest.approx(0.6)
    assert result.classes == ("happiness", "others", "repression")
    assert result.analysis_precision == pytest.approx(1 / 3) and result.analysis_recall == pytest.approx(1 / 3)
    assert result.analysis_f1 == pytest.approx(1 / 3)
    assert result.strs == pytest.approx(0.2)
    assert sorted(result.hits) == [("happiness", "repression"), ("happiness", "repression"), ("others", "others")]


def test_str_classes():
    assert [str_class(e) for e in ("Happiness", "happy", "repression", "Anger", "surprise", "others", "helpless")] == [
        "positive", "positive", "negative", "negative", "surprise", "others", "others"]


def _bump(n: int, onset: int, offset: int, height: float) -> np.ndarray:
    t = np.arange(n)
    curve = np.zeros(n)
    inside = (t >= onset) & (t <= offset)
    curve[inside] = height * np.sin(np.pi * (t[inside] - onset) / (offset - onset)) ** 2
    return curve


def test_baseline_spots_micro_and_macro_intervals():
    fps, n = 100, 1000
    rng = np.random.default_rng(0)
    signal = 0.03 + 0.01 * rng.random(n)
    signal += _bump(n, 200, 229, 0.6)     # 0.3 s: micro
    signal += _bump(n, 600, 719, 0.9)     # 1.2 s: macro
    signal += _bump(n, 900, 901, 0.8)     # 0.02 s spike: shorter than 1/25 s, dropped
    found = spot_intervals(signal, fps)
    assert list(found.columns) == list(INTERVAL_COLUMNS)
    assert list(found["kind"]) == ["micro", "macro"]
    micro, macro = found.itertuples()
    assert interval_iou((micro.onset_frame, micro.offset_frame), (200, 229)) >= 0.5
    assert interval_iou((macro.onset_frame, macro.offset_frame), (600, 719)) >= 0.5
    assert micro.onset_frame <= micro.apex_frame <= micro.offset_frame
    assert micro.apex_s == pytest.approx(micro.apex_frame / fps)
    assert micro.duration_s == pytest.approx((micro.offset_frame - micro.onset_frame + 1) / fps)


def _held_expression(n: int, onset: int, offset: int, reach: int, ramp: int = 6) -> tuple[np.ndarray, ...]:
    """The macro scale's signals of one expression held from ``onset`` to ``offset`` (ramps of ``ramp`` frames),
    as the motion engine makes them from references ``reach`` frames away: the two-sided value and its sides."""
    rng = np.random.default_rng(3)
    face = np.zeros(n)
    face[onset:offset + 1] = 1.0
    face = np.convolve(face, np.ones(ramp) / ramp, mode="same")
    at = np.arange(n)
    before, after = face[np.maximum(at - reach, 0)], face[np.minimum(at + reach, n - 1)]
    back, forward, span = np.abs(face - before), np.abs(after - face), np.abs(after - before)
    noise = 0.02 * rng.random((3, n))
    return (np.maximum(np.minimum(back, forward) - span, 0) + noise[0], back + noise[1], forward + noise[2])


@pytest.mark.parametrize("seconds", [0.6, 1.2, 1.5, 1.8])
def test_a_macro_expression_held_longer_than_the_reference_distance_is_spotted_whole(seconds):
    # Against references 1 s away, an expression held 1.5 s shows in the two-sided signal over only the 0.5 s where
    # both references see the face at rest: too short for a macro-expression, and a third of its length. Its back
    # side is high from its onset, its forward side up to its offset: the interval grows to both.
    fps, n, reach = 30.0, 300, 30
    onset = 100
    offset = onset + int(round(seconds * fps)) - 1
    signal, back, forward = _held_expression(n, onset, offset, reach)
    micro = np.zeros(n)
    before = spot_expressions(micro, signal, fps)
    found = spot_expressions(micro, signal, fps, sides=MacroSides(back, forward, reach))
    assert list(found["kind"]) == ["macro"], found
    row = found.iloc[0]
    assert interval_iou((row.onset_frame, row.offset_frame), (onset, offset)) >= (0.9 if seconds > 1.0 else 0.75)
    if seconds > 1.0:  # the two-sided signal alone: too short to count, or a third of the expression
        assert before.empty or interval_iou(tuple(before.iloc[0][["onset_frame", "offset_frame"]]),
                                            (onset, offset)) < 0.7
    else:  # shorter than the reference distance: found whole already, and its sides do not grow it
        assert len(before) == 1 and abs(int(before.iloc[0].onset_frame) - row.onset_frame) <= 1
        assert abs(int(before.iloc[0].offset_frame) - row.offset_frame) <= 1


def test_a_micro_expression_held_longer_than_the_micro_references_are_apart_is_sized_on_the_macro_scale():
    # Against references 0.3 s away a 0.47 s expression shows in the micro signal over its middle only; the macro
    # scale (1 s) sees it whole, as an interval of micro length, and sizes it. One shorter than 0.3 s is seen whole
    # by both (a little wider on the macro scale) and keeps its micro interval.
    fps, n, micro_reach, macro_reach = 30.0, 300, 9, 30
    cut = np.full(n, 0.01)
    cut[108:113] = 1.0  # the micro signal: 5 frames in the middle of the expression (frames 100-113)
    macro, back, forward = _held_expression(n, 100, 113, macro_reach, ramp=2)
    sides = MacroSides(back, forward, macro_reach)
    plain = spot_expressions(cut, macro, fps)
    assert list(plain["kind"]) == ["micro"] and interval_iou(tuple(plain.iloc[0][["onset_frame", "offset_frame"]]),
                                                             (100, 113)) < 0.5
    sized = spot_expressions(cut, macro, fps, sides=sides)
    assert list(sized["kind"]) == ["micro"], sized
    assert interval_iou(tuple(sized.iloc[0][["onset_frame", "offset_frame"]]), (100, 113)) >= 0.8
    assert sized.iloc[0]["apex_frame"] in range(108, 113)
    short_micro, _, _ = _held_expression(n, 100, 107, micro_reach)
    short_macro, back, forward = _held_expression(n, 100, 107, macro_reach)
    alone = spot_expressions(short_micro, short_macro, fps)
    with_sides = spot_expressions(short_micro, short_macro, fps, sides=MacroSides(back, forward, macro_reach))
    assert with_sides[["onset_frame", "offset_frame"]].values.tolist() == \
        alone[["onset_frame", "offset_frame"]].values.tolist()


def test_a_macro_interval_grows_no_further_than_its_reach_and_not_across_a_frame_that_cannot_be_spotted():
    fps, n, reach = 30.0, 300, 30
    signal, back, forward = _held_expression(n, 100, 144, reach)
    # Sides that stay high long before and after (a head movement's residue in them) grow it by the reach at most.
    back[40:100], forward[145:260] = 2.0, 2.0
    row = spot_expressions(np.zeros(n), signal, fps, sides=MacroSides(back, forward, reach)).iloc[0]
    assert row.onset_frame >= 100 - reach and row.offset_frame <= 144 + reach
    blanked = signal.copy()
    blanked[110] = np.nan  # a frame set aside (a fast head movement): the interval does not grow across it
    found = spot_expressions(np.zeros(n), blanked, fps, sides=MacroSides(back, forward, reach))
    assert len(found) == 1 and found.iloc[0].onset_frame == 111, found  # grown back to the blanked frame, no further


def test_a_small_peak_on_a_face_that_never_rests_is_not_grown_into_a_macro_expression():
    # Crying or talking: both sides are up everywhere (no reference sees the face at rest), and the two-sided
    # value peaks briefly and low. Its sides are not the expression's: the interval stays as short as it is.
    fps, n, reach = 30.0, 300, 30
    rng = np.random.default_rng(4)
    back, forward = 0.7 + 0.2 * rng.random(n), 0.7 + 0.2 * rng.random(n)
    signal = np.zeros(n)
    signal[140:152] = 0.2
    assert spot_expressions(np.zeros(n), signal, fps, sides=MacroSides(back, forward, reach)).empty


def test_still_or_tiny_signals_spot_nothing():
    rng = np.random.default_rng(1)
    assert spot_intervals(0.02 + 0.02 * rng.random(300), 30).empty  # sensor noise stays under min_motion
    assert spot_intervals(np.zeros(2), 30).empty
    assert spot_intervals(np.zeros(100), 30).empty
    with pytest.raises(ValueError, match="extent"):
        SpottingParams(extent=0.0)


def _engine_signal(engine: MotionEngine, patches, poses=None) -> list:
    samples = []
    for t, patch in enumerate(patches):
        samples.extend(engine.push(t, patch, None if poses is None else poses[t]))
    samples.extend(engine.finish())
    return sorted(samples, key=lambda s: s.index)


def test_motion_signal_finds_the_moving_region_and_ignores_head_motion():
    """A textured 'face' that drifts as a whole (head motion) while the mouth region moves for 0.2 s."""
    fps, n = 50, 100
    rng = np.random.default_rng(2)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (160, 160), dtype=np.uint8), (0, 0), 2.0)
    x0, y0, x1, y1 = (int(v * 96) + 32 for v in TEMPLATE_REGIONS["mouth"])
    patches = []
    for t in range(n):
        image = texture.copy()
        lift = 3.0 * np.sin(np.pi * (t - 60) / 10) ** 2 if 60 <= t <= 70 else 0.0
        if lift:
            mouth = image[y0:y1, x0:x1]
            image[y0:y1, x0:x1] = cv2.warpAffine(mouth, np.float32([[1, 0, 0], [0, 1, -lift]]), mouth.shape[::-1],
                                                 borderMode=cv2.BORDER_REFLECT)
        drift = np.float32([[1, 0, 0.08 * t], [0, 1, 0.05 * t]])  # 8 px over the clip, slowly
        moved = cv2.warpAffine(image, drift, image.shape[::-1], borderMode=cv2.BORDER_REFLECT)
        patches.append(moved[32:128, 32:128])
    samples = _engine_signal(MotionEngine(fps), patches)
    assert [s.index for s in samples] == list(range(n))  # every frame once, in order, k frames late
    signal = np.stack([s.regions for s in samples])
    assert signal.shape == (n, len(REGIONS))
    names = list(REGIONS)
    mouth, brows = signal[:, names.index("mouth")], signal[:, names.index("brows")]
    assert 60 <= int(mouth.argmax()) <= 70
    assert mouth.max() > 5 * np.median(mouth) and mouth.max() > 5 * brows.max()
    found = spot_intervals([s.combined for s in samples], fps)
    assert len(found) == 1 and interval_iou((found.onset_frame[0], found.offset_frame[0]), (60, 70)) >= 0.5


def test_fast_clips_are_measured_on_every_other_frame_and_the_table_fills_the_frames_between():
    """200 fps: motion is measured at 100 fps (every second frame); the per-frame table interpolates within a
    segment, keeps a segment's last unmeasured frame, and leaves frames without a face empty."""
    from larnet_core.video.motion import samples_table
    from larnet_core.video.pipeline import _FaceState

    config = MotionConfig()
    assert [config.frame_step(fps) for fps in (25, 30, 60, 100, 120, 200, 240)] == [1, 1, 1, 1, 1, 2, 2]
    assert MotionConfig(max_fps=None).frame_step(200) == 1
    rng = np.random.default_rng(4)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (96, 96), dtype=np.uint8), (0, 0), 2.0)
    state = _FaceState(200.0, config)
    samples = []
    for t in range(41):  # a face in frames 0-40, gone at 41; a second segment 42-50
        if state.wants(t):
            samples.extend(state.push(t, np.roll(texture, t // 10, axis=1)))
    samples.extend(state.push(41, None))
    for t in range(42, 51):
        if state.wants(t):
            samples.extend(state.push(t, texture))
    samples.extend(state.break_segment())
    measured = sorted({s.index for s in samples if s.scale == "micro"})
    assert measured == list(range(0, 41, 2)) + [41] + list(range(42, 51, 2))
    present = np.ones(52, dtype=bool)
    present[41] = present[51] = False
    table = samples_table(samples, 52, present)
    motion, segment = np.asarray(table["motion"]), np.asarray(table["segment"])
    assert np.isfinite(motion[:41]).all() and np.isfinite(motion[42:51]).all()
    assert np.isnan(motion[41]) and np.isnan(motion[51]) and segment[41] == -1 and segment[51] == -1
    assert (segment[:41] == segment[0]).all() and (segment[42:51] == segment[42]).all() and segment[42] != segment[0]
    assert motion[3] == pytest.approx((motion[2] + motion[4]) / 2)
    assert motion[49] == pytest.approx((motion[48] + motion[50]) / 2) and np.isfinite(table["motion_macro"][:41]).all()


def test_head_pose_change_marks_frames_as_head_movement():
    """Key points that move together with a turn of the head (the nose against the eyes) mark head movement."""
    fps, n = 30, 60
    texture = cv2.GaussianBlur(np.random.default_rng(3).integers(0, 255, (96, 96), dtype=np.uint8), (0, 0), 2.0)
    pose = np.array([[33.0, 38.0], [63.0, 38.0], [48.0, 55.0]])
    poses = []
    for t in range(n):
        shift = 8.0 * np.sin(np.pi * (t - 25) / 15) if 25 <= t <= 40 else 0.0  # the nose swings sideways
        p = pose.copy()
        p[2, 0] += shift
        poses.append(p.ravel())
    samples = _engine_signal(MotionEngine(fps, MotionConfig(head_max_px=2.5)), [texture] * n, poses)
    moving = [s.index for s in samples if s.head_moving]
    assert moving and min(moving) >= 15 and max(moving) <= 50
    assert not any(s.head_moving for s in samples if s.index < 14 or s.index > 51)


def test_a_lost_face_ends_the_segment_and_no_interval_crosses_it():
    fps, n = 30, 120
    signal = np.full(n, 0.05)
    signal[50:60] = np.nan           # no face for a third of a second
    signal += np.nan_to_num(_bump(n, 45, 65, 0.8)) * np.isfinite(signal)
    segments = np.where(np.arange(n) < 50, 0, 1)
    segments[50:60] = -1
    found = spot_intervals(signal, fps, segments=segments)
    for row in found.itertuples():
        assert not (row.onset_frame < 50 <= row.offset_frame) and not (row.onset_frame <= 59 < row.offset_frame)
        assert not np.isnan(signal[row.onset_frame:row.offset_frame + 1]).any()
    # A cut with the face present on both sides also splits: same signal, no gap, two segments.
    whole = np.full(n, 0.05) + _bump(n, 45, 65, 0.8)
    cut = spot_intervals(whole, fps, segments=np.where(np.arange(n) < 55, 0, 1))
    assert all(row.offset_frame < 55 or row.onset_frame >= 55 for row in cut.itertuples())


def test_streaming_spotter_reports_what_the_clip_function_finds():
    """Live spotting is the clip function over a sliding window: the same intervals, reported once each."""
    fps, n = 30, 900
    rng = np.random.default_rng(4)
    signal = 0.04 + 0.01 * rng.random(n)
    for onset in (150, 420, 700):
        signal += _bump(n, onset, onset + 9, 0.7)
    clip = spot_intervals(signal, fps)
    spotter = StreamingSpotter(fps)
    streamed = [row for t in range(n) for row in spotter.push(t, float(signal[t]), 0)]
    assert len(streamed) == len(clip) == 3
    for row, expected in zip(streamed, clip.itertuples()):
        assert abs(row["onset_frame"] - expected.onset_frame) <= 1 and abs(row["offset_frame"] - expected.offset_frame) <= 1
        assert row["kind"] == expected.kind == "micro"


def test_spot_eval_on_a_generated_long_video(tmp_path):
    """`larnet spot-eval` and `larnet str-eval` on a generated long video; the summary is recomputed from the
    saved tables (spotted intervals, annotated intervals) and must agree."""
    from larnet_core.cli import main
    from larnet_core.synth import generate_long_videos
    from larnet_core.training.spotting_eval import rescore, str_from_tables

    root = tmp_path / "casme_sq"
    generate_long_videos(root, subjects=1, videos_per_subject=1, seed=11, seconds=6.0, write_video=False,
                         workers=1)
    out = tmp_path / "spot.csv"
    assert main(["spot-eval", "--root", str(root), "--k", "fixed", "--out", str(out)]) == 0
    per_video = pd.read_csv(out)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert len(per_video) == 1 and per_video["n_truth"].iloc[0] >= 2
    overall = summary["overall"]
    assert overall["ground_truth"] == per_video["n_truth"].sum()
    assert 1 <= overall["true_positives"] <= min(overall["spotted"], overall["ground_truth"])
    assert overall["f1"] == pytest.approx(
        2 * overall["precision"] * overall["recall"] / (overall["precision"] + overall["recall"]))
    assert summary["params"]["p"] == SpottingParams().p and summary["k"] == "fixed"
    intervals = pd.read_csv(out.with_name("spot.intervals.csv"))
    truth = pd.read_csv(out.with_name("spot.truth.csv"))
    again = rescore(intervals, truth)
    assert again.to_dict() == {key: summary[key] for key in again.to_dict()}
    assert intervals["hit"].sum() == overall["true_positives"]
    for kind in ("micro", "macro"):
        assert summary[kind]["true_positives"] + summary[kind]["false_negatives"] == int((truth["kind"] == kind).sum())

    str_out = tmp_path / "str.csv"
    assert main(["str-eval", "--root", str(root), "--k", "6,18", "--types", "micro", "macro",
                 "--out", str(str_out)]) == 0
    str_summary = json.loads(str_out.with_suffix(".json").read_text())
    assert str_summary["k"] == "frames" and set(pd.read_csv(str_out)["k_micro"]) == {6}
    recomputed = str_from_tables(pd.read_csv(str_out.with_name("str.intervals.csv")),
                                 pd.read_csv(str_out.with_name("str.truth.csv")), types=("micro", "macro"))
    assert str_summary["str"]["strs"] == pytest.approx(recomputed.strs)
    assert str_summary["str"]["strs"] == pytest.approx(
        str_summary["str"]["spotting"]["f1"] * str_summary["str"]["analysis_f1"])


def test_spot_eval_k_from_annotations_leaves_the_subject_out(tmp_path):
    from larnet_core.data import load_dataset
    from larnet_core.synth import generate_long_videos
    from larnet_core.training.spotting_eval import truth_positions, window_k

    root = tmp_path / "casme_sq"
    generate_long_videos(root, subjects=2, videos_per_subject=1, seed=3, seconds=6.0, write_video=False, workers=1)
    records = load_dataset("casme2-long", root)
    first, second = records
    expected = {kind: megc_k([b - a for a, b, t, _ in truth_positions(second) if t == kind])
                for kind in ("micro", "macro")}
    assert window_k(records, exclude_subject=first.subject) == expected
    whole = {kind: megc_k([b - a for r in records for a, b, t, _ in truth_positions(r) if t == kind])
             for kind in ("micro", "macro")}
    assert window_k(records) == whole


def test_spot_eval_rejects_bad_options(tmp_path):
    from larnet_core.cli import main

    assert main(["spot-eval", "--root", str(tmp_path), "--k", "soon"]) != 0
    assert main(["spot-eval", "--root", str(tmp_path), "--k", "fixed", "--loso"]) != 0


def test_spot_eval_scores_the_same_videos_the_same_in_every_long_video_layout(tmp_path):
    """One generated long video written in the SAMM-LV and the CAS(ME)^3 layouts (4-digit 1-based frame names and
    a workbook with note rows; 0-based frame names, two sheets with different headers): spot-eval reads each
    layout and scores the same intervals with the same result as in the CAS(ME)^2 layout."""
    import shutil

    import openpyxl

    from larnet_core.cli import main
    from larnet_core.data import load_dataset
    from larnet_core.synth import generate_long_videos

    root = tmp_path / "casme_sq"
    generate_long_videos(root, subjects=1, videos_per_subject=1, seed=11, seconds=6.0, write_video=False,
                         workers=1)
    (record,) = load_dataset("casme2-long", root)
    rows = list(record.intervals.itertuples())

    samm = tmp_path / "samm_lv"
    video = samm / "SAMM_longvideos" / "006_1"
    video.mkdir(parents=True)
    for number, path in zip(record.frame_numbers, record.frames):
        shutil.copy(path, video / f"006_1_{number:04d}{path.suffix}")
    book = openpyxl.Workbook()
    sheet = book.active
    for note in range(9):
        sheet.append([f"note {note}"])
    sheet.append(["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
                  "Action Units", "Notes"])
    for n, row in enumerate(rows, 1):
        sheet.append([6, f"006_1_{n}", 1, int(row.onset), int(row.apex), int(row.offset), 0,
                      "Micro - 1/2" if row.type == "micro" else "Macro", row.au, ""])
    book.save(samm / "SAMM_LongVideos_V3_Release.xlsx")

    casme3 = tmp_path / "casme3"
    frames = casme3 / "part_A" / "spNO.1" / "a" / "color"
    frames.mkdir(parents=True)
    for number, path in zip(record.frame_numbers, record.frames):
        shutil.copy(path, frames / f"{number - 1}{path.suffix}")
    for kind, header, name in (("micro", ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "emotion"],
                                "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"),
                               ("macro", ["sub", "seq", "onset", "apex", "offset", "AU", "emotion"],
                                "cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx")):
        book = openpyxl.Workbook()
        book.active.append(header)
        for row in rows:
            if row.type == kind:
                book.active.append(["spNO.1", "a", int(row.onset) - 1, int(row.apex) - 1, int(row.offset) - 1,
                                    row.au, row.emotion])
        book.save(casme3 / name)

    summaries = {}
    for dataset, where in (("casme2-long", root), ("samm-lv", samm), ("casme3-long", casme3)):
        out = tmp_path / f"{dataset}.csv"
        assert main(["spot-eval", "--dataset", dataset, "--root", str(where), "--fps", "30", "--out", str(out)]) == 0
        summaries[dataset] = json.loads(out.with_suffix(".json").read_text())
    first = summaries["casme2-long"]
    assert first["overall"]["ground_truth"] == len(rows)
    for dataset in ("samm-lv", "casme3-long"):
        assert {k: summaries[dataset][k] for k in ("overall", "micro", "macro")} == {
            k: first[k] for k in ("overall", "micro", "macro")}, dataset
