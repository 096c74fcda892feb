"""One study replicate reduced to metric counts (lmmcompare.study.replicate_metrics).

One row per run that was not skipped and statistic it gives: scenario, replicate, tool, mode,
statistic, the counts behind type-I error (also per MAF bin) and power, λGC over the null SNPs,
the run's γ, h² and se(ĥ²) beside the truth's (NaN γ for a run without a kinship or whose
table reports none — a config-defined tool, imported results — NaN se for a run that reports
none), and what the deflation law needs (lmmcompare.deflation): N, M (the SNPs
the run tested), the run's df_genetic.  The truth γ is the simulator's ``gamma`` (the variance
ratio on the standardized kinship of the simulated SNPs, the kinship every tool is given or
builds; on the observed 0/1 scale for a binary trait), h² = γ/(1 + γ).
"""

import json
from pathlib import Path

import pandas as pd
from glue import ran, run_script, statistics_given, tool_panel

from lmmcompare import registry
from lmmcompare.compare import write_table
from lmmcompare.study import (
    null_snp_mask,
    replicate_columns,
    replicate_metrics,
    run_record,
)


def main(snakemake):
    truth = json.loads(Path(snakemake.input.truth).read_text())
    labels = snakemake.params.labels
    rows = []
    tools = tool_panel(snakemake)
    for result in ran(snakemake):
        assoc = result.assoc
        is_null = null_snp_mask(assoc["chrom"], truth.get("null_chromosomes", []))
        is_causal = assoc["snp"].isin(truth.get("causal_snps", [])).to_numpy()
        record = run_record(result.null, truth, estimated=result.mode != registry.NO_KINSHIP_MODE)
        for statistic in statistics_given(tools, result):
            rows.append({
                "scenario": labels["scenario"], "replicate": labels["replicate"],
                "tool": result.tool, "mode": result.mode, "statistic": statistic,
                **replicate_metrics(assoc[statistic].to_numpy(dtype=float), is_null, is_causal,
                                    assoc["af"].to_numpy(dtype=float)),
                **record,
            })
    write_table(pd.DataFrame(rows, columns=list(replicate_columns())), snakemake.output.table)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
