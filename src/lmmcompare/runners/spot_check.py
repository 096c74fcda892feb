"""Spot checks: a tool's β and p at a few SNPs recomputed here, independently of the tool.

For a tool whose test holds the null variance ratio for every SNP (P3D: EMMAX, and any
command-line tool in ``fixed`` mode), β and p of the first and the strongest SNPs it reported
are recomputed by generalized least squares at the tool's own δ (:func:`gls_at_delta`, a dense
Cholesky solve per SNP: a handful of SNPs, never a scan).  Agreement to rounding says the tool
analysed our samples, covariates and kinship with our allele coding; a flipped allele flips
β's sign, a sample-order slip changes both numbers.
"""

from __future__ import annotations

import numpy as np

from exactlmm.dosage import impute_center
from exactlmm.io.plink import read_genotypes
from exactlmm.pipeline import AnalysisInputs
from lmmcompare.runners import ToolFailed

SNPS = 3
"""SNPs of each kind (first reported, strongest) recomputed."""


def gls_at_delta(
    kinship: np.ndarray, covariates: np.ndarray, y: np.ndarray, dosage: np.ndarray,
    delta: float,
) -> tuple[np.ndarray, np.ndarray]:
    """β and two-sided t-test p of each column of ``dosage`` by generalized least squares with
    V ∝ K + δI and σ² = residual/(n − c − 1): with E = [X, g], b = (EᵀV⁻¹E)⁻¹EᵀV⁻¹y,
    t = b_g/√([(EᵀV⁻¹E)⁻¹]_gg σ²), p = 2 P(T_{n−c−1} > |t|)."""
    from scipy import linalg, stats

    n, c = covariates.shape
    chol = linalg.cho_factor(kinship + delta * np.eye(n), lower=True)
    betas, pvalues = [], []
    for j in range(dosage.shape[1]):
        x = np.column_stack([covariates, dosage[:, j]])
        hx = linalg.cho_solve(chol, x)
        hy = linalg.cho_solve(chol, y)
        xhx_inv = np.linalg.inv(x.T @ hx)
        b = xhx_inv @ (hx.T @ y)
        sigma2 = (y @ hy - b @ (hx.T @ y)) / (n - c - 1)
        t = b[-1] / np.sqrt(xhx_inv[-1, -1] * sigma2)
        betas.append(b[-1])
        pvalues.append(2.0 * stats.t.sf(abs(t), n - c - 1))
    return np.array(betas), np.array(pvalues)


def spot_check(label: str, inputs: AnalysisInputs, snp: np.ndarray, beta: np.ndarray,
               p: np.ndarray, rows: np.ndarray, delta: float, rtol: float) -> None:
    """β and p the tool reported (``snp``, ``beta``, ``p``, at our SNP positions ``rows``)
    for its first and strongest SNPs against :func:`gls_at_delta` at its ``delta``; a
    :class:`ToolFailed` naming the SNP when one differs by more than ``rtol`` (β relative to the
    largest |β| checked, log p relative to max(1, |log p|))."""
    usable = np.flatnonzero(p > 0)
    if usable.size == 0:
        return
    strongest = usable[np.argsort(p[usable], kind="stable")[:SNPS]]
    picks = np.unique(np.concatenate([usable[:SNPS], strongest]))
    g = read_genotypes(inputs.dataset, inputs.samples.fam_index, inputs.snp_index[rows[picks]])
    imputed = impute_center(g)
    ours_b, ours_p = gls_at_delta(inputs.kinship, inputs.covariates, inputs.y,
                                  imputed.centered + imputed.mean, delta)
    theirs_b, theirs_p = beta[picks], p[picks]
    scale = np.maximum(np.abs(ours_b), np.max(np.abs(ours_b)))
    bad_beta = np.abs(theirs_b - ours_b) > rtol * scale
    bad_p = np.abs(np.log(theirs_p) - np.log(ours_p)) > rtol * np.maximum(
        1.0, np.abs(np.log(ours_p)))
    if np.any(bad_beta | bad_p):
        k = int(np.flatnonzero(bad_beta | bad_p)[0])
        flipped = np.sign(theirs_b[k]) == -np.sign(ours_b[k])
        raise ToolFailed(
            f"{label}'s β, p for {snp[picks[k]]} are {theirs_b[k]!r}, {theirs_p[k]!r}; "
            f"generalized least squares at its δ gives {ours_b[k]!r}, {ours_p[k]!r}"
            + (" (β's sign is flipped: allele coding)" if flipped else "")
        )
