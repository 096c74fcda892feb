"""The numerical building blocks behind the speed: in-place BLAS/LAPACK (both back ends), the
Brent port, tiled symmetric helpers, log|H| from the Schur complement, K v from the spectrum,
P(χ²₁ > x) by erfc, and the refit's local Chebyshev series."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.special

from exactlmm import blas, symmetric
from exactlmm.brent import minimize_bounded
from exactlmm.errors import InputError
from exactlmm.scan import RefitTables, chi2_1_sf
from exactlmm.spectral import spectrum_from_genotypes, spectrum_from_kinship


@pytest.fixture(params=["numpy", "scipy"])
def backend(request, monkeypatch):
    """Run a test on numpy's BLAS through ctypes and on SciPy's wrappers (the fallback)."""
    if request.param == "scipy":
        monkeypatch.setattr(blas, "_library", lambda: None)
    elif blas._library() is None:
        pytest.skip("numpy's BLAS cannot be called directly here")
    return request.param


def test_syrk_in_tiles_is_syrk():
    """Above :data:`blas.SYRK_TILE` the rank-k update goes in tiles (dsyrk on the diagonal
    tiles, dgemm above them): the same upper triangle, the lower one untouched, a column slice
    of a Fortran array and a ragged last tile included."""
    if blas._library() is None:
        pytest.skip("numpy's BLAS cannot be called directly here")
    rng = np.random.default_rng(3)
    n = 57
    a = np.asfortranarray(rng.standard_normal((n, 80)))
    start = np.asfortranarray(rng.standard_normal((n, n)))
    whole = blas.syrk(0.5, a[:, 10:40], 2.0, start.copy(order="F"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(blas, "SYRK_TILE", 16)  # tiles of 16, 16, 16 and 9
        tiled = blas.syrk(0.5, a[:, 10:40], 2.0, start.copy(order="F"))
    np.testing.assert_allclose(np.triu(tiled), np.triu(whole), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(np.tril(tiled, -1), np.tril(start, -1))
    np.testing.assert_allclose(np.triu(tiled), np.triu(0.5 * a[:, 10:40] @ a[:, 10:40].T
                                                       + 2.0 * start), rtol=1e-12, atol=1e-12)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(blas, "SYRK_TILE", 16)
        product = blas.gram(a)  # A Aᵀ whole, through the tiles
    np.testing.assert_allclose(product, a @ a.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(product, product.T)


def test_in_place_blas_and_lapack(backend):
    rng = np.random.default_rng(0)
    n = 57
    a = np.asfortranarray(rng.standard_normal((n, 80)))
    c = np.asfortranarray(np.triu(rng.standard_normal((n, n))))
    start = c.copy()
    assert blas.syrk(0.5, a[:, 10:40], 2.0, c) is c  # a column slice of a Fortran array
    np.testing.assert_allclose(np.triu(c), np.triu(0.5 * a[:, 10:40] @ a[:, 10:40].T
                                                   + 2.0 * start), rtol=1e-12, atol=1e-12)
    q, b = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    start = c.copy()
    blas.syr2k(1.0, q, b, 1.0, c)
    np.testing.assert_allclose(np.triu(c), np.triu(start + q @ b.T + b @ q.T), rtol=1e-12,
                               atol=1e-12)
    k = a @ a.T / 80
    work = np.asfortranarray(np.triu(k))  # only the upper triangle is read
    values = blas.syevd(work)
    np.testing.assert_allclose(values, np.linalg.eigvalsh(k), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(work @ np.diag(values) @ work.T, k, atol=1e-11)
    with pytest.raises(ValueError, match="Fortran"):
        blas.syevd(np.ascontiguousarray(k)[:, :-1])
    tall = np.asfortranarray(rng.standard_normal((n, 23)))
    start = tall.copy()
    sv, vt = blas.gesdd(tall)  # U overwrites the matrix
    np.testing.assert_allclose(sv, np.linalg.svd(start, compute_uv=False), rtol=1e-12)
    np.testing.assert_allclose(tall.T @ tall, np.eye(23), atol=1e-12)
    np.testing.assert_allclose(tall * sv @ vt, start, atol=1e-12)
    with pytest.raises(ValueError, match="tall"):
        blas.gesdd(np.asfortranarray(start.T))


def test_low_rank_spectrum_in_the_genotypes_buffer_equals_the_copying_one(backend):
    """With ``overwrite`` S Z and then U live in Z's own buffer: same spectrum, same K v."""
    rng = np.random.default_rng(8)
    x = np.column_stack([np.ones(70), rng.standard_normal(70)])
    z = np.asfortranarray(rng.standard_normal((70, 30)))
    z[:, 5] = z[:, 4]  # a repeated SNP: rank 29, one singular value dropped
    copied = spectrum_from_genotypes(z, 30, x)
    start = z.copy()
    in_place = spectrum_from_genotypes(z, 30, x, overwrite=True, column_block=7)
    assert np.shares_memory(in_place.basis, z) and not np.shares_memory(copied.basis, z)
    assert in_place.rank == copied.rank == 29  # 30 SNPs, one repeated
    assert np.all(np.diff(in_place.eigenvalues) >= 0)  # ascending, as eigh
    np.testing.assert_allclose(in_place.eigenvalues, copied.eigenvalues, rtol=1e-12)
    v = rng.standard_normal(70)
    k = start @ start.T / 30
    for spectrum in (copied, in_place):
        np.testing.assert_allclose(spectrum.kinship_matvec(v), k @ v, rtol=1e-10, atol=1e-12)
        w = spectrum.basis
        np.testing.assert_allclose(w.T @ w, np.eye(29), atol=1e-12)
        np.testing.assert_allclose(w.T @ x, 0.0, atol=1e-12)
        np.testing.assert_allclose(w.T @ k @ w, np.diag(spectrum.eigenvalues), atol=1e-12)


