"""Profile REML and ML log-likelihoods of the null model as functions of log δ.

Notes
-----
With γ = σg²/σe² = 1/δ, H = γK + I and the spectrum (W, s) of Q₂ᵀKQ₂ from
:mod:`exactlmm.spectral`, write ỹ = Wᵀy, wᵢ(γ) = 1/(γsᵢ + 1) and

    yᵀPy = Σᵢ wᵢ ỹᵢ² + r_yy,     P = H⁻¹ − H⁻¹X(XᵀH⁻¹X)⁻¹XᵀH⁻¹ = Q₂(Q₂ᵀHQ₂)⁻¹Q₂ᵀ,

where r_yy = ‖Sy‖² − ‖ỹ‖² is the part of y in the zero-eigenvalue residual dimensions (0 on the
full-rank path).  With σe² profiled out (σ̂e² = yᵀPy/(n−c) for REML, yᵀPy/n for ML):

    REML(γ) = −½ [ (n−c) log(2π yᵀPy/(n−c)) + log|Q₂ᵀHQ₂| + (n−c) ],  log|Q₂ᵀHQ₂| = Σᵢ log(γsᵢ+1)
    ML(γ)   = −½ [ n log(2π yᵀPy/n) + log|H| + n ],                      log|H| = Σⱼ log(γdⱼ+1)

(dⱼ the n eigenvalues of K; log|H| is computed from the spectrum's Schur complement,
:mod:`exactlmm.spectral`, without them).  Since log|Q₂ᵀHQ₂| = log|H| + log|XᵀH⁻¹X| − log|XᵀX|,
this REML is the exact restricted likelihood *including* +½ log|XᵀX| — the convention of GEMMA
and FaST-LMM.  Dropping that constant (some texts do) changes REML by −½ log|XᵀX| and nothing else.

ML and a singular K: when K has a null vector inside col(X) — e.g. a kinship built from
column-centred genotypes has K1 = 0 — then as γ → ∞, n log yᵀPy falls like −n log γ while
log|H| grows only like (n − 1) log γ, so ML rises without bound (like ½ log γ) and its maximum
sits on the upper γ bound for small n.  REML is immune (it sees only Q₂ᵀKQ₂).  This is the
likelihood, not a numerical artefact; GEMMA has it too.

These are the true likelihoods in the σe²-scale parameterisation: Var(y) = σe²H = σg²K + σe²I.
In FaST-LMM's δ-parameterisation, Var(y) = σg²(K + δI) with δ = 1/γ; the two give the same
numbers at the same variances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .spectral import Spectrum

Likelihood = Literal["REML", "ML"]

LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class RotatedPhenotype:
    """The phenotype y, its rotation ỹ = Wᵀy, r_yy = ‖Sy‖² − ‖ỹ‖², and Sy."""

    spectrum: Spectrum
    y: np.ndarray
    rotated: np.ndarray
    residual_ss: float
    projected: np.ndarray

    @classmethod
    def from_phenotype(cls, spectrum: Spectrum, y: np.ndarray) -> RotatedPhenotype:
        y = np.asarray(y, dtype=float)
        projected = spectrum.project(y)
        rotated = spectrum.basis.T @ y
        residual = 0.0
        if spectrum.n_residual > 0:
            residual = max(float(projected @ projected - rotated @ rotated), 0.0)
        return cls(spectrum, y, rotated, residual, projected)

    def quadratic_form(self, gamma: np.ndarray | float) -> np.ndarray:
        """yᵀPy at each γ (vectorised over γ)."""
        g = np.atleast_1d(np.asarray(gamma, dtype=float))
        weights = 1.0 / (np.outer(g, self.spectrum.eigenvalues) + 1.0)
        return weights @ (self.rotated**2) + self.residual_ss


def logdet_projected(spectrum: Spectrum, gamma: np.ndarray | float) -> np.ndarray:
    """log|Q₂ᵀHQ₂| = Σᵢ log(γsᵢ + 1), vectorised over γ."""
    g = np.atleast_1d(np.asarray(gamma, dtype=float))
    return np.log1p(np.outer(g, spectrum.eigenvalues)).sum(axis=1)


def logdet_h(spectrum: Spectrum, gamma: np.ndarray | float) -> np.ndarray:
    """log|H| = Σⱼ log(γdⱼ + 1) over the n eigenvalues dⱼ of K, vectorised over γ; computed
    without them, from the Schur complement :meth:`exactlmm.spectral.Spectrum.logdet_h`."""
    return spectrum.logdet_h(gamma)


def profile_loglik(
    phenotype: RotatedPhenotype, log_delta: np.ndarray | float, likelihood: Likelihood = "REML"
) -> np.ndarray:
    """REML or ML log-likelihood with σe² profiled out, at each log δ (vectorised).

    See the module notes for the formulas.
    """
    spectrum = phenotype.spectrum
    gamma = np.exp(-np.atleast_1d(np.asarray(log_delta, dtype=float)))
    ypy = phenotype.quadratic_form(gamma)
    n, c = spectrum.n_samples, spectrum.n_covariates
    if likelihood == "REML":
        dof = n - c
        logdet = logdet_projected(spectrum, gamma)
        return -0.5 * (dof * (LOG_2PI + np.log(ypy / dof)) + logdet + dof)
    if likelihood == "ML":
        return -0.5 * (n * (LOG_2PI + np.log(ypy / n)) + logdet_h(spectrum, gamma) + n)
    raise ValueError(f"likelihood must be 'REML' or 'ML', not {likelihood!r}")


def profile_curvature(
    phenotype: RotatedPhenotype, log_delta: float, likelihood: Likelihood = "REML"
) -> float:
    """d²ℓ/dt² of the profile log-likelihood :func:`profile_loglik` at t = log δ: minus the
    observed information of t (σe² profiled out, which leaves it equal to t's entry of the
    inverse full observed information).

    With γ = e^{−t}, wᵢ = 1/(γsᵢ + 1), aᵢ = γsᵢwᵢ and q = yᵀPy = Σ wᵢỹᵢ² + r_yy:
    dq/dt = Σ ỹᵢ² wᵢaᵢ, d²q/dt² = −Σ ỹᵢ² aᵢ(1 − γsᵢ)wᵢ², and d²/dt² Σ log(γsᵢ + 1) = Σ aᵢwᵢ, so

        REML'' = −½ [ (n−c)(q''/q − (q'/q)²) + Σᵢ aᵢwᵢ ].

    ML replaces n−c by n and log|Q₂ᵀHQ₂| by log|H| = log|Q₂ᵀHQ₂| + log|XᵀH⁻¹X| − log|XᵀX|; the
    c × c term's second derivative is taken by central differences (step 1e-3 in t).
    """
    spectrum = phenotype.spectrum
    gamma = float(np.exp(-log_delta))
    s = spectrum.eigenvalues
    w = 1.0 / (gamma * s + 1.0)
    a = gamma * s * w
    y2 = phenotype.rotated**2
    q = float(w @ y2) + phenotype.residual_ss
    dq = float((w * a) @ y2)
    d2q = -float((a * (1.0 - gamma * s) * w * w) @ y2)
    logdet2 = float(a @ w)
    n, c = spectrum.n_samples, spectrum.n_covariates
    if likelihood == "REML":
        return -0.5 * ((n - c) * (d2q / q - (dq / q) ** 2) + logdet2)
    if likelihood != "ML":
        raise ValueError(f"likelihood must be 'REML' or 'ML', not {likelihood!r}")
    step = 1e-3
    t = log_delta + step * np.array([-1.0, 0.0, 1.0])
    schur = logdet_h(spectrum, np.exp(-t)) - logdet_projected(spectrum, np.exp(-t))
    schur2 = float(schur[0] - 2.0 * schur[1] + schur[2]) / step**2
    return -0.5 * (n * (d2q / q - (dq / q) ** 2) + logdet2 + schur2)


def residual_variance(
    phenotype: RotatedPhenotype, gamma: float, likelihood: Likelihood = "REML"
) -> float:
    """σ̂e² = yᵀPy/(n−c) (REML) or yᵀPy/n (ML) at γ."""
    spectrum = phenotype.spectrum
    dof = spectrum.n_samples - (spectrum.n_covariates if likelihood == "REML" else 0)
    return float(phenotype.quadratic_form(gamma)[0]) / dof
