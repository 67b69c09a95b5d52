"""Dashboard page logic through Streamlit's AppTest: home, metrics and sessions on generated checkpoints and runs.

Charts, images and the webcam component are invisible to AppTest; tests/browser drives those in Chromium.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from larnet_core.metrics import compute_metrics
from larnet_core.runs import write_run
from larnet_core.sessions import AnalysisSession, InputRef, ModelRef, SessionStore, result_to_session

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
CLASSES = ["disgust", "fear", "happiness", "others", "repression", "sadness", "surprise"]
TIMEOUT_S = 120


def make_checkpoint(path: Path, synthetic: bool) -> Path:
    from larnet_core.models import ModelCard, build_model, save_checkpoint

    card = ModelCard.for_preset("larnet-lite", CLASSES, label_scheme="casme2-7", synthetic=synthetic,
                                training_data="generated faces (larnet synth)" if synthetic else "none")
    return save_checkpoint(build_model("larnet-lite", num_classes=len(CLASSES)), card, path)


def make_run(path: Path, seed: int, checkpoint: Path | None = None) -> pd.DataFrame:
    """A LOSO run directory whose predictions are right about 60 % of the time."""
    rng = np.random.default_rng(seed)
    rows = []
    for subject in range(4):
        for clip in range(15):
            true = CLASSES[rng.integers(len(CLASSES))]
            probs = rng.dirichlet(np.ones(len(CLASSES)))
            if rng.random() < 0.6:
                probs[CLASSES.index(true)] += 1.0
            probs /= probs.sum()
            rows.append({"subject": f"sub{subject + 1:02d}", "clip": f"EP{clip:02d}", "frame": "",
                         "true_label": true, "pred_label": CLASSES[int(probs.argmax())],
                         **{f"prob_{name}": float(p) for name, p in zip(CLASSES, probs)}, "fold": subject})
    table = pd.DataFrame(rows)
    report = compute_metrics(table, CLASSES, label_scheme="casme2-7", protocol="loso", synthetic=True)
    config = {"name": path.name, "label_scheme": "casme2-7", "protocol": "loso"}
    if checkpoint is not None:
        config["checkpoint"] = str(checkpoint)
    write_run(path, config, report, table)
    return table


@pytest.fixture(scope="module")
def dashboard_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    checkpoint = make_checkpoint(root / "demo.pt", synthetic=True)
    tables = {name: make_run(root / "runs" / name, seed, checkpoint) for seed, name in enumerate(("run-a", "run-b"))}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LARNET_DEFAULT_CHECKPOINT", str(checkpoint))
        patch.setenv("LARNET_RUNS_DIR", str(root / "runs"))
        patch.setenv("LARNET_DATA_DIR", str(root / "data"))
        patch.delenv("LARNET_DATABASE_URL", raising=False)
        yield {"root": root, "checkpoint": checkpoint, "tables": tables}


def open_page(page: str | None = None, **query: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    for key, value in query.items():
        app.query_params[key] = value
    if page:
        app.switch_page(f"dashboard/pages/{page}.py")
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [c.value for c in app.caption]
    parts += [e.value for group in (app.info, app.warning, app.error, app.success) for e in group]
    return "\n".join(str(p) for p in parts)


# ---------------------------------------------------------------------------------------------------- home
def test_home_shows_the_model_card_with_the_synthetic_notice(dashboard_env):
    app = open_page()
    shown = texts(app)
    assert "larnet-lite" in shown and "repression" in shown
    assert "Trained on synthetic data" in shown
    assert any("synthetic" in w.value for w in app.sidebar.warning)


def test_missing_demo_checkpoint_is_a_message_not_a_crash(dashboard_env, monkeypatch, tmp_path):
    monkeypatch.setenv("LARNET_DEFAULT_CHECKPOINT", str(tmp_path / "absent.pt"))
    app = open_page()
    assert any("is missing" in w.value and "make demo-model" in w.value for w in app.warning)


def test_a_run_in_the_runs_folder_can_be_picked_as_the_model(dashboard_env):
    app = open_page()
    app.sidebar.radio(key="model_source").set_value("A run in the runs folder").run()
    assert not app.exception
    assert app.sidebar.selectbox(key="model_run").options == ["run-a", "run-b"]


# ---------------------------------------------------------------------------------------------------- metrics
def test_metrics_headline_matches_compute_metrics(dashboard_env):
    app = open_page("metrics")
    app.multiselect(key="metrics_runs").set_value(["runs: run-a"]).run()
    expected = compute_metrics(dashboard_env["tables"]["run-a"], CLASSES)
    shown = {m.label: m.value for m in app.metric}
    assert shown == {"Accuracy": f"{expected.accuracy:.3f}", "UF1": f"{expected.uf1:.3f}",
                     "UAR": f"{expected.uar:.3f}", "Macro-F1": f"{expected.macro_f1:.3f}"}


def test_metrics_cell_picker_lists_that_cells_samples(dashboard_env):
    app = open_page("metrics")
    app.multiselect(key="metrics_runs").set_value(["runs: run-a"]).run()
    table = dashboard_env["tables"]["run-a"]
    app.selectbox(key="a_true").set_value("happiness").run()
    app.selectbox(key="a_pred").set_value("happiness").run()
    count = int(((table.true_label == "happiness") & (table.pred_label == "happiness")).sum())
    assert f"**{count} sample(s)** true `happiness`, predicted `happiness`" in texts(app)


def test_metrics_rescoring_under_megc3_uses_three_classes(dashboard_env):
    app = open_page("metrics")
    app.multiselect(key="metrics_runs").set_value(["runs: run-a"]).run()
    app.button_group(key="metrics_scheme").set_value("megc-3").run()
    assert not app.exception
    assert app.selectbox(key="a_true").options == ["negative", "positive", "surprise"]
    assert "scheme `megc-3`" in texts(app)


def test_two_runs_show_deltas_against_the_first(dashboard_env):
    app = open_page("metrics")
    app.multiselect(key="metrics_runs").set_value(["runs: run-a", "runs: run-b"]).run()
    first = compute_metrics(dashboard_env["tables"]["run-a"], CLASSES)
    second = compute_metrics(dashboard_env["tables"]["run-b"], CLASSES)
    deltas = [m.delta for m in app.metric if m.label == "UF1" and m.delta]
    assert deltas == [f"{second.uf1 - first.uf1:+.3f}"]
    captions = [c.value for c in app.caption]
    assert sum("95 % interval" in c and "4 test subjects" in c for c in captions) == 2
    assert any(f"Difference from the first run {second.uf1 - first.uf1:+.3f}" in c for c in captions)


def test_composite_frames_run_shows_datasets_and_a_labelled_frame_level(dashboard_env):
    """A composite run in frames mode: per-dataset rows under the pooled figures; the frame level on request,
    with its warning."""
    from larnet_core.training.protocol import score_predictions

    rng = np.random.default_rng(3)
    classes, rows = ["negative", "positive", "surprise"], []
    for dataset, subjects in (("casme2", ("sub01", "sub02")), ("samm", ("006", "007")), ("smic", ("s1", "s2"))):
        for subject in subjects:
            for clip, true in enumerate(classes):
                for frame in range(4):
                    probs = rng.dirichlet(np.ones(3))
                    rows.append({"subject": f"{dataset}/{subject}", "clip": f"c{clip}", "frame": str(10 + frame),
                                 "true_label": true, "pred_label": classes[int(probs.argmax())],
                                 **{f"prob_{c}": float(p) for c, p in zip(classes, probs)},
                                 "fold": f"{dataset}/{subject}", "dataset": dataset})
    scored = score_predictions(pd.DataFrame(rows), classes, label_scheme="megc-3", protocol="loso")
    from larnet_core.training.protocol import write_scored_run

    write_scored_run(dashboard_env["root"] / "runs" / "run-composite",
                     {"name": "run-composite", "label_scheme": "megc-3", "protocol": "loso"}, scored)
    app = open_page("metrics")
    app.multiselect(key="metrics_runs").set_value(["runs: run-composite"]).run()
    assert "18 clips scored" in texts(app) and "data `casme2, samm, smic`" in texts(app)
    (shown,) = [d.value for d in app.dataframe if "n_subjects" in d.value.columns]
    assert shown["dataset"].tolist() == ["casme2", "samm", "smic"]
    assert shown["uf1"].tolist() == pytest.approx(scored.metrics.per_dataset["uf1"].tolist())
    app.button_group(key="metrics_level").set_value("frame").run()
    assert not app.exception
    assert "72 frames scored" in texts(app) and "not comparable with published" in texts(app)


def test_bad_predictions_upload_is_explained(dashboard_env):
    from dashboard.metrics_view import run_from_upload
    from larnet_core.errors import LarnetError

    with pytest.raises(LarnetError, match="lacks column"):
        run_from_upload("p.csv", b"a,b\n1,2\n")


def test_metrics_save_to_session_keeps_the_edit_token(dashboard_env):
    app = open_page("metrics")
    app.multiselect(key="metrics_runs").set_value(["runs: run-a"]).run()
    app.text_input(key="metrics_save_name").set_value("metrics check")
    app.button(key="FormSubmitter:metrics_save_form-Save to session").click().run()
    assert not app.exception
    tokens = app.session_state["session_edit_tokens"]
    assert len(tokens) == 1
    session_id, token = next(iter(tokens.items()))
    assert token in [c.value for c in app.code]
    with SessionStore.open() as store:
        saved = store.get(session_id)
    assert saved.kind == "metrics" and saved.name == "metrics check"
    assert saved.metrics_runs == [str(dashboard_env["root"] / "runs" / "run-a")]


# ---------------------------------------------------------------------------------------------------- sessions
def _saved_session(name: str) -> tuple[str, str]:
    results = pd.DataFrame({"frame": [0, 1], "prob_happiness": [0.2, 0.9]})
    with SessionStore.open() as store:
        created = store.create(AnalysisSession(name=name, kind="clip", results=results,
                                               model=ModelRef(preset="larnet-lite", synthetic=True),
                                               input=InputRef(name="clip.mp4", fps=30.0, frame_count=2)))
    return created.id, created.edit_token


def test_share_link_opens_a_session_read_only(dashboard_env):
    session_id, _ = _saved_session("shared analysis")
    app = open_page("sessions", session=session_id)
    assert "shared analysis" in [h.value for h in app.main.header]
    assert "synthetic data" in texts(app)
    assert not [f for f in app.text_area]  # no notes editor without the token
    app.text_input(key="session_token_input").set_value("not-the-token").run()
    assert any("not this session's edit token" in e.value for e in app.error)


def test_edit_token_allows_rename_annotate_and_delete(dashboard_env):
    session_id, token = _saved_session("to edit")
    app = open_page("sessions", session=session_id)
    app.text_input(key="session_token_input").set_value(token).run()
    app.text_input[0].set_value("renamed analysis")
    app.text_area[0].set_value("apex at frame 1")
    app.button(key="FormSubmitter:session_rename-Save name and notes").click().run()
    with SessionStore.open() as store:
        saved = store.get(session_id)
        assert (saved.name, saved.notes) == ("renamed analysis", "apex at frame 1")
    assert app.button(key="session_delete").disabled
    app.checkbox(key="session_delete_ok").check().run()
    app.button(key="session_delete").click().run()
    assert not app.exception
    with SessionStore.open() as store:
        assert store.count(search="renamed analysis") == 0


def test_unknown_session_link_says_so(dashboard_env):
    app = open_page("sessions", session="A" * 22)
    assert any("no saved session" in e.value for e in app.error)


def test_session_list_search_filters(dashboard_env):
    session_id, _ = _saved_session("needle in the list")
    app = open_page("sessions", session=session_id)  # given the link: this browser lists it from now on
    app.button[0].click().run()  # "All sessions"
    app.text_input(key="session_search").set_value("needle").run()
    assert "1 session(s) match" in texts(app)


def test_a_stranger_lists_none_of_another_persons_sessions(dashboard_env, monkeypatch):
    _saved_session("someone else's analysis")
    app = open_page("sessions")
    assert "someone else's analysis" not in str([d.value for d in app.dataframe])
    assert "No saved session in this browser yet" in texts(app)
    assert not app.expander or all("Operator" not in e.label for e in app.expander)  # no token configured

    monkeypatch.setenv("LARNET_ADMIN_TOKEN", "operator-secret")
    app = open_page("sessions")
    app.text_input(key="operator_token_input").set_value("wrong").run()
    assert any("not the operator token" in e.value for e in app.error)
    app.text_input(key="operator_token_input").set_value("operator-secret").run()
    assert "Operator view" in texts(app)
    assert "someone else's analysis" in str([d.value for d in app.dataframe])


def test_user_text_is_shown_as_plain_text(dashboard_env):
    with SessionStore.open() as store:
        created = store.create(AnalysisSession(
            name="**bold** [link](https://example.com)", kind="clip",
            notes="![pixel](https://tracker.example/p.png)\n<img src=x onerror=alert(1)> www.example.com",
            input=InputRef(name="[clip](javascript:alert(1)).mp4")))
    app = open_page("sessions", session=created.id)
    header = app.main.header[0].value
    joiner = "\u2060"  # an invisible word joiner keeps bare addresses from becoming links
    assert header == rf"\*\*bold\*\* \[link\]\(https\:{joiner}\/\/example.com\)"
    shown = texts(app)
    assert rf"\!\[pixel\]\(https\:{joiner}\/\/tracker.example\/p.png\)" in shown
    assert r"\<img src\=x onerror\=alert\(1\)\>" in shown and f"www{joiner}.example.com" in shown
    assert "![" not in shown and "](" not in shown


# ---------------------------------------------------------------------------------------------------- clip, attention
def _clip_bytes(tmp_path: Path, n_frames: int = 12) -> bytes:
    import av

    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 96, "yuv420p"
        for index in range(n_frames):
            image = np.full((96, 96, 3), 40 + 10 * index, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path.read_bytes()


def test_clip_link_reopens_a_saved_analysis_read_only(dashboard_env, tmp_path):
    n = 12
    frames = pd.DataFrame({
        "frame": range(n), "time_s": [i / 25 for i in range(n)], "face_x0": 8.0, "face_y0": 8.0, "face_x1": 88.0,
        "face_y1": 88.0, **{f"prob_{c}": 1 / len(CLASSES) for c in CLASSES}, "pred_label": "happiness",
        "confidence": 0.4, "motion": [0.0] * 5 + [0.5, 0.9, 0.5] + [0.0] * 4, "in_interval": [False] * 5 + [True] * 3
        + [False] * 4})
    intervals = pd.DataFrame([{"onset_frame": 5, "apex_frame": 6, "offset_frame": 7, "onset_s": 0.2, "apex_s": 0.24,
                               "offset_s": 0.28, "duration_s": 0.08, "kind": "micro", "label": "happiness",
                               "confidence": 0.4}])
    with SessionStore.open() as store:
        created = store.create(AnalysisSession(name="saved clip", kind="clip", results=frames, intervals=intervals,
                                               input=InputRef(name="clip.mp4", fps=25.0, frame_count=n,
                                                              data=_clip_bytes(tmp_path, n))))
    app = open_page("clip", session=created.id)
    assert any("Saved session **saved clip** (read-only)" in i.value for i in app.info)
    assert [s.value for s in app.subheader][:3] == ["Timeline", "Frames", "Spotted intervals (1)"]
    assert app.slider(key="clip_frame").value == 6  # opens at the apex
    assert "inside a spotted interval" in texts(app)
    assert not [b for b in app.button if b.label == "Save to session"]


@pytest.fixture(scope="module")
def analysed_clip(dashboard_env, tmp_path_factory):
    """A real analysis of a short generated clip by a checkpoint other than the sidebar's demo model."""
    from larnet_core.inference import Predictor
    from larnet_core.models import load_checkpoint
    from larnet_core.synth.footage import make_footage, write_footage
    from larnet_core.video import analyze_clip

    root = tmp_path_factory.mktemp("analysed")
    footage = make_footage("expressions", seconds=2.0, seed=5, micro=1, size=(320, 240))
    clip = write_footage(root / "expressions.mp4", footage.frames, footage.truth.fps)
    predictor = Predictor(load_checkpoint(make_checkpoint(root / "analysis-model.pt", synthetic=False)))
    return analyze_clip(clip, predictor), clip.read_bytes()