def test_brent_port_takes_scipys_steps():
    rng = np.random.default_rng(3)
    for _ in range(300):
        c = rng.normal(size=4)

        def f(t, c=c):
            return float(np.sin(c[0] * t) + c[1] * t * t + c[2] * np.cos(3 * t) + c[3] * t)

        lo, hi = sorted(rng.uniform(-5, 5, 2))
        ref = scipy.optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded",
                                             options={"xatol": 1e-10, "maxiter": 500})
        assert minimize_bounded(f, lo, hi, 1e-10, 500) == (ref.x, ref.fun)


def test_tiled_symmetric_helpers():
    rng = np.random.default_rng(4)
    for n in (3, 512, 1100):
        k = rng.standard_normal((n, n))
        np.testing.assert_array_equal(symmetric.symmetrize(k.copy()), (k + k.T) / 2)
        upper = np.triu(k)
        np.testing.assert_array_equal(symmetric.fill_lower(k.copy()), upper + np.triu(k, 1).T)
        worst, (i, j) = symmetric.max_asymmetry(k)
        assert worst == np.abs(k - k.T).max() == abs(k[i, j] - k[j, i])
        assert symmetric.max_abs(k) == np.abs(k).max()


def _kinship(seed: int, n: int = 60, m: int = 150, centred: bool = False) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal((n, m))
    if centred:
        z -= z.mean(axis=0)
    return z @ z.T / m


@pytest.mark.parametrize("centred", [False, True])
@pytest.mark.parametrize("n_cov", [1, 3])
def test_logdet_h_from_the_schur_complement(centred, n_cov):
    """log|γK + I| without the eigenvalues of K equals Σ log(1 + γdⱼ), K v equals K @ v."""
    k = _kinship(1, centred=centred)
    rng = np.random.default_rng(2)
    x = np.column_stack([np.ones(60), rng.standard_normal((60, n_cov - 1))])
    spectrum = spectrum_from_kinship(k, x)
    gamma = np.array([1e-5, 0.01, 1.0, 37.0, 1e5])
    d = np.clip(np.linalg.eigvalsh(k), 0.0, None)
    np.testing.assert_allclose(spectrum.logdet_h(gamma), np.log1p(np.outer(gamma, d)).sum(1),
                               rtol=1e-10, atol=1e-8)
    v = rng.standard_normal(60)
    np.testing.assert_allclose(spectrum.kinship_matvec(v), k @ v, rtol=1e-10, atol=1e-12)
    z = np.random.default_rng(5).standard_normal((60, 20))
    low = spectrum_from_genotypes(z, 20, x)
    d_low = np.clip(np.linalg.eigvalsh(z @ z.T / 20), 0.0, None)
    np.testing.assert_allclose(low.logdet_h(gamma), np.log1p(np.outer(gamma, d_low)).sum(1),
                               rtol=1e-10, atol=1e-8)


