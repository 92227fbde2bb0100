"""The one thread pool for native work that releases the GIL (OCIO's apply, BLAS products), one thread a core.

Why our own threads: each such call is split in row bands here, so a frame uses every core without any
library starting threads of its own. OpenBLAS's own workers, for one, spin after every call and steal a
core from OCIO and x264 (measured at 4K: the proxy stage 0.10 s instead of 0.08 s), so OpenBLAS is kept to
the calling thread, set at run time (``single_threaded_blas``, called where the products are made): it holds
whoever imported numpy first, and changes no environment a child process would inherit.
"""
from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

WORKERS = max(1, os.cpu_count() or 1)
POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="proxygen-native")


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
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=False) if b > a]


def single_threaded_blas() -> bool:
    """Set the loaded OpenBLAS (numpy's own build or a system one) to one thread; False when none is loaded
    or it has no such entry point (then BLAS keeps its default)."""
    try:
        with open("/proc/self/maps") as fh:
            libs = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", fh.read())))
    except OSError:
        return False
    done = False
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(1))
                done = True
                break
    return done
