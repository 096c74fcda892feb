"""What the workflow scripts share: the log, one-line errors, and the runs they read.

Imported by the scripts beside it (Snakemake puts this folder on ``sys.path``).  Runs reach a
script as ``snakemake.params.runs``, records ``{dataset, tool, mode}``; each run's files are found
from its identity (``lmmcompare.runs.Run``), never by position in a list of inputs.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from exactlmm.errors import InputError
from exactlmm.qc import read_snp_list
from lmmcompare import panel
from lmmcompare.job_metrics import read_job_metrics
from lmmcompare.runs import RunResult, load_all


def run_script(main: Callable[[Any], None], snakemake: Any) -> None:
    """Call ``main(snakemake)`` with stderr sent to the rule's log.

    An ``InputError`` (bad input: a one-line message naming the file) is written to the log
    and to the console, and the job fails with exit status 1 and no traceback.
    """
    console = sys.stderr
    with open(snakemake.log[0], "w", buffering=1) as log:
        sys.stderr = log
        try:
            main(snakemake)
        except InputError as err:
            print(f"error: {err}", file=log)
            print(f"error: {err}", file=console)
            sys.exit(1)
        finally:
            sys.stderr = console


def tool_panel(snakemake: Any) -> panel.Panel:
    """The tools of the workflow's config (``lmmcompare.panel.of``; the config the script sees
    is the validated one, with its defaults)."""
    return panel.of(snakemake.config)


def statistics_given(tools: panel.Panel, result: RunResult) -> tuple[str, ...]:
    """The p-value columns of a run: its tool's (panel entry), and for a table made outside our
    runners (a config-defined tool's, imported results) those with a value in it when it ran (a
    format names every p-value column its tool can write, a run may fill fewer: GEMMA -lmm 1
    gives p_wald only)."""
    statistics = tools.statistics_of(result.tool)
    if not result.ok or tools.origin(result.tool) == "registry":
        return statistics
    return tuple(name for name in statistics
                 if np.isfinite(result.assoc[name].to_numpy(dtype=np.float64)).any())


def tool_label(tools: panel.Panel, tool: str) -> str:
    """A tool's name in a figure: marked with its origin when not the registry's ("regenie_v3
    (imported)", "gemma_wald (config)")."""
    origin = tools.origin(tool)
    return tool if origin == "registry" else f"{tool} ({origin})"


def run_results(snakemake: Any) -> list[RunResult]:
    """Every run of ``snakemake.params.runs``, loaded (ok or skipped), in the order given."""
    results = load_all(snakemake.params.runs)
    for result in results:
        if not result.ok:
            print(f"{result.run}: skipped ({result.reason})", file=sys.stderr)
    return results


def ran(snakemake: Any) -> list[RunResult]:
    """The runs of ``snakemake.params.runs`` that were not skipped."""
    return [result for result in run_results(snakemake) if result.ok]


def run_job_metrics(results: list[RunResult], snplists: dict[str, str]) -> Any:
    """The Snakemake benchmark rows (lmmcompare.job_metrics.read_job_metrics) of the runs of
    ``results`` that ran or timed out, each with its N (analysed samples: null.json
    ``n_samples``, for a timed-out run that of another run of its dataset, as every tool gets
    the same samples), M (the SNPs of its dataset's QC list in ``snplists``, which every tool
    tests), ``timed_out`` and ``time_limit`` (seconds, NaN unless timed out).  Other skipped
    runs, and timed-out ones of a dataset without a finished run, are left out."""
    n_samples = {result.dataset: int(result.null["n_samples"]) for result in results
                 if result.ok}
    kept = [result for result in results
            if result.ok or (result.outcome.timed_out and result.dataset in n_samples)]
    n_snps = {dataset: len(read_snp_list(snplists[dataset]))
              for dataset in {result.dataset for result in kept}}
    return read_job_metrics([
        (result.run.job_metrics,
         {**result.run.as_dict(), "n_samples": n_samples[result.dataset],
          "n_snps": n_snps[result.dataset], "timed_out": result.outcome.timed_out,
          "time_limit": result.outcome.time_limit if result.outcome.timed_out else math.nan})
        for result in kept
    ])


def strip_suffix(path: str, suffix: str) -> str:
    """``path`` without ``suffix`` (which it must end with)."""
    if not path.endswith(suffix):
        raise ValueError(f"{path} does not end with {suffix}")
    return path[: -len(suffix)]
