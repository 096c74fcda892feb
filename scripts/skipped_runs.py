"""List every tool run that did not run: skipped in the config, or skipped when it came to run
(tool not installed, mode it lacks, data it cannot take, timed out, or failed: reason "failed:
…").  Header only when nothing was skipped."""

import pandas as pd
from glue import run_results, run_script

from lmmcompare.compare import write_table
from lmmcompare.runs import Run

COLUMNS = ["dataset", "tool", "mode", "reason"]


def main(snakemake):
    rows = [
        {**Run.from_dict(run).as_dict(),
         "reason": f"listed in datasets/{run['dataset']}/skip of the config"}
        for run in snakemake.params.skipped_in_config
    ]
    rows += [{**result.run.as_dict(), "reason": result.reason}
             for result in run_results(snakemake) if not result.ok]
    write_table(pd.DataFrame(rows, columns=COLUMNS), snakemake.output[0])


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
