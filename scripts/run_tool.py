"""Run one tool of the panel (the registry's, or one defined in the config) on the workflow's
shared inputs (lmmcompare.runs.execute).

In-process (in a child process when the tool has a time limit): a run the tool cannot do here,
that ran out of time, or of a peer that failed ("failed: …"), is recorded as skipped with its
reason (the job succeeds; a failure's traceback is in the rule's log); bad input and a failure
of ours fail the job.
"""

import sys

from glue import run_script, tool_panel

from lmmcompare.runners import RunRequest
from lmmcompare.runs import Run, execute


def main(snakemake):
    wc = snakemake.wildcards
    run = Run(wc.dataset, wc.tool, wc.mode)
    request = RunRequest(**snakemake.params.request, threads=snakemake.threads)
    outcome = execute(run, request, time_limit=snakemake.params.time_limit,
                      tool=tool_panel(snakemake).tool(run.tool))
    if outcome.ok:
        print(f"{run}: done", file=sys.stderr)
    else:
        print(f"{run}: skipped: {outcome.reason}", file=sys.stderr)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
