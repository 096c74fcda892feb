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
neutralised before any arithmetic (ỹ∘x̃ ← 0, x̃² ← 1, residual terms ← 0, so a = 0 and b > 0),
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

The per-SNP optimisation is vectorised over the block and BLAS-bound.  Every weight
wᵢ(t) = 1/(eᵗsᵢ + 1) is analytic in the strip |Im t| < π around the real axis of t = log γ,
whatever sᵢ, so on GEMMA's range t ∈ [log 1e-5, log 1e5] its Chebyshev series of degree D
converges like ρ⁻ᴰ with ρ = (π + √(11.5² + π²))/11.5 ≈ 1.31: D = ⌈33/log ρ⌉ = 121 leaves
~5e-15 (D follows the bounds when they are changed).  With Φ the
(D+1) × k matrix of Chebyshev coefficients of all the wᵢ, the coefficients of a(t) and b(t) for
every SNP of the block are two GEMMs, Φ(ỹ∘X̃) and ΦX̃²; C(t), log|Q₂ᵀHQ₂| and log|H| are scalar
series.  The likelihood of every SNP is then evaluated on a grid of t from the series (one
small GEMM), and a safeguarded Newton iteration (bisection when Newton leaves the bracket or
the curvature is not negative) runs on all unconverged SNPs at once with first and second
t-derivatives of the series — each iteration costs O(D·m), not O(n·m).  The statistics are then
computed exactly (not from the series) at each SNP's optimum.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.special

from .dosage import ImputedBlock, impute_center
from .io.results import ERRCODE_DTYPE, TESTED
from .likelihood import LOG_2PI
from .null import NullModel

#: Target truncation error e^(−33) ≈ 5e-15 of the Chebyshev series in log γ (see the notes):
#: the degree is ⌈33 / log ρ⌉ for the search interval (121 on GEMMA's range).
CHEBYSHEV_LOG_ERROR = 33.0
#: A SNP whose part outside col(X) has ‖Sg‖² ≤ this × ‖g − ḡ‖² is untestable: NA statistics.
COLLINEAR_TOLERANCE = 1e-8
#: Points of the per-SNP starting grid of log γ (spacing 0.25 on GEMMA's range [1e-5, 1e5]).
REFIT_GRID = 93
#: Convergence tolerance on log γ of the per-SNP Newton iterations.
REFIT_TOL = 1e-9
REFIT_MAX_ITER = 100

