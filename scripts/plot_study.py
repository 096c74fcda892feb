"""The study's figures (lmmcompare.study_plots) from its tables and per-replicate counts."""

import pandas as pd
from glue import run_script

from lmmcompare.study_plots import (
    calibration_plot,
    heritability_plot,
    lambda_gc_plot,
    power_plot,
)


def main(snakemake):
    replicates = pd.concat([pd.read_csv(path, sep="\t") for path in snakemake.input.replicates],
                           ignore_index=True)
    calibration_plot(pd.read_csv(snakemake.input.calibration, sep="\t"),
                     path=snakemake.output.calibration)
    power_plot(pd.read_csv(snakemake.input.power, sep="\t"), snakemake.params.per_causal_h2,
               path=snakemake.output.power)
    heritability_plot(replicates, path=snakemake.output.heritability)
    lambda_gc_plot(replicates, path=snakemake.output.lambda_gc)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
