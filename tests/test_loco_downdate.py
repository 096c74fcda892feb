"""The leave-one-chromosome-out downdate (exactlmm.downdate) against the chromosome's own
spectrum (K₋c built densely or from its SNPs, decomposed, fit_null, Scanner: today's path) and
against brute force (dense V = γK₋c + I, explicit inverse, scipy's multivariate normal).

Tolerances reached (relative, on these cases): log-likelihoods 1e-13, σe² and β̂ 1e-12, β,
se and the three p-values of the scan 1e-12 at the same δ; δ of the fits within 1e-8 of the
grid + Brent's (whose own tolerance is about 1.5e-8 in log δ).  Near-singular K₋c at δ = 1e-5
(γ' = αγ up to 3e6): the scan's statistics 1e-10, β̂ of the null 1e-8.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.stats
from test_lmm_bruteforce import (
    argmax_dense,
    dense_ml,
    dense_ml_explicit,
    dense_parts,
    dense_reml,
    dense_wald,
)

from exactlmm import downdate as downdate_mod
from exactlmm.dosage import impute_center
from exactlmm.downdate import (
    ChromosomeDowndate,
    DowndateScanner,
    fit_downdate,
    plan_chromosome,
)
from exactlmm.kinship import standardize
from exactlmm.null import fit_null
from exactlmm.scan import Scanner, iterate_blocks, rotate_block, scan, scan_imputed
from exactlmm.spectral import spectrum_from_genotypes, spectrum_from_kinship

STATISTICS = ("beta", "se", "p_wald", "p_lrt", "p_score")


class Problem:
    """Genotypes on two "chromosomes" (c: the first ``m_c`` SNPs), the kinship SNPs the testable
    ones (standardized as exactly as kinship.py does), covariates and a phenotype; the
    genome-wide spectrum and the downdate of c, and today's spectrum of K₋c.  Each spectrum
    takes the path the pipeline takes: low rank when its SNPs are fewer than the samples."""

    def __init__(self, n, m, m_c, *, n_cov=2, seed=0, missing=0.02, special=True,
                 signal=0.4, duplicates=False):
        rng = np.random.default_rng(seed)
        g = rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(n, m)).astype(float)
        if duplicates:
            g[:, 1] = g[:, 0]
            g[:, 2] = g[:, 0]
        g[rng.random(g.shape) < missing] = np.nan
        if special:  # one monomorphic and one uncalled SNP on c, left out of every K
            g[:, 3] = 1.0
            g[:, 4] = np.nan
        x = np.column_stack([np.ones(n), rng.standard_normal((n, n_cov - 1))])
        if special and n_cov > 1:  # a SNP of c that is a covariate: COLLINEAR in the scan
            g[:, 5] = np.round(np.clip(x[:, 1] + 1.0, 0.0, 2.0))
            x[:, 1] = np.nan_to_num(g[:, 5], nan=float(np.nanmean(g[:, 5])))
        z = standardize(g)
        kin = impute_center(g).testable
        on_c = np.arange(m) < m_c
        self.g, self.x, self.n = g, x, n
        self.z_c, self.z_rest = z[:, on_c & kin], z[:, ~on_c & kin]
        self.m_total = int(kin.sum())
        self.r = self.z_c.shape[1]
        self.m_rest = self.m_total - self.r
        effect = rng.normal(0.0, signal / np.sqrt(self.m_total), self.m_total)
        self.y = (x @ rng.standard_normal(x.shape[1]) + np.hstack([self.z_c, self.z_rest])
                  @ effect + rng.standard_normal(n))
        self.genome, self.genome_diag = _spectrum(np.hstack([self.z_c, self.z_rest]), x)
        self.own, self.own_diag = _spectrum(self.z_rest, x)  # today's path: K₋c's spectrum
        self.k_rest = self.z_rest @ self.z_rest.T / self.m_rest
        self.downdate = ChromosomeDowndate.from_standardized(self.genome, self.z_c,
                                                             self.m_total, self.genome_diag)

    def reference(self, likelihood="REML", fixed_log_delta=None):
        return fit_null(self.own, self.y, self.x, self.own.kinship_matvec, self.own_diag,
                        likelihood=likelihood, fixed_log_delta=fixed_log_delta)

    def fit(self, likelihood="REML", fixed_log_delta=None):
        return fit_downdate(self.downdate, self.y, self.x, likelihood=likelihood,
                            fixed_log_delta=fixed_log_delta)

    def snps_of_c(self, count=40):
        return self.g[:, :count]


def _spectrum(z, x):
    n, m = z.shape
    if m < n:
        return spectrum_from_genotypes(z, m, x), 1.0
    k = z @ z.T / m
    return spectrum_from_kinship(k, x), float(np.trace(k)) / n


# n, M, SNPs on c (and options): full rank; low rank (M < n); one SNP on c; K₋c with fewer
# SNPs than samples under a full-rank K; r near n; M close to n (tiny eigenvalues of K); r
# near M on the low-rank path (K₋c of rank 3).
CASES = {
    "full": (120, 400, 60, {}),
    "low-rank": (160, 90, 25, {}),
    "one-snp": (120, 400, 1, {"special": False}),
    "k-c-rank-deficient": (120, 400, 320, {}),
    "r-near-n": (100, 600, 95, {}),
    "m-near-n": (120, 130, 35, {}),
    "r-near-m": (160, 90, 87, {}),
}


def make(name, **options):
    n, m, m_c, defaults = CASES[name]
    return Problem(n, m, m_c, seed=len(name), **{**defaults, **options})


@pytest.fixture(scope="module", params=list(CASES))
def problem(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make(request.param)


def test_cases_cover_the_shapes():
    """The cases are what their names say (one testable SNP on c, ranks as intended)."""
    shapes = {name: make(name) for name in CASES}
    assert shapes["one-snp"].r == 1
    assert shapes["low-rank"].genome.n_residual > 0 and shapes["r-near-m"].m_rest == 3
    assert shapes["k-c-rank-deficient"].own.n_residual > 0  # today: low rank for K₋c
    assert shapes["full"].genome.n_residual == 0
    assert shapes["r-near-n"].r > 0.9 * 100


@pytest.mark.parametrize("likelihood", ["REML", "ML"])
def test_likelihood_equals_the_chromosome_spectrum(problem, likelihood):
    """At fixed δ from 1e-5 to 1e5: log-likelihood, σe² and β̂ as K₋c's own spectrum gives."""
    for log_delta in (-11.5, -6.0, -2.0, 0.0, 2.0, 6.0, 11.5):
        ours = problem.fit(likelihood, log_delta)
        ref = problem.reference(likelihood, log_delta)
        large = log_delta < -5  # γ' = αγ up to 3e6: the notes' bounds
        assert ours.loglik == pytest.approx(ref.loglik, rel=1e-10 if large else 1e-12)
        assert ours.sigma_e2 == pytest.approx(ref.sigma_e2, rel=1e-11)
        np.testing.assert_allclose(ours.beta, ref.beta, rtol=1e-7 if large else 1e-10,
                                   atol=1e-12)
        assert ours.kinship_mean_diag == pytest.approx(ref.kinship_mean_diag, rel=1e-12)
        assert ours.evaluations == 1


