"""Tests for exactlmm.kinship against dense numpy computations (and GEMMA, marked slow)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from bed_reader import open_bed

from exactlmm.errors import InputError
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.plink import open_plink
from exactlmm.io.tables import match_samples, phenotype_from_fam
from exactlmm.kinship import (
    centre,
    kinship_centred,
    kinship_like_gemma,
    kinship_loco,
    kinship_standardised,
    standardise,
)


def dense_standardised(G: np.ndarray) -> np.ndarray:
    """Column by column, the textbook way: impute the mean, centre, divide by sd (ddof 0)."""
    Z = np.empty_like(G)
    for j in range(G.shape[1]):
        x = G[:, j].copy()
        x[np.isnan(x)] = np.nanmean(x)
        Z[:, j] = (x - x.mean()) / x.std()
    return Z


def dense_centred(G: np.ndarray) -> np.ndarray:
    Z = np.where(np.isnan(G), np.nanmean(G, axis=0), G)
    return Z - Z.mean(axis=0)


def read_all(ds) -> np.ndarray:
    with open_bed(ds.bed_path) as bed:
        return bed.read(dtype="float64")


def assert_close_rel(A: np.ndarray, B: np.ndarray, rtol: float = 1e-12) -> None:
    assert A.shape == B.shape
    assert np.abs(A - B).max() <= rtol * np.abs(B).max()


def test_standardise_columns(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=30, m=25, seed=8, missing_rate=0.2))
    G = read_all(ds)
    Z = standardise(G)
    np.testing.assert_allclose(Z, dense_standardised(G), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-14)
    np.testing.assert_allclose((Z**2).mean(axis=0), 1, rtol=1e-13)
    np.testing.assert_array_equal(Z[np.isnan(G)], 0.0)  # imputed entries sit at the mean


def test_standardise_monomorphic_error(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=20, m=30, seed=9, n_monomorphic=2)
    ds = open_plink(prefix)
    with pytest.raises(InputError) as err:
        kinship_standardised(ds, block_size=7)
    message = str(err.value)
    assert "data.bed" in message and "2 SNPs" in message and "--maf" in message
    assert "(first: SNP rs" in message and "\n" not in message
    G = np.array([[0.0, 1.0], [2.0, np.nan], [1.0, 1.0]])
    with pytest.raises(InputError, match=r"g\.bed: 1 SNP \(first: SNP b\) monomorphic"):
        standardise(G, "g.bed", snp_ids=["a", "b"])
    with pytest.raises(InputError, match="without any called genotype"):
        centre(np.array([[np.nan], [np.nan]]), "g.bed")


def test_kinship_standardised_equals_dense(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=45, m=130, seed=10, missing_rate=0.05))
    G = read_all(ds)
    Z = dense_standardised(G)
    expected = Z @ Z.T / G.shape[1]
    K, M = kinship_standardised(ds, block_size=4096)
    assert M == 130
    assert_close_rel(K, expected)
    np.testing.assert_array_equal(K, K.T)
    assert abs(np.trace(K) / K.shape[0] - 1) < 1e-13  # mean diagonal 1 even with missing calls
    for block_size in (1, 13, 64):
        K_b, _ = kinship_standardised(ds, block_size=block_size)
        assert_close_rel(K_b, K, rtol=1e-13)


def test_kinship_subsets(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=40, m=80, seed=11, missing_rate=0.1))
    G = read_all(ds)
    rng = np.random.default_rng(11)
    samples = np.sort(rng.choice(40, size=25, replace=False))
    snps = rng.random(80) < 0.5
    Gs = G[np.ix_(samples, np.flatnonzero(snps))]
    Z = dense_standardised(Gs)
    K, M = kinship_standardised(ds, samples, snps, block_size=9)
    assert M == snps.sum()
    assert_close_rel(K, Z @ Z.T / M)
    Zc = dense_centred(Gs)
    Kc, p = kinship_centred(ds, samples, snps, block_size=9)
    assert p == M
    assert_close_rel(Kc, Zc @ Zc.T / p)


def test_kinship_centred_keeps_monomorphic_as_zero(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=15, m=20, seed=12, n_monomorphic=3))
    G = read_all(ds)
    Z = dense_centred(G)
    K, p = kinship_centred(ds, block_size=6)
    assert p == 20
    assert_close_rel(K, Z @ Z.T / 20)


@pytest.mark.parametrize("method", ["standardised", "centred"])
def test_loco_equals_direct(tmp_path, make_plink, method):
    ds = open_plink(make_plink(tmp_path, n=30, m=90, seed=13, chroms=["1", "2", "X"],
                               missing_rate=0.05))
    direct = kinship_standardised if method == "standardised" else kinship_centred
    snps = np.ones(90, dtype=bool)
    snps[[0, 50, 89]] = False
    loco = kinship_loco(ds, None, snps, block_size=17, method=method)
    assert list(loco) == ["1", "2", "X"]
    for chrom, (K_loco, M_loco) in loco.items():
        others = snps & (ds.chrom != chrom)
        K_direct, M_direct = direct(ds, None, others)
        assert M_loco == M_direct == others.sum()
        assert_close_rel(K_loco, K_direct)
        np.testing.assert_array_equal(K_loco, K_loco.T)


def test_loco_needs_two_chromosomes(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=10, m=12, seed=14, chroms=1))
    with pytest.raises(InputError, match=r"data\.bim: leave-one-chromosome-out needs"):
        kinship_loco(ds)
    with pytest.raises(ValueError, match="method"):
        kinship_loco(ds, method="scaled")


def test_no_snps_selected(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=10, m=12, seed=15))
    with pytest.raises(InputError, match="no SNPs selected"):
        kinship_standardised(ds, None, np.zeros(12, dtype=bool))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gemma") is None, reason="gemma is not installed")
def test_centred_kinship_matches_gemma_gk1(hs1940, tmp_path):
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
    K, p = kinship_like_gemma(ds, match.fam_index)
    assert p == 10768
    assert np.abs(K - K_gemma).max() < 1e-6
    assert np.abs(K - K_gemma).max() <= 5.1e-11  # half a unit of GEMMA's 10th digit
