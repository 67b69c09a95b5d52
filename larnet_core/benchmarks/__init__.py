"""Benchmarks behind ``larnet bench TARGET``: each module here with ``add_arguments(parser)`` and
``run(args) -> int`` is one target. They print figures (medians of several runs, ratios against a reference
measured in the same run); tests never assert wall-clock times."""

from __future__ import annotations

import statistics
import time
from typing import Callable

__all__ = ["median_ms"]


def median_ms(fn: Callable[[], object], repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in milliseconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)
