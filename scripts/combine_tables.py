"""Concatenate per-dataset TSV tables with the same header into one (bytes kept as written)."""

from pathlib import Path

from glue import run_script

from exactlmm.errors import InputError
from exactlmm.io.atomic import write_text_atomic


def main(snakemake):
    header = None
    lines = []
    for path in snakemake.input:
        first, *rows = Path(path).read_text().splitlines()
        if header is None:
            header = first
        elif first != header:
            raise InputError(f"header differs from that of {snakemake.input[0]}", path=path)
        lines += rows
    write_text_atomic(snakemake.output[0], "\n".join([header, *lines]) + "\n")


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
