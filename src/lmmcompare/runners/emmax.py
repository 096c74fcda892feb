"""Run EMMAX (Debian ``emmax``, beta-07Mar2010) and write our two result files.

What EMMAX does with the input set written here, and the lines of ``emmax.c`` (EMMAX beta
source, commit ``7a7ae1d`` of github.com/quiestrho/EPI-EMMAX, the Debian binary's) that say so,
is in ``docs/PEERS-VERIFIED.md`` (EMMAX).  In short:

* Inputs: a ``.tfam`` of exactly our analysed samples in ``.fam`` order, ``FID IID`` phenotype
  and covariate files that follow it (with the intercept column: EMMAX adds none), our kinship
  cut to those samples (``%.17g``; EMMAX neither rescales nor re-centres it), and a tped of the
  SNPs ours can test, k copies of our ``a1`` written as k "2" alleles (:func:`tped_lines`), so
  β is per copy of ``a1``; missing calls EMMAX sets to the mean, as ours.
* Null fit: EMMA's exact REML (our convention: ``loglik`` is its number) on a grid of log δ
  then bisection to 1e-4, stopping above the optimum (γ low by up to 1e-4 relative).
  ``.reml``: REML, REML0, δ, vg = σ̂g², ve = σ̂e², hg (the pve of the centred K, kept in
  ``native`` only).
* Test: at the null δ for every SNP (P3D), a two-sided t test with n − c − 1 degrees of
  freedom; ``.ps`` has β and p but no se, so se is recovered from them
  (``params.se_from_t_test``).  ``-d 17``: every number round-trips.  One BLAS thread.
* Checks that make a wrong run a ``ToolFailed``: its exit status, a "FATAL ERROR" it prints
  without stopping, the sample and covariate counts of its log, the SNP IDs of ``.ps`` (a SNP
  written but not reported is ``NOT_REPORTED``), and β and p of the first and the strongest
  SNPs against our generalized least squares at its δ (``spot_check``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from exactlmm.io.plink import iter_genotype_blocks
from exactlmm.pipeline import AnalysisInputs
from lmmcompare import formats, params
from lmmcompare.runners import RunRequest, ToolFailed
from lmmcompare.runners._common import (
    GENOTYPE_BLOCK,
    empty_stat_columns,
    iter_snp_blocks,
    load,
    record_block,
    snp_columns,
    write_run,
)
from lmmcompare.runners.input_files import sample_table
from lmmcompare.runners.program import program_run
from lmmcompare.runners.spot_check import spot_check
from lmmcompare.runners.tool_output import (
    log_values,
    mark_not_reported,
    read_output,
    reported_rows,
)

TOOL = "emmax"
DIGITS = 17
"""``-d``: significant digits EMMAX prints (17: every double round-trips)."""

ARGUMENTS = ("-t", "data", "-p", "pheno.txt", "-c", "covar.txt", "-k", "kinship.txt",
             "-d", str(DIGITS), "-o", "result")
"""EMMAX's arguments: the files :func:`write_input_set` writes, the digits, the output prefix."""

OUTPUTS = ("result.ps", "result.reml", "result.log")

FORMAT = formats.resolve({"preset": "emmax", "bim_effect": "a1"})
"""EMMAX's ``.ps`` (``lmmcompare.formats``: SNP, β, p, no header); β counts the tped's "2"
allele, which :func:`tped_lines` writes for our a1."""

ONE_BLAS_THREAD = dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"),
                                "1")
"""EMMAX's environment: one BLAS thread, so its output does not depend on the cores."""

REML_FIELDS = ("reml", "reml0", "delta", "vg", "ve", "hg")
"""The six lines of EMMAX's ``PREFIX.reml``, in order (``main``)."""

LOG_DELTA_BOUNDS = (-10.0, 10.0)
"""EMMAX's search range of log δ (``DEFAULT_LLIM``, ``DEFAULT_ULIM``)."""

SPOT_CHECK_RTOL = 1e-6
"""Relative tolerance of the spot check (EMMAX's numbers at its own δ; rounding only)."""

_TOKENS = np.frombuffer(b"1 1 1 2 2 2 0 0 ", dtype=np.uint8).reshape(4, 4)
"""tped genotype tokens for 0, 1, 2 copies of a1 and a missing call (code 3)."""


def tped_lines(
    chrom: np.ndarray, snp: np.ndarray, pos: np.ndarray, genotypes: np.ndarray
) -> bytes:
    """tped lines of SNPs (vectorised): ``chrom snp 0 pos`` then two allele tokens per sample.

    ``genotypes`` is n × m copies of a1 (0, 1, 2; NaN missing).  Copies of a1 are written as
    allele "2" (EMMAX counts "2" alleles), a missing call as "0 0".  The header fields are
    padded with spaces to one width (EMMAX splits on runs of blanks), so that each line is a
    fixed-width row of one byte array.
    """
    m = genotypes.shape[1]
    if m == 0:
        return b""
    codes = np.where(np.isnan(genotypes), 3.0, genotypes).T.astype(np.uint8)
    if codes.max(initial=0) > 3:
        raise ValueError("genotypes must be 0, 1, 2 or NaN")
    body = _TOKENS[codes].reshape(m, -1)
    body[:, -1] = ord("\n")
    header = np.char.add(np.char.add(np.asarray(chrom, dtype=str), " "), snp.astype(str))
    header = np.char.add(np.char.add(header, " 0 "), np.asarray(pos).astype(str))
    encoded = np.char.encode(header, "utf-8")
    width = int(np.char.str_len(encoded).max()) + 1
    fixed = np.char.ljust(encoded, width).astype(f"S{width}")
    head = np.frombuffer(fixed.tobytes(), dtype=np.uint8).reshape(m, width)
    return np.hstack([head, body]).tobytes()


