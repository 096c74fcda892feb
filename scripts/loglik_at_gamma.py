"""Our REML log-likelihood at each tool's null-model gamma (one convention for every fit).

Writes ``dataset tool mode gamma ours_loglik_at_gamma``, one row per run that was not skipped and
estimated γ (a run without a kinship, mode ``none``, has γ = 0 by construction and no row; a
config-defined tool or imported results that report no γ, and a method without a
variance-component model, sgkit's REGENIE, have none either).
γ is on the kinship the run's mode uses: the shared kinship file (with an intercept in the model
REML does not depend on double-centering K, so ``center_kinship`` changes nothing), or in
``loco`` mode the genome-wide standardized kinship of the listed SNPs, which is the K of our
headline null fit and the GRM BOLT-LMM's h² is converted on.
"""

import math
import sys

import pandas as pd
from glue import ran, run_script

from exactlmm.pipeline import loglik_at_gamma
from lmmcompare.compare import write_table
from lmmcompare.registry import GENOTYPE_KINSHIP_MODES, NO_KINSHIP_MODE
from lmmcompare.runners import RunRequest
from lmmcompare.runners._common import load

COLUMNS = ["dataset", "tool", "mode", "gamma", "ours_loglik_at_gamma"]


def main(snakemake):
    rows = [{**result.run.as_dict(), "gamma": result.gamma} for result in ran(snakemake)
            if result.mode != NO_KINSHIP_MODE and math.isfinite(result.gamma)]
    for from_genotypes in (False, True):
        group = [row for row in rows if (row["mode"] in GENOTYPE_KINSHIP_MODES) == from_genotypes]
        if not group:
            continue
        request = RunRequest(**snakemake.params.request)
        inputs = load(request, with_kinship=not from_genotypes, center=request.center_kinship)
        values = loglik_at_gamma(inputs, [row["gamma"] for row in group], likelihood="REML")
        for row, value in zip(group, values, strict=True):
            row["ours_loglik_at_gamma"] = value
            print(f"{row['tool']} {row['mode']}: gamma = {row['gamma']!r}, "
                  f"our REML logL = {value!r}", file=sys.stderr)
    write_table(pd.DataFrame(rows, columns=COLUMNS), snakemake.output.table)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
