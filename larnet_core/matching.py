"""One-to-one pairing of two sets of items from scored candidate pairs.

Two rules, for two jobs:

* :func:`greedy_pairs` takes the best-scoring pair first. It is what a tracker wants (detections to face tracks,
  full-range detections to face meshes): the closest box keeps its track. It does NOT always pair as many items as
  possible: with candidates a-x 0.9, a-y 0.6, b-x 0.6 it pairs a-x and leaves b and y alone, where a-y and b-x
  would pair both.
* :func:`maximal_pairs` pairs as many items as possible (a maximum matching of the candidate graph, through
  ``scipy.optimize.linear_sum_assignment``), and among those, the one with the highest total score. It is what
  scoring wants: MEGC's spotting metric counts how many annotated intervals can be hit one-to-one.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = ["greedy_pairs", "maximal_pairs"]


def greedy_pairs(scored: Iterable[tuple[float, int, int]], minimum: float | None = None) -> list[tuple[int, int, float]]:
    """Pair left items ``i`` with right items ``j`` one-to-one from ``(score, i, j)`` candidates, highest score
    first (ties: higher ``i``, then higher ``j``), ignoring scores below ``minimum``.

    Returns:
        ``(i, j, score)`` for each pair, best first.
    """
    used_left: set[int] = set()
    used_right: set[int] = set()
    pairs = []
    for score, i, j in sorted(scored, reverse=True):
        if minimum is not None and score < minimum:
            break
        if i in used_left or j in used_right:
            continue
        used_left.add(i)
        used_right.add(j)
        pairs.append((i, j, score))
    return pairs


def maximal_pairs(scored: Iterable[tuple[float, int, int]],
                  minimum: float | None = None) -> list[tuple[int, int, float]]:
    """Pair left items with right items one-to-one so that the NUMBER of pairs is as large as possible, then the
    total score; only candidates ``(score, i, j)`` with ``score >= minimum`` (all when None) may pair.

    Why it is exact: each candidate pair weighs ``1 + score / (n + 1)`` with ``n`` the number of candidates and
    scores in [0, 1], so the score parts of any matching add up to less than 1 and a matching with one more pair
    always weighs more; the assignment solver maximises the total weight, hence the count first.

    Returns:
        ``(i, j, score)`` for each pair, best score first.
    """
    # lazy: SciPy only when faces must be paired (`larnet --help` imports this module)
    from scipy.optimize import linear_sum_assignment

    candidates = [(float(s), int(i), int(j)) for s, i, j in scored if minimum is None or s >= minimum]
    if not candidates:
        return []
    if any(not 0.0 <= s <= 1.0 for s, _, _ in candidates):
        raise ValueError("maximal_pairs needs scores in [0, 1] (an IoU or a similarity)")
    lefts = sorted({i for _, i, _ in candidates})
    rights = sorted({j for _, _, j in candidates})
    row = {i: r for r, i in enumerate(lefts)}
    col = {j: c for c, j in enumerate(rights)}
    weight = np.zeros((len(lefts), len(rights)))  # 0 = no candidate: never chosen over a real pair
    best: dict[tuple[int, int], float] = {}
    for s, i, j in candidates:
        if s >= best.get((i, j), -1.0):
            best[(i, j)] = s
    for (i, j), s in best.items():
        weight[row[i], col[j]] = 1.0 + s / (len(best) + 1)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    pairs = [(lefts[r], rights[c], best[(lefts[r], rights[c])]) for r, c in zip(rows, cols) if weight[r, c] > 0]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))
