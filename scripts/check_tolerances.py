"""Apply the configured tolerances to the combined concordance table (lmmcompare.compare).

On success writes the check report; on any violation prints every violation on its own line
(to the console and the log) and fails, so `snakemake` exits non-zero.
"""

import json
import sys

import pandas as pd
from glue import run_script

from exactlmm.io.atomic import write_text_atomic
from lmmcompare.compare import check_tolerances


def main(snakemake):
    table = pd.read_csv(snakemake.input.concordance, sep="\t")
    tolerances = [dict(tolerance) for tolerance in snakemake.params.tolerances]
    violations = check_tolerances(table, tolerances)
    if violations:
        message = "\n".join(
            [f"{len(violations)} tolerance violation(s) in {snakemake.input.concordance}:"]
            + [f"  {line}" for line in violations]
        )
        print(message, file=sys.stderr)
        print(message, file=sys.__stderr__)
        sys.exit(1)
    lines = [f"all {len(tolerances)} tolerances hold on {snakemake.input.concordance}"]
    lines += [json.dumps(tolerance, sort_keys=True) for tolerance in tolerances]
    write_text_atomic(snakemake.output[0], "\n".join(lines) + "\n")


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
