"""Test footage composed from real face photos: each scenario's truth matches its pixels and a face detector,
h264/HEVC files decode with the project's reader, and the photo long-video set loads as CAS(ME)^2."""

from __future__ import annotations

import dataclasses

import av
import numpy as np
import pytest

from larnet_core.errors import LarnetError
from larnet_core.face import box_iou, build_detector
from larnet_core.synth import action_unit_field
from larnet_core.synth.footage import SCENARIOS, expressions, face_enters, make_footage, write_footage
from larnet_core.synth.photo_faces import head_layer
from larnet_core.synth.photo_long_videos import generate_photo_long_videos, load_head_movements
from larnet_core.synth.scene import render_scene
from larnet_core.video.reader import open_clip

FPS = 15.0
SIZE = (256, 144)  # faces about 60 px wide: small and fast, still found by the Haar cascade


@pytest.fixture(scope="module")
def haar():
    return build_detector("haar")


@pytest.fixture(scope="module")
def rendered():
    """Every scenario at a small size, rendered once: ``{name: (frames list, truth, plan)}``."""
    out = {}
    for name in SCENARIOS:
        footage = make_footage(name, fps=FPS, size=SIZE, seed=3)
        out[name] = (list(footage.frames), footage.truth, footage.frames.plan)
    return out


def _region_change(frame: np.ndarray, background: np.ndarray, box) -> float:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return float(np.abs(frame[y0:y1, x0:x1].astype(int) - background[y0:y1, x0:x1]).mean())


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_face_pixels_are_where_the_truth_says(rendered, name):
    frames, truth, plan = rendered[name]
    assert len(frames) == truth.n_frames == int(round(FPS * {"shot_cut": 6, "two_faces": 4, "expressions": 4,
                                                            "crying_surprise_laugh": 12}.get(name, 5)))
    assert all(f.shape == (SIZE[1], SIZE[0], 3) and f.dtype == np.uint8 for f in frames)
    count = truth.faces_in_frame()
    for t, frame in enumerate(frames):
        background = plan.backgrounds[int(plan.shot[t])]
        for face in truth.faces:
            if face.present[t]:  # a face covers its box: far from the bare background there
                assert _region_change(frame, background, face.boxes[t]) > 15, (name, t, face.person)
        if count[t] == 0 and not any(p.shown[t] for p in plan.props):
            # No face: nothing but the background and camera noise (no partly visible person either).
            if not any(a.shown[t] and _on_screen(a, t, SIZE) for a in plan.actors):
                assert np.abs(frame.astype(int) - background).mean() < 2.5, (name, t)


def _on_screen(actor, t, size) -> bool:
    """Whether any part of the person's layer (hair, shoulders) lands in the frame."""
    h, w = actor.layer.image.shape[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], dtype=float) @ actor.matrix(t).T
    xs, ys = corners[:, 0] / corners[:, 2], corners[:, 1] / corners[:, 2]
    return xs.max() > 0 and xs.min() < size[0] and ys.max() > 0 and ys.min() < size[1]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_haar_finds_faces_where_present_and_none_elsewhere(rendered, haar, name):
    frames, truth, _ = rendered[name]
    present = truth.faces_in_frame()
    found, checked = 0, 0
    for t in range(0, truth.n_frames, 2):
        detections = haar.detect(frames[t])
        if present[t] == 0:
            assert detections == [], (name, t)
            continue
        # The Haar cascade looks for eyes: sunglasses hide them (the sunglasses scenario's occlusion).
        if any(cover.kind == "sunglasses" and cover.start <= t <= cover.end for cover in truth.occlusions):
            continue
        for face in truth.faces:
            if not face.present[t] or face.visible[t] < 0.95:
                continue
            checked += 1
            found += any(box_iou(d.box, tuple(face.boxes[t])) > 0.3 for d in detections)
    assert checked > 0
    assert found / checked >= 0.8, f"{name}: the face was found in {found} of {checked} frames"


