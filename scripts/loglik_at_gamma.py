"""Our REML log-likelihood at each tool's null-model gamma (one convention for every fit).

Writes ``dataset tool mode gamma ours_loglik_at_gamma``, one row per run that was not skipped.
γ is on the kinship file as given; with an intercept in the model REML does not depend on
double-centering K, so the value is the same with or without ``center_kinship``.
"""

import sys

import pandas as pd
from glue import ran, run_script, strip_suffix

from exactlmm.pipeline import load_inputs, loglik_at_gamma
from lmmcompare.compare import write_table

COLUMNS = ["dataset", "tool", "mode", "gamma", "ours_loglik_at_gamma"]


def main(snakemake):
    rows = [{**result.run.as_dict(), "gamma": float(result.null["gamma"])}
            for result in ran(snakemake)]
    if rows:
        inputs = load_inputs(
            strip_suffix(snakemake.input.bed, ".bed"),
            snakemake.input.pheno,
            snakemake.params.mpheno,
            snakemake.input.get("covar"),
            snakemake.input.kinship,
            snakemake.input.snplist,
            center_kinship=snakemake.params.center_kinship,
        )
        values = loglik_at_gamma(inputs, [row["gamma"] for row in rows], likelihood="REML")
        for row, value in zip(rows, values, strict=True):
            row["ours_loglik_at_gamma"] = value
            print(f"{row['tool']} {row['mode']}: gamma = {row['gamma']!r}, "
                  f"our REML logL = {value!r}", file=sys.stderr)
    write_table(pd.DataFrame(rows, columns=COLUMNS), snakemake.output.table)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
