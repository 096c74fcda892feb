"""The LMM against brute force: dense V = σg²K + σe²I, slogdet, solve, scipy optimisers.

Nothing here reuses the eigenbasis formulas of the package: every reference value is computed
from the dense covariance matrix (or scipy's multivariate normal).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from exactlmm.dosage import count_errcodes
from exactlmm.errors import InputError
from exactlmm.likelihood import RotatedPhenotype, profile_loglik
from exactlmm.null import fit_null, maximise_profile
from exactlmm.scan import Scanner, iterate_blocks, scan
from exactlmm.spectral import kinship_eigenvalues, spectrum_from_genotypes, spectrum_from_kinship

N = 90


def make_problem(seed: int, n_cov: int, n_kin_snps: int = 200, n_test: int = 12):
    rng = np.random.default_rng(seed)
    # Not column-centred: a centred Z puts 1 in the null space of K, and then ML (not REML)
    # is unbounded as γ → ∞ (see exactlmm.likelihood); these tests want interior optima.
    z = rng.standard_normal((N, n_kin_snps))
    k = z @ z.T / n_kin_snps
    x = np.column_stack([np.ones(N), rng.standard_normal((N, n_cov))])
    beta = rng.standard_normal(x.shape[1])
    y = x @ beta + rng.multivariate_normal(np.zeros(N), 0.7 * k + 0.6 * np.eye(N))
    g = rng.binomial(2, rng.uniform(0.1, 0.5, n_test), size=(N, n_test)).astype(float)
    g[:, 0] += 0.4 * y  # one SNP with a real signal (dosages need not be integers here)
    return z, k, x, y, g


def dense_parts(y, x, k, gamma):
    h = gamma * k + np.eye(len(y))
    hi = np.linalg.inv(h)
    xhx = x.T @ hi @ x
    p = hi - hi @ x @ np.linalg.solve(xhx, x.T @ hi)
    return h, hi, xhx, p


def dense_reml(y, x, k, gamma):
    """Exact REML at σg² = γσ̂e², σ̂e² its REML estimate; includes +½ log|XᵀX|."""
    n, c = x.shape
    h, _, _, p = dense_parts(y, x, k, gamma)
    s2 = y @ p @ y / (n - c)
    v = s2 * h
    return -0.5 * (
        (n - c) * np.log(2 * np.pi)
        + np.linalg.slogdet(v)[1]
        + np.linalg.slogdet(x.T @ np.linalg.inv(v) @ x)[1]
        - np.linalg.slogdet(x.T @ x)[1]
        + y @ (p / s2) @ y
    )


def dense_ml(y, x, k, gamma):
    """Exact ML via scipy's multivariate normal at the GLS β̂ and the ML σ̂e²."""
    h, hi, xhx, _ = dense_parts(y, x, k, gamma)
    b = np.linalg.solve(xhx, x.T @ hi @ y)
    r = y - x @ b
    s2 = r @ hi @ r / len(y)
    return scipy.stats.multivariate_normal(x @ b, s2 * h).logpdf(y)


def dense_ml_explicit(y, x, k, gamma):
    """The same ML value from slogdet and solve (cheaper than scipy's MVN, for optimisation)."""
    n = len(y)
    h, hi, xhx, _ = dense_parts(y, x, k, gamma)
    r = y - x @ np.linalg.solve(xhx, x.T @ hi @ y)
    s2 = r @ hi @ r / n
    return -0.5 * (n * np.log(2 * np.pi) + np.linalg.slogdet(s2 * h)[1] + r @ hi @ r / s2)


def dense_wald(y, x, k, g, gamma):
    xp = np.column_stack([x, g])
    _, hi, _, _ = dense_parts(y, x, k, gamma)
    a = xp.T @ hi @ xp
    b = np.linalg.solve(a, xp.T @ hi @ y)
    r = y - xp @ b
    dof = len(y) - xp.shape[1]
    se = np.sqrt(r @ hi @ r / dof * np.linalg.inv(a)[-1, -1])
    return b[-1], se, 2 * scipy.stats.t.sf(abs(b[-1] / se), dof)


LOG_GAMMA_RANGE = (float(np.log(1e-5)), float(np.log(1e5)))


def argmax_dense(fun, lo=LOG_GAMMA_RANGE[0], hi=LOG_GAMMA_RANGE[1]):
    """Global maximiser of fun(log γ): a fine grid, then a bounded scalar search."""
    grid = np.linspace(lo, hi, 161)
    values = np.array([fun(t) for t in grid])
    j = int(np.argmax(values))
    a, b = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
    res = scipy.optimize.minimize_scalar(
        lambda t: -fun(t), bounds=(a, b), method="bounded", options={"xatol": 1e-11}
    )
    return res.x, -res.fun


