"""The tool panel of the config (lmmcompare.panel: every tool, its origin and kind) and how the
tables of config-defined tools and imported results met our SNPs (lmmcompare.imported.
matching_table)."""

import pandas as pd
from glue import run_results, run_script, tool_panel

from lmmcompare.compare import write_table
from lmmcompare.imported import matching_table


def main(snakemake):
    write_table(pd.DataFrame(tool_panel(snakemake).describe()), snakemake.output.panel)
    write_table(matching_table(run_results(snakemake)), snakemake.output.matching)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
