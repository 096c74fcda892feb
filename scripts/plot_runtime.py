"""Runtime of the tool runs against N and M, and of every run by dataset, from their Snakemake
benchmark files only.

N is the number of analysed samples (null.json ``n_samples``), M the number of SNPs in the
dataset's QC list (every tool tests exactly those).  Runs stopped at their time limit are
drawn as timed out at the limit; other skipped runs are left out.  The same numbers, one row per
run, go to a table (:func:`lmmcompare.job_metrics.runtime_table`).
"""

from glue import run_job_metrics, run_results, run_script

from exactlmm.io.atomic import write_text_atomic
from lmmcompare.job_metrics import runtime_table
from lmmcompare.plots import runtime_by_dataset, runtime_plot


def main(snakemake):
    bench = run_job_metrics(run_results(snakemake), snakemake.params.snplists)
    runtime_plot(bench, path=snakemake.output.png)
    runtime_by_dataset(bench, path=snakemake.output.by_dataset)
    write_text_atomic(snakemake.output.table,
                      runtime_table(bench, snakemake.params.time_limits)
                      .to_csv(sep="\t", index=False, na_rep="NA"))


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
