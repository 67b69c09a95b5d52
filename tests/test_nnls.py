"""The numpy NNLS that unmixes action units gives scipy's solutions, on problems of the shapes the estimators solve
and on degenerate ones; and analysing a clip no longer imports scipy.optimize."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import nnls as scipy_nnls

from larnet_core.aus.estimate import _weighted
from larnet_core.aus.flow import SPARSITY, _templates
from larnet_core.aus.nnls import nnls, sparse_nnls


def _problems(matrix: np.ndarray, count: int, seed: int):
    """Targets made of a few active units plus noise, as measured changes are, and pure noise."""
    rng = np.random.default_rng(seed)
    scale = np.abs(matrix).mean()
    for i in range(count):
        units = np.where(rng.random(matrix.shape[1]) < rng.uniform(0.05, 0.6), rng.uniform(0, 3, matrix.shape[1]), 0)
        noise = rng.normal(0, scale * rng.uniform(0, 2), matrix.shape[0])
        yield matrix @ units + noise if i % 5 else noise


@pytest.mark.parametrize("which", ["mesh", "flow"])
def test_same_solutions_as_scipy_on_the_estimators_matrices(which) -> None:
    matrix = (_weighted() if which == "mesh" else _templates())[0]
    for target in _problems(matrix, 200, seed=len(which)):
        expected, expected_norm = scipy_nnls(matrix, target)
        found, norm = nnls(matrix, target)
        assert np.abs(found - expected).max() <= 1e-8
        assert norm == pytest.approx(expected_norm, rel=1e-10, abs=1e-12)
        assert (found >= 0).all()


def test_same_solutions_as_scipy_on_random_matrices() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        rows, columns = int(rng.integers(5, 300)), int(rng.integers(1, 30))
        matrix = rng.normal(size=(rows, columns)) * rng.uniform(0.01, 100)
        target = rng.normal(size=rows) * rng.uniform(0.01, 100)
        expected = scipy_nnls(matrix, target)[0]
        assert np.abs(nnls(matrix, target)[0] - expected).max() <= 1e-8 * max(1.0, np.abs(expected).max())


def test_the_penalised_flow_fit_is_unchanged() -> None:
    # sparse_nnls adds one row to the flow templates: the same answers with either solver.
    matrix = _templates()[0]
    for target in _problems(matrix, 50, seed=11):
        eps = 1e-3
        rows = np.vstack([matrix, np.full(matrix.shape[1], eps)])
        values = scipy_nnls(rows, np.append(target, -SPARSITY / (2.0 * eps)))[0]
        shrink = SPARSITY / (2.0 * np.maximum(np.square(matrix).sum(axis=0), 1e-12))
        expected = np.where(values > 0, values + shrink, 0.0)
        assert np.abs(sparse_nnls(matrix, target, SPARSITY) - expected).max() <= 1e-8


def test_degenerate_problems() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(40, 6))
    # A zero target: x = 0.
    assert np.array_equal(nnls(matrix, np.zeros(40))[0], np.zeros(6))
    # A target only negative combinations reach: x = 0 as well.
    assert np.array_equal(nnls(matrix, -matrix @ np.ones(6))[0], np.zeros(6))
    # A zero column never takes a value; the others are solved as without it.
    with_zero = matrix.copy()
    with_zero[:, 2] = 0
    target = with_zero @ np.array([1.0, 2.0, 5.0, 0.5, 0.0, 3.0]) + rng.normal(0, 0.1, 40)
    found = nnls(with_zero, target)[0]
    assert found[2] == 0
    assert np.abs(found - scipy_nnls(with_zero, target)[0]).max() <= 1e-8
    # Rank deficient (a column repeated, one a sum of two others): the minimiser is not unique, so compare the
    # residual, which is, and check the optimality conditions.
    deficient = np.column_stack([matrix, matrix[:, 0], matrix[:, 1] + matrix[:, 3]])
    for _ in range(50):
        target = deficient @ np.abs(rng.normal(size=8)) + rng.normal(0, 0.5, 40)
        found, norm = nnls(deficient, target)
        assert norm == pytest.approx(scipy_nnls(deficient, target)[1], rel=1e-9, abs=1e-12)
        gradient = deficient.T @ (target - deficient @ found)
        assert (found >= 0).all() and (gradient <= 1e-8).all()
        assert np.abs(gradient[found > 0]).max(initial=0) <= 1e-8


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        nnls(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="finite"):
        nnls(np.ones((3, 2)), np.array([1.0, np.nan, 0.0]))


def test_analysing_does_not_import_scipy_optimize() -> None:
    code = ("import sys\nimport larnet_core.video.analysis, larnet_core.video.face_state, larnet_core.video.recognise\n"
            "print(sorted(m for m in sys.modules if m.startswith('scipy.optimize')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
