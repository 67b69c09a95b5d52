"""One analysis result: analysed, saved, reopened, exported and imported without losing anything."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pg_server
from larnet_core.result import (
    FRAME_COLUMNS,
    MOTION_COLUMNS,
    TRACK_COLUMNS,
    AnalysisResult,
    class_names_in,
    live_result,
    probability_columns,
)
from larnet_core.sessions import SessionStore, export_bundle, import_bundle, result_from_session, result_to_session
from larnet_core.video.analysis import ClipAnalysis, input_at

CLASSES = ["happiness", "surprise", "others"]


@pytest.fixture(scope="module")
def clip(expressions_clip) -> Path:
    return expressions_clip


@pytest.fixture(scope="module")
def analysis(analysed_expressions) -> ClipAnalysis:
    return analysed_expressions


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sessions.sqlite3'}"
    else:
        url = pg_server.create_schema(request.getfixturevalue("pg_server_url"), f"t_{uuid.uuid4().hex[:12]}")
    with SessionStore.open(url) as opened:
        yield opened


def assert_same_result(got: AnalysisResult, want: AnalysisResult) -> None:
    assert sorted(got.tables) == sorted(want.tables)
    for face_id, table in want.tables.items():
        pd.testing.assert_frame_equal(got.tables[face_id], table, check_dtype=True, obj=f"face {face_id}")
    for name, table in want.stored_tables().items():
        if table.empty and not len(table.columns):
            assert got.stored_tables()[name].empty
            continue
        pd.testing.assert_frame_equal(got.stored_tables()[name], table, check_dtype=True, obj=name)
    assert got.prediction == want.prediction
    assert got.class_names == want.class_names
    assert got.settings == json.loads(json.dumps(want.settings))
    assert got.warnings == want.warnings
    assert got.model == want.model
    assert got.meta == want.meta
    assert got.kind == want.kind


def test_one_type_with_named_column_groups(analysis):
    assert type(analysis) is AnalysisResult
    assert list(analysis.probabilities.columns) == probability_columns(CLASSES)
    assert class_names_in(analysis.frames.columns) == CLASSES
    assert tuple(analysis.track.columns) == TRACK_COLUMNS
    assert tuple(analysis.motion.columns) == MOTION_COLUMNS
    assert list(analysis.inputs.columns) == [c for c in FRAME_COLUMNS if c.startswith("input_")]
    assert analysis.in_interval.dtype == bool
    assert analysis.model["sha256"] and len(analysis.model["sha256"]) == 64


def test_analyse_save_reopen_is_equal(store, analysis, clip):
    session = result_to_session(analysis, "expressions", clip=clip.read_bytes())
    created = store.create(session)
    reopened = result_from_session(store.get(created.id))
    assert_same_result(reopened, analysis)
    stored = store.get(created.id)
    assert stored.model.checkpoint_sha256 == analysis.model["sha256"]
    assert stored.model.synthetic == analysis.synthetic
    assert stored.input.data == clip.read_bytes()
    # The exact model input is rebuilt from the stored clip and table alone.
    frame = int(reopened.frames.loc[reopened.frames["inferred"], "frame"].iloc[0])
    assert np.array_equal(input_at(reopened, stored.input.data, frame).image,
                          input_at(analysis, clip, frame).image)


def test_export_import_into_another_store_is_equal(analysis, clip, tmp_path):
    with SessionStore.open(f"sqlite:///{tmp_path / 'a.sqlite3'}") as first, \
            SessionStore.open(f"sqlite:///{tmp_path / 'b.sqlite3'}") as second:
        created = first.create(result_to_session(analysis, "expressions", notes="shared", clip=clip.read_bytes()))
        bundle = export_bundle(first, created.id, tmp_path / "expressions.larnet.zip")
        imported = import_bundle(second, bundle)
        assert_same_result(result_from_session(second.get(imported.id)), analysis)


def test_live_result_keeps_history_events_and_settings(tmp_path):
    from larnet_core.video.live import LiveEvent

    class Report:
        def __init__(self, index, label):
            self.frame_index, self.time_s, self.label = index, index / 30.0, label
            self.confidence = 0.6 if label else None
            self.probabilities = {"happiness": 0.6, "surprise": 0.3, "others": 0.1} if label else {}
            self.motion = 0.1 * index if label else float("nan")

    history = [Report(i, "happiness" if i != 2 else None) for i in range(5)]
    events = [LiveEvent(0.1, "happiness", 0.6, 0.1, "micro", 0, 0.12, 0.4)]
    settings = {"face": "auto", "fps_hint": 30.0, "spotting": {"min_s": 0.04}}
    result = live_result(history, events, CLASSES, {"preset": "larnet-lite", "sha256": "ab" * 32,
                                                    "checkpoint": "", "synthetic": True}, settings, fps=30.0)
    with SessionStore.open(f"sqlite:///{tmp_path / 's.sqlite3'}") as store:
        created = store.create(result_to_session(result, "webcam"))
        reopened = result_from_session(store.get(created.id))
    assert_same_result(reopened, result)
    assert reopened.events["label"].tolist() == ["happiness"]
    assert not reopened.frames["face_found"].iloc[2]


def test_sessions_saved_before_the_result_record_still_reopen_with_a_prediction(analysis, tmp_path):
    from larnet_core.result import clip_prediction

    with SessionStore.open(f"sqlite:///{tmp_path / 's.sqlite3'}") as store:
        session = result_to_session(analysis, "old style")
        session.result, session.faces = {}, None
        created = store.create(session)
        reopened = result_from_session(store.get(created.id))
    # Such sessions predate spot-then-recognise: their prediction is re-derived from the tables as it was made
    # then (the mean around the strongest interval's apex), not the model's output on its onset -> apex input.
    expected = clip_prediction(analysis.intervals, analysis.frames, CLASSES, analysis.meta.fps)
    assert reopened.prediction == expected and reopened.prediction.label in CLASSES
    assert reopened.class_names == CLASSES


def test_switching_the_model_before_saving_records_the_analysis_model(analysis, tmp_path):
    from larnet_core.inference import Predictor
    from larnet_core.models import ModelCard, load_checkpoint, save_checkpoint

    card = ModelCard.for_preset("larnet-lite", ["happiness", "others"])
    other = Predictor(load_checkpoint(save_checkpoint(card.build(), card, tmp_path / "other.pt")))
    assert other.loaded.sha256 != analysis.model["sha256"]
    session = result_to_session(analysis, "analysis model")  # nothing about the now-selected model enters
    assert session.model.checkpoint_sha256 == analysis.model["sha256"]
    assert session.model.preset == analysis.model["preset"]


def test_cli_analyze_saves_a_session_and_show_json_prints_the_whole_result(clip, lite_predictor, tmp_path, capsys):
    from larnet_core.cli import main

    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert main(["analyze", str(clip), "--checkpoint", str(lite_predictor.loaded.path), "--out",
                 str(tmp_path / "out.csv"), "--save-session", "from the CLI", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    session_id = next(line for line in lines if line.startswith("session: "))[len("session: "):]
    token = next(line for line in lines if line.startswith("edit token: "))[len("edit token: "):]
    with SessionStore.open(db) as store:
        assert store.can_edit(session_id, token)
    assert main(["sessions", "show", session_id, "--json", "--db", db]) == 0
    shown = json.loads(capsys.readouterr().out)
    summary = json.loads((tmp_path / "out.json").read_text())
    assert shown["prediction"] == summary["prediction"]
    assert shown["settings"] == summary["settings"] and shown["warnings"] == summary["warnings"]
    assert shown["model"]["checkpoint_sha256"] == summary["model"]["sha256"] == lite_predictor.loaded.sha256
    assert shown["input"]["clip_stored"] and shown["input"]["name"] == clip.name
    assert shown["tables"]["results"]["rows"] == len(pd.read_csv(tmp_path / "out.csv"))
    assert shown["tables"]["results"]["columns"] == list(pd.read_csv(tmp_path / "out.csv").columns)


def test_a_bundle_whose_result_record_is_hostile_is_refused_and_writes_nothing(analysis, clip, tmp_path):
    import hashlib
    import zipfile

    from larnet_core.errors import BundleError

    with SessionStore.open(f"sqlite:///{tmp_path / 's.sqlite3'}") as store:
        created = store.create(result_to_session(analysis, "to tamper with"))
        path = export_bundle(store, created.id, tmp_path / "good.larnet.zip")
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        for record in ({"prediction": {"label": "<img src=x onerror=alert(1)>"}}, ["not", "an", "object"],
                       {"class_names": ["happiness", "**bold**[x](http://a)"]}):
            members["result.json"] = json.dumps(record).encode()
            manifest = json.loads(members["manifest.json"])
            manifest["members"]["result.json"] = {"sha256": hashlib.sha256(members["result.json"]).hexdigest(),
                                                  "bytes": len(members["result.json"])}
            members["manifest.json"] = json.dumps(manifest).encode()
            bad = tmp_path / "bad.larnet.zip"
            with zipfile.ZipFile(bad, "w") as archive:
                for name, data in members.items():
                    archive.writestr(name, data)
            with pytest.raises(BundleError):
                import_bundle(store, bad)
        assert len(store.list()) == 1


def test_a_malformed_prediction_is_a_clear_error(analysis):
    from larnet_core.errors import LarnetError

    session = result_to_session(analysis, "malformed")
    session.result["prediction"] = {"label": "happiness", "confidence": "high"}
    with pytest.raises(LarnetError, match="saved clip prediction is malformed"):
        result_from_session(session)
