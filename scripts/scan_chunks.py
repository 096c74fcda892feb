"""Our scan in chunks (scan_chunks > 1): the fit job saves the model, each chunk job scans
its part of the SNPs with it, the gather job joins the chunks and sums their benchmarks.
The argument lists are lmmcompare.runners.exactlmm's."""

import sys

from glue import run_script

from lmmcompare.benchmarks import sum_benchmarks
from lmmcompare.runners import RunRequest
from lmmcompare.runners.exactlmm import (
    chunk_command_line,
    fit_command_line,
    gather_command_line,
    run_command,
)


def main(snakemake):
    wc, rule = snakemake.wildcards, snakemake.rule
    if rule == "exactlmm_fit":
        request = RunRequest(**snakemake.params.request, threads=snakemake.threads)
        run_command(fit_command_line(request, wc.model, snakemake.params.prefix))
    elif rule == "exactlmm_chunk":
        model = snakemake.input.model.removesuffix(".model.json")
        bfile = snakemake.input.bed.removesuffix(".bed")
        run_command(
            chunk_command_line(
                bfile,
                wc.mode,
                model,
                int(wc.chunk),
                int(wc.n_chunks),
                snakemake.params.prefix,
            )
        )
    elif rule == "exactlmm_gather":
        out = snakemake.output.assoc.removesuffix(".assoc.tsv")
        run_command(gather_command_line(snakemake.params.chunks, out))
        sum_benchmarks(snakemake.params.benchmarks, snakemake.output.benchmark)
    else:
        raise ValueError(f"scan_chunks.py has no rule {rule!r}")
    print(f"{rule} {dict(wc.items())}: done", file=sys.stderr)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
