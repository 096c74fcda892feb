"""Elementwise numpy work split over the cores: a block's SNPs in a few contiguous chunks.

BLAS already uses every core for the products; what runs between them (decoding genotypes,
squaring the rotated block) is numpy code on one core, which releases the GIL inside its loops,
so a small thread pool runs the chunks of one block at the same time.  Each chunk writes its
own rows of preallocated outputs, so the result does not depend on the number of threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

#: Chunks of fewer rows are not worth a thread.
MIN_ROWS = 256


def n_threads() -> int:
    """Threads for the elementwise work: the cores this process may run on, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=n_threads(), thread_name_prefix="exactlmm")


def chunks(m: int) -> list[slice]:
    """Contiguous row ranges covering range(m), one per thread (one when m is small)."""
    parts = max(1, min(n_threads(), m // MIN_ROWS))
    bounds = [m * i // parts for i in range(parts + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(parts)]


def run_parts(work: Callable[[int], None], parts: int) -> None:
    """Run ``work(0)``, …, ``work(parts − 1)``, in parallel when there are several."""
    if parts == 1:
        work(0)
        return
    for future in [_pool().submit(work, part) for part in range(parts)]:
        future.result()


class Workspace:
    """Arrays reused from one block to the next, by name.

    A fresh n × m float64 array per block is mapped and zeroed by the kernel every time (glibc
    returns large freed blocks to the system), which measured 13 % of a scan's time; a
    workspace hands back the same memory instead.  An array it returns is valid until the next
    request of the same name (of any shape).
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
        """A C-ordered array of ``shape`` and ``dtype`` (uninitialised) named ``name``."""
        dtype = np.dtype(dtype)
        size = int(np.prod(shape)) * dtype.itemsize
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = np.empty(max(size, 1), dtype=np.uint8)
            self._buffers[name] = buffer
        return buffer[:size].view(dtype).reshape(shape)
