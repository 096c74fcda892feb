"""Binary traits from the liability-threshold model: threshold, ascertainment, scales of h².

Model
-----
Every individual of a population has a liability ℓ = g + e with Var(ℓ) = 1, of which h²_ℓ is
genetic (the phenotype model of :mod:`lmmcompare.simulate`, on the liability scale).  The
individual is a case when ℓ > t, t = Φ⁻¹(1 − K), so a share K of the population (the
*prevalence*) are cases.  A study *ascertains*: it samples n·P cases and n·(1 − P) controls
(P, the case fraction of the sample; P > K over-samples cases, P = K is a population sample).
The phenotype is 0 (control) / 1 (case).

The two scales of h² (Lee, Wray, Goddard and Visscher 2011, AJHG 88:294–305, eq. 17)
-------------------------------------------------------------------------------------
An LMM fitted to the 0/1 phenotype of an ascertained sample estimates h² on the *observed*
scale of that sample, h²_o.  With z = φ(t) the normal density at the threshold,

    h²_ℓ = h²_o · K(1 − K)/z² · K(1 − K)/(P(1 − P)),

the first factor the classical Dempster–Lerner transformation of a population sample (P = K),
the second the correction for ascertainment.  It holds for small genetic effects per SNP and
is known to be approximate for large h²_ℓ at small K (Lee et al. 2011, Fig. 2); the study
reports both scales against the truth (:func:`observed_to_liability`,
:func:`liability_to_observed`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from exactlmm.errors import InputError

POOL_MARGIN_SD = 6.0
"""The population pool holds the wanted cases (and controls) plus this many binomial standard
deviations: running short has probability below 1e-9."""


def threshold(prevalence: float) -> float:
    """t = Φ⁻¹(1 − K): the liability above which an individual is a case."""
    _check_share("prevalence", prevalence)
    return float(stats.norm.isf(prevalence))


def _check_share(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise InputError(f"simulate: {name} must lie strictly between 0 and 1 (got {value})")


def scale_factor(prevalence: float, case_fraction: float) -> float:
    """h²_ℓ / h²_o = K²(1 − K)² / (z² P(1 − P)) (module docstring).

    >>> round(scale_factor(0.5, 0.5), 6)  # K = P = ½: π/2, Dempster–Lerner at the median
    1.570796
    """
    _check_share("case_fraction", case_fraction)
    z = float(stats.norm.pdf(threshold(prevalence)))
    k = prevalence
    return k**2 * (1.0 - k) ** 2 / (z**2 * case_fraction * (1.0 - case_fraction))


def observed_to_liability(h2_observed, prevalence: float, case_fraction: float):
    """h²_ℓ from h²_o (scalars or arrays), Lee et al. (2011) eq. 17."""
    return np.asarray(h2_observed, dtype=np.float64) * scale_factor(prevalence, case_fraction)


def liability_to_observed(h2_liability, prevalence: float, case_fraction: float):
    """h²_o expected of an LMM on the 0/1 phenotype of an ascertained sample: the inverse of
    :func:`observed_to_liability`."""
    return np.asarray(h2_liability, dtype=np.float64) / scale_factor(prevalence, case_fraction)


def case_count(n_samples: int, case_fraction: float) -> int:
    """Cases of an ascertained sample: round(n·P), at least one case and one control."""
    _check_share("case_fraction", case_fraction)
    cases = round(n_samples * case_fraction)
    if not 0 < cases < n_samples:
        raise InputError(f"simulate: case_fraction {case_fraction} of {n_samples} samples "
                         f"gives {cases} cases; need at least one case and one control")
    return cases


def pool_size(n_cases: int, n_controls: int, prevalence: float) -> int:
    """Individuals of the population pool the sample is ascertained from: enough that the
    expected cases exceed ``n_cases`` (and the expected controls ``n_controls``) by
    :data:`POOL_MARGIN_SD` binomial standard deviations."""
    _check_share("prevalence", prevalence)

    def needed(count: int, share: float) -> int:
        # smallest m with m·s − c·√(m·s(1 − s)) ≥ count (a quadratic in √m)
        c = POOL_MARGIN_SD * math.sqrt(share * (1.0 - share))
        root = (c + math.sqrt(c * c + 4.0 * share * count)) / (2.0 * share)
        return math.ceil(root * root)

    return max(needed(n_cases, prevalence), needed(n_controls, 1.0 - prevalence))


def ascertain(liability: np.ndarray, prevalence: float, n_cases: int, n_controls: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The sample drawn from a pool: ``n_cases`` of the pool's cases (ℓ > t) and
    ``n_controls`` of its controls, each drawn without replacement; returns the chosen pool
    indices (sorted, so the pool's order — populations — is kept) and their 0/1 phenotype."""
    is_case = np.asarray(liability) > threshold(prevalence)
    cases, controls = np.flatnonzero(is_case), np.flatnonzero(~is_case)
    if cases.size < n_cases or controls.size < n_controls:
        raise InputError(f"simulate: the pool of {is_case.size} holds {cases.size} cases and "
                         f"{controls.size} controls, fewer than the {n_cases} and {n_controls} "
                         "wanted")
    chosen = np.sort(np.concatenate([rng.choice(cases, n_cases, replace=False),
                                     rng.choice(controls, n_controls, replace=False)]))
    return chosen, is_case[chosen].astype(np.float64)
