"""Our REML profile log-likelihood over h² on a dataset with every tool's estimate on it
(lmmcompare.reml_profile): the curve on the shared kinship file, and on the standardized
kinship of the SNPs when leave-one-chromosome-out runs fitted their null there."""

import pandas as pd
from glue import ran, run_script

from lmmcompare.compare import write_table
from lmmcompare.registry import GENOTYPE_KINSHIP_MODES, REFERENCE
from lmmcompare.reml_profile import curve, profile_plot
from lmmcompare.runners import RunRequest
from lmmcompare.runners._common import load


def main(snakemake):
    estimates = pd.read_csv(snakemake.input.loglik, sep="\t")
    request = RunRequest(**snakemake.params.request)
    profiles = []
    for kinship, from_genotypes in (("file", False), ("genotypes", True)):
        if from_genotypes and not estimates["mode"].isin(GENOTYPE_KINSHIP_MODES).any():
            continue
        inputs = load(request, with_kinship=not from_genotypes, center=request.center_kinship)
        profiles.append(curve(inputs, kinship))
    profiles = pd.concat(profiles, ignore_index=True)
    write_table(profiles, snakemake.output.table)
    ours = [result.null for result in ran(snakemake)
            if result.tool == REFERENCE and result.mode not in GENOTYPE_KINSHIP_MODES]
    ours_h2 = ours[0]["h2"] if ours else None
    ours_se = ours[0].get("se_h2") if ours else None
    profile_plot(profiles, estimates, ours_h2=ours_h2, ours_se=ours_se,
                 title=f"{snakemake.wildcards.dataset}: REML profile of h²",
                 path=snakemake.output.figure)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
