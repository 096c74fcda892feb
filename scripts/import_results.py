"""Put one table made elsewhere on our SNPs as a run (lmmcompare.imported.import_results).

A local file that is not there, or a table that does not read, matches none of our SNPs or
contradicts our alleles, is a skipped run with the reason (the job succeeds); a sha256 that
differs from the configured one fails the job.
"""

import sys

from glue import run_script

from lmmcompare.imported import import_results
from lmmcompare.runners import RunRequest
from lmmcompare.runs import Run


def main(snakemake):
    wc = snakemake.wildcards
    run = Run(wc.dataset, wc.tool, wc.mode)
    files = {name: str(snakemake.input[name]) for name in ("table", "archive")
             if name in snakemake.input.keys()}
    outcome = import_results(run, snakemake.params.spec, files,
                             RunRequest(**snakemake.params.request))
    print(f"{run}: {'imported' if outcome.ok else 'skipped: ' + str(outcome.reason)}",
          file=sys.stderr)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
