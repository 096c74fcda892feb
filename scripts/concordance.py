"""Concordance of every pair of runs of one dataset in the same mode (lmmcompare.compare).

Skipped runs are left out.  Pairs are compared within a mode, with our REML log-likelihood at
each tool's γ (from the loglik table) so fits are judged on one convention.
"""

import pandas as pd
from glue import ran, run_script

from lmmcompare.compare import concordance, write_table
from lmmcompare.registry import MODES


def main(snakemake):
    results = ran(snakemake)
    loglik = pd.read_csv(snakemake.input.loglik, sep="\t")
    tables = []
    for mode in MODES:
        at_gamma = loglik[loglik["mode"] == mode]
        tables.append(
            concordance(
                [result for result in results if result.mode == mode],
                dataset=snakemake.wildcards.dataset,
                alpha=snakemake.params.alpha,
                ours_loglik_at=dict(
                    zip(at_gamma["tool"], at_gamma["ours_loglik_at_gamma"], strict=True)
                ),
            )
        )
    write_table(pd.concat(tables, ignore_index=True), snakemake.output.concordance)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
