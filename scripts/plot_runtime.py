"""Runtime of the tool runs against N and M, from their Snakemake benchmark files only.

N is the number of analysed samples (null.json ``n_samples``), M the number of SNPs in the
dataset's QC list (every tool tests exactly those).  Skipped runs are left out.
"""

import json
from pathlib import Path

from glue import run_script

from lmmcompare.plots import read_benchmarks, runtime_plot


def count_snps(snplist):
    """Number of SNP IDs in a QC list (one per line, blank lines ignored)."""
    return sum(1 for line in Path(snplist).read_text().splitlines() if line.strip())


def main(snakemake):
    n_snps = {
        dataset: count_snps(path)
        for dataset, path in zip(snakemake.params.datasets, snakemake.input.snplists, strict=True)
    }
    files, meta = [], []
    for run, bench, null_path in zip(
        snakemake.params.runs, snakemake.input.benchmarks, snakemake.input.nulls, strict=True
    ):
        record = json.loads(Path(null_path).read_text())
        if "skipped" in record:
            continue
        files.append(bench)
        meta.append({**run, "n_samples": int(record["n_samples"]),
                     "n_snps": n_snps[run["dataset"]]})
    runtime_plot(read_benchmarks(files, meta), path=snakemake.output.png)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
