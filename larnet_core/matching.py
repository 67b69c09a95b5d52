"""Greedy one-to-one pairing, best score first: spotted to annotated intervals, detections to face tracks, full-range
detections to face meshes. With a handful of items on each side it gives the same pairs as the Hungarian method."""

from __future__ import annotations

from typing import Iterable

__all__ = ["greedy_pairs"]


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
