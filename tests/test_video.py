"""Clip reading and analysis: every container/codec, image sequences, the analysis table, progress and cancel,
streaming memory, annotated export and the ``larnet analyze`` command. Bad inputs are in test_video_bad_inputs.py."""

from __future__ import annotations

import io
import json
import threading
import tracemalloc
import types
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest

from larnet_core.errors import Cancelled, NoFaceError, VideoError
from larnet_core.video import (
    ClipAnalysis,
    analyze_clip,
    frame_at,
    open_clip,
    read_video_frames,
    render_annotated_video,
    write_y4m,
)

CLASSES = ["happiness", "surprise", "others"]

# extension -> (encoder, pixel format)
CONTAINERS = {
    "mp4": ("libx264", "yuv420p"),
    "avi": ("mjpeg", "yuvj420p"),
    "mov": ("libx264", "yuv420p"),
    "webm": ("libvpx-vp9", "yuv420p"),
    "mkv": ("libx264", "yuv420p"),
}


def write_video(path: Path, frames: list[np.ndarray], fps: float, encoder: str = "libx264",
                pix_fmt: str = "yuv420p") -> Path:
    """Encode RGB frames with PyAV (the tests' own writer, independent of the code under test)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(encoder, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        if encoder == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "12"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def index_frames(n: int, height: int = 96, width: int = 128) -> list[np.ndarray]:
    """Frames whose brightness encodes their index (10 grey levels apart) over a fixed texture."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 40, (height, width, 1)).astype(np.int16)
    return [np.clip(texture + 20 + 8 * i, 0, 255).astype(np.uint8).repeat(3, axis=2) for i in range(n)]


def index_of(image: np.ndarray) -> int:
    return int(round((float(image.mean()) - 20 - 19.5) / 8))


@pytest.fixture(scope="module")
def predictor(lite_predictor):
    return lite_predictor


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    """A real photo (Grace Hopper) animated with one micro-expression, as mp4, with its truth."""
    from larnet_core.face import sample_face_photos
    from larnet_core.synth import make_sample_clip

    photo = cv2.resize(sample_face_photos()["grace_hopper"], (256, 300), interpolation=cv2.INTER_AREA)
    frames, truth = make_sample_clip(photo, "happiness", seed=3, fps=30, seconds=2.0, amplitude=1.5)
    path = write_video(tmp_path_factory.mktemp("clips") / "hopper.mp4", frames, 30)
    return path, truth


@pytest.mark.parametrize("ext", sorted(CONTAINERS))
def test_every_container_and_codec_reads_in_order(tmp_path, ext):
    encoder, pix_fmt = CONTAINERS[ext]
    path = write_video(tmp_path / f"clip.{ext}", index_frames(12), 25, encoder, pix_fmt)
    with open_clip(path) as reader:
        assert (reader.meta.fps, reader.meta.width, reader.meta.height) == (25.0, 128, 96)
        frames = list(reader.frames())
    assert [f.index for f in frames] == list(range(12))
    assert [index_of(f.image) for f in frames] == list(range(12))
    assert frames[3].time_s == pytest.approx(3 / 25, abs=1e-3)
    assert index_of(frame_at(path, 7)) == 7


def test_bytes_and_file_objects_are_read_like_files(tmp_path):
    path = write_video(tmp_path / "clip.mp4", index_frames(6), 30)
    data = path.read_bytes()
    upload = types.SimpleNamespace(name="upload.mp4", getvalue=lambda: data)  # what a web upload looks like
    for source in (data, io.BytesIO(data), upload):
        with open_clip(source) as reader:
            assert [index_of(f.image) for f in reader.frames()] == list(range(6))
    with open_clip(upload) as reader:
        assert reader.meta.name == "upload.mp4"
        assert reader.meta.sha256 == open_clip(path).meta.sha256


def test_reader_is_lazy_and_downscales_while_decoding(tmp_path):
    path = write_video(tmp_path / "big.mp4", index_frames(5, 240, 320), 30)
    frames = read_video_frames(path, max_side=160)
    assert isinstance(frames, types.GeneratorType)
    first = next(frames)
    assert first.shape == (120, 160, 3)
    frames.close()


def test_downscaled_frames_are_pyav_s_own_conversion_frame_by_frame(tmp_path):
    # The reader keeps one swscale context for the clip; each frame must still be exactly what PyAV's per-frame
    # conversion (a fresh context each time) gives, at the working size and at full size.
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(6)]
    path = write_video(tmp_path / "noise.mp4", frames, 30)
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
        small = [f.to_ndarray(format="rgb24", width=160, height=120, interpolation="AREA") for f in decoded]
        full = [f.to_ndarray(format="rgb24") for f in decoded]
    for max_side, expected in ((160, small), (None, full)):
        with open_clip(path, max_side=max_side) as reader:
            got = [f.image for f in reader.frames()]
        assert len(got) == len(expected) == 6
        for mine, theirs in zip(got, expected):
            assert mine.shape == theirs.shape
            assert np.array_equal(mine, theirs)


