"""Resolution robustness (paper Table 3): downscaled re-runs of a labelled set, engine and CLI."""

from __future__ import annotations

import pandas as pd
import pytest

from larnet_core.errors import DatasetError


@pytest.fixture(scope="module")
def casme2_root(tmp_path_factory):
    from larnet_core.synth import generate_dataset

    root = tmp_path_factory.mktemp("casme2")
    generate_dataset(root, subjects=2, clips_per_class=1, seed=5, workers=1)
    return root


def test_accuracy_is_reported_per_resolution(casme2_root, lite_predictor):
    from larnet_core.data import apply_scheme, load_dataset
    from larnet_core.training.robustness import resolution_robustness

    records = apply_scheme(load_dataset("casme2", casme2_root), "casme2-5")
    done = []
    result = resolution_robustness(records, lite_predictor, progress=lambda d, t: done.append(d))
    table = result.table
    assert list(table["resolution"]) == [1080, 720, 480]
    usable = [r for r in records if r.label in lite_predictor.card.class_names]
    assert list(table["n"]) == [len(usable)] * 3 and done[-1] == len(usable)
    assert table["accuracy"].between(0, 1).all()
    assert table["scale"].tolist() == pytest.approx([1.0, 720 / 1080, 480 / 1080])
    assert table["face_px"].tolist() == pytest.approx([340, 340 * 720 / 1080, 340 * 480 / 1080])
    predictions = result.predictions
    assert len(predictions) == 3 * len(usable)
    assert {"resolution", "subject", "clip", "true_label", "pred_label", "prob_happiness"} <= set(predictions.columns)
    low = predictions[predictions.resolution == 480]["prob_happiness"].to_numpy()
    high = predictions[predictions.resolution == 1080]["prob_happiness"].to_numpy()
    assert not (low == high).all()  # the model saw different pixels
    with pytest.raises(DatasetError, match="label among the model's classes"):
        resolution_robustness([r for r in records if r not in usable], lite_predictor)


def test_cli_robustness_writes_the_table(casme2_root, lite_predictor, tmp_path):
    from larnet_core.cli import main

    out = tmp_path / "robustness.csv"
    assert main(["robustness", "--checkpoint", str(lite_predictor.loaded.path), "--root", str(casme2_root),
                 "--scheme", "casme2-5", "--limit", "2", "--backend", "torch", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["resolution"].tolist() == [1080, 720, 480] and (table["n"] == 2).all()
    assert len(pd.read_csv(tmp_path / "robustness_predictions.csv")) == 6
    assert main(["robustness", "--checkpoint", str(lite_predictor.loaded.path), "--root", str(casme2_root),
                 "--resolutions", "0"]) == 2
