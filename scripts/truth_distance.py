"""Distance of every run of a simulated dataset to the truth (lmmcompare.compare.truth_table)."""

import json
from pathlib import Path

from glue import ran, run_script

from lmmcompare.compare import truth_table, write_table


def main(snakemake):
    truth = json.loads(Path(snakemake.input.truth).read_text())
    table = truth_table(
        ran(snakemake), truth, dataset=snakemake.wildcards.dataset, alpha=snakemake.params.alpha
    )
    write_table(table, snakemake.output.table)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
