"""Seeded simulation of PLINK genotypes and an LMM phenotype whose truth is known.

Genotypes
---------
* Ancestral frequency of each SNP: ``p ~ Uniform(maf_min, 0.5)``; with probability ½ the counted
  allele ``a1`` is the major one instead (its frequency ``1 − p``), so tools are exercised on both
  allele orientations (``a1 = 'A'``, ``a2 = 'G'`` always; the genotype counts copies of ``a1``,
  PLINK/bed-reader ``count_A1``).
* Population structure (Balding–Nichols): the samples are split into ``n_populations`` contiguous,
  (nearly) equal groups; for ``fst = F > 0`` each group draws its own frequency
  ``f ~ Beta(p(1−F)/F, (1−p)(1−F)/F)`` (mean p, variance F·p(1−p)); for ``F = 0`` ``f = p``.
* Relatedness: in each group the first ``2·⌊sib_fraction·n_group/2⌋`` samples form full-sib pairs.
  Each pair has two simulated parents (four haplotypes drawn at the group frequency ``f``); each
  child receives one random haplotype of each parent, independently per SNP (unlinked loci), so a
  pair shares on average half its genome IBD.  The other samples are drawn at Hardy–Weinberg
  proportions, ``Binomial(2, f)``.  Sibs share an FID (``fam{i}`` of the first sib).
* Missing genotypes: each entry independently with probability ``missing_rate``.
* No monomorphic SNPs: a SNP whose observed (non-missing) genotypes are all equal is redrawn in
  full (new ``p``, new genotypes, new missingness) from the same seeded streams, until none is
  left.  The redraw depends only on the seed, so the output stays reproducible.

Phenotype
---------
``y = μ + C β_C + g + g_c + e`` with

* ``Z`` the standardised genotypes of ALL SNPs, exactly those of ``kinship.standardize``: per
  SNP, missing calls imputed to the mean of the called genotypes, then centred and divided by
  the standard deviation (ddof 0) of the imputed column (missing entries become 0),
* ``g = Z u``, ``u ~ N(0, σ_p²/M · I)``, hence ``g ~ N(0, σ_p² K)`` with ``K = ZZᵀ/M`` (the
  standardised kinship of ``kinship.py``), ``σ_p² = h2 − causal_h2``,
* ``g_c = Σ_{j causal} z_j b_j`` over ``n_causal`` SNPs chosen at random; ``b ~ N(0, 1)`` rescaled
  so that ``Σ b_j² = causal_h2`` (the variance ``g_c`` has for unlinked standardised SNPs),
* ``e ~ N(0, σe² I)``, ``σe² = 1 − h2``,
* ``C`` standard-normal covariates with effects ``β_C ~ N(0, 0.5²)`` and ``μ = intercept``.

The random part ``g + g_c + e`` has expected variance 1 (``tr(K)/n = 1`` by construction of Z),
of which ``h2`` is genetic.

Which γ does an LMM fit on K estimate?
---------------------------------------
The LMM fitted with ``K = ZZᵀ/M`` treats every SNP in ``Z`` as having a random effect of variance
``σg²/M``.  The causal SNPs are columns of ``Z``; their fixed effects are one more draw of such a
vector, only sparse.  Moment estimators make the consequence explicit: Haseman–Elston regression
of ``y_i y_j`` on ``K_ij`` (i ≠ j) gets from the causal part ``Σ_c b_c² Σ_{i≠j} K_ij z_ic z_jc``
over ``Σ_{i≠j} K_ij²``, and for SNPs in linkage equilibrium ``Σ_{i≠j} K_ij z_ic z_jc ≈ n²/M ≈
Σ_{i≠j} K_ij²``, so each causal SNP adds ``b_c²`` to ``σ̂g²``.  REML behaves alike (it is
unbiased for the SNP heritability whatever the effect-size distribution when causal SNPs are a
random subset of the SNPs in K; only its variance grows as the architecture gets sparser).  Hence
the fitted ``γ`` should be near ``gamma_total = h2/(1 − h2)``, which we report as ``gamma``;
``gamma_polygenic = (h2 − causal_h2)/(1 − h2)`` is what remains once the causal SNPs are fitted
as fixed effects, given for completeness.  Checked numerically: exact REML fits on K of eight
seeded datasets (n = 1200, M = 2000, h2 = 0.6, four causal SNPs with causal_h2 = 0.3) gave mean
γ̂ = 1.62 (sd 0.29) against gamma_total = 1.5 and gamma_polygenic = 0.75; with 60 % sibs 1.53
(sd 0.23).  Single fits scatter around ``gamma_total`` the more, the sparser the causal part.

Outputs (all atomic, byte-identical for the same arguments):
``{out}.bed/.bim/.fam`` (phenotype column −9), ``{out}.pheno`` (``FID IID pheno``),
``{out}.covar`` when ``n_covariates > 0`` (``FID IID cov1 …``) and ``{out}.truth.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from bed_reader import to_bed

from exactlmm import __version__, kinship
from exactlmm.errors import InputError
from exactlmm.io.atomic import atomic_write, write_text_atomic
from exactlmm.provenance import provenance
from lmmcompare import liability

#: SNPs generated and standardised at a time (bounds the float64 working memory to n × 2048).
#: Part of the definition of the random streams: changing it changes the output.
_BLOCK_SNPS = 2048
#: PLINK missing genotype code for int8 arrays in bed-reader.
MISSING = -127
#: Rounds of redrawing monomorphic SNPs before giving up.
_MAX_REDRAW_ROUNDS = 100
#: Standard deviation of the covariate effects.
_COVARIATE_EFFECT_SD = 0.5


@dataclass(frozen=True)
class _Layout:
    """Who is who: population of each sample, its FID, and the sib pairs (index pairs)."""

    population: np.ndarray  # (n,) int, group of each sample
    family: np.ndarray  # (n,) int, index of the family's first member (FID = fam{family})
    groups: tuple[tuple[np.ndarray, np.ndarray], ...]  # per group: (unrelated idx, (pairs, 2) idx)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(f"simulate: {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_phenotype_model(*, h2: float, n_causal: int, causal_h2: float, **_: Any) -> None:
    """The phenotype model's own rule, the one check of it (the simulators and the workflow's
    config checks call it): 0 < h2 < 1 (γ = h2/(1 − h2) finite and positive),
    0 <= causal_h2 < h2, and n_causal and causal_h2 both positive or both zero.  A one-line
    ``InputError`` for the first that fails; other keyword arguments are ignored (a whole
    parameter set can be passed)."""
    _check(
        0.0 < h2 < 1.0,
        f"h2 must lie strictly between 0 and 1 (got {h2}): "
        "γ = h2/(1 − h2) would be 0 or infinite",
    )
    _check(
        0.0 <= causal_h2 < h2,
        f"causal_h2 must satisfy 0 <= causal_h2 < h2 = {h2} (got {causal_h2})",
    )
    _check(
        (n_causal > 0) == (causal_h2 > 0),
        f"n_causal = {n_causal} and causal_h2 = {causal_h2} disagree: "
        "give both as positive or both as zero",
    )


def _validate(arguments: dict[str, Any]) -> None:
    """Raise a one-line ``InputError`` for the first of :func:`simulate_dataset`'s
    ``arguments`` that is out of range."""
    for name in ("n_samples", "n_snps", "n_chromosomes", "seed", "n_causal", "n_populations",
                 "n_covariates"):
        value = arguments[name]
        _check(_is_int(value), f"{name} must be an integer (got {value!r})")
    for name in ("h2", "causal_h2", "fst", "sib_fraction", "missing_rate", "maf_min",
                 "intercept"):
        value = arguments[name]
        _check(
            isinstance(value, (int, float, np.floating)) and np.isfinite(value),
            f"{name} must be a finite number (got {value!r})",
        )
    (n_samples, n_snps, n_chromosomes, seed, n_causal, n_populations, fst, sib_fraction,
     missing_rate, maf_min, n_covariates, null_chromosomes) = (arguments[name] for name in (
        "n_samples", "n_snps", "n_chromosomes", "seed", "n_causal", "n_populations", "fst",
        "sib_fraction", "missing_rate", "maf_min", "n_covariates", "null_chromosomes"))
    _check(n_samples >= 2, f"n_samples must be at least 2 (got {n_samples})")
    _check(n_snps >= 1, f"n_snps must be at least 1 (got {n_snps})")
    _check(seed >= 0, f"seed must be a non-negative integer (got {seed})")
    _check(
        1 <= n_chromosomes <= min(22, n_snps),
        f"n_chromosomes must lie in 1..min(22, n_snps) = 1..{min(22, n_snps)} "
        f"(got {n_chromosomes}; codes above 22 mean sex chromosomes to PLINK tools)",
    )
    check_phenotype_model(**arguments)
    _check(0 <= n_causal <= n_snps, f"n_causal must lie in 0..n_snps = {n_snps} (got {n_causal})")
    _check(
        1 <= n_populations <= n_samples,
        f"n_populations must lie in 1..n_samples = {n_samples} (got {n_populations})",
    )
    _check(0.0 <= fst < 1.0, f"fst must satisfy 0 <= fst < 1 (got {fst})")
    _check(0.0 <= sib_fraction <= 1.0, f"sib_fraction must lie in [0, 1] (got {sib_fraction})")
    _check(0.0 <= missing_rate < 1.0, f"missing_rate must lie in [0, 1) (got {missing_rate})")
    _check(0.0 < maf_min < 0.5, f"maf_min must satisfy 0 < maf_min < 0.5 (got {maf_min})")
    _check(n_covariates >= 0, f"n_covariates must be non-negative (got {n_covariates})")
    _check(
        _is_int(null_chromosomes) and 0 <= null_chromosomes < n_chromosomes,
        f"null_chromosomes must lie in 0..n_chromosomes − 1 = {n_chromosomes - 1} "
        f"(got {null_chromosomes!r})",
    )
    _validate_binary(arguments)


def _validate_binary(arguments: dict[str, Any]) -> None:
    """The case-control and low-frequency options of :func:`simulate_dataset`."""
    prevalence, case_fraction, null_maf_min = (arguments[name] for name in (
        "prevalence", "case_fraction", "null_maf_min"))
    for name in ("prevalence", "case_fraction", "null_maf_min"):
        value = arguments[name]
        _check(value is None or (isinstance(value, (int, float, np.floating))
                                 and np.isfinite(value)),
               f"{name} must be a finite number or null (got {value!r})")
    if prevalence is not None:
        _check(0.0 < prevalence < 1.0, f"prevalence must lie strictly between 0 and 1 (got "
               f"{prevalence})")
        _check(arguments["sib_fraction"] == 0.0, "a case-control sample is drawn from a "
               "population of unrelated individuals: give sib_fraction 0 with prevalence")
        _check(arguments["n_covariates"] == 0, "the liability has no covariates: give "
               "n_covariates 0 with prevalence")
    if case_fraction is not None:
        _check(prevalence is not None, "case_fraction needs a prevalence (a binary trait)")
        liability.case_count(arguments["n_samples"], case_fraction)
    if null_maf_min is not None:
        _check(0.0 < null_maf_min <= arguments["maf_min"],
               f"null_maf_min must satisfy 0 < null_maf_min <= maf_min = {arguments['maf_min']} "
               f"(got {null_maf_min})")
        _check(arguments["null_chromosomes"] > 0, "null_maf_min sets the MAF of the SNPs on "
               "the null chromosomes: give null_chromosomes >= 1")


def sample_layout(n_samples: int, n_populations: int, sib_fraction: float) -> _Layout:
    """Split samples into contiguous groups; the first samples of each group form sib pairs."""
    sizes = [
        n_samples // n_populations + (k < n_samples % n_populations) for k in range(n_populations)
    ]
    population = np.repeat(np.arange(n_populations), sizes)
    family = np.arange(n_samples)
    groups = []
    start = 0
    for size in sizes:
        n_pairs = int(sib_fraction * size) // 2
        pairs = start + np.arange(2 * n_pairs).reshape(n_pairs, 2)
        family[pairs[:, 1]] = pairs[:, 0]
        unrelated = np.arange(start + 2 * n_pairs, start + size)
        groups.append((unrelated, pairs))
        start += size
    return _Layout(population=population, family=family, groups=tuple(groups))


def _draw_genotypes(
    rng: np.random.Generator, layout: _Layout, n_cols: int, maf_min: float, fst: float,
    rare: tuple[np.ndarray, float] | None = None,
) -> np.ndarray:
    """Genotypes (copies of a1, int8, n × n_cols) for ``n_cols`` new SNPs; see module notes.
    ``rare = (mask, low)``: the masked columns draw their ancestral MAF log-uniform on
    [low, 0.5] instead (an extra draw, after the others)."""
    n = layout.population.size
    p = rng.uniform(maf_min, 0.5, n_cols)
    if rare is not None and rare[0].any():
        mask, low = rare
        p[mask] = np.exp(rng.uniform(np.log(low), np.log(0.5), int(mask.sum())))
    p = np.where(rng.random(n_cols) < 0.5, 1.0 - p, p)
    genotypes = np.empty((n, n_cols), dtype=np.int8)
    for unrelated, pairs in layout.groups:
        if fst > 0.0:
            scale = (1.0 - fst) / fst
            freq = rng.beta(p * scale, (1.0 - p) * scale)
        else:
            freq = p
        genotypes[unrelated] = rng.binomial(2, freq, size=(unrelated.size, n_cols))
        if pairs.shape[0] == 0:
            continue
        # Parents' haplotypes: [family, (mother 0, mother 1, father 0, father 1), SNP].
        haplotypes = (rng.random((pairs.shape[0], 4, n_cols)) < freq).astype(np.int8)
        for child in (0, 1):
            from_mother = rng.integers(0, 2, size=(pairs.shape[0], 1, n_cols))
            from_father = 2 + rng.integers(0, 2, size=(pairs.shape[0], 1, n_cols))
            genotypes[pairs[:, child]] = (
                np.take_along_axis(haplotypes, from_mother, axis=1)[:, 0]
                + np.take_along_axis(haplotypes, from_father, axis=1)[:, 0]
            )
    return genotypes


def _apply_missing(rng: np.random.Generator, genotypes: np.ndarray, missing_rate: float) -> None:
    """Set each entry missing with probability ``missing_rate`` (in place)."""
    if missing_rate > 0.0:
        genotypes[rng.random(genotypes.shape) < missing_rate] = MISSING


def _monomorphic(genotypes: np.ndarray) -> np.ndarray:
    """Boolean per column: True when the observed genotypes are all equal (or all missing)."""
    observed = genotypes != MISSING
    low = np.where(observed, genotypes, 3).min(axis=0)
    high = np.where(observed, genotypes, -1).max(axis=0)
    return low >= high


def _polymorphic_block(
    rng_genotypes: np.random.Generator,
    rng_missing: np.random.Generator,
    layout: _Layout,
    n_cols: int,
    maf_min: float,
    fst: float,
    missing_rate: float,
    rare: tuple[np.ndarray, float] | None = None,
) -> np.ndarray:
    """A block of ``n_cols`` SNPs with monomorphic ones redrawn until none is left (``rare``:
    :func:`_draw_genotypes`)."""
    block = _draw_genotypes(rng_genotypes, layout, n_cols, maf_min, fst, rare)
    _apply_missing(rng_missing, block, missing_rate)
    for _ in range(_MAX_REDRAW_ROUNDS):
        bad = np.flatnonzero(_monomorphic(block))
        if bad.size == 0:
            return block
        fresh = _draw_genotypes(rng_genotypes, layout, bad.size, maf_min, fst,
                                None if rare is None else (rare[0][bad], rare[1]))
        _apply_missing(rng_missing, fresh, missing_rate)
        block[:, bad] = fresh
    raise InputError(
        f"simulate: SNPs stayed monomorphic after {_MAX_REDRAW_ROUNDS} redraws; "
        "use more samples, a larger maf_min or a lower missing_rate"
    )


def standardize(genotypes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised genotypes ``Z`` with the per-SNP mean and sd used, exactly as the workflow's
    kinship (:func:`exactlmm.kinship.standardize`) computes them.

    ``genotypes``: int8 copies of a1, ``-127`` missing.  ``mean_j`` is the mean of the called
    genotypes; a missing call is imputed to it; ``sd_j`` is the standard deviation (ddof 0) of
    the imputed column, so ``Z[i, j] = (x_ij − mean_j)/sd_j`` for a call, 0 for a missing one,
    and every column has ``Σ_i z_ij² = n`` (mean diagonal of ``K = ZZᵀ/M`` is 1).
    Returns ``(Z, mean, sd)``.
    """
    dosages = np.where(genotypes == MISSING, np.nan, genotypes).astype(np.float64)
    z = kinship.standardize(dosages)
    called = ~np.isnan(dosages)
    mean = np.where(called, dosages, 0.0).sum(axis=0) / called.sum(axis=0)
    sd = np.sqrt((np.where(called, dosages - mean, 0.0) ** 2).sum(axis=0) / dosages.shape[0])
    return z, mean, sd


