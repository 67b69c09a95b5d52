"""The per-frame action-unit channel (mesh measures against the person's neutral) on open mouths: a laugh should be
read as a smile with the lips apart and the jaw dropped, not as an upper-lip raise and a lid raise; and the
two-model calibration that was tried for it (docs/action-units.md, "Fifth look") fits, stores and unmixes as it
says."""

from __future__ import annotations

import numpy as np
import pytest

from larnet_core.aus import AU_COLUMNS, active_units, intensities
from larnet_core.aus import estimate
from larnet_core.aus.calibration import Calibration, load_calibration
from larnet_core.aus.features import FEATURE_NAMES
from larnet_core.synth.au_calibration import MeshRenderings, fit_mesh
from markers import needs_mediapipe

_GAP = FEATURE_NAMES.index("lip_gap")
_AU25 = AU_COLUMNS.index("AU25")


def test_the_stored_calibration_has_one_model_weighted_by_its_noise_alone():
    calibration = load_calibration()
    assert calibration.open_response is None and calibration.misfit is None
    assert calibration.open_lip_gap == float("inf")
    for open_lips in (False, True):  # one model for every face, as before the two-model one was tried
        response, weights = calibration.weighted(open_lips)
        np.testing.assert_array_equal(weights, 1.0 / calibration.noise)
        np.testing.assert_array_equal(response, calibration.response * weights[:, None])


def _two_models(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Responses for lips together (the lip gap never moves) and apart (AU25 opens it by 0.05 a unit)."""
    rng = np.random.default_rng(seed)
    closed = rng.normal(scale=0.01, size=(len(FEATURE_NAMES), len(AU_COLUMNS)))
    closed[_GAP] = 0.0
    apart = closed + rng.normal(scale=0.01, size=closed.shape)
    apart[_GAP] = 0.0
    apart[_GAP, _AU25] = 0.05
    return closed, apart


def _renderings(closed: np.ndarray, apart: np.ndarray) -> MeshRenderings:
    truths, framed = [], []
    for unit in range(len(AU_COLUMNS)):
        for intensity in (1.0, 2.0, 3.0):
            for in_frame in (False, True):
                truth = np.zeros(len(AU_COLUMNS))
                truth[unit] = intensity
                truths.append(truth)
                framed.append(in_frame)
    for partner in range(len(AU_COLUMNS)):  # AU25 with each other unit: lips apart
        truth = np.zeros(len(AU_COLUMNS))
        truth[[partner, _AU25]] = 2.0
        truths.append(truth)
        framed.append(False)
    truth = np.array(truths)
    opened = truth[:, _AU25] > 0
    change = np.where(opened[:, None], truth @ apart.T, truth @ closed.T)
    framed = np.array(framed)
    # Framed faces whose lips stay together are measured differently: the lips-together model must not use them.
    change[framed & ~opened] += 0.02
    jitter = np.full((4, len(FEATURE_NAMES)), 0.001)
    return MeshRenderings(truth, change, np.zeros(len(truth), dtype=bool), framed, jitter,
                          np.zeros(len(jitter), dtype=bool))


def test_the_two_model_fit_recovers_each_model_and_counts_what_it_misses_as_misfit():
    closed, apart = _two_models()
    calibration = fit_mesh(_renderings(closed, apart))
    others = [column for column in range(len(AU_COLUMNS)) if column != _AU25]
    # Lips together: the photo's own renderings of each unit alone, fitted exactly (nothing is missed).
    np.testing.assert_allclose(calibration.response[:, others], closed[:, others], atol=1e-9)
    assert calibration.misfit.max() < 1e-9
    # Lips apart: the renderings that opened the lip gap, AU25's response read from them.
    assert calibration.open_lip_gap == pytest.approx(0.04)
    np.testing.assert_allclose(calibration.open_response[:, _AU25], apart[:, _AU25], atol=2e-3)
    assert calibration.open_misfit.max() > 0  # one model cannot hold both AU25's partners' responses
    # Round trip through the stored format.
    document = calibration.to_json()
    assert {"misfit", "open_response", "open_misfit", "open_lip_gap"} <= set(document)


def test_a_face_whose_lips_part_is_read_with_the_lips_apart_model(monkeypatch):
    closed, apart = _two_models(1)
    calibration = Calibration(closed, np.full(len(FEATURE_NAMES), 0.004), ("grace_hopper",),
                              open_response=apart, open_lip_gap=0.04)
    monkeypatch.setattr(estimate, "_calibration", lambda: calibration)
    estimate._weighted.cache_clear()
    try:
        laugh = np.zeros(len(AU_COLUMNS))
        laugh[[AU_COLUMNS.index(name) for name in ("AU06", "AU12", "AU25", "AU26")]] = 2.5
        np.testing.assert_allclose(intensities(apart @ laugh), laugh, atol=1e-6)
        smile = np.zeros(len(AU_COLUMNS))
        smile[[AU_COLUMNS.index("AU06"), AU_COLUMNS.index("AU12")]] = 2.0
        np.testing.assert_allclose(intensities(closed @ smile), smile, atol=1e-6)  # lips together
    finally:
        estimate._weighted.cache_clear()


@pytest.fixture(scope="module")
def laugh(tmp_path_factory, lite_predictor):
    from larnet_core.synth.footage import make_footage, write_footage
    from larnet_core.video.analysis import analyze_clip

    footage = make_footage("expression_while_moving", seed=3, photo="grace_hopper",
                           aus={6: 1.0, 12: 1.0, 25: 1.0, 26: 1.0}, kind="macro", movement=None, fps=24)
    path = write_footage(tmp_path_factory.mktemp("laugh") / "laugh.mp4", footage.frames, 24.0)
    return analyze_clip(path, lite_predictor, max_infer_fps=10.0), footage.truth.expressions[0]


@needs_mediapipe
@pytest.mark.xfail(strict=True, reason=(
    "read from the skin's movement against the interval's neutral frame (larnet_core.video.interval_lanes) the "
    "laugh's apex reads AU6 2.6, AU12 2.2 and AU26 1.2, but the open mouth's upper lip also reads as AU10 (1.3, and "
    "2.5, 2.3, 1.9, 1.4 read ten times a second against the most neutral frame near it; the interval's label "
    "drops it, under 0.4 of the strongest unit). From the face mesh alone, as the lanes were read before, it read "
    "AU5 3.0, AU10 5.0 and AU26 5.0 and no AU12: the mesh keeps its inner lip points together for small openings "
    "and parts them abruptly (docs/action-units.md, Fifth look)"))
def test_a_laugh_is_read_per_frame_as_a_smile_with_the_mouth_open(laugh):
    analysis, truth = laugh
    frames = analysis.frames
    apex = frames[(frames["frame"] - truth.apex).abs() <= 3]
    read = active_units(apex[list(AU_COLUMNS)].median())
    assert "AU12" in read and {"AU25", "AU26"} & set(read), read
    assert "AU10" not in read and "AU05" not in read, read
