"""A moving, expressive face from beginning to end (larnet_core.synth.footage.crying_surprise_laugh): a sadness
while the head turns, wide eyes and raised brows under a hand over the mouth, a laugh while the head nods, blinks
and a sway all along; written as h264 and analysed as a clip and live. Each expression is spotted with its own
action units and FACS rule, and nothing else is."""

from __future__ import annotations

import numpy as np
import pytest

from larnet_core.aus.names import AU_COLUMNS
from larnet_core.synth.footage import make_footage, write_footage
from larnet_core.training.spotting_scores import interval_iou
from larnet_core.video import analyze_clip
from larnet_core.video.face_state import REGION_UNITS
from tests.live_feed import stream_file
from tests.markers import needs_mediapipe

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), needs_mediapipe]

MOUTH_UNITS = {name.replace("AU0", "AU") for name in REGION_UNITS["mouth"]}


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    footage = make_footage("crying_surprise_laugh", seed=3)
    path = write_footage(tmp_path_factory.mktemp("story") / "story.mp4", footage.frames, footage.truth.fps)
    return path, footage.truth


@pytest.fixture(scope="module")
def analysis(story, lite_predictor):
    return analyze_clip(story[0], lite_predictor, max_infer_fps=10)


def _hit(intervals, truth):
    """The spotted interval that overlaps the expression most."""
    rows = [r for r in intervals.itertuples() if r.onset_frame <= truth.offset and r.offset_frame >= truth.onset]
    assert rows, (truth, intervals[["onset_frame", "apex_frame", "offset_frame", "aus"]])
    return max(rows, key=lambda r: min(r.offset_frame, truth.offset) - max(r.onset_frame, truth.onset))


def test_the_story_truth_says_what_happens(story):
    _, truth = story
    assert [e.emotion for e in truth.expressions] == ["sadness", "surprise", "happiness"]
    sadness, wide_eyed, laugh = truth.expressions
    cover = truth.occlusions[0]
    assert cover.start < wide_eyed.onset and wide_eyed.offset < cover.end  # the brows rise under the hand
    turn, nod = truth.head_movements
    assert turn.start < sadness.apex < turn.end and nod.start < laugh.apex < nod.end


def test_each_expression_is_spotted_with_its_action_units(story, analysis):
    _, truth = story
    sadness, wide_eyed, laugh = truth.expressions
    intervals = analysis.intervals
    # The sadness through the turn: all three units. AU4 is the weakest (beside AU1, which pulls the brows the other
    # way, it gives up half its reading); before the calibration put the units on one scale, AU15 read 1.7 times its
    # strength and AU4 fell under the share of the strongest unit an expression's units must reach.
    row = _hit(intervals, sadness)
    assert row.onset_frame <= sadness.apex <= row.offset_frame
    assert interval_iou((row.onset_frame, row.offset_frame), (sadness.onset, sadness.offset)) >= 0.5
    assert set(row.aus.split("+")) == {"AU1", "AU4", "AU15"} and "sadness" in row.rule_label, row
    # The laugh through the nod: the cheeks rise, the lips part and the corners rise, as live reads it
    # (test_live_reports_the_same_expressions): the same tracked meshes, the same units.
    row = _hit(intervals, laugh)
    assert row.onset_frame <= laugh.apex <= row.offset_frame
    assert interval_iou((row.onset_frame, row.offset_frame), (laugh.onset, laugh.offset)) >= 0.5
    assert {"AU6", "AU12", "AU25"} <= set(row.aus.split("+")) and "happiness" in row.rule_label, row
    # The wide eyes under the hand: spotted on the brows alone, through its apex, with no unit of the mouth (the
    # hand drags the mouth between the neutral frame and the apex: it would read as AU20).
    row = _hit(intervals, wide_eyed)
    assert row.onset_frame <= wide_eyed.apex <= row.offset_frame and row.kind == "macro", row
    assert interval_iou((row.onset_frame, row.offset_frame), (wide_eyed.onset, wide_eyed.offset)) >= 0.5
    units = set(row.aus.split("+"))
    assert {"AU1", "AU2", "AU5"} <= units and not units & MOUTH_UNITS, row
    assert "surprise" in row.rule_label or "fear" in row.rule_label, row