@pytest.mark.parametrize("likelihood", ["REML", "ML"])
def test_likelihood_equals_dense(problem, likelihood):
    """Brute force: REML from slogdet and an explicit inverse, ML from scipy's MVN."""
    dense = dense_reml if likelihood == "REML" else dense_ml
    for log_delta in (-4.0, 0.0, 3.0):
        ours = problem.fit(likelihood, log_delta)
        reference = dense(problem.y, problem.x, problem.k_rest, np.exp(-log_delta))
        assert ours.loglik == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("likelihood", ["REML", "ML"])
def test_fit_finds_the_same_maximum(problem, likelihood):
    """The Newton search from the genome-wide optimum ends where the grid + Brent of K₋c's own
    spectrum does (boundary included), in a few likelihood evaluations."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, ref = problem.fit(likelihood), problem.reference(likelihood)
    assert ours.boundary == ref.boundary
    assert ours.log_delta == pytest.approx(ref.log_delta, abs=1e-6)
    assert ours.loglik >= ref.loglik - 1e-10 * abs(ref.loglik)
    assert ours.loglik == pytest.approx(ref.loglik, rel=1e-12)
    np.testing.assert_allclose(ours.beta, ref.beta, rtol=1e-5)
    assert ours.evaluations <= 12
    # at the same δ the fits agree to round-off
    same = problem.reference(likelihood, ours.log_delta)
    np.testing.assert_allclose(ours.beta, same.beta, rtol=1e-9, atol=1e-12)
    assert ours.sigma_e2 == pytest.approx(same.sigma_e2, rel=1e-11)


def test_fit_is_the_dense_optimum():
    """REML and ML maxima against a search over the dense likelihood (not the package's own
    search), on a kinship whose ML optimum is interior (Z not column-centred)."""
    rng = np.random.default_rng(11)
    n, m, r = 90, 240, 40
    z = rng.standard_normal((n, m))
    x = np.column_stack([np.ones(n), rng.standard_normal(n)])
    k_rest = z[:, r:] @ z[:, r:].T / (m - r)
    y = x @ [1.0, -0.5] + rng.multivariate_normal(np.zeros(n), 0.8 * k_rest + 0.6 * np.eye(n))
    k = z @ z.T / m
    genome = spectrum_from_kinship(k, x)
    dd = ChromosomeDowndate.from_standardized(genome, z[:, :r], m, float(np.trace(k)) / n)
    for likelihood, dense, search in (("REML", dense_reml, dense_reml),
                                      ("ML", dense_ml, dense_ml_explicit)):
        ours = fit_downdate(dd, y, x, likelihood=likelihood)
        log_gamma, best = argmax_dense(lambda t, f=search: f(y, x, k_rest, np.exp(t)))
        assert ours.loglik >= best - 1e-9
        assert np.log(ours.gamma) == pytest.approx(log_gamma, abs=1e-4)
        assert ours.loglik == pytest.approx(dense(y, x, k_rest, ours.gamma), rel=1e-10)
        _, hi, xhx, _ = dense_parts(y, x, k_rest, ours.gamma)
        np.testing.assert_allclose(ours.beta, np.linalg.solve(xhx, x.T @ hi @ y), rtol=1e-9)


def test_scan_equals_the_chromosome_scanner(problem):
    """Fixed-δ scan of c's SNPs (untestable and collinear ones included) at the same δ: every
    column as today's Scanner on K₋c's spectrum."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = problem.fit()
    ref = problem.reference(fixed_log_delta=ours.log_delta)
    g = problem.snps_of_c()
    mine = scan(DowndateScanner(ours), iterate_blocks(g, 16))
    theirs = scan(Scanner(ref), iterate_blocks(g, 16))
    np.testing.assert_array_equal(mine["errcode"], theirs["errcode"])
    if problem.r > 1:
        assert {"MONOMORPHIC", "NO_CALLS", "COLLINEAR"} <= set(mine["errcode"])
    for name in ("n", "af", "delta", "delta_ml"):
        np.testing.assert_array_equal(mine[name], theirs[name])
    for name in STATISTICS:
        np.testing.assert_array_equal(np.isnan(mine[name]), np.isnan(theirs[name]))
        np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-9, atol=1e-300)


