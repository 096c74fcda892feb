"""Association scan: Wald, likelihood-ratio and score tests for every SNP, in blocks.

Notes
-----
For a SNP g (dosage of allele a1, missing values mean-imputed) the alternative model adds g as
a fixed effect: X' = [X, g].  In the eigenbasis of :mod:`exactlmm.spectral` (x̃ = Wᵀg) and with
wᵢ = 1/(γsᵢ + 1), every statistic is a function of three weighted inner products

    a = gᵀPy = Σ wᵢ ỹᵢ x̃ᵢ + r_yx,   b = gᵀPg = Σ wᵢ x̃ᵢ² + r_xx,   C = yᵀPy = Σ wᵢ ỹᵢ² + r_yy

(r_·· the exact contributions of the zero-eigenvalue residual dimensions, where w = 1).  With
ν = n − c − 1 residual degrees of freedom and yᵀP'y = C − a²/b (P' the projection of the
alternative model):

* **Wald** (as GEMMA, FaST-LMM and PyLMM): β̂ = a/b, σ̂² = (C − a²/b)/ν, se = √(σ̂²/b),
  F = β̂²/se² ~ F(1, ν) (≡ two-sided t with ν df).
* **LRT**: 2(ML₁ − ML₀) ~ χ²(1), ML the profile ML likelihood.  At a common fixed γ this is
  n log(C / (C − a²/b)) (GEMMA's linear-model formula).
* **Score** (GEMMA's ``CalcRLScore``): F = n a² / (b C) ~ F(1, ν).

Fixed mode (default) evaluates everything at the null γ (FaST-LMM, PyLMM without refit): one
GEMM Wᵀ G per block, then elementwise work.

Refit mode (GEMMA ``-lmm 4``, PyLMM ``--refit``) re-estimates γ for every SNP:

* Wald, β̂, se at the SNP's REML γ, maximising
  REML₁(γ) = −½[ν log(C − a²/b) + Σ log(γsᵢ+1) + log b − log‖Sg‖²] + const
  (the REML of X' = [X, g], since log|Q₃ᵀHQ₃| = log|Q₂ᵀHQ₂| + log gᵀPg − log gᵀSg);
* LRT with the SNP's ML γ, ML₁(γ) = −½[n log(2π(C − a²/b)/n) + Σⱼ log(γdⱼ+1) + n], against
  the null ML fit;
* score at the null ML γ.

The per-SNP optimisation is vectorised over the block: the likelihood of every SNP is
evaluated on a grid of log γ with two GEMMs per grid (W_grid · (ỹ∘X̃) and W_grid · X̃²), then a
safeguarded Newton iteration (bisection when Newton leaves the bracket or the curvature is
not negative) runs on all unconverged SNPs at once with analytic first and second
derivatives in log γ.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.special

from .errors import InputError
from .likelihood import LOG_2PI
from .null import NullModel

#: Points of the per-SNP log γ grid (spacing 0.5 on GEMMA's range [1e-5, 1e5]).
REFIT_GRID = 47
#: Convergence tolerance on log γ of the per-SNP Newton iterations.
REFIT_TOL = 1e-9
REFIT_MAX_ITER = 100

STAT_COLUMNS = ("n", "af", "beta", "se", "p_wald", "p_lrt", "p_score", "delta", "delta_ml")


@dataclass(frozen=True)
class PreparedGenotypes:
    """A block of SNPs ready for the scan: mean-imputed, centred dosages and their summaries."""

    centred: np.ndarray
    n_called: np.ndarray
    af: np.ndarray
    variance: np.ndarray


def prepare_genotypes(dosages: np.ndarray) -> PreparedGenotypes:
    """Mean-impute missing dosages (NaN) per SNP and centre them.

    Centring changes no statistic (the intercept is always a covariate) but keeps the
    residual-dimension sums of the low-rank path free of cancellation.
    """
    g = np.array(dosages, dtype=float, copy=True)
    missing = np.isnan(g)
    n_called = (~missing).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_called > 0, np.nansum(g, axis=0) / np.maximum(n_called, 1), 0.0)
    g -= mean
    g[missing] = 0.0
    variance = (g * g).sum(axis=0) / g.shape[0]
    return PreparedGenotypes(g, n_called, mean / 2.0, variance)


class Scanner:
    """Scan SNP blocks against a fitted null model (see the module notes).

    Parameters
    ----------
    null:
        The null fit whose γ the fixed-mode tests use (REML by default).
    refit:
        Re-estimate γ per SNP (REML for Wald, ML for LRT), like GEMMA ``-lmm 4``.
    ml_null:
        The ML null fit (same spectrum, with kinship eigenvalues): needed in refit mode for the
        LRT and the score test.
    """

    def __init__(
        self, null: NullModel, *, refit: bool = False, ml_null: NullModel | None = None
    ) -> None:
        if refit and ml_null is None:
            raise ValueError("refit mode needs the ML null fit (ml_null)")
        self.null = null
        self.refit = refit
        self.ml_null = ml_null
        self.phenotype = null.phenotype
        spectrum = null.spectrum
        self.s = spectrum.eigenvalues
        self.d = spectrum.kinship_eigenvalues
        self.n = spectrum.n_samples
        self.c = spectrum.n_covariates
        self.dof = self.n - self.c - 1
        self.y_rot = self.phenotype.rotated
        self.y2 = self.y_rot**2
        self.r_yy = self.phenotype.residual_ss
        self.has_residual = spectrum.n_residual > 0
        lo, hi = null.log_delta_bounds
        self.log_gamma_bounds = (-hi, -lo)
        if self.dof < 1:
            raise ValueError("no residual degrees of freedom left for the SNP")

    # -- per-block entry point -------------------------------------------------------------
    def scan_block(self, prepared: PreparedGenotypes) -> dict[str, np.ndarray]:
        """All statistics of :data:`STAT_COLUMNS` for one block of prepared SNPs."""
        spectrum = self.null.spectrum
        x_rot, x_proj = spectrum.rotate(prepared.centred)  # the one GEMM of the block
        p_yx = self.y_rot[:, None] * x_rot
        x2 = x_rot * x_rot
        if self.has_residual:
            r_yx = self.phenotype.projected @ x_proj - self.y_rot @ x_rot
            r_xx = np.einsum("ij,ij->j", x_proj, x_proj) - x2.sum(axis=0)
        else:
            r_yx = np.zeros(x_rot.shape[1])
            r_xx = np.zeros(x_rot.shape[1])
        block = _Block(p_yx, x2, r_yx, r_xx)
        m = x_rot.shape[1]
        out: dict[str, np.ndarray] = {
            "n": prepared.n_called.astype(np.int64),
            "af": prepared.af,
        }
        if not self.refit:
            gamma = np.full(m, self.null.gamma)
            a, b, c = self._sums(gamma, block)
            out.update(_wald(a, b, c, self.dof))
            out["p_lrt"] = _lrt_fixed(a, b, c, self.n)
            out["p_score"] = _score(a, b, c, self.n, self.dof)
            out["delta"] = np.full(m, self.null.delta)
            out["delta_ml"] = np.full(m, np.nan)
            return out
        assert self.ml_null is not None
        t_reml = self._optimise(block, "REML")
        a, b, c = self._sums(np.exp(t_reml), block)
        out.update(_wald(a, b, c, self.dof))
        t_ml = self._optimise(block, "ML")
        gamma_ml = np.exp(t_ml)
        a, b, c = self._sums(gamma_ml, block)
        q = np.maximum(c - a * a / b, np.finfo(float).tiny)
        logdet = np.log1p(np.multiply.outer(self.d, gamma_ml)).sum(axis=0)
        ml_alt = -0.5 * (self.n * (LOG_2PI + np.log(q / self.n)) + logdet + self.n)
        lrt = np.maximum(2.0 * (ml_alt - self.ml_null.loglik), 0.0)
        out["p_lrt"] = scipy.special.chdtrc(1, lrt)
        a, b, c = self._sums(np.full(m, self.ml_null.gamma), block)
        out["p_score"] = _score(a, b, c, self.n, self.dof)
        out["delta"] = np.exp(-t_reml)
        out["delta_ml"] = np.exp(-t_ml)
        return out

    # -- weighted inner products -------------------------------------------------------------
    def _sums(self, gamma: np.ndarray, block: _Block) -> tuple[np.ndarray, ...]:
        """a, b, C of the module notes at one γ per SNP."""
        w = 1.0 / (np.multiply.outer(self.s, gamma) + 1.0)
        a = np.einsum("ij,ij->j", w, block.p_yx) + block.r_yx
        b = np.einsum("ij,ij->j", w, block.x2) + block.r_xx
        c = self.y2 @ w + self.r_yy
        return a, b, c

    def _grid_loglik(self, block: _Block, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Profile log-likelihood (up to constants) of every SNP on the log γ grid (GEMMs)."""
        t = np.linspace(*self.log_gamma_bounds, REFIT_GRID)
        gamma = np.exp(t)
        w = 1.0 / (np.multiply.outer(gamma, self.s) + 1.0)  # G × k
        a = w @ block.p_yx + block.r_yx
        b = w @ block.x2 + block.r_xx
        c = (w @ self.y2 + self.r_yy)[:, None]
        q = np.maximum(c - a * a / b, np.finfo(float).tiny)
        if kind == "REML":
            logdet = np.log1p(np.multiply.outer(gamma, self.s)).sum(axis=1)
            f = -0.5 * (self.dof * np.log(q) + logdet[:, None] + np.log(b))
        else:
            logdet = np.log1p(np.multiply.outer(gamma, self.d)).sum(axis=1)
            f = -0.5 * (self.n * np.log(q) + logdet[:, None])
        return t, f

    def _derivatives(
        self, t: np.ndarray, block: _Block, kind: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """First and second derivatives of the per-SNP profile likelihood in t = log γ.

        With w' = −s w², w'' = 2s²w³ the γ-derivatives of a, b, C follow termwise; then
        Q = C − a²/b, Q' = C' − 2aa'/b + a²b'/b²,
        Q'' = C'' − 2(a'² + aa'')/b + (4aa'b' + a²b'')/b² − 2a²b'²/b³, and
        REML: f' = −½[νQ'/Q + Σ sw + b'/b], f'' = −½[ν(Q''/Q − (Q'/Q)²) − Σ s²w² + b''/b − (b'/b)²]
        ML:   f' = −½[nQ'/Q + Σ d/(γd+1)],  f'' = −½[n(Q''/Q − (Q'/Q)²) − Σ d²/(γd+1)²].
        In t: F_t = γf', F_tt = γf' + γ²f''.
        """
        gamma = np.exp(t)
        w = 1.0 / (np.multiply.outer(self.s, gamma) + 1.0)
        sw = self.s[:, None] * w
        w1 = -sw * w
        w2 = -2.0 * sw * w1
        a = np.einsum("ij,ij->j", w, block.p_yx) + block.r_yx
        b = np.einsum("ij,ij->j", w, block.x2) + block.r_xx
        c = self.y2 @ w + self.r_yy
        a1 = np.einsum("ij,ij->j", w1, block.p_yx)
        b1 = np.einsum("ij,ij->j", w1, block.x2)
        c1 = self.y2 @ w1
        a2 = np.einsum("ij,ij->j", w2, block.p_yx)
        b2 = np.einsum("ij,ij->j", w2, block.x2)
        c2 = self.y2 @ w2
        q = np.maximum(c - a * a / b, np.finfo(float).tiny)
        q1 = c1 - 2.0 * a * a1 / b + a * a * b1 / b**2
        q2 = (
            c2
            - 2.0 * (a1 * a1 + a * a2) / b
            + (4.0 * a * a1 * b1 + a * a * b2) / b**2
            - 2.0 * a * a * b1 * b1 / b**3
        )
        if kind == "REML":
            f1 = -0.5 * (self.dof * q1 / q + sw.sum(axis=0) + b1 / b)
            f2 = -0.5 * (
                self.dof * (q2 / q - (q1 / q) ** 2)
                - np.einsum("ij,ij->j", sw, sw)
                + b2 / b
                - (b1 / b) ** 2
            )
        else:
            dw = self.d[:, None] / (np.multiply.outer(self.d, gamma) + 1.0)
            f1 = -0.5 * (self.n * q1 / q + dw.sum(axis=0))
            f2 = -0.5 * (self.n * (q2 / q - (q1 / q) ** 2) - np.einsum("ij,ij->j", dw, dw))
        return gamma * f1, gamma * f1 + gamma * gamma * f2

    def _optimise(self, block: _Block, kind: str) -> np.ndarray:
        """Per-SNP argmax of the REML or ML profile likelihood in t = log γ (vectorised)."""
        t_grid, f = self._grid_loglik(block, kind)
        m = f.shape[1]
        cols = np.arange(m)
        j = np.argmax(f, axis=0)
        jl = np.maximum(j - 1, 0)
        jh = np.minimum(j + 1, t_grid.size - 1)
        lo, hi = t_grid[jl].copy(), t_grid[jh].copy()
        # Start at the vertex of the parabola through the three grid points (interior maxima).
        t = t_grid[j].copy()
        interior = (j > 0) & (j < t_grid.size - 1)
        fl, fm, fh = f[jl, cols], f[j, cols], f[jh, cols]
        curvature = fl - 2.0 * fm + fh
        with np.errstate(invalid="ignore", divide="ignore"):
            shift = 0.5 * (t_grid[1] - t_grid[0]) * (fl - fh) / curvature
        ok = interior & (curvature < 0) & np.isfinite(shift)
        t[ok] += np.clip(shift[ok], -0.5 * (t_grid[1] - t_grid[0]), 0.5 * (t_grid[1] - t_grid[0]))
        active = cols
        for _ in range(REFIT_MAX_ITER):
            if active.size == 0:
                break
            sub = block if active.size == m else block.take(active)
            ta = t[active]
            ft, ftt = self._derivatives(ta, sub, kind)
            rising = ft > 0
            lo[active] = np.where(rising, ta, lo[active])
            hi[active] = np.where(rising, hi[active], ta)
            with np.errstate(invalid="ignore", divide="ignore"):
                tn = np.where(ftt < 0, ta - ft / ftt, np.nan)
            outside = ~np.isfinite(tn) | (tn <= lo[active]) | (tn >= hi[active])
            tn = np.where(outside, 0.5 * (lo[active] + hi[active]), tn)
            done = (np.abs(tn - ta) < REFIT_TOL) | (hi[active] - lo[active] < REFIT_TOL)
            t[active] = tn
            active = active[~done]
        return np.clip(t, *self.log_gamma_bounds)


@dataclass(frozen=True)
class _Block:
    """Rotated products of one block: ỹ∘X̃, X̃∘X̃ and the residual-dimension terms."""

    p_yx: np.ndarray
    x2: np.ndarray
    r_yx: np.ndarray
    r_xx: np.ndarray

    def take(self, columns: np.ndarray) -> _Block:
        return _Block(
            self.p_yx[:, columns], self.x2[:, columns], self.r_yx[columns], self.r_xx[columns]
        )


def _wald(a: np.ndarray, b: np.ndarray, c: np.ndarray, dof: int) -> dict[str, np.ndarray]:
    beta = a / b
    q = np.maximum(c - a * beta, np.finfo(float).tiny)
    se = np.sqrt(q / dof / b)
    f_stat = (beta / se) ** 2
    return {"beta": beta, "se": se, "p_wald": scipy.special.fdtrc(1, dof, f_stat)}


def _lrt_fixed(a: np.ndarray, b: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    q = np.maximum(c - a * a / b, np.finfo(float).tiny)
    return scipy.special.chdtrc(1, n * (np.log(c) - np.log(q)))


def _score(a: np.ndarray, b: np.ndarray, c: np.ndarray, n: int, dof: int) -> np.ndarray:
    return scipy.special.fdtrc(1, dof, n * a * a / (b * c))


def scan(
    scanner: Scanner,
    blocks: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    snp_ids: np.ndarray | None = None,
    source: object | None = None,
    progress: bool = False,
    total: int | None = None,
) -> dict[str, np.ndarray]:
    """Run ``scanner`` over ``(snp_positions, dosages)`` blocks; concatenate the statistics.

    A monomorphic SNP (no variance among the analysed samples) is an :class:`InputError`
    naming ``source`` and the SNP: its statistics are undefined.  Filter with a MAF threshold.
    """
    pieces: list[dict[str, np.ndarray]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="SNP", desc="scan", disable=None, mininterval=0.5)
    try:
        for positions, dosages in blocks:
            prepared = prepare_genotypes(dosages)
            flat = np.flatnonzero(prepared.variance <= 1e-12)
            if flat.size:
                first = positions[flat[0]]
                name = snp_ids[first] if snp_ids is not None else f"#{first}"
                raise InputError(
                    f"{flat.size} monomorphic SNP(s) among the analysed samples (first: "
                    f"{name}); drop them, e.g. with --maf 0.01",
                    source,
                )
            pieces.append(scanner.scan_block(prepared))
            if bar is not None:
                bar.update(len(positions))
    finally:
        if bar is not None:
            bar.close()
    if not pieces:
        return {name: np.empty(0) for name in STAT_COLUMNS}
    return {name: np.concatenate([p[name] for p in pieces]) for name in STAT_COLUMNS}


def iterate_blocks(dosages: np.ndarray, block_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Split an in-memory n × M dosage matrix into ``(positions, block)`` pieces."""
    m = dosages.shape[1]
    for start in range(0, m, block_size):
        stop = min(start + block_size, m)
        yield np.arange(start, stop), dosages[:, start:stop]
