"""The benchmark kit's manifest.tsv (every replicate's files with their sha256) and README
(lmmcompare.kit)."""

import csv

from glue import run_script

from exactlmm.io.atomic import write_text_atomic
from lmmcompare.kit import readme, write_manifest


def main(snakemake):
    rows = []
    for part in snakemake.input.parts:
        with open(part, newline="") as handle:
            rows += list(csv.DictReader(handle, delimiter="\t"))
    write_manifest(rows, snakemake.output.manifest)
    write_text_atomic(snakemake.output.readme,
                      readme(snakemake.params.scenarios, snakemake.params.covariates))


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