def test_scan_equals_dense_gls():
    """Wald against a dense GLS fit, LRT against scipy's MVN, score against the dense P."""
    p = Problem(100, 300, 50, seed=3, n_cov=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = p.fit()
    g = p.snps_of_c(16)
    out = scan(DowndateScanner(null), iterate_blocks(g, 5))
    x, y, k = p.x, p.y, p.k_rest
    n, c = x.shape
    _, _, _, p_mat = dense_parts(y, x, k, null.gamma)
    tested = np.flatnonzero(out["errcode"] == ".")
    assert tested.size >= 12
    for j in tested:
        gj = impute_center(g[:, [j]]).centered[:, 0]
        beta, se, p_wald = dense_wald(y, x, k, gj, null.gamma)
        assert out["beta"][j] == pytest.approx(beta, rel=1e-8)
        assert out["se"][j] == pytest.approx(se, rel=1e-8)
        assert out["p_wald"][j] == pytest.approx(p_wald, rel=1e-7)
        xp = np.column_stack([x, gj])
        lrt = 2 * (dense_ml(y, xp, k, null.gamma) - dense_ml(y, x, k, null.gamma))
        assert out["p_lrt"][j] == pytest.approx(scipy.stats.chi2.sf(lrt, 1), rel=1e-7)
        f_score = n * (gj @ p_mat @ y) ** 2 / ((gj @ p_mat @ gj) * (y @ p_mat @ y))
        assert out["p_score"][j] == pytest.approx(scipy.stats.f.sf(f_score, 1, n - c - 1),
                                                  rel=1e-7)


@pytest.mark.parametrize("name", ["k-c-rank-deficient", "m-near-n", "low-rank", "r-near-m"])
def test_near_singular_downdate_keeps_relative_accuracy(name):
    """K₋c singular where K is not, at δ = 1e-5 and 1e-3 (γ' = αγ large): the capacitance's
    γ-free part T is used in its eigenbasis with its rounding-level eigenvalues set to 0
    (module notes), so the statistics keep their digits: se and p-values 1e-9, β within 1e-8
    of its se (without it: 1e-8 to 5e-7 here)."""
    p = make(name)
    assert p.downdate.null_directions > 0
    g = p.snps_of_c()
    for log_delta in (-11.5, -6.9):
        ours = p.fit(fixed_log_delta=log_delta)
        ref = p.reference(fixed_log_delta=log_delta)
        assert ours.loglik == pytest.approx(ref.loglik, rel=1e-12)
        mine = scan(DowndateScanner(ours), iterate_blocks(g, 16))
        theirs = scan(Scanner(ref), iterate_blocks(g, 16))
        for column in ("se", "p_wald", "p_lrt", "p_score"):
            np.testing.assert_allclose(mine[column], theirs[column], rtol=1e-9, atol=1e-300)
        tested = ~np.isnan(theirs["beta"])  # β against its standard error
        assert np.all(np.abs(mine["beta"] - theirs["beta"])[tested]
                      <= 1e-8 * theirs["se"][tested])


def test_schur_basis_is_needed(monkeypatch):
    """The test above fails without T's eigenbasis (so it tests it)."""
    monkeypatch.setattr(downdate_mod, "SCHUR_SMALL", 0.0)
    p = make("r-near-m")
    assert p.downdate.null_directions == 0
    ours = p.fit(fixed_log_delta=-11.5)
    ref = p.reference(fixed_log_delta=-11.5)
    g = p.snps_of_c()
    mine = scan(DowndateScanner(ours), iterate_blocks(g, 16))
    theirs = scan(Scanner(ref), iterate_blocks(g, 16))
    tested = ~np.isnan(theirs["p_wald"])
    error = np.max(np.abs(mine["p_wald"][tested] / theirs["p_wald"][tested] - 1))
    assert error > 1e-9


def test_boundary_h2_zero_is_flagged_like_fit_null():
    """A phenotype without kinship signal: δ at its upper bound, flagged and warned about."""
    p = Problem(100, 300, 50, seed=9, signal=0.0)
    p.y = p.x @ [1.0, 0.5] + np.random.default_rng(2).standard_normal(100)
    with pytest.warns(UserWarning, match="h2=0"):
        ref = p.reference()
    with pytest.warns(UserWarning, match="h2=0"):
        ours = fit_downdate(p.downdate, p.y, p.x, source="pheno.txt")
    assert ours.boundary == ref.boundary == "h2=0"
    assert ours.log_delta == ref.log_delta == pytest.approx(np.log(1e5))
    assert ours.loglik == pytest.approx(ref.loglik, rel=1e-13)


def test_fixed_gamma_and_start():
    """A fixed δ is evaluated, not searched; a start far from the optimum still reaches it."""
    p = make("full")
    fixed = p.fit(fixed_log_delta=1.3)
    assert fixed.log_delta == 1.3 and fixed.evaluations == 1 and fixed.boundary is None
    best = p.fit()
    far = fit_downdate(p.downdate, p.y, p.x, start_log_delta=9.0)
    assert far.log_delta == pytest.approx(best.log_delta, abs=1e-7)


def test_blocks_of_dosages_give_the_same_downdate_and_rotations():
    """from_blocks (centered dosages, scale 1/sd) equals from_standardized, and a scan that
    reuses its rotations is bit-identical to one that rotates again."""
    p = make("full")
    g_c = p.g[:, :60]
    blocks = [impute_center(g_c[:, j:j + 16]) for j in range(0, 60, 16)]
    dd, rotations = ChromosomeDowndate.from_blocks(p.genome, blocks, p.m_total, p.genome_diag)
    assert dd.n_removed == p.r
    for dd_here in (dd, p.downdate):
        assert dd_here.mean_diag == pytest.approx(p.own_diag, rel=1e-12)
    a = fit_downdate(dd, p.y, p.x)
    b = p.fit()
    assert a.loglik == pytest.approx(b.loglik, rel=1e-13)
    assert a.log_delta == pytest.approx(b.log_delta, abs=1e-9)
    scanner = DowndateScanner(a)
    again = scan_imputed([scanner], blocks)[0]
    reused = scan_imputed([scanner], blocks, rotations=rotations)[0]
    by_hand = [scanner.scan_rotated(rotate_block(p.genome, block, x_rot=x_rot))
               for block, x_rot in zip(blocks, rotations, strict=True)]
    for name in again:
        np.testing.assert_array_equal(reused[name], again[name])
        np.testing.assert_array_equal(np.concatenate([part[name] for part in by_hand]),
                                      again[name])
    before = [x_rot.copy() for x_rot in rotations]  # the caller's rotations are not changed
    scan_imputed([scanner], blocks, rotations=rotations)
    assert all(np.array_equal(x, y) for x, y in zip(before, rotations, strict=True))


def test_duplicated_snps_on_the_chromosome():
    """Identical SNPs make X rank-deficient; C stays positive definite (its eigenvalue there is
    1) and the results are today's."""
    p = make("full", duplicates=True)
    ours, ref = p.fit(fixed_log_delta=-1.0), p.reference(fixed_log_delta=-1.0)
    assert ours.loglik == pytest.approx(ref.loglik, rel=1e-12)


def test_bad_shapes_are_refused():
    p = make("full")
    with pytest.raises(ValueError, match="columns"):
        ChromosomeDowndate(p.genome, p.z_c.T, p.z_c.T @ p.genome.covariate_basis, p.m_total,
                           1.0)
    with pytest.raises(ValueError, match="between 1 and M"):
        ChromosomeDowndate.from_standardized(p.genome, p.z_c, p.r, 1.0)


def test_plan_chooses_by_cost_and_is_recordable():
    # N = 8,000, M = 20,000, 10 chromosomes: the downdate, by far
    plan = plan_chromosome(8000, 7998, 20000, 2000, 2000)
    assert plan.method == "downdate"
    assert plan.costs["downdate"] < 0.1 * plan.costs["eigendecomposition"]
    # a chromosome carrying nearly all of the kinship: K₋c's own low-rank SVD is cheap
    assert plan_chromosome(8000, 7998, 20000, 19000, 19000).method == "eigendecomposition"
    # the per-SNP refit needs K₋c's own spectrum
    refit = plan_chromosome(8000, 7998, 20000, 2000, 2000, refit=True)
    assert refit.method == "eigendecomposition" and "refit" in refit.reason
    # low-rank genome-wide spectrum (M < n)
    assert plan_chromosome(20000, 4000, 4000, 400, 400).method == "downdate"
    record = json.loads(json.dumps(plan.record()))
    assert record["method"] == "downdate" and set(record["costs"]) == {
        "downdate", "eigendecomposition"}


def test_phenotypes_share_the_downdate_and_the_rotations():
    """Two phenotypes: one downdate (it holds no phenotype), one rotation per block for both
    scanners (scan_imputed), each table the same as a scan of its own."""
    p = make("full")
    y2 = p.y[::-1].copy()
    fits = [fit_downdate(p.downdate, y, p.x) for y in (p.y, y2)]
    alone = fit_downdate(make("full").downdate, y2, p.x)
    assert fits[1].log_delta == alone.log_delta and fits[1].loglik == alone.loglik
    g = p.snps_of_c()
    shared = scan_imputed([DowndateScanner(f) for f in fits],
                          [impute_center(g[:, j:j + 16]) for j in range(0, 40, 16)])
    for fit, table in zip(fits, shared, strict=True):
        own = scan(DowndateScanner(fit), iterate_blocks(g, 16))
        for name in own:
            np.testing.assert_array_equal(table[name], own[name])
