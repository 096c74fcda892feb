"""Coalescent genotypes with recombination (msprime), written to PLINK, with a phenotype.

Where :mod:`lmmcompare.simulate` draws unlinked SNPs (Balding–Nichols), this module draws
chromosomes from the coalescent with recombination, so the SNPs carry the linkage
disequilibrium of a real population sample.

Ancestry and mutations
----------------------
Each chromosome is an independent ``msprime.sim_ancestry`` of ``chromosome_length`` bp
(discrete genome) at ``recombination_rate`` per bp per generation, diploid individuals,
followed by ``msprime.sim_mutations`` at ``mutation_rate`` under the binary (0/1) mutation
model: every site is biallelic, the derived state is 1.

* One population (``n_populations = 1``): constant size ``population_size`` (Ne, diploid).
* Structure (``n_populations = K > 1``): K populations of size Ne split from one ancestral
  population of size Ne ``T`` generations ago (``add_population_split``).  Two lineages from one
  population coalesce after 2Ne generations on average (before or after the split: the sizes
  are equal); two from different ones after ``T + 2Ne``, so Hudson's
  F_ST = 1 − E[T_within]/E[T_between] = T/(T + 2Ne), and ``fst`` = F gives
  **T = 2Ne·F/(1 − F)** (e.g. F = 0.05, Ne = 10⁴: T ≈ 1053).  The realised F_ST of the kept
  SNPs (Hudson's estimator, ratio of averages, Bhatia et al. 2013) is in the record.
* Relatedness (``sib_fraction``): samples are laid out as in :mod:`lmmcompare.simulate`
  (contiguous population groups; the first ``2·⌊sib_fraction·n_group/2⌋`` of a group form full-sib
  pairs).  The ancestry simulates ``n_samples`` individuals per group in that layout: the
  unrelated samples are msprime individuals, and each sib pair's two slots are its two parents.
  Each child gets one gamete of each parent: a meiosis with Poisson(``chromosome_length`` ×
  ``recombination_rate``) crossovers at uniform positions, starting on a random one of the
  parent's two haplotypes — so sibs share whole IBD segments, with the LD of the population.

SNPs
----
Of the sites whose minor-allele frequency in the final samples is at least ``maf_min``, each
chromosome keeps its share of ``n_snps`` (contiguous equal blocks as in
:func:`lmmcompare.simulate.simulate_dataset`), chosen uniformly at random and kept in position
order; too few such sites is a one-line error (lengthen the chromosomes).  With probability ½
per SNP the counted allele ``a1`` is the ancestral one instead of the derived one, so tools see
both orientations (``a1 = 'A'``, ``a2 = 'G'``; the genotype counts copies of ``a1``).  SNP
``snp{j}`` sits at its site position + 1 (PLINK positions start at 1).  Missing calls: each entry
with probability ``missing_rate``.

Phenotype
---------
The model of :func:`lmmcompare.simulate.simulate_phenotype` on the written genotypes
(standardized SNPs, polygenic + causal + noise, ``null_chromosomes`` without effects), so the
truth γ = h2/(1 − h2) is on the standardized kinship of these SNPs.

Seeds: ``SeedSequence(seed)``'s children 0–3 are the phenotype's streams (as in
``simulate_phenotype``), children 4–7 the genotypes' (msprime seeds, meioses, SNP choice and
orientation, missingness): one seed, independent streams, same seed → same bytes (for the same
msprime version, which the record holds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from exactlmm import __version__
from exactlmm.errors import InputError
from exactlmm.io.atomic import write_text_atomic
from exactlmm.provenance import provenance
from lmmcompare.simulate import (
    MISSING,
    chromosome_sizes,
    sample_layout,
    simulate_phenotype,
    write_plink_atomic,
)

#: Defaults of the coalescent parameters (config schema and CLI say the same).
DEFAULT_CHROMOSOME_LENGTH = 5_000_000
DEFAULT_RECOMBINATION_RATE = 1e-8
DEFAULT_MUTATION_RATE = 1e-8
DEFAULT_POPULATION_SIZE = 10_000


def split_time(fst: float, population_size: float) -> float:
    """Generations since the population split that gives Hudson's F_ST = ``fst`` between
    populations of ``population_size`` diploids: T = 2Ne·F/(1 − F) (module docstring).

    >>> round(split_time(0.05, 10_000), 1)
    1052.6
    """
    return 2.0 * population_size * fst / (1.0 - fst)


def hudson_fst(genotypes: np.ndarray, population: np.ndarray) -> float:
    """Hudson's F_ST of diploid ``genotypes`` (n × M, copies of a1, ``MISSING`` = -127 absent)
    between the populations of ``population`` (n labels), averaged over population pairs.

    Per pair (a, b), with allele frequencies p and haplotype counts h of the called genotypes:
    F = Σ_snp [(p_a − p_b)² − p_a(1−p_a)/(h_a−1) − p_b(1−p_b)/(h_b−1)] /
    Σ_snp [p_a(1−p_b) + p_b(1−p_a)] (the ratio of averages of Bhatia et al. 2013).
    NaN with one population.
    """
    labels = np.unique(population)
    if labels.size < 2:
        return float("nan")
    called = genotypes != MISSING
    dosage = np.where(called, genotypes, 0).astype(np.float64)
    freq, haps = [], []
    for label in labels:
        rows = population == label
        h = 2.0 * called[rows].sum(axis=0)
        freq.append(dosage[rows].sum(axis=0) / h)
        haps.append(h)
    values = []
    for a in range(labels.size):
        for b in range(a + 1, labels.size):
            pa, pb, ha, hb = freq[a], freq[b], haps[a], haps[b]
            numerator = (pa - pb) ** 2 - pa * (1 - pa) / (ha - 1) - pb * (1 - pb) / (hb - 1)
            denominator = pa * (1 - pb) + pb * (1 - pa)
            values.append(float(np.sum(numerator) / np.sum(denominator)))
    return float(np.mean(values))


def mean_adjacent_r2(genotypes: np.ndarray, chromosome: np.ndarray) -> float:
    """Mean squared correlation of neighbouring SNPs on one chromosome (missing calls at the
    SNP mean): a one-number summary of the LD the coalescent left (≈ 0 for unlinked SNPs)."""
    dosage = np.where(genotypes == MISSING, np.nan, genotypes).astype(np.float64)
    dosage = np.where(np.isnan(dosage), np.nanmean(dosage, axis=0), dosage)
    z = (dosage - dosage.mean(axis=0)) / dosage.std(axis=0)
    same = chromosome[1:] == chromosome[:-1]
    r = np.mean(z[:, 1:] * z[:, :-1], axis=0)
    return float(np.mean(r[same] ** 2)) if same.any() else float("nan")


def _demography(n_populations: int, population_size: float, fst: float) -> Any:
    import msprime

    if n_populations == 1:
        return msprime.Demography.isolated_model([population_size])
    demography = msprime.Demography()
    names = [f"pop{k}" for k in range(n_populations)]
    for name in names:
        demography.add_population(name=name, initial_size=population_size)
    demography.add_population(name="ancestral", initial_size=population_size)
    demography.add_population_split(
        time=split_time(fst, population_size), derived=names, ancestral="ancestral"
    )
    return demography


def _gamete(
    rng: np.random.Generator, haplotypes: np.ndarray, positions: np.ndarray, length: float,
    rate: float,
) -> np.ndarray:
    """One meiosis of a parent (``haplotypes``: sites × 2): Poisson(length·rate) crossovers at
    uniform positions, starting on a random haplotype; the transmitted alleles per site."""
    crossovers = np.sort(rng.uniform(0.0, length, rng.poisson(length * rate)))
    start = rng.integers(0, 2)
    strand = (start + np.searchsorted(crossovers, positions, side="right")) % 2
    return haplotypes[np.arange(positions.size), strand]


def _chromosome(
    seeds: tuple[int, int],
    rng: np.random.Generator,
    layout: Any,
    *,
    n_populations: int,
    population_size: float,
    fst: float,
    length: float,
    recombination_rate: float,
    mutation_rate: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Diploid genotypes (n × sites, derived-allele counts) and site positions of one
    chromosome for the samples of ``layout``; also the number of segregating sites."""
    import msprime

    sizes = np.bincount(layout.population, minlength=n_populations)
    samples = (
        {f"pop{k}": int(sizes[k]) for k in range(n_populations)}
        if n_populations > 1 else int(sizes[0])
    )
    ts = msprime.sim_ancestry(
        samples=samples, demography=_demography(n_populations, population_size, fst),
        sequence_length=length, recombination_rate=recombination_rate, ploidy=2,
        random_seed=seeds[0],
    )
    ts = msprime.sim_mutations(
        ts, rate=mutation_rate, model=msprime.BinaryMutationModel(), random_seed=seeds[1]
    )
    haplotypes = ts.genotype_matrix().astype(np.int8)  # sites × sample nodes
    column = {int(node): j for j, node in enumerate(ts.samples())}
    # msprime lists the individuals population by population, as the layout's groups are.
    nodes = np.array([[column[int(v)] for v in ind.nodes] for ind in ts.individuals()])
    positions = np.asarray(ts.tables.sites.position)
    genotypes = np.empty((layout.population.size, positions.size), dtype=np.int8)
    for unrelated, pairs in layout.groups:
        genotypes[unrelated] = (
            haplotypes[:, nodes[unrelated, 0]] + haplotypes[:, nodes[unrelated, 1]]
        ).T
        for pair in pairs:  # the pair's two slots are its parents in the ancestry
            mother, father = haplotypes[:, nodes[pair[0]]], haplotypes[:, nodes[pair[1]]]
            for child in pair:
                genotypes[child] = (
                    _gamete(rng, mother, positions, length, recombination_rate)
                    + _gamete(rng, father, positions, length, recombination_rate)
                )
    return genotypes, positions, int(ts.num_sites)


