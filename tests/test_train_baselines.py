"""Baseline pieces: LBP-TOP features and the adapted ResNet-18 preset."""

from __future__ import annotations

import numpy as np
import torch

from larnet_core.baselines.lbptop import N_UNIFORM_BINS, lbp_top_codes, lbp_top_histogram, uniform_lbp_table


def test_uniform_table_has_58_uniform_bins_and_one_shared() -> None:
    table = uniform_lbp_table()
    assert sorted(set(table.tolist())) == list(range(N_UNIFORM_BINS))
    assert (table == N_UNIFORM_BINS - 1).sum() == 256 - 58
    assert table[0] != table[255] and table[0b00001111] != N_UNIFORM_BINS - 1
    assert table[0b01010101] == N_UNIFORM_BINS - 1


def test_lbp_top_time_planes_follow_motion() -> None:
    rng = np.random.default_rng(0)
    still = np.repeat(rng.integers(0, 255, (1, 20, 20)), 6, axis=0).astype(np.float32)
    xy, xt, yt = lbp_top_codes(still)
    # A still clip: a time-plane neighbour one frame away equals the pixel beside the centre in the same
    # frame, so the time-plane code of a pixel is one pattern of its row/column alone, the same in every frame.
    assert (xt == xt[0]).all() and (yt == yt[0]).all() and len(np.unique(xy)) > 5
    moving = np.stack([np.roll(still[0], shift=t, axis=1) for t in range(6)])
    _, xt_moving, _ = lbp_top_codes(moving)
    assert not np.array_equal(xt_moving, xt)

    features = lbp_top_histogram(moving, grid=4)
    assert features.shape == (3 * 16 * N_UNIFORM_BINS,)
    np.testing.assert_allclose(features.reshape(48, N_UNIFORM_BINS).sum(axis=1), 1.0, rtol=1e-5)


def test_resnet18_preset_builds_for_small_inputs() -> None:
    from larnet_core.models import build_model

    model = build_model("resnet18", num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 48, 48)).shape == (2, 5)
    assert [f.reduction for f in model.feature_info] == [4, 8, 16, 32]