def test_saving_records_the_analysis_model_not_the_one_selected_now(dashboard_env, analysed_clip):
    from dashboard.clip_view import ClipView

    analysis, data = analysed_clip
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.switch_page("dashboard/pages/clip.py")
    app.session_state["clip_result"] = ClipView(result=analysis, data=data)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    selected = load_sha(dashboard_env["checkpoint"])
    assert selected != analysis.model["sha256"]  # the sidebar shows the demo model, not the analysis' model
    app.text_input(key="clip_save_name").set_value("analysed elsewhere")
    next(b for b in app.button if b.label == "Save to session").click().run()
    session_id = next(s.value for s in app.success if "Saved as session" in s.value).split("`")[1]
    with SessionStore.open() as store:
        saved = store.get(session_id)
    assert saved.model.checkpoint_sha256 == analysis.model["sha256"]
    assert saved.model.synthetic is False and saved.result["prediction"] == analysis.prediction.to_dict()


def test_a_saved_result_reopens_whole(dashboard_env, analysed_clip):
    from larnet_core.sessions import result_from_session

    analysis, data = analysed_clip
    with SessionStore.open() as store:
        created = store.create(result_to_session(analysis, "whole", clip=data))
    app = open_page("clip", session=created.id)
    assert [m.label for m in app.metric][:2] == ["Clip prediction", "Confidence"]
    assert app.metric[0].value == analysis.prediction.label
    assert f"Spotted intervals ({len(analysis.intervals)})" in [s.value for s in app.subheader]
    assert "Summary (JSON)" in [b.proto.label for b in app.get("download_button")]
    assert any(b.label == "Render annotated video" for b in app.button)
    for warning in analysis.warnings:
        assert warning in texts(app)
    with SessionStore.open() as store:
        reopened = result_from_session(store.get(created.id))
    assert reopened.prediction == analysis.prediction
    listed = open_page("sessions", session=created.id)
    assert f"**Clip prediction:** {analysis.prediction.label}" in texts(listed)
    assert any(m.value.startswith("**Face tracks**") for m in listed.markdown)


