"""The N/M law: how far a full-kinship LMM test is deflated at null SNPs that are in its kinship.

Setting
-------
The fitted model is y = Xβ + g + e, Var(y) = σe²H, H = γK + I, K = ZZᵀ/M over M standardized
SNPs (the columns z_j of Z), c covariates (X, intercept included).  P is the REML projection
of H: P = H⁻¹ − H⁻¹X(XᵀH⁻¹X)⁻¹XᵀH⁻¹ = Q₂(Q₂ᵀHQ₂)⁻¹Q₂ᵀ (Q₂ an orthonormal basis of the
complement of X).  At a fixed γ the test of SNP x (Wald and score agree to first order) is

    T = (xᵀPy)² / (σ̂e² · xᵀPx),       T ~ χ²₁ when Var(y) = σe²H and x has no effect.

The simulation's truth (``lmmcompare.simulate``, ``null_chromosomes``) differs from the fitted
model in one way: the SNPs of the null chromosomes carry no effect, the others all of it,
Var(y) = σe²(γK₁ + I) with K₁ the kinship of the M₁ SNPs with effects.  So K = (M₁K₁ + M₀K₀)/M
and the truth is H + γ(M₀/M)(K₁ − K₀).

Derivation
----------
For a null SNP x = z_j (on a null chromosome) xᵀPy is Gaussian with mean 0 and variance
σe²·xᵀP(γK₁ + I)Px = σe²[xᵀPx + γ(M₀/M)·xᵀP(K₁ − K₀)Px] (PHP = P), so, with σ̂e² ≈ σe²,

    E[T_j] = 1 + γ(M₀/M)·x_jᵀP(K₁ − K₀)Px_j / x_jᵀPx_j                          (exact at γ)

(:func:`expected_chisq`).  Write M₀K₀ = Σ_{k null} z_kz_kᵀ and M₁K₁ = Σ_{k effect} z_kz_kᵀ.
For unlinked SNPs every (x_jᵀPz_k)² with k ≠ j has the same expectation v_j on both sides and
these terms cancel up to γv_j/(M·x_jᵀPx_j) = O(h²/M); what is left is the SNP's own term:

    E[T_j] ≈ 1 − (γ/M)·x_jᵀPx_j.

Averaged over the SNPs, (1/M)Σ_j z_jᵀPz_j = tr(PK) = Σᵢ sᵢ/(1 + γsᵢ) (sᵢ the eigenvalues of
Q₂ᵀKQ₂), so

    λ_expected = 1 − df/M,      df = Σᵢ γsᵢ/(1 + γsᵢ) = γ·tr(PK),

the effective degrees of freedom of the polygenic effect (the trace of the BLUP hat matrix;
ours writes it, at its γ̂, as ``df_genetic`` in ``null.json``).

For unrelated samples and unlinked SNPs the sᵢ follow the Marchenko–Pastur law of ratio
y = n/M (n = N − c; eigenvalues on [(1 − √y)², (1 + √y)²], mean 1), whose Stieltjes transform
m(w) = E[1/(s − w)] = (1 − y − w − √((w − 1 − y)² − 4y)) / (2yw) gives, at w = −1/γ,

    df/n = 1 − E[1/(1 + γs)] = 1 − m(−1/γ)/γ,      λ_theory = 1 − n·(1 − m(−1/γ)/γ)/M

(:func:`marchenko_pastur_share`, :func:`theory_lambda`; the figure's curve).  When M ≫ N the
sᵢ are all near 1, df ≈ n·γ/(1 + γ) = n·h², and

    λ_nominal = 1 − h²·(N − c)/M.

At M ≈ N the spectrum spreads (sᵢ from 0 to 4 at M = N) and df < (N − c)h²: the nominal form
exaggerates the deflation (0.50 against 0.62 at N = M = 400, h² = 0.5; df = 152.6 measured,
152.4 by Marchenko–Pastur).
λGC is a median, T a mixture of scaled χ²₁ (E[T_j] varies a little from SNP to SNP): λGC ≈
mean E[T_j] to within 0.01 for M ≥ 5N and a little above it (by ~0.02) at M = N.  Checked
numerically in ``tests/test_deflation.py`` (the exact expectation against simulated phenotypes,
and the law against the exact expectation).

Linkage disequilibrium
----------------------
With LD the neighbours of x on its (null) chromosome carry its direction too: the terms
(x_jᵀPz_k)² of its LD partners no longer cancel, E[T_j] ≈ 1 − (γ/M)·x_jᵀPx_j·ℓ_j^P with ℓ^P
an LD score weighted by P, which damps the directions of large eigenvalues (those LD makes).
The deflation is then that of an effective number of SNPs M_e between M/ℓ̄ (ℓ̄ the mean LD
score: the unweighted bound, which overstates it) and M (no LD): the table reports
M_e = df/(1 − λGC) as measured.  Example (``tests/test_deflation.py``): N = 400, M = 4,000,
h² = 0.5, AR(1) haplotype LD with ℓ̄ = 3.85: exact mean E[T] 0.868, unlinked law 0.954, ℓ̄
bound 0.824; M_e = 1,386 = M/2.9.

When is the full-kinship test calibrated?  When df/M is small: λ ≥ 0.99 needs M ≥ 100·df ≈
100·h²·N SNPs in the kinship (unlinked; more with LD).  Leaving the tested chromosome out of
the kinship (LOCO) removes the deflation at any M/N.

References: Yang, Zaitlen, Goddard, Visscher and Price (2014) Nat Genet 46:100–106 and its
Supplementary Note (MLMi, the "candidate marker included" deflation); Listgarten, Lippert,
Kadie, Davidson, Eskin and Heckerman (2012) Nat Methods 9:525–526 (proximal contamination).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from exactlmm.null import genetic_degrees_of_freedom
from lmmcompare import params, registry
from lmmcompare.study_intervals import MEAN_METHOD, mean_interval

FULL_MODE = "fixed"
LOCO_MODE = "loco"
STATISTIC = "p_wald"
"""The runs and the test the deflation table reads: ours with the full kinship and LOCO."""

COLUMNS = (
    "scenario", "tool", "statistic", "n_samples", "n_snps", "m_over_n", "h2", "df_genetic",
    "lambda_fixed", "lambda_fixed_ci_low", "lambda_fixed_ci_high", "lambda_loco",
    "lambda_loco_ci_low", "lambda_loco_ci_high", "ci", "lambda_expected", "lambda_theory",
    "lambda_nominal", "m_effective", "n_replicates",
)
"""The columns of ``results/study/deflation.tsv``."""


def expected_lambda(df_genetic, n_snps):
    """λ_expected = 1 − df/M (module docstring), elementwise."""
    return 1.0 - np.asarray(df_genetic, dtype=np.float64) / np.asarray(n_snps, dtype=np.float64)


def nominal_lambda(n_samples, n_snps, h2, n_covariates: int = 1):
    """λ_nominal = 1 − h²(N − c)/M, the law when M ≫ N, elementwise."""
    n = np.asarray(n_samples, dtype=np.float64)
    return 1.0 - np.asarray(h2, dtype=np.float64) * (n - n_covariates) / np.asarray(
        n_snps, dtype=np.float64)


def _projection(z: np.ndarray, covariates: np.ndarray, gamma: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """P of H = γK + I (K = ZZᵀ/M) with the covariates projected out, and the eigenvalues of
    Q₂ᵀKQ₂ (dense; small n)."""
    m = z.shape[1]
    q, _ = np.linalg.qr(covariates, mode="complete")
    q2 = q[:, covariates.shape[1]:]
    zq = q2.T @ z
    s, w = np.linalg.eigh(zq @ zq.T / m)
    u = q2 @ w
    return (u / (1.0 + gamma * s)) @ u.T, s


def expected_chisq(z: np.ndarray, effect: np.ndarray, gamma: float,
                   covariates: np.ndarray | None = None) -> np.ndarray:
    """The exact E[T_j] of the module docstring at a fixed γ (σ̂e² = σe²) for every SNP j
    *without* effect, when the truth is Var(y) ∝ γK₁ + I (K₁ over the SNPs with ``effect``)
    and the fit uses K over all columns of ``z`` (standardized, n × M).  Dense, O(n²M): for
    checking the law on small data."""
    z = np.asarray(z, dtype=np.float64)
    n = z.shape[0]
    effect = np.asarray(effect, dtype=bool)
    x = np.ones((n, 1)) if covariates is None else np.asarray(covariates, dtype=np.float64)
    p, _ = _projection(z, x, gamma)
    z1 = z[:, effect]
    truth = gamma * (z1 @ z1.T) / z1.shape[1] + np.eye(n)
    px = p @ z[:, ~effect]
    return np.einsum("ij,ij->j", px, truth @ px) / np.einsum("ij,ij->j", z[:, ~effect], px)


def degrees_of_freedom(z: np.ndarray, gamma: float, covariates: np.ndarray | None = None
                       ) -> float:
    """df = Σᵢ γsᵢ/(1 + γsᵢ) of K = ZZᵀ/M (dense; what ours reports as ``df_genetic``)."""
    z = np.asarray(z, dtype=np.float64)
    x = np.ones((z.shape[0], 1)) if covariates is None else np.asarray(covariates, dtype=float)
    _, s = _projection(z, x, gamma)
    return genetic_degrees_of_freedom(s, gamma)


def _mean(values: pd.Series) -> float:
    finite = values.to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else math.nan


def deflation_table(rows: pd.DataFrame, tool: str = registry.REFERENCE,
                    statistic: str = STATISTIC) -> pd.DataFrame:
    """λGC at the truly null SNPs against the N/M law, per scenario (``results/study/
    deflation.tsv``; columns :data:`COLUMNS`).

    ``rows`` are the study's replicate rows (``lmmcompare.study.replicate_metrics`` and
    ``run_record``).  For ``tool``'s full-kinship (:data:`FULL_MODE`) and LOCO runs of each
    scenario with null SNPs: N (``n_samples``), M (``n_snps``, the SNPs tested, which the
    kinship is built from), M/N, the true h², the mean df of the full-kinship fits, λGC of each
    mode (mean over replicates with its t interval), ``lambda_expected`` = the mean over
    replicates of 1 − df/M (each replicate's df at its own γ̂), ``lambda_theory`` (the
    Marchenko–Pastur law at the true h², :func:`theory_lambda`), ``lambda_nominal`` =
    1 − h²(N − 1)/M and ``m_effective`` = df/(1 − λGC fixed) (the M that would explain the
    measured deflation; M itself for unlinked SNPs, less with LD; NaN without deflation).
    """
    rows = rows[(rows["tool"] == tool) & (rows["statistic"] == statistic)
                & (rows["n_null"] > 0)]
    out = []
    for scenario, group in rows.groupby("scenario", sort=False):
        full = group[group["mode"] == FULL_MODE]
        if full.empty:
            continue
        loco = group[group["mode"] == LOCO_MODE]
        record = {"scenario": scenario, "tool": tool, "statistic": statistic}
        n, m = _mean(full["n_samples"]), _mean(full["n_snps"])
        h2 = _mean(full["h2_true"])
        df = _mean(full["df_genetic"])
        lam_full = full["lambda_gc"]
        record.update(n_samples=n, n_snps=m, m_over_n=m / n, h2=h2, df_genetic=df,
                      lambda_fixed=_mean(lam_full), lambda_loco=_mean(loco["lambda_gc"]))
        record["lambda_fixed_ci_low"], record["lambda_fixed_ci_high"] = mean_interval(lam_full)
        record["lambda_loco_ci_low"], record["lambda_loco_ci_high"] = mean_interval(
            loco["lambda_gc"])
        record["ci"] = MEAN_METHOD
        record["lambda_expected"] = _mean(pd.Series(expected_lambda(full["df_genetic"],
                                                                    full["n_snps"])))
        record["lambda_theory"] = float(theory_lambda(n, m, h2))
        record["lambda_nominal"] = float(nominal_lambda(n, m, h2))
        deflated = record["lambda_fixed"] < 1.0
        record["m_effective"] = df / (1.0 - record["lambda_fixed"]) if deflated else math.nan
        record["n_replicates"] = int(full["replicate"].nunique())
        out.append(record)
    return pd.DataFrame(out, columns=list(COLUMNS))


def marchenko_pastur_share(ratio, gamma: float):
    """E[γs/(1 + γs)] under the Marchenko–Pastur law of ratio y = n/M (module docstring):
    df/n for unrelated samples and unlinked SNPs, elementwise in y.

    >>> round(float(marchenko_pastur_share(1.0, 1.0)), 6)  # (3 − √5)/2
    0.381966
    """
    y = np.asarray(ratio, dtype=np.float64)
    w = -1.0 / gamma
    stieltjes = (1.0 - y - w - np.sqrt((w - 1.0 - y) ** 2 - 4.0 * y)) / (2.0 * y * w)
    return 1.0 - stieltjes / gamma


def theory_lambda(n_samples, n_snps, h2, n_covariates: int = 1):
    """λ_theory = 1 − n·E_MP[γs/(1 + γs)]/M, n = N − c, γ = h²/(1 − h²): the law for
    unrelated samples and unlinked SNPs at any M/N (module docstring), elementwise."""
    n = np.asarray(n_samples, dtype=np.float64) - n_covariates
    m = np.asarray(n_snps, dtype=np.float64)
    return 1.0 - n * marchenko_pastur_share(n / m, params.gamma_from_h2(float(h2))) / m
