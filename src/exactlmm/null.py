"""Fit the null model (no SNP): maximise the profile REML/ML likelihood over log δ.

Notes
-----
The search runs over t = log δ, δ = σe²/σg² = 1/γ, on [log δ_min, log δ_max] (default
δ ∈ [1e-5, 1e5], GEMMA's λ range): the profile likelihood of :mod:`exactlmm.likelihood` is
evaluated on an evenly spaced grid of ``n_grid`` points, and every interior grid maximum is
refined by Brent's method (:mod:`exactlmm.brent`) on its two neighbouring intervals; the best
refined point wins.  A maximum on the edge of the grid is reported at the bound with
``boundary`` set (``"h2=0"`` when δ hits its upper bound, σg² → 0; ``"h2=1"`` when it hits its
lower bound, σe² → 0) and a warning.

At the optimum, σ̂e² = yᵀPy/(n−c) (REML) or yᵀPy/n (ML), σ̂g² = γσ̂e², h² = γ/(1+γ) on K as
given, pve = γt/(1+γt) with t = tr(K)/n, and β̂ is the GLS estimate
(XᵀH⁻¹X)⁻¹XᵀH⁻¹y, computed from Xβ̂ = y − H·Py.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .brent import minimize_bounded
from .likelihood import (
    Likelihood,
    RotatedPhenotype,
    profile_curvature,
    profile_loglik,
    residual_variance,
)
from .spectral import Spectrum

DEFAULT_LOG_DELTA_BOUNDS = (float(np.log(1e-5)), float(np.log(1e5)))
DEFAULT_GRID = 100


@dataclass(frozen=True)
class NullFitSummary:
    """What a null fit reports, derived from its numbers: δ, γ, h², pve, σg² and the JSON
    fields.  The base of :class:`NullModel` and :class:`RecordedNull`, which give
    ``n_samples`` and ``n_covariates``."""

    likelihood: Likelihood
    log_delta: float
    loglik: float
    sigma_e2: float
    beta: np.ndarray
    kinship_mean_diag: float
    boundary: str | None
    log_delta_bounds: tuple[float, float]
    se_log_delta: float | None = field(default=None, kw_only=True)
    """Standard error of log δ from the observed information of the profile likelihood
    (:func:`exactlmm.likelihood.profile_curvature`); ``None`` when not estimated (a fixed γ, a
    fit on a bound, or a curvature that is not negative)."""
    df_genetic: float | None = field(default=None, kw_only=True)
    """Effective degrees of freedom of the polygenic effect at the fitted γ: the trace of the
    BLUP hat matrix, Σᵢ γsᵢ/(1 + γsᵢ) = γ·tr(PK) over the eigenvalues sᵢ of Q₂ᵀKQ₂ (≈ (n − c)·h²
    when every sᵢ ≈ 1).  A null SNP that is one of the M SNPs of K has E[χ²] ≈ 1 − df/M at that
    γ (the deflation of a full-kinship test: ``lmmcompare.deflation``); ``None`` when unknown
    (a record written before it was)."""

    @property
    def delta(self) -> float:
        return float(np.exp(self.log_delta))

    @property
    def gamma(self) -> float:
        return float(np.exp(-self.log_delta))

    @property
    def h2(self) -> float:
        """σg²/(σg² + σe²) = γ/(1+γ) on K as given (PyLMM's h)."""
        return self.gamma / (1.0 + self.gamma)

    @property
    def pve(self) -> float:
        """γt/(1+γt), t = tr(K)/n: GEMMA's PVE and FaST-LMM's h2 (which rescales K to t = 1)."""
        gt = self.gamma * self.kinship_mean_diag
        return gt / (1.0 + gt)

    @property
    def sigma_g2(self) -> float:
        return self.gamma * self.sigma_e2

    def standard_errors(self) -> dict[str, float | None]:
        """se of γ, h² and pve by the delta method from se(log δ): γ = e^{−t}, so
        se(γ) = γ·se(t); h² = γ/(1+γ) and pve = γt'/(1+γt') (t' = tr(K)/n) have
        d/d log γ = h²(1−h²) and pve(1−pve), so se(h²) = h²(1−h²)·se(t), se(pve) =
        pve(1−pve)·se(t) (GEMMA's se(pve) is this at its own λ)."""
        se = self.se_log_delta
        if se is None:
            return {"se_gamma": None, "se_h2": None, "se_pve": None}
        return {"se_gamma": self.gamma * se, "se_h2": self.h2 * (1.0 - self.h2) * se,
                "se_pve": self.pve * (1.0 - self.pve) * se}

    def summary(self) -> dict:
        """The null-model fields of the JSON record (docs/DESIGN.md)."""
        return {
            "likelihood": self.likelihood,
            "gamma": self.gamma,
            "delta": self.delta,
            "log_delta": self.log_delta,
            "h2": self.h2,
            "pve": self.pve,
            **self.standard_errors(),
            "df_genetic": self.df_genetic,
            "kinship_mean_diag": self.kinship_mean_diag,
            "sigma_g2": self.sigma_g2,
            "sigma_e2": self.sigma_e2,
            "loglik": self.loglik,
            "beta": [float(b) for b in self.beta],
            "n_samples": self.n_samples,
            "n_covariates": self.n_covariates,
            "boundary": self.boundary,
        }


@dataclass(frozen=True)
class FittedNull(NullFitSummary):
    """A null fit with the phenotype rotated by the spectrum a scan uses: the base of
    :class:`NullModel` and of a LOCO downdate's fit (:class:`exactlmm.downdate.DowndateNull`),
    siblings, so that neither is taken for the other."""

    phenotype: RotatedPhenotype

    @property
    def spectrum(self) -> Spectrum:
        """The spectrum the phenotype was rotated with (the scan's basis)."""
        return self.phenotype.spectrum

    @property
    def n_samples(self) -> int:
        return self.spectrum.n_samples

    @property
    def n_covariates(self) -> int:
        return self.spectrum.n_covariates


@dataclass(frozen=True)
class NullModel(FittedNull):
    """A fitted null model: the spectrum's own fit, whose rotated data the scan reuses."""


@dataclass(frozen=True)
class RecordedNull(NullFitSummary):
    """A null fit as its record states it, without the rotated data a scan needs: what a
    saved LOCO model's chunk reports as its genome-wide null without loading that fit's
    eigenbasis."""

    n_samples: int
    n_covariates: int


def maximise_profile(
    objective: Callable[[np.ndarray], np.ndarray],
    bounds: tuple[float, float],
    n_grid: int,
) -> tuple[float, float, str | None]:
    """Maximise a smooth function of one variable: grid, then Brent around each grid maximum.

    Returns ``(argmax, max, boundary)`` where boundary is ``"lower"``/``"upper"`` when the best
    value is on the edge of the search interval.
    """
    lo, hi = bounds
    if not lo < hi:
        raise ValueError(f"empty search interval {bounds}")
    if n_grid < 3:
        raise ValueError("the grid needs at least 3 points")
    grid = np.linspace(lo, hi, n_grid)
    values = objective(grid)
    best_x, best_f = float(grid[np.argmax(values)]), float(values.max())
    peaks = np.flatnonzero((values[1:-1] >= values[:-2]) & (values[1:-1] >= values[2:])) + 1
    # Brackets: around every interior grid maximum, and the edge cells when the edge is the
    # highest point of its cell (the optimum may lie inside the first or last cell).
    brackets = [(grid[j - 1], grid[j + 1]) for j in peaks]
    if values[0] >= values[1]:
        brackets.append((grid[0], grid[1]))
    if values[-1] >= values[-2]:
        brackets.append((grid[-2], grid[-1]))
    for a, b in brackets:
        x, f = minimize_bounded(lambda t: -float(objective(np.array([t]))[0]), float(a),
                                float(b), xatol=1e-10, maxiter=500)
        if -f > best_f:
            best_x, best_f = float(x), float(-f)
    boundary = None
    if best_x <= lo:
        boundary = "lower"
    elif best_x >= hi:
        boundary = "upper"
    return best_x, best_f, boundary


def fit_null(
    spectrum: Spectrum,
    y: np.ndarray,
    covariates: np.ndarray,
    kinship_matvec: Callable[[np.ndarray], np.ndarray],
    kinship_mean_diag: float,
    *,
    likelihood: Likelihood = "REML",
    log_delta_bounds: tuple[float, float] = DEFAULT_LOG_DELTA_BOUNDS,
    n_grid: int = DEFAULT_GRID,
    fixed_log_delta: float | None = None,
    source: object | None = None,
) -> NullModel:
    """Fit the null model by REML (default) or ML over log δ; see the module notes.

    Parameters
    ----------
    spectrum:
        From :func:`exactlmm.spectral.spectrum_from_kinship` or ``spectrum_from_genotypes``.
        ML needs its ``kinship_blocks`` (both builders attach them).
    y, covariates:
        Phenotype (n,) and covariates X (n × c, intercept included).
    kinship_matvec:
        v ↦ K v, used once to recover β̂.
    kinship_mean_diag:
        t = tr(K)/n, for the reported pve.
    fixed_log_delta:
        Evaluate at this log δ instead of optimising.
    source:
        Named in the boundary warning (normally the phenotype file).
    """
    phenotype = RotatedPhenotype.from_phenotype(spectrum, y)
    if fixed_log_delta is None:
        log_delta, loglik, edge = maximise_profile(
            lambda t: profile_loglik(phenotype, t, likelihood), log_delta_bounds, n_grid
        )
    else:
        log_delta = float(fixed_log_delta)
        loglik = float(profile_loglik(phenotype, log_delta, likelihood)[0])
        edge = None
    boundary = boundary_of(edge)
    warn_boundary(boundary, likelihood, log_delta, source, stacklevel=3)
    gamma = float(np.exp(-log_delta))
    beta = gls_beta(phenotype, covariates, kinship_matvec, gamma)
    se_log_delta = None
    if fixed_log_delta is None and boundary is None:
        curvature = profile_curvature(phenotype, log_delta, likelihood)
        se_log_delta = float(1.0 / np.sqrt(-curvature)) if curvature < 0 else None
    return NullModel(
        likelihood=likelihood,
        log_delta=float(log_delta),
        loglik=float(loglik),
        sigma_e2=residual_variance(phenotype, gamma, likelihood),
        beta=beta,
        kinship_mean_diag=float(kinship_mean_diag),
        boundary=boundary,
        phenotype=phenotype,
        log_delta_bounds=(float(log_delta_bounds[0]), float(log_delta_bounds[1])),
        se_log_delta=se_log_delta,
        df_genetic=genetic_degrees_of_freedom(spectrum.eigenvalues, gamma),
    )


def genetic_degrees_of_freedom(eigenvalues: np.ndarray, gamma: float) -> float:
    """Σᵢ γsᵢ/(1 + γsᵢ): the trace of the BLUP hat matrix γK·P of the polygenic effect, over the
    eigenvalues sᵢ of Q₂ᵀKQ₂ (the zero eigenvalues of a low-rank K add nothing)."""
    gs = gamma * np.asarray(eigenvalues, dtype=float)
    return float(np.sum(gs / (1.0 + gs)))


def boundary_of(edge: str | None) -> str | None:
    """The ``boundary`` a fit reports for the edge of the log δ interval its maximum is on:
    ``"h2=0"`` at the upper bound of δ (σg² → 0), ``"h2=1"`` at the lower one, else ``None``."""
    return {"upper": "h2=0", "lower": "h2=1", None: None}[edge]


def warn_boundary(boundary: str | None, likelihood: Likelihood, log_delta: float,
                  source: object | None, *, stacklevel: int = 2) -> None:
    """The warning of an estimate at its bound (nothing when ``boundary`` is ``None``)."""
    if boundary is None:
        return
    where = f"{source}: " if source is not None else ""
    warnings.warn(
        f"{where}{likelihood} estimate of h² is at its bound ({boundary}: δ = "
        f"{np.exp(log_delta):.3g}); the variance ratio is not identified from these data",
        stacklevel=stacklevel,
    )


def gls_beta(
    phenotype: RotatedPhenotype,
    covariates: np.ndarray,
    kinship_matvec: Callable[[np.ndarray], np.ndarray],
    gamma: float,
) -> np.ndarray:
    """GLS β̂ = (XᵀH⁻¹X)⁻¹XᵀH⁻¹y without forming H⁻¹.

    H⁻¹(y − Xβ̂) = Py, so Xβ̂ = y − H·Py = y − γK(Py) − Py, and β̂ solves that in least squares
    (exactly, since the right-hand side lies in col(X)).  Py = W diag(w) ỹ + (Sy − Wỹ).
    """
    spectrum = phenotype.spectrum
    w = 1.0 / (gamma * spectrum.eigenvalues + 1.0)
    py = spectrum.basis @ (w * phenotype.rotated)
    if spectrum.n_residual > 0:  # the zero-eigenvalue dimensions, where w = 1
        py = py + phenotype.projected - spectrum.basis @ phenotype.rotated
    xb = phenotype.y - gamma * kinship_matvec(py) - py
    return np.linalg.lstsq(covariates, xb, rcond=None)[0]
