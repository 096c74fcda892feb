"""The .bed decoder (exactlmm.io.bed) and the code path of exactlmm.dosage against bed-reader
and the dosage path: the same dosages, counts, imputed and standardized values."""

from __future__ import annotations

import numpy as np
import pytest
from bed_reader import open_bed

from exactlmm.dosage import code_values, count_calls, decode, impute_center, impute_codes, imputed
from exactlmm.io.bed import CODE_DOSAGE
from exactlmm.io.plink import auto_block_size, bed_codes, open_plink
from exactlmm.kinship import standardize
from exactlmm.parallel import Workspace


@pytest.mark.parametrize("n", [5, 6, 7, 8, 37, 600])  # every n mod 4: the padding of a row
def test_codes_are_bed_readers_dosages(tmp_path, make_plink, n):
    prefix = make_plink(tmp_path, n=n, m=300, seed=n, missing_rate=0.1 if n > 8 else 0.0,
                        n_monomorphic=5)
    ds = open_plink(prefix)
    with open_bed(ds.bed_path, count_A1=True) as bed:
        full = bed.read(dtype="float64")
    rng = np.random.default_rng(n)
    samples = rng.permutation(ds.n_samples)[: max(1, ds.n_samples // 2)]
    snps = rng.permutation(ds.n_snps)[:120]
    for sample_index in (None, samples):
        codes = bed_codes(ds, sample_index).codes(snps)
        rows = slice(None) if sample_index is None else sample_index
        np.testing.assert_array_equal(np.take(CODE_DOSAGE, codes).T, full[rows][:, snps])
    runs = bed_codes(ds, samples).codes(np.arange(40, 90))  # a run: a view of the map
    np.testing.assert_array_equal(np.take(CODE_DOSAGE, runs).T, full[samples][:, 40:90])


def test_code_path_equals_dosage_path(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=90, m=400, seed=4, missing_rate=0.08, n_monomorphic=6)
    ds = open_plink(prefix)
    samples = np.flatnonzero(np.random.default_rng(1).random(ds.n_samples) < 0.7)
    reader = bed_codes(ds, samples)
    snps = np.arange(ds.n_snps)
    codes = reader.codes(snps)
    G = np.take(CODE_DOSAGE, codes).T
    G[:, 3] = np.nan  # one SNP without any call
    codes[3] = 1
    from_codes, from_dosages = impute_codes(codes), impute_center(G)
    np.testing.assert_array_equal(from_codes.centered, from_dosages.centered)
    np.testing.assert_array_equal(from_codes.mean, from_dosages.mean)
    np.testing.assert_array_equal(from_codes.n_called, from_dosages.n_called)
    np.testing.assert_array_equal(from_codes.errcode, from_dosages.errcode)
    np.testing.assert_allclose(from_codes.sum_sq, from_dosages.sum_sq, rtol=1e-13)
    assert set(from_codes.errcode) == {".", "MONOMORPHIC", "NO_CALLS"}
    z = code_values(codes, count_calls(codes), standardized=True)
    np.testing.assert_allclose(z, standardize(G), rtol=1e-12, atol=1e-13)


def test_parallel_decode_into_a_workspace(tmp_path, make_plink):
    """decode splits the SNPs over threads and reuses the workspace's arrays: the values are
    those of one call on all SNPs, whatever the block, and a later block overwrites them."""
    prefix = make_plink(tmp_path, n=50, m=2000, seed=6, missing_rate=0.05, n_monomorphic=3)
    ds = open_plink(prefix)
    reader = bed_codes(ds, np.arange(1, 50))
    snps = np.arange(ds.n_snps)
    whole = impute_codes(reader.codes(snps))
    workspace = Workspace()
    for start in (0, 700):
        values, counts = decode(reader, snps[start : start + 1300], workspace=workspace)
        block = imputed(values, counts)
        np.testing.assert_array_equal(block.centered, whole.centered[:, start : start + 1300])
        np.testing.assert_array_equal(block.errcode, whole.errcode[start : start + 1300])
    z, _ = decode(reader, snps, standardized=True)
    np.testing.assert_array_equal(z, code_values(reader.codes(snps), count_calls(
        reader.codes(snps)), standardized=True))


def test_auto_block_size():
    assert auto_block_size(400) == 7864
    assert auto_block_size(1410) == 2231
    assert auto_block_size(10_000) == 1024
    assert auto_block_size(10) == 8192
