"""Tests for exactlmm.qc: streamed SNP summaries, GEMMA's QC rule, SNP list files."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from bed_reader import open_bed, to_bed

from exactlmm.errors import InputError
from exactlmm.io.plink import open_plink
from exactlmm.qc import (
    GEMMA_MAF,
    GEMMA_MISSING,
    filter_counts,
    filter_mask,
    monomorphic,
    qc_mask,
    read_snp_list,
    snp_index_from_list,
    snp_stats,
    write_snp_list,
)


def test_snp_stats_match_direct_computation(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=40, m=90, seed=5, missing_rate=0.15, n_monomorphic=4)
    ds = open_plink(prefix)
    samples = np.arange(40)[::2]
    with open_bed(ds.bed_path) as bed:
        G = bed.read(dtype="float64")[samples]
    stats = snp_stats(ds, samples, block_size=16)
    called = ~np.isnan(G)
    np.testing.assert_array_equal(stats.n_called, called.sum(axis=0))
    np.testing.assert_allclose(stats.af, np.nanmean(G, axis=0) / 2, rtol=1e-14)
    np.testing.assert_allclose(stats.maf, np.minimum(stats.af, 1 - stats.af), rtol=0)
    np.testing.assert_allclose(stats.missing_rate, 1 - called.mean(axis=0), atol=1e-15)
    np.testing.assert_allclose(stats.genotype_var, np.nanvar(G, axis=0), atol=1e-13)
    assert stats.n_samples == 20
    direct = np.array([np.unique(G[called[:, j], j]).size < 2 for j in range(G.shape[1])])
    np.testing.assert_array_equal(monomorphic(stats), direct)
    np.testing.assert_array_equal(stats.genotype_var[direct], 0.0)  # the variance rule agrees
    assert np.all(stats.genotype_var[~direct] > 0)
    assert direct.sum() >= 4  # the planted ones at least


def test_all_heterozygous_and_uncalled_snps_are_monomorphic(tmp_path):
    G = np.array([[1, np.nan, 0], [1, np.nan, 2], [1, np.nan, np.nan]])
    to_bed(tmp_path / "m.bed", G, count_A1=True)
    stats = snp_stats(open_plink(tmp_path / "m"))
    np.testing.assert_array_equal(monomorphic(stats), [True, True, False])
    assert stats.errcode.tolist() == ["MONOMORPHIC", "NO_CALLS", "."]
    assert np.isnan(stats.af[1]) and stats.missing_rate[1] == 1.0
    np.testing.assert_array_equal(qc_mask(stats), [False, False, True])


def test_filters_keep_untestable_snps_unless_they_fail_them(tmp_path):
    """--maf/--geno are PLINK's filters only: a monomorphic SNP passes --geno (and an
    all-heterozygous one, af 0.5, passes any --maf); an uncalled one fails --geno < 1 and
    --maf > 0.  qc_mask drops both."""
    G = np.array([[1, np.nan, 0, 0], [1, np.nan, 2, np.nan], [1, np.nan, np.nan, 1],
                  [1, np.nan, 1, 1]], dtype=float)
    to_bed(tmp_path / "f.bed", G, count_A1=True)
    stats = snp_stats(open_plink(tmp_path / "f"))
    assert filter_mask(stats).tolist() == [True, True, True, True]
    assert filter_mask(stats, 0.0, 0.3).tolist() == [True, False, True, True]
    assert filter_mask(stats, 0.0, 0.2).tolist() == [True, False, False, False]
    assert filter_mask(stats, 0.01).tolist() == [True, False, True, True]
    assert qc_mask(stats).tolist() == [False, False, True, True]
    assert filter_counts(stats, 0.01, 0.2) == {
        "NO_CALLS": 1, "MONOMORPHIC": 1, "geno": 2, "maf": 0, "pass": 0,
    }
    assert filter_counts(stats, 0.4, 1.0, np.array([True, True, True, False])) == {
        "NO_CALLS": 1, "MONOMORPHIC": 1, "geno": 0, "maf": 0, "pass": 1,
    }
    assert filter_counts(stats, 0.45) == {
        "NO_CALLS": 1, "MONOMORPHIC": 1, "geno": 0, "maf": 1, "pass": 1,
    }


def boundary_genotypes() -> tuple[np.ndarray, list[bool]]:
    """100 samples; SNPs placed exactly on and just past GEMMA's QC thresholds."""
    n = 100
    cols, keep = [], []

    def snp(n_a1_hom: int, n_het: int, n_missing: int, kept: bool) -> None:
        g = np.zeros(n)
        g[:n_a1_hom] = 2
        g[n_a1_hom : n_a1_hom + n_het] = 1
        g[n - n_missing :] = np.nan
        cols.append(g)
        keep.append(kept)

    snp(10, 20, 5, True)  # missing rate exactly 0.05: kept (drop only when > 0.05)
    snp(10, 20, 6, False)  # 0.06: dropped
    snp(1, 0, 0, True)  # af = 2/200 = 0.01 exactly: kept
    snp(0, 1, 0, False)  # af = 0.005: dropped
    snp(99, 0, 0, True)  # af = 0.99 = 1 - 0.01: kept
    snp(99, 1, 0, False)  # af = 0.995: dropped
    snp(0, 100, 0, False)  # all heterozygous: dropped (GEMMA: n_0 + n_2 == 0)
    snp(30, 40, 0, True)
    return np.column_stack(cols), keep