def test_200_fps_clip_is_analysed_with_a_bounded_inference_stride(tmp_path, predictor):
    path = write_video(tmp_path / "fast.mp4", index_frames(40), 200)
    seen = []
    analysis = analyze_clip(path, predictor, face="none", progress=lambda f, m: seen.append((f, m)))
    assert analysis.meta.fps == 200.0 and analysis.meta.frame_count == 40
    assert analysis.settings["inference_stride"] == 4
    assert analysis.settings["motion_frame_step"] == 2  # motion measured at 100 fps, frames between interpolated
    assert analysis.frames["motion"].notna().all() and analysis.frames["motion_macro"].notna().all()
    assert len(analysis.frames) == 40
    assert analysis.frames["time_s"].iloc[-1] == pytest.approx(39 / 200, abs=1e-3)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    probs = analysis.probabilities.to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def _frame_pngs(n: int) -> dict[str, bytes]:
    return {f"img{i + 1}.png": cv2.imencode(".png", f)[1].tobytes() for i, f in enumerate(index_frames(n, 64, 48))}


def test_zip_and_folder_of_frames_in_natural_order(tmp_path, predictor):
    images = _frame_pngs(12)  # img1 .. img12: natural order puts img10 after img9
    folder = tmp_path / "sub01" / "EP02_01f"
    folder.mkdir(parents=True)
    archive = tmp_path / "clip.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in images.items():
            (folder / name).write_bytes(data)
            zf.writestr(f"sub01/EP02_01f/{name}", data)
        zf.writestr("sub01/EP02_01f/notes.txt", "ignored")
    for source in (folder, archive, archive.read_bytes()):
        with open_clip(source) as reader:
            assert reader.meta.fps == 200.0  # CASME II's rate unless told otherwise
            assert [index_of(f.image) for f in reader.frames()] == list(range(12))
    assert index_of(frame_at(archive, 9)) == 9
    from_zip = analyze_clip(archive, predictor, face="auto", fps=100)
    from_folder = analyze_clip(folder, predictor, face="none", fps=100)
    assert from_zip.settings["face_source"] == "whole-frame" and from_zip.warnings  # small frames: whole frame
    assert from_zip.meta.fps == 100.0 and len(from_zip.frames) == 12
    pd.testing.assert_frame_equal(from_zip.frames, from_folder.frames)


def test_analysis_of_a_real_face_finds_the_expression(face_clip, predictor):
    from larnet_core.result import frame_layout
    from larnet_core.training.spotting_scores import interval_iou

    path, truth = face_clip
    analysis = analyze_clip(path, predictor)
    assert isinstance(analysis, ClipAnalysis)
    assert analysis.settings["face_source"] == "tracked" and not analysis.warnings
    assert analysis.settings["tracker"] == "mediapipe"
    expected = ["frame", "time_s", "face_found", "face_id", "faces_in_frame", "shot_cut", "face_x0", "face_y0",
                "face_x1", "face_y1", "face_confidence", *[f"prob_{c}" for c in CLASSES], "pred_label", "confidence",
                "inferred", "motion", "motion_brows", "motion_eyes", "motion_nose", "motion_mouth", "motion_cheeks",
                "motion_chin", "motion_macro", "motion_macro_brows", "motion_macro_eyes", "motion_macro_nose",
                "motion_macro_mouth", "motion_macro_cheeks", "motion_macro_chin", "drag_eyes", "drag_eyes_macro",
                "motion_macro_back", "motion_macro_forward", "head_motion", "head_moving",
                "head_moving_macro", "segment", "pose_yaw", "pose_pitch", "pose_roll", "head_residual",
                "head_residual_macro", "excluded", "occluded", "motion_left_out",
                *[f"AU{n:02d}" for n in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 43)],
                "blink", "in_interval", "input_a", "input_b",
                "input_tx", "input_ty", "input_reference", "input_aligned"]
    assert list(analysis.frames.columns) == expected == frame_layout(CLASSES)
    assert analysis.frames["face_found"].all() and (analysis.frames["face_id"] == 0).all()
    assert analysis.frames["input_aligned"].all()  # aligned from the mesh's key points
    assert len(analysis.faces) == 1 and bool(analysis.faces["main"].iloc[0])
    box = analysis.frames[["face_x0", "face_y0", "face_x1", "face_y1"]].iloc[0].to_numpy()
    assert 0 <= box[0] < box[2] <= 256 and 0 <= box[1] < box[3] <= 300  # stored-frame pixels
    best = max(analysis.intervals.itertuples(), key=lambda r: r.peak_motion)
    assert interval_iou((best.onset_frame, best.offset_frame), (truth.onset, truth.offset)) >= 0.5
    assert best.kind == "micro" and best.label in CLASSES
    assert analysis.frames.loc[truth.apex, "in_interval"]
    pred = analysis.prediction
    # Spot, then recognise: the clip's label is the model's output on the strongest interval's onset -> apex.
    assert pred.source == "interval" and pred.window == (best.onset_frame, best.apex_frame)
    assert pred.label == best.label and pred.confidence == pytest.approx(best.confidence)
    assert pred.label in CLASSES and pred.confidence == pytest.approx(max(pred.probabilities.values()))
    summary = json.loads(analysis.to_json())
    assert summary["clip"]["frame_count"] == 60 and summary["prediction"]["label"] == pred.label
    assert summary["intervals"][0]["kind"] in ("micro", "macro")


