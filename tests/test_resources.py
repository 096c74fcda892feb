"""Scheduler resources from N and M (lmmcompare.resources): upper bounds that grow as the
work does, doubled on a retry."""

from __future__ import annotations

from pathlib import Path

from lmmcompare import resources


def test_lines_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "x.fam"
    path.write_text("".join(f"f{i} i{i} 0 0 0 -9\n" for i in range(2500)))
    assert resources.count_lines(path) == 2500


def test_memory_covers_the_arrays_and_grows_with_n_and_attempt() -> None:
    n, m = 10_000, 50_000
    ours = resources.tool_memory_mb("exactlmm", n, m)
    assert ours >= 8 * 3 * n * n / 1e6  # three N x N doubles at least
    assert resources.tool_memory_mb("gemma", n, m) > ours  # a peer may hold all genotypes
    assert resources.tool_memory_mb("exactlmm", n, m, attempt=2) == 2 * ours
    assert resources.tool_memory_mb("exactlmm", 2 * n, m) > 3 * ours
    assert resources.kinship_memory_mb(n) >= 8 * 2 * n * n / 1e6
    chunk = resources.chunk_memory_mb(n, m)
    assert 8 * n * n / 1e6 <= chunk < ours  # one saved N x N basis, not the fit's three
    assert resources.chunk_memory_mb(n, m, attempt=2) == 2 * chunk
    # a LOCO model's chunk: the downdates' rows of its largest chromosome, and a second basis
    # when some chromosome has its own spectrum beside the genome-wide one
    parts = [{"method": None}, {"method": "downdate", "n_removed": 2500},
             {"method": "downdate", "n_removed": 4000}]
    header = {"analysis": {"loco": True}, "parts": parts}
    rows = resources.chunk_memory_mb(n, m, header=header)
    assert abs(rows - chunk - 1.5 * 8 * 4 * 4000 * n / 1e6) <= 1  # MB are rounded up
    mixed = {**header, "parts": [*parts, {"method": "eigendecomposition"}]}
    assert abs(resources.chunk_memory_mb(n, m, header=mixed) - rows
               - 1.5 * 8 * n * n / 1e6) <= 1
    assert resources.chunk_memory_mb(n, m, header={"analysis": {"loco": False},
                                                   "parts": parts[:1]}) == chunk


def test_runtime_grows_with_the_work_and_pylmm_refit_with_m() -> None:
    small = resources.tool_runtime_minutes("exactlmm", "fixed", 1000, 10_000)
    assert small >= resources.BASE_MINUTES
    assert resources.tool_runtime_minutes("exactlmm", "fixed", 8000, 10_000) > small
    assert resources.tool_runtime_minutes("gemma", "refit", 8000, 10_000) > (
        resources.tool_runtime_minutes("exactlmm", "fixed", 8000, 10_000))
    pylmm = resources.tool_runtime_minutes("pylmm", "refit", 1000, 100_000)
    assert pylmm >= 0.2 * 100_000 / 60  # its per-SNP refit
    third = resources.tool_runtime_minutes("exactlmm", "fixed", 1000, 10_000, attempt=3)
    assert 3 * (small - 1) < third <= 3 * small  # three times, rounded up to whole minutes
    assert resources.kinship_runtime_minutes(20_000, 50_000) > (
        resources.kinship_runtime_minutes(2_000, 50_000))


class _Wildcards(dict):
    """What Snakemake passes a resource function: named wildcards with ``keys()``."""

    __getattr__ = dict.__getitem__


def test_the_rules_functions_ask_by_what_the_job_is(tmp_path: Path) -> None:
    """One pair of functions serves every rule: a tool run costs its registry entry's (no tool
    is named in resources.py), a chunk job one saved basis, the fit ours, the kinship job its
    own."""
    (tmp_path / "x.fam").write_text("f i 0 0 0 -9\n" * 3000)
    (tmp_path / "x.snplist").write_text("rs\n" * 20_000)
    (tmp_path / "m.model.json").write_text('{"analysis": {"loco": false}, "parts": []}')
    files = _Wildcards(fam=tmp_path / "x.fam", snplist=tmp_path / "x.snplist",
                       model=tmp_path / "m.model.json")
    n, m = 3000, 20_000
    run = _Wildcards(dataset="d", tool="pylmm", mode="refit")
    assert resources.mem_mb(run, files, 2) == resources.tool_memory_mb("pylmm", n, m, 2)
    assert resources.runtime(run, files, 1) == resources.tool_runtime_minutes("pylmm", "refit",
                                                                              n, m)
    chunk = _Wildcards(dataset="d", mode="loco", chunk="2", n_chunks="4")
    assert resources.mem_mb(chunk, files, 1) == resources.chunk_memory_mb(n, m)
    assert resources.runtime(chunk, files, 1) == resources.tool_runtime_minutes(
        "exactlmm", "loco", n, m // 4)
    fit = _Wildcards(dataset="d", model="kinship")
    assert resources.mem_mb(fit, files, 1) == resources.tool_memory_mb("exactlmm", n, m)
    kinship = _Wildcards(dataset="d")
    assert resources.mem_mb(kinship, files, 1) == resources.kinship_memory_mb(n)
    assert resources.runtime(kinship, files, 3) == resources.kinship_runtime_minutes(n, m, 3)
    source = Path(resources.__file__).read_text()
    assert not any(f'"{name}"' in source for name in ("exactlmm", "pylmm", "refit"))
