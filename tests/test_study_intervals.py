"""Replicate-level intervals of the study (lmmcompare.study_intervals): their coverage in
simulated studies whose SNPs are correlated and whose true rate and mean are known.

A simulated study has R replicates of m null test statistics z = s·(√ρ·u_b + √(1 − ρ)·e):
within a replicate the SNPs come in LD blocks of b (a shared u_b ~ N(0, 1), correlation ρ), and
every replicate has its own scale s (its λGC: one γ̂, one phenotype), drawn from a two-point
distribution.  Marginally z ~ N(0, s²), so the true rate P(|z| > c) = mean over s of
2Φ(−c/s) and the true mean of z² is mean(s²): known exactly, whatever the correlation.  The
per-SNP Clopper–Pearson interval, which counts every SNP as an independent trial, covers far
less than 95 % here: the tests would fail with it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lmmcompare import study_intervals as si
from lmmcompare.study import clopper_pearson

N_STUDIES = 2000
REPLICATES = 20
SNPS = 400
SCALES = np.array([0.85, 1.15])


def simulated_statistics(seed: int, *, block: int = 20, rho: float = 0.5) -> tuple[
        np.ndarray, np.ndarray]:
    """z of N_STUDIES × REPLICATES × SNPS and each replicate's scale (N_STUDIES × REPLICATES)."""
    rng = np.random.default_rng(seed)
    scale = rng.choice(SCALES, size=(N_STUDIES, REPLICATES))
    shared = rng.standard_normal((N_STUDIES, REPLICATES, SNPS // block, 1))
    shared = np.broadcast_to(shared, (N_STUDIES, REPLICATES, SNPS // block, block))
    noise = rng.standard_normal((N_STUDIES, REPLICATES, SNPS // block, block))
    z = math.sqrt(rho) * shared + math.sqrt(1 - rho) * noise
    return (z.reshape(N_STUDIES, REPLICATES, SNPS) * scale[..., None]), scale


def true_rate(alpha: float) -> float:
    c = stats.norm.isf(alpha / 2)
    return float(np.mean(2 * stats.norm.sf(c / SCALES)))


def coverage(intervals: list[tuple[float, float]], truth: float) -> float:
    return float(np.mean([low <= truth <= high for low, high in intervals]))


@pytest.mark.parametrize("alpha", [0.05, 0.005])
def test_rate_interval_covers_the_true_rate_of_correlated_snps(alpha: float) -> None:
    z, _ = simulated_statistics(11)
    hits = (np.abs(z) > stats.norm.isf(alpha / 2)).sum(axis=2)
    trials = np.full(REPLICATES, SNPS)
    truth = true_rate(alpha)
    replicate_level = [si.rate_interval(k, trials) for k in hits]
    per_snp = [clopper_pearson(int(k.sum()), SNPS * REPLICATES) for k in hits]
    assert 0.93 <= coverage(replicate_level, truth) <= 0.985
    # The per-SNP interval ignores the correlation: it would fail this test.
    assert coverage(per_snp, truth) < 0.85


def test_rate_interval_is_clopper_pearson_for_independent_trials() -> None:
    """Without correlation the design effect is about 1: the interval is near the per-SNP
    binomial one (a little wider for the t correction of R − 1 degrees of freedom), and it
    covers at least 95 %."""
    rng = np.random.default_rng(3)
    hits = rng.binomial(SNPS, 0.05, size=(N_STUDIES, REPLICATES))
    trials = np.full(REPLICATES, SNPS)
    intervals = [si.rate_interval(k, trials) for k in hits]
    assert coverage(intervals, 0.05) >= 0.94
    low, high = si.rate_interval(hits[0], trials)
    cp_low, cp_high = clopper_pearson(int(hits[0].sum()), SNPS * REPLICATES)
    assert low <= cp_low and high >= cp_high
    assert (high - low) < 1.6 * (cp_high - cp_low)


def test_mean_interval_covers_the_true_mean_chisq() -> None:
    z, _ = simulated_statistics(5)
    truth = float(np.mean(SCALES**2))
    per_replicate = (z**2).mean(axis=2)
    intervals = [si.mean_interval(values) for values in per_replicate]
    assert 0.93 <= coverage(intervals, truth) <= 0.97
    pooled = [si.ratio_interval(values * SNPS, np.full(REPLICATES, SNPS))
              for values in per_replicate]
    assert 0.93 <= coverage(pooled, truth) <= 0.97
    # An interval that forgets the replicate-level scale (SNPs as independent draws) fails.
    naive = [(v.mean() - 1.96 * (z_.std() / math.sqrt(z_.size)),
              v.mean() + 1.96 * (z_.std() / math.sqrt(z_.size)))
             for v, z_ in zip(per_replicate, z**2, strict=True)]
    assert coverage(naive, truth) < 0.85


def test_edges() -> None:
    assert si.rate_interval([0, 0, 0], [100, 100, 100])[0] == 0.0
    # three replicates: n* = 300·(1.96/t₂)² ≈ 62 effective trials, so the upper limit is
    # 1 − 0.025^(1/62)
    high = si.rate_interval([0, 0, 0], [100, 100, 100])[1]
    assert high == pytest.approx(1 - 0.025 ** (1 / si.effective_size([0] * 3, [100] * 3)))
    assert 0.05 < high < 0.06
    assert all(math.isnan(v) for v in si.rate_interval([3], [100]))
    assert all(math.isnan(v) for v in si.rate_interval([3, 0], [100, 0]))  # one with trials
    assert si.rate_interval([100, 100], [100, 100])[1] == 1.0
    assert all(math.isnan(v) for v in si.mean_interval([1.0, math.nan]))
    assert si.mean_interval([2.0, 2.0]) == (2.0, 2.0)
    with pytest.raises(ValueError, match="hits <= trials"):
        si.rate_interval([5, 1], [4, 4])
    with pytest.raises(ValueError, match="one value and one count"):
        si.ratio_interval([1.0, 2.0], [1.0])
