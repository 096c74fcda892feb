"""A phenotype simulated on real genotypes (lmmcompare.simulate.simulate_phenotype): the
semi-synthetic datasets of the study."""

import sys

from glue import run_script, strip_suffix

from lmmcompare.simulate import simulate_phenotype


def main(snakemake):
    prefix = strip_suffix(snakemake.output.bed, ".bed")
    bfile = strip_suffix(snakemake.input.bed, ".bed")
    truth = simulate_phenotype(prefix, bfile=bfile, **snakemake.params.simulation["parameters"])
    print(f"simulated a phenotype on {bfile} -> {prefix}: true gamma = {truth['gamma']:.6g}, "
          f"{truth['n_snps_in_kinship']} SNPs in the kinship", file=sys.stderr)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
