"""Metrics: scikit-learn definitions of accuracy, UF1, UAR, per-class scores, confusion and per-subject rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from larnet_core.metrics import MetricsReport, compute_metrics, subject_bootstrap

CLASSES = ["negative", "positive", "surprise"]


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "subject": ["s1", "s1", "s1", "s2", "s2", "s2", "s2"],
        "true_label": ["negative", "negative", "positive", "positive", "surprise", "surprise", "negative"],
        "pred_label": ["negative", "positive", "positive", "positive", "surprise", "negative", "negative"],
    })


def test_headline_figures_match_hand_computation() -> None:
    report = compute_metrics(_table(), CLASSES, protocol="loso")
    # negative: tp 2, fp 1, fn 1 -> P 2/3 R 2/3; positive: tp 2, fp 1, fn 0 -> P 2/3 R 1; surprise: P 1 R 1/2.
    f1 = [2 / 3, 2 * (2 / 3) / (2 / 3 + 1), 2 * 0.5 / 1.5]
    assert report.accuracy == pytest.approx(5 / 7)
    assert report.uf1 == pytest.approx(np.mean(f1))
    assert report.uar == pytest.approx(np.mean([2 / 3, 1.0, 0.5]))
    assert report.per_class.set_index("class").loc["positive", "support"] == 2
    assert report.confusion.loc["surprise", "negative"] == 1
    assert report.confusion.to_numpy().sum() == 7
    assert list(report.per_subject["subject"]) == ["s1", "s2"]
    assert report.per_subject.set_index("subject").loc["s1", "accuracy"] == pytest.approx(2 / 3)


def test_absent_class_policy() -> None:
    table = pd.DataFrame({"true_label": ["negative", "positive"], "pred_label": ["negative", "positive"]})
    report = compute_metrics(table, CLASSES)
    # UF1/UAR average over classes present in the ground truth; macro figures over every class.
    assert report.uf1 == 1.0 and report.uar == 1.0
    assert report.macro_f1 == pytest.approx(2 / 3)
    assert report.per_class.set_index("class").loc["surprise", "support"] == 0


def test_round_trip_through_json() -> None:
    report = compute_metrics(_table(), CLASSES, protocol="loso", synthetic=True, label_scheme="megc-3")
    back = MetricsReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert back.uf1 == report.uf1 and back.extra["synthetic"] is True
    pd.testing.assert_frame_equal(back.confusion, report.confusion)
    pd.testing.assert_frame_equal(back.per_class, report.per_class)


def test_rows_without_truth_are_left_out_and_bad_labels_refused() -> None:
    table = _table()
    table.loc[0, "true_label"] = None
    assert compute_metrics(table, CLASSES).n_samples == 6
    with pytest.raises(ValueError, match="not among the classes"):
        compute_metrics(pd.DataFrame({"true_label": ["x"], "pred_label": ["x"]}), CLASSES)
    with pytest.raises(ValueError, match="no prediction"):
        compute_metrics(table.iloc[:0], CLASSES)


def _random_predictions(seed: int, n_subjects: int = 8, accuracy: float = 0.7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for subject in range(n_subjects):
        for _ in range(rng.integers(3, 12)):
            true = CLASSES[rng.integers(len(CLASSES))]
            pred = true if rng.random() < accuracy else CLASSES[rng.integers(len(CLASSES))]
            rows.append({"subject": f"s{subject}", "true_label": true, "pred_label": pred})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", range(5))
def test_subject_bootstrap_estimate_is_sklearns_score_and_inside_its_interval(seed: int) -> None:
    table = _random_predictions(seed)
    report = compute_metrics(table, CLASSES)
    for metric, expected in (("uf1", report.uf1), ("uar", report.uar)):
        interval = subject_bootstrap(table, CLASSES, metric=metric, n_resamples=500, seed=seed)
        assert interval.estimate == pytest.approx(expected, abs=1e-12)
        assert interval.low <= interval.estimate <= interval.high
        assert interval.n_subjects == 8 and interval.high - interval.low > 0
    again = subject_bootstrap(table, CLASSES, n_resamples=500, seed=seed)
    assert again == subject_bootstrap(table, CLASSES, n_resamples=500, seed=seed)  # deterministic per seed


def test_subject_bootstrap_resamples_whole_subjects() -> None:
    # Every clip of subject s0 is right and every clip of s1 wrong: resampling clips would give a narrow
    # interval around 0.5; resampling subjects can draw s0 twice (1.0) or s1 twice (0.0).
    table = pd.DataFrame({"subject": ["s0"] * 6 + ["s1"] * 6, "true_label": CLASSES * 4,
                          "pred_label": CLASSES * 2 + CLASSES[1:] + CLASSES[:1] + CLASSES[2:] + CLASSES[:2]})
    interval = subject_bootstrap(table, CLASSES, metric="uar", n_resamples=400, seed=1)
    assert interval.low == pytest.approx(0.0) and interval.high == pytest.approx(1.0)


def test_paired_bootstrap_of_a_model_against_itself_and_a_better_one() -> None:
    table = _random_predictions(3, n_subjects=12, accuracy=0.5)
    same = subject_bootstrap(table, CLASSES, baseline=table, n_resamples=300)
    assert same.estimate == 0 and same.low == 0 and same.high == 0
    better = table.assign(pred_label=table["true_label"])
    delta = subject_bootstrap(better, CLASSES, baseline=table, n_resamples=300)
    assert delta.low > 0 and delta.estimate == pytest.approx(1 - compute_metrics(table, CLASSES).uf1)
    with pytest.raises(ValueError, match="other subjects"):
        subject_bootstrap(table, CLASSES, baseline=table[table["subject"] != "s0"])
    with pytest.raises(ValueError, match="subject column"):
        subject_bootstrap(table.drop(columns="subject"), CLASSES)
