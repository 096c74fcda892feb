"""Spectral decomposition of the kinship in the space orthogonal to the covariates.

Notes
-----
The model is y = Xβ + g + e with g ~ N(0, σg² K) and e ~ N(0, σe² I).  Write γ = σg²/σe² and
H = γK + I, so that Var(y) = σe² H.

Let Q (n × c) be an orthonormal basis of the column space of X and Q₂ (n × (n−c)) one of its
orthogonal complement, so that S = I − XX⁺ = I − QQᵀ = Q₂Q₂ᵀ.  Everything REML needs is a
function of Q₂ᵀ K Q₂ (the kinship "with the covariates projected out", FaST-LMM's ``lmm_cov``):

    Q₂ᵀ K Q₂ = U diag(s) Uᵀ,   W = Q₂ U  (n × k, orthonormal columns, Wᵀ X = 0).

Two ways to get (W, s):

* **full rank** (:func:`spectrum_from_kinship`): eigh of the n × n matrix S K S − τ Q Qᵀ.
  On col(X) it acts as −τ (τ = tr(K)/n > 0), on the complement as Q₂ᵀKQ₂ ≥ 0, so the c lowest
  eigenpairs are exactly the covariate directions and the other n − c are (s, W).  k = n − c.
* **low rank** (:func:`spectrum_from_genotypes`), for K = Z Zᵀ / M with M < n standardised SNPs:
  thin SVD of S Z = W Σ Vᵀ, s = σ² / M; k = rank(SZ) ≤ M.  The remaining n − c − k directions of
  the complement have eigenvalue 0 and are handled exactly without being formed: for any
  vectors a, b, their contribution to a weighted inner product Σᵢ f(sᵢ) ãᵢ b̃ᵢ is
  f(0) · ((Sa)ᵀ(Sb) − (Wᵀa)ᵀ(Wᵀb)).

Both give the same likelihoods and test statistics when both apply (tested).

ML also needs log|H| over all of Rⁿ.  In the orthonormal basis [Q, W, W⊥] (W⊥ the
zero-eigenvalue rest of the complement, where K vanishes: K W⊥ = 0 for a PSD K) K has the blocks
A = QᵀKQ (c × c), B = WᵀKQ (k × c) and diag(s), so that

    log|H| = Σᵢ log(γsᵢ + 1) + log|S(γ)|,   S(γ) = I + γA − γ² Bᵀ diag(1/(γs + 1)) B,

the Schur complement of the eigen-block (:meth:`Spectrum.logdet_h`).  Writing
γ²/(γsᵢ+1) = γ/sᵢ − γ/(sᵢ(γsᵢ+1)) for the eigenvalues that are not tiny gives the form used,
S(γ) = I + γT + γ Σ_big BᵢBᵢᵀ/(sᵢ(γsᵢ+1)) − γ² Σ_tiny BᵢBᵢᵀ/(γsᵢ+1) with
T = A − Σ_big BᵢBᵢᵀ/sᵢ, the Schur complement of K itself (PSD when K is; its small negative
rounding is clipped at 0, as K's eigenvalues were), in which nothing cancels as γ grows.  So
neither the n eigenvalues of K (a second O(n³) decomposition) nor K itself is needed after the
spectrum: K v = Q(AQᵀv + BᵀWᵀv) + W(BQᵀv + s∘Wᵀv) (:meth:`Spectrum.kinship_matvec`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .blas import gesdd, syevd, syr2k
from .errors import InputError

#: Relative size below which an eigenvalue of K is treated as zero (and a negative one is noise).
EIGENVALUE_TOLERANCE = 1e-8


@dataclass(frozen=True)
class Spectrum:
    """Eigen-decomposition of Q₂ᵀKQ₂ (see the module notes).

    Attributes
    ----------
    basis:
        W, n × k with orthonormal columns, orthogonal to the covariates.
    eigenvalues:
        s, the k eigenvalues of Q₂ᵀKQ₂ belonging to ``basis`` (clipped at 0).
    covariate_basis:
        Q, n × c orthonormal basis of col(X).
    logdet_xtx:
        log|XᵀX| (enters REML as +½ log|XᵀX|, GEMMA's and FaST-LMM's convention).
    kinship_eigenvalues:
        All n eigenvalues d of K itself, when attached by :meth:`with_kinship_eigenvalues`
        (which checks them); ML's log|H| comes from ``kinship_blocks`` whenever they are known.
    kinship_blocks:
        (A, B) = (QᵀKQ, WᵀKQ), the rest of K in the basis [Q, W] (module notes): what ML's
        log|H| and K v need.
    source:
        The file K came from, named in errors found later (ML on an indefinite K).
    """

    basis: np.ndarray
    eigenvalues: np.ndarray
    covariate_basis: np.ndarray
    logdet_xtx: float
    kinship_eigenvalues: np.ndarray | None = field(default=None, repr=False)
    kinship_blocks: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    source: object | None = field(default=None, repr=False)

    @property
    def n_samples(self) -> int:
        return self.basis.shape[0]

    @property
    def n_covariates(self) -> int:
        return self.covariate_basis.shape[1]

    @property
    def rank(self) -> int:
        """k, the number of explicit eigenpairs."""
        return self.basis.shape[1]

    @property
    def n_residual(self) -> int:
        """n − c − k: dimensions of the complement where the eigenvalue is exactly 0."""
        return self.n_samples - self.n_covariates - self.rank

    def rotate(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rotate a vector or n × m block into the eigenbasis.

        Returns ``(Wᵀa, Sa)``: the k rotated coordinates and, when there are zero-eigenvalue
        residual dimensions, the projected vectors Sa = a − Q(Qᵀa) that the residual terms need
        (``None`` on the full-rank path, where there are none).
        """
        rotated = self.basis.T @ values
        if self.n_residual == 0:
            return rotated, None
        return rotated, self.project(values)

    def rotate_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`rotate` of vectors given as the rows of an m × n array (one SNP per row, the
        layout of decoded genotypes): ``(rows·W, rows·S)``, m × k and m × n (``None`` on the
        full-rank path)."""
        rotated = rows @ self.basis
        if self.n_residual == 0:
            return rotated, None
        q = self.covariate_basis
        return rotated, rows - (rows @ q) @ q.T

    def project(self, values: np.ndarray) -> np.ndarray:
        """Sa = a − Q(Qᵀa): the part of a vector or n × m block orthogonal to the covariates."""
        q = self.covariate_basis
        return values - q @ (q.T @ values)

    def with_kinship_eigenvalues(
        self, eigenvalues: np.ndarray, path: object | None = None
    ) -> Spectrum:
        """Copy of this spectrum carrying the eigenvalues of the full K (for ML).

        A clearly negative eigenvalue (below −1e-6 × the largest) is an error even when its
        direction lies in col(X), where REML cannot see it: ML's log|H| would be wrong.
        """
        values = np.sort(np.asarray(eigenvalues, dtype=float))
        if values.shape != (self.n_samples,):
            raise ValueError(
                f"expected {self.n_samples} kinship eigenvalues, got {values.shape}"
            )
        if values[0] < -1e-6 * max(values[-1], 0.0):
            raise InputError(
                f"kinship is not positive semi-definite (eigenvalue {values[0]:.3g}, largest "
                f"{values[-1]:.3g})",
                path,
            )
        values = np.clip(values, 0.0, None)
        return dataclasses.replace(self, kinship_eigenvalues=values)

    def logdet_h(self, gamma: np.ndarray | float) -> np.ndarray:
        """log|H| = log|γK + I| at each γ (vectorised), from the Schur complement of the
        module notes; raises :class:`InputError` (naming :attr:`source`) when K is clearly
        indefinite inside col(X), where REML cannot see it but ML's log|H| would be wrong."""
        g = np.atleast_1d(np.asarray(gamma, dtype=float))
        logdet = np.log1p(np.multiply.outer(g, self.eigenvalues)).sum(axis=1)
        if self.kinship_blocks is None:
            if self.kinship_eigenvalues is None:
                raise ValueError("ML needs K beyond its projection: build the spectrum with "
                                 "spectrum_from_kinship/spectrum_from_genotypes")
            return np.log1p(np.multiply.outer(g, self.kinship_eigenvalues)).sum(axis=1)
        sign, value = np.linalg.slogdet(self.covariate_schur(g))
        if np.any(sign <= 0):
            raise InputError("kinship is not positive semi-definite: γK + I is singular at "
                             f"γ = {g[np.argmax(sign <= 0)]:.3g} (ML needs log|γK + I|)",
                             self.source)
        return logdet + value

    def covariate_schur(self, gamma: np.ndarray | float) -> np.ndarray:
        """S(γ) = I + γA − γ²Bᵀdiag(1/(γs + 1))B, the Schur complement of the eigen-block of
        H = γK + I in the basis [Q, W] (module notes), at each γ: a G × c × c array, in the
        form in which nothing cancels as γ grows (needs :attr:`kinship_blocks`)."""
        g = np.atleast_1d(np.asarray(gamma, dtype=float))
        t, b_big, s_big, b_tiny, s_tiny = self._schur_parts()
        c = t.shape[0]
        outer_big = (b_big[:, :, None] * b_big[:, None, :]).reshape(b_big.shape[0], c * c)
        outer_tiny = (b_tiny[:, :, None] * b_tiny[:, None, :]).reshape(b_tiny.shape[0], c * c)
        big = (1.0 / (s_big * (np.multiply.outer(g, s_big) + 1.0))) @ outer_big
        tiny = (1.0 / (np.multiply.outer(g, s_tiny) + 1.0)) @ outer_tiny
        return (np.eye(c).ravel() + np.multiply.outer(g, t.ravel()) + g[:, None] * big
                - (g * g)[:, None] * tiny).reshape(g.size, c, c)

    def _schur_parts(self) -> tuple[np.ndarray, ...]:
        """T (c × c, clipped PSD), and B, s split into the eigenvalues that are not tiny and the
        tiny ones (≤ 1e-8 × the largest), for :meth:`logdet_h`."""
        a, b = self.kinship_blocks
        s = self.eigenvalues
        big = s > EIGENVALUE_TOLERANCE * max(float(s.max(initial=0.0)), 1e-300)
        t = a - (b[big] / s[big, None]).T @ b[big]
        t = 0.5 * (t + t.T)
        values, vectors = np.linalg.eigh(t)
        scale = max(float(s.max(initial=0.0)), float(np.abs(a).max(initial=0.0)))
        if values[0] < -1e-6 * scale:
            raise InputError(
                f"kinship is not positive semi-definite (its Schur complement on the "
                f"covariates has eigenvalue {values[0]:.3g}, K's largest is about "
                f"{scale:.3g}); ML needs log|γK + I|",
                self.source,
            )
        t = (vectors * np.clip(values, 0.0, None)) @ vectors.T
        return t, b[big], s[big], b[~big], s[~big]

    def kinship_matvec(self, v: np.ndarray) -> np.ndarray:
        """K v from the spectrum and the blocks (module notes), without K."""
        if self.kinship_blocks is None:
            raise ValueError("this spectrum carries no kinship blocks")
        a, b = self.kinship_blocks
        q, w = self.covariate_basis, self.basis
        qv, wv = q.T @ v, w.T @ v
        return q @ (a @ qv + b.T @ wv) + w @ (b @ qv + self.eigenvalues * wv)