def test_face_enters_after_two_seconds_and_stays(rendered):
    _, truth, _ = rendered["face_enters"]
    present = truth.present()
    first = int(np.argmax(present))
    assert not present[: int(2 * FPS)].any() and present[first:].all()
    assert 2 * FPS <= first <= 3 * FPS  # slid in within a second
    assert truth.faces[0].visible[-1] == 1.0 and truth.cuts == ()


def test_face_leaves_and_background_remains(rendered):
    _, truth, _ = rendered["face_leaves"]
    present = truth.present()
    last = int(np.flatnonzero(present)[-1])
    assert present[: int(2 * FPS)].all() and not present[last + 1:].any()
    assert last < 3.5 * FPS and truth.n_frames - last > FPS  # a second and more of background only


def test_shot_cut_is_hard_and_the_middle_shot_has_no_face(rendered):
    frames, truth, _ = rendered["shot_cut"]
    first, second = truth.cuts
    assert (first, second) == (int(2 * FPS), int(4 * FPS))
    present = truth.present()
    assert present[:first].all() and not present[first:second].any() and present[second:].all()

    def change(a, b):
        return float(np.abs(frames[a].astype(int) - frames[b]).mean())

    assert change(first - 1, first) > 20 and change(second - 1, second) > 20  # cuts: the whole picture changes
    assert change(first - 2, first - 1) < 3 and change(first + 1, first + 2) < 3  # within a shot: noise only


def test_head_turn_and_nod_move_the_whole_face_and_come_back(rendered):
    _, truth, _ = rendered["head_turn_and_nod"]
    assert truth.expressions == ()
    kinds = [m.kind for m in truth.head_movements]
    assert sorted(kinds) == ["nod", "turn"]
    turn, nod = sorted(truth.head_movements, key=lambda m: m.kind != "turn")
    assert 15 <= abs(turn.degrees) <= 25 and 10 <= nod.degrees <= 18
    assert 0.5 * FPS - 1 <= turn.end - turn.start + 1 <= FPS + 1 and nod.end - nod.start + 1 <= 0.8 * FPS + 1
    assert turn.end < nod.start or nod.end < turn.start
    boxes = truth.faces[0].boxes
    width = boxes[0, 2] - boxes[0, 0]
    centre_x, centre_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    assert abs(centre_x[turn.peak] - centre_x[turn.start]) > 0.12 * width  # far more than an expression moves
    assert abs(centre_x[turn.end] - centre_x[turn.start]) < 0.03 * width  # and back
    assert centre_y[nod.peak] - centre_y[nod.start] > 0.08 * width  # a nod tips the face down
    assert boxes[turn.peak, 2] - boxes[turn.peak, 0] < width  # turned: narrower
    assert truth.present().all()


def test_hand_covers_the_mouth_for_about_a_second(rendered):
    frames, truth, plan = rendered["hand_over_mouth"]
    (occlusion,) = truth.occlusions
    assert occlusion.kind == "hand" and abs((occlusion.end - occlusion.start + 1) / FPS - 1.0) < 0.5
    assert truth.present().all()
    face = truth.faces[0]
    assert face.occluded[occlusion.start:occlusion.end + 1].all()
    assert face.occluded.sum() == occlusion.end - occlusion.start + 1
    t = (occlusion.start + occlusion.end) // 2
    mx, my = face.landmarks[t, 3:5].mean(axis=0).round().astype(int)
    patch = (slice(my - 2, my + 3), slice(mx - 2, mx + 3))
    assert np.abs(frames[t][patch].astype(int) - frames[0][patch]).mean() > 10  # something else is there now
    hand = frames[t][patch].reshape(-1, 3).mean(axis=0)
    assert hand[0] > hand[2]  # skin: more red than blue


def test_two_faces_side_by_side_move_independently(rendered):
    _, truth, _ = rendered["two_faces"]
    assert len(truth.faces) == 2 and truth.faces[0].photo != truth.faces[1].photo
    assert (truth.faces_in_frame() == 2).all()
    left, right = truth.faces[0].boxes, truth.faces[1].boxes
    assert (left[:, 2] < right[:, 0]).all()  # person 0 on the left, no overlap
    dx = (left[:, 0] + left[:, 2]) / 2 - (right[:, 0] + right[:, 2]) / 2
    assert dx.std() > 0.3  # not one rigid picture


