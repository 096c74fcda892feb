"""One study replicate reduced to metric counts (lmmcompare.study.replicate_metrics).

One row per run that was not skipped and statistic it gives: scenario, replicate, tool, mode,
statistic, the counts behind type-I error and power, λGC over the null SNPs, and the run's γ
and h² beside the truth's (NaN γ for a run without a kinship).  The truth γ is the simulator's
``gamma`` (the variance ratio on the standardized kinship of the simulated SNPs, the kinship
every tool is given or builds), h² = γ/(1 + γ).
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from glue import ran, run_script

from lmmcompare import registry
from lmmcompare.compare import write_table
from lmmcompare.study import null_snp_mask, replicate_metrics


def main(snakemake):
    truth = json.loads(Path(snakemake.input.truth).read_text())
    causal = list(truth.get("causal_snps", []))
    gamma_true = float(truth["gamma"])
    labels = snakemake.params.labels
    rows = []
    for result in ran(snakemake):
        assoc = result.assoc
        is_null = null_snp_mask(assoc["chrom"], assoc["snp"], causal,
                                truth.get("null_chromosomes", []))
        is_causal = assoc["snp"].isin(causal).to_numpy()
        estimated = result.mode != registry.NO_KINSHIP_MODE
        gamma = result.gamma if estimated else math.nan
        for statistic in registry.statistics_of(result.tool):
            p = assoc[statistic].to_numpy(dtype=np.float64)
            rows.append({
                "scenario": labels["scenario"], "replicate": labels["replicate"],
                "tool": result.tool, "mode": result.mode, "statistic": statistic,
                **replicate_metrics(p, is_null, is_causal),
                "gamma": gamma, "h2": gamma / (1.0 + gamma),
                "gamma_true": gamma_true, "h2_true": gamma_true / (1.0 + gamma_true),
            })
    write_table(pd.DataFrame(rows), snakemake.output.table)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