def simulate_coalescent_dataset(
    out_prefix: str | Path,
    *,
    n_samples: int,
    n_snps: int,
    n_chromosomes: int,
    seed: int,
    h2: float,
    n_causal: int,
    causal_h2: float,
    n_populations: int = 1,
    fst: float = 0.0,
    sib_fraction: float = 0.0,
    missing_rate: float = 0.0,
    maf_min: float = 0.05,
    n_covariates: int = 0,
    intercept: float = 1.0,
    null_chromosomes: int = 0,
    chromosome_length: float = DEFAULT_CHROMOSOME_LENGTH,
    recombination_rate: float = DEFAULT_RECOMBINATION_RATE,
    mutation_rate: float = DEFAULT_MUTATION_RATE,
    population_size: float = DEFAULT_POPULATION_SIZE,
) -> dict:
    """Coalescent genotypes (module docstring) and a phenotype on them; writes
    ``{out}.bed/.bim/.fam/.pheno[.covar]/.truth.json`` and returns the truth record, which is
    :func:`~lmmcompare.simulate.simulate_phenotype`'s plus ``genotypes`` (how they were made:
    parameters, split time, realised F_ST, LD, sites per chromosome, sib pairs, msprime's
    version)."""
    try:
        import msprime
        import tskit
    except ImportError:
        raise InputError("simulate: the msprime source needs msprime (pip install msprime)") \
            from None
    arguments = {
        "n_samples": n_samples, "n_snps": n_snps, "n_chromosomes": n_chromosomes, "seed": seed,
        "n_populations": n_populations, "fst": fst, "sib_fraction": sib_fraction,
        "missing_rate": missing_rate, "maf_min": maf_min,
        "chromosome_length": chromosome_length, "recombination_rate": recombination_rate,
        "mutation_rate": mutation_rate, "population_size": population_size,
    }
    _validate(arguments)
    out_prefix = Path(out_prefix)
    rng_msprime, rng_meiosis, rng_snps, rng_missing = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)[4:]
    )
    layout = sample_layout(n_samples, n_populations, sib_fraction)
    blocks, chromosomes, positions, segregating = [], [], [], []
    for chrom, wanted in enumerate(chromosome_sizes(n_snps, n_chromosomes), start=1):
        seeds = tuple(int(v) for v in rng_msprime.integers(1, 2**32 - 1, size=2))
        genotypes, sites, n_sites = _chromosome(
            seeds, rng_meiosis, layout, n_populations=n_populations,
            population_size=population_size, fst=fst, length=chromosome_length,
            recombination_rate=recombination_rate, mutation_rate=mutation_rate,
        )
        freq = genotypes.mean(axis=0) / 2.0
        common = np.flatnonzero(np.minimum(freq, 1.0 - freq) >= maf_min)
        if common.size < wanted:
            raise InputError(
                f"simulate: chromosome {chrom} has {common.size} SNPs with MAF >= {maf_min} "
                f"of the {wanted} asked for; raise chromosome_length ({chromosome_length:g} bp) "
                "or mutation_rate"
            )
        keep = np.sort(rng_snps.choice(common, size=wanted, replace=False))
        blocks.append(genotypes[:, keep])
        chromosomes.append(np.full(wanted, chrom))
        positions.append(sites[keep].astype(np.int64) + 1)
        segregating.append(n_sites)
    genotypes = np.concatenate(blocks, axis=1)
    chromosome = np.concatenate(chromosomes)
    flip = rng_snps.random(n_snps) < 0.5  # a1 ancestral instead of derived
    genotypes[:, flip] = 2 - genotypes[:, flip]
    if missing_rate > 0.0:
        genotypes[rng_missing.random(genotypes.shape) < missing_rate] = MISSING

    fid = [f"fam{f}" for f in layout.family]
    iid = [f"ind{i}" for i in range(n_samples)]
    write_plink_atomic(out_prefix, genotypes, {
        "fid": fid, "iid": iid, "father": ["0"] * n_samples, "mother": ["0"] * n_samples,
        "sex": [0] * n_samples, "pheno": ["-9"] * n_samples,
        "chromosome": [str(c) for c in chromosome], "sid": [f"snp{j}" for j in range(n_snps)],
        "cm_position": [0.0] * n_snps, "bp_position": np.concatenate(positions).tolist(),
        "allele_1": ["A"] * n_snps, "allele_2": ["G"] * n_snps,
    })
    pairs = [pair for _, group_pairs in layout.groups for pair in group_pairs.tolist()]
    record = {
        "source": "msprime",
        "model": "coalescent with recombination (msprime.sim_ancestry, discrete genome, "
        "diploid), binary mutations; see lmmcompare.coalescent",
        "msprime_version": msprime.__version__,
        "tskit_version": tskit.__version__,
        "split_time_generations": split_time(fst, population_size) if n_populations > 1
        else None,
        "fst_target": fst,
        "fst_hudson_realised": hudson_fst(genotypes, layout.population)
        if n_populations > 1 else None,
        "ld_r2_adjacent_mean": mean_adjacent_r2(genotypes, chromosome),
        "segregating_sites_per_chromosome": segregating,
        "counted_allele": "a1 (PLINK .bim column 5, 'A'): the derived allele, or the ancestral "
        "one for a random half of the SNPs",
        "n_sib_pairs": len(pairs),
        "sib_pairs": [[iid[a], iid[b]] for a, b in pairs],
        "population_sizes": np.bincount(layout.population, minlength=n_populations).tolist(),
        "population": layout.population.tolist(),
        "parameters": arguments,
        "provenance": provenance("lmmcompare.coalescent", __version__, arguments),
    }
    truth = simulate_phenotype(
        out_prefix, bfile=out_prefix, seed=seed, h2=h2, n_causal=n_causal,
        causal_h2=causal_h2, n_covariates=n_covariates, intercept=intercept,
        null_chromosomes=null_chromosomes,
    )
    truth["genotypes"] = record
    write_text_atomic(f"{out_prefix}.truth.json", json.dumps(truth, indent=1) + "\n")
    return truth


