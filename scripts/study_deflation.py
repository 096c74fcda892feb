"""The deflation table and figure (lmmcompare.deflation, lmmcompare.study_plots) from the
study's per-replicate rows."""

import pandas as pd
from glue import run_script

from lmmcompare.compare import write_table
from lmmcompare.deflation import deflation_table
from lmmcompare.study_plots import deflation_plot


def main(snakemake):
    rows = pd.concat([pd.read_csv(path, sep="\t") for path in snakemake.input],
                     ignore_index=True)
    table = deflation_table(rows)
    write_table(table, snakemake.output.table)
    deflation_plot(table, path=snakemake.output.figure)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
