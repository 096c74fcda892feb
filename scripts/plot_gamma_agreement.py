"""Null-model gamma of every run against ours, per dataset and mode (lmmcompare.plots)."""

import json
from pathlib import Path

import pandas as pd
from glue import run_script

from lmmcompare.plots import gamma_agreement


def main(snakemake):
    rows = []
    for run, null_path in zip(snakemake.params.runs, snakemake.input.nulls, strict=True):
        record = json.loads(Path(null_path).read_text())
        if "skipped" not in record:
            rows.append({**run, "gamma": float(record["gamma"])})
    gamma_agreement(pd.DataFrame(rows, columns=["dataset", "tool", "mode", "gamma"]),
                    path=snakemake.output.png)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