def _validate(arguments: dict) -> None:
    """One-line ``InputError`` for the first coalescent parameter out of range (the phenotype's
    are checked by ``simulate_phenotype``)."""
    n_samples, n_snps = arguments["n_samples"], arguments["n_snps"]
    n_chromosomes, n_populations = arguments["n_chromosomes"], arguments["n_populations"]
    checks = (
        (n_samples >= 2, f"n_samples must be at least 2 (got {n_samples})"),
        (1 <= n_chromosomes <= min(22, n_snps),
         f"n_chromosomes must lie in 1..min(22, n_snps) = 1..{min(22, n_snps)}"),
        (1 <= n_populations <= n_samples,
         f"n_populations must lie in 1..n_samples (got {n_populations})"),
        (0.0 <= arguments["fst"] < 1.0, f"fst must satisfy 0 <= fst < 1 (got {arguments['fst']})"),
        (n_populations > 1 or arguments["fst"] == 0.0,
         "fst > 0 needs n_populations > 1 (F_ST is between populations)"),
        (0.0 <= arguments["sib_fraction"] <= 1.0, "sib_fraction must lie in [0, 1]"),
        (0.0 <= arguments["missing_rate"] < 1.0, "missing_rate must lie in [0, 1)"),
        (0.0 < arguments["maf_min"] < 0.5, "maf_min must satisfy 0 < maf_min < 0.5"),
        (arguments["seed"] >= 0, "seed must be non-negative"),
        *((arguments[name] > 0, f"{name} must be positive (got {arguments[name]!r})")
          for name in ("chromosome_length", "recombination_rate", "mutation_rate",
                       "population_size")),
    )
    for ok, message in checks:
        if not ok:
            raise InputError(f"simulate: {message}")