def test_nothing_else_is_spotted(story, analysis):
    _, truth = story
    frames = analysis.frames
    # Every interval is one of the three expressions: none on the hand, the turn, the nod or the blinks alone.
    for row in analysis.intervals.itertuples():
        assert any(row.onset_frame <= e.offset and row.offset_frame >= e.onset for e in truth.expressions), row
    assert len(analysis.intervals) == 3, analysis.intervals[["onset_frame", "offset_frame", "aus"]]
    # The cover is said, and what it set aside: the mouth's units are not read under the hand, the brows' are.
    cover = truth.occlusions[0]
    held = frames.iloc[cover.start + 3:cover.end - 2]
    assert (held["excluded"] == "mouth occluded").all(), held["excluded"].tolist()
    assert held[list(REGION_UNITS["mouth"])].isna().all().all()
    # The brows are read, but where the lids close (as the wide eyes end, 172-173): the flow around closing lids is
    # theirs, so such a frame is not read (larnet_core.aus.reference_flow).
    wide_eyes_end = truth.expressions[1].offset
    assert held.loc[(held["frame"] - wide_eyes_end).abs() > 2, "AU01"].notna().all()
    assert held["AU01"].notna().mean() > 0.95
    # The mesh around the hand is out of shape as a whole: against the uncovered neutral the brows read as a frown
    # (AU4 >= 0.6) on every frame under the hand; against the covered frames' own they rarely do.
    wide_eyed = truth.expressions[1]
    calm = held[(held["frame"] < wide_eyed.onset) | (held["frame"] > wide_eyed.offset)]
    assert (calm["AU04"] >= 0.6).mean() <= 0.3, calm["AU04"].round(1).tolist()
    # The brows are read where the hand is held over every frame a frame's motion is compared with: from 1 s after
    # it covers the mouth to 1 s before it leaves on both scales, from 0.3 s on the micro scale only.
    left_out = frames["motion_left_out"]
    second, micro = int(truth.fps), round(0.3 * truth.fps)
    assert (left_out.iloc[cover.start + second + 2:cover.end - second - 1] == "nose+mouth+cheeks+chin").all()
    assert (left_out.iloc[cover.start + micro + 2:cover.start + second - 2]
            == "nose+mouth+cheeks+chin (micro scale)").all()
    outside = np.r_[0:cover.start + micro, cover.end - micro + 1:len(frames)]
    assert (left_out.iloc[outside] == "").all(), left_out.iloc[outside][left_out.iloc[outside] != ""]


def _units_read(rows: list[dict], names) -> set[str]:
    """The units at least 0.6 on the frames around an apex (their median), as "AU1" ..."""
    median = {name: np.nanmedian([row[name] for row in rows]) for name in names}
    return {name.replace("AU0", "AU") for name, value in median.items() if value >= 0.6}


# The units each expression's apex shows in the per-frame lanes and live bars (read from the skin's movement against
# a neutral frame): the rendered ones; of the laugh's open mouth, the lip part (AU25) or the jaw drop (AU26) at least.
LANE_UNITS = ({"AU1", "AU4", "AU15"}, {"AU1", "AU2", "AU5"}, {"AU6", "AU12", "AU25", "AU26"})


def _shows(read: set[str], shown: set[str], extra: int = 0) -> bool:
    """Whether ``read`` has the units ``shown`` (of an open mouth, AU25 or AU26 will do) and at most ``extra``
    others."""
    needed = shown - {"AU25", "AU26"}
    mouth = not shown & {"AU25", "AU26"} or read & shown & {"AU25", "AU26"}
    return needed <= read and bool(mouth) and len(read - shown) <= extra


def _units_named(rows: list[dict], names) -> set[str]:
    """The units the frames around an apex show (their median), named as an interval's are: at least 0.6 and 0.4
    of the strongest (expression_units)."""
    from larnet_core.aus.estimate import expression_units

    median = {name: np.nanmedian([row[name] for row in rows]) for name in names}
    return {name.replace("AU0", "AU") for name in expression_units([median.get(n, np.nan) for n in AU_COLUMNS])}


def test_the_au_lanes_show_each_expression_and_nothing_between(story, analysis):
    _, truth = story
    frames = analysis.frames
    units = [c for c in frames.columns if c.startswith("AU") and c != "AU43"]
    for expression, shown in zip(truth.expressions, LANE_UNITS):
        around = frames[(frames["frame"] - expression.apex).abs() <= 1][units].to_dict("records")
        # Within an interval the lanes are its reading against its neutral frame, so they are named as its units
        # are: under the hand the wide eyes read a lid tightener (AU7) at 0.5-0.7 beside AU1 at 3.2-3.4, as the
        # interval's own reading does, under 0.4 of its strongest unit.
        assert _shows(_units_named(around, units), shown), (expression.emotion, _units_named(around, units))
    # Before, from the mesh alone: the sadness read AU14+AU15+AU26, the wide eyes AU5 alone, the laugh
    # AU5+AU10+AU26 with AU12 at 0.75; and AU4 rose on 16 % of the frames with no expression.
    calm = frames[np.all([(frames["frame"] < e.onset - 5) | (frames["frame"] > e.offset + 5)
                          for e in truth.expressions], axis=0)]
    assert (calm[units] >= 0.6).any(axis=1).mean() <= 0.05, (calm[units] >= 0.6).mean()[lambda s: s > 0]


