"""Tests for lmmcompare.coalescent: msprime chromosomes written to PLINK with a phenotype."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed

from exactlmm.errors import InputError
from exactlmm.kinship import standardize
from lmmcompare.coalescent import hudson_fst, simulate_coalescent_dataset, split_time
from lmmcompare.simulate import simulate_dataset, simulator

pytest.importorskip("msprime")

BASE = dict(n_samples=300, n_snps=600, n_chromosomes=3, seed=11, h2=0.5, n_causal=3,
            causal_h2=0.1, chromosome_length=1_000_000)


def _bim(prefix: Path) -> list[list[str]]:
    return [line.split() for line in Path(f"{prefix}.bim").read_text().splitlines()]


def test_split_time_gives_hudson_fst() -> None:
    """T = 2Ne F/(1 − F) inverts F = T/(T + 2Ne)."""
    for fst in (0.01, 0.05, 0.2):
        t = split_time(fst, 5000.0)
        assert t / (t + 2 * 5000.0) == pytest.approx(fst)


def test_hudson_fst_of_balding_nichols_populations(tmp_path: Path) -> None:
    """The estimator recovers a Balding–Nichols F (Hudson's F_ST equals F there) and is ≈ 0
    between two halves of one population."""
    simulate_dataset(tmp_path / "bn", n_samples=1000, n_snps=3000, n_chromosomes=1, seed=3,
                     h2=0.5, n_causal=0, causal_h2=0.0, n_populations=2, fst=0.1)
    g = open_bed(f"{tmp_path / 'bn'}.bed").read(dtype="int8")
    population = np.repeat([0, 1], 500)
    assert 0.08 < hudson_fst(g, population) < 0.12
    one = g[:500]
    assert abs(hudson_fst(one, np.repeat([0, 1], 250))) < 0.01
    assert np.isnan(hudson_fst(g, np.zeros(1000)))


def test_files_snps_and_ld(tmp_path: Path) -> None:
    """PLINK files with the asked-for SNPs per chromosome, increasing positions, common alleles,
    both allele orientations, and LD between neighbours (none between unlinked BN SNPs)."""
    prefix = tmp_path / "ms"
    truth = simulate_coalescent_dataset(prefix, **BASE, maf_min=0.05)
    bim = _bim(prefix)
    assert len(bim) == 600 and [row[1] for row in bim] == [f"snp{j}" for j in range(600)]
    chrom = np.array([int(row[0]) for row in bim])
    pos = np.array([int(row[3]) for row in bim])
    assert np.bincount(chrom).tolist() == [0, 200, 200, 200]
    for c in (1, 2, 3):
        assert np.all(np.diff(pos[chrom == c]) > 0) and pos[chrom == c].max() <= 1_000_000
    g = open_bed(f"{prefix}.bed").read(dtype="int8")
    freq = g.mean(axis=0) / 2
    assert np.all(np.minimum(freq, 1 - freq) >= 0.05)
    assert 0.2 < np.mean(freq > 0.5) < 0.8  # a1 is the major allele about as often as not
    record = truth["genotypes"]
    assert record["source"] == "msprime" and record["msprime_version"]
    assert all(n >= 200 for n in record["segregating_sites_per_chromosome"])
    assert record["ld_r2_adjacent_mean"] > 0.1
    assert truth["gamma"] == pytest.approx(1.0) and len(truth["causal_snps"]) == 3
    assert json.loads(Path(f"{prefix}.truth.json").read_text())["genotypes"] == record
    lines = Path(f"{prefix}.pheno").read_text().splitlines()
    assert lines[0] == "FID IID pheno" and len(lines) == 301


def test_structure_sibs_and_null_chromosomes(tmp_path: Path) -> None:
    """Two populations split to F_ST = 0.05 (realised close to it), full sibs whose kinship is
    near ½ (whole IBD segments, not SNP by SNP), and causal SNPs off the null chromosome."""
    prefix = tmp_path / "ms"
    truth = simulate_coalescent_dataset(
        prefix, **{**BASE, "n_snps": 1500, "chromosome_length": 2_000_000},
        n_populations=2, fst=0.05, sib_fraction=0.4, null_chromosomes=1)
    record = truth["genotypes"]
    assert record["split_time_generations"] == pytest.approx(split_time(0.05, 10_000))
    assert 0.03 < record["fst_hudson_realised"] < 0.08
    assert record["population_sizes"] == [150, 150] and record["n_sib_pairs"] == 60
    g = open_bed(f"{prefix}.bed").read()
    z = standardize(g)
    kinship = z @ z.T / z.shape[1]
    index = {f"ind{i}": i for i in range(300)}
    sibs = np.array([kinship[index[a], index[b]] for a, b in record["sib_pairs"]])
    assert 0.35 < sibs.mean() < 0.65
    assert truth["null_chromosomes"] == ["3"]
    chrom = {row[1]: row[0] for row in _bim(prefix)}
    assert {chrom[snp] for snp in truth["causal_snps"]} <= {"1", "2"}


def test_same_seed_same_bytes_and_the_dispatch(tmp_path: Path) -> None:
    """Same arguments, same bytes; another seed, other genotypes; simulator('msprime') is this
    function."""
    assert simulator("msprime") is simulate_coalescent_dataset
    small = {**BASE, "n_samples": 80, "n_snps": 150}
    simulate_coalescent_dataset(tmp_path / "a", **small, missing_rate=0.01)
    simulate_coalescent_dataset(tmp_path / "b", **small, missing_rate=0.01)
    for ext in (".bed", ".bim", ".fam", ".pheno", ".truth.json"):
        a = Path(f"{tmp_path / 'a'}{ext}").read_bytes()
        assert a == Path(f"{tmp_path / 'b'}{ext}").read_bytes().replace(b"/b", b"/a"), ext
    simulate_coalescent_dataset(tmp_path / "c", **{**small, "seed": 12})
    assert Path(f"{tmp_path / 'c'}.bed").read_bytes() != Path(f"{tmp_path / 'a'}.bed").read_bytes()
    g = open_bed(f"{tmp_path / 'a'}.bed").read()
    assert 0 < np.isnan(g).mean() < 0.03


@pytest.mark.parametrize(("change", "fragment"), [
    ({"chromosome_length": 20_000}, "chromosome 1 has"),
    ({"fst": 0.1}, "fst > 0 needs n_populations > 1"),
    ({"mutation_rate": 0.0}, "mutation_rate must be positive"),
])
def test_bad_arguments_raise_one_line(tmp_path: Path, change: dict, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment) as error:
        simulate_coalescent_dataset(tmp_path / "bad", **{**BASE, **change})
    assert "\n" not in str(error.value)
    assert not Path(f"{tmp_path / 'bad'}.bed").exists()