def test_no_face_and_single_frame_clips_give_clear_errors(tmp_path, predictor):
    rng = np.random.default_rng(1)
    noise = [cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (9, 9), 3) for _ in range(6)]
    path = write_video(tmp_path / "wall.mp4", noise, 30)
    for face in ("auto", "haar", "mediapipe"):
        with pytest.raises(NoFaceError, match="no face found in any of the 6 frames of wall.mp4"):
            analyze_clip(path, predictor, face=face)
    single = write_video(tmp_path / "one.mp4", index_frames(1), 30)
    with pytest.raises(VideoError, match="only 1 frame"):
        analyze_clip(single, predictor, face="none")


def test_cancel_stops_the_analysis(tmp_path, predictor):
    path = write_video(tmp_path / "clip.mp4", index_frames(60), 30)
    cancel = threading.Event()

    def progress(fraction: float, message: str) -> None:
        if fraction > 0.2:
            cancel.set()

    with pytest.raises(Cancelled, match="cancelled at frame"):
        analyze_clip(path, predictor, face="none", progress=progress, cancel=cancel)


def test_memory_stays_bounded_as_the_clip_grows(tmp_path, predictor):
    """Frames are streamed: 4x the frames must not take 4x the memory (one 320x240 frame is 230 kB)."""
    peaks = {}
    for n in (40, 160):
        path = write_video(tmp_path / f"clip{n}.mp4", index_frames(n, 240, 320), 30)
        tracemalloc.start()
        analyze_clip(path, predictor, face="none", max_infer_fps=3)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    held_all = 160 * 240 * 320 * 3
    assert peaks[160] < peaks[40] + held_all / 8, peaks


def test_annotated_video_and_y4m(tmp_path, face_clip, predictor):
    path, _ = face_clip
    analysis = analyze_clip(path, predictor, max_infer_fps=10)
    out = render_annotated_video(path, analysis, tmp_path / "annotated.mp4")
    with open_clip(out) as reader:
        frames = list(reader.frames())
    assert len(frames) == 60 and frames[0].image.shape == (300, 256, 3)
    assert not np.array_equal(frames[0].image, next(read_video_frames(path)))  # something was drawn
    y4m = write_y4m(read_video_frames(path), tmp_path / "cam.y4m", fps=30)
    assert y4m.read_bytes().startswith(b"YUV4MPEG2 W256 H300 F30:1")
    with av.open(str(y4m)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 60


def test_cli_analyze_writes_table_and_summary(tmp_path, face_clip, predictor):
    from larnet_core.cli import main

    path, _ = face_clip
    checkpoint = predictor.loaded.path
    assert main(["analyze", str(path), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "r.csv"),
                 "--backend", "torch", "--max-infer-fps", "0.5"]) == 0
    table = pd.read_csv(tmp_path / "r.csv")
    summary = json.loads((tmp_path / "r.json").read_text())
    assert len(table) == 60 and {"prob_happiness", "motion", "in_interval"} <= set(table.columns)
    assert summary["model"]["preset"] == "larnet-lite" and "prediction" in summary
    assert main(["analyze", str(path), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "r.parquet"),
                 "--summary", str(tmp_path / "s.json"), "--backend", "torch", "--max-infer-fps", "0.5",
                 "--face", "none"]) == 0
    assert len(pd.read_parquet(tmp_path / "r.parquet")) == 60 and (tmp_path / "s.json").is_file()
    assert main(["analyze", str(path), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "r.txt")]) == 2


def test_shipped_sample_clips_match_their_truth(predictor):
    from larnet_core.training.spotting_scores import interval_iou

    samples = Path(__file__).resolve().parents[1] / "assets" / "samples"
    truths = sorted(samples.glob("*.truth.json"))
    assert len(truths) >= 2
    for truth_path in truths:
        truth = json.loads(truth_path.read_text())
        assert "public-domain" in truth["notice"] and "Synthetic" in truth["notice"]
        analysis = analyze_clip(samples / truth["video"], predictor, max_infer_fps=5)
        assert analysis.meta.frame_count == truth["frame_count"] and analysis.meta.fps == truth["fps"]
        spotted = [(r.onset_frame, r.offset_frame) for r in analysis.intervals.itertuples()]
        for expression in truth["expressions"]:
            wanted = (expression["onset_frame"], expression["offset_frame"])
            assert max(interval_iou(s, wanted) for s in spotted) >= 0.5, (truth_path.name, spotted, wanted)
