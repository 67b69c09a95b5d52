"""Every-face results: the annotated video draws each frame's own faces, and the summary counts a frame as
having a face when any followed face is in it."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from larnet_core.result import AnalysisResult, ClipMeta
from larnet_core.synth.footage import make_footage, write_footage
from larnet_core.video import analyze_clip

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
    result = AnalysisResult.from_frames(ClipMeta("two.mp4", 25.0, 64, 48, 4, 0.16, ""), frames, pd.DataFrame(),
                                        None, [], settings={"all_faces": True})
    assert result.summary()["frames_with_face"] == 4
    assert json.loads(result.to_json())["frames_with_face"] == 4


def test_frames_with_face_of_every_face_and_main_face_analyses_agree(two_faces, lite_predictor):
    every = analyze_clip(two_faces, lite_predictor, max_infer_fps=5, all_faces=True)
    main = analyze_clip(two_faces, lite_predictor, max_infer_fps=5)
    assert every.summary()["frames_with_face"] == main.summary()["frames_with_face"] == every.meta.frame_count


def test_every_face_result_has_one_table_per_face_and_survives_a_session(two_faces, lite_predictor, tmp_path):
    from larnet_core.sessions import SessionStore, export_bundle, import_bundle, result_from_session
    from larnet_core.sessions import result_to_session

    every = analyze_clip(two_faces, lite_predictor, max_infer_fps=5, all_faces=True)
    main = analyze_clip(two_faces, lite_predictor, max_infer_fps=5)
    n = every.meta.frame_count
    # The same shape whatever the face mode: one table per face, one row per frame; the main face as a view.
    assert sorted(every.tables) == [0, 1] and list(main.tables) == [main.main_face_id]
    for table in [*every.tables.values(), main.main]:
        assert table["frame"].tolist() == list(range(n))
    assert every.main_face_id == main.main_face_id
    pd.testing.assert_frame_equal(every.main.drop(columns="in_interval"), main.main.drop(columns="in_interval"))
    with SessionStore.open(f"sqlite:///{tmp_path / 's.sqlite3'}") as store, \
            SessionStore.open(f"sqlite:///{tmp_path / 'other.sqlite3'}") as other:
        for result in (every, main):
            created = store.create(result_to_session(result, "faces", clip=two_faces.read_bytes()))
            bundle = export_bundle(store, created.id, tmp_path / f"{created.id}.larnet.zip")
            for reopened in (result_from_session(store.get(created.id)),
                             result_from_session(other.get(import_bundle(other, bundle).id))):
                assert sorted(reopened.tables) == sorted(result.tables)
                for face_id, table in result.tables.items():
                    pd.testing.assert_frame_equal(reopened.tables[face_id], table, obj=f"face {face_id}")
                pd.testing.assert_frame_equal(reopened.intervals, result.intervals)
                assert reopened.prediction == result.prediction


def test_an_every_face_table_split_back_gives_empty_rows_where_a_face_is_absent():
    """Stored every-face tables (rows in any order, absent faces' rows with face id -1) split back into one table
    per face with the frame's own time, face count and cut."""
    from larnet_core.result import split_faces

    frames = pd.DataFrame({
        "frame": [0, 0, 1, 1, 2, 2], "time_s": [0.0, 0.0, 0.04, 0.04, 0.08, 0.08],
        "face_found": [True, True, True, False, False, True], "face_id": [0, 1, 0, -1, -1, 1],
        "faces_in_frame": [2, 2, 1, 1, 1, 1], "shot_cut": [False] * 6,
        "face_x0": [1.0, 5.0, 1.5, np.nan, np.nan, 5.5], "pred_label": pd.Series(["a", "b", "a", None, None, "b"], dtype=object),
        "segment": [0, 1_000_000, 0, -1, -1, 1_000_000],
    })
    tables = split_faces(frames.iloc[::-1], every_face=True)
    assert sorted(tables) == [0, 1]
    assert tables[0]["face_found"].tolist() == [True, True, False]
    assert tables[0]["face_id"].tolist() == [0, 0, -1] and tables[0]["segment"].tolist() == [0, 0, -1]
    assert tables[0]["time_s"].tolist() == [0.0, 0.04, 0.08] and tables[0]["faces_in_frame"].tolist() == [2, 1, 1]
    assert tables[1]["pred_label"].tolist() == ["b", None, "b"] and np.isnan(tables[1]["face_x0"].iloc[1])
    assert all(tables[f].dtypes.equals(frames.dtypes) for f in tables)