def chromosome_sizes(n_snps: int, n_chromosomes: int) -> np.ndarray:
    """SNPs per chromosome 1..C when ``n_snps`` are split into C contiguous (nearly) equal blocks.

    >>> chromosome_sizes(10, 3).tolist()
    [4, 3, 3]
    """
    return np.bincount(_chromosome_of(n_snps, n_chromosomes), minlength=n_chromosomes + 1)[1:]


def _chromosome_of(n_snps: int, n_chromosomes: int) -> np.ndarray:
    """Chromosome (1..C) of each SNP: contiguous equal blocks."""
    return np.arange(n_snps) * n_chromosomes // n_snps + 1


def _chromosome_layout(n_snps: int, n_chromosomes: int) -> tuple[np.ndarray, np.ndarray]:
    """Chromosome (1..C, contiguous equal blocks) and position (1000·rank within chromosome)."""
    chromosome = _chromosome_of(n_snps, n_chromosomes)
    first = np.searchsorted(chromosome, chromosome, side="left")
    position = 1000 * (np.arange(n_snps) - first + 1)
    return chromosome, position


def write_plink_atomic(out_prefix: Path, genotypes: np.ndarray, properties: dict) -> None:
    """Write ``.bed/.bim/.fam`` under a temporary prefix, then rename the three files."""
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{out_prefix.name}.", suffix=".tmp",
                                   dir=out_prefix.parent))
    try:
        tmp_bed = tmpdir / "data.bed"
        to_bed(tmp_bed, genotypes, properties=properties, count_A1=True, num_threads=1)
        for suffix in (".bed", ".bim", ".fam"):
            os.replace(tmp_bed.with_suffix(suffix), f"{out_prefix}{suffix}")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _sample_table(fid: list[str], iid: list[str], columns: dict[str, np.ndarray]) -> str:
    """PLINK-style whitespace table ``FID IID col…`` with floats written by ``repr``."""
    lines = [" ".join(["FID", "IID", *columns])]
    values = [np.asarray(v, dtype=np.float64) for v in columns.values()]
    for i in range(len(iid)):
        lines.append(" ".join([fid[i], iid[i], *(repr(float(v[i])) for v in values)]))
    return "\n".join(lines) + "\n"


