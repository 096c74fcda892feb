"""QQ plot of every tool's p values on one dataset and mode (lmmcompare.plots.qq_plot).

One series per tool and statistic the tool gives; skipped runs are named in the title.
"""

import numpy as np
from glue import run_script, skip_reason, strip_suffix

from lmmcompare.compare import load_result
from lmmcompare.plots import qq_plot


def main(snakemake):
    wc = snakemake.wildcards
    series = {}
    skipped = []
    for tool, null_path in zip(snakemake.params.tools, snakemake.input.nulls, strict=True):
        reason = skip_reason(null_path)
        if reason is not None:
            skipped.append(tool)
            continue
        result = load_result(strip_suffix(null_path, ".null.json"), tool, wc.mode)
        for statistic in snakemake.params.statistics[tool]:
            p = result.assoc[statistic].to_numpy(dtype=np.float64)
            if np.isfinite(p).any():
                series[f"{tool} {statistic}"] = p
    title = f"{wc.dataset}, {wc.mode} mode"
    if skipped:
        title += f" (skipped: {', '.join(skipped)})"
    qq_plot(series, title=title, path=snakemake.output.png)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
