"""List every tool run that did not run: skipped in the config, or skipped by the tool itself
(exit status 3: not installed, 4: mode not supported).  Header only when nothing was skipped."""

import json
from pathlib import Path

import pandas as pd
from glue import run_script

from lmmcompare.compare import write_table

COLUMNS = ["dataset", "tool", "mode", "exit_status", "reason"]


def main(snakemake):
    rows = [
        {"dataset": dataset, "tool": tool, "mode": mode, "exit_status": None,
         "reason": f"listed in datasets/{dataset}/skip of the config"}
        for dataset, tool, mode in snakemake.params.skipped_in_config
    ]
    for run, null_path in zip(snakemake.params.runs, snakemake.input.nulls, strict=True):
        record = json.loads(Path(null_path).read_text())
        if "skipped" in record:
            rows.append({**run, "exit_status": record.get("exit_status"),
                         "reason": record["skipped"]})
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"exit_status": "Int64"})
    write_table(table, snakemake.output[0])


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
