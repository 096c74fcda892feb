"""Tests for exactlmm.kinship against dense numpy computations (and GEMMA, marked slow)."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import numpy as np
import pytest
from bed_reader import open_bed, to_bed

from exactlmm.errors import InputError
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.plink import open_plink
from exactlmm.io.tables import match_samples, phenotype_from_fam
from exactlmm.kinship import (
    center,
    kinship_centered,
    kinship_like_gemma,
    kinship_loco,
    kinship_standardized,
    standardize,
)


def dense_standardized(G: np.ndarray) -> np.ndarray:
    """Column by column, the textbook way: impute the mean, centre, divide by sd (ddof 0)."""
    Z = np.empty_like(G)
    for j in range(G.shape[1]):
        x = G[:, j].copy()
        x[np.isnan(x)] = np.nanmean(x)
        Z[:, j] = (x - x.mean()) / x.std()
    return Z


def dense_centered(G: np.ndarray) -> np.ndarray:
    Z = np.where(np.isnan(G), np.nanmean(G, axis=0), G)
    return Z - Z.mean(axis=0)


def read_all(ds) -> np.ndarray:
    with open_bed(ds.bed_path) as bed:
        return bed.read(dtype="float64")


def assert_close_rel(A: np.ndarray, B: np.ndarray, rtol: float = 1e-12) -> None:
    assert A.shape == B.shape
    assert np.abs(A - B).max() <= rtol * np.abs(B).max()


def test_standardize_columns(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=30, m=25, seed=8, missing_rate=0.2))
    G = read_all(ds)
    Z = standardize(G)
    np.testing.assert_allclose(Z, dense_standardized(G), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-14)
    np.testing.assert_allclose((Z**2).mean(axis=0), 1, rtol=1e-13)
    np.testing.assert_array_equal(Z[np.isnan(G)], 0.0)  # imputed entries sit at the mean


def test_untestable_columns_are_zero_not_errors():
    """A monomorphic or uncalled column cannot be scaled: it comes back as exactly 0."""
    G = np.array([[0.0, 1.0, np.nan], [2.0, np.nan, np.nan], [1.0, 1.0, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = standardize(G)
        C = center(G)
    np.testing.assert_allclose(Z[:, 0], dense_standardized(G[:, :1])[:, 0], rtol=1e-15)
    np.testing.assert_array_equal(Z[:, 1:], 0.0)
    np.testing.assert_array_equal(C[:, 0], [-1.0, 1.0, 0.0])
    np.testing.assert_array_equal(C[:, 1:], 0.0)


@pytest.mark.parametrize("kind", ["standardized", "centered"])
def test_untestable_snps_are_left_out_of_the_kinship(tmp_path, make_plink, kind):
    """Monomorphic and uncalled SNPs are not in K and not counted in M; the counts are returned;
    K equals the kinship of the testable SNPs alone."""
    prefix = make_plink(tmp_path, n=20, m=30, seed=9, n_monomorphic=3, missing_rate=0.1)
    ds = open_plink(prefix)
    G = read_all(ds)
    rng = np.random.default_rng(0)
    samples = np.sort(rng.choice(20, size=12, replace=False))
    Gs = G[samples]
    # Independent count over the selected samples (np.unique over the calls).
    mono = np.array([np.unique(c[~np.isnan(c)]).size == 1 for c in Gs.T])
    none = np.array([np.all(np.isnan(c)) for c in Gs.T])
    assert mono.sum() >= 3 and not none.any()
    compute = kinship_standardized if kind == "standardized" else kinship_centered
    dense = dense_standardized if kind == "standardized" else dense_centered
    K, M, untested = compute(ds, samples, None, block_size=7)
    assert M == 30 - mono.sum()
    assert untested == {"MONOMORPHIC": int(mono.sum())}
    Z = dense(Gs[:, ~mono])
    assert_close_rel(K, Z @ Z.T / M)
    K_ok, M_ok, untested_ok = compute(ds, samples, np.flatnonzero(~mono), block_size=5)
    assert M_ok == M and untested_ok == {}
    assert_close_rel(K, K_ok, rtol=1e-13)
    # A SNP without any call among the selected samples: left out as NO_CALLS.
    G2 = G.copy()
    G2[:, 4] = np.nan
    to_bed(tmp_path / "nocall.bed", G2, count_A1=True)
    K2, M2, untested2 = compute(open_plink(tmp_path / "nocall"), samples, None, block_size=7)
    extra = 0 if mono[4] else 1
    assert M2 == M - extra
    assert untested2 == {"NO_CALLS": 1, "MONOMORPHIC": int(mono.sum()) - (1 - extra)}
    keep = ~mono & (np.arange(30) != 4)
    Z2 = dense(Gs[:, keep])
    assert_close_rel(K2, Z2 @ Z2.T / keep.sum())


def test_no_testable_snp_is_an_error(tmp_path):
    G = np.array([[1.0, np.nan], [1.0, np.nan], [1.0, np.nan]])
    to_bed(tmp_path / "flat.bed", G, count_A1=True)
    with pytest.raises(InputError, match=r"flat\.bed: none of the 2 selected SNPs can enter the "
                                         r"kinship \(NO_CALLS 1, MONOMORPHIC 1"):
        kinship_standardized(open_plink(tmp_path / "flat"))


def test_kinship_standardized_equals_dense(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=45, m=130, seed=10, missing_rate=0.05))
    G = read_all(ds)
    Z = dense_standardized(G)
    expected = Z @ Z.T / G.shape[1]
    K, M, untested = kinship_standardized(ds, block_size=4096)
    assert M == 130 and untested == {}
    assert_close_rel(K, expected)
    np.testing.assert_array_equal(K, K.T)
    assert abs(np.trace(K) / K.shape[0] - 1) < 1e-13  # mean diagonal 1 even with missing calls
    for block_size in (1, 13, 64):
        K_b, _, _ = kinship_standardized(ds, block_size=block_size)
        assert_close_rel(K_b, K, rtol=1e-13)


def test_kinship_subsets(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=40, m=80, seed=11, missing_rate=0.1))
    G = read_all(ds)
    rng = np.random.default_rng(11)
    samples = np.sort(rng.choice(40, size=25, replace=False))
    snps = rng.random(80) < 0.5
    Gs = G[np.ix_(samples, np.flatnonzero(snps))]
    Z = dense_standardized(Gs)
    K, M, _ = kinship_standardized(ds, samples, snps, block_size=9)
    assert M == snps.sum()
    assert_close_rel(K, Z @ Z.T / M)
    Zc = dense_centered(Gs)
    Kc, p, _ = kinship_centered(ds, samples, snps, block_size=9)
    assert p == M
    assert_close_rel(Kc, Zc @ Zc.T / p)


def test_kinship_centered_leaves_monomorphic_out(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=15, m=20, seed=12, n_monomorphic=3))
    G = read_all(ds)
    mono = np.array([np.unique(c[~np.isnan(c)]).size == 1 for c in G.T])
    assert mono.sum() == 3
    Z = dense_centered(G[:, ~mono])
    K, p, untested = kinship_centered(ds, block_size=6)
    assert p == 17 and untested == {"MONOMORPHIC": 3}
    assert_close_rel(K, Z @ Z.T / 17)


@pytest.mark.parametrize("method", ["standardized", "centered"])
@pytest.mark.parametrize("n_monomorphic", [0, 6])
def test_loco_equals_direct(tmp_path, make_plink, method, n_monomorphic):
    ds = open_plink(make_plink(tmp_path, n=30, m=90, seed=13, chroms=["1", "2", "X"],
                               missing_rate=0.05, n_monomorphic=n_monomorphic))
    direct = kinship_standardized if method == "standardized" else kinship_centered
    mono = np.array([np.unique(c[~np.isnan(c)]).size == 1 for c in read_all(ds).T])
    assert mono.sum() == n_monomorphic
    snps = np.ones(90, dtype=bool)
    snps[[0, 50, 89]] = False
    loco = kinship_loco(ds, None, snps, block_size=17, method=method)
    assert list(loco) == ["1", "2", "X"]
    for chrom, (K_loco, M_loco, untested) in loco.items():
        others = snps & (ds.chrom != chrom)
        K_direct, M_direct, untested_direct = direct(ds, None, others)
        assert M_loco == M_direct == (others & ~mono).sum()
        n_left_out = int((others & mono).sum())
        assert untested == untested_direct == ({"MONOMORPHIC": n_left_out} if n_left_out else {})
        assert_close_rel(K_loco, K_direct)
        np.testing.assert_array_equal(K_loco, K_loco.T)


def test_loco_with_a_chromosome_of_untestable_snps(tmp_path, make_plink):
    """Chromosome 3 holds only monomorphic SNPs: K₋3 is the kinship of chromosomes 1 and 2."""
    prefix = make_plink(tmp_path, n=25, m=30, seed=16, chroms=3, missing_rate=0.0)
    G = read_all(open_plink(prefix))
    G[:, 20:] = 1.0
    to_bed(tmp_path / "c3.bed", G, count_A1=True,
           properties={"chromosome": open_plink(prefix).chrom})
    ds = open_plink(tmp_path / "c3")
    loco = kinship_loco(ds, block_size=8)
    K_all, M_all, untested = kinship_standardized(ds)
    assert untested == {"MONOMORPHIC": 10} and M_all == 20
    K3, M3, untested3 = loco["3"]
    assert M3 == 20 and untested3 == {}
    assert_close_rel(K3, K_all)
    assert loco["1"].n_snps == 10 and loco["1"].untested == {"MONOMORPHIC": 10}
    G[:, 10:20] = 0.0  # now only chromosome 1 has testable SNPs
    to_bed(tmp_path / "c1.bed", G, count_A1=True,
           properties={"chromosome": open_plink(prefix).chrom})
    with pytest.raises(InputError, match="testable SNPs on two or more chromosomes"):
        kinship_loco(open_plink(tmp_path / "c1"))


def test_loco_needs_two_chromosomes(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=10, m=12, seed=14, chroms=1))
    with pytest.raises(InputError, match=r"data\.bim: leave-one-chromosome-out needs"):
        kinship_loco(ds)
    with pytest.raises(ValueError, match="method"):
        kinship_loco(ds, method="scaled")


def test_no_snps_selected(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=10, m=12, seed=15))
    with pytest.raises(InputError, match="no SNPs selected"):
        kinship_standardized(ds, None, np.zeros(12, dtype=bool))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gemma") is None, reason="gemma is not installed")
def test_centered_kinship_matches_gemma_gk1(hs1940, tmp_path):
    """HS1940: our GEMMA-style kinship vs ``gemma -gk 1`` (GEMMA writes 10 significant digits;
    observed max abs difference 5.0e-11 over 1940 × 1940 entries)."""
    workdir = hs1940.parent
    subprocess.run(
        ["gemma", "-bfile", hs1940.name, "-gk", "1", "-o", "hs_test"],
        cwd=workdir, capture_output=True, text=True, check=True,
    )
    K_gemma = read_kinship(workdir / "output" / "hs_test.cXX.txt", n_expected=1940)
    ds = open_plink(hs1940)
    match = match_samples(ds, phenotype_from_fam(ds, 1))
    K, p, untested = kinship_like_gemma(ds, match.fam_index)
    assert p == 10768 and untested == {}  # GEMMA's QC on the analysed mice drops them first
    assert np.abs(K - K_gemma).max() < 1e-6
    assert np.abs(K - K_gemma).max() <= 5.1e-11  # half a unit of GEMMA's 10th digit