def _write_phenotype_files(out_prefix: str | Path, fid: list[str], iid: list[str],
                           phenotype: np.ndarray, covariates: np.ndarray, truth: dict) -> None:
    """``{out}.pheno``, ``{out}.covar`` (only with covariates: a stale one from an earlier run
    with covariates would contradict the truth record, so it is removed) and
    ``{out}.truth.json``, each atomically."""
    write_text_atomic(f"{out_prefix}.pheno", _sample_table(fid, iid, {"pheno": phenotype}))
    if covariates.shape[1] > 0:
        columns = {f"cov{k + 1}": covariates[:, k] for k in range(covariates.shape[1])}
        write_text_atomic(f"{out_prefix}.covar", _sample_table(fid, iid, columns))
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{out_prefix}.covar")
    write_text_atomic(f"{out_prefix}.truth.json", json.dumps(truth, indent=1) + "\n")


def simulate_dataset(
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
    prevalence: float | None = None,
    case_fraction: float | None = None,
    null_maf_min: float | None = None,
) -> dict:
    """Simulate genotypes and a phenotype (see the module docstring), write them, return truth.

    Parameters
    ----------
    out_prefix:
        Output prefix; writes ``.bed .bim .fam .pheno [.covar] .truth.json``.
    n_samples, n_snps, n_chromosomes:
        Sizes; SNPs ``snp{j}`` sit on chromosomes 1..n_chromosomes (≤ 22) in contiguous blocks at
        positions 1000, 2000, … within each chromosome.  Samples are ``fam{f}``/``ind{i}``.
    seed:
        Seed of every random draw (independent streams for genotypes, missingness, causal effects,
        polygenic effects, noise and covariates, spawned from ``SeedSequence(seed)``).
    h2, n_causal, causal_h2:
        Total heritability (0 < h2 < 1), number of causal SNPs and the share of the total variance
        they explain (0 ≤ causal_h2 < h2; zero exactly when ``n_causal`` is zero).
    n_populations, fst:
        Balding–Nichols structure: equal contiguous groups, ``F = fst``.
    sib_fraction:
        Fraction of samples that are one of a full-sib pair.
    missing_rate:
        Probability that a genotype is missing.
    maf_min:
        Lower end of the ancestral minor-allele frequency distribution Uniform(maf_min, 0.5).
    n_covariates:
        Number of standard-normal covariates (written to ``.covar``; the intercept is not one).
    intercept:
        The phenotype mean μ.
    null_chromosomes:
        The last ``null_chromosomes`` chromosomes carry no genetic effect (no polygenic, no
        causal SNP): their SNPs are truly null, the type-I error set of the study even for a
        leave-one-chromosome-out test.  The polygenic effects of the other M′ SNPs have variance
        σ_p²/M′, so the genetic variance and the truth γ are unchanged.  With 0 (the default)
        every draw is that of earlier versions.
    prevalence, case_fraction:
        A binary trait (:mod:`lmmcompare.liability`): the phenotype model above is the
        liability (h2 on the liability scale; no covariates, no sibs), a share ``prevalence``
        of a population pool are cases, and the sample is ``round(n_samples·case_fraction)``
        of its cases and the rest of its controls (ascertainment; ``case_fraction`` null = the
        prevalence, a population sample), written 0 (control) / 1 (case).  The pool is
        :func:`lmmcompare.liability.pool_size` individuals drawn as above (populations kept);
        the sample keeps the pool's order.  Its SNPs can be monomorphic in the sample (rare
        ones; QC drops them).  The truth ``gamma`` is on the observed 0/1 scale of the sample
        (Lee et al. 2011: ``h2_observed``), ``h2_liability`` the simulated h2.
    null_maf_min:
        Low-frequency null SNPs: the ancestral MAF of every SNP on the null chromosomes is
        log-uniform on [null_maf_min, 0.5] (e.g. 0.005: half of them below 0.05) instead of
        uniform on [maf_min, 0.5].  None (the default) leaves every draw as before.

    Returns
    -------
    dict
        The truth record written to ``{out_prefix}.truth.json``.
    """
    arguments = {
        "n_samples": n_samples,
        "n_snps": n_snps,
        "n_chromosomes": n_chromosomes,
        "seed": seed,
        "h2": h2,
        "n_causal": n_causal,
        "causal_h2": causal_h2,
        "n_populations": n_populations,
        "fst": fst,
        "sib_fraction": sib_fraction,
        "missing_rate": missing_rate,
        "maf_min": maf_min,
        "n_covariates": n_covariates,
        "intercept": intercept,
        "null_chromosomes": null_chromosomes,
        "prevalence": prevalence,
        "case_fraction": case_fraction,
        "null_maf_min": null_maf_min,
    }
    _validate(arguments)
    out_prefix = Path(out_prefix)
    (rng_genotypes, rng_missing, rng_causal, rng_polygenic, rng_noise, rng_covariates,
     rng_ascertain) = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7))

    binary = prevalence is not None
    if binary:
        case_fraction = prevalence if case_fraction is None else case_fraction
        n_cases = liability.case_count(n_samples, case_fraction)
        n_pool = liability.pool_size(n_cases, n_samples - n_cases, prevalence)
    else:
        n_pool = n_samples
    layout = sample_layout(n_pool, n_populations, sib_fraction)
    polygenic_var = h2 - causal_h2
    noise_var = 1.0 - h2

    chromosome, position = _chromosome_layout(n_snps, n_chromosomes)
    effect_snps = np.flatnonzero(chromosome <= n_chromosomes - null_chromosomes)
    if null_chromosomes == 0:  # the draws of earlier versions
        causal = np.sort(rng_causal.choice(n_snps, size=n_causal, replace=False))
    else:
        causal = np.sort(rng_causal.choice(effect_snps, size=n_causal, replace=False))
    effects_std = rng_causal.standard_normal(n_causal)
    if n_causal > 0:
        effects_std *= np.sqrt(causal_h2 / np.sum(effects_std**2))
    u = rng_polygenic.normal(0.0, np.sqrt(polygenic_var / effect_snps.size), n_snps)
    u[chromosome > n_chromosomes - null_chromosomes] = 0.0

    genotypes = np.empty((n_pool, n_snps), dtype=np.int8)
    polygenic = np.zeros(n_pool)
    causal_part = np.zeros(n_pool)
    causal_mean = np.empty(n_causal)
    causal_sd = np.empty(n_causal)
    kinship_trace = 0.0
    null_snps = chromosome > n_chromosomes - null_chromosomes
    for start in range(0, n_snps, _BLOCK_SNPS):
        stop = min(start + _BLOCK_SNPS, n_snps)
        rare = None if null_maf_min is None else (null_snps[start:stop], null_maf_min)
        block = _polymorphic_block(
            rng_genotypes, rng_missing, layout, stop - start, maf_min, fst, missing_rate, rare
        )
        genotypes[:, start:stop] = block
        z, mean, sd = standardize(block)
        polygenic += z @ u[start:stop]
        kinship_trace += float(np.sum(z**2))
        inside = (causal >= start) & (causal < stop)
        local = causal[inside] - start
        causal_part += z[:, local] @ effects_std[inside]
        causal_mean[inside] = mean[local]
        causal_sd[inside] = sd[local]
    noise = rng_noise.normal(0.0, np.sqrt(noise_var), n_pool)
    covariates = rng_covariates.standard_normal((n_pool, n_covariates))
    covariate_effects = rng_covariates.normal(0.0, _COVARIATE_EFFECT_SD, n_covariates)
    phenotype = intercept + covariates @ covariate_effects + polygenic + causal_part + noise
    genetic = polygenic + causal_part
    random_part = genetic + noise
    realised = {"var_polygenic": float(np.var(polygenic)),
                "var_causal": float(np.var(causal_part)), "var_noise": float(np.var(noise)),
                "h2": float(np.var(genetic) / np.var(random_part))}
    population = layout.population
    family = layout.family
    trait: dict[str, Any] = {"trait": "quantitative"}
    if binary:  # the liability is the random part (variance 1); the sample is ascertained
        chosen, phenotype = liability.ascertain(random_part, prevalence, n_cases,
                                                n_samples - n_cases, rng_ascertain)
        genotypes = genotypes[chosen]
        covariates = covariates[chosen]
        population, family = population[chosen], np.arange(n_samples)
        kinship_trace = sum(float(np.sum(standardize(genotypes[:, start:start + _BLOCK_SNPS])[0]
                                         ** 2)) for start in range(0, n_snps, _BLOCK_SNPS))
        h2_observed = float(liability.liability_to_observed(h2, prevalence, n_cases / n_samples))
        trait = {"trait": "binary", "prevalence": prevalence,
                 "case_fraction": n_cases / n_samples, "n_cases": n_cases,
                 "n_controls": n_samples - n_cases, "pool_size": n_pool,
                 "liability_threshold": liability.threshold(prevalence), "h2_liability": h2,
                 "h2_observed": h2_observed,
                 "note": "phenotype 0 = control, 1 = case; gamma and h2 are on the observed 0/1 "
                         "scale of the sample (Lee et al. 2011), h2_liability the simulated h2; "
                         "realised and causal_af are of the population pool"}

    fid = [f"fam{f}" for f in family]
    iid = [f"ind{i}" for i in range(n_samples)]
    snp_ids = [f"snp{j}" for j in range(n_snps)]
    properties = {
        "fid": fid,
        "iid": iid,
        "father": ["0"] * n_samples,
        "mother": ["0"] * n_samples,
        "sex": [0] * n_samples,
        "pheno": ["-9"] * n_samples,
        "chromosome": [str(c) for c in chromosome],
        "sid": snp_ids,
        "cm_position": [0.0] * n_snps,
        "bp_position": position.tolist(),
        "allele_1": ["A"] * n_snps,
        "allele_2": ["G"] * n_snps,
    }

    pairs = [pair for _, group_pairs in layout.groups for pair in group_pairs.tolist()]
    h2_fitted = trait.get("h2_observed", h2)
    truth: dict[str, Any] = {
        **trait,
        "gamma": h2_fitted / (1.0 - h2_fitted),
        "gamma_estimand": "observed" if binary else "total",
        "gamma_total": h2 / (1.0 - h2),
        "gamma_polygenic": polygenic_var / (1.0 - h2),
        "gamma_note": (
            "gamma = gamma_total = h2/(1-h2): the causal SNPs are columns of Z, so an LMM on "
            "K = ZZ'/M absorbs their variance into sigma_g2 (see lmmcompare.simulate docstring); "
            "gamma_polygenic = (h2-causal_h2)/(1-h2) applies when causal SNPs are fitted as "
            "fixed effects"
        ),
        "h2": h2,
        "causal_h2": causal_h2,
        "polygenic_h2": polygenic_var,
        "sigma_g2": h2,
        "sigma_e2": noise_var,
        "kinship": "K = ZZ'/M over all SNPs, Z as exactlmm.kinship.standardize: missing calls "
        "mean-imputed, centred, divided by the sd (ddof 0) of the imputed column",
        "kinship_mean_diag": kinship_trace / (n_snps * n_samples),
        "intercept": intercept,
        "covariate_effects": covariate_effects.tolist(),
        "n_causal": n_causal,
        "null_chromosomes": [str(c) for c in range(n_chromosomes - null_chromosomes + 1,
                                                   n_chromosomes + 1)],
        "causal_snps": [snp_ids[j] for j in causal],
        "causal_effects_std": effects_std.tolist(),
        "causal_effects_per_allele": (effects_std / causal_sd).tolist(),
        "causal_af": (causal_mean / 2.0).tolist(),
        "counted_allele": "a1 (PLINK .bim column 5, 'A'); effects are per copy of a1",
        "realised": realised,
        "n_sib_pairs": len(pairs),
        "sib_pairs": [[iid[a], iid[b]] for a, b in pairs],
        "population_sizes": np.bincount(population, minlength=n_populations).tolist(),
        "population": population.tolist(),
        "seed": seed,
        "parameters": arguments,
        "provenance": provenance("lmmcompare.simulate", __version__, arguments),
    }

    write_plink_atomic(out_prefix, genotypes, properties)
    _write_phenotype_files(out_prefix, fid, iid, phenotype, covariates, truth)
    return truth


