"""Simulate one dataset with lmmcompare.simulate.simulate_dataset (parameters from the config)."""

import sys

from glue import run_script, strip_suffix

from lmmcompare.simulate import simulate_dataset


def main(snakemake):
    prefix = strip_suffix(snakemake.output.bed, ".bed")
    truth = simulate_dataset(prefix, **snakemake.params.simulation)
    print(f"simulated {prefix}: true gamma = {truth['gamma']:.6g}", file=sys.stderr)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
