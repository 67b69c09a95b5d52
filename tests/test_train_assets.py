"""The shipped demo model and its evaluation run: loadable, predicting, small, and labelled synthetic."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from larnet_core.inference import Predictor
from larnet_core.metrics import compute_metrics
from larnet_core.models import load_checkpoint
from larnet_core.runs import load_run

pytestmark = pytest.mark.slow  # trains models: minutes on two cores

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEMO_MODEL = ASSETS / "models" / "larnet-lite-demo.pt"
DEMO_RUN = ASSETS / "runs" / "larnet-lite-demo"


def test_demo_checkpoint_loads_and_predicts() -> None:
    assert DEMO_MODEL.stat().st_size < 20 * 2**20
    loaded = load_checkpoint(DEMO_MODEL)
    card = loaded.card
    assert card.preset == "larnet-lite" and card.synthetic is True
    assert "synthetic" in card.training_data.lower()
    assert card.sample_mode in ("flow", "apex") and card.label_scheme == "casme2-7"
    assert len(card.class_names) == 7

    rng = np.random.default_rng(0)
    face = cv2.GaussianBlur(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), (7, 7), 2)
    if card.sample_mode == "flow":
        from larnet_core.data import compute_flow_image

        moved = cv2.warpAffine(face, np.float32([[1, 0, 1.5], [0, 1, -1.0]]), (96, 96), borderMode=cv2.BORDER_REFLECT)
        sample = compute_flow_image(face, moved, card.input_size)
    else:
        sample = face
    probs = Predictor(loaded, backend="torch").predict_proba([sample, sample])
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_demo_run_is_complete_and_consistent() -> None:
    run = load_run(DEMO_RUN)
    assert run.checkpoint is not None and run.checkpoint.resolve() == DEMO_MODEL.resolve()
    assert not (DEMO_RUN / "model.pt").exists()
    assert run.metrics.extra["synthetic"] is True and run.config["synthetic"] is True
    assert run.predictions["clip"].str.match(r"EP\d+_\d+").all()  # the dataset's own clip names
    again = compute_metrics(run.predictions, run.metrics.class_names)
    assert again.uf1 == pytest.approx(run.metrics.uf1) and again.accuracy == pytest.approx(run.metrics.accuracy)
    # Test subjects never trained or validated the model.
    (part,) = run.config["parts"]
    assert set(run.predictions["subject"]) == set(part["test_subjects"])
    assert not set(part["test_subjects"]) & (set(part["train_subjects"]) | set(part["val_subjects"]))


def test_assets_stay_small() -> None:
    total = sum(p.stat().st_size for p in ASSETS.rglob("*") if p.is_file())
    assert total < 25 * 2**20


BASELINES = sorted(p.name for p in (ASSETS / "runs" / "baselines").iterdir() if (p / "metrics.json").exists())


def test_every_baseline_of_the_results_page_is_shipped() -> None:
    for name in ("resnet18", "lbptop-svm", "ststnet", "off-apexnet", "ststnet-112", "off-apexnet-112"):
        assert name in BASELINES


@pytest.mark.parametrize("baseline", BASELINES)
def test_baseline_runs_share_the_demo_split_and_recompute(baseline: str) -> None:
    """docs/results.md compares these side by side: same clips, same subjects in each part, same label scheme."""
    demo, run = load_run(DEMO_RUN), load_run(ASSETS / "runs" / "baselines" / baseline)
    assert run.metrics.extra["synthetic"] is True and run.metrics.class_names == demo.metrics.class_names
    assert run.config["n_clips"] == demo.config["n_clips"] and run.config["root"] == demo.config["root"]
    part, demo_part = run.config["parts"][0], demo.config["parts"][0]
    assert part["test_subjects"] == demo_part["test_subjects"]
    # LBP-TOP + SVM has no schedule to check, so its validation subjects train too
    assert set(part["train_subjects"]) | set(part.get("val_subjects", [])) == set(
        demo_part["train_subjects"]) | set(demo_part["val_subjects"])
    assert sorted(run.predictions["clip"] + run.predictions["subject"]) == sorted(
        demo.predictions["clip"] + demo.predictions["subject"])
    again = compute_metrics(run.predictions, run.metrics.class_names)
    assert again.uf1 == pytest.approx(run.metrics.uf1)


def test_seed_summary_pools_the_seeds_of_one_model_and_size() -> None:
    """`larnet compare --by-seed`: runs of one model at one input size become one row with mean and spread."""
    import pandas as pd

    from larnet_core.training.compare import seed_summary

    table = pd.DataFrame({"model": ["ststnet", "ststnet", "ststnet", "ststnet"], "input_size": [28, 28, 28, 112],
                          "seed": [2026, 1, 2, 2026], "same_folds": [True, True, True, True],
                          "uf1": [0.40, 0.50, 0.45, 0.73], "uar": [0.40, 0.52, 0.44, 0.72]})
    summary = seed_summary(table)
    small, large = summary.itertuples()
    assert (small.n_runs, small.seeds, large.n_runs) == (3, "2026 1 2", 1)
    assert small.uf1_mean == pytest.approx(0.45) and small.uf1_sd == pytest.approx(0.05)
    assert (small.uf1_min, small.uf1_max) == (0.40, 0.50)
    assert large.uf1_sd == 0.0 and large.uf1_mean == pytest.approx(0.73)
