"""Run REGENIE's method in sgkit 0.10.0 (its own virtual environment, on dask.distributed) and
write our two result files.

The sgkit calls run in the venv's Python (:mod:`lmmcompare.runners.regenie_sgkit_job`, whose
docstring says what they compute); this side writes the job — our analysed samples,
phenotype and covariates, the SNPs ours can test, :data:`BLOCK_SIZE` — reads its table with the
``regenie_sgkit`` format preset, and puts β on the phenotype's scale (the registry entry's
``effect_unit``: β on y = sgkit's β · s, s the residual sd of y given the covariates), se =
|β|/|t|.  sgkit estimates no variance ratio: the null record's γ and h² are ``null``.

Threads: the LocalCluster gets the job's threads, each dask task one BLAS thread (two levels
would oversubscribe the cores).  A real dask cluster: set ``LMM_COMPARE_DASK_SCHEDULER`` to its
scheduler's address (``tcp://host:8786``) in the environment Snakemake runs in; the workers
then read the ``.bed`` themselves (its path must be visible to them) and run the same graph —
where the run happens is not part of the experiment, so it is no config key (docs/DESIGN.md).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from exactlmm.io.results import TESTED
from lmmcompare import params
from lmmcompare.runners import RunRequest, SkipRun, ToolFailed
from lmmcompare.runners._common import load, summarized_snps, write_run
from lmmcompare.runners.program import program_run
from lmmcompare.runners.tool_output import (
    check_agrees,
    mark_not_reported,
    read_output,
    reported_rows,
)

TOOL = "regenie_sgkit"
JOB_SCRIPT = Path(__file__).with_name("regenie_sgkit_job.py")
"""The script the venv's Python runs."""
BLOCK_SIZE = 1000
"""SNPs per variant block of step 1: sgkit's and REGENIE's default (``min(1000, M/2)``)."""
SCHEDULER_VARIABLE = "LMM_COMPARE_DASK_SCHEDULER"
"""The environment variable naming a dask scheduler to run on instead of a LocalCluster."""
ONE_BLAS_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                          "MKL_NUM_THREADS")}


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """Run sgkit's ``regenie`` and ``regenie_loco_regression`` (loco mode, its registry entry);
    write ``out.assoc.tsv`` and ``out.null.json``."""
    inputs = load(request, with_kinship=False)  # no kinship: whole-genome ridge regression
    columns, stats = summarized_snps(inputs)
    given = np.flatnonzero(stats["errcode"] == TESTED)
    if np.unique(columns["chrom"][given]).size < 2:
        raise SkipRun("REGENIE's leave-one-chromosome-out predictions need SNPs on two "
                      "chromosomes or more")
    ds = inputs.dataset
    threads = max(1, int(request.threads))
    with program_run(request, TOOL, env=ONE_BLAS_THREAD) as work:
        np.savez(work.path("job.npz"), bed=str(Path(ds.bed_path).resolve()),
                 n_fam=ds.n_samples, n_bim=ds.n_snps, fam_index=inputs.samples.fam_index,
                 snp_index=inputs.snp_index[given], chrom=columns["chrom"][given].astype(str),
                 snp=columns["snp"][given].astype(str), pos=columns["pos"][given],
                 a1=columns["a1"][given].astype(str), a2=columns["a2"][given].astype(str),
                 y=inputs.y, covariates=inputs.covariates, threads=threads,
                 block_size=min(BLOCK_SIZE, given.size // 2))
        # -I: the venv's packages only (not this directory's modules, nor $PYTHON* settings)
        console = work.run(["-I", str(JOB_SCRIPT), "job.npz", "result.tsv"],
                           ["result.tsv", "loco_prediction.npy"])
        table = read_output(work.path("result.tsv"), TOOL, "sgkit's REGENIE")
    report = json.loads(console.stdout.strip().splitlines()[-1])  # with sgkit's version

    scale = params.trait_unit(table.format.effect_unit, inputs.y, inputs.covariates)
    if not math.isclose(report["trait_scale_s"], scale, rel_tol=1e-9):
        raise ToolFailed(f"sgkit's job scaled the trait by {report['trait_scale_s']!r}, ours "
                         f"is {scale!r}: other samples or covariates")
    rows = reported_rows(columns["snp"], given, table.snp, "sgkit")
    check_agrees("sgkit", "allele_counted", table.effect_allele, columns["a1"][rows],
                 "our a1: allele coding")
    t_value = table.extra["variant_linreg_t_value"]
    stats["beta"][rows] = table.beta * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        stats["se"][rows] = np.abs(table.beta / t_value) * scale
    stats["p_wald"][rows] = table.pvalues["p_wald"]
    mark_not_reported(stats, rows, "sgkit")
    native = {"trait_scale_s": scale, "variant_block_size": report["variant_block_size"],
              "n_contigs": report["n_contigs"]}
    write_run(out, TOOL, report.get("sgkit"), request, mode, inputs, stats, native,
              loglik=None, beta=None, mean_diag=1.0,
              command=["python", JOB_SCRIPT.name, "job.npz", "result.tsv"],
              variant_block_size=report["variant_block_size"])
