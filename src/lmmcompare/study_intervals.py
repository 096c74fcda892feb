"""Confidence intervals of the simulation study, with the replicate as the independent unit.

The SNPs of one replicate are not independent trials: they share one phenotype, one kinship, one
fitted variance ratio γ̂ and (msprime, real genotypes) linkage disequilibrium, so a replicate's
λGC, and with it the share of its null SNPs below α, moves as a whole.  Replicates are
independent draws (their seeds differ).  Every interval of the study tables is therefore built
from replicate-level values; a per-SNP binomial interval, which treats each SNP as an
independent Bernoulli trial, is kept beside the type-I error only under a name that says so
(:func:`lmmcompare.study.clopper_pearson`).

Rates (type-I error, power): Korn–Graubard
------------------------------------------
A pooled rate p̂ = Σᵢkᵢ / Σᵢnᵢ over R replicates (kᵢ hits among nᵢ SNPs of replicate i) is a
ratio estimator of cluster sampling (replicate = cluster).  Its variance from the replicates
(linearization; Cochran 1977, §6.11):

    v(p̂) = R/(R − 1) · Σᵢ (kᵢ − p̂ nᵢ)² / (Σᵢ nᵢ)².

The interval is Korn and Graubard's (1998, Survey Methodology 24:193–201) Clopper–Pearson
interval at the *effective* sample size: with n = Σnᵢ, the design effect
d = v(p̂) / (p̂(1 − p̂)/n), floored at 1 (a replicate never holds more information than its SNPs
as independent trials; a d below 1 is sampling noise of v), and the effective size
n* = n/d, corrected for the R − 1 degrees of freedom of v,

    n*_df = n* · (z_{1−a/2} / t_{R−1, 1−a/2})²,     k* = p̂ · n*_df,

the interval is [B(a/2; k*, n*_df − k* + 1), B(1 − a/2; k* + 1, n*_df − k*)] (Beta quantiles; 0
when k* = 0, 1 when k* = n*_df), a = 1 − confidence.  With d = 1 and R → ∞ it is the per-SNP
Clopper–Pearson interval.  Why this one: a percentile bootstrap over replicates and a t interval
on the replicates' rates both collapse to the single point 0 when no replicate has a hit (the
usual case at α = 1e-4 with a few thousand null SNPs), and a t interval can leave [0, 1]; the
Korn–Graubard interval is exact-binomial at rare rates (where hits are nearly independent) and
widens by the measured between-replicate variance where the SNPs move together.  Its coverage
is checked by simulation in ``tests/test_study_intervals.py`` (replicates with correlated SNPs
and a replicate-level scale of the statistics, a known true rate).

Means (λGC, mean χ², ĥ² bias): Student's t
------------------------------------------
The mean of R replicate-level values xᵢ: x̄ ± t_{R−1, 1−a/2} · s/√R (s the standard deviation,
ddof 1).  Replicates are independent and their λGC, ĥ² and per-replicate mean χ² are smooth
functions of hundreds of SNPs (near normal), so the t interval is the natural choice; a
bootstrap would add resampling noise and no validity at R = 20.  A pooled ratio Σᵢsᵢ / Σᵢnᵢ
(mean χ² over all causal SNPs) takes the linearization variance above with t_{R−1}
(:func:`ratio_interval`).  One replicate, or a zero spread, gives NaN limits or a zero-width
interval: there is no replicate-level information to build one from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
"""Level of every interval of the study tables."""

RATE_METHOD = "korn-graubard"
"""The ``ci`` label of a rate's interval (:func:`rate_interval`)."""

MEAN_METHOD = "t"
"""The ``ci`` label of a mean's interval (:func:`mean_interval`, :func:`ratio_interval`)."""


