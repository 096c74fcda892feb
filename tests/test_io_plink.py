"""Tests for exactlmm.io.plink: checks on open, dosage coding, streamed blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed

from exactlmm.errors import InputError
from exactlmm.io.plink import iter_genotype_blocks, open_plink, read_genotypes


def reference_dosages(prefix: Path) -> np.ndarray:
    with open_bed(prefix.with_name(prefix.name + ".bed"), count_A1=True) as bed:
        return bed.read(dtype="float64")


def test_metadata_matches_bed_reader(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=23, m=41, seed=1, chroms=["1", "X"])
    ds = open_plink(prefix)
    assert (ds.n_samples, ds.n_snps) == (23, 41)
    with open_bed(ds.bed_path) as bed:
        np.testing.assert_array_equal(ds.fid, bed.fid)
        np.testing.assert_array_equal(ds.iid, bed.iid)
        np.testing.assert_array_equal(ds.chrom, bed.chromosome)
        np.testing.assert_array_equal(ds.snp, bed.sid)
        np.testing.assert_allclose(ds.cm, bed.cm_position, rtol=1e-6)  # bed-reader: float32
        np.testing.assert_array_equal(ds.pos, bed.bp_position)
        np.testing.assert_array_equal(ds.a1, bed.allele_1)
        np.testing.assert_array_equal(ds.a2, bed.allele_2)
    assert set(ds.chrom) == {"1", "X"}


def test_prefix_with_bed_extension(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=5, m=3)
    assert open_plink(str(prefix) + ".bed").prefix == prefix


def test_dosage_counts_a1_from_raw_bytes(tmp_path):
    """Hand-written .bed: codes 00, 01, 10, 11 mean 2 copies of a1, missing, 1, 0."""
    prefix = tmp_path / "raw"
    (tmp_path / "raw.fam").write_text("".join(f"f{i} i{i} 0 0 1 -9\n" for i in range(5)))
    (tmp_path / "raw.bim").write_text("1 s1 0 100 A G\n1 s2 0 200 C T\n")
    # SNP s1: samples 0..3 in one byte (low bits first), sample 4 in the next byte.
    # SNP s2: the reverse order of codes.
    s1 = bytes([0b11_10_01_00, 0b00])
    s2 = bytes([0b00_01_10_11, 0b11])
    (tmp_path / "raw.bed").write_bytes(b"\x6c\x1b\x01" + s1 + s2)
    genotypes = read_genotypes(open_plink(prefix))
    expected = np.array([[2, 0], [np.nan, 1], [1, np.nan], [0, 2], [2, 0]], dtype=float)
    np.testing.assert_array_equal(genotypes, expected)


def test_blocks_equal_full_read(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=37, m=103, seed=2, missing_rate=0.1)
    ds = open_plink(prefix)
    full = reference_dosages(prefix)
    assert np.isnan(full).any()
    for block_size in (1, 7, 50, 1000):
        pieces = list(iter_genotype_blocks(ds, None, None, block_size=block_size))
        assert all(g.dtype == np.float64 and g.flags.f_contiguous for _, g in pieces)
        assert max(g.shape[1] for _, g in pieces) == min(block_size, ds.n_snps)
        np.testing.assert_array_equal(np.concatenate([p for p, _ in pieces]), np.arange(103))
        np.testing.assert_array_equal(np.hstack([g for _, g in pieces]), full)


def test_sample_and_snp_selection(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=30, m=60, seed=3, missing_rate=0.05)
    ds = open_plink(prefix)
    full = reference_dosages(prefix)
    rng = np.random.default_rng(3)
    samples = rng.permutation(30)[:17]  # unsorted on purpose: order is kept
    snp_mask = rng.random(60) < 0.4
    got = read_genotypes(ds, samples, snp_mask)
    np.testing.assert_array_equal(got, full[np.ix_(samples, np.flatnonzero(snp_mask))])
    sample_mask = np.zeros(30, dtype=bool)
    sample_mask[[1, 4, 29]] = True
    snps = np.array([59, 0, 31])
    blocks = list(iter_genotype_blocks(ds, sample_mask, snps, block_size=2))
    np.testing.assert_array_equal(blocks[0][0], [59, 0])
    np.testing.assert_array_equal(
        np.hstack([g for _, g in blocks]), full[np.ix_([1, 4, 29], snps)]
    )


def test_bad_indices_rejected(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=10, m=10))
    with pytest.raises(ValueError, match="outside"):
        read_genotypes(ds, None, np.array([10]))
    with pytest.raises(ValueError, match="mask"):
        read_genotypes(ds, np.ones(9, dtype=bool), None)
    with pytest.raises(ValueError, match="block_size"):
        next(iter_genotype_blocks(ds, None, None, block_size=0))


@pytest.mark.parametrize("ext", ["bed", "bim", "fam"])
def test_missing_file_named(tmp_path, make_plink, ext):
    prefix = make_plink(tmp_path, n=8, m=5)
    (tmp_path / f"data.{ext}").unlink()
    with pytest.raises(InputError, match=rf"data\.{ext}: file not found"):
        open_plink(prefix)


@pytest.mark.parametrize(("change", "state"), [(-1, "truncated"), (+5, "too large")])
def test_bed_size_checked(tmp_path, make_plink, change, state):
    prefix = make_plink(tmp_path, n=10, m=7)
    bed = tmp_path / "data.bed"
    data = bed.read_bytes()
    assert len(data) == 3 + 7 * 3
    bed.write_bytes(data[:change] if change < 0 else data + bytes(change))
    with pytest.raises(InputError) as err:
        open_plink(prefix)
    message = str(err.value)
    assert "data.bed" in message and state in message
    assert f"{len(data) + change} bytes" in message and "24 bytes" in message
    assert "\n" not in message


def test_bed_magic_checked(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=4, m=2)
    bed = tmp_path / "data.bed"
    data = bed.read_bytes()
    bed.write_bytes(b"\x6c\x1b\x00" + data[3:])
    with pytest.raises(InputError, match=r"data\.bed: individual-major"):
        open_plink(prefix)
    bed.write_bytes(b"BED" + data[3:])
    with pytest.raises(InputError, match=r"data\.bed: not a PLINK 1 \.bed file"):
        open_plink(prefix)


def test_bim_errors_name_line(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=4, m=5)
    bim = tmp_path / "data.bim"
    lines = bim.read_text().splitlines()
    bim.write_text("\n".join([*lines[:2], lines[2] + " extra", *lines[3:]]) + "\n")
    with pytest.raises(InputError, match=r"data\.bim: line 3: 7 fields"):
        open_plink(prefix)
    fields = lines[3].split()
    fields[3] = "12x"
    bim.write_text("\n".join([*lines[:3], "\t".join(fields), *lines[4:]]) + "\n")
    with pytest.raises(InputError, match=r"data\.bim: line 4, column 4: .*'12x' is not a number"):
        open_plink(prefix)


def test_fam_errors_name_line(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=4, m=5)
    fam = tmp_path / "data.fam"
    lines = fam.read_text().splitlines()
    fam.write_text("\n".join([*lines[:1], "famX indX 0 0", *lines[2:]]) + "\n")
    with pytest.raises(InputError, match=r"data\.fam: line 2: 4 fields, but line 1 has 6"):
        open_plink(prefix)
    fam.write_text("\n".join([*lines[:3], lines[1]]) + "\n")
    with pytest.raises(InputError, match=r"data\.fam: line 4: sample FID=fam1 IID=ind1 appears"):
        open_plink(prefix)
    fam.write_text("\n")
    with pytest.raises(InputError, match=r"data\.fam: the \.fam file is empty"):
        open_plink(prefix)


def test_extra_fam_columns_and_hs1940(hs1940):
    ds = open_plink(hs1940)
    assert (ds.n_samples, ds.n_snps) == (1940, 12226)
    assert (ds.snp[0], ds.a1[0], ds.a2[0]) == ("rs3683945", "A", "G")
