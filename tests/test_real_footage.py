"""Real-looking footage through the whole clip pipeline: real face photos that packages ship, moved, cut, turned,
covered and doubled as real footage is (larnet_core.synth.footage), written as h264 and HEVC files and analysed
with the default tracker (MediaPipe Face Mesh). What a person would check on the result, not internals."""

from __future__ import annotations

import numpy as np
import pytest

from larnet_core.errors import NoFaceError
from larnet_core.synth.footage import make_footage, write_footage
from larnet_core.video import analyze_clip
from larnet_core.training.spotting_scores import interval_iou
from larnet_core.video.analysis import input_at

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Each scenario written once: ``name -> (path, truth)``."""
    folder = tmp_path_factory.mktemp("footage")
    made = {}

    def make(name: str, codec: str = "h264", **options):
        key = (name, codec)
        if key not in made:
            footage = make_footage(name, seed=3, **options)
            path = write_footage(folder / f"{name}-{codec}.mp4", footage.frames, footage.truth.fps, codec=codec)
            made[key] = (path, footage.truth)
        return made[key]

    return make


def _no_interval_touches(analysis, frames: np.ndarray) -> None:
    for row in analysis.intervals.itertuples():
        span = np.arange(row.onset_frame, row.offset_frame + 1)
        assert not np.isin(span, frames).any(), (row, frames)


def test_a_face_that_enters_late_is_found_where_it_appears(clips, lite_predictor):
    path, truth = clips("face_enters", seconds=4.0)
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10)
    frames = analysis.frames
    present = truth.present()
    assert (frames["face_found"].to_numpy() == present).mean() >= 0.97
    absent = frames[~frames["face_found"]]
    # No face, no numbers: empty probabilities, motion and box, never a confident guess about the background.
    assert absent[[c for c in frames if c.startswith("prob_")] + ["motion", "face_x0"]].isna().all().all()
    assert not absent["in_interval"].any() and (absent["face_id"] == -1).all()
    _no_interval_touches(analysis, np.flatnonzero(~frames["face_found"].to_numpy()))
    start, stop = analysis.prediction.window
    assert frames.loc[start, "face_found"] and frames.loc[stop, "face_found"]
    assert any("not in view" in w for w in analysis.warnings)


def test_a_face_that_leaves_leaves_no_probabilities_behind(clips, lite_predictor):
    path, truth = clips("face_leaves", seconds=4.0)
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10)
    frames = analysis.frames
    assert (frames["face_found"].to_numpy() == truth.present()).mean() >= 0.97
    last_seen = int(np.flatnonzero(truth.present())[-1])
    after = frames.iloc[last_seen + 3:]
    assert len(after) and not after["face_found"].any() and after["prob_happiness"].isna().all()


def test_a_shot_cut_is_detected_and_nothing_spans_it_hevc(clips, lite_predictor):
    path, truth = clips("shot_cut", codec="hevc", seconds=5.0, cut_s=(1.5, 3.5))
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10)
    frames = analysis.frames
    assert list(np.flatnonzero(frames["shot_cut"].to_numpy())) == list(truth.cuts)
    assert (frames["face_found"].to_numpy() == truth.present()).mean() >= 0.97
    # The person back after the cut is still followed (with a new track id), and no segment spans the cut.
    back = frames.iloc[truth.cuts[1]:]
    assert back["face_found"].mean() > 0.9 and back["prob_happiness"].notna().mean() > 0.9
    for cut in truth.cuts:
        segments = frames["segment"].to_numpy()
        assert segments[cut] != segments[cut - 1]
        for row in analysis.intervals.itertuples():
            assert not row.onset_frame < cut <= row.offset_frame


def test_head_turn_and_nod_are_not_micro_expressions(clips, lite_predictor):
    path, truth = clips("head_turn_and_nod", seconds=5.0)
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10)
    assert analysis.frames["face_found"].all()
    assert analysis.intervals.empty, analysis.intervals
    for movement in truth.head_movements:  # the head's movement was seen, and set aside
        window = analysis.frames.iloc[movement.start:movement.end + 1]
        assert window["head_moving"].any()


def test_a_hand_over_the_mouth_keeps_the_face_and_the_crop(clips, lite_predictor):
    path, truth = clips("hand_over_mouth", seconds=4.0)
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10)
    frames = analysis.frames
    covered = truth.occlusions[0]
    during = frames.iloc[covered.start:covered.end + 1]
    assert during["face_found"].mean() >= 0.9 and (during["face_id"] == frames["face_id"].iloc[0]).all()
    # The crop stays on the face: its size barely changes while the hand moves over it.
    scale = np.hypot(frames["input_a"], frames["input_b"])
    assert scale.max() / scale.min() < 1.15


def test_two_faces_give_two_tracks_and_every_face_on_request(clips, lite_predictor):
    path, truth = clips("two_faces", seconds=3.0)
    main = analyze_clip(path, lite_predictor, max_infer_fps=5)
    assert len(main.faces) == 2 and int(main.faces["main"].sum()) == 1
    assert (main.frames["faces_in_frame"] == 2).mean() > 0.9
    assert any("faces were tracked" in w for w in main.warnings)
    assert main.frames["frame"].is_unique  # one row per frame by default
    every = analyze_clip(path, lite_predictor, max_infer_fps=5, all_faces=True)
    assert sorted(every.face_ids) == [0, 1] and len(every.frames) == 2 * len(main.frames)
    for face_id in (0, 1):
        one = every.for_face(face_id)
        assert len(one.frames) == len(main.frames) and one.frames["face_found"].mean() > 0.9
    # Each id stays on its own person: the two tracks' boxes never swap sides.
    left = every.frames[every.frames["face_id"] == 0]["face_x0"].to_numpy()
    right = every.frames[every.frames["face_id"] == 1]["face_x0"].to_numpy()
    assert (np.sign(left - right) == np.sign(left[0] - right[0])).all()


def test_expressions_on_a_real_photo_are_spotted(clips, lite_predictor):
    path, truth = clips("expressions", seconds=4.0)
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10)
    spotted = [(r.onset_frame, r.offset_frame) for r in analysis.intervals.itertuples()]
    for expression in truth.expressions:
        assert max(interval_iou(s, (expression.onset, expression.offset)) for s in spotted) >= 0.5


def test_the_heat_map_input_is_the_input_behind_the_row(clips, lite_predictor):
    """The /clip page rebuilds a row's model input from the recorded alignment: it must give the row's own
    probabilities (flow models included, where the reference frame is rebuilt too)."""
    path, _ = clips("expressions", seconds=4.0)
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10)
    columns = [c for c in analysis.frames if c.startswith("prob_")]
    for index in (0, 40, 77):
        model_input = input_at(analysis, path, index)
        row = analysis.frames.loc[model_input.frame_index]
        assert row["inferred"] and abs(model_input.frame_index - index) <= analysis.settings["inference_stride"]
        probs = lite_predictor.predict_proba([model_input.image])[0]
        np.testing.assert_allclose(probs, row[columns].to_numpy(float), atol=1e-5)


def test_a_clip_with_no_face_at_all_is_a_clear_error(tmp_path, lite_predictor):
    from larnet_core.synth.backdrops import textured_background

    rng = np.random.default_rng(0)
    frames = [textured_background((640, 360), rng) for _ in range(20)]
    path = write_footage(tmp_path / "empty-room.mp4", frames, 30.0)
    with pytest.raises(NoFaceError, match="no face found in any of the 20 frames of empty-room.mp4"):
        analyze_clip(path, lite_predictor)


def test_spot_eval_on_long_videos_with_head_movements(tmp_path, capsys):
    """CAS(ME)^2-layout long videos from real photos, each with two micro-expressions, a macro-expression, a head
    turn and a nod: `larnet spot-eval` scores exactly what `larnet analyze` spots, and no head movement is
    taken for an expression."""
    import json

    import pandas as pd

    from larnet_core.cli import main
    from larnet_core.synth.photo_long_videos import generate_photo_long_videos, load_head_movements

    root = tmp_path / "casme_sq"
    generate_photo_long_videos(root, n_videos=2, seed=5, seconds=12.0, size=(480, 360), write_video=False,
                               workers=1)
    out = tmp_path / "spot.csv"
    assert main(["spot-eval", "--root", str(root), "--out", str(out)]) == 0
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["overall"]["ground_truth"] == 6
    assert summary["overall"]["f1"] >= 0.5, summary
    spotted = pd.read_csv(out.with_name("spot.intervals.csv"))
    heads = load_head_movements(root)
    for movement in heads.itertuples():  # workbook frame numbers are 1-based
        mine = spotted[spotted["video"] == movement.video_folder]
        for row in mine.itertuples():
            assert interval_iou((row.onset_frame, row.offset_frame), (movement.onset - 1, movement.offset - 1)) == 0