def test_a_mirrored_head_keeps_image_left_points_on_the_left():
    layer = head_layer("grace_hopper", 60)
    mirrored = layer.mirrored()
    width = layer.image.shape[1]
    m = mirrored.landmarks
    assert m.left_eye[0] < m.right_eye[0] and m.mouth_left[0] < m.mouth_right[0]
    assert m.left_eye[0] == pytest.approx(width - 1 - layer.landmarks.right_eye[0])
    assert mirrored.face_box[0] == pytest.approx(width - 1 - layer.face_box[2])
    assert np.array_equal(mirrored.image[:, 0], layer.image[:, -1])


def test_micro_expressions_move_the_face_a_few_pixels(rendered):
    _, truth, plan = rendered["expressions"]
    assert 1 <= len(truth.expressions) <= 2 and truth.head_movements == ()
    for event in truth.expressions:
        assert event.kind == "micro" and event.onset < event.apex < event.offset
        assert 3 <= event.offset - event.onset + 1 < 0.5 * FPS + 1
    # Realistic amplitude at the default size (faces ~150 px wide): a few pixels, not tens.
    frames, truth = expressions(seed=3, seconds=3)
    actor = frames.plan.actors[0]
    assert 130 <= actor.layer.face_size[0] <= 170
    for e in actor.expressions:
        peak = np.abs(action_unit_field(actor.layer.image.shape[:2], actor.layer.landmarks, e.aus, e.scale)).max()
        assert 1.5 <= peak <= 8.0


def test_expressions_change_only_the_face_and_only_during_the_expression():
    footage = expressions(fps=FPS, size=SIZE, seconds=4, seed=5, emotions=["surprise", "happiness"])
    plan = footage.frames.plan
    neutral = dataclasses.replace(plan, actors=(dataclasses.replace(plan.actors[0], expressions=()),))
    diffs = [np.abs(a.astype(int) - b) for a, b in zip(footage.frames, render_scene(neutral))]
    active = np.zeros(len(diffs), dtype=bool)
    for event in footage.truth.expressions:
        active[event.onset + 1:event.offset] = True  # intensity is 0 at onset and offset
        x0, y0, x1, y1 = footage.truth.faces[0].boxes[event.apex]
        changed = np.nonzero(diffs[event.apex].max(axis=2) > 8)
        assert len(changed[0]) > 20, event
        margin = 0.2 * (x1 - x0)
        assert changed[1].min() >= x0 - margin and changed[1].max() <= x1 + margin
        assert changed[0].min() >= y0 - margin and changed[0].max() <= y1 + margin
    assert all(d.max() == 0 for d, a in zip(diffs, active) if not a)


def test_frames_are_reproducible_and_reiterable():
    a = face_enters(fps=FPS, size=(128, 72), seconds=3.5, seed=11)
    b = face_enters(fps=FPS, size=(128, 72), seconds=3.5, seed=11)
    first, again = list(a.frames), list(a.frames)
    assert len(first) == len(a.frames) == a.truth.n_frames
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert all(np.array_equal(x, y) for x, y in zip(first, b.frames))
    assert np.array_equal(a.truth.faces[0].boxes, b.truth.faces[0].boxes, equal_nan=True)
    table = a.truth.table()
    assert len(table) == a.truth.n_frames and table["present"].tolist() == a.truth.present().tolist()


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_h264_and_hevc_files_decode_with_the_reader(tmp_path, codec):
    frames, truth = face_enters(fps=FPS, size=(160, 90), seconds=3.5, seed=2)
    path = write_footage(tmp_path / f"enters_{codec}.mp4", frames, fps=FPS, codec=codec)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == codec
    with open_clip(path) as reader:
        decoded = [f.image for f in reader.frames()]
        assert (reader.meta.width, reader.meta.height) == (160, 90)
        assert reader.meta.fps == pytest.approx(FPS)
    assert len(decoded) == truth.n_frames and decoded[0].shape == (90, 160, 3)
    original = list(frames)
    assert np.abs(decoded[-1].astype(int) - original[-1]).mean() < 6  # lossy, but the same picture


