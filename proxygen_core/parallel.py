"""The one thread pool for native work that releases the GIL (OCIO's apply, BLAS products), one thread a core.

Why our own threads: each such call is split in row bands here, so a frame uses every core without any
library starting threads of its own. OpenBLAS's own workers, for one, spin after every call and steal a
core from OCIO and x264 (``proxygen_core/__init__.py`` keeps OpenBLAS to the calling thread).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

POOL = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="proxygen-native")
WORKERS = POOL._max_workers


def run_parts(work: Callable[[T], None], parts: Sequence[T]) -> None:
    """Run ``work`` on every part, spread over the pool; re-raise the first error."""
    if len(parts) <= 1:
        for part in parts:
            work(part)
        return
    for future in [POOL.submit(work, part) for part in parts]:
        future.result()


def spread(items: Sequence[T], parts: int = WORKERS) -> list[Sequence[T]]:
    """``items`` in up to ``parts`` consecutive runs of near-equal length."""
    n = max(1, min(parts, len(items)))
    bounds = [round(i * len(items) / n) for i in range(n + 1)]
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
