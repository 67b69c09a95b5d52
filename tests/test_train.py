"""Training and evaluation end to end on a tiny generated set: run directory, honest selection, resume, LOSO."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from larnet_core.cli import main as larnet
from larnet_core.metrics import compute_metrics
from larnet_core.models import load_checkpoint
from larnet_core.runs import load_run
from larnet_core.training import TrainConfig, plan_parts, train

pytestmark = pytest.mark.slow  # trains models: minutes on two cores

CASME2_7 = ["disgust", "fear", "happiness", "others", "repression", "sadness", "surprise"]
# Tiny and fast: flow samples at 32 px (Farneback: TV-L1, the default, is tested in test_train_composite.py),
# a few steps of batch 4 on one thread.
TINY = ["--model", "larnet-lite", "--input-size", "32", "--sample-mode", "flow", "--flow", "farneback",
        "--batch-size", "4", "--workers", "0", "--threads", "1", "--no-progress", "--log-every", "1"]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    from larnet_core.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth") / "casme2"
    generate_dataset(root, subjects=4, clips_per_class=1, seed=1, size=(64, 80), fps=30, workers=1)
    return root


def _tiny_config(root: Path, out: Path, **kw) -> TrainConfig:
    base = dict(root=str(root), out=str(out), model="larnet-lite", input_size=32, sample_mode="flow", flow="farneback",
                batch_size=4,
                iterations=6, workers=0, threads=1, log_every=1, checkpoint_every=2, seed=3)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def trained_run(tiny_set, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "lite"
    code = larnet(["train", "--root", str(tiny_set), "--out", str(out), "--iterations", "4", "--val-fraction", "0.34",
                   "--select", "val", "--eval-every", "2", "--seed", "5", *TINY])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def lbptop_loso_run(tiny_set, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "lbptop"
    assert larnet(["train", "--root", str(tiny_set), "--model", "lbptop-svm", "--protocol", "loso", "--out", str(out),
                   "--no-progress"]) == 0
    return out


def test_run_directory_and_metrics_recomputed_from_predictions(trained_run: Path) -> None:
    for name in ("config.json", "history.csv", "metrics.json", "predictions.csv", "model.pt"):
        assert (trained_run / name).exists(), name
    run = load_run(trained_run)
    assert run.metrics.extra["synthetic"] is True and run.metrics.extra["protocol"] == "holdout"
    assert list(run.predictions.columns[:5]) == ["subject", "clip", "frame", "true_label", "pred_label"]
    assert [c for c in run.predictions.columns if c.startswith("prob_")] == [f"prob_{c}" for c in CASME2_7]
    assert np.allclose(run.predictions.filter(like="prob_").sum(axis=1), 1.0, atol=1e-4)
    # Independent recomputation from the predictions table gives the stored figures.
    again = compute_metrics(run.predictions, CASME2_7)
    stored = json.loads((trained_run / "metrics.json").read_text())
    for key in ("accuracy", "uf1", "uar", "macro_f1"):
        assert getattr(again, key) == pytest.approx(stored[key])
    assert again.confusion.to_numpy().tolist() == stored["confusion"]["matrix"]

    loaded = load_checkpoint(run.checkpoint)
    assert loaded.card.sample_mode == "flow" and loaded.card.synthetic
    assert loaded.card.input_size == 32 and loaded.card.label_scheme == "casme2-7"
    assert loaded.card.mean != [0.485, 0.456, 0.406]  # statistics of the training split


def test_selection_never_uses_test_subjects(trained_run: Path, tiny_set: Path, tmp_path: Path) -> None:
    run = load_run(trained_run)
    (part,) = run.config["parts"]
    test, val, fit_subjects = set(part["test_subjects"]), set(part["val_subjects"]), set(part["train_subjects"])
    assert test and val and not (test & val) and not (test & fit_subjects) and not (val & fit_subjects)
    assert set(run.predictions["subject"]) == test
    assert set(run.history["split"]) == {"train", "val"}  # no test pass during training
    val_rows = run.history[run.history["split"] == "val"]
    best = val_rows.loc[val_rows["uf1"].idxmax(), "iteration"]  # first best wins ties
    assert run.config["selected_iteration"] == {"holdout": int(best)}

    # Relabel every test clip: an honest trainer produces exactly the same model and probabilities.
    from openpyxl import load_workbook

    copy = tmp_path / "relabelled"
    shutil.copytree(tiny_set, copy)
    sheet_file = next(copy.glob("CASME2-coding-*.xlsx"))
    book = load_workbook(sheet_file)
    sheet = book.active
    for row in sheet.iter_rows(min_row=2):
        if f"sub{int(row[0].value):02d}" in test:
            row[8].value = "others" if row[8].value != "others" else "fear"
    book.save(sheet_file)
    out = tmp_path / "relabelled-run"
    assert larnet(["train", "--root", str(copy), "--out", str(out), "--iterations", "4", "--val-fraction", "0.34",
                   "--select", "val", "--eval-every", "2", "--seed", "5", *TINY]) == 0
    other = load_run(out)
    assert (other.predictions["true_label"] != run.predictions["true_label"]).all()
    np.testing.assert_allclose(other.predictions.filter(like="prob_").to_numpy(),
                               run.predictions.filter(like="prob_").to_numpy(), atol=1e-6)


def test_evaluate_checkpoint_and_run(trained_run: Path, tiny_set: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "eval-megc"
    code = larnet(["evaluate", "--checkpoint", str(trained_run / "model.pt"), "--dataset", "casme2", "--root",
                   str(tiny_set), "--labels", "megc-3", "--out", str(out), "--no-progress", "--device", "cpu"])
    assert code == 0
    run = load_run(out)
    assert run.metrics.class_names == ["negative", "positive", "surprise"]
    # casme2-7 -> megc-3 keeps disgust, repression, happiness, surprise: 4 clips per subject.
    assert len(run.predictions) == 4 * 4 and run.checkpoint == (trained_run / "model.pt").resolve()
    assert larnet(["evaluate", str(trained_run)]) == 0
    assert "UF1" in capsys.readouterr().out
    assert larnet(["evaluate", str(tmp_path / "missing")]) == 2


def test_loso_folds_are_disjoint_and_pool_every_clip(tiny_set: Path, lbptop_loso_run: Path) -> None:
    from larnet_core.data import expand_samples
    from larnet_core.training.data import load_labelled_records

    records, _ = load_labelled_records("casme2", tiny_set, "casme2-7")
    samples = expand_samples(records, "apex")
    plans = plan_parts(samples, TrainConfig(protocol="loso", val_fraction=0.34))
    assert sorted(p.name for p in plans) == ["sub01", "sub02", "sub03", "sub04"]
    for plan in plans:
        assert plan.test_subjects == (plan.name,)
        assert not set(plan.test) & (set(plan.train) | set(plan.val)) and not set(plan.train) & set(plan.val)
        assert plan.name not in plan.train_subjects + plan.val_subjects and plan.val_subjects
        assert len(plan.train) + len(plan.val) + len(plan.test) == len(samples)
    assert sorted(i for p in plans for i in p.test) == list(range(len(samples)))

    run = load_run(lbptop_loso_run)
    assert len(run.predictions) == len(records)
    assert (run.predictions["fold"] == run.predictions["subject"]).all()
    assert run.predictions.groupby(["subject", "clip"]).size().max() == 1


def test_resume_gives_the_uninterrupted_result(tiny_set: Path, tmp_path: Path) -> None:
    whole = train(_tiny_config(tiny_set, tmp_path / "whole"), progress=False)

    def interrupt(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    config = _tiny_config(tiny_set, tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        train(config, on_step=interrupt, progress=False)
    assert (tmp_path / "resumed" / "last.pt").exists() and not (tmp_path / "resumed" / "metrics.json").exists()
    resumed = train(config, resume=True, progress=False)
    assert not (resumed / "last.pt").exists()

    a, b = load_checkpoint(whole / "model.pt").model.state_dict(), load_checkpoint(resumed / "model.pt").model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)
    pd.testing.assert_frame_equal(load_run(whole).predictions, load_run(resumed).predictions)
    history_a, history_b = load_run(whole).history, load_run(resumed).history
    pd.testing.assert_frame_equal(history_a, history_b)


def test_compare_baselines_side_by_side(trained_run: Path, lbptop_loso_run: Path, tiny_set: Path, tmp_path: Path,
                                       capsys) -> None:
    resnet = tmp_path / "resnet18"
    assert larnet(["train", "--root", str(tiny_set), "--out", str(resnet), "--model", "resnet18", "--input-size", "16",
                   "--seed", "5", "--iterations", "2", "--batch-size", "4", "--workers", "0", "--threads", "1", "--no-progress"]) == 0
    assert load_checkpoint(resnet / "model.pt").card.preset == "resnet18"
    svm = lbptop_loso_run
    capsys.readouterr()
    table_file = tmp_path / "table.md"
    assert larnet(["compare", str(trained_run), str(resnet), str(svm), "--out", str(table_file)]) == 0
    printed = capsys.readouterr().out
    for name in ("larnet-lite", "resnet18", "lbptop-svm", "uf1", "uar"):
        assert name in printed
    lines = table_file.read_text().splitlines()
    assert lines[0].startswith("| run | model") and len(lines) == 2 + 3
    from larnet_core.training.compare import compare_runs

    table = compare_runs([trained_run, resnet, svm], n_resamples=200)
    assert (table["uf1_low"] <= table["uf1"]).all() and (table["uf1"] <= table["uf1_high"]).all()
    assert table["d_uf1"].iloc[0] == 0 and table["d_uf1"].iloc[1] == pytest.approx(table["uf1"].iloc[1] - table["uf1"].iloc[0])
    # same hold-out test subjects: a paired interval; the LOSO run tested every subject: none
    assert table["d_uf1_low"].iloc[1] <= table["d_uf1"].iloc[1] <= table["d_uf1_high"].iloc[1]
    assert np.isnan(table["d_uf1_low"].iloc[2])
