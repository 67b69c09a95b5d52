"""The per-frame action-unit channel (mesh measures against the person's neutral) on open mouths: a laugh is read as
a smile with the lips apart and the jaw dropped, not as an upper-lip raise and a lid raise."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from larnet_core.aus import AU_COLUMNS, active_units, intensities
from larnet_core.aus.calibration import CALIBRATION_PATH, load_calibration
from larnet_core.aus.features import FEATURE_NAMES
from markers import needs_mediapipe


def test_the_calibration_has_a_model_for_lips_apart_and_counts_its_misfit_as_noise():
    calibration = load_calibration()
    assert calibration.open_response is not None and calibration.open_response.shape == calibration.response.shape
    assert 0 < calibration.open_lip_gap < 0.1
    gap = FEATURE_NAMES.index("lip_gap")
    # With the lips apart the lip gap is the measure the linear model fits worst (the mesh's inner lip points part
    # abruptly): it weighs far less than its jitter alone would make it, and than with the lips together.
    _, closed = calibration.weighted()
    _, apart = calibration.weighted(open_lips=True)
    assert apart[gap] < 0.25 / calibration.noise[gap] and apart[gap] < 0.25 * closed[gap]
    assert np.argmin(apart * calibration.noise) == gap
    assert (closed <= 1.0 / calibration.noise + 1e-9).all() and (apart <= 1.0 / calibration.noise + 1e-9).all()


def test_an_older_calibration_file_without_the_open_model_still_loads(tmp_path):
    document = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
    for key in ("misfit", "open_response", "open_misfit", "open_lip_gap"):
        document.pop(key, None)
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    old = load_calibration(path)
    assert old.open_response is None and old.open_lip_gap == float("inf")
    response, weights = old.weighted(open_lips=True)  # one model for every face, weighted by the jitter alone
    np.testing.assert_allclose(weights, 1.0 / old.noise)
    np.testing.assert_allclose(response, old.response * weights[:, None])


def test_a_face_whose_lips_part_is_read_with_the_open_model():
    calibration = load_calibration()
    # The open model's laugh (AU6+AU12+AU25+AU26): read as that, and the closed model alone would not say so.
    truth = np.zeros(len(AU_COLUMNS))
    truth[[AU_COLUMNS.index(name) for name in ("AU06", "AU12", "AU25", "AU26")]] = 2.5
    change = calibration.open_response @ truth
    assert change[FEATURE_NAMES.index("lip_gap")] > calibration.open_lip_gap
    values = intensities(change)
    assert {"AU12", "AU25", "AU26"} <= set(active_units(values))
    np.testing.assert_allclose(values[[AU_COLUMNS.index(n) for n in ("AU12", "AU25", "AU26")]], 2.5, atol=0.05)


@pytest.fixture(scope="module")
def laugh(tmp_path_factory, lite_predictor):
    from larnet_core.synth.footage import make_footage, write_footage
    from larnet_core.video.analysis import analyze_clip

    footage = make_footage("expression_while_moving", seed=3, photo="grace_hopper",
                           aus={6: 1.0, 12: 1.0, 25: 1.0, 26: 1.0}, kind="macro", movement=None, fps=24)
    path = write_footage(tmp_path_factory.mktemp("laugh") / "laugh.mp4", footage.frames, 24.0)
    return analyze_clip(path, lite_predictor, max_infer_fps=10.0), footage.truth.expressions[0]


@needs_mediapipe
def test_a_laugh_is_read_per_frame_as_a_smile_with_the_mouth_open(laugh):
    analysis, truth = laugh
    frames = analysis.frames
    apex = frames[(frames["frame"] - truth.apex).abs() <= 3]
    read = active_units(apex[list(AU_COLUMNS)].median())
    assert "AU12" in read and {"AU25", "AU26"} & set(read), read
    assert "AU10" not in read and "AU05" not in read, read
    # Before and after the expression the face is its own neutral.
    still = frames[(frames["frame"] < truth.onset - 5) | (frames["frame"] > truth.offset + 5)]
    assert pd.isna(still[list(AU_COLUMNS)]).sum().sum() == 0
    assert active_units(still[list(AU_COLUMNS)].median()) == []