def test_qc_mask_boundaries(tmp_path):
    G, keep = boundary_genotypes()
    to_bed(tmp_path / "b.bed", G, count_A1=True)
    stats = snp_stats(open_plink(tmp_path / "b"))
    np.testing.assert_array_equal(qc_mask(stats, GEMMA_MAF, GEMMA_MISSING), keep)
    assert qc_mask(stats).tolist() == [True] * 6 + [False, True]
    with pytest.raises(InputError, match="not in"):
        qc_mask(stats, maf_min=0.6)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gemma") is None, reason="gemma is not installed")
def test_qc_boundaries_agree_with_gemma(tmp_path):
    """GEMMA's count of analysed SNPs on the boundary data equals ours."""
    G, keep = boundary_genotypes()
    rng = np.random.default_rng(7)
    to_bed(tmp_path / "b.bed", G, properties={"pheno": rng.standard_normal(G.shape[0])})
    run = subprocess.run(
        ["gemma", "-bfile", "b", "-gk", "1", "-o", "b"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    analysed = re.search(r"number of analyzed SNPs\s*=\s*(\d+)", run.stdout)
    assert analysed is not None, run.stdout
    assert int(analysed.group(1)) == sum(keep)


def test_hs1940_gemma_snp_count(hs1940):
    """GEMMA -gk 1 on HS1940 (phenotype 1, 1410 mice) reports 10,768 analysed SNPs."""
    from exactlmm.io.tables import match_samples, phenotype_from_fam

    ds = open_plink(hs1940)
    match = match_samples(ds, phenotype_from_fam(ds, 1))
    mask = qc_mask(snp_stats(ds, match.fam_index), GEMMA_MAF, GEMMA_MISSING)
    assert mask.sum() == 10768


def test_snp_list_round_trip_and_index(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=6, m=20))
    path = tmp_path / "keep.snps"
    write_snp_list(path, ["rs7", "rs2", "rs19"])
    assert path.read_text() == "rs7\nrs2\nrs19\n"
    ids = read_snp_list(path)
    assert ids == ["rs7", "rs2", "rs19"]
    np.testing.assert_array_equal(snp_index_from_list(ds, ids, path), [2, 7, 19])


def test_snp_list_errors(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=6, m=20))
    path = tmp_path / "keep.snps"
    with pytest.raises(InputError, match=r"keep\.snps: 2 listed SNP IDs are not in .*data\.bim, "
                                         r"e\.g\. rsX"):
        snp_index_from_list(ds, ["rs1", "rsX", "rsY"], path)
    # PLINK 2's --extract: the list is a set, and an ID held by several SNPs selects them all
    assert snp_index_from_list(ds, ["rs3", "rs1", "rs3"], path).tolist() == [1, 3]
    with pytest.raises(InputError, match=r"keep\.snps: the SNP list is empty"):
        snp_index_from_list(ds, [], path)
    path.write_text("rs1\nrs2 rs3\n")
    with pytest.raises(InputError, match=r"keep\.snps: line 2: 2 fields"):
        read_snp_list(path)
    with pytest.raises(ValueError, match="whitespace"):
        write_snp_list(path, ["a b"])
    bim = tmp_path / "data.bim"
    bim.write_text(bim.read_text().replace("\trs5\t", "\trs4\t"))
    assert snp_index_from_list(open_plink(tmp_path / "data"), ["rs4", "rs9"],
                               path).tolist() == [4, 5, 9]
