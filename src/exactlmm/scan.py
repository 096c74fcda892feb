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

Untestable SNPs get a row with NA statistics and a reason (``errcode``, PLINK 2's
``ERRCODE``): ``NO_CALLS`` and ``MONOMORPHIC`` by the rule of :mod:`exactlmm.dosage`, and
``COLLINEAR`` when the SNP's part outside col(X) is (nearly) nothing, ‖Sg‖² ≤
:data:`COLLINEAR_TOLERANCE` · ‖g − ḡ‖² (e.g. the SNP is also a covariate).  Their columns are
neutralised before any arithmetic (x̃ ← 0, x̃² ← 1, residual terms ← 0, so a = 0 and b > 0),
so neither the fixed-mode formulas nor the refit series and Newton steps see 0/0 — no warning,
and the other SNPs of the block are untouched.  Nothing raises because of a SNP.

Fixed mode (default) evaluates everything at the null γ (FaST-LMM, PyLMM without refit): one
GEMM Wᵀ G per block, then elementwise work.

Refit mode (GEMMA ``-lmm 4``, PyLMM ``--refit``) re-estimates γ for every SNP:

* Wald, β̂, se at the SNP's REML γ, maximising
  REML₁(γ) = −½[ν log(C − a²/b) + Σ log(γsᵢ+1) + log b − log‖Sg‖²] + const
  (the REML of X' = [X, g], since log|Q₃ᵀHQ₃| = log|Q₂ᵀHQ₂| + log gᵀPg − log gᵀSg);
* LRT with the SNP's ML γ, ML₁(γ) = −½[n log(2π(C − a²/b)/n) + Σⱼ log(γdⱼ+1) + n], against
  the null ML fit;
* score at the null ML γ.

The per-SNP optimisation is vectorised over the block and BLAS-bound, in three steps.

1. **Grid.**  On the grid of :data:`REFIT_GRID` points t_g of t = log γ (GEMMA's range, spacing
   0.25) a(t_g) and b(t_g) of every SNP are two GEMMs, (W_grid∘ỹ)X̃ and W_grid X̃², with
   W_grid the G × k matrix of weights wᵢ(t_g) = 1/(e^{t_g}sᵢ + 1) (b's is shared by every
   phenotype scanned with the spectrum); C, log|Q₂ᵀHQ₂| and log|H| are exact scalars there.
   Each SNP's REML and ML profile likelihoods on the grid are then elementwise, and their
   maxima give a bracket [t_{j−1}, t_{j+1}] and a start (the vertex of the parabola through
   the three points).
2. **Local series.**  Every weight wᵢ(t) is analytic in the strip |Im t| < π around the real
   axis, whatever sᵢ (its poles are at t = −log sᵢ ± iπ), so on a bracket of half-width h its
   Chebyshev series of degree L converges like ρ⁻ᴸ with ρ = (π + √(h² + π²))/h ≈ 25.2 for
   h = 0.25: L = ⌈33/log ρ⌉ = 11 leaves ~5e-15.  With Φ_j the (L+1) × k Chebyshev
   coefficients of all the wᵢ on bracket j (Chebyshev–Lobatto interpolation), the series of
   a(t) and b(t) of the SNPs whose optimum lies in bracket j are Φ_j(ỹ∘X̃) and Φ_j X̃² on their
   columns (SNPs grouped by bracket: one small GEMM per bracket in use, REML and ML sharing
   a bracket computed once); C, log|Q₂ᵀHQ₂| and log|H| have scalar series per bracket.
3. **Newton.**  A safeguarded Newton iteration (bisection when Newton leaves the bracket or
   the curvature is not negative) runs on all unconverged SNPs at once with first and second
   t-derivatives of the series, each iteration O(L·m).  The statistics at each SNP's optimum
   are the series' values there (a, b, C and log|H|, each within ~1e-14 of its scale).

log|H| and K itself are not needed beyond the spectrum's Schur blocks
(:meth:`exactlmm.spectral.Spectrum.logdet_h`).

Several phenotypes with the same analysed samples share the spectrum: :func:`scan_imputed` rotates
each block once and hands the rotated block (:class:`RotatedBlock`) to each phenotype's
:class:`Scanner`; their refit tables (:class:`RefitTables`) are shared too.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .dosage import ImputedBlock, impute_center
from .io.results import (
    ERRCODE_DTYPE,
    PEER_STATISTIC_COLUMNS,
    ROW_COLUMNS,
    STATISTIC_COLUMNS,
    TESTED,
)
from .likelihood import LOG_2PI, RotatedPhenotype
from .null import NullModel
from .parallel import Workspace, chunks, run_parts
from .progress import progress_bar
from .spectral import Spectrum

#: Target truncation error e^(−33) ≈ 5e-15 of the local Chebyshev series in log γ (notes): the
#: degree is ⌈33 / log ρ⌉ for the widest bracket (11 on GEMMA's range with REFIT_GRID points).
CHEBYSHEV_LOG_ERROR = 33.0
#: A SNP whose part outside col(X) has ‖Sg‖² ≤ this × ‖g − ḡ‖² is untestable: NA statistics.
COLLINEAR_TOLERANCE = 1e-8
#: Points of the per-SNP starting grid of log γ (spacing 0.25 on GEMMA's range [1e-5, 1e5]).
REFIT_GRID = 93
#: Convergence tolerance on log γ of the per-SNP Newton iterations.
REFIT_TOL = 1e-9
REFIT_MAX_ITER = 100
#: A refit bracket with at least this many SNPs of a block (and an eighth of them) gets its
#: series coefficients from one GEMM over the whole block (:meth:`RefitTables.local_coefficients`).
MIN_FULL_BRACKET = 256

_TINY = np.finfo(float).tiny


@dataclass
class RotatedBlock:
    """One block of m SNPs in the eigenbasis of a spectrum: what every phenotype scanned with
    that spectrum uses (module notes).  One row per SNP (the layout of decoded genotypes, so
    that gathering SNPs copies rows).

    ``x_rot`` = X̃ᵀ = GᵀW (m × k) and ``x2`` = X̃ᵀ∘X̃ᵀ, with the untestable SNPs neutralised
    (x̃ ← 0, x̃² ← 1, ``r_xx`` ← 0); ``x_proj`` = (SG)ᵀ (m × n) when the spectrum has
    zero-eigenvalue residual dimensions, else ``None``; ``r_xx`` = ‖Sg‖² − ‖x̃‖² per SNP.
    """

    x_rot: np.ndarray
    x2: np.ndarray
    x_proj: np.ndarray | None
    r_xx: np.ndarray
    untestable: np.ndarray
    collinear: np.ndarray
    block: ImputedBlock
    cache: dict = field(default_factory=dict, repr=False)
    workspace: Workspace = field(default_factory=Workspace, repr=False)

    @property
    def n_snps(self) -> int:
        return int(self.x_rot.shape[0])


def rotate_block(spectrum: Spectrum, block: ImputedBlock, workspace: Workspace | None = None,
                 *, x_rot: np.ndarray | None = None) -> RotatedBlock:
    """:class:`RotatedBlock` of a block of imputed, centered SNPs (the one GEMM of the block).

    Centering changes no statistic (the intercept is a covariate) but keeps the
    residual-dimension sums free of cancellation.  With a ``workspace`` the block's arrays are
    its (valid until the next block).  ``x_rot``: the block's rotation GᵀW (m × k) when it was
    computed already (e.g. for a leave-one-chromosome-out downdate, :mod:`exactlmm.downdate`),
    copied instead of the GEMM; the caller's array is not changed."""
    workspace = Workspace() if workspace is None else workspace
    rows = block.centered.T
    m, k = rows.shape[0], spectrum.rank
    if x_rot is None:
        x_rot = np.matmul(rows, spectrum.basis, out=workspace.array("x_rot", (m, k)))
    else:
        if x_rot.shape != (m, k):
            raise ValueError(f"the block's rotation must be {m} × {k}, not {x_rot.shape}")
        given, x_rot = x_rot, workspace.array("x_rot", (m, k))
        np.copyto(x_rot, given)
    x_proj = None
    if spectrum.n_residual > 0:
        q = spectrum.covariate_basis
        x_proj = rows - (rows @ q) @ q.T
    x2 = workspace.array("x2", (m, k))
    x2_sum = np.empty(m)
    pieces = chunks(m)

    def square(part: int) -> None:  # x̃², and Σx̃² per SNP, a chunk of SNPs per thread
        rows_here = pieces[part]
        np.multiply(x_rot[rows_here], x_rot[rows_here], out=x2[rows_here])
        np.sum(x2[rows_here], axis=1, out=x2_sum[rows_here])

    run_parts(square, len(pieces))
    if x_proj is not None:
        sg2 = np.einsum("ij,ij->i", x_proj, x_proj)
        r_xx = np.maximum(sg2 - x2_sum, 0.0)
    else:
        sg2 = x2_sum
        r_xx = np.zeros(x_rot.shape[0])
    # A SNP (nearly) inside col(X) — e.g. also given as a covariate — has no part left to test
    # (a, b ≈ 0 would give β = 0/0); an untestable one (no call, monomorphic) is a zero column.
    # Both are neutralised here and get NA statistics.
    collinear = sg2 <= COLLINEAR_TOLERANCE * block.sum_sq
    untestable = collinear | ~block.testable
    if np.any(untestable):
        x_rot[untestable] = 0.0
        x2[untestable] = 1.0
        r_xx[untestable] = 0.0
    return RotatedBlock(x_rot, x2, x_proj, r_xx, untestable, collinear, block,
                        workspace=workspace)


class Scanner:
    """Scan SNP blocks against a fitted null model (see the module notes).

    Parameters
    ----------
    null:
        The null fit whose γ the fixed-mode tests use (REML by default).
    refit:
        Re-estimate γ per SNP (REML for Wald, ML for LRT), like GEMMA ``-lmm 4``.
    ml_null:
        The ML null fit (same spectrum): needed in refit mode for the LRT and the score test.
    tables:
        The refit tables of the spectrum (:class:`RefitTables`), to share them among the
        scanners of several phenotypes; built here when not given.
    """

    def __init__(
        self,
        null: NullModel,
        *,
        refit: bool = False,
        ml_null: NullModel | None = None,
        tables: RefitTables | None = None,
    ) -> None:
        if refit and ml_null is None:
            raise ValueError("refit mode needs the ML null fit (ml_null)")
        self.null = null
        self.refit = refit
        self.ml_null = ml_null
        self.phenotype = null.phenotype
        spectrum = null.spectrum
        self.spectrum = spectrum
        self.s = spectrum.eigenvalues
        if ml_null is not None and ml_null.spectrum.basis is not spectrum.basis:
            raise ValueError("the REML and ML null fits must share one spectrum")
        self.n = spectrum.n_samples
        self.c = spectrum.n_covariates
        self.dof = self.n - self.c - 1
        self.y_rot = self.phenotype.rotated
        self.y2 = self.y_rot**2
        self.r_yy = self.phenotype.residual_ss
        lo, hi = null.log_delta_bounds
        self.log_gamma_bounds = (-hi, -lo)
        if self.dof < 1:
            raise ValueError("no residual degrees of freedom left for the SNP")
        self.series: _PhenotypeSeries | None = None
        if refit:
            if tables is None:
                tables = RefitTables(spectrum, self.log_gamma_bounds)
            elif tables.spectrum is not spectrum or tables.bounds != self.log_gamma_bounds:
                raise ValueError("the refit tables belong to another spectrum or range")
            self.series = _PhenotypeSeries(tables, self)

    # -- per-block entry points ------------------------------------------------------------
    def scan_block(self, block: ImputedBlock) -> dict[str, np.ndarray]:
        """All statistics of :data:`exactlmm.io.results.ROW_COLUMNS` for one block of
        mean-imputed, centered SNPs (:func:`exactlmm.dosage.impute_center`)."""
        return self.scan_rotated(rotate_block(self.spectrum, block))

    def scan_rotated(self, rotated: RotatedBlock) -> dict[str, np.ndarray]:
        """:meth:`scan_block` of a block already rotated with this scanner's spectrum."""
        m = rotated.n_snps
        r_yx = residual_yx(rotated, self.phenotype)
        if not self.refit:
            a, b, c = self._sums_at(self.null.gamma, rotated, r_yx)
            out = fixed_tests(a, b, c, self.n, self.dof)
            out["delta"] = np.full(m, self.null.delta)
            out["delta_ml"] = np.full(m, np.nan)
        else:
            out = self._refit(rotated, r_yx)
        return complete_rows(out, rotated)

    # -- weighted inner products -------------------------------------------------------------
    def _sums_at(
        self, gamma: float, rotated: RotatedBlock, r_yx: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """a, b, C of the module notes at one γ shared by all SNPs: matrix-vector products."""
        w = 1.0 / (gamma * self.s + 1.0)
        a = rotated.x_rot @ (w * self.y_rot) + r_yx
        b = rotated.x2 @ w + rotated.r_xx
        c = np.full(a.shape, self.y2 @ w + self.r_yy)
        return a, b, c

    # -- refit -------------------------------------------------------------------------------
    def _refit(self, rotated: RotatedBlock, r_yx: np.ndarray) -> dict[str, np.ndarray]:
        assert self.ml_null is not None and self.series is not None
        series = self.series
        t_reml, t_ml, values_reml, values_ml = series.optimise(rotated, r_yx)
        a, b, c = values_reml
        out = _wald(a, b, c, self.dof)
        a, b, c, logdet_h = values_ml
        q = np.maximum(c - a * a / b, _TINY)
        ml_alt = -0.5 * (self.n * (LOG_2PI + np.log(q / self.n)) + logdet_h + self.n)
        lrt = np.maximum(2.0 * (ml_alt - self.ml_null.loglik), 0.0)
        out["p_lrt"] = chi2_1_sf(lrt)
        a, b, c = self._sums_at(self.ml_null.gamma, rotated, r_yx)
        out["p_score"] = _score(a, b, c, self.n, self.dof)
        out["delta"] = np.exp(-t_reml)
        out["delta_ml"] = np.exp(-t_ml)
        return out


class RefitTables:
    """What the per-SNP refit needs of a spectrum (module notes), for every phenotype scanned
    with it: the grid weights, the brackets and their local Chebyshev coefficients Φ_j, and the
    exact values and series of log|Q₂ᵀHQ₂| and log|H|.

    Bracket j is [t_{j−1}, t_{j+1}] (clipped at the ends of the grid): the interval the Newton
    iteration of a SNP whose grid maximum is t_j stays in.  On it t = mid_j + half_j·x,
    x ∈ [−1, 1], and a function f is interpolated at the L+1 Chebyshev–Lobatto points
    x_l = cos(πl/L) with coefficients c_k = (2/L) Σ_l'' f(x_l) cos(πlk/L) (first and last
    terms, and c₀, c_L, halved).
    """

    def __init__(self, spectrum: Spectrum, log_gamma_bounds: tuple[float, float],
                 degree: int | None = None) -> None:
        self.spectrum = spectrum
        self.bounds = (float(log_gamma_bounds[0]), float(log_gamma_bounds[1]))
        s = spectrum.eigenvalues
        grid = np.linspace(*self.bounds, REFIT_GRID)
        self.t_grid = grid
        self.step = grid[1] - grid[0]
        gamma = np.exp(grid)
        self.w_grid = 1.0 / (np.multiply.outer(gamma, s) + 1.0)  # G × k
        self.logdet_grid = np.log1p(np.multiply.outer(gamma, s)).sum(axis=1)
        self.logdet_h_grid = spectrum.logdet_h(gamma)
        j = np.arange(grid.size)
        lo, hi = grid[np.maximum(j - 1, 0)], grid[np.minimum(j + 1, grid.size - 1)]
        self.mid, self.half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        if degree is None:
            h = float(self.half.max())
            rho = (np.pi + np.hypot(h, np.pi)) / h  # Bernstein ellipse of the widest bracket
            degree = max(4, int(np.ceil(CHEBYSHEV_LOG_ERROR / np.log(rho))))
        self.degree = degree
        k = np.arange(degree + 1)
        halve = np.where((k == 0) | (k == degree), 0.5, 1.0)
        self.transform = (2.0 / degree) * np.cos(np.pi * np.outer(k, k) / degree)
        self.transform *= halve[:, None] * halve[None, :]
        node_gamma = np.exp(self.mid[:, None] + self.half[:, None] * np.cos(np.pi * k / degree))
        weights = 1.0 / (node_gamma[:, :, None] * s + 1.0)  # G × (L+1) × k
        self.phi = np.matmul(self.transform, weights)  # G × (L+1) × k
        del weights
        logdet = np.log1p(node_gamma[:, :, None] * s).sum(axis=2)
        logdet_h = spectrum.logdet_h(node_gamma.ravel()).reshape(node_gamma.shape)
        self.coef_logdet = logdet @ self.transform.T  # G × (L+1)
        self.coef_logdet_h = logdet_h @ self.transform.T

    def b_grid(self, rotated: RotatedBlock) -> np.ndarray:
        """b(t_g) of every SNP of the block at every grid point, m × G (cached on the block)."""
        key = ("b_grid", id(self))
        if key not in rotated.cache:
            rotated.cache[key] = rotated.x2 @ self.w_grid.T + rotated.r_xx[:, None]
        return rotated.cache[key]

    def local_coefficients(
        self, y_rot: np.ndarray, rotated: RotatedBlock, r_yx: np.ndarray,
        snps: np.ndarray, brackets: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Series coefficients of a(t) and b(t) of the SNPs ``snps`` on the brackets
        ``brackets`` (one each): two len(snps) × (L+1) arrays.

        A bracket that holds many of the pairs (an eighth or more; e.g. the upper bound, where
        the ML optimum of every SNP sits when K1 = 0 and n is small) gets its coefficients for
        every SNP of the block from one GEMM over the block's rows, cheaper than copying the
        rows; the SNPs of the other brackets are gathered (rows copied, grouped by bracket) for
        one small GEMM pair per bracket."""
        size = self.degree + 1
        coef_a = np.empty((snps.size, size))
        coef_b = np.empty((snps.size, size))
        counts = np.bincount(brackets, minlength=self.t_grid.size)
        big = np.flatnonzero(counts >= max(MIN_FULL_BRACKET, snps.size // 8))
        if big.size:
            phi = self.phi[big].reshape(big.size * size, -1)  # brackets' rows stacked
            all_a = rotated.x_rot @ (phi * y_rot).T  # m × (brackets · (L+1))
            all_b = rotated.x2 @ phi.T
            for i, j in enumerate(big.tolist()):
                pairs = np.flatnonzero(brackets == j)
                columns = slice(i * size, (i + 1) * size)
                coef_a[pairs] = all_a[snps[pairs], columns]
                coef_b[pairs] = all_b[snps[pairs], columns]
            rest = np.flatnonzero(~np.isin(brackets, big))
        else:
            rest = np.arange(snps.size)
        if rest.size:
            order = rest[np.argsort(brackets[rest], kind="stable")]
            chosen, sorted_brackets = snps[order], brackets[order]
            cuts = np.flatnonzero(np.diff(sorted_brackets)) + 1
            k = rotated.x_rot.shape[1]
            # (mode "clip": the positions are valid, and numpy's checked take into ``out`` is
            # four times slower)
            x_rot = np.take(rotated.x_rot, chosen, axis=0, mode="clip",
                            out=rotated.workspace.array("local x_rot", (chosen.size, k)))
            x2 = np.take(rotated.x2, chosen, axis=0, mode="clip",
                         out=rotated.workspace.array("local x2", (chosen.size, k)))
            part_a = np.empty((chosen.size, size))
            part_b = np.empty((chosen.size, size))
            for begin, stop in zip(np.r_[0, cuts], np.r_[cuts, chosen.size], strict=True):
                phi = self.phi[sorted_brackets[begin]]
                part_a[begin:stop] = x_rot[begin:stop] @ (phi * y_rot).T
                part_b[begin:stop] = x2[begin:stop] @ phi.T
            coef_a[order], coef_b[order] = part_a, part_b
        coef_a[:, 0] += r_yx[snps]
        coef_b[:, 0] += rotated.r_xx[snps]
        return coef_a, coef_b

    def basis(self, t: np.ndarray, brackets: np.ndarray, order: int) -> list[np.ndarray]:
        """Tₖ and, up to ``order``, its t-derivatives at each t on its bracket: (L+1) × len(t)
        each (the x-derivatives times (dx/dt)^r = half^−r)."""
        scale = 1.0 / self.half[brackets]
        x = (t - self.mid[brackets]) * scale
        out = [np.empty((self.degree + 1, x.size)) for _ in range(order + 1)]
        t0 = out[0]
        t0[0], t0[1] = 1.0, x
        if order >= 1:
            t1 = out[1]
            t1[0], t1[1] = 0.0, 1.0
        if order >= 2:
            t2 = out[2]
            t2[0], t2[1] = 0.0, 0.0
        for k in range(1, self.degree):
            t0[k + 1] = 2.0 * x * t0[k] - t0[k - 1]
            if order >= 1:
                t1[k + 1] = 2.0 * t0[k] + 2.0 * x * t1[k] - t1[k - 1]
            if order >= 2:
                t2[k + 1] = 4.0 * t1[k] + 2.0 * x * t2[k] - t2[k - 1]
        if order >= 1:
            out[1] *= scale
        if order >= 2:
            out[2] *= scale * scale
        return out


class _PhenotypeSeries:
    """One phenotype's part of the refit: C(t) on the grid and per bracket, and the per-block
    optimisation of the REML and ML profile likelihoods (module notes)."""

    def __init__(self, tables: RefitTables, scanner: Scanner) -> None:
        self.tables = tables
        self.y_rot = scanner.y_rot
        self.wy_grid = tables.w_grid * scanner.y_rot  # G × k
        self.c_grid = tables.w_grid @ scanner.y2 + scanner.r_yy
        self.coef_c = tables.phi @ scanner.y2  # G × (L+1)
        self.coef_c[:, 0] += scanner.r_yy
        self.dof = scanner.dof
        self.n = scanner.n

    def optimise(self, rotated: RotatedBlock, r_yx: np.ndarray):
        """Per-SNP REML and ML optima of t = log γ, and the sums there: ``(t_reml, t_ml,
        (a, b, C) at t_reml, (a, b, C, log|H|) at t_ml)``.

        The GEMMs run on the whole block; the elementwise work around them (the grid
        likelihoods, the Newton iterations) runs on chunks of SNPs in parallel
        (:mod:`exactlmm.parallel`), each SNP's numbers the same whatever the chunk."""
        tables = self.tables
        a_grid = rotated.x_rot @ self.wy_grid.T  # m × G
        a_grid += r_yx[:, None]
        b_grid = tables.b_grid(rotated)
        m = rotated.n_snps
        pieces = chunks(m)
        start = {kind: [np.empty(m), np.empty(m), np.empty(m), np.empty(m, dtype=np.intp)]
                 for kind in ("REML", "ML")}

        def grid(part: int) -> None:
            rows = pieces[part]
            a, b = a_grid[rows], b_grid[rows]
            log_q = np.log(np.maximum(self.c_grid - a * a / b, _TINY))
            f_reml = -0.5 * (self.dof * log_q + tables.logdet_grid
                             + np.log(np.maximum(b, 1e-300)))
            f_ml = -0.5 * (self.n * log_q + tables.logdet_h_grid)
            for kind, f in (("REML", f_reml), ("ML", f_ml)):
                for target, values in zip(start[kind], _grid_start(tables.t_grid, f),
                                          strict=True):
                    target[rows] = values

        run_parts(grid, len(pieces))
        t_reml, lo_reml, hi_reml, j_reml = start["REML"]
        t_ml, lo_ml, hi_ml, j_ml = start["ML"]
        snps = np.arange(m)
        other = np.flatnonzero(j_ml != j_reml)
        coef_a, coef_b = tables.local_coefficients(
            self.y_rot, rotated, r_yx, np.concatenate([snps, other]),
            np.concatenate([j_reml, j_ml[other]]))
        reml_a, reml_b = coef_a[:m], coef_b[:m]
        ml_a, ml_b = coef_a[:m].copy(), coef_b[:m].copy()
        ml_a[other], ml_b[other] = coef_a[m:], coef_b[m:]
        values_reml = [np.empty(m) for _ in range(3)]
        values_ml = [np.empty(m) for _ in range(4)]

        def newton(part: int) -> None:
            rows = pieces[part]
            t_reml[rows] = self._newton(t_reml[rows], lo_reml[rows], hi_reml[rows],
                                        j_reml[rows], reml_a[rows], reml_b[rows], "REML")
            t_ml[rows] = self._newton(t_ml[rows], lo_ml[rows], hi_ml[rows], j_ml[rows],
                                      ml_a[rows], ml_b[rows], "ML")
            for target, values in zip(values_reml, self._values(
                    t_reml[rows], j_reml[rows], reml_a[rows], reml_b[rows]), strict=True):
                target[rows] = values
            for target, values in zip(values_ml, self._values(
                    t_ml[rows], j_ml[rows], ml_a[rows], ml_b[rows], tables.coef_logdet_h),
                    strict=True):
                target[rows] = values

        run_parts(newton, len(pieces))
        return t_reml, t_ml, tuple(values_reml), tuple(values_ml)

    def _values(self, t, brackets, coef_a, coef_b, *scalars: np.ndarray
                ) -> tuple[np.ndarray, ...]:
        """a, b, C (and the scalar series ``scalars``, G × (L+1) each) at each SNP's t; the
        per-SNP coefficients are m × (L+1)."""
        basis = self.tables.basis(t, brackets, 0)[0]
        return tuple(np.einsum("mk,km->m", coef, basis)
                     for coef in (coef_a, coef_b, self.coef_c[brackets],
                                  *(s[brackets] for s in scalars)))

    def _newton(self, t, lo, hi, brackets, coef_a, coef_b, kind: str) -> np.ndarray:
        """Safeguarded Newton on every SNP at once, within its bracket [lo, hi]."""
        active = np.arange(t.size)
        for _ in range(REFIT_MAX_ITER):
            if active.size == 0:
                break
            ta = t[active]
            ft, ftt = self._derivatives(ta, brackets[active], coef_a[active],
                                        coef_b[active], kind)
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
        return np.clip(t, *self.tables.bounds)

    def _derivatives(self, t, brackets, coef_a, coef_b, kind: str):
        """First and second t-derivatives of each SNP's profile log-likelihood at its own t.

        Q = C − a²/b, Q' = C' − 2aa'/b + a²b'/b²,
        Q'' = C'' − 2(a'² + aa'')/b + (4aa'b' + a²b'')/b² − 2a²b'²/b³ (primes: d/dt), then
        REML: f' = −½[νQ'/Q + L' + b'/b], f'' = −½[ν(Q''/Q − (Q'/Q)²) + L'' + b''/b − (b'/b)²]
        ML:   f' = −½[nQ'/Q + L_H'],     f'' = −½[n(Q''/Q − (Q'/Q)²) + L_H'']
        with L = log|Q₂ᵀHQ₂| and L_H = log|H|.
        """
        tables = self.tables
        t0, t1, t2 = tables.basis(t, brackets, 2)

        def evaluate(coef: np.ndarray) -> tuple[np.ndarray, ...]:
            return (np.einsum("mk,km->m", coef, t0), np.einsum("mk,km->m", coef, t1),
                    np.einsum("mk,km->m", coef, t2))

        a, a1, a2 = evaluate(coef_a)
        b, b1, b2 = evaluate(coef_b)
        c, c1, c2 = evaluate(self.coef_c[brackets])
        q = np.maximum(c - a * a / b, _TINY)
        q1 = c1 - 2.0 * a * a1 / b + a * a * b1 / b**2
        q2 = (
            c2
            - 2.0 * (a1 * a1 + a * a2) / b
            + (4.0 * a * a1 * b1 + a * a * b2) / b**2
            - 2.0 * a * a * b1 * b1 / b**3
        )
        if kind == "REML":
            _, l1, l2 = evaluate(tables.coef_logdet[brackets])
            f1 = -0.5 * (self.dof * q1 / q + l1 + b1 / b)
            f2 = -0.5 * (self.dof * (q2 / q - (q1 / q) ** 2) + l2 + b2 / b - (b1 / b) ** 2)
        else:
            _, l1, l2 = evaluate(tables.coef_logdet_h[brackets])
            f1 = -0.5 * (self.n * q1 / q + l1)
            f2 = -0.5 * (self.n * (q2 / q - (q1 / q) ** 2) + l2)
        return f1, f2


def _grid_start(t_grid: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per SNP (rows of the m × G grid values f): the start, the bracket [lo, hi] around the
    grid maximum t_j, and j.  The start is the vertex of the parabola through the three grid
    points at an interior maximum with negative curvature (moved by at most half a step),
    else t_j."""
    rows = np.arange(f.shape[0])
    j = np.argmax(f, axis=1)
    jl = np.maximum(j - 1, 0)
    jh = np.minimum(j + 1, t_grid.size - 1)
    lo, hi = t_grid[jl].copy(), t_grid[jh].copy()
    step = t_grid[1] - t_grid[0]
    t = t_grid[j].copy()
    interior = (j > 0) & (j < t_grid.size - 1)
    fl, fm, fh = f[rows, jl], f[rows, j], f[rows, jh]
    curvature = fl - 2.0 * fm + fh
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = 0.5 * step * (fl - fh) / curvature
    ok = interior & (curvature < 0) & np.isfinite(shift)
    t[ok] += np.clip(shift[ok], -0.5 * step, 0.5 * step)
    return t, lo, hi, j


def _special():
    """``scipy.special`` (the p-values' distribution functions), imported at first use.

    Importing it in a thread while the genotypes are read (and loading SciPy's own OpenBLAS
    with one thread) was measured against importing it here: 0.45–0.55 s against 0.47–0.58 s
    for a whole 300 × 2,000 scan, 3.1–4.9 s against 3.3–3.6 s at 2,000 × 10,000 (the four and
    three fastest of 8 and 3 runs, 2 cores): no difference beyond the noise, so it is not done."""
    import scipy.special

    return scipy.special


def residual_yx(rotated: RotatedBlock, phenotype: RotatedPhenotype) -> np.ndarray:
    """(Sy)ᵀ(Sg) − ỹᵀx̃ per SNP, the residual dimensions' part of a (module notes; 0 on the
    full-rank path and for an untestable SNP)."""
    if rotated.x_proj is None:
        return np.zeros(rotated.n_snps)
    r_yx = rotated.x_proj @ phenotype.projected - rotated.x_rot @ phenotype.rotated
    r_yx[rotated.untestable] = 0.0
    return r_yx


def fixed_tests(a: np.ndarray, b: np.ndarray, c: np.ndarray, n: int, dof: int
                ) -> dict[str, np.ndarray]:
    """β, se and the Wald, LRT and score p-values of the module notes from each SNP's
    a = gᵀPy, b = gᵀPg and C = yᵀPy at one γ (fixed mode), elementwise on a few threads."""
    m = a.size
    out = {name: np.empty(m) for name in ("beta", "se", "p_wald", "p_lrt", "p_score")}
    pieces = chunks(m)

    def tests(part: int) -> None:  # elementwise, a chunk of SNPs per thread
        rows = pieces[part]
        here = (a[rows], b[rows], c[rows])
        for name, values in _wald(*here, dof).items():
            out[name][rows] = values
        out["p_lrt"][rows] = _lrt_fixed(*here, n)
        out["p_score"][rows] = _score(*here, n, dof)

    run_parts(tests, len(pieces))
    return out


def complete_rows(out: dict[str, np.ndarray], rotated: RotatedBlock) -> dict[str, np.ndarray]:
    """The block's statistics (``out``) made rows of :data:`exactlmm.io.results.ROW_COLUMNS`:
    NA for the untestable SNPs (and for every SNP in the columns only a peer fills), and each
    SNP's n, af and errcode."""
    untestable = rotated.untestable
    for name in PEER_STATISTIC_COLUMNS:
        out[name] = np.full(untestable.shape, np.nan)
    for name in STATISTIC_COLUMNS:
        out[name] = np.where(untestable, np.nan, out[name])
    block = rotated.block
    out["n"] = block.n_called.astype(np.int64)
    out["af"] = block.af
    out["errcode"] = np.where(
        block.testable, np.where(rotated.collinear, "COLLINEAR", TESTED), block.errcode
    )
    return out


def _wald(a: np.ndarray, b: np.ndarray, c: np.ndarray, dof: int) -> dict[str, np.ndarray]:
    beta = a / b
    q = np.maximum(c - a * beta, _TINY)
    se = np.sqrt(q / dof / b)
    f_stat = (beta / se) ** 2
    return {"beta": beta, "se": se, "p_wald": _special().fdtrc(1, dof, f_stat)}


def _lrt_fixed(a: np.ndarray, b: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    """n log(C / (C − a²/b)), written with log1p so that tiny effects keep their digits."""
    explained = np.minimum(a * a / (b * c), 1.0 - np.finfo(float).eps)
    return chi2_1_sf(-n * np.log1p(-explained))


#: Beyond this χ² the erfc form's result is subnormal and underflows first.
_CHI2_ERFC_MAX = 1300.0


def chi2_1_sf(x: np.ndarray) -> np.ndarray:
    """P(χ²₁ > x) = erfc(√(x/2)) (the χ² with one degree of freedom is the square of a standard
    normal): scipy's ``erfc`` is thirty times faster than ``chdtrc(1, x)`` and agrees with it
    to rounding; ``chdtrc`` serves x > 1300, where the p-value is below 1e-285."""
    x = np.asarray(x, dtype=float)
    p = _special().erfc(np.sqrt(0.5 * np.maximum(x, 0.0)))
    tail = x > _CHI2_ERFC_MAX
    if np.any(tail):
        p[tail] = _special().chdtrc(1, x[tail])
    return p


def _score(a: np.ndarray, b: np.ndarray, c: np.ndarray, n: int, dof: int) -> np.ndarray:
    return _special().fdtrc(1, dof, n * a * a / (b * c))


def empty_statistics() -> dict[str, np.ndarray]:
    """The statistics table of no SNP (every column, typed)."""
    empty = {name: np.empty(0) for name in ROW_COLUMNS}
    empty["n"] = np.empty(0, dtype=np.int64)
    empty["errcode"] = np.empty(0, dtype=ERRCODE_DTYPE)
    return empty


def scan_imputed(
    scanners: Sequence[Scanner],
    blocks: Iterable[ImputedBlock],
    *,
    progress: bool = False,
    total: int | None = None,
    workspace: Workspace | None = None,
    rotations: Iterable[np.ndarray] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Run several scanners that share one spectrum over blocks of imputed SNPs, rotating each
    block once (:func:`rotate_block`, into the arrays of ``workspace``); one concatenated
    statistics table per scanner.  ``rotations``: each block's rotation GᵀW when it was
    computed already (:func:`exactlmm.downdate.kinship_rows`), one per block, in order."""
    workspace = Workspace() if workspace is None else workspace
    if not scanners:
        return []
    spectrum = scanners[0].spectrum
    if any(scanner.spectrum is not spectrum for scanner in scanners):
        raise ValueError("scan_imputed needs scanners of one spectrum")
    given = None if rotations is None else iter(rotations)
    pieces: list[list[dict[str, np.ndarray]]] = [[] for _ in scanners]
    with progress_bar(total, "scan", progress) as bar:
        for block in blocks:
            x_rot = None if given is None else next(given)
            rotated = rotate_block(spectrum, block, workspace, x_rot=x_rot)
            for scanner, out in zip(scanners, pieces, strict=True):
                out.append(scanner.scan_rotated(rotated))
            bar.update(rotated.n_snps)
    return [
        {name: np.concatenate([p[name] for p in out]) for name in ROW_COLUMNS}
        if out else empty_statistics()
        for out in pieces
    ]


def scan(
    scanner: Scanner,
    blocks: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    progress: bool = False,
    total: int | None = None,
) -> dict[str, np.ndarray]:
    """Run ``scanner`` over ``(snp_positions, dosages)`` blocks; concatenate the statistics.

    ``dosages`` is samples × SNPs with NaN for a missing call (mean-imputed here, by
    :func:`exactlmm.dosage.impute_center`).  Every SNP gets a row: an untestable one has NA
    statistics and its reason in ``errcode`` (module notes); nothing is raised or warned about
    because of a SNP.  :func:`exactlmm.dosage.count_errcodes` of ``out["errcode"]`` gives the
    number of untested SNPs per reason.

    >>> import numpy as np
    >>> from exactlmm.null import fit_null
    >>> from exactlmm.spectral import spectrum_from_kinship
    >>> rng = np.random.default_rng(0)
    >>> n = 50
    >>> z = rng.standard_normal((n, 80))
    >>> k = z @ z.T / 80
    >>> x = np.ones((n, 1))
    >>> y = 1.0 + rng.multivariate_normal(np.zeros(n), 0.5 * k + 0.5 * np.eye(n))
    >>> null = fit_null(spectrum_from_kinship(k, x), y, x, k.__matmul__, 1.0)
    >>> g = rng.binomial(2, 0.3, size=(n, 3)).astype(float)
    >>> g[:, 1] = 1.0  # monomorphic
    >>> g[0, 2] = np.nan  # a missing call, mean-imputed
    >>> out = scan(Scanner(null), iterate_blocks(g, 2))
    >>> out["errcode"].tolist(), np.isnan(out["p_wald"]).tolist(), out["n"].tolist()
    (['.', 'MONOMORPHIC', '.'], [False, True, False], [50, 50, 49])
    """
    imputed = (impute_center(dosages) for _, dosages in blocks)
    return scan_imputed([scanner], imputed, progress=progress, total=total)[0]


def iterate_blocks(dosages: np.ndarray, block_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Split an in-memory n × M dosage matrix into ``(positions, block)`` pieces."""
    m = dosages.shape[1]
    for start in range(0, m, block_size):
        stop = min(start + block_size, m)
        yield np.arange(start, stop), dosages[:, start:stop]