def simulator(source: str) -> Callable[..., dict]:
    """The function that writes a dataset of a simulated source (``lmmcompare.workflow_config``'s
    ``SIMULATED_SOURCES``): :func:`simulate_dataset` for ``simulate`` (Balding–Nichols),
    :func:`lmmcompare.coalescent.simulate_coalescent_dataset` for ``msprime``.  Each takes
    ``(out_prefix, **parameters)`` and returns the truth record."""
    if source == "simulate":
        return simulate_dataset
    if source == "msprime":
        from lmmcompare.coalescent import simulate_coalescent_dataset  # imports this module

        return simulate_coalescent_dataset
    raise ValueError(f"no simulator for source {source!r}")


def simulate_phenotype(
    out_prefix: str | Path,
    *,
    bfile: str | Path,
    seed: int,
    h2: float,
    n_causal: int,
    causal_h2: float,
    n_covariates: int = 0,
    intercept: float = 1.0,
    null_chromosomes: int = 0,
) -> dict:
    """Semi-synthetic data: real genotypes (``bfile``), a phenotype simulated on them, the truth.

    The phenotype model is that of :func:`simulate_dataset` (module docstring) on the real
    genotypes: ``Z`` the standardized genotypes of the SNPs that can be standardized over all
    ``.fam`` samples (:func:`exactlmm.kinship.standardize`; a SNP without calls or with one
    genotype class is left out, as the kinship leaves it out), M their number,
    ``g = Z u``, ``u ~ N(0, (h2 − causal_h2)/M)``, ``n_causal`` causal SNPs drawn among them with
    standardized effects scaled to ``Σ b² = causal_h2``, noise of variance ``1 − h2``, and
    ``n_covariates`` standard-normal covariates.  The truth ``gamma = h2/(1 − h2)`` is the
    variance ratio on ``K = ZZᵀ/M`` over all samples, the standardized kinship the workflow
    gives every tool (up to its QC, which drops rare SNPs): real relatedness, known truth.
    ``null_chromosomes = k`` leaves the last k chromosomes (in ``.bim`` order of first
    appearance) without any effect: no polygenic part (the others' M′ SNPs get variance
    (h2 − causal_h2)/M′ each) and no causal SNP, so their SNPs are truly null.

    Writes ``{out}.bed/.bim/.fam`` (copies of the input, unless ``bfile`` is ``out_prefix``),
    ``{out}.pheno``, ``{out}.covar`` when ``n_covariates > 0`` and ``{out}.truth.json``; returns
    the truth record.
    """
    from exactlmm.dosage import impute_center
    from exactlmm.io.plink import iter_genotype_blocks, open_plink

    arguments = {"bfile": str(bfile), "seed": seed, "h2": h2, "n_causal": n_causal,
                 "causal_h2": causal_h2, "n_covariates": n_covariates, "intercept": intercept,
                 "null_chromosomes": null_chromosomes}
    check_phenotype_model(h2=h2, n_causal=n_causal, causal_h2=causal_h2)
    ds = open_plink(bfile)
    n = ds.n_samples
    testable = np.zeros(ds.n_snps, dtype=bool)
    for positions, g in iter_genotype_blocks(ds, block_size=_BLOCK_SNPS):
        testable[positions] = impute_center(g).testable
    snps = np.flatnonzero(testable)
    m = snps.size
    chromosome_order = list(dict.fromkeys(ds.chrom.tolist()))
    _check(_is_int(null_chromosomes) and 0 <= null_chromosomes < len(chromosome_order),
           f"null_chromosomes must lie in 0..{len(chromosome_order) - 1} (the chromosomes of "
           f"{bfile} but one; got {null_chromosomes!r})")
    silent = chromosome_order[len(chromosome_order) - null_chromosomes:]
    effect = ~np.isin(ds.chrom[snps], silent)
    _check(effect.sum() > n_causal,
           f"{bfile}: only {int(effect.sum())} SNPs can be standardized on the chromosomes with "
           "effects; need more than n_causal")
    rng_causal, rng_polygenic, rng_noise, rng_covariates = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    causal = np.sort(rng_causal.choice(snps[effect], size=n_causal, replace=False))
    effects_std = rng_causal.standard_normal(n_causal)
    if n_causal > 0:
        effects_std *= np.sqrt(causal_h2 / np.sum(effects_std**2))
    if null_chromosomes == 0:  # the draws of earlier versions
        u = rng_polygenic.normal(0.0, np.sqrt((h2 - causal_h2) / m), m)
    else:
        u = np.where(effect, rng_polygenic.normal(
            0.0, np.sqrt((h2 - causal_h2) / effect.sum()), m), 0.0)
    polygenic = np.zeros(n)
    causal_part = np.zeros(n)
    kinship_trace = 0.0
    offset = 0
    for positions, g in iter_genotype_blocks(ds, snp_index=snps, block_size=_BLOCK_SNPS):
        z = kinship.standardize(g)
        polygenic += z @ u[offset : offset + positions.size]
        offset += positions.size
        kinship_trace += float(np.sum(z**2))
        local = np.isin(positions, causal)
        causal_part += z[:, local] @ effects_std[np.isin(causal, positions[local])]
    noise = rng_noise.normal(0.0, np.sqrt(1.0 - h2), n)
    covariates = rng_covariates.standard_normal((n, n_covariates))
    covariate_effects = rng_covariates.normal(0.0, _COVARIATE_EFFECT_SD, n_covariates)
    phenotype = intercept + covariates @ covariate_effects + polygenic + causal_part + noise

    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    for source, suffix in ((ds.bed_path, ".bed"), (ds.bim_path, ".bim"), (ds.fam_path, ".fam")):
        if Path(source).resolve() == Path(f"{out_prefix}{suffix}").resolve():
            continue  # the phenotype is drawn on genotypes already in place
        with open(source, "rb") as src, atomic_write(f"{out_prefix}{suffix}", "wb") as dst:
            shutil.copyfileobj(src, dst)
    genetic = polygenic + causal_part
    truth: dict[str, Any] = {
        "gamma": h2 / (1.0 - h2),
        "gamma_estimand": "total",
        "gamma_total": h2 / (1.0 - h2),
        "gamma_polygenic": (h2 - causal_h2) / (1.0 - h2),
        "h2": h2,
        "causal_h2": causal_h2,
        "kinship": "K = ZZ'/M over the M standardizable SNPs of the real genotypes, all samples",
        "kinship_mean_diag": kinship_trace / (m * n),
        "n_snps_in_kinship": int(m),
        "n_causal": n_causal,
        "null_chromosomes": [str(c) for c in silent],
        "causal_snps": ds.snp[causal].tolist(),
        "causal_effects_std": effects_std.tolist(),
        "intercept": intercept,
        "covariate_effects": covariate_effects.tolist(),
        "realised": {"h2": float(np.var(genetic) / np.var(genetic + noise))},
        "seed": seed,
        "parameters": arguments,
        "provenance": provenance("lmmcompare.simulate.simulate_phenotype", __version__,
                                 arguments),
    }
    _write_phenotype_files(out_prefix, ds.fid.tolist(), ds.iid.tolist(), phenotype, covariates,
                           truth)
    return truth
