"""QQ plot of every tool's p values on one dataset and mode (lmmcompare.plots.qq_plot).

One series per tool and statistic the tool gives (its panel entry); a run of another mode
(ours in the reference mode of a tool of this one: our fixed mode beside PLINK 2's none) is
labelled with its mode.  Skipped runs are named in the title.
"""

import numpy as np
from glue import run_results, run_script, statistics_given, tool_label, tool_panel

from lmmcompare.plots import qq_plot


def main(snakemake):
    wc = snakemake.wildcards
    series = {}
    skipped = []
    tools = tool_panel(snakemake)
    for result in run_results(snakemake):
        if not result.ok:
            skipped.append(result.tool)
            continue
        name = tool_label(tools, result.tool)
        label = name if result.mode == wc.mode else f"{name} ({result.mode})"
        for statistic in statistics_given(tools, result):
            p = result.assoc[statistic].to_numpy(dtype=np.float64)
            if np.isfinite(p).any():
                series[f"{label} {statistic}"] = p
    title = f"{wc.dataset}, {wc.mode} mode"
    if skipped:
        title += f" (skipped: {', '.join(skipped)})"
    qq_plot(series, title=title, path=snakemake.output.png)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
