"""Runtime of the tool runs against N and M, and of every run by dataset, from their Snakemake
benchmark files only.

N is the number of analysed samples (null.json ``n_samples``), M the number of SNPs in the
dataset's QC list (every tool tests exactly those).  Skipped runs are left out.
"""

from glue import ran, run_script

from exactlmm.qc import read_snp_list
from lmmcompare.benchmarks import read_benchmarks
from lmmcompare.plots import runtime_by_dataset, runtime_plot


def main(snakemake):
    results = ran(snakemake)
    n_snps = {dataset: len(read_snp_list(snakemake.params.snplists[dataset]))
              for dataset in {result.dataset for result in results}}
    entries = [
        (result.run.benchmark,
         {**result.run.as_dict(), "n_samples": int(result.null["n_samples"]),
          "n_snps": n_snps[result.dataset]})
        for result in results
    ]
    bench = read_benchmarks(entries)
    runtime_plot(bench, path=snakemake.output.png)
    runtime_by_dataset(bench, path=snakemake.output.by_dataset)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