def covariate_basis(covariates: np.ndarray, path: object | None = None) -> tuple[np.ndarray, float]:
    """Orthonormal basis Q of col(X) and log|XᵀX|, from a thin QR of X = QR.

    log|XᵀX| = 2 Σ log|Rᵢᵢ|.  A rank-deficient X (collinear covariates, or a covariate that
    repeats the intercept) is an error: the REML constant and the degrees of freedom n − c would
    be wrong.
    """
    x = np.asarray(covariates, dtype=float)
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError("the covariate matrix needs at least one column (the intercept)", path)
    if not np.all(np.isfinite(x)):
        raise InputError("covariates contain missing or non-finite values", path)
    q, r = np.linalg.qr(x)
    diag = np.abs(np.diag(r))
    scale = max(float(np.max(np.linalg.norm(x, axis=0))), 1.0)
    if np.any(diag <= 1e-10 * scale):
        raise InputError(
            "covariates are collinear (the covariate matrix, intercept included, is rank "
            "deficient); drop the redundant column — the intercept is added automatically",
            path,
        )
    return q, float(2.0 * np.sum(np.log(diag)))


def spectrum_from_kinship(
    kinship: np.ndarray,
    covariates: np.ndarray,
    path: object | None = None,
    *,
    overwrite: bool = False,
) -> Spectrum:
    """Full-rank path: eigh of S K S − τQQᵀ (see the module notes).

    Raises :class:`InputError` when K is not symmetric positive semi-definite or is zero on the
    space orthogonal to the covariates (then σg² is not identifiable: a singular kinship).

    Memory: with ``overwrite`` (the caller no longer needs K) the matrix is transformed and
    decomposed in K's own buffer (LAPACK ``dsyevd`` in place, plus its 2n² workspace:
    :mod:`exactlmm.blas`), so the peak is 3n² doubles; otherwise one n × n copy is made first.
    Only K's upper triangle is read (K is symmetric).
    """
    k = np.asarray(kinship, dtype=float)
    n = k.shape[0]
    if k.shape != (n, n):
        raise InputError(f"kinship must be square, got shape {k.shape}", path)
    if not _all_finite(k):
        raise InputError("kinship contains non-finite values", path)
    q, logdet_xtx = covariate_basis(covariates)
    if q.shape[0] != n:
        raise InputError(f"kinship has {n} rows but there are {q.shape[0]} samples", path)
    c = q.shape[1]
    if n - c < 2:
        raise InputError(f"{n} samples leave {n - c} residual degrees of freedom", path)
    tau = float(np.trace(k)) / n
    if not tau > 0:
        raise InputError("kinship is singular: its trace is not positive", path)
    kq = k @ q
    qkq = 0.5 * (q.T @ kq + kq.T @ q)
    # K is symmetric, so a C-ordered K is also its own Fortran-ordered transpose.
    a = k.T if k.flags.c_contiguous else k
    if not (overwrite and a.flags.f_contiguous and a.flags.writeable):
        a = np.array(k, dtype=float, order="F")
    # S K S − τQQᵀ = K + Q Bᵀ + B Qᵀ with B = ½Q(QᵀKQ − τI) − KQ: one rank-2c update in place.
    update = q @ (0.5 * (qkq - tau * np.eye(c))) - kq
    syr2k(1.0, q, update, 1.0, a)
    try:
        values = syevd(a)  # the eigenvectors overwrite a
    except np.linalg.LinAlgError as err:
        raise InputError(f"the eigendecomposition of the kinship failed ({err})", path) from None
    s = values[c:]
    w = a[:, c:]
    s = _checked_eigenvalues(s, tau, path)
    return Spectrum(w, s, q, logdet_xtx, kinship_blocks=(qkq, w.T @ kq), source=path)