def test_live_reports_the_same_expressions(story, analysis, lite_predictor):
    from larnet_core.video.live import LiveAnalyzer

    path, truth = story
    analyzer = LiveAnalyzer(lite_predictor, fps_hint=truth.fps, async_model=False, draw=False)
    results = stream_file(analyzer, path, truth.fps)
    events = analyzer.events
    spans = [(round(e.time_s * truth.fps), round((e.time_s + e.duration_s) * truth.fps) - 1, e) for e in events]
    for expression in truth.expressions:
        hits = [e for onset, offset, e in spans if onset <= expression.offset and offset >= expression.onset]
        assert hits, (expression, [(o, f, e.aus) for o, f, e in spans])
    _, wide_eyed, laugh = truth.expressions
    under_hand = [e for onset, offset, e in spans if onset <= wide_eyed.offset and offset >= wide_eyed.onset]
    assert any({"AU1", "AU2", "AU5"} <= set(e.aus.split("+")) and not set(e.aus.split("+")) & MOUTH_UNITS
               and ("surprise" in e.rule_label or "fear" in e.rule_label)
               for e in under_hand), [(e.aus, e.rule_label) for e in under_hand]
    laughing = [e for onset, offset, e in spans if onset <= laugh.offset and offset >= laugh.onset]
    assert any({"AU6", "AU12"} <= set(e.aus.split("+")) and "happiness" in e.rule_label for e in laughing), \
        [(e.aus, e.rule_label) for e in laughing]
    for onset, offset, event in spans:  # nothing on the hand, the movements or the blinks alone
        assert any(onset <= e.offset and offset >= e.onset for e in truth.expressions), event
    # The AU bars: each expression's units at its apex, as the clip's lanes, and none where nothing happens.
    names = [name for name in AU_COLUMNS if name != "AU43"]
    for expression, shown in zip(truth.expressions, LANE_UNITS):
        around = [results[i].aus for i in range(expression.apex - 1, expression.apex + 2)]
        # One unit more is allowed live (its reference is from the past): at the laugh's apex a dimpler, AU14 0.8.
        assert _shows(_units_read(around, names), shown, extra=1), (expression.emotion, _units_read(around, names))
    calm_bars = [r.aus for i, r in enumerate(results) if r.aus
                 and all(i < e.onset - 5 or i > e.offset + 5 for e in truth.expressions)]
    assert np.mean([any(bars[n] >= 0.6 for n in names) for bars in calm_bars]) <= 0.05
    # The AU bars under the hand: no frown where the brows are still (as the clip's lanes).
    cover = truth.occlusions[0]
    calm = [r.aus["AU04"] for i, r in enumerate(results) if cover.start + 3 <= i < cover.end - 2
            and not wide_eyed.onset <= i <= wide_eyed.offset]
    assert np.mean(np.asarray(calm) >= 0.6) <= 0.3, np.round(calm, 1).tolist()
    # One source for an interval's units: the clip reads them from the meshes tracked on its neutral and apex
    # frames, as live does, so the same interval gets the same units and rule in both.
    clip = [(int(r.onset_frame), int(r.apex_frame), r.aus, r.rule_label) for r in analysis.intervals.itertuples()]
    live = [(onset, round(e.apex_s * truth.fps), e.aus, e.rule_label) for onset, _, e in spans]
    assert live == clip


@pytest.mark.parametrize("seed", [5, 3])
def test_the_wide_eyes_under_the_hand_are_spotted_on_the_held_out_face(tmp_path, lite_predictor, seed):
    """The story on the astronaut photo, which no setting was chosen on. Its wide eyes open the lids further
    against the raised brows than Grace Hopper's (macro-scale motion at the apex: eyes 0.99, brows 0.46): read as
    a blink's drag on the brows, they left nothing of the signal under the hand. The lids open (AU5); a blink
    closes them. On seed 3 the hand's cover check wavered for one frame under its level, which broke the held
    cover around the apex. Clip and live spot it alike, and nothing else."""
    from larnet_core.video.live import LiveAnalyzer

    footage = make_footage("crying_surprise_laugh", seed=seed, photo="astronaut")
    truth = footage.truth
    path = write_footage(tmp_path / "story.mp4", footage.frames, truth.fps)
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10)
    wide_eyed = truth.expressions[1]
    row = _hit(analysis.intervals, wide_eyed)
    assert row.onset_frame <= wide_eyed.apex <= row.offset_frame and row.kind == "macro", row
    assert interval_iou((row.onset_frame, row.offset_frame), (wide_eyed.onset, wide_eyed.offset)) >= 0.5
    units = set(row.aus.split("+"))
    assert {"AU1", "AU5"} <= units and not units & MOUTH_UNITS, row
    # The brows were read against the lids' closing movement, which the wide-open lids do not have.
    apex = analysis.frames.iloc[wide_eyed.apex]
    assert apex["motion_macro_eyes"] > apex["motion_macro_brows"] > 0.3 and apex["drag_eyes_macro"] < 0.05
    for interval in analysis.intervals.itertuples():  # nothing on the hand, the movements or the blinks alone
        assert any(interval.onset_frame <= e.offset and interval.offset_frame >= e.onset
                   for e in truth.expressions), interval
    analyzer = LiveAnalyzer(lite_predictor, fps_hint=truth.fps, async_model=False, draw=False)
    stream_file(analyzer, path, truth.fps)
    clip = [(int(r.onset_frame), int(r.apex_frame), r.kind, r.aus) for r in analysis.intervals.itertuples()]
    live = [(round(e.time_s * truth.fps), round(e.apex_s * truth.fps), e.kind, e.aus) for e in analyzer.events]
    assert live == clip
