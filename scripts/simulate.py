"""Simulate one dataset (genotypes, phenotype, truth) with the function of its source,
lmmcompare.simulate.simulator: Balding-Nichols (simulate) or the coalescent (msprime)."""

import sys

from glue import run_script, strip_suffix

from lmmcompare.simulate import simulator


def main(snakemake):
    prefix = strip_suffix(snakemake.output.bed, ".bed")
    spec = snakemake.params.simulation
    truth = simulator(spec["source"])(prefix, **spec["parameters"])
    print(f"simulated {prefix} ({spec['source']}): true gamma = {truth['gamma']:.6g}",
          file=sys.stderr)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
