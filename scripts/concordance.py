"""Concordance of the runs of one dataset (lmmcompare.compare): every pair of runs in the same
mode, and the panel's cross-mode pairs (PLINK 2 against ours in fixed mode).

Skipped runs are left out.  Our REML log-likelihood at each run's γ (from the loglik table)
judges the fits on one convention.
"""

import pandas as pd
from glue import ran, run_script, tool_panel

from lmmcompare.compare import concordance, write_table


def main(snakemake):
    loglik = pd.read_csv(snakemake.input.loglik, sep="\t")
    at_gamma = {
        (tool, mode): value
        for tool, mode, value in zip(
            loglik["tool"], loglik["mode"], loglik["ours_loglik_at_gamma"], strict=True
        )
    }
    table = concordance(
        ran(snakemake),
        dataset=snakemake.wildcards.dataset,
        alpha=snakemake.params.alpha,
        ours_loglik_at=at_gamma,
        tools=tool_panel(snakemake),
    )
    write_table(table, snakemake.output.concordance)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
