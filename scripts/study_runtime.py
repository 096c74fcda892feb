"""Runtime of the study's tool runs per scenario, tool and mode (lmmcompare.study.runtime_table),
from their Snakemake benchmark files only; skipped runs are left out."""

from glue import ran, run_job_metrics, run_script

from lmmcompare.compare import write_table
from lmmcompare.study import runtime_table


def main(snakemake):
    bench = run_job_metrics(ran(snakemake), snakemake.params.snplists)
    write_table(runtime_table(bench, snakemake.params.scenarios), snakemake.output.runtime)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
