"""Scheduler resources of the workflow's jobs, from the size of their data.

A cluster scheduler places a job by the memory (``mem_mb``, MB) and time (``runtime``, minutes)
it asks for: too little and the job is killed, too much and it waits in the queue.  The rules
declare both as :func:`mem_mb` and :func:`runtime`, functions of N (samples in the job's
``.fam``) and M (SNPs in its QC list), evaluated when the job's inputs exist, and scaled by the
attempt (a retried job asks for twice, three times as much).  The numbers are upper bounds, not
predictions; what a tool's run costs is its registry entry's (``registry.Cost``), so no tool is
named here:

* **Memory.**  The N × N matrices a run holds (``Cost.n2_copies``; one in a chunk job of a
  saved model, :data:`CHUNK_N2_COPIES`) plus the genotypes as doubles (all N × M, or blocks of
  :data:`BLOCK_SNPS` for a tool that streams them), plus :data:`BASE_MB` for the interpreter
  and libraries (every run measured here used 100–900 MB at N ≤ 2,000), times
  :data:`MEMORY_MARGIN`.
* **Time.**  The eigendecomposition (≈ 9N³ flops, times :data:`EIGH_MARGIN`) and the rotation
  of the genotypes (2N²M flops, times ``Cost.rotation_margin``: the slowest peers rotate SNP by
  SNP, a GLS per SNP) at :data:`FLOPS` (a pessimistic one-core rate), plus
  ``Cost.seconds_per_snp`` of the run's mode, plus :data:`BASE_MINUTES`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from lmmcompare import registry

BASE_MB = 1000
"""Memory of the interpreter, the libraries and small arrays (MB)."""
MEMORY_MARGIN = 1.5
"""Factor on the estimated arrays."""
CHUNK_N2_COPIES = 1
"""N × N double matrices one chunk job of ours holds: the saved eigenbasis it scans with (LOCO:
the genome-wide one for the chromosomes that are its downdates, one chromosome's own at a time
for the others — both at once when a chunk has both kinds; N = 4,000: 331 MB peak)."""
DOWNDATE_ROW_COPIES = 4
"""r × N double arrays a LOCO downdate of a chromosome with r kinship SNPs holds (its rotated
rows, their rotation blocks, the capacitance's work array; ``exactlmm.downdate``)."""
BLOCK_SNPS = 4096
"""SNPs a tool that streams its genotypes holds as doubles at a time."""
FLOPS = 2e10
"""A pessimistic rate of one core's dense linear algebra (flop/s)."""
EIGH_MARGIN = 2.0
"""Factor on the eigendecomposition's time."""
KINSHIP_MARGIN = 2.0
"""Factor on the kinship's N²M flops (one dsyrk per block)."""
BASE_MINUTES = 10
"""Start-up, reading the inputs and writing the outputs (minutes)."""


def count_lines(path: str | Path) -> int:
    """Number of lines of a text file (N of a ``.fam``, M of a SNP list)."""
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _memory_mb(doubles: int, attempt: int) -> int:
    """MB of a job holding ``doubles`` float64 numbers: :data:`BASE_MB` plus the arrays times
    :data:`MEMORY_MARGIN`, times the attempt."""
    return math.ceil(attempt * (BASE_MB + MEMORY_MARGIN * 8 * doubles / 1e6))


def _minutes(seconds: float, attempt: int) -> int:
    return math.ceil(attempt * (BASE_MINUTES + seconds / 60.0))


def tool_cost(tool: str) -> registry.Cost:
    """What a run of ``tool`` costs: its registry entry's ``cost``; a tool the registry does not
    know (one defined in the config) costs a peer's default bound (``registry.Cost()``)."""
    entry = registry.TOOLS.get(tool)
    return registry.Cost() if entry is None else entry.cost


def tool_memory_mb(tool: str, n: int, m: int, attempt: int = 1) -> int:
    """``mem_mb`` of one run of ``tool`` on N samples and M SNPs (module docstring)."""
    cost = tool_cost(tool)
    held = min(m, BLOCK_SNPS) if cost.streams_genotypes else m
    return _memory_mb(cost.n2_copies * n * n + n * held, attempt)


def chunk_memory_mb(n: int, m: int, attempt: int = 1, header: dict | None = None) -> int:
    """``mem_mb`` of one chunk job of ours (``scan_chunks``), whose fit job made the
    eigendecomposition: one saved N × N basis and a block of SNPs; for a LOCO model
    (``header``, its ``.model.json``) with downdate chromosomes, their largest one's rows
    (:data:`DOWNDATE_ROW_COPIES` × r × N), and a second basis when some chromosomes have their
    own."""
    bases, rows = CHUNK_N2_COPIES, 0
    chromosomes = header["parts"][1:] if header and header["analysis"]["loco"] else []
    removed = [part.get("n_removed", 0) for part in chromosomes if part["method"] == "downdate"]
    if removed:
        rows = max(removed)
        if any(part["method"] == "eigendecomposition" for part in chromosomes):
            bases += 1
    return _memory_mb(bases * n * n + DOWNDATE_ROW_COPIES * rows * n + n * min(m, BLOCK_SNPS),
                      attempt)


def tool_runtime_minutes(tool: str, mode: str, n: int, m: int, attempt: int = 1) -> int:
    """``runtime`` (minutes) of one run of ``tool`` in ``mode`` on N samples and M SNPs."""
    cost = tool_cost(tool)
    seconds = (EIGH_MARGIN * 9.0 * n**3 + cost.rotation_margin * 2.0 * n * n * m) / FLOPS
    return _minutes(seconds + cost.seconds_per_snp.get(mode, 0.0) * m, attempt)


def kinship_memory_mb(n: int, attempt: int = 1) -> int:
    """``mem_mb`` of the kinship job: the N × N sum, its text, one block of genotypes."""
    return _memory_mb(2 * n * n + n * BLOCK_SNPS, attempt)


def kinship_runtime_minutes(n: int, m: int, attempt: int = 1) -> int:
    """``runtime`` (minutes) of the kinship job: N²M flops (one dsyrk per block) and N²
    numbers written as text (at 2·10⁶ a second)."""
    return _minutes(KINSHIP_MARGIN * (n * n * m) / FLOPS + n * n / 2e6, attempt)


# ----------------------------------------------------------- what the rules call (Snakemake)


def job_size(input: Any) -> tuple[int, int]:
    """(N, M) of a job: samples in its ``.fam``, SNPs in its QC list."""
    return count_lines(input.fam), count_lines(input.snplist)


def mem_mb(wildcards: Any, input: Any, attempt: int) -> int:
    """``mem_mb`` of a job, by what its wildcards say it is: a tool run (``tool``), a chunk of
    our scan (``chunk``), our fit of a saved model (``model``: ours on N and M), or else the
    kinship job."""
    n, m = job_size(input)
    if "tool" in wildcards.keys():
        return tool_memory_mb(wildcards.tool, n, m, attempt)
    if "chunk" in wildcards.keys():
        return chunk_memory_mb(n, m, attempt, json.loads(Path(input.model).read_text()))
    if "model" in wildcards.keys():
        return tool_memory_mb(registry.REFERENCE, n, m, attempt)
    return kinship_memory_mb(n, attempt)


def runtime(wildcards: Any, input: Any, attempt: int) -> int:
    """``runtime`` (minutes) of a job, by its wildcards as :func:`mem_mb`: a chunk of our scan
    in mode ``mode`` takes ours on its M/N_chunks SNPs, our fit ours in ``fixed`` mode."""
    n, m = job_size(input)
    if "tool" in wildcards.keys():
        return tool_runtime_minutes(wildcards.tool, wildcards.mode, n, m, attempt)
    if "chunk" in wildcards.keys():
        share = -(-m // int(wildcards.n_chunks))
        return tool_runtime_minutes(registry.REFERENCE, wildcards.mode, n, share, attempt)
    if "model" in wildcards.keys():
        return tool_runtime_minutes(registry.REFERENCE, "fixed", n, m, attempt)
    return kinship_runtime_minutes(n, m, attempt)
