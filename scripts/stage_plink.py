"""Stage a real dataset (lmmcompare.staging.stage_plink): sha256 checks, archive members,
gunzip, PLINK 2 / VCF / BGEN converted to PLINK 1, the phenotype and the numeric covariates of
the analysed samples."""

from glue import run_script

from lmmcompare.staging import stage_plink


def main(snakemake):
    stage_plink(snakemake.params.plan,
                {name: snakemake.input[name] for name in snakemake.input.keys()},
                {name: snakemake.output[name] for name in snakemake.output.keys()})


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