def test_the_attention_page_explains_a_frame_of_the_current_clip_result(dashboard_env, analysed_clip):
    from dashboard.clip_view import ClipView

    analysis, data = analysed_clip
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.switch_page("dashboard/pages/attention.py")
    app.session_state["clip_result"] = ClipView(result=analysis, data=data)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.radio(key="attention_source").value == "Frame of the current clip"
    assert app.slider(key="attention_frame").max == int(analysis.frames["frame"].iloc[-1])
    assert not app.error, [e.value for e in app.error]


def test_the_model_input_of_a_clip_row_is_the_analysis_own_whatever_the_sidebar_model(dashboard_env, analysed_clip,
                                                                                       tmp_path, monkeypatch):
    """A sidebar model of another input size: the clip and attention pages still rebuild the row's input from
    the analysis' own settings (the input that gave the row's probabilities), and say why there is no heat map."""
    from dashboard.clip_view import ClipView
    from larnet_core.inference import Predictor
    from larnet_core.models import ModelCard, load_checkpoint, save_checkpoint

    analysis, data = analysed_clip
    card = dataclasses.replace(ModelCard.for_preset("larnet-lite", CLASSES), input_size=64)
    other = save_checkpoint(card.build(), card, tmp_path / "small-input.pt")
    monkeypatch.setenv("LARNET_DEFAULT_CHECKPOINT", str(other))
    view = ClipView(result=analysis, data=data)
    size = int(analysis.settings["input_size"])
    assert size != 64
    frames = analysis.frames
    index = int(frames.loc[frames["inferred"], "frame"].iloc[2])
    model_input = view.model_input(index)
    assert model_input.frame_index == index and model_input.crop.shape == (size, size, 3)
    own = Predictor(load_checkpoint(analysis.model["checkpoint"]), backend=analysis.model["backend"])
    probs = own.predict_proba([model_input.image])[0]
    row = frames.loc[frames["frame"] == index, [f"prob_{c}" for c in CLASSES]].to_numpy()[0]
    np.testing.assert_allclose(probs, row, atol=1e-4)
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.switch_page("dashboard/pages/clip.py")
    app.session_state["clip_result"] = view
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert "No heat map: the model in the sidebar takes 64 px inputs" in texts(app)
    app.switch_page("dashboard/pages/attention.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("takes 64 px inputs" in e.value for e in app.error), [e.value for e in app.error]


def load_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_attention_page_explains_a_sample_face(dashboard_env):
    app = open_page("attention")
    assert [m.label for m in app.metric] == ["Predicted class"]
    assert len(app.tabs) == 3  # one per LARNet stage
    assert "Mean absolute response per attention module" in [s.value for s in app.subheader]
    app.selectbox(key="attention_target").set_value("fear").run()
    assert not app.exception


def test_attention_page_shows_a_baseline_without_soft_masks(dashboard_env, monkeypatch, tmp_path):
    from larnet_core.models import ModelCard, build_model, save_checkpoint

    card = ModelCard.for_preset("resnet18", CLASSES, label_scheme="casme2-7", synthetic=True,
                                training_data="generated faces (larnet synth)")
    path = save_checkpoint(build_model("resnet18", num_classes=len(CLASSES)), card, tmp_path / "resnet18.pt")
    monkeypatch.setenv("LARNET_DEFAULT_CHECKPOINT", str(path))
    app = open_page("attention")
    assert len(app.tabs) == 4  # one per ResNet stage, each with hidden layers and a class activation map
    assert any("has no attention modules" in i.value for i in app.info)
    assert not [m for m in app.markdown if "Soft masks" in m.value]


def test_a_corrupt_checkpoint_is_reported_not_raised(dashboard_env, monkeypatch, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint at all")
    monkeypatch.setenv("LARNET_DEFAULT_CHECKPOINT", str(broken))
    app = open_page()
    assert any("Cannot load the model" in e.value and "broken.pt" in e.value for e in app.error)


def test_a_session_can_be_exported_from_its_page(dashboard_env):
    session_id, _ = _saved_session("to export")
    app = open_page("sessions", session=session_id)
    labels = [element.proto.label for element in app.get("download_button")]
    assert "Export .larnet.zip" in labels


def test_an_every_face_analysis_is_shown_one_face_table_at_a_time(dashboard_env, tmp_path):
    from dashboard.clip_view import ClipView
    from larnet_core.inference import Predictor
    from larnet_core.models import load_checkpoint
    from larnet_core.synth.footage import make_footage, write_footage
    from larnet_core.video import analyze_clip

    footage = make_footage("two_faces", seed=3, seconds=1.5)
    clip = write_footage(tmp_path / "two.mp4", footage.frames, footage.truth.fps)
    every = analyze_clip(clip, Predictor(load_checkpoint(dashboard_env["checkpoint"])), all_faces=True,
                         max_infer_fps=5)
    n = every.meta.frame_count
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.switch_page("dashboard/pages/clip.py")
    app.session_state["clip_result"] = ClipView(result=every, data=clip.read_bytes())
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.selectbox(key="clip_face_pick").value == every.main_face_id
    assert app.slider(key="clip_frame").max == n - 1
    other = next(f for f in every.tables if f != every.main_face_id)
    app.selectbox(key="clip_face_pick").set_value(other).run()
    assert not app.exception, [e.value for e in app.exception]
    assert f"Spotted intervals ({int((every.intervals['face_id'] == other).sum())})" in [s.value for s in app.subheader]


def test_interval_labels_on_the_au_lanes_never_print_over_each_other():
    from dashboard.au_charts import au_lanes_figure
    from larnet_core.aus.names import AU_COLUMNS

    times = np.arange(300) / 25.0  # 12 s
    frames = pd.DataFrame({"frame": np.arange(300), "time_s": times, **{c: 0.0 for c in AU_COLUMNS}})
    intervals = pd.DataFrame({
        "onset_s": [1.4, 2.0, 2.4, 9.2], "offset_s": [2.6, 2.3, 3.0, 10.4],
        "aus": ["AU1+AU4+AU15", "AU9", "AU12", "AU6+AU12+AU25+AU26"],
        "rule_label": ["EMFACS sadness; objective class VI", "EMFACS disgust; objective class III", "",
                       "EMFACS happiness; objective class I"]})
    figure = au_lanes_figure(frames, intervals)
    labels = {a.text.split("<br>")[0]: a for a in figure.layout.annotations}
    # Three labels within a fifth of the clip: three rows; the laugh, far from them, on the first row again.
    assert [labels[u].yshift or 0 for u in intervals["aus"]] == [0, 30, 60, 0]
    assert labels["AU1+AU4+AU15"].text == "AU1+AU4+AU15<br>EMFACS sadness" and labels["AU12"].text == "AU12"
    assert figure.layout.margin.t == 20 + 3 * 30 and len(figure.layout.shapes) == 4


def _timeline_table(n: int = 100) -> pd.DataFrame:
    """A face's table as the clip page gets it: the head moves all along (spotted through, as now), a hand covers
    the mouth over frames 40-59 and 60-69 (the macro scale only, as its 1 s references reach the cover)."""
    from larnet_core.aus.names import AU_COLUMNS

    frames = pd.DataFrame({"frame": np.arange(n), "time_s": np.arange(n) / 25.0, "face_found": True,
                           "head_moving": True, "prob_happiness": 0.4, "prob_others": 0.6, "motion": 0.1,
                           "motion_macro": 0.2, "pose_yaw": 12.0, "pose_pitch": -3.0, "pose_roll": 1.0,
                           "excluded": "", "in_interval": False, "pred_label": "others", "confidence": 0.6,
                           **{c: 0.0 for c in AU_COLUMNS}})
    frames.loc[40:59, "excluded"] = "mouth occluded"
    frames.loc[60:69, "excluded"] = "mouth occluded (macro scale)"
    return frames


def test_the_class_timeline_shades_frames_set_aside_from_spotting_by_why_not_where_the_head_moves():
    from dashboard.plots import timeline_figure

    frames = _timeline_table()
    figure = timeline_figure(frames, pd.DataFrame(columns=["onset_s", "offset_s", "apex_s"]),
                             ["happiness", "others"])
    shapes = {shape.name: shape for shape in figure.layout.shapes}
    # The head moved on every frame and was spotted through: no shading says it was not.
    assert set(shapes) == {"set aside: mouth occluded", "set aside: mouth occluded (macro scale)"}
    assert (shapes["set aside: mouth occluded"].x0, shapes["set aside: mouth occluded"].x1) == (1.6, 2.36)
    # Where the micro scale still spots, the shade is lighter.
    assert shapes["set aside: mouth occluded (macro scale)"].opacity < shapes["set aside: mouth occluded"].opacity
    # A table made before the reasons were kept: frames where the head moved were not spotted then, and say so.
    older = timeline_figure(frames.drop(columns=["excluded"]), pd.DataFrame(columns=["onset_s", "offset_s"]),
                            ["happiness", "others"])
    assert [shape.name for shape in older.layout.shapes] == ["head moving (not spotted)"]


def test_the_frame_caption_says_why_a_frame_is_set_aside_and_what_units_it_reads():
    from dashboard.clip_view import frame_caption

    frames = _timeline_table()
    frames.loc[10, ["AU06", "AU12", "in_interval"]] = [1.6, 2.4, True]
    frames.loc[50, [c for c in frames.columns if c.startswith("AU") and c != "AU43"]] = np.nan
    moving = frame_caption(frames.iloc[10])
    assert "head moving" not in moving and "set aside" not in moving
    assert "AUs AU06 1.6, AU12 2.4" in moving and "inside a spotted interval" in moving
    assert "head yaw +12°, pitch -3°, roll +1°" in moving and "0.100 (micro), 0.200 (macro)" in moving
    covered = frame_caption(frames.iloc[50])
    assert "set aside from spotting: mouth occluded" in covered and "AUs not read" in covered
    assert "no AU active" in frame_caption(frames.iloc[0])
    older = frames.drop(columns=["excluded"])
    assert "head moving (not spotted)" in frame_caption(older.iloc[0])
    hostile = frames.iloc[0].copy()
    hostile["pred_label"] = "![x](https://tracker.example/p.png)"  # a foreign checkpoint's class name
    assert "![x](" not in frame_caption(hostile)
    gone = frames.iloc[0].copy()
    gone["face_found"] = False
    assert frame_caption(gone).endswith("no face in view: no prediction, no motion")


def test_the_intervals_table_says_why_an_interval_names_no_units():
    from dashboard.clip_view import intervals_shown

    frames = _timeline_table()
    frames.loc[30, [c for c in frames.columns if c.startswith("AU") and c != "AU43"]] = np.nan  # not read at 30
    intervals = pd.DataFrame({"onset_frame": [5, 25, 70], "apex_frame": [10, 30, 75], "offset_frame": [15, 35, 80],
                              "aus": ["AU6+AU12", "", ""], "rule_label": ["EMFACS happiness; objective class I", "",
                                                                          ""]})
    shown = intervals_shown(intervals, frames)
    assert shown["aus"].tolist() == ["AU6+AU12", "AUs not read", "no AU"]
    assert intervals["aus"].tolist() == ["AU6+AU12", "", ""]  # the result's own table is left as it is
    # A live stream's events say the same, from whether the event's apex was read.
    from dashboard.au_charts import events_shown
    from larnet_core.video.live import LiveEvent

    events = [LiveEvent(1.0, "happiness", 0.9, 0.3, aus="AU6+AU12", rule_label="EMFACS happiness; objective class I"),
              LiveEvent(2.0, "others", 0.5, 0.3, aus_read=False), LiveEvent(3.0, "others", 0.5, 0.3)]
    live = events_shown(events)
    assert live["aus"].tolist() == ["AU6+AU12", "AUs not read", "no AU"]
    assert "apex_s" not in live.columns and [e.aus for e in events] == ["AU6+AU12", "", ""]
    # The units and their rule lead, before the frame numbers (the table scrolls sideways past about ten columns).
    assert list(shown.columns) == ["aus", "rule_label", "onset_frame", "apex_frame", "offset_frame"]
    assert list(intervals.columns)[:3] == ["onset_frame", "apex_frame", "offset_frame"]
