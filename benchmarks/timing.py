"""Median wall time of a callable, for the benchmarks (never for tests)."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], reps: int, warmup: bool = False) -> float:
    """The median of ``reps`` timed calls, after one untimed call when ``warmup``."""
    if warmup:
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
