"""Null-model gamma of every run against ours, per dataset and mode (lmmcompare.plots); runs
that report no gamma (config-defined tools, imported results, a method without a
variance-component model such as sgkit's REGENIE) have no point."""

import math

import pandas as pd
from glue import ran, run_script

from lmmcompare.plots import gamma_agreement


def main(snakemake):
    rows = [{**result.run.as_dict(), "gamma": result.gamma} for result in ran(snakemake)
            if math.isfinite(result.gamma)]
    gamma_agreement(pd.DataFrame(rows, columns=["dataset", "tool", "mode", "gamma"]),
                    path=snakemake.output.png)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