def _all_finite(k: np.ndarray, rows: int = 1024) -> bool:
    """Whether every entry is finite, checked a slab of rows at a time (no n × n temporary)."""
    return all(np.isfinite(k[i : i + rows]).all() for i in range(0, k.shape[0], rows))


def spectrum_from_genotypes(
    standardized: np.ndarray,
    n_snps: int,
    covariates: np.ndarray,
    path: object | None = None,
    *,
    overwrite: bool = False,
    column_block: int = 512,
) -> Spectrum:
    """Low-rank path for K = Z Zᵀ / M: thin SVD of S Z (see the module notes).

    Parameters
    ----------
    standardized:
        Z, n × M standardized genotypes (the SNPs that define K).
    n_snps:
        The divisor M of K = Z Zᵀ / M (normally ``standardized.shape[1]``).
    covariates:
        X, n × c, the intercept included.
    overwrite:
        The caller no longer needs Z: S Z is formed in Z's buffer (a Fortran-ordered float64
        array) and the SVD's left singular vectors overwrite it, so the peak is one n × M
        array plus Vᵀ and LAPACK's workspace (about 6 M² doubles when n ≥ 11M/6, measured);
        otherwise Z is copied first.
    column_block:
        Columns of Z projected at a time (the only other n-row temporary).

    What ML needs of the full K (module notes) is attached: QᵀKQ and WᵀKQ, from Zᵀ Q, so K v
    comes from the spectrum (:meth:`Spectrum.kinship_matvec`) and Z is not needed afterwards.
    """
    z = np.asarray(standardized, dtype=float)
    n, m = z.shape
    q, logdet_xtx = covariate_basis(covariates)
    if q.shape[0] != n:
        raise InputError(f"genotypes have {n} rows but there are {q.shape[0]} samples", path)
    if n - q.shape[1] < 2:
        raise InputError(f"{n} samples leave {n - q.shape[1]} residual degrees of freedom", path)
    tau = float(np.einsum("ij,ij->", z, z)) / (n * n_snps)  # tr(K)/n, the scale of K
    ztq = z.T @ q
    kq = z @ ztq / n_snps
    qkq = 0.5 * (q.T @ kq + kq.T @ q)
    if not (overwrite and z.flags.f_contiguous and z.flags.writeable and n >= m):
        z = np.array(z, dtype=float, order="F")
    for start in range(0, m, column_block):  # S Z = Z − Q (QᵀZ), in place
        columns = z[:, start : start + column_block]
        columns -= q @ ztq[start : start + column_block].T
    if n >= m:
        sv, _ = gesdd(z)  # U overwrites S Z (LAPACK dgesdd, JOBZ = 'O')
        u = z
    else:  # wide: fewer samples than SNPs (not the low-rank use, but allowed)
        u, sv, _ = np.linalg.svd(z, full_matrices=False)
    del z
    s = sv**2 / n_snps
    keep = s > EIGENVALUE_TOLERANCE * tau
    if not np.any(keep):
        raise InputError(
            "kinship is singular: it is zero once the covariates are projected out", path
        )
    # eigh order (ascending) for the explicit pairs, to match the full-rank path: σ comes
    # descending, so the kept pairs are the leading columns, reversed in place.
    rank = int(np.count_nonzero(keep))
    w = u[:, :rank]
    _reverse_columns(w)
    return Spectrum(w, s[:rank][::-1].copy(), q, logdet_xtx, kinship_blocks=(qkq, w.T @ kq),
                    source=path)


