"""Run JAMMA (PyPI ``jamma`` 8.2.4, GEMMA's univariate LMM re-implemented; its own virtual
environment) and write our two result files.

What JAMMA does with the input set written here, and the source lines that say so, is in
``docs/PEERS-VERIFIED.md`` ("JAMMA 8.2.4"):

* Inputs: GEMMA's input set, which JAMMA reads unchanged (``lmmcompare.runners.gemma.
  write_input_set``: our ``.fam`` with our phenotype or NA in field 6, ``-snps`` our testable
  SNPs, ``-c`` a column of ones and our covariates).  QC off (``-miss 1 -maf 0 -hwe 0``; JAMMA
  has no ``-r2``).  ``-lmm 4``: per-SNP REML Wald, ML LRT and score, GEMMA's ``.assoc.txt``
  (read with the ``gemma`` format preset; ``allele1`` = ``.bim`` column 5 = our a1).
* refit: our kinship file over all ``.fam`` samples as ``-k kinship.npy`` in the working
  directory (a text ``-k`` makes JAMMA write a ``.npy`` cache beside it); JAMMA cuts it to the
  analysed samples and re-centres it as GEMMA does.  Exact against ours.
* loco: ``-loco -ksnps snps.txt`` (``-k`` is refused with ``-loco``): per chromosome c GEMMA's
  centered kinship (``-gk 1``) of our SNPs off c, then the same per-SNP refit.  Not ours' loco
  model (standardized K₋c at the null γ): an approximate comparison (registry).
* Null model: only pve (6 digits) and se(pve) of the null REML λ, on the console (no REML λ, no
  REML log-likelihood); in loco mode for the first chromosome only.  γ from pve: the registry's
  ``_jamma_to_standard``.
* Environment: no telemetry file (``JAMMA_NO_TELEMETRY=1``); ``JAMMA_BLAS_THREADS`` = the job's
  threads (its association kernels take the physical cores).  Its table's bytes do not depend
  on the thread count; its se(pve)'s last digit does (not recorded).
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.results import TESTED
from lmmcompare import formats, params, registry
from lmmcompare.runners import RunRequest
from lmmcompare.runners._common import load, summarized_snps, write_run
from lmmcompare.runners.gemma import AF_DECIMALS, write_input_set
from lmmcompare.runners.program import program_run
from lmmcompare.runners.tool_output import (
    check_agrees,
    check_counts,
    log_values,
    mark_not_reported,
    read_output,
    reported_rows,
)

TOOL = "jamma"
QC_OFF = ("-miss", "1", "-maf", "0", "-hwe", "0")
"""JAMMA's SNP filters off (GEMMA's, without ``-r2``, which JAMMA does not take)."""
OUTPUT = "output/result.assoc.txt"
"""Its association table (``-o result``; GEMMA's layout)."""
ANSI = re.compile(r"\x1b\[[0-9;]*m")
"""The colour codes of its console lines (loguru)."""
LOG_PATTERNS = {
    "n_analysed": r"## number of analyzed individuals = ([\d,]+)",
    "n_covariates": r"## number of covariates = (\d+)",
    "pve": r"pve estimate in the null model = (\S+)",
    "se_pve": r"se\(pve\) in the null model = (\S+)",
}
"""Numbers read from JAMMA's console (the first match: in loco mode, chromosome 1's fit)."""
ML_PATTERN = r"Null model MLE: lambda=(\S+), logl_H0=(\S+)"
"""The null ML λ and log-likelihood (refit mode only)."""


def parse_console(text: str) -> dict[str, Any]:
    """Counts, pve, se(pve) (and the null ML λ and logL when printed) from JAMMA's console."""
    text = ANSI.sub("", text)
    found = log_values(text, LOG_PATTERNS, "JAMMA's output")
    out: dict[str, Any] = {key: int(value.replace(",", "")) if key.startswith("n_")
                           else float(value) for key, (value,) in found.items()}
    ml = re.search(ML_PATTERN, text)
    if ml is not None:
        out["lambda_ml"], out["logl_ml"] = float(ml.group(1)), float(ml.group(2))
    return out


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """Run ``jamma -lmm 4`` (refit or loco mode, its registry entry); write ``out.assoc.tsv``
    and ``out.null.json``."""
    inputs = load(request, with_kinship=mode == "refit")
    columns, stats = summarized_snps(inputs)
    given = np.flatnonzero(stats["errcode"] == TESTED)
    threads = str(max(1, int(request.threads)))
    env = {"JAMMA_NO_TELEMETRY": "1", "JAMMA_BLAS_THREADS": threads}
    with program_run(request, TOOL, env=env) as work:
        options = write_input_set(inputs, work.directory, columns["snp"][given])
        if mode == "refit":
            full = read_kinship(request.kinship, inputs.dataset.n_samples)
            np.save(work.path("kinship.npy"), full)
            options += ["-k", "kinship.npy"]
        else:
            options += ["-loco", "-ksnps", "snps.txt"]
        arguments = [*options, *QC_OFF, "-lmm", "4", "-o", "result"]
        console = work.run(arguments, [OUTPUT], progress_marks=("Elapsed Time",))
        table = read_output(work.path(OUTPUT), "gemma", "JAMMA")
    log = parse_console(console.text)
    version = re.search(r"JAMMA v(\S+)", ANSI.sub("", console.text))

    n = inputs.n_samples
    check_counts("JAMMA", {"analysed samples": log["n_analysed"],
                           "covariates": log["n_covariates"]}, (n, inputs.n_covariates))
    rows = reported_rows(columns["snp"], given, table.snp, "JAMMA")
    _check_coding(table, columns, stats, rows, n)
    stats["beta"][rows] = table.beta
    stats["se"][rows] = table.se
    for name in registry.statistics_of(TOOL):
        stats[name][rows] = table.pvalues[name]
    for column, name in (("l_remle", "delta"), ("l_mle", "delta_ml")):
        stats[name][rows] = params.delta_from_gamma(
            params.gamma_from_gemma_lambda(table.extra[column]), strict=False)
    mark_not_reported(stats, rows, "JAMMA")

    # Not se(pve): its last digit depends on the eigendecomposition's BLAS threads.
    native = {key: log[key] for key in ("pve", "lambda_ml", "logl_ml") if key in log}
    if mode == "refit":
        K = inputs.kinship
        native["K_centered_mean_diag"] = float(np.trace(K) - K.sum() / n) / n
    else:
        native["pve_of"] = f"the first chromosome's K_-c ({columns['chrom'][0]})"
    command = ["jamma", *arguments]
    if mode == "refit":  # the kinship as given, not the working directory's copy
        command[command.index("kinship.npy")] = request.kinship
    write_run(out, TOOL, version.group(1) if version else None, request, mode, inputs, stats,
              native, loglik=None, beta=None,
              mean_diag=native.get("K_centered_mean_diag", 1.0), command=command)


def _check_coding(table: formats.ResultTable, columns: dict[str, np.ndarray],
                  stats: dict[str, np.ndarray], rows: np.ndarray, n: int) -> None:
    """JAMMA's alleles, called counts and a1 frequencies must be ours (else β's sign is off)."""
    check_agrees("JAMMA", "allele1", table.effect_allele, columns["a1"][rows],
                 "our a1: allele coding")
    check_agrees("JAMMA", "allele0", table.other_allele, columns["a2"][rows],
                 "our a2: allele coding")
    check_agrees("JAMMA", "called counts (n - n_miss)", n - table.extra["n_miss"],
                 stats["n"][rows], "ours: other samples")
    check_agrees("JAMMA", "af", table.af, stats["af"][rows], "our a1 frequencies: allele "
                 "coding", atol=0.5 * 10.0**-AF_DECIMALS + 1e-9)

