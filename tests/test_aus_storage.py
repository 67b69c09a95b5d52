"""The new per-frame columns (pose, exclusion, AUs) and interval fields (aus, rule_label) travel through sessions,
bundles and batch outputs, and sessions saved without them still open."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

from larnet_core.aus.names import AU_COLUMNS, FACE_STATE_COLUMNS
from larnet_core.result import AnalysisResult
from larnet_core.sessions import SessionStore, result_from_session, result_to_session
from larnet_core.synth.footage import make_footage, write_footage
from larnet_core.video.analysis import analyze_clip
from markers import needs_mediapipe

pytestmark = needs_mediapipe


@pytest.fixture(scope="module")
def smile(tmp_path_factory):
    footage = make_footage("expression_while_moving", kind="micro", movement="turn", photo="astronaut", seconds=3.0)
    return write_footage(tmp_path_factory.mktemp("smile") / "smile.mp4", footage.frames, 30.0)


@pytest.fixture(scope="module")
def analysis(smile, lite_predictor):
    return analyze_clip(smile, lite_predictor, max_infer_fps=10.0)


def test_a_session_keeps_pose_exclusions_units_and_interval_rules(analysis, smile, tmp_path):
    assert len(analysis.intervals) == 1 and "AU12" in analysis.intervals["aus"].iloc[0]
    with SessionStore.open(f"sqlite:///{tmp_path / 's.sqlite3'}") as store:
        created = store.create(result_to_session(analysis, "smile", clip=smile.read_bytes()))
        reopened = result_from_session(store.get(created.id))
    for column in FACE_STATE_COLUMNS:
        pd.testing.assert_series_equal(reopened.frames[column], analysis.frames[column], check_dtype=False)
    assert reopened.intervals[["aus", "rule_label"]].equals(analysis.intervals[["aus", "rule_label"]])
    assert reopened.prediction == analysis.prediction and reopened.prediction.source == "interval"


def test_a_session_saved_before_the_units_still_opens(analysis, tmp_path):
    session = result_to_session(analysis, "older")
    session.results = session.results.drop(columns=list(FACE_STATE_COLUMNS))
    session.intervals = session.intervals.drop(columns=["aus", "rule_label"])
    with SessionStore.open(f"sqlite:///{tmp_path / 'old.sqlite3'}") as store:
        reopened = result_from_session(store.get(store.create(session).id))
    assert "AU12" not in reopened.frames.columns and len(reopened.intervals) == 1


def test_a_session_saved_before_the_blink_column_still_opens_and_its_blinks_are_read_as_then(analysis, tmp_path):
    from larnet_core.video.blinks import blink_frames

    assert analysis.frames["blink"].dtype == bool  # the column travels as the other face-state columns (above)
    session = result_to_session(analysis, "before blinks")
    session.results = session.results.drop(columns=["blink"])
    with SessionStore.open(f"sqlite:///{tmp_path / 'old.sqlite3'}") as store:
        reopened = result_from_session(store.get(store.create(session).id))
    assert "blink" not in reopened.frames.columns and len(reopened.intervals) == 1
    assert len(blink_frames(reopened.frames, 30.0)) == len(reopened.frames)  # the old rule on AU43


def test_batch_outputs_carry_the_columns(smile, lite_predictor, tmp_path):
    from larnet_core.cli import main

    out = tmp_path / "batch"
    assert main(["batch", str(smile), "--checkpoint", str(lite_predictor.loaded.path), "--out", str(out),
                 "--no-progress", "--max-infer-fps", "10"]) == 0
    frames = pd.read_parquet(out / "frames")
    intervals = pd.read_parquet(out / "intervals")
    assert set(AU_COLUMNS) <= set(frames.columns) and frames["pose_yaw"].notna().any()
    assert frames["blink"].dtype == bool
    assert (frames["excluded"].fillna("") == "").mean() > 0.7
    assert "AU12" in intervals["aus"].iloc[0] and intervals["rule_label"].iloc[0].startswith("EMFACS")
