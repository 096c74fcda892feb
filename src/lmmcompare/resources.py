"""Scheduler resources of the workflow's jobs, from the size of their data.

A cluster scheduler places a job by the memory (``mem_mb``, MB) and time (``runtime``, minutes)
it asks for: too little and the job is killed, too much and it waits in the queue.  The rules
declare both as functions of N (samples in the ``.fam``) and M (SNPs in the QC list), evaluated
when the job's inputs exist, and scaled by the attempt (a retried job asks for twice, three
times as much).  The numbers are upper bounds, not predictions:

* **Memory.**  The N × N matrices a run holds — ours at most three (the kinship overwritten by
  its eigenvectors, the rotated block and one work copy: docs/BENCHMARKS.md), one in a chunk
  job of a saved model (:data:`OURS_CHUNK_N2_COPIES`), a peer up to
  :data:`PEER_N2_COPIES` (kinship, eigenvectors and the copies a tool makes of them) — plus the
  genotypes as doubles (a peer may hold all N × M; ours streams blocks of
  :data:`BLOCK_SNPS`), plus :data:`BASE_MB` for the interpreter and libraries (every run
  measured here used 100–900 MB at N ≤ 2,000), times :data:`MEMORY_MARGIN`.
* **Time.**  The eigendecomposition (≈ 9N³ flops, times :data:`EIGH_MARGIN`) and the rotation
  of the genotypes (2N²M flops, times :data:`TIME_MARGIN` for a peer — the slowest rotate SNP
  by SNP, a GLS per SNP — or :data:`OURS_TIME_MARGIN`) at :data:`FLOPS` (a pessimistic
  one-core rate), plus :data:`BASE_MINUTES`.  PyLMM's refit adds
  :data:`PYLMM_REFIT_SECONDS_PER_SNP`.
"""

from __future__ import annotations

import math
from pathlib import Path

BASE_MB = 1000
"""Memory of the interpreter, the libraries and small arrays (MB)."""
MEMORY_MARGIN = 1.5
"""Factor on the estimated arrays."""
OURS_N2_COPIES = 3
"""N × N double matrices exactlmm holds at once."""
OURS_CHUNK_N2_COPIES = 1
"""N × N double matrices one chunk job of ours holds: the saved eigenbasis it scans with (LOCO:
one chromosome's at a time, never the genome-wide one; N = 4,000: 331 MB peak)."""
PEER_N2_COPIES = 6
"""N × N double matrices a peer may hold at once (kinship, eigenvectors and copies)."""
BLOCK_SNPS = 4096
"""SNPs exactlmm holds as doubles at a time."""
FLOPS = 2e10
"""A pessimistic rate of one core's dense linear algebra (flop/s)."""
EIGH_MARGIN = 2.0
"""Factor on the eigendecomposition's time."""
TIME_MARGIN = 20.0
"""Factor on the rotation's time of a peer: the slowest do it a SNP at a time."""
OURS_TIME_MARGIN = 2.0
"""Factor on the rotation's time of ours (one GEMM per block of SNPs)."""
BASE_MINUTES = 10
"""Start-up, reading the inputs and writing the outputs (minutes)."""
PYLMM_REFIT_SECONDS_PER_SNP = 0.2
"""PyLMM's per-SNP refit: measured 20–60 ms a SNP at N ≤ 1,400; a margin for larger N."""


def count_lines(path: str | Path) -> int:
    """Number of lines of a text file (N of a ``.fam``, M of a SNP list)."""
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _memory_mb(doubles: int, attempt: int) -> int:
    """MB of a job holding ``doubles`` float64 numbers: :data:`BASE_MB` plus the arrays times
    :data:`MEMORY_MARGIN`, times the attempt."""
    return math.ceil(attempt * (BASE_MB + MEMORY_MARGIN * 8 * doubles / 1e6))


def tool_memory_mb(tool: str, n: int, m: int, attempt: int = 1) -> int:
    """``mem_mb`` of one tool run on N samples and M SNPs (module docstring)."""
    if tool == "exactlmm":
        doubles = OURS_N2_COPIES * n * n + n * min(m, BLOCK_SNPS)
    else:
        doubles = PEER_N2_COPIES * n * n + n * m
    return _memory_mb(doubles, attempt)


def chunk_memory_mb(n: int, m: int, attempt: int = 1) -> int:
    """``mem_mb`` of one chunk job of ours (``scan_chunks``), whose fit job made the
    eigendecomposition: one saved N × N basis and a block of SNPs."""
    doubles = OURS_CHUNK_N2_COPIES * n * n + n * min(m, BLOCK_SNPS)
    return _memory_mb(doubles, attempt)


def tool_runtime_minutes(tool: str, mode: str, n: int, m: int, attempt: int = 1) -> int:
    """``runtime`` (minutes) of one tool run on N samples and M SNPs (module docstring)."""
    margin = OURS_TIME_MARGIN if tool == "exactlmm" else TIME_MARGIN
    seconds = (EIGH_MARGIN * 9.0 * n**3 + margin * 2.0 * n * n * m) / FLOPS
    if tool == "pylmm" and mode == "refit":
        seconds += PYLMM_REFIT_SECONDS_PER_SNP * m
    return math.ceil(attempt * (BASE_MINUTES + seconds / 60.0))


def kinship_memory_mb(n: int, attempt: int = 1) -> int:
    """``mem_mb`` of the kinship job: the N × N sum, its text, one block of genotypes."""
    return _memory_mb(2 * n * n + n * BLOCK_SNPS, attempt)


def kinship_runtime_minutes(n: int, m: int, attempt: int = 1) -> int:
    """``runtime`` (minutes) of the kinship job: N²M flops (one dsyrk per block) and N²
    numbers written as text (at 2·10⁶ a second)."""
    seconds = OURS_TIME_MARGIN * (n * n * m) / FLOPS + n * n / 2e6
    return math.ceil(attempt * (BASE_MINUTES + seconds / 60.0))