@pytest.mark.parametrize("n_cov", [0, 2])
@pytest.mark.parametrize("low_rank", [False, True])
def test_loglik_equals_dense(n_cov, low_rank):
    z, k, x, y, _ = make_problem(1, n_cov, n_kin_snps=40 if low_rank else 200)
    if low_rank:
        spectrum = spectrum_from_genotypes(z, z.shape[1], x)
        assert spectrum.n_residual > 0
    else:
        spectrum = spectrum_from_kinship(k, x).with_kinship_eigenvalues(kinship_eigenvalues(k))
    phen = RotatedPhenotype.from_phenotype(spectrum, y)
    for gamma in [1e-3, 0.2, 1.0, 7.5, 300.0]:
        t = -np.log(gamma)
        reml = profile_loglik(phen, t, "REML")[0]
        ml = profile_loglik(phen, t, "ML")[0]
        assert reml == pytest.approx(dense_reml(y, x, k, gamma), rel=1e-8)
        assert ml == pytest.approx(dense_ml(y, x, k, gamma), rel=1e-8)


@pytest.mark.parametrize("likelihood", ["REML", "ML"])
def test_optimiser_finds_the_maximum(likelihood):
    _, k, x, y, _ = make_problem(2, 1)
    spectrum = spectrum_from_kinship(k, x).with_kinship_eigenvalues(kinship_eigenvalues(k))
    null = fit_null(spectrum, y, x, k.__matmul__, np.trace(k) / N, likelihood=likelihood)
    dense = dense_reml if likelihood == "REML" else dense_ml_explicit
    reference = dense_reml if likelihood == "REML" else dense_ml
    assert null.loglik == pytest.approx(reference(y, x, k, null.gamma), rel=1e-10)
    grid = np.linspace(np.log(1e-5), np.log(1e5), 401)
    best_grid = max(dense(y, x, k, np.exp(t)) for t in grid)
    assert null.loglik >= best_grid - 1e-9
    t_ref, f_ref = argmax_dense(lambda t: dense(y, x, k, np.exp(t)))
    assert null.loglik == pytest.approx(f_ref, abs=1e-8)
    assert np.log(null.gamma) == pytest.approx(t_ref, abs=1e-4)
    h = null.gamma * k + np.eye(N)
    hi = np.linalg.inv(h)
    beta = np.linalg.solve(x.T @ hi @ x, x.T @ hi @ y)
    np.testing.assert_allclose(null.beta, beta, rtol=1e-8)