def _reverse_columns(a: np.ndarray) -> None:
    """Reverse the order of the columns of a Fortran array in place (one column of scratch)."""
    k = a.shape[1]
    scratch = np.empty(a.shape[0])
    for i in range(k // 2):
        j = k - 1 - i
        scratch[:] = a[:, i]
        a[:, i] = a[:, j]
        a[:, j] = scratch


def kinship_eigenvalues(kinship: np.ndarray) -> np.ndarray:
    """All eigenvalues of K (ascending), for the ML log-determinant; O(n³) without vectors."""
    import scipy.linalg

    return scipy.linalg.eigvalsh(np.asarray(kinship, dtype=float), check_finite=False)


def _checked_eigenvalues(s: np.ndarray, tau: float, path: object | None) -> np.ndarray:
    """Eigenvalues of Q₂ᵀKQ₂, checked against τ = tr(K)/n, the scale of K."""
    top = float(s.max(initial=0.0))
    if top <= EIGENVALUE_TOLERANCE * tau:
        raise InputError(
            "kinship is singular: it is zero once the covariates are projected out", path
        )
    low = float(s.min())
    if low < -1e-6 * top:
        raise InputError(
            f"kinship is not positive semi-definite (eigenvalue {low:.3g}, largest {top:.3g})",
            path,
        )
    return np.clip(s, 0.0, None)
