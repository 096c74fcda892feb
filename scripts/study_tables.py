"""The study's tables from the per-replicate counts (lmmcompare.study): calibration (also by
MAF bin), power, heritability bias and se coverage, proximal contamination, pooled over the
replicates of each scenario; each written with its header even when it has no row."""

import pandas as pd
from glue import run_script

from lmmcompare.compare import write_table
from lmmcompare.study import (
    calibration_maf_table,
    calibration_table,
    heritability_table,
    power_table,
    proximal_table,
)


def main(snakemake):
    rows = pd.concat([pd.read_csv(path, sep="\t") for path in snakemake.input],
                     ignore_index=True)
    write_table(calibration_table(rows), snakemake.output.calibration)
    write_table(calibration_maf_table(rows), snakemake.output.calibration_maf)
    write_table(power_table(rows), snakemake.output.power)
    # γ and h² do not depend on the statistic: one row per run and replicate.
    runs = rows.drop_duplicates(["scenario", "replicate", "tool", "mode"])
    write_table(heritability_table(runs), snakemake.output.heritability)
    write_table(proximal_table(rows), snakemake.output.proximal)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
