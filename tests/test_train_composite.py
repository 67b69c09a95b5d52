"""The field's composite protocol end to end on a tiny CASME II + SAMM + SMIC set in the real layouts: LOSO over
every subject, pooled and per-dataset scores, clip-level scoring of frame samples, the TV-L1 cache, naive
attention, the training-subject overlap warning and the one 7 -> 3 conversion."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from composite_data import N_CLIPS, data_args, make_casme2, make_composite
from larnet_core.cli import main as larnet
from larnet_core.errors import LarnetError
from larnet_core.metrics import compute_metrics
from larnet_core.models import load_checkpoint
from larnet_core.runs import load_run

pytestmark = pytest.mark.slow  # trains models: minutes on two cores

MEGC = ["negative", "positive", "surprise"]
# The smallest network on 28 px flow samples: a LOSO fold trains in well under a second. Farneback flow keeps
# these tests fast; TV-L1 (the default) has its own test below.
TINY = ["--model", "ststnet", "--sample-mode", "flow", "--flow", "farneback", "--batch-size", "4", "--iterations",
        "3", "--workers", "0", "--threads", "1", "--no-progress", "--log-every", "1", "--lr", "0.05"]


@pytest.fixture(scope="module")
def composite(tmp_path_factory) -> dict[str, str]:
    return make_composite(tmp_path_factory.mktemp("composite"))


@pytest.fixture(scope="module")
def loso_run(composite, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "ststnet-loso"
    assert larnet(["train", *data_args(composite), "--labels", "megc-3", "--protocol", "loso", "--out", str(out),
                   *TINY]) == 0
    return out


def test_composite_loso_pools_every_subject_and_scores_each_dataset(loso_run: Path, capsys) -> None:
    run = load_run(loso_run)
    predictions = run.predictions
    # Every labelled clip once; the emotions megc-3 drops (CASME II others, SAMM Other) are gone.
    assert len(predictions) == sum(N_CLIPS.values())
    assert predictions.groupby(["dataset", "subject", "clip"]).size().max() == 1
    assert dict(predictions["dataset"].value_counts()) == N_CLIPS
    # Subjects are namespaced by dataset; one fold per subject of all three sets.
    assert sorted(predictions["subject"].unique()) == ["casme2/sub01", "casme2/sub02", "samm/006", "samm/007",
                                                       "smic/s1", "smic/s2"]
    assert (predictions["fold"] == predictions["subject"]).all()
    assert run.config["dataset"] == "casme2+samm+smic" and run.config["data"].keys() == {"casme2", "samm", "smic"}
    assert run.config["per_dataset"]["samm"] == {"n_samples": 6, "n_subjects": 2, "n_clips": 6}
    assert run.config["flow"] == "farneback" and run.config["scoring"] == "clip"
    card = run.config["card"]
    assert all("/" in s for s in card["training_subjects"]) and card["flow"] == "farneback"

    # Pooled and per-dataset figures are what the predictions table gives.
    stored = json.loads((loso_run / "metrics.json").read_text())
    again = compute_metrics(predictions, MEGC)
    for key in ("accuracy", "uf1", "uar"):
        assert getattr(again, key) == pytest.approx(stored[key])
    per_dataset = pd.DataFrame(stored["per_dataset"]).set_index("dataset")
    assert list(per_dataset.index) == ["casme2", "samm", "smic"]
    for name, group in predictions.groupby("dataset"):
        alone = compute_metrics(group, MEGC)
        assert per_dataset.loc[name, "uf1"] == pytest.approx(alone.uf1)
        assert per_dataset.loc[name, "uar"] == pytest.approx(alone.uar)
        assert per_dataset.loc[name, ["n_negative", "n_positive", "n_surprise"]].tolist() == [2, 2, 2]
    # `larnet evaluate RUN_DIR` recomputes the same file from predictions.csv alone.
    capsys.readouterr()
    assert larnet(["evaluate", str(loso_run)]) == 0
    printed = capsys.readouterr().out
    assert "samm" in printed and "smic" in printed
    assert json.loads((loso_run / "metrics.json").read_text())["per_dataset"] == stored["per_dataset"]


def test_compare_shows_pooled_and_per_dataset_columns(loso_run: Path, composite, tmp_path: Path) -> None:
    svm = tmp_path / "lbptop"
    assert larnet(["train", *data_args(composite), "--labels", "megc-3", "--protocol", "loso", "--model",
                   "lbptop-svm", "--out", str(svm), "--no-progress"]) == 0
    assert set(load_run(svm).predictions["subject"]) == set(load_run(loso_run).predictions["subject"])
    from larnet_core.training.compare import compare_runs

    table = compare_runs([loso_run, svm], n_resamples=100)
    for name in ("casme2", "samm", "smic"):
        assert {f"uf1_{name}", f"uar_{name}"} <= set(table.columns)
    assert table["dataset"].tolist() == ["casme2+samm+smic"] * 2 and table["same_folds"].all()
    assert not np.isnan(table["d_uf1_low"].iloc[1])  # same folds: a paired interval


def test_frames_mode_combines_frames_per_clip(tmp_path: Path) -> None:
    root = make_casme2(tmp_path / "casme2")
    out = tmp_path / "frames"
    assert larnet(["train", "--dataset", "casme2", "--root", str(root), "--labels", "megc-3", "--protocol", "loso",
                   "--model", "ststnet", "--sample-mode", "frames", "--input-size", "28", "--batch-size", "4",
                   "--iterations", "2", "--workers", "0", "--threads", "1", "--no-progress", "--out", str(out)]) == 0
    run = load_run(out)
    clips, frames = run.predictions, run.frame_predictions
    assert len(clips) == 6 and clips.groupby(["subject", "clip"]).size().max() == 1
    assert frames is not None and len(frames) == 6 * 5  # onset..offset of every clip
    assert (clips["n_frames"] == 5).all() and clips["frame"].str.match(r"^\d+-\d+$").all()
    # A clip's probabilities are the mean of its frames'; its prediction their argmax.
    prob = [f"prob_{c}" for c in MEGC]
    mean = frames.groupby(["subject", "clip"], sort=False)[prob].mean().reset_index()
    merged = clips.merge(mean, on=["subject", "clip"], suffixes=("", "_mean"))
    np.testing.assert_allclose(merged[prob].to_numpy(), merged[[p + "_mean" for p in prob]].to_numpy(), atol=1e-5)
    assert (clips["pred_label"] == [MEGC[i] for i in clips[prob].to_numpy().argmax(axis=1)]).all()
    # Scores come from the clip table; the frame-level view is kept, and labelled as such.
    assert run.metrics.n_samples == 6
    assert run.metrics.uf1 == pytest.approx(compute_metrics(clips, MEGC).uf1)
    frame_level = run.metrics.extra["frame_level"]
    assert frame_level["n_samples"] == 30 and "not comparable" in frame_level["note"]
    assert frame_level["uf1"] == pytest.approx(compute_metrics(frames, MEGC).uf1)


def test_tvl1_samples_are_cached_and_read_back(tmp_path: Path, caplog) -> None:
    from larnet_core.data import expand_samples
    from larnet_core.training.data import load_labelled_records, load_sample_images

    root = make_casme2(tmp_path / "casme2")
    cache = tmp_path / "cache"
    command = ["train", "--root", str(root), "--labels", "megc-3", "--model", "ststnet", "--sample-mode", "flow",
               "--flow-cache", str(cache), "--iterations", "1", "--batch-size", "4", "--workers", "0", "--threads",
               "1", "--no-progress"]
    with caplog.at_level("INFO", logger="larnet_core.training.data"):
        assert larnet([*command, "--out", str(tmp_path / "first")]) == 0
        files = sorted(cache.rglob("*.npy"))
        assert len(files) == 6 and "6 to compute" in caplog.text  # TV-L1 is the default for flow samples
        assert all(f.parts[-4] == "tvl1-28" and f.parts[-3] == "casme2" for f in files)
        stamps = [f.stat().st_mtime_ns for f in files]
        caplog.clear()
        assert larnet([*command, "--out", str(tmp_path / "second")]) == 0
    assert "tvl1 flow samples: 6 cached, 0 to compute" in caplog.text
    assert [f.stat().st_mtime_ns for f in files] == stamps  # read back, not recomputed
    first, second = load_run(tmp_path / "first"), load_run(tmp_path / "second")
    assert first.config["flow"] == "tvl1"
    pd.testing.assert_frame_equal(first.predictions, second.predictions)

    # Another estimator is another key; an edited frame invalidates its clip only.
    records, classes = load_labelled_records("casme2", root, "megc-3")
    samples = expand_samples(records, "flow")
    tvl1 = load_sample_images(samples, "flow", 28, classes, flow="tvl1", flow_cache=str(cache))
    farneback = load_sample_images(samples, "flow", 28, classes, flow="farneback", flow_cache=str(cache))
    assert tvl1.cached == 6 and farneback.cached == 0
    assert not np.array_equal(farneback.images.numpy(), tvl1.images.numpy())
    onset = Path(samples["path"].iloc[0])
    cv2.imwrite(str(onset), 255 - cv2.imread(str(onset)))
    assert load_sample_images(samples, "flow", 28, classes, flow="tvl1", flow_cache=str(cache)).cached == 5


def test_tvl1_without_opencv_contrib_is_a_clear_error(monkeypatch) -> None:
    from larnet_core.data import compute_flow_image

    frame = np.zeros((32, 32, 3), dtype=np.uint8)
    monkeypatch.delattr(cv2, "optflow")
    with pytest.raises(LarnetError, match="opencv-contrib-python-headless.*--flow farneback"):
        compute_flow_image(frame, frame, 28, method="tvl1")
    assert compute_flow_image(frame, frame, 28, method="farneback").shape == (28, 28, 3)


def test_naive_attention_trains_and_is_recorded(composite, tmp_path: Path, capsys) -> None:
    out = tmp_path / "naive"
    assert larnet(["train", "--data", f"smic={composite['smic']}", "--data", f"samm={composite['samm']}",
                   "--labels", "megc-3", "--model", "larnet-lite", "--naive-attention", "--input-size", "32",
                   "--test-fraction", "0.5", "--out", str(out), *TINY[2:]]) == 0
    loaded = load_checkpoint(out / "model.pt")
    assert loaded.card.residual is False and load_run(out).config["naive_attention"] is True
    modules = [m for m in loaded.model.modules() if hasattr(m, "residual")]
    assert modules and not any(m.residual for m in modules)
    assert larnet(["train", "--data", f"smic={composite['smic']}", "--labels", "megc-3", "--naive-attention",
                   "--out", str(tmp_path / "bad"), *TINY]) == 2
    assert "has none" in capsys.readouterr().err


def test_evaluate_warns_when_training_subjects_are_scored_again(composite, tmp_path: Path, capsys) -> None:
    out = tmp_path / "holdout"
    assert larnet(["train", *data_args(composite), "--labels", "megc-3", "--test-fraction", "0.34", "--out", str(out),
                   *TINY]) == 0
    card = load_checkpoint(out / "model.pt").card
    (part,) = load_run(out).config["parts"]
    assert card.training_subjects == sorted(part["train_subjects"] + part["val_subjects"])
    capsys.readouterr()
    evaluated = tmp_path / "again"
    assert larnet(["evaluate", "--checkpoint", str(out / "model.pt"), *data_args(composite), "--out", str(evaluated),
                   "--no-progress", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    seen = len(card.training_subjects)
    assert f"warning: {seen} of the 6 evaluated subjects ({3 * seen} of 18 clips)" in err
    assert "not subject-independent" in err
    overlap = load_run(evaluated).config["training_subject_overlap"]
    assert overlap["subjects"] == card.training_subjects and overlap["n_clips"] == 3 * seen
    # The model's own test subjects alone overlap nothing.
    from larnet_core.data import expand_samples
    from larnet_core.training.evaluate import subject_overlap
    from larnet_core.training.protocol import load_sources, qualify_subjects

    records, _ = load_sources(list(composite.items()), "megc-3")
    samples = qualify_subjects(expand_samples(records, "apex"))
    assert subject_overlap(card.training_subjects, samples[samples["subject"].isin(part["test_subjects"])]) is None
    assert subject_overlap(card.training_subjects, samples).n_evaluated == 6


def test_one_seven_to_three_conversion_sums_probabilities() -> None:
    from dashboard.metrics_view import RunView, rescore
    from larnet_core.training.protocol import convert_predictions

    seven = ["disgust", "fear", "happiness", "others", "repression", "sadness", "surprise"]
    # Argmax-then-map would say "positive" (happiness .4); summing says negative (.3 + .3).
    probs = [0.3, 0.0, 0.4, 0.0, 0.3, 0.0, 0.0]
    table = pd.DataFrame([{"subject": "sub01", "clip": "EP01", "frame": "5", "true_label": "disgust",
                           "pred_label": "happiness", **{f"prob_{c}": p for c, p in zip(seven, probs)},
                           "fold": "all", "dataset": "casme2"},
                          {"subject": "sub02", "clip": "EP02", "frame": "7", "true_label": "others",
                           "pred_label": "others", **{f"prob_{c}": 1 / 7 for c in seven}, "fold": "all",
                           "dataset": "casme2"}])
    converted, classes, dropped = convert_predictions(table, "casme2-7", "megc-3")
    assert classes == MEGC and dropped == 0 and len(converted) == 1  # "others" is dropped under megc-3
    assert converted["pred_label"].tolist() == ["negative"]
    assert converted[[f"prob_{c}" for c in MEGC]].to_numpy()[0] == pytest.approx([0.6, 0.4, 0.0])
    # The dashboard uses the same conversion.
    view = RunView(label="run", predictions=table, class_names=seven, scheme="casme2-7", reference="", config={})
    shown, report = rescore(view, "megc-3")
    assert shown["pred_label"].tolist() == ["negative"] and report.class_names == MEGC


def test_data_options_are_checked(tmp_path: Path, capsys) -> None:
    from larnet_core.training.protocol import parse_data_options

    assert parse_data_options(["SAMM=/a", "smic=/b"]) == {"samm": "/a", "smic": "/b"}
    for bad in (["samm"], ["=x"], ["samm=/a", "samm=/b"]):
        with pytest.raises(LarnetError):
            parse_data_options(bad)
    assert larnet(["train", "--root", "x", "--data", "samm=y", "--out", str(tmp_path / "r")]) == 2
    assert "not both" in capsys.readouterr().err
    assert larnet(["train", "--data", "casme9=y", "--out", str(tmp_path / "r")]) == 2
    assert "unknown dataset" in capsys.readouterr().err