STAT_COLUMNS = (
    "n", "af", "beta", "se", "p_wald", "p_lrt", "p_score", "delta", "delta_ml", "errcode",
)  # fmt: skip


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
        # ML (refit LRT) needs the eigenvalues of K: from the ML null's spectrum.
        self.d = (ml_null or null).spectrum.kinship_eigenvalues
        if ml_null is not None and ml_null.spectrum.basis is not spectrum.basis:
            raise ValueError("the REML and ML null fits must share one spectrum")
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
        self.series = _LogGammaSeries(self) if refit else None

    # -- per-block entry point -------------------------------------------------------------
    def scan_block(self, block: ImputedBlock) -> dict[str, np.ndarray]:
        """All statistics of :data:`STAT_COLUMNS` for one block of mean-imputed, centered SNPs
        (:func:`exactlmm.dosage.impute_center`; centering changes no statistic, the intercept
        being a covariate, but keeps the residual-dimension sums free of cancellation)."""
        spectrum = self.null.spectrum
        x_rot, x_proj = spectrum.rotate(block.centered)  # the one GEMM of the block
        p_yx = self.y_rot[:, None] * x_rot
        x2 = x_rot * x_rot
        if self.has_residual:
            sg2 = np.einsum("ij,ij->j", x_proj, x_proj)
            r_yx = self.phenotype.projected @ x_proj - self.y_rot @ x_rot
            r_xx = np.maximum(sg2 - x2.sum(axis=0), 0.0)
        else:
            sg2 = x2.sum(axis=0)
            r_yx = np.zeros(x_rot.shape[1])
            r_xx = np.zeros(x_rot.shape[1])
        m = x_rot.shape[1]
        # A SNP (nearly) inside col(X) — e.g. also given as a covariate — has no part left to
        # test (a, b ≈ 0 would give β = 0/0); an untestable one (no call, monomorphic) is a zero
        # column.  Both are neutralised here and get NA statistics.
        collinear = sg2 <= COLLINEAR_TOLERANCE * block.sum_sq
        untestable = collinear | ~block.testable
        if np.any(untestable):
            p_yx[:, untestable] = 0.0
            x2[:, untestable] = 1.0
            r_xx[untestable] = 0.0
            r_yx[untestable] = 0.0
        out = self._statistics(_Block(p_yx, x2, r_yx, r_xx), m)
        for name in ("beta", "se", "p_wald", "p_lrt", "p_score", "delta", "delta_ml"):
            out[name] = np.where(untestable, np.nan, out[name])
        out["n"] = block.n_called.astype(np.int64)
        out["af"] = block.af
        out["errcode"] = np.where(
            block.testable, np.where(collinear, "COLLINEAR", TESTED), block.errcode
        )
        return out

    def _statistics(self, block: _Block, m: int) -> dict[str, np.ndarray]:
        """Wald, LRT and score statistics of one block (fixed or refit mode)."""
        out: dict[str, np.ndarray] = {}
        if not self.refit:
            a, b, c = self._sums_at(self.null.gamma, block)
            out.update(_wald(a, b, c, self.dof))
            out["p_lrt"] = _lrt_fixed(a, b, c, self.n)
            out["p_score"] = _score(a, b, c, self.n, self.dof)
            out["delta"] = np.full(m, self.null.delta)
            out["delta_ml"] = np.full(m, np.nan)
            return out
        assert self.ml_null is not None and self.series is not None
        coefficients = self.series.snp_coefficients(block)
        t_reml = self._optimise(coefficients, "REML")
        a, b, c = self._sums(np.exp(t_reml), block)
        out.update(_wald(a, b, c, self.dof))
        t_ml = self._optimise(coefficients, "ML")
        gamma_ml = np.exp(t_ml)
        a, b, c = self._sums(gamma_ml, block)
        q = np.maximum(c - a * a / b, np.finfo(float).tiny)
        logdet = np.log1p(np.multiply.outer(self.d, gamma_ml)).sum(axis=0)
        ml_alt = -0.5 * (self.n * (LOG_2PI + np.log(q / self.n)) + logdet + self.n)
        lrt = np.maximum(2.0 * (ml_alt - self.ml_null.loglik), 0.0)
        out["p_lrt"] = scipy.special.chdtrc(1, lrt)
        a, b, c = self._sums_at(self.ml_null.gamma, block)
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

    def _sums_at(self, gamma: float, block: _Block) -> tuple[np.ndarray, ...]:
        """a, b, C at one γ shared by all SNPs: matrix-vector products."""
        w = 1.0 / (gamma * self.s + 1.0)
        a = w @ block.p_yx + block.r_yx
        b = w @ block.x2 + block.r_xx
        c = np.full(a.shape, self.y2 @ w + self.r_yy)
        return a, b, c

    def _optimise(
        self, coefficients: tuple[np.ndarray, np.ndarray], kind: str
    ) -> np.ndarray:
        """Per-SNP argmax of the REML or ML profile likelihood in t = log γ (vectorised)."""
        assert self.series is not None
        series = self.series
        coef_a, coef_b = coefficients
        t_grid = np.linspace(*self.log_gamma_bounds, REFIT_GRID)
        f = series.objective_on_grid(t_grid, coef_a, coef_b, kind)
        m = f.shape[1]
        cols = np.arange(m)
        j = np.argmax(f, axis=0)
        jl = np.maximum(j - 1, 0)
        jh = np.minimum(j + 1, t_grid.size - 1)
        lo, hi = t_grid[jl].copy(), t_grid[jh].copy()
        # Start at the vertex of the parabola through the three grid points (interior maxima).
        step = t_grid[1] - t_grid[0]
        t = t_grid[j].copy()
        interior = (j > 0) & (j < t_grid.size - 1)
        fl, fm, fh = f[jl, cols], f[j, cols], f[jh, cols]
        curvature = fl - 2.0 * fm + fh
        with np.errstate(invalid="ignore", divide="ignore"):
            shift = 0.5 * step * (fl - fh) / curvature
        ok = interior & (curvature < 0) & np.isfinite(shift)
        t[ok] += np.clip(shift[ok], -0.5 * step, 0.5 * step)
        active = cols
        for _ in range(REFIT_MAX_ITER):
            if active.size == 0:
                break
            ta = t[active]
            ft, ftt = series.derivatives(ta, coef_a[:, active], coef_b[:, active], kind)
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