def _ratio_variance(numerators: np.ndarray, denominators: np.ndarray) -> tuple[float, float]:
    """The ratio Σa/Σb and its linearization variance R/(R − 1)·Σ(aᵢ − r bᵢ)²/(Σb)²."""
    total = float(denominators.sum())
    ratio = float(numerators.sum()) / total
    r = numerators.size
    residuals = numerators - ratio * denominators
    return ratio, r / (r - 1) * float(residuals @ residuals) / total**2


def _checked(numerators: Sequence[float], denominators: Sequence[float]
             ) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(numerators, dtype=np.float64)
    b = np.asarray(denominators, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("one value and one count per replicate are needed")
    if (b < 0).any() or not np.isfinite(a).all() or not np.isfinite(b).all():
        raise ValueError("counts must be finite and non-negative")
    return a, b


def effective_size(hits: Sequence[int], trials: Sequence[int],
                   confidence: float = CONFIDENCE) -> float:
    """n*_df of the module docstring: the pooled number of trials divided by the design effect
    (floored at 1) and shrunk for the replicates' degrees of freedom; NaN without trials or
    with a single replicate."""
    k, n = _checked(hits, trials)
    kept = n > 0
    k, n = k[kept], n[kept]
    if k.size < 2:
        return math.nan
    p, variance = _ratio_variance(k, n)
    total = float(n.sum())
    binomial = p * (1.0 - p) / total
    design_effect = max(1.0, variance / binomial) if binomial > 0 else 1.0
    a = 1.0 - confidence
    z = stats.norm.ppf(1.0 - a / 2)
    t = stats.t.ppf(1.0 - a / 2, k.size - 1)
    return total / design_effect * (z / t) ** 2


def rate_interval(hits: Sequence[int], trials: Sequence[int],
                  confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Korn–Graubard interval (module docstring) of the pooled rate Σhits/Σtrials over
    replicates (one entry each); replicates without trials are left out; (NaN, NaN) when fewer
    than two replicates have trials.

    Four replicates of 5 hits in 100 (no spread: design effect 1) give the Clopper–Pearson
    interval of 20 in 400, [0.031, 0.076], widened for the 3 degrees of freedom:

    >>> [round(v, 4) for v in rate_interval([5, 5, 5, 5], [100, 100, 100, 100])]
    [0.0212, 0.0977]
    """
    k, n = _checked(hits, trials)
    if (k > n).any() or (k < 0).any():
        raise ValueError("need 0 <= hits <= trials in every replicate")
    n_star = effective_size(k, n, confidence)
    if math.isnan(n_star):
        return math.nan, math.nan
    p = float(k.sum()) / float(n.sum())
    k_star = p * n_star
    a = 1.0 - confidence
    lower = 0.0 if k_star == 0 else float(stats.beta.ppf(a / 2, k_star, n_star - k_star + 1))
    upper = 1.0 if k_star == n_star else float(stats.beta.ppf(1 - a / 2, k_star + 1,
                                                              n_star - k_star))
    return lower, upper


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE
                  ) -> tuple[float, float]:
    """Student's t interval x̄ ± t_{R−1}·s/√R of replicate-level values (NaN left out);
    (NaN, NaN) for fewer than two values.

    >>> [round(v, 3) for v in mean_interval([0.9, 1.0, 1.1])]
    [0.752, 1.248]
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


def ratio_interval(sums: Sequence[float], counts: Sequence[float],
                   confidence: float = CONFIDENCE) -> tuple[float, float]:
    """t interval of the pooled mean Σsums/Σcounts over replicates (e.g. the mean χ² of every
    causal SNP of every replicate), with the linearization variance of the module docstring;
    replicates without counts are left out; (NaN, NaN) for fewer than two."""
    s, n = _checked(sums, counts)
    kept = n > 0
    s, n = s[kept], n[kept]
    if s.size < 2:
        return math.nan, math.nan
    ratio, variance = _ratio_variance(s, n)
    half = stats.t.ppf(0.5 + confidence / 2, s.size - 1) * math.sqrt(variance)
    return ratio - half, ratio + half
