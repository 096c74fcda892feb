"""Our scan in chunks (scan_chunks > 1): the fit job saves the model, each chunk job scans
its part of the SNPs with it, the gather job joins the chunks and sums their job metrics.
The argument lists are lmmcompare.runners.exactlmm's."""

import sys

from glue import run_script

from lmmcompare.job_metrics import sum_job_metrics
from lmmcompare.runners import RunRequest
from lmmcompare.runners.exactlmm import (
    chunk_command_line,
    fit_command_line,
    gather_command_line,
    run_command,
)
from lmmcompare.runs import chunk_prefixes, chunked_scan_job_metrics


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
        n_chunks = snakemake.params.n_chunks
        run_command(gather_command_line(chunk_prefixes(wc.dataset, wc.mode, n_chunks), out))
        sum_job_metrics(chunked_scan_job_metrics(wc.dataset, wc.mode, n_chunks),
                        snakemake.output.job_metrics)
    else:
        raise ValueError(f"scan_chunks.py has no rule {rule!r}")
    print(f"{rule} {dict(wc.items())}: done", file=sys.stderr)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
