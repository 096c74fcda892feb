"""Leave-one-chromosome-out kinships as downdates of the genome-wide eigenbasis.

Notes
-----
Let K = ZZᵀ/M be the standardized kinship of M kinship SNPs and (W, s) the spectrum of
Q₂ᵀKQ₂ (:mod:`exactlmm.spectral`: Q an orthonormal basis of col(X), W the k explicit
eigenvectors, A = QᵀKQ and B = WᵀKQ the rest of K).  For chromosome c with r kinship SNPs
Z_c (standardized exactly as in K; untestable SNPs are in neither), the kinship of the other
chromosomes is

    K₋c = (M K − Z_c Z_cᵀ) / (M − r) = α (K − Z_c Z_cᵀ / M),     α = M / (M − r).

Every column of Z lies in col(Q) ⊕ col(W) (on the low-rank path the zero-eigenvalue rest W⊥
of the complement is orthogonal to every S z_j), so with X = WᵀZ_c/√M (k × r) and
P = QᵀZ_c/√M (c × r), in the basis [Q, W, W⊥] and with D = diag(s)

    K₋c = α [[A − PPᵀ, (B − XPᵀ)ᵀ, 0], [B − XPᵀ, D − XXᵀ, 0], [0, 0, 0]].

With γ the variance ratio on K₋c, H₋ = γK₋c + I and γ' = αγ, write Δ = I + γ'D and
Ψ = Δ⁻¹ = diag(1/(1 + γ'sᵢ)).  REML needs only the projected block, diagonal minus rank r:

    Q₂ᵀH₋Q₂ = diag(Δ − γ'XXᵀ, I).

* **Woodbury**: (Δ − γ'XXᵀ)⁻¹ = Ψ + γ'ΨX C⁻¹ XᵀΨ, with the r × r capacitance
  C(γ) = I − γ'XᵀΨX = LLᵀ (Cholesky; C ≻ 0 because Δ − γ'XXᵀ = I + γ'(D − XXᵀ) ⪰ I).
* **Determinant lemma**: log|Q₂ᵀH₋Q₂| = Σᵢ log(1 + γ'sᵢ) + log|C|.
* **REML terms**: with ỹ = Wᵀy and r_yy the residual dimensions' part (:mod:`exactlmm.likelihood`),
  yᵀP₋y = Σᵢ Ψᵢỹᵢ² + γ'‖L⁻¹XᵀΨỹ‖² + r_yy (two sums of squares: nothing cancels), and
  REML(γ) = −½[(n−c) log(2π yᵀP₋y/(n−c)) + log|Q₂ᵀH₋Q₂| + (n−c)], the exact REML including
  +½log|XᵀX| as for the genome-wide K.
* **ML** also needs log|H₋| = log|Q₂ᵀH₋Q₂| + log|S₋|, S₋ the c × c Schur complement of H₋ on
  the covariates.  Since H₋ = H(γ') − γ'Z̃Z̃ᵀ (Z̃ = [P; X]) and the genome-wide H(γ') = γ'K + I
  has the Schur complement S(γ') (:meth:`exactlmm.spectral.Spectrum.covariate_schur`), the
  block inverse of H(γ') and the determinant lemma give S₋ = S(γ') − γ' u C⁻¹ uᵀ with
  u = P − γ'BᵀΨX (c × r).  S₋ ⪰ I.

**Conditioning.**  As γ'sᵢ grows, C = I − γ'XᵀΨX is the difference of two nearly equal
matrices wherever K₋c is (nearly) singular while K is not — on the low-rank path (M < n) K₋c
loses exactly r dimensions, and a chromosome carrying most of the kinship, or K₋c from fewer
SNPs than samples, does the same.  Writing γ'Ψᵢ = 1/sᵢ − Ψᵢ/sᵢ for the eigenvalues that are
not tiny (sᵢ > 1e-8 · max s):

    C = T + XᵀΩX,   T = I − X_bᵀ D_b⁻¹ X_b,   Ω = diag(Ψᵢ/sᵢ) (big) and −γ'Ψᵢ (tiny),

T the Schur complement of [[D, X], [Xᵀ, I]] (T ⪰ 0 since D − XXᵀ ⪰ 0), computed once per
chromosome, and Ω's big part positive: nothing cancels as γ grows.  T itself carries rounding
of about √(k r)·ε, which matters where T is nearly singular (the directions K₋c loses), since
C there is only XᵀΩX ≈ 1/(γ's): a relative error of √(k r)·ε·γ's, 5e-7 measured at
γ' = 3e6.  So when T's smallest eigenvalue is below :data:`SCHUR_SMALL` (told by its Cholesky
factor and a few inverse iterations), the downdate works in T's eigenbasis, T = V diag(τ) Vᵀ:
X ← XV and P ← PV once (an r × r × k product), the τ within T's rounding set to exactly 0,
and C = diag(τ) + XᵀΩX, whose near-null block is then computed to its own relative accuracy
and left so by Cholesky (its error is componentwise, √(CᵢᵢCⱼⱼ)·ε).  The statistics then
agree with K₋c's own spectrum to 1e-9 at γ' = 3e6 and to 1e-12 at ordinary γ (tested).
u gets the same treatment: u = U₀ + Bᵀ Ω X with U₀ = P − B_bᵀD_b⁻¹X_b once.  What is left is
the null fit's β̂ and ML's S₋ at the largest γ', relative errors of about ε·γ', 1e-9 at
γ' = 3e6 (K₋c's own spectrum: about ε·γ).

**β̂** (GLS): with p = (Δ − γ'XXᵀ)⁻¹ỹ (so that P₋y = Wp + the residual part, where K₋c = 0),
Qᵀ(y − Xβ̂) = γQᵀK₋c P₋y gives QᵀXβ̂ = Qᵀy − γ'(Bᵀp − P Xᵀp).

**Scan** (fixed γ; :mod:`exactlmm.scan`'s a, b, C): for a SNP with x̃ = Wᵀg,
a = x̃ᵀp + r_yx, b = Σᵢ Ψᵢx̃ᵢ² + γ'‖(L⁻¹XᵀΨ) x̃‖² + r_xx and C = yᵀP₋y, then the Wald, LRT and
score formulas of :func:`exactlmm.scan.fixed_tests`: one GEMM of the block with the r × k
matrix L⁻¹XᵀΨ per block, O(k r) per SNP.

**Newton** (the null fit): in t = log γ, with dH₂₂/dt = H₂₂ − I (H₂₂ = Δ − γ'XXᵀ),
p = H₂₂⁻¹ỹ, p₂ = H₂₂⁻¹p and dᵢ = xᵢᵀC⁻¹xᵢ (the squared column norms of Y = L⁻¹Xᵀ):

    (yᵀPy)' = ‖p‖² − ỹᵀp,        (yᵀPy)'' = (2p − ỹ)ᵀ(p₂ − p),
    (log|Q₂ᵀH₋Q₂|)'  = Σ γ'sᵢΨᵢ − γ'Σ Ψᵢ²dᵢ,
    (log|Q₂ᵀH₋Q₂|)'' = Σ γ'sᵢΨᵢ² − γ'Σ (2Ψᵢ³ − Ψᵢ²)dᵢ − γ'²‖YΨ²Yᵀ‖²_F,

and for ML, with F = H₂₂⁻¹(B − XPᵀ) and F₂ = H₂₂⁻¹F: S₋' = S₋ − I − γ'²FᵀF,
S₋'' = S₋' − 2γ'²FᵀF₂, (log|S₋|)' = tr(S₋⁻¹S₋'), (log|S₋|)'' = tr(S₋⁻¹S₋'') − tr((S₋⁻¹S₋')²).
Each Newton iterate costs two Gram matrices and one triangular solve of r × k (about
3 k r² flops at GEMM speed, and an r × r Cholesky factorisation), the value and first
derivative one Gram and the solve, whose L⁻¹Xᵀ the scan at the optimum reuses.

**The search** replaces the genome-wide fit's grid + Brent (:func:`exactlmm.null.maximise_profile`),
which would cost a hundred Gram matrices: a safeguarded Newton iteration on log δ from the
genome-wide optimum (and from every other interior local maximum of the genome-wide profile
on the same grid, which costs nothing), keeping a bracket of the derivative's sign changes
and evaluating a bound itself before it is reported as the maximum (``boundary``, as the grid
reports it: exactly at the bound); an edge that is a local maximum of the genome-wide grid
profile is tested too (one evaluation: does the derivative point out there?).  After a Newton
step shorter than :data:`NEWTON_STEP` the point reached is evaluated with its first
derivative (and what the scan needs) and taken when its own Newton step is below
:data:`FINAL_STEP`.  From the genome-wide optimum that is typically three Newton iterates and
the final point.  A leave-one-out profile with a local maximum that no genome-wide one is
near would be missed; none was seen.

**Cost.**  Per chromosome O(k r²) per likelihood evaluation (a few per fit) plus one
k × r × m GEMM for its m scanned SNPs, against O(n³) for its own eigendecomposition;
:func:`plan_chromosome` chooses between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .blas import gram, trsm_lower
from .dosage import ImputedBlock
from .errors import InputError
from .likelihood import LOG_2PI, Likelihood, RotatedPhenotype, profile_loglik
from .null import (
    DEFAULT_GRID,
    DEFAULT_LOG_DELTA_BOUNDS,
    FittedNull,
    boundary_of,
    maximise_profile,
    warn_boundary,
)
from .scan import RotatedBlock, complete_rows, fixed_tests, residual_yx, rotate_block
from .spectral import EIGENVALUE_TOLERANCE, Spectrum

#: After a Newton step shorter than this (in log δ) the point reached is evaluated as the
#: maximum: it is within about the step's square (times |f'''/2f''|, of order 1) of it.
NEWTON_STEP = 1e-4
#: ... and it is the maximum when the Newton step from there is shorter than this (the grid +
#: Brent of :func:`exactlmm.null.maximise_profile` stops within about 1.5e-8 · |log δ|).
FINAL_STEP = 1e-8
#: The longest step (in log δ) of the search; the interval is about 23 long.
MAX_STEP = 3.0
MAX_ITERATIONS = 100
#: A Newton step that leaves more than this fraction of the derivative (same sign) doubles
#: the next one, until the maximum is bracketed.
SLOW = 0.25
#: Below this smallest eigenvalue of T (the capacitance's γ-free part) the downdate works in
#: T's eigenbasis (module notes): its rounding would cost more than 1e-11 of C there.
SCHUR_SMALL = 1e-3
#: T's eigenvalues below this many ε·√(k r) (its rounding) are taken as exactly 0.
SCHUR_NOISE = 32.0


class ChromosomeDowndate:
    """One chromosome's K₋c as a downdate of the genome-wide spectrum (module notes).

    Parameters
    ----------
    spectrum:
        The genome-wide spectrum of K = ZZᵀ/M (either path of :mod:`exactlmm.spectral`; ML
        needs its ``kinship_blocks``, which both builders attach).
    rotated:
        r × k, one row per kinship SNP of the chromosome: gⱼᵀW, gⱼ the SNP's vector (n).
    covariate_part:
        r × c, gⱼᵀQ.
    n_snps:
        M, the number of SNPs of K (all chromosomes, testable ones only).
    kinship_mean_diag:
        tr(K)/n, to report tr(K₋c)/n (the pve's t).
    scale:
        Per row, the factor that makes gⱼ the standardized zⱼ of K (e.g. 1/sd for centered
        dosages, so that ``rotated`` can be the scan's own rotated block); ``None``: the rows
        are already standardized.
    sum_sq:
        Σⱼ‖zⱼ‖² of the rows (for tr(K₋c)); ``None``: n per SNP, as for every standardized SNP.

    The rows are kept (not copied when they are a C-ordered float64 array).
    """

    def __init__(
        self,
        spectrum: Spectrum,
        rotated: np.ndarray,
        covariate_part: np.ndarray,
        n_snps: int,
        kinship_mean_diag: float,
        *,
        scale: np.ndarray | None = None,
        sum_sq: float | None = None,
    ) -> None:
        rows = np.ascontiguousarray(rotated, dtype=np.float64)
        r, k = rows.shape
        if k != spectrum.rank:
            raise ValueError(f"the rotated SNPs have {k} columns, the spectrum's rank is "
                             f"{spectrum.rank}")
        covariate_part = np.asarray(covariate_part, dtype=np.float64)
        if covariate_part.shape != (r, spectrum.n_covariates):
            raise ValueError(f"the covariate part must be {r} × {spectrum.n_covariates}")
        if not 0 < r < n_snps:
            raise ValueError(f"a downdate removes between 1 and M − 1 SNPs, not {r} of {n_snps}")
        self.spectrum = spectrum
        self.rows = rows
        self.n_snps = int(n_snps)
        self.n_removed = r
        self.alpha = n_snps / (n_snps - r)
        n = spectrum.n_samples
        unit = np.ones(r) if scale is None else np.asarray(scale, dtype=np.float64)
        self.sigma = unit / np.sqrt(n_snps)  # X = (diag(σ) R)ᵀ
        self.covariate_part = covariate_part * self.sigma[:, None]  # Pᵀ, r × c
        removed = n * r if sum_sq is None else float(sum_sq)
        self.mean_diag = (n_snps * kinship_mean_diag - removed / n) / (n_snps - r)
        s = spectrum.eigenvalues
        self.big = s > EIGENVALUE_TOLERANCE * max(float(s.max(initial=0.0)), 1e-300)
        self.tiny = np.flatnonzero(~self.big)
        self._work = np.empty((r, k))
        # T = I − X_bᵀ D_b⁻¹ X_b, once (module notes)
        weights = np.where(self.big, 1.0 / np.where(self.big, s, 1.0), 0.0)
        self.schur = np.eye(r) - self._gram(weights)
        self.counts = {"gram": 1, "solve": 0, "rotation": 0}  # r × k products, for benchmarks
        #: Directions of T set to exactly 0 (K₋c loses them), when T's eigenbasis is used.
        self.null_directions = 0
        if _smallest_eigenvalue(self.schur) < SCHUR_SMALL:
            self._to_schur_basis()
        self._ml_cache: tuple[np.ndarray, np.ndarray] | None = None

    def _to_schur_basis(self) -> None:
        """Work in T's eigenbasis, T = V diag(τ) Vᵀ: the rows become VᵀXᵀ (a new r × k
        array), P becomes PV, T becomes diag(τ) with the eigenvalues within T's rounding
        (:data:`SCHUR_NOISE` · ε · √(k r)) set to exactly 0 (module notes)."""
        r, k = self.rows.shape
        tau, vectors = np.linalg.eigh(self.schur)
        noise = SCHUR_NOISE * np.finfo(float).eps * np.sqrt(k * r)
        zero = tau <= noise
        tau[zero] = 0.0
        self.null_directions = int(np.count_nonzero(zero))
        self.rows = vectors.T @ (self.rows * self.sigma[:, None])
        self.counts["rotation"] += 1
        self.covariate_part = vectors.T @ self.covariate_part
        self.sigma = np.ones(r)
        self.schur = np.diag(tau)

    @classmethod
    def from_standardized(
        cls, spectrum: Spectrum, standardized: np.ndarray, n_snps: int,
        kinship_mean_diag: float,
    ) -> ChromosomeDowndate:
        """From the chromosome's standardized kinship SNPs Z_c (n × r, as in K)."""
        z = np.asarray(standardized, dtype=np.float64)
        return cls(spectrum, z.T @ spectrum.basis, z.T @ spectrum.covariate_basis, n_snps,
                   kinship_mean_diag, sum_sq=float(np.einsum("ij,ij->", z, z)))

    @classmethod
    def from_blocks(
        cls, spectrum: Spectrum, blocks: list[ImputedBlock], n_snps: int,
        kinship_mean_diag: float,
    ) -> tuple[ChromosomeDowndate, list[np.ndarray]]:
        """From the chromosome's SNPs as blocks of imputed, centered dosages (the kinship SNPs
        are the testable ones among them): the downdate and each block's rotation
        (:func:`kinship_rows`), so that a scan of the same blocks
        (``rotate_block(..., x_rot=...)``) rotates nothing twice."""
        rows = kinship_rows(spectrum, blocks)
        downdate = cls(spectrum, rows.rotated, rows.covariate_part, n_snps, kinship_mean_diag,
                       scale=rows.scale)
        return downdate, rows.rotations

    # -- products with the r × k rows ---------------------------------------------------------
    def _gram(self, weights: np.ndarray) -> np.ndarray:
        """XᵀΩX = diag(σ) R diag(ω) Rᵀ diag(σ) for non-negative weights ω (k)."""
        work = np.multiply(self.rows, np.sqrt(weights), out=self._work)
        product = gram(work)
        product *= self.sigma[:, None]
        product *= self.sigma[None, :]
        return product

    def _tiny_gram(self, weights: np.ndarray) -> np.ndarray:
        """XᵀΩX over the tiny eigenvalues only (few columns)."""
        part = self.rows[:, self.tiny] * np.sqrt(weights[self.tiny])
        product = gram(part)
        product *= np.outer(self.sigma, self.sigma)
        return product

    def x_t(self, v: np.ndarray) -> np.ndarray:
        """Xᵀv (r, or r × m for k × m)."""
        out = self.rows @ v
        return (out.T * self.sigma).T

    def x(self, u: np.ndarray) -> np.ndarray:
        """Xu (k, or k × m for r × m)."""
        return self.rows.T @ (self.sigma * u.T).T

    # -- one point ----------------------------------------------------------------------------
    def capacitance(self, gamma_prime: float, psi: np.ndarray) -> np.ndarray:
        """C = T + XᵀΩX (module notes) at γ' with Ψ = 1/(1 + γ's)."""
        s = self.spectrum.eigenvalues
        omega = np.where(self.big, psi / np.where(self.big, s, 1.0), 0.0)
        c = self.schur + self._gram(omega)
        self.counts["gram"] += 1
        if self.tiny.size:
            c -= gamma_prime * self._tiny_gram(psi)
        return c

    def evaluate(self, phenotype: RotatedPhenotype, log_delta: float, likelihood: Likelihood,
                 order: int = 0, *, keep: bool = False) -> Point:
        """The profile likelihood at log δ (δ = 1/γ on K₋c) and, up to ``order`` (0, 1, 2),
        its log δ-derivatives (module notes).  ``keep`` (with ``order`` ≥ 1): the point also
        keeps L⁻¹XᵀΨ (r × k, a new array), what a scan at this point needs."""
        spectrum = self.spectrum
        n, c_cov = spectrum.n_samples, spectrum.n_covariates
        s = spectrum.eigenvalues
        gamma = float(np.exp(-log_delta))
        gp = self.alpha * gamma
        psi = 1.0 / (gp * s + 1.0)
        cap = self.capacitance(gp, psi)
        chol = _cholesky(cap)
        logdet_c = 2.0 * float(np.sum(np.log(np.diag(chol))))
        y_rot = phenotype.rotated
        psi_y = psi * y_rot
        w = _solve_lower(chol, self.x_t(psi_y))
        ypy = float(psi_y @ y_rot) + gp * float(w @ w) + phenotype.residual_ss
        logdet_p = float(np.log1p(gp * s).sum()) + logdet_c
        # p = H₂₂⁻¹ỹ = Ψỹ + γ'ΨX C⁻¹XᵀΨỹ
        p = psi_y + gp * psi * self.x(_solve_upper(chol, w))
        point = Point(log_delta, gamma, gp, psi, chol, ypy, logdet_p, p, likelihood)
        if likelihood == "REML":
            dof = n - c_cov
            point.loglik = -0.5 * (dof * (LOG_2PI + np.log(ypy / dof)) + logdet_p + dof)
        elif likelihood == "ML":
            point.schur = self._ml_schur(gp, psi, chol)
            sign, logdet_s = np.linalg.slogdet(point.schur)
            if sign <= 0:
                raise InputError("kinship is not positive semi-definite: the leave-one-out "
                                 f"γK + I is singular at γ = {gamma:.3g}", spectrum.source)
            point.loglik = -0.5 * (n * (LOG_2PI + np.log(ypy / n)) + logdet_p + logdet_s + n)
        else:
            raise ValueError(f"likelihood must be 'REML' or 'ML', not {likelihood!r}")
        if order >= 1:
            self._derivatives(point, phenotype, order, keep)
        return point

    def _ml_parts(self) -> tuple[np.ndarray, np.ndarray]:
        """U₀ = P − B_bᵀD_b⁻¹X_b (as r × c) and B̄ = B − XPᵀ (k × c), once."""
        if self._ml_cache is None:
            spectrum = self.spectrum
            if spectrum.kinship_blocks is None:
                raise ValueError("ML needs the spectrum's kinship blocks")
            _, b = spectrum.kinship_blocks
            s = spectrum.eigenvalues
            inverse = np.where(self.big, 1.0 / np.where(self.big, s, 1.0), 0.0)
            u0 = self.covariate_part - self.x_t(inverse[:, None] * b)
            b_bar = b - self.x(self.covariate_part)
            self._ml_cache = (u0, b_bar)
        return self._ml_cache

    def _ml_schur(self, gp: float, psi: np.ndarray, chol: np.ndarray) -> np.ndarray:
        """S₋ = S(γ') − γ'uC⁻¹uᵀ, u = U₀ + BᵀΩX (module notes)."""
        spectrum = self.spectrum
        u0, _ = self._ml_parts()
        _, b = spectrum.kinship_blocks
        s = spectrum.eigenvalues
        omega = np.where(self.big, psi / np.where(self.big, s, 1.0), -gp * psi)
        u_t = u0 + self.x_t(omega[:, None] * b)  # uᵀ, r × c
        solved = _solve_lower(chol, u_t)
        return spectrum.covariate_schur(gp)[0] - gp * (solved.T @ solved)

    def _derivatives(self, point: Point, phenotype: RotatedPhenotype, order: int,
                     keep: bool) -> None:
        """point.d1, point.d2: the log δ-derivatives of the likelihood (module notes); with
        ``keep``, point.solved = L⁻¹XᵀΨ."""
        spectrum = self.spectrum
        n, c_cov = spectrum.n_samples, spectrum.n_covariates
        s = spectrum.eigenvalues
        gp, psi, p = point.gamma_prime, point.psi, point.p
        y_rot = phenotype.rotated
        y = np.multiply(self.rows, self.sigma[:, None], out=None if keep else self._work)
        trsm_lower(point.chol, y)  # Y = L⁻¹Xᵀ, r × k
        self.counts["solve"] += 1
        d = np.einsum("ij,ij->j", y, y)

        def h_inv(v: np.ndarray) -> np.ndarray:  # H₂₂⁻¹v = Ψv + γ'Ψ Yᵀ(Y(Ψv))
            pv = (psi * v.T).T
            return pv + gp * (psi * (y.T @ (y @ pv)).T).T

        q, q1 = point.ypy, float(p @ p - y_rot @ p)
        gsp = gp * s * psi
        l1 = float(gsp.sum() - gp * (psi * psi) @ d)
        f1 = {"REML": (n - c_cov) * q1 / q + l1, "ML": n * q1 / q + l1}[point.likelihood]
        if point.likelihood == "ML":
            _, b_bar = self._ml_parts()
            f_mat = h_inv(b_bar)
            s_inv = np.linalg.inv(point.schur)
            s1 = point.schur - np.eye(c_cov) - gp * gp * (f_mat.T @ f_mat)
            f1 += float(np.sum(s_inv * s1.T))
        point.d1 = 0.5 * f1  # d/d log δ = −d/dt, f = −½[…]
        if order < 2:
            if keep:
                y *= psi
                point.solved = y
            return
        p2 = h_inv(p)
        q2 = float((2.0 * p - y_rot) @ (p2 - p))
        psi2 = psi * psi
        l2 = float(gsp @ psi - gp * (2.0 * psi2 * psi - psi2) @ d)
        y *= psi  # Y Ψ (h_inv is done with Y)
        if keep:
            point.solved = y
        m = gram(y)
        self.counts["gram"] += 1
        l2 -= gp * gp * float(np.sum(m * m))
        dof = n - c_cov if point.likelihood == "REML" else n
        f2 = dof * (q2 / q - (q1 / q) ** 2) + l2
        if point.likelihood == "ML":
            s2 = s1 - 2.0 * gp * gp * (f_mat.T @ _h_inv_plain(self, point, f_mat))
            a1 = s_inv @ s1
            f2 += float(np.trace(s_inv @ s2) - np.sum(a1 * a1.T))
        point.d2 = -0.5 * f2

    def scan_matrix(self, point: Point) -> np.ndarray:
        """(L⁻¹XᵀΨ), r × k, at the point: what the scan multiplies each block with."""
        y = np.multiply(self.rows, self.sigma[:, None])
        trsm_lower(point.chol, y)
        self.counts["solve"] += 1
        y *= point.psi
        return y


@dataclass(frozen=True)
class KinshipRows:
    """A chromosome's kinship SNPs rotated by the genome-wide spectrum (:func:`kinship_rows`):
    ``rotated`` gⱼᵀW and ``covariate_part`` gⱼᵀQ of its testable SNPs (r × k, r × c), ``scale``
    1/sdⱼ (their standardization), and ``rotations``, every block's GᵀW (m × k, untestable
    SNPs included: the scan's own rotated blocks)."""

    rotated: np.ndarray
    covariate_part: np.ndarray
    scale: np.ndarray
    rotations: list[np.ndarray]


def kinship_rows(spectrum: Spectrum, blocks: list[ImputedBlock]) -> KinshipRows:
    """The rotation of a chromosome's SNPs (blocks of imputed, centered dosages; the testable
    ones are its kinship SNPs): one GEMM per block, exactly what
    :func:`exactlmm.scan.rotate_block` computes for it."""
    rotations, rows, covariate, scale = [], [], [], []
    for block in blocks:
        x_rot = np.matmul(block.centered.T, spectrum.basis)
        rotations.append(x_rot)
        keep = block.testable
        rows.append(x_rot[keep])
        covariate.append(block.centered[:, keep].T @ spectrum.covariate_basis)
        scale.append(1.0 / np.sqrt(block.variance[keep]))
    return KinshipRows(np.concatenate(rows), np.concatenate(covariate), np.concatenate(scale),
                       rotations)


def _h_inv_plain(downdate: ChromosomeDowndate, point: Point, v: np.ndarray) -> np.ndarray:
    """H₂₂⁻¹v (k × m) through the Cholesky factor (without Y, which the caller consumed)."""
    psi, gp = point.psi, point.gamma_prime
    pv = (psi * v.T).T
    inner = downdate.x_t(pv)
    solved = _solve_upper(point.chol, _solve_lower(point.chol, inner))
    return pv + gp * (psi * downdate.x(solved).T).T


def _cholesky(c: np.ndarray) -> np.ndarray:
    """L with LLᵀ = C (C ≻ 0: module notes)."""
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise ValueError("the leave-one-out capacitance is not positive definite (rounding "
                         "beyond the module's bounds; use the chromosome's own "
                         "eigendecomposition)") from None


def _smallest_eigenvalue(t: np.ndarray, iterations: int = 12) -> float:
    """An estimate of T's smallest eigenvalue (T symmetric, r × r): 0 when its Cholesky
    factorisation fails, else 1/‖T⁻¹u‖ after inverse iterations from a fixed start u (an
    over-estimate by at most the convergence of the iteration; exact enough to tell whether
    T is within orders of magnitude of singular)."""
    try:
        chol = np.linalg.cholesky(t)
    except np.linalg.LinAlgError:
        return 0.0
    u = np.random.default_rng(0).standard_normal(t.shape[0])
    u /= np.linalg.norm(u)
    growth = 1.0
    for _ in range(iterations):
        u = _solve_upper(chol, _solve_lower(chol, u))
        growth = float(np.linalg.norm(u))
        if not np.isfinite(growth) or growth == 0.0:
            return 0.0
        u /= growth
    return 1.0 / growth


def _solve_lower(chol: np.ndarray, b: np.ndarray, transpose: bool = False) -> np.ndarray:
    """L⁻¹b (``transpose``: L⁻ᵀb) for a vector or r × m array b (a copy)."""
    out = np.array(b.reshape(b.shape[0], -1), dtype=np.float64, order="C")
    trsm_lower(chol, out, transpose=transpose)
    return out.reshape(b.shape)


def _solve_upper(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L⁻ᵀb for a vector or r × m array b."""
    return _solve_lower(chol, b, transpose=True)


@dataclass
class Point:
    """The likelihood's parts at one log δ (module notes): γ, γ' = αγ, Ψ, the capacitance's
    Cholesky factor L, yᵀP₋y, log|Q₂ᵀH₋Q₂|, p = H₂₂⁻¹ỹ, and (ML) S₋; the log-likelihood and
    its log δ-derivatives when asked for."""

    log_delta: float
    gamma: float
    gamma_prime: float
    psi: np.ndarray
    chol: np.ndarray
    ypy: float
    logdet_projected: float
    p: np.ndarray
    likelihood: Likelihood
    loglik: float = float("nan")
    schur: np.ndarray | None = None
    d1: float = float("nan")
    d2: float = float("nan")
    solved: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DowndateNull(FittedNull):
    """A null fit of K₋c by the downdate: the numbers a :class:`exactlmm.null.NullModel`
    reports, the genome-wide rotated phenotype, the downdate, the point of the optimum (what
    :class:`DowndateScanner` needs) and the work the search did (``evaluations``: likelihood
    evaluations, ``newton``: those with derivatives)."""

    downdate: ChromosomeDowndate = field(repr=False)
    point: Point = field(repr=False)
    evaluations: int = 0
    newton: int = 0


def fit_downdate(
    downdate: ChromosomeDowndate,
    y: np.ndarray | RotatedPhenotype,
    covariates: np.ndarray,
    *,
    likelihood: Likelihood = "REML",
    log_delta_bounds: tuple[float, float] = DEFAULT_LOG_DELTA_BOUNDS,
    n_grid: int = DEFAULT_GRID,
    fixed_log_delta: float | None = None,
    start_log_delta: float | None = None,
    source: object | None = None,
) -> DowndateNull:
    """Fit the null model of K₋c by REML (default) or ML, or evaluate it at a fixed log δ: the
    numbers :func:`exactlmm.null.fit_null` reports for K₋c's own spectrum (module notes).

    Parameters
    ----------
    y:
        The phenotype, or its rotation by the genome-wide spectrum (shared by the
        chromosomes).
    start_log_delta:
        Where the Newton search starts (normally the genome-wide fit's log δ); ``None``: the
        genome-wide optimum, found here on the grid of ``n_grid`` points (cheap: no downdate).
        Every other local maximum of the genome-wide profile on that grid is a start too.
    source:
        Named in the boundary warning.
    """
    spectrum = downdate.spectrum
    phenotype = (y if isinstance(y, RotatedPhenotype)
                 else RotatedPhenotype.from_phenotype(spectrum, y))
    if phenotype.spectrum is not spectrum:
        raise ValueError("the phenotype was rotated with another spectrum")
    lo, hi = (float(b) for b in log_delta_bounds)
    evaluations = {"all": 0, "newton": 0}

    def evaluate(log_delta: float, order: int, keep: bool = False) -> Point:
        evaluations["all"] += 1
        evaluations["newton"] += order > 0
        return downdate.evaluate(phenotype, log_delta, likelihood, order, keep=keep)

    if fixed_log_delta is not None:
        point, edge = evaluate(float(fixed_log_delta), 1, True), None
    else:
        starts, edges = _starts(phenotype, likelihood, (lo, hi), n_grid, start_log_delta)
        found = [_newton_maximum(evaluate, start, (lo, hi)) for start in starts]
        found += [e for e in (_edge_maximum(evaluate, x, (lo, hi)) for x in edges) if e]
        point, edge = max(found, key=lambda pair: pair[0].loglik)
    boundary = boundary_of(edge)
    warn_boundary(boundary, likelihood, point.log_delta, source, stacklevel=3)
    dof = spectrum.n_samples - (spectrum.n_covariates if likelihood == "REML" else 0)
    return DowndateNull(
        likelihood=likelihood,
        log_delta=float(point.log_delta),
        loglik=float(point.loglik),
        sigma_e2=point.ypy / dof,
        beta=_gls_beta(downdate, phenotype, covariates, point),
        kinship_mean_diag=float(downdate.mean_diag),
        boundary=boundary,
        log_delta_bounds=(lo, hi),
        phenotype=phenotype,
        downdate=downdate,
        point=point,
        evaluations=evaluations["all"],
        newton=evaluations["newton"],
    )


def _gls_beta(downdate: ChromosomeDowndate, phenotype: RotatedPhenotype,
              covariates: np.ndarray, point: Point) -> np.ndarray:
    """β̂ from QᵀXβ̂ = Qᵀy − γ'(Bᵀp − P Xᵀp) (module notes), solved as
    :func:`exactlmm.null.gls_beta` solves Xβ̂ = (its right-hand side) in least squares."""
    spectrum = downdate.spectrum
    q = spectrum.covariate_basis
    if spectrum.kinship_blocks is None:
        raise ValueError("β̂ needs the spectrum's kinship blocks")
    _, b = spectrum.kinship_blocks
    p = point.p
    rhs = q.T @ phenotype.y - point.gamma_prime * (b.T @ p
                                                   - downdate.covariate_part.T @ downdate.x_t(p))
    return np.linalg.lstsq(covariates, q @ rhs, rcond=None)[0]


def _starts(phenotype: RotatedPhenotype, likelihood: Likelihood, bounds: tuple[float, float],
            n_grid: int, start: float | None) -> tuple[list[float], list[float]]:
    """The search's starts: ``start`` (default: the genome-wide optimum) and the other interior
    local maxima of the genome-wide profile on the grid; and the edges of the interval that
    are local maxima of that grid profile (module notes)."""
    lo, hi = bounds
    grid = np.linspace(lo, hi, n_grid)
    values = profile_loglik(phenotype, grid, likelihood)
    if start is None:
        start = maximise_profile(lambda t: profile_loglik(phenotype, t, likelihood), bounds,
                                 n_grid)[0]
    starts = [float(start)]
    step = grid[1] - grid[0]
    peaks = np.flatnonzero((values[1:-1] >= values[:-2]) & (values[1:-1] >= values[2:])) + 1
    for j in peaks:
        if all(abs(grid[j] - other) > 1.5 * step for other in starts):
            starts.append(float(grid[j]))
    edges = [edge for edge, here, inside in ((lo, values[0], values[1]),
                                             (hi, values[-1], values[-2]))
             if here >= inside and abs(edge - start) > 0.0]
    return starts, edges


def _edge_maximum(evaluate: Callable[[float, int], Point], edge: float,
                  bounds: tuple[float, float]) -> tuple[Point, str] | None:
    """The edge of the interval as a maximum, when the profile rises towards it there."""
    point = evaluate(edge, 1)
    if edge == bounds[1] and point.d1 > 0:
        return point, "upper"
    if edge == bounds[0] and point.d1 < 0:
        return point, "lower"
    return None


def _newton_maximum(evaluate: Callable[..., Point], start: float,
                    bounds: tuple[float, float]) -> tuple[Point, str | None]:
    """The local maximum of the profile reached from ``start`` (module notes): a safeguarded
    Newton iteration on log δ within a bracket [a, b] of the derivative's sign change (ends
    not yet evaluated are the bounds themselves), bisecting when Newton leaves a bracket whose
    ends are both known or the curvature is not negative, and going to a bound before
    reporting a maximum there.  While no sign change is bracketed and a Newton step leaves the
    derivative's sign and more than :data:`SLOW` of its size (the profile's tails are far from
    quadratic in log δ), the next step is doubled.  The point reached after a Newton step
    shorter than :data:`NEWTON_STEP` is evaluated with its first derivative and what a scan
    needs; it is the maximum when the Newton step from there (with the last curvature) is
    below :data:`FINAL_STEP`, else the iteration goes on from it.  Returns the point and the
    edge ("lower", "upper") it is on, if any."""
    lo, hi = bounds
    a, b = lo, hi
    a_known = b_known = False  # f'(a) > 0 / f'(b) < 0 seen
    x = min(max(float(start), lo), hi)
    last = 0.0
    stretch, previous = 1.0, None
    for _ in range(MAX_ITERATIONS):
        point = evaluate(x, 2)
        g, h = point.d1, point.d2
        if g > 0:
            if x >= hi:
                return point, "upper"
            a, a_known = x, True
        elif g < 0:
            if x <= lo:
                return point, "lower"
            b, b_known = x, True
        else:
            return point, None
        if a_known and b_known:
            stretch = 1.0
        elif previous is not None and g * previous > 0 and abs(g) > SLOW * abs(previous):
            stretch *= 2.0
        else:
            stretch = 1.0
        previous = g
        newton = h < 0
        step = -g / h * stretch if newton else np.copysign(max(1.0, 2.0 * abs(last)), g)
        newton = newton and stretch == 1.0
        if abs(step) > MAX_STEP:
            step, newton = np.copysign(MAX_STEP, step), False
        target = x + step
        if target >= b:
            target, newton = (0.5 * (x + b), False) if b_known else (hi, False)
        elif target <= a:
            target, newton = (0.5 * (x + a), False) if a_known else (lo, False)
        if newton and abs(target - x) < NEWTON_STEP:
            final = evaluate(target, 1, True)
            if abs(final.d1 / h) < FINAL_STEP:
                return final, None
        elif a_known and b_known and b - a < NEWTON_STEP**2:
            return evaluate(0.5 * (a + b), 1, True), None
        last, x = target - x, target
    raise RuntimeError("the leave-one-out null fit did not converge")


class DowndateScanner:
    """Fixed-γ scan of SNP blocks against a :class:`DowndateNull` (module notes): the columns of
    :class:`exactlmm.scan.Scanner` in fixed mode, from blocks rotated with the genome-wide
    spectrum (so :func:`exactlmm.scan.scan_imputed` and :func:`exactlmm.scan.scan` take it)."""

    refit = False

    def __init__(self, null: DowndateNull) -> None:
        self.null = null
        self.phenotype = null.phenotype
        self.spectrum = null.spectrum
        self.n = self.spectrum.n_samples
        self.dof = self.n - self.spectrum.n_covariates - 1
        if self.dof < 1:
            raise ValueError("no residual degrees of freedom left for the SNP")
        point = null.point
        self.psi = point.psi
        self.p = point.p
        self.gamma_prime = point.gamma_prime
        self.ypy = point.ypy
        solved = point.solved
        self.solved = null.downdate.scan_matrix(point) if solved is None else solved

    def scan_block(self, block: ImputedBlock) -> dict[str, np.ndarray]:
        """All statistics of :data:`exactlmm.io.results.ROW_COLUMNS` for one block."""
        return self.scan_rotated(rotate_block(self.spectrum, block))

    def scan_rotated(self, rotated: RotatedBlock) -> dict[str, np.ndarray]:
        """:meth:`scan_block` of a block rotated with the genome-wide spectrum."""
        m = rotated.n_snps
        a = rotated.x_rot @ self.p + residual_yx(rotated, self.phenotype)
        v = rotated.x_rot @ self.solved.T  # m × r
        b = rotated.x2 @ self.psi + self.gamma_prime * np.einsum("ij,ij->i", v, v)
        b += rotated.r_xx
        out = fixed_tests(a, b, np.full(m, self.ypy), self.n, self.dof)
        out["delta"] = np.full(m, self.null.delta)
        out["delta_ml"] = np.full(m, np.nan)
        return complete_rows(out, rotated)


# -- the choice of path ----------------------------------------------------------------------

#: Relative costs, in flops of a matrix product (GEMM) on this kind of machine (measured with
#: ``benchmarks/loco_downdate.py`` on 2 shared cores, N = 8,000: to within a factor of 1.5):
#: an n × n eigendecomposition with vectors (LAPACK dsyevd) costs about this many times n³, ...
EIGH_COST = 20.0
#: ... a thin SVD of an n × m matrix (dgesdd, n > m) this many times n m² (10 to 20), ...
SVD_COST = 15.0
#: ... a kinship update (dsyrk) this many times n² m, ...
SYRK_COST = 2.0
#: ... the capacitance's T once per chromosome this many times k r², ...
SCHUR_COST = 2.0
#: ... and a null fit by the downdate this many times k r² (three Newton iterates of two Gram
#: matrices and a triangular solve each, and the final point: 14.8 s at k = 8,000, r = 2,000).
DOWNDATE_FIT_COST = 22.0

LocoMethod = Literal["downdate", "eigendecomposition"]


@dataclass(frozen=True)
class LocoPlan:
    """How one chromosome's K₋c is handled, and why: ``method`` "downdate" (this module) or
    "eigendecomposition" (its own spectrum, as without the downdate); ``costs`` the modelled
    costs of both (GEMM flops) — what a record of the run states."""

    method: LocoMethod
    reason: str
    costs: dict[str, float]

    def record(self) -> dict:
        return {"method": self.method, "reason": self.reason,
                "costs": {name: float(value) for name, value in self.costs.items()}}


def plan_chromosome(
    n_samples: int,
    rank: int,
    n_snps: int,
    n_removed: int,
    n_scanned: int,
    *,
    refit: bool = False,
    fits: int = 1,
    rotation_shared: bool = True,
) -> LocoPlan:
    """Downdate or eigendecomposition for one chromosome, by the cost model of the module
    notes.

    Parameters
    ----------
    n_samples, rank:
        n, and k, the genome-wide spectrum's rank.
    n_snps, n_removed:
        M (all kinship SNPs) and r (those on the chromosome).
    n_scanned:
        m, the SNPs of the chromosome to scan.
    refit:
        Per-SNP refit: always the eigendecomposition (its grid GEMMs and Chebyshev series need
        K₋c's own eigenvalues; with the downdate each of its ~100 log γ points would cost a
        capacitance and an m × k × r GEMM).
    fits:
        Null fits per chromosome (REML, and ML for a saved model or the refit).
    rotation_shared:
        The chromosome's kinship SNPs are its scanned SNPs, rotated once for both (else the
        downdate rotates its r SNPs itself, 2 n k r).
    """
    n, k, m_rest, r = n_samples, rank, n_snps - n_removed, n_removed
    if m_rest >= n:
        per_chromosome = SYRK_COST * n * n * m_rest + EIGH_COST * n**3
    else:
        per_chromosome = SVD_COST * n * m_rest**2
    downdate = (SCHUR_COST + fits * DOWNDATE_FIT_COST) * k * r * r + 2.0 * k * r * n_scanned
    if not rotation_shared:
        downdate += 2.0 * n * k * r
    costs = {"downdate": downdate, "eigendecomposition": per_chromosome}
    if refit:
        return LocoPlan("eigendecomposition", "per-SNP refit needs K₋c's own spectrum", costs)
    if downdate < per_chromosome:
        return LocoPlan("downdate", f"r = {r} kinship SNPs on the chromosome: the downdate "
                        f"costs {downdate / per_chromosome:.2g} of the eigendecomposition", costs)
    return LocoPlan("eigendecomposition", f"r = {r} of M = {n_snps} kinship SNPs on the "
                    f"chromosome: the downdate would cost {downdate / per_chromosome:.2g} "
                    "times the eigendecomposition", costs)
