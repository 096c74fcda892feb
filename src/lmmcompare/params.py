"""Variance-parameter conversions between the LMM tools, and their likelihood conventions.

Standard form
-------------
Every tool fits y = Xβ + g + e with g ~ N(0, σg² K), e ~ N(0, σe² I) for the kinship K
*that was passed to it* (the analysed samples' sub-matrix of the kinship file).  We report

* γ = σg²/σe²  (GEMMA's λ),          δ = σe²/σg² = 1/γ,        H = γK + I,  V = σe² H;
* h² = γ/(1 + γ)                     (PyLMM's h: heritability on K *as given*);
* pve = γt/(1 + γt), t = tr(K)/n     (GEMMA's "PVE"; FaST-LMM's h2, since it rescales K to mean
  diagonal 1).  t is the kinship's mean diagonal, ``kinship_mean_diag`` in ``null.json``.

Each tool's own parameterisation (the docstrings below give the algebra; each tool's conversion
is its entry in :mod:`lmmcompare.registry`, built from these functions):

========== ================================================== ===========================
tool       covariance of y                                    native → γ
========== ================================================== ===========================
PyLMM      σ²(hK + (1−h)I), K as given                        γ = h/(1−h)
FaST-LMM   σ²(h2·K' + (1−h2)I), K' = K/t (mean diagonal 1)    γ = h2/((1−h2)t)
GEMMA      σe²(λK_c + I), K_c = PKP re-centred (P = I − 11ᵀ/n) γ = λ (see below)
========== ================================================== ===========================

GEMMA re-centres the kinship over the analysed samples (``CenterMatrix`` in ``src/gemma.cpp``
after ``ReadFile_kin``).  With an intercept among the covariates, the REML likelihood, the
REML λ and every Wald/score statistic depend on K only through Q₂ᵀKQ₂ (Q₂ an orthonormal
basis of the complement of X), and Q₂ᵀPKPQ₂ = Q₂ᵀKQ₂ because P1 = 0; so GEMMA's REML λ *is*
γ on K.  Its ML quantities (null ML λ, per-SNP ML λ, ``p_lrt``, ``p_score``) and its pve
(t_c = tr(PKP)/n) are those of K_c, not K.

Log-likelihood conventions
--------------------------
All three tools maximise the *exact* restricted likelihood including the +½log|XᵀX| term
(c = number of columns of X, intercept included, σ̂² = yᵀP_H y/(n − c)):

    REML(γ) = −½[(n−c) log(2π σ̂²) + log|H| + log|XᵀH⁻¹X| − log|XᵀX| + (n−c)].

* GEMMA (``LogRL_f`` in ``src/lmm.cpp``) prints exactly this as "REMLE log-likelihood".
* FaST-LMM (``lmm_cov.nLLcore``) returns nLL = −REML: it projects X out, so
  log|Q₂ᵀHQ₂| = log|H| + log|XᵀH⁻¹X| − log|XᵀX| appears as the log-determinant over the n − c
  non-null eigenvalues.  See :func:`reml_from_fastlmm_nll`.
* PyLMM (``LMM.LL(REML=True)``) adds the REML correction to the *ML* profile with σ² = Q/n
  and uses q log(2πσ̂²) with σ̂² = Q/(n − q); the result is off by a constant
  −½[c + n log(1 − c/n)] ≈ c²/(4n).  See :func:`pylmm_reml_offset`.

Test statistics
---------------
* Wald: β̂²/Var(β̂) with σ̂² = residual/(n − c − 1).  PyLMM reports a two-sided t test with
  n − c − 1 degrees of freedom; FaST-LMM and GEMMA an F(1, n − c − 1) test of t² — the same
  p-value.
* LRT (GEMMA ``p_lrt``): χ²(1) of 2(ML₁ − ML₀) with λ re-fitted by **ML** per SNP and the null
  ML λ; ML is not invariant to re-centring K, so it is on K_c.
* Score (GEMMA ``p_score``): n (xᵀPy)² / (yᵀPy · xᵀPx) at the null *ML* λ against
  F(1, n − c − 1) (note: n, not n − c − 1, in the numerator).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from exactlmm.errors import InputError

__all__ = [
    "delta_from_gamma",
    "finite_number",
    "gamma_from_delta",
    "gamma_from_fastlmm_h2",
    "gamma_from_gemma_lambda",
    "gamma_from_h2",
    "gamma_from_pve",
    "h2_from_gamma",
    "no_variance_ratio",
    "nonnegative_or_none",
    "pve_from_gamma",
    "pylmm_reml_offset",
    "reml_from_fastlmm_nll",
    "reml_from_pylmm",
    "standard_form",
    "trait_unit",
]


def _finite(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} = {value!r} is not a finite number")
    return arr


def finite_number(value: Any, name: str) -> float:
    """``value`` as a float; an ``InputError`` naming ``name`` unless it is finite."""
    return float(_finite(value, name))


def nonnegative_or_none(value: Any, name: str) -> float | None:
    """``None`` stays ``None`` (the tool gives no such number); otherwise a finite float ≥ 0, or
    an ``InputError`` naming ``name``."""
    if value is None:
        return None
    v = finite_number(value, name)
    if v < 0:
        raise InputError(f"{name} = {value!r} must be a finite number ≥ 0")
    return v


def _out(arr: np.ndarray) -> float | np.ndarray:
    return float(arr) if arr.ndim == 0 else arr


def _check_mean_diag(mean_diag: float) -> float:
    t = float(_finite(mean_diag, "kinship mean diagonal t"))
    if t <= 0:
        raise InputError(f"kinship mean diagonal t = {t!r} must be positive (tr(K)/n > 0)")
    return t


def gamma_from_delta(delta: Any, *, strict: bool = True) -> float | np.ndarray:
    """γ = 1/δ, where δ = σe²/σg² (FaST-LMM's and our δ).

    δ must be positive.  δ = +inf (σg² = 0) gives γ = 0.  With ``strict=False`` δ = 0 gives
    γ = +inf instead of an error (used for per-SNP columns, where a tool may hit a bound).
    """
    d = np.asarray(delta, dtype=np.float64)
    if np.any(np.isnan(d)) or np.any(d < 0) or (strict and np.any(d == 0)):
        raise InputError(f"δ = {delta!r}: δ = σe²/σg² must be positive (δ = 0 gives γ = ∞)")
    with np.errstate(divide="ignore"):
        return _out(1.0 / d)


def delta_from_gamma(gamma: Any, *, strict: bool = True) -> float | np.ndarray:
    """δ = 1/γ = σe²/σg².

    γ = 0 (σg² = 0, h² = 0) makes δ infinite: an ``InputError`` unless ``strict=False``, when
    it gives δ = +inf (per-SNP columns of a tool whose search stopped at h = 0).
    """
    g = np.asarray(gamma, dtype=np.float64)
    if np.any(np.isnan(g)) or np.any(g < 0) or np.any(np.isinf(g)):
        raise InputError(f"γ = {gamma!r}: γ = σg²/σe² must be a finite number ≥ 0")
    if strict and np.any(g == 0):
        raise InputError("γ = 0 (h² = 0) gives σg² = 0: δ = σe²/σg² is infinite")
    with np.errstate(divide="ignore"):
        return _out(1.0 / g)


def h2_from_gamma(gamma: Any) -> float | np.ndarray:
    """h² = γ/(1 + γ): the share of σg²K + σe²I due to K, on K as given (PyLMM's h)."""
    g = _finite(gamma, "γ")
    if np.any(g < 0):
        raise InputError(f"γ = {gamma!r} must be ≥ 0")
    return _out(g / (1.0 + g))


def gamma_from_h2(h2: Any, *, strict: bool = True) -> float | np.ndarray:
    """γ = h/(1 − h) from PyLMM's h, where V = σ²(hK + (1 − h)I) with K as given.

    Then σg² = hσ², σe² = (1 − h)σ², so γ = σg²/σe² = h/(1 − h).  h must lie in [0, 1);
    h = 1 means σe² = 0 and an infinite γ — an ``InputError``, unless ``strict=False``, when
    it gives γ = +inf.
    """
    h = np.asarray(h2, dtype=np.float64)
    if np.any(np.isnan(h)) or np.any(h < 0) or np.any(h > 1):
        raise InputError(f"h² = {h2!r} must lie in [0, 1)")
    if strict and np.any(h == 1):
        raise InputError("h² = 1 gives σe² = 0: γ is infinite")
    with np.errstate(divide="ignore"):
        return _out(h / (1.0 - h))


def pve_from_gamma(gamma: Any, mean_diag: float) -> float | np.ndarray:
    """GEMMA's proportion of variance explained: pve = γt/(1 + γt), t = tr(K)/n.

    The expected sample variance of g is σg² t (for a K whose rows sum to ~0), so
    pve = σg²t/(σg²t + σe²).  GEMMA computes t on its re-centred K_c (``trace_G``).
    """
    g = _finite(gamma, "γ")
    if np.any(g < 0):
        raise InputError(f"γ = {gamma!r} must be ≥ 0")
    t = _check_mean_diag(mean_diag)
    return _out(g * t / (1.0 + g * t))


def gamma_from_pve(pve: Any, mean_diag: float) -> float | np.ndarray:
    """Inverse of :func:`pve_from_gamma`: γ = pve/((1 − pve) t).  pve must lie in [0, 1)."""
    p = np.asarray(pve, dtype=np.float64)
    if np.any(np.isnan(p)) or np.any(p < 0) or np.any(p > 1):
        raise InputError(f"pve = {pve!r} must lie in [0, 1)")
    if np.any(p == 1):
        raise InputError("pve = 1 gives σe² = 0: γ is infinite")
    t = _check_mean_diag(mean_diag)
    return _out(p / ((1.0 - p) * t))


def gamma_from_fastlmm_h2(h2: Any, mean_diag: float) -> float | np.ndarray:
    """γ on K from FaST-LMM's h2 (``Nullh2``).

    FaST-LMM rescales the kinship it is given to mean diagonal 1 (pysnptools ``DiagKtoN``:
    K' = K·n/tr K = K/t) and fits V = σ²(h2·K' + (1 − h2)I).  So σg²(on K) = h2σ²/t and
    σe² = (1 − h2)σ², and γ = h2/((1 − h2)t).  FaST-LMM's h2 therefore equals our pve.
    """
    return gamma_from_pve(h2, mean_diag)


def gamma_from_gemma_lambda(lam: Any) -> float | np.ndarray:
    """γ = λ: GEMMA's λ is σg²/σe² already (``l_remle``/``l_mle`` columns, null λ).

    Identity, kept so that every tool goes through one named conversion.  Caveat (module
    docstring): GEMMA's λ is for its re-centred K_c; the REML λ equals γ on K when an
    intercept is in X, the ML λ does not.
    """
    lam_arr = _finite(lam, "λ")
    if np.any(lam_arr < 0):
        raise InputError(f"λ = {lam!r} must be ≥ 0")
    return _out(lam_arr)


def pylmm_reml_offset(n: int, c: int) -> float:
    """PyLMM's REML log-likelihood minus the exact REML: −½[c + n·log(1 − c/n)] ≈ c²/(4n).

    ``pylmm3.lmm.LMM.LL`` (REML=True) computes, with Q = yᵀP y on the h-scale,

        ML part    −½[n log 2π + log|H_h| + n + n log(Q/n)]
        + REML part ½[c log(2π Q/(n−c)) + log|XᵀX| − log|XᵀH_h⁻¹X|],

    whereas the exact REML is −½[(n−c) log 2π + (n−c) log(Q/(n−c)) + log|H_h|
    + log|XᵀH_h⁻¹X| − log|XᵀX| + (n−c)].  The difference does not depend on h:
    −½[c + n log((n−c)/n)].  For n = 1410, c = 1 it is +0.000177389.
    """
    if not (0 < c < n):
        raise InputError(f"need 0 < c < n for a REML likelihood, got n = {n}, c = {c}")
    return -0.5 * (c + n * math.log1p(-c / n))


def reml_from_pylmm(loglik: float, n: int, c: int) -> float:
    """Exact REML log-likelihood from PyLMM's ``optLL`` (subtract :func:`pylmm_reml_offset`)."""
    return float(loglik) - pylmm_reml_offset(n, c)


def reml_from_fastlmm_nll(nll: float) -> float:
    """Exact REML log-likelihood from FaST-LMM's ``nLL``: REML = −nLL.

    ``lmm_cov.nLLcore`` returns ½[Σᵢ log(h2 sᵢ + 1 − h2) + N(log(2πσ²) + 1)], σ² = r²/N,
    N = n − c, over the n − c eigenvalues sᵢ of K' with X projected out.  The h2-scale and
    the γ-scale REML are equal (σ² absorbs the factor 1 − h2), so no constant is needed.
    """
    return -float(nll)


def se_from_t_test(beta: Any, p: Any, df: int) -> np.ndarray:
    """se = |β|/|t| of a tool that prints β and the p of a two-sided t test but no se (EMMAX).

    p = I_{ν/(ν+t²)}(ν/2, ½) (the regularized incomplete beta function, Numerical Recipes
    ``betai``), so x = I⁻¹_p(ν/2, ½) and t² = ν(1 − x)/x, ν = ``df``.  NA where p is 1 (t = 0:
    se undefined from p) or 0 (underflow) or not finite.
    """
    from scipy.special import betaincinv

    beta = np.asarray(beta, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    ok = np.isfinite(p) & (p > 0) & (p < 1) & np.isfinite(beta)
    x = betaincinv(0.5 * df, 0.5, np.where(ok, p, 0.5))
    t = np.sqrt(df * (1.0 - x) / x)
    return np.where(ok, np.abs(beta) / np.where(ok, t, 1.0), np.nan)


TRAIT_UNITS = ("phenotype", "standardized", "residual")
"""The scales a tool's β may be on (:func:`trait_unit`; a registry entry's ``effect_unit``)."""


def trait_unit(kind: str, y: np.ndarray, covariates: np.ndarray) -> float:
    """Phenotype units per unit of the trait a tool's β and se are on: β per a1 copy on y is
    the tool's β times this.

    * ``"phenotype"``: 1 (the phenotype as given);
    * ``"standardized"``: sd(y) with ddof 1 — the tool fits (y − ȳ)/sd(y) (Quickdraws,
      pandas' ``std``);
    * ``"residual"``: s = √(rᵀr/(n − c)), r = (I − QQᵀ)y, Q an orthonormal basis of the n × c
      covariates X (intercept included) — the tool fits r/s (sgkit's
      ``regenie_loco_regression``).
    """
    y = np.asarray(y, dtype=np.float64)
    if kind == "phenotype":
        return 1.0
    if kind == "standardized":
        return float(np.std(y, ddof=1))
    if kind == "residual":
        q, _ = np.linalg.qr(np.asarray(covariates, dtype=np.float64))
        r = y - q @ (q.T @ y)
        return float(np.sqrt(r @ r / (y.size - q.shape[1])))
    raise ValueError(f"trait unit {kind!r} is not one of {', '.join(TRAIT_UNITS)}")


def no_variance_ratio() -> dict[str, Any]:
    """The standard null-model record of a method without a variance-component model
    (REGENIE's ridge regressions): γ, δ, h², pve and the variance components are ``None``."""
    return dict.fromkeys(("gamma", "delta", "boundary", "h2", "pve", "sigma_g2", "sigma_e2"))


def standard_form(
    gamma: float,
    mean_diag: float,
    sigma_g2: float | None = None,
    sigma_e2: float | None = None,
) -> dict[str, Any]:
    """The standard null-model record of a fit with variance ratio γ on a kinship with t.

    Returns ``gamma``, ``delta`` = 1/γ, ``h2`` = γ/(1 + γ), ``pve`` = γt/(1 + γt), the
    variance components as given (``None`` when the tool gives no variance scale; σg² is for
    K as passed), and ``boundary``.  A fit on the lower boundary (h² = 0, γ = 0) is a valid
    estimate — the tool found no variance due to K — and gives ``delta`` = ``None`` (δ is
    infinite, which JSON cannot hold) and ``boundary`` = ``"h2=0"``.  Each tool's conversion to
    γ is in its :mod:`lmmcompare.registry` entry.
    """
    t = _check_mean_diag(mean_diag)
    gamma = float(_finite(gamma, "γ"))
    if gamma < 0:
        raise InputError(f"γ = {gamma!r} must be ≥ 0")
    return {
        "gamma": gamma,
        "delta": None if gamma == 0 else float(delta_from_gamma(gamma)),
        "boundary": "h2=0" if gamma == 0 else None,
        "h2": float(h2_from_gamma(gamma)),
        "pve": float(pve_from_gamma(gamma, t)),
        "sigma_g2": sigma_g2,
        "sigma_e2": sigma_e2,
    }