def write_input_set(
    inputs: AnalysisInputs, directory: Path, columns: dict[str, np.ndarray],
    stats: dict[str, np.ndarray],
) -> np.ndarray:
    """Write ``data.tped``/``data.tfam``, ``pheno.txt``, ``covar.txt`` and ``kinship.txt``.

    Streams the genotypes once: fills ``n``, ``af`` and ``errcode`` of ``stats``
    (:func:`record_block`) and writes the tested SNPs to ``data.tped``.  Returns the rows (into
    ``inputs.snp_index``) of the SNPs written, in file order.
    """
    ds = inputs.dataset
    fid, iid = inputs.sample_ids.T.tolist()
    (directory / "data.tfam").write_text("".join(f"{f} {i} 0 0 0 -9\n"
                                                 for f, i in zip(fid, iid, strict=True)))
    (directory / "pheno.txt").write_text(sample_table(fid, iid, inputs.y))
    (directory / "covar.txt").write_text(sample_table(fid, iid, inputs.covariates))
    np.savetxt(directory / "kinship.txt", inputs.kinship, fmt="%.17g", delimiter="\t")
    written = []
    raw_blocks = iter_genotype_blocks(
        ds, inputs.samples.fam_index, inputs.snp_index, block_size=GENOTYPE_BLOCK
    )
    with open(directory / "data.tped", "wb") as tped:
        for block, (positions, raw) in zip(iter_snp_blocks(inputs), raw_blocks, strict=True):
            if not np.array_equal(inputs.snp_index[block.rows], positions):
                raise RuntimeError("genotype blocks out of step")  # cannot happen
            record_block(stats, block)
            keep = block.testable
            rows = block.rows[keep]
            tped.write(tped_lines(columns["chrom"][rows], columns["snp"][rows],
                                  columns["pos"][rows], raw[:, keep]))
            written.append(rows)
    return np.concatenate(written) if written else np.zeros(0, dtype=np.int64)


def parse_reml(path: str | os.PathLike[str]) -> dict[str, float]:
    """EMMAX's ``PREFIX.reml``: six numbers, one a line (:data:`REML_FIELDS`)."""
    values = Path(path).read_text().split()
    if len(values) != len(REML_FIELDS):
        raise ToolFailed(f"{path}: expected {len(REML_FIELDS)} numbers, found {len(values)}")
    return {name: float(v) for name, v in zip(REML_FIELDS, values, strict=True)}


def parse_log_counts(text: str) -> dict[str, tuple[int, int, int]]:
    """(rows, columns, missing) EMMAX logs for the kinship, phenotype and covariate files."""
    patterns = {key: rf"Reading (?:the )?{what} .*?\n\s*(\d+) rows and (\d+) columns were "
                     r"observed with (\d+) missing values"
                for key, what in (("kinship", "kinship file"), ("pheno", "phenotype file"),
                                  ("covar", "covariate file"))}
    found = log_values(text, patterns, "EMMAX's log")
    return {key: tuple(int(g) for g in groups) for key, groups in found.items()}


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """Run ``emmax`` (fixed mode, its registry entry); write ``out.assoc.tsv`` and
    ``out.null.json``."""
    inputs = load(request)
    n, c = inputs.n_samples, inputs.n_covariates
    columns = snp_columns(inputs)
    stats = empty_stat_columns(inputs.snp_index.size)
    with program_run(request, TOOL, env=ONE_BLAS_THREAD) as work:
        written = write_input_set(inputs, work.directory, columns, stats)
        work.run(ARGUMENTS, OUTPUTS, fatal_marks=("FATAL ERROR",))
        table = read_output(work.path("result.ps"), FORMAT, "EMMAX")
        reml = parse_reml(work.path("result.reml"))
        counts = parse_log_counts(work.path("result.log").read_text())
        version = work.debian_version("emmax")

    expected = {"kinship": (n, n, 0), "pheno": (n, 1, 0), "covar": (n, c, 0)}
    if counts != expected:
        raise ToolFailed(f"EMMAX read (rows, columns, missing) {counts}; expected {expected}")
    rows = reported_rows(columns["snp"], written, table.snp, "EMMAX")
    delta = reml["delta"]
    p = table.pvalues["p_wald"]
    spot_check("EMMAX", inputs, table.snp, table.beta, p, rows, delta, SPOT_CHECK_RTOL)

    df = n - c - 1
    stats["beta"][rows] = table.beta
    stats["p_wald"][rows] = p
    stats["se"][rows] = params.se_from_t_test(table.beta, p, df)
    stats["delta"][rows] = delta
    # EMMAX reports every line of its tped; a tested SNP missing from .ps is NOT_REPORTED.
    mark_not_reported(stats, rows, "EMMAX")

    log_delta = float(np.log(delta))
    native: dict[str, Any] = {
        **reml,
        "log_delta": log_delta,
        "log_delta_bounds": list(LOG_DELTA_BOUNDS),
        "at_bound": bool(min(abs(log_delta - b) for b in LOG_DELTA_BOUNDS) < 1e-9),
        "df": df,
        "n_snps_tested": int(table.n_rows),
    }
    # LL_REML_wo_Z is the exact REML (module docstring): no constant to remove.
    write_run(out, TOOL, version, request, mode, inputs, stats, native,
              loglik=params.finite_number(reml["reml"], "EMMAX REML"), beta=None,
              command=["emmax", *ARGUMENTS],
              inputs="data.tped/tfam, pheno.txt, covar.txt (intercept first), kinship.txt: "
                     "written by lmmcompare.runners.emmax")
