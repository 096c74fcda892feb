"""Estimated gamma of every run against the simulated truth (lmmcompare.plots.gamma_vs_truth)."""

import pandas as pd
from glue import run_script

from lmmcompare.plots import gamma_vs_truth


def main(snakemake):
    gamma_vs_truth(pd.read_csv(snakemake.input.truth, sep="\t"), path=snakemake.output.png)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