def test_unknown_codec_and_too_short_clips_are_refused(tmp_path):
    frames, _ = face_enters(fps=FPS, size=(128, 72), seconds=3.5, seed=2)
    with pytest.raises(LarnetError, match="h264, hevc"):
        write_footage(tmp_path / "x.mp4", frames, fps=FPS, codec="vp9")
    with pytest.raises(LarnetError, match="at least"):
        face_enters(fps=FPS, size=(128, 72), seconds=2.5)
    with pytest.raises(LarnetError, match="face_enters"):
        make_footage("face_appears")


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("photo_long") / "casme_sq"
    manifest = generate_photo_long_videos(out, n_videos=2, seed=4, seconds=10, fps=FPS, size=(160, 120),
                                          min_gap_s=0.7, workers=1)
    return out, manifest


def test_photo_long_videos_load_as_casme_sq_with_the_workbook_intervals(photo_set):
    from larnet_core.data import load_dataset

    out, manifest = photo_set
    records = load_dataset("casme2-long", out)
    assert len(records) == 2 and {r.subject for r in records} == {"s15", "s16"}
    for record in records:
        expected = manifest.table[manifest.table["video_folder"] == record.video].sort_values("onset")
        assert len(record.frames) == int(10 * FPS)
        assert record.intervals["onset"].tolist() == expected["onset"].tolist()
        assert record.intervals["apex"].tolist() == expected["apex"].tolist()
        assert record.intervals["offset"].tolist() == expected["offset"].tolist()
        assert sorted(record.intervals["type"]) == ["macro", "micro", "micro"]
        mp4 = out / "rawvideo" / record.subject / f"{record.video}.mp4"
        with open_clip(mp4) as reader:
            assert sum(1 for _ in reader.frames()) == int(10 * FPS)
    assert set(manifest.table["photo"]) == {"grace_hopper", "astronaut"}


def test_head_movements_are_recorded_apart_and_not_in_the_workbook(photo_set):
    out, manifest = photo_set
    moves = load_head_movements(out)
    assert len(moves) == 4 and sorted(moves["kind"]) == ["nod", "nod", "turn", "turn"]
    gap = int(np.ceil(0.7 * FPS))
    for folder, events in manifest.table.groupby("video_folder"):
        own = moves[moves["video_folder"] == folder]
        spans = sorted([(r.onset, r.offset) for r in events.itertuples()]
                       + [(r.onset, r.offset) for r in own.itertuples()])
        assert len(spans) == 5
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start - end >= gap  # nothing overlaps or touches: each event can be scored alone
        coded = {(r.onset, r.offset) for r in events.itertuples()}
        assert not coded & {(r.onset, r.offset) for r in own.itertuples()}


def test_photo_long_videos_refuse_videos_too_short_for_their_events(tmp_path):
    with pytest.raises(LarnetError, match="--seconds"):
        generate_photo_long_videos(tmp_path / "short", n_videos=1, seconds=3, fps=FPS, size=(96, 72), workers=1)


def test_cli_writes_photo_long_videos_and_footage(tmp_path, capsys):
    from larnet_core.cli import main

    code = main(["synth", str(tmp_path / "long"), "--long", "--photos", "--videos", "1", "--seconds", "12",
                 "--fps", "15", "--size", "96x72", "--no-mp4", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "wrote 3 expressions" in out and "2 head movements" in out
    assert len(load_head_movements(tmp_path / "long")) == 2
    code = main(["synth", str(tmp_path / "footage"), "--footage", "--scenario", "face_leaves", "--seconds", "4",
                 "--fps", "10", "--size", "96x64", "--codec", "hevc"])
    assert code == 0
    folder = tmp_path / "footage"
    assert (folder / "face_leaves.mp4").is_file() and (folder / "face_leaves.truth.json").is_file()