def test_boundary_estimate_is_flagged():
    """y orthogonal to the kinship's range: yᵀPy is flat in γ while log|Q₂ᵀHQ₂| grows, so
    the REML optimum is σg² = 0 (h² = 0), which must be reported at the bound and flagged."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal((N, 5))
    x = np.ones((N, 1))
    basis = np.linalg.qr(np.column_stack([x, z]))[0]
    e = rng.standard_normal(N)
    y = 2.0 + e - basis @ (basis.T @ e)
    spectrum = spectrum_from_genotypes(z, 5, x)
    with pytest.warns(UserWarning, match="h2=0"):
        null = fit_null(spectrum, y, x, lambda v: z @ (z.T @ v) / 5, 1.0)
    assert null.boundary == "h2=0"
    assert null.delta == pytest.approx(1e5)


@pytest.mark.parametrize("low_rank", [False, True])
def test_fixed_scan_equals_dense_gls(low_rank):
    z, k, x, y, g = make_problem(4, 2, n_kin_snps=40 if low_rank else 200)
    if low_rank:
        spectrum = spectrum_from_genotypes(z, z.shape[1], x)
    else:
        spectrum = spectrum_from_kinship(k, x)
    null = fit_null(spectrum, y, x, k.__matmul__, np.trace(k) / N)
    out = scan(Scanner(null), iterate_blocks(g, 5))
    n, c = x.shape
    for j in range(g.shape[1]):
        beta, se, p = dense_wald(y, x, k, g[:, j], null.gamma)
        assert out["beta"][j] == pytest.approx(beta, rel=1e-8)
        assert out["se"][j] == pytest.approx(se, rel=1e-8)
        assert out["p_wald"][j] == pytest.approx(p, rel=1e-7)
        # LRT at the fixed γ: 2(ML₁ − ML₀), both with σe² profiled, via scipy's MVN.
        xp = np.column_stack([x, g[:, j]])
        lrt = 2 * (dense_ml(y, xp, k, null.gamma) - dense_ml(y, x, k, null.gamma))
        assert out["p_lrt"][j] == pytest.approx(scipy.stats.chi2.sf(lrt, 1), rel=1e-7)
        # Score (GEMMA): n (gᵀPy)² / (gᵀPg · yᵀPy) ~ F(1, n − c − 1), P from the dense H.
        _, _, _, p_mat = dense_parts(y, x, k, null.gamma)
        gj = g[:, j]
        f_score = n * (gj @ p_mat @ y) ** 2 / ((gj @ p_mat @ gj) * (y @ p_mat @ y))
        assert out["p_score"][j] == pytest.approx(
            scipy.stats.f.sf(f_score, 1, n - c - 1), rel=1e-7
        )
    assert out["p_wald"][0] < 1e-6  # the planted signal is found


def test_refit_scan_equals_dense_optimum():
    _, k, x, y, g = make_problem(5, 1, n_test=6)
    spectrum = spectrum_from_kinship(k, x).with_kinship_eigenvalues(kinship_eigenvalues(k))
    null = fit_null(spectrum, y, x, k.__matmul__, 1.0)
    ml_null = fit_null(spectrum, y, x, k.__matmul__, 1.0, likelihood="ML")
    out = scan(Scanner(null, refit=True, ml_null=ml_null), iterate_blocks(g, 4))
    for j in range(g.shape[1]):
        xp = np.column_stack([x, g[:, j]])
        t_reml, _ = argmax_dense(lambda t, xp=xp: dense_reml(y, xp, k, np.exp(t)))
        t_ml, f_ml = argmax_dense(lambda t, xp=xp: dense_ml_explicit(y, xp, k, np.exp(t)))
        assert -np.log(out["delta"][j]) == pytest.approx(t_reml, abs=1e-6)
        assert -np.log(out["delta_ml"][j]) == pytest.approx(t_ml, abs=1e-6)
        _, _, p_wald = dense_wald(y, x, k, g[:, j], np.exp(t_reml))
        assert out["p_wald"][j] == pytest.approx(p_wald, rel=1e-6)
        lrt = 2 * (f_ml - dense_ml(y, x, k, ml_null.gamma))
        assert out["p_lrt"][j] == pytest.approx(scipy.stats.chi2.sf(lrt, 1), rel=1e-6)


def test_low_rank_and_full_rank_agree():
    z, _, x, y, g = make_problem(6, 1, n_kin_snps=50)
    k = z @ z.T / z.shape[1]
    full = spectrum_from_kinship(k, x).with_kinship_eigenvalues(kinship_eigenvalues(k))
    low = spectrum_from_genotypes(z, z.shape[1], x)
    results = []
    for spectrum in (full, low):
        null = fit_null(spectrum, y, x, k.__matmul__, 1.0)
        ml_null = fit_null(spectrum, y, x, k.__matmul__, 1.0, likelihood="ML")
        results.append(
            (null, scan(Scanner(null, refit=True, ml_null=ml_null), iterate_blocks(g, 7)))
        )
    (n_full, s_full), (n_low, s_low) = results
    assert n_full.loglik == pytest.approx(n_low.loglik, rel=1e-9)
    assert n_full.gamma == pytest.approx(n_low.gamma, rel=1e-6)
    for name in ("beta", "se", "p_wald", "p_lrt", "p_score", "delta", "delta_ml"):
        np.testing.assert_allclose(s_full[name], s_low[name], rtol=1e-5, err_msg=name)


def test_block_size_does_not_change_results():
    _, k, x, y, g = make_problem(7, 0, n_test=20)
    spectrum = spectrum_from_kinship(k, x).with_kinship_eigenvalues(kinship_eigenvalues(k))
    null = fit_null(spectrum, y, x, k.__matmul__, 1.0)
    ml_null = fit_null(spectrum, y, x, k.__matmul__, 1.0, likelihood="ML")
    scanner = Scanner(null, refit=True, ml_null=ml_null)
    one = scan(scanner, iterate_blocks(g, 20))
    many = scan(scanner, iterate_blocks(g, 3))
    # Summation order differs between block sizes; the per-SNP optimum is defined to the
    # Newton tolerance REFIT_TOL = 1e-9 on log γ, so that is the invariance to expect.
    np.testing.assert_array_equal(one.pop("errcode"), many.pop("errcode"))
    for name, values in one.items():
        np.testing.assert_allclose(values, many[name], rtol=1e-8, err_msg=name)


@pytest.mark.parametrize("low_rank", [False, True])
def test_untestable_snps_get_na_and_a_reason(low_rank):
    """A SNP that is also a covariate (COLLINEAR), one with a single called value (MONOMORPHIC,
    also for a non-integer dosage whose mean rounds), one without any call (NO_CALLS): NA
    statistics and the reason, in fixed and refit mode, without any warning; the other SNPs'
    statistics are those of a scan without the untestable ones."""
    z, k, x, y, g = make_problem(9, 0, n_test=8, n_kin_snps=40 if low_rank else 200)
    x = np.column_stack([x, g[:, 2]])
    g[:, 4] = 0.7  # the mean of its 60 calls is not 0.7 in floating point: still MONOMORPHIC
    g[::3, 4] = np.nan
    g[:, 5] = np.nan
    g[:, 6] = 2.0
    if low_rank:
        spectrum = spectrum_from_genotypes(z, z.shape[1], x)
    else:
        spectrum = spectrum_from_kinship(k, x).with_kinship_eigenvalues(kinship_eigenvalues(k))
    null = fit_null(spectrum, y, x, k.__matmul__, 1.0)
    ml_null = fit_null(spectrum, y, x, k.__matmul__, 1.0, likelihood="ML")
    expected = [".", ".", "COLLINEAR", ".", "MONOMORPHIC", "NO_CALLS", "MONOMORPHIC", "."]
    testable = np.array(expected) == "."
    for scanner in (Scanner(null), Scanner(null, refit=True, ml_null=ml_null)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = scan(scanner, iterate_blocks(g, 3))
            alone = scan(scanner, iterate_blocks(g[:, testable], 2))
        assert out["errcode"].tolist() == expected
        assert count_errcodes(out["errcode"]) == {
            "NO_CALLS": 1, "MONOMORPHIC": 2, "COLLINEAR": 1,
        }
        names = ("beta", "se", "p_wald", "p_lrt", "p_score", "delta")
        for name in (*names, "delta_ml"):
            assert np.all(np.isnan(out[name][~testable])), name
        for name in names:
            np.testing.assert_allclose(out[name][testable], alone[name], rtol=1e-8,
                                       err_msg=name)
        np.testing.assert_array_equal(out["n"], [N, N, N, N, N - 30, 0, N, N])
        assert out["af"][4] == 0.35 and out["af"][6] == 1.0 and np.isnan(out["af"][5])
        assert np.all(np.isfinite(out["af"][[0, 1, 2, 3, 7]]))
    # A block made only of untestable SNPs.
    out = scan(Scanner(null, refit=True, ml_null=ml_null), iterate_blocks(g[:, [5, 6]], 4))
    assert out["errcode"].tolist() == ["NO_CALLS", "MONOMORPHIC"]


def test_kinship_zero_off_the_covariates_is_singular():
    rng = np.random.default_rng(10)
    x = np.column_stack([np.ones(N), rng.standard_normal(N)])
    k = np.outer(x[:, 0], x[:, 0]) + np.outer(x[:, 1], x[:, 1])  # lives inside col(X)
    with pytest.raises(InputError, match="singular"):
        spectrum_from_kinship(k, x)
    with pytest.raises(InputError, match="singular"):
        spectrum_from_genotypes(x[:, 1:] * 3.0, 1, x)


def test_negative_kinship_eigenvalue_inside_covariates_is_rejected_for_ml():
    _, k, x, _, _ = make_problem(11, 0)
    u = x[:, 0] / np.linalg.norm(x[:, 0])
    bad = k - 2.0 * np.max(np.linalg.eigvalsh(k)) * np.outer(u, u)  # REML cannot see this
    spectrum = spectrum_from_kinship(bad, x)
    with pytest.raises(InputError, match="positive semi-definite"):
        spectrum.with_kinship_eigenvalues(kinship_eigenvalues(bad))


def test_optimum_inside_the_first_grid_cell_is_not_a_boundary():
    lo, hi = -11.5, 11.5
    x, _, edge = maximise_profile(lambda t: -((t - (lo + 0.1)) ** 2), (lo, hi), 100)
    assert edge is None
    assert x == pytest.approx(lo + 0.1, abs=1e-6)
    x, _, edge = maximise_profile(lambda t: -t, (lo, hi), 100)  # truly on the bound
    assert edge == "lower" and x == lo
