"""Every-face results: the annotated video draws each frame's own faces, and the summary counts a frame as
having a face when any followed face is in it."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from larnet_core.results import AnalysisResult
from larnet_core.synth.footage import make_footage, write_footage
from larnet_core.video import analyze_clip
from larnet_core.video.reader import ClipMeta

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory) -> Path:
    """Two real photos side by side, moving, 2 s at 30 fps (640x360 h264)."""
    footage = make_footage("two_faces", seed=3, seconds=2.0)
    return write_footage(tmp_path_factory.mktemp("two") / "two-faces.mp4", footage.frames, footage.truth.fps)


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _edge_change(rendered: np.ndarray, original: np.ndarray, box) -> float:
    """Mean change along the top and left edges of a box (where its outline is drawn)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    diff = np.abs(rendered.astype(np.int16) - original.astype(np.int16)).sum(axis=2)
    top = diff[max(y0, 0), max(x0, 0) + 4:x1 - 4]
    left = diff[max(y0, 0) + 4:y1 - 4, max(x0, 0)]
    return float(np.concatenate([top, left]).mean())


def test_every_face_annotated_video_draws_each_frames_own_boxes(two_faces, lite_predictor, tmp_path):
    from larnet_core.cli import main

    out = tmp_path / "every.mp4"
    assert main(["analyze", str(two_faces), "--checkpoint", str(lite_predictor.loaded.path), "--out",
                 str(tmp_path / "every.csv"), "--all-faces", "--video", str(out), "--max-infer-fps", "5",
                 "--backend", "torch"]) == 0
    table = pd.read_csv(tmp_path / "every.csv")
    assert sorted(table["face_id"].unique()) == [0, 1] and len(table) == 2 * table["frame"].nunique()
    rendered, original = _decoded(out), _decoded(two_faces)
    assert len(rendered) == len(original) == table["frame"].nunique()
    for index in range(0, len(rendered), 3):
        rows = table[(table["frame"] == index) & table["face_found"]]
        assert len(rows) == 2, index
        for row in rows.itertuples():
            # An outline on both faces' boxes of this very frame (the other face's box or another frame's is
            # not there).
            assert _edge_change(rendered[index], original[index], (row.face_x0, row.face_y0, row.face_x1,
                                                                   row.face_y1)) > 40, (index, row.face_id)


def test_frames_with_face_counts_a_frame_when_any_face_is_in_it():
    """Face 0 in frames 0-1, face 1 in frames 2-3: every frame has a face."""
    frames = pd.DataFrame({
        "frame": [0, 0, 1, 1, 2, 2, 3, 3], "time_s": np.repeat(np.arange(4) / 25, 2),
        "face_found": [True, False, True, False, False, True, False, True],
        "face_id": [0, -1, 0, -1, -1, 1, -1, 1],
    })
    result = AnalysisResult(ClipMeta("two.mp4", 25.0, 64, 48, 4, 0.16, ""), frames, pd.DataFrame(), None, [])
    assert result.summary()["frames_with_face"] == 4
    assert json.loads(result.to_json())["frames_with_face"] == 4


def test_frames_with_face_of_every_face_and_main_face_analyses_agree(two_faces, lite_predictor):
    every = analyze_clip(two_faces, lite_predictor, max_infer_fps=5, all_faces=True)
    main = analyze_clip(two_faces, lite_predictor, max_infer_fps=5)
    assert every.summary()["frames_with_face"] == main.summary()["frames_with_face"] == every.meta.frame_count