def test_indefinite_kinship_inside_the_covariates_is_an_error_for_ml():
    k = _kinship(3)
    x = np.ones((60, 1))
    u = x[:, 0] / np.sqrt(60)
    bad = k - 2.0 * np.linalg.eigvalsh(k).max() * np.outer(u, u)  # REML cannot see this
    spectrum = spectrum_from_kinship(bad, x, "k.txt")
    with pytest.raises(InputError, match=r"k\.txt: kinship is not positive semi-definite"):
        spectrum.logdet_h(1.0)


def test_chi2_one_df_by_erfc():
    x = np.concatenate([[0.0], 10.0 ** np.linspace(-10, 3.3, 20000)])
    expected = scipy.special.chdtrc(1, x)
    np.testing.assert_allclose(chi2_1_sf(x), expected, rtol=1e-12)
    assert np.isnan(chi2_1_sf(np.array([np.nan]))[0])


def test_local_series_match_the_exact_sums():
    """On every bracket the degree-L series of wᵢ(t) = 1/(eᵗsᵢ + 1), log|Q₂ᵀHQ₂| and log|H| are
    within ~1e-14 of their scale (module notes of exactlmm.scan)."""
    spectrum = spectrum_from_kinship(_kinship(6, n=80), np.ones((80, 1)))
    tables = RefitTables(spectrum, (np.log(1e-5), np.log(1e5)))
    assert tables.degree == 11
    s = spectrum.eigenvalues
    rng = np.random.default_rng(7)
    brackets = rng.integers(0, tables.t_grid.size, 400)
    t = tables.mid[brackets] + tables.half[brackets] * rng.uniform(-1, 1, 400)
    basis = tables.basis(t, brackets, 0)[0]  # (L+1) × len(t)
    series = np.einsum("mlk,lm->mk", tables.phi[brackets], basis)
    exact = 1.0 / (np.exp(t)[:, None] * s + 1.0)
    assert np.abs(series - exact).max() < 5e-14
    logdet = np.einsum("ml,lm->m", tables.coef_logdet[brackets], basis)
    exact_logdet = np.log1p(np.exp(t)[:, None] * s).sum(1)
    assert np.abs(logdet - exact_logdet).max() < 1e-11 * max(1.0, np.abs(exact_logdet).max())
    logdet_h = np.einsum("ml,lm->m", tables.coef_logdet_h[brackets], basis)
    np.testing.assert_allclose(logdet_h, spectrum.logdet_h(np.exp(t)), rtol=1e-12, atol=1e-10)


def test_refit_whole_block_brackets_equal_gathered_ones(monkeypatch):
    """Brackets holding many SNPs take the one-GEMM path (every SNP's ML optimum at the bound
    when K1 = 0 and n is small); forcing every bracket onto either path gives the same
    statistics to rounding."""
    from exactlmm import scan as scan_module
    from exactlmm.null import fit_null

    rng = np.random.default_rng(12)
    z = rng.standard_normal((70, 200))
    z -= z.mean(axis=0)  # K1 = 0: ML rises to the upper bound of γ
    k = z @ z.T / 200
    x = np.ones((70, 1))
    y = z[:, :20] @ rng.normal(0, 0.1, 20) + rng.standard_normal(70)
    g = rng.binomial(2, 0.3, size=(70, 600)).astype(float)
    spectrum = spectrum_from_kinship(k, x)
    with pytest.warns(UserWarning):
        ml = fit_null(spectrum, y, x, k.__matmul__, 1.0, likelihood="ML")
    reml = fit_null(spectrum, y, x, k.__matmul__, 1.0)
    results = []
    for threshold in (1, 10**9):
        monkeypatch.setattr(scan_module, "MIN_FULL_BRACKET", threshold)
        scanner = scan_module.Scanner(reml, refit=True, ml_null=ml)
        results.append(scan_module.scan(scanner, scan_module.iterate_blocks(g, 600)))
    for name in ("beta", "se", "p_wald", "p_lrt", "delta", "delta_ml"):
        np.testing.assert_allclose(results[0][name], results[1][name], rtol=1e-10,
                                   err_msg=name)
