"""Non-negative least squares, ``argmin |A x - b|`` over ``x >= 0``, in numpy.

Action units are unmixed from measured changes with NNLS once per face and frame. ``scipy.optimize.nnls`` would
do, but importing ``scipy.optimize`` costs about half a second of every ``larnet analyze`` start; the problems
here are small (a few hundred measures, a few dozen units), so the active-set method of Lawson and Hanson
(*Solving Least Squares Problems*, 1974, ch. 23) on the normal equations, as in Bro and De Jong's fast NNLS
(J. Chemometrics 11, 1997, doi:10.1002/(SICI)1099-128X(199709/10)11:5<393::AID-CEM483>3.0.CO;2-L), is quick in
numpy and gives the same solutions.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["nnls", "penalised_nnls", "given_back", "sparse_nnls", "sparse_unmix"]


def nnls(matrix: np.ndarray, target: np.ndarray, max_iter: int | None = None) -> tuple[np.ndarray, float]:
    """``(x, |A x - b|)`` for the ``x >= 0`` that minimises ``|A x - b|`` (the same call as scipy's ``nnls``).

    Args:
        matrix: ``A``, shape ``(m, n)``, finite.
        target: ``b``, shape ``(m,)``, finite.
        max_iter: inner (step-back) iterations allowed in all; default ``3 n`` as scipy.

    Raises:
        ValueError: shapes that do not fit, or values that are not finite.
        RuntimeError: the iteration limit was reached (as scipy).
    """
    a = np.asarray(matrix, dtype=np.float64)
    b = np.asarray(target, dtype=np.float64).reshape(-1)
    if a.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"nnls needs A of shape (m, n) and b of shape (m,), got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("nnls needs finite A and b")
    m, n = a.shape
    gram = a.T @ a
    projected = a.T @ b
    limit = 3 * n if not max_iter else max_iter
    # Below this a gradient component counts as zero: rounding of A^T (b - A x) grows with the sizes and scale.
    tol = 10 * max(m, n) * np.finfo(np.float64).eps * max(1.0, float(np.abs(gram).max(initial=0.0)),
                                                         float(np.abs(projected).max(initial=0.0)))
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)  # the set P of units free to be positive
    refused = np.zeros(n, dtype=bool)  # units that could not join P since x last changed
    gradient = projected.copy()  # A^T (b - A x), at x = 0
    eps = 10 * max(m, n) * np.finfo(np.float64).eps
    steps = 0
    while True:
        open_gradient = np.where(passive | refused, -np.inf, gradient)
        unit = int(np.argmax(open_gradient))
        if not open_gradient[unit] > tol:
            break
        # The unit whose increase lowers the residual fastest joins P ...
        passive[unit] = True
        trial = _solve_on(gram, projected, passive)
        if trial[unit] <= 0:  # ... unless rounding makes it non-positive there (Lawson and Hanson's step 6)
            passive[unit] = False
            refused[unit] = True
            continue
        # Step back towards x until no unit of P is negative; the ones that reach zero leave P.
        while (trial[passive] <= 0).any():
            steps += 1
            if steps > limit:
                raise RuntimeError("nnls: maximum number of iterations reached")
            going = passive & (trial <= 0)
            alpha = float(np.min(x[going] / (x[going] - trial[going])))
            x += alpha * (trial - x)
            passive &= x > eps * max(1.0, float(np.abs(x).max()))
            x[~passive] = 0.0
            trial = _solve_on(gram, projected, passive)
        x = trial
        refused[:] = False
        gradient = projected - gram @ x
    return x, float(np.linalg.norm(a @ x - b))


def _solve_on(gram: np.ndarray, projected: np.ndarray, passive: np.ndarray) -> np.ndarray:
    """The unconstrained least-squares solution on the units of ``passive`` (zero elsewhere)."""
    out = np.zeros(len(projected))
    index = np.flatnonzero(passive)
    if len(index) == 0:
        return out
    sub = gram[index[:, None], index]
    try:
        out[index] = np.linalg.solve(sub, projected[index])
    except np.linalg.LinAlgError:  # linearly dependent columns: the least-norm solution among the minimisers
        out[index] = np.linalg.lstsq(sub, projected[index], rcond=None)[0]
    return out


def penalised_nnls(matrix: np.ndarray, target: np.ndarray, penalty: float) -> np.ndarray:
    """``argmin |A x - b|^2 + penalty * sum(x)`` over ``x >= 0``: the sparse unmixing of action units.

    For ``x >= 0`` the sum is linear, so NNLS with one added row finds it: the row ``eps * sum(x) = -penalty /
    (2 eps)`` adds ``penalty * sum(x)`` plus a term in ``eps^2`` that is negligible for a small ``eps``."""
    if penalty <= 0:
        return nnls(matrix, target)[0]
    eps = 1e-3
    rows = np.vstack([matrix, np.full(matrix.shape[1], eps)])
    return nnls(rows, np.append(target, -penalty / (2.0 * eps)))[0]


def given_back(matrix: np.ndarray, values: np.ndarray, penalty: float) -> np.ndarray:
    """Each kept unit's value of :func:`penalised_nnls` plus what the penalty took from it alone (``penalty / (2
    |a_j|^2)``, exactly so for a unit alone): the penalty chooses the units and leaves their scale alone."""
    if penalty <= 0:
        return values
    shrink = penalty / (2.0 * np.maximum(np.square(matrix).sum(axis=0), 1e-12))
    return np.where(values > 0, values + shrink, 0.0)


def sparse_nnls(matrix: np.ndarray, target: np.ndarray, penalty: float) -> np.ndarray:
    """:func:`penalised_nnls` with each kept unit given back what the penalty took from it (:func:`given_back`).

    The penalty lowers each unit it keeps by ``penalty / (2 |a_j|^2)`` (exactly so for a unit alone); adding that
    back keeps the calibrated scale (1 = a generated micro-expression at full strength), so a micro-expression's
    units are not pushed under :data:`~larnet_core.aus.estimate.ACTIVE_LEVEL`. (Refitting the kept units without
    the penalty was tried: on noisy footage it keeps nearly every unit and undoes the choice.) The price: a unit
    whose pattern is faint (AU24's) gets back the most, so even a small share of a movement given to it can read
    as present."""
    return given_back(matrix, penalised_nnls(matrix, target, penalty), penalty)


def sparse_unmix(matrix: np.ndarray, target: np.ndarray, penalty: float, antagonists: Sequence[tuple[int, int]],
                 slack: float) -> np.ndarray:
    """:func:`penalised_nnls` given back (:func:`given_back`), but while both units of an ``antagonists`` pair
    (columns that pull the same skin opposite ways) are in the fit, the fit again without one of the two (the one
    whose fit without it has the lower penalised objective), kept when that objective is at most ``slack *
    penalty`` above the one with both: spent together, two antagonists cancel each other's pattern to fit
    something else."""
    allowed = np.ones(matrix.shape[1], dtype=bool)
    values, cost = _penalised(matrix, target, penalty, allowed)
    dropped = True
    while dropped:
        dropped = False
        for pair in antagonists:
            if values[pair[0]] > 0 and values[pair[1]] > 0:
                trials = []
                for unit in pair:
                    trial = allowed.copy()
                    trial[unit] = False
                    trials.append((*_penalised(matrix, target, penalty, trial), trial))
                trial_values, trial_cost, trial = min(trials, key=lambda t: t[1])
                if trial_cost <= cost + slack * penalty:
                    allowed, values, cost, dropped = trial, trial_values, trial_cost, True
    return given_back(matrix, values, penalty)


def _penalised(matrix: np.ndarray, target: np.ndarray, penalty: float,
               allowed: np.ndarray) -> tuple[np.ndarray, float]:
    """The penalised fit on the ``allowed`` units (before any give-back) and its objective."""
    values = np.zeros(matrix.shape[1])
    values[allowed] = penalised_nnls(matrix[:, allowed], target, penalty)
    return values, float(np.square(matrix @ values - target).sum() + penalty * values.sum())