class _LogGammaSeries:
    """Chebyshev series in t = log γ of the weights wᵢ(t) and of the scalar sums (notes).

    Interpolation at the D+1 Chebyshev–Lobatto points xⱼ = cos(πj/D) of [−1, 1], mapped to
    t = mid + half·x; coefficients by the discrete cosine transform
    cₖ = (2/D) Σⱼ'' f(xⱼ) cos(πjk/D) (first and last terms, and c₀, c_D, halved).
    """

    def __init__(self, scanner: Scanner, degree: int | None = None) -> None:
        lo, hi = scanner.log_gamma_bounds
        self.mid, self.half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        if degree is None:
            rho = (np.pi + np.hypot(self.half, np.pi)) / self.half  # Bernstein ellipse
            degree = max(16, int(np.ceil(CHEBYSHEV_LOG_ERROR / np.log(rho))))
        self.degree = degree
        k = np.arange(degree + 1)
        nodes = self.mid + self.half * np.cos(np.pi * k / degree)
        halve = np.where((k == 0) | (k == degree), 0.5, 1.0)
        self.transform = (2.0 / degree) * np.cos(np.pi * np.outer(k, k) / degree)
        self.transform *= halve[:, None] * halve[None, :]
        gamma = np.exp(nodes)
        weights = 1.0 / (np.multiply.outer(gamma, scanner.s) + 1.0)  # (D+1) × k
        self.phi = self.transform @ weights
        self.coef_c = self.phi @ scanner.y2
        self.coef_c[0] += scanner.r_yy
        self.coef_logdet = self.transform @ np.log1p(np.multiply.outer(gamma, scanner.s)).sum(1)
        self.coef_logdet_h = None
        if scanner.d is not None:
            self.coef_logdet_h = self.transform @ np.log1p(
                np.multiply.outer(gamma, scanner.d)
            ).sum(1)
        self.dof = scanner.dof
        self.n = scanner.n

    def snp_coefficients(self, block: _Block) -> tuple[np.ndarray, np.ndarray]:
        """Series coefficients of a(t) and b(t) for every SNP: two GEMMs, (D+1) × m each."""
        coef_a = self.phi @ block.p_yx
        coef_a[0] += block.r_yx
        coef_b = self.phi @ block.x2
        coef_b[0] += block.r_xx
        return coef_a, coef_b

    def _basis(self, t: np.ndarray, order: int) -> list[np.ndarray]:
        """Tₖ(x) and, up to ``order``, its x-derivatives, at x = (t − mid)/half: (D+1) × len(t)."""
        x = (np.asarray(t, dtype=float) - self.mid) / self.half
        out = [np.empty((self.degree + 1, x.size)) for _ in range(order + 1)]
        t0, t1 = out[0], None
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
        return out

    def objective_on_grid(
        self, t_grid: np.ndarray, coef_a: np.ndarray, coef_b: np.ndarray, kind: str
    ) -> np.ndarray:
        """Profile log-likelihood (up to constants) of every SNP at every grid t: G × m."""
        basis = self._basis(t_grid, 0)[0].T  # G × (D+1)
        a = basis @ coef_a
        b = basis @ coef_b
        c = (basis @ self.coef_c)[:, None]
        q = np.maximum(c - a * a / b, np.finfo(float).tiny)
        if kind == "REML":
            logdet = basis @ self.coef_logdet
            return -0.5 * (self.dof * np.log(q) + logdet[:, None] + np.log(np.maximum(b, 1e-300)))
        logdet = basis @ self.coef_logdet_h
        return -0.5 * (self.n * np.log(q) + logdet[:, None])

    def derivatives(
        self, t: np.ndarray, coef_a: np.ndarray, coef_b: np.ndarray, kind: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """First and second t-derivatives of each SNP's profile log-likelihood at its own t.

        Q = C − a²/b, Q' = C' − 2aa'/b + a²b'/b²,
        Q'' = C'' − 2(a'² + aa'')/b + (4aa'b' + a²b'')/b² − 2a²b'²/b³ (primes: d/dt), then
        REML: f' = −½[νQ'/Q + L' + b'/b], f'' = −½[ν(Q''/Q − (Q'/Q)²) + L'' + b''/b − (b'/b)²]
        ML:   f' = −½[nQ'/Q + L_H'],     f'' = −½[n(Q''/Q − (Q'/Q)²) + L_H'']
        with L = log|Q₂ᵀHQ₂| and L_H = log|H|.
        """
        t0, t1, t2 = self._basis(t, 2)
        scale = 1.0 / self.half  # dx/dt
        t1 = t1 * scale
        t2 = t2 * scale * scale

        def evaluate(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            if coef.ndim == 1:
                return coef @ t0, coef @ t1, coef @ t2
            return (
                np.einsum("km,km->m", coef, t0),
                np.einsum("km,km->m", coef, t1),
                np.einsum("km,km->m", coef, t2),
            )

        a, a1, a2 = evaluate(coef_a)
        b, b1, b2 = evaluate(coef_b)
        c, c1, c2 = evaluate(self.coef_c)
        q = np.maximum(c - a * a / b, np.finfo(float).tiny)
        q1 = c1 - 2.0 * a * a1 / b + a * a * b1 / b**2
        q2 = (
            c2
            - 2.0 * (a1 * a1 + a * a2) / b
            + (4.0 * a * a1 * b1 + a * a * b2) / b**2
            - 2.0 * a * a * b1 * b1 / b**3
        )
        if kind == "REML":
            _, l1, l2 = evaluate(self.coef_logdet)
            f1 = -0.5 * (self.dof * q1 / q + l1 + b1 / b)
            f2 = -0.5 * (self.dof * (q2 / q - (q1 / q) ** 2) + l2 + b2 / b - (b1 / b) ** 2)
        else:
            _, l1, l2 = evaluate(self.coef_logdet_h)
            f1 = -0.5 * (self.n * q1 / q + l1)
            f2 = -0.5 * (self.n * (q2 / q - (q1 / q) ** 2) + l2)
        return f1, f2


@dataclass(frozen=True)
class _Block:
    """Rotated products of one block: ỹ∘X̃, X̃∘X̃ and the residual-dimension terms."""

    p_yx: np.ndarray
    x2: np.ndarray
    r_yx: np.ndarray
    r_xx: np.ndarray


def _wald(a: np.ndarray, b: np.ndarray, c: np.ndarray, dof: int) -> dict[str, np.ndarray]:
    beta = a / b
    q = np.maximum(c - a * beta, np.finfo(float).tiny)
    se = np.sqrt(q / dof / b)
    f_stat = (beta / se) ** 2
    return {"beta": beta, "se": se, "p_wald": scipy.special.fdtrc(1, dof, f_stat)}


def _lrt_fixed(a: np.ndarray, b: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    """n log(C / (C − a²/b)), written with log1p so that tiny effects keep their digits."""
    explained = np.minimum(a * a / (b * c), 1.0 - np.finfo(float).eps)
    return scipy.special.chdtrc(1, -n * np.log1p(-explained))


def _score(a: np.ndarray, b: np.ndarray, c: np.ndarray, n: int, dof: int) -> np.ndarray:
    return scipy.special.fdtrc(1, dof, n * a * a / (b * c))


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
    pieces: list[dict[str, np.ndarray]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="SNP", desc="scan", disable=None, mininterval=0.5)
    try:
        for positions, dosages in blocks:
            pieces.append(scanner.scan_block(impute_center(dosages)))
            if bar is not None:
                bar.update(len(positions))
    finally:
        if bar is not None:
            bar.close()
    if not pieces:
        empty = {name: np.empty(0) for name in STAT_COLUMNS}
        empty["n"] = np.empty(0, dtype=np.int64)
        empty["errcode"] = np.empty(0, dtype=ERRCODE_DTYPE)
        return empty
    return {name: np.concatenate([p[name] for p in pieces]) for name in STAT_COLUMNS}


def iterate_blocks(dosages: np.ndarray, block_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Split an in-memory n × M dosage matrix into ``(positions, block)`` pieces."""
    m = dosages.shape[1]
    for start in range(0, m, block_size):
        stop = min(start + block_size, m)
        yield np.arange(start, stop), dosages[:, start:stop]
