"""``--kinship-snps FILE``: the kinship from chosen SNPs (FaST-LMM's G0), low rank when they
are fewer than the samples — the same scan as the dense path on the kinship file of those SNPs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed

from exactlmm.cli import main


def run(argv: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def data(tmp_path, make_plink):
    """120 samples (all with a phenotype), 600 SNPs on 3 chromosomes, a covariate."""
    prefix = make_plink(tmp_path, n=120, m=600, seed=9, chroms=3, missing_rate=0.01)
    rng = np.random.default_rng(1)
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    covar = tmp_path / "c.txt"
    covar.write_text("".join(f"{f} {i} {rng.normal():.5f}\n" for f, i in fam))
    return prefix, covar


def snp_list(tmp_path: Path, ids: list[str], name: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(ids) + "\n")
    return path


@pytest.mark.parametrize("n_kinship", [70, 300])  # low rank (70 < 120) and dense (300)
@pytest.mark.parametrize("refit", [False, True])
def test_kinship_snps_scan_equals_the_kinship_file_of_those_snps(tmp_path, data, capsys,
                                                                n_kinship, refit):
    prefix, covar = data
    ids = [f"rs{j}" for j in range(0, 600, 600 // n_kinship)][:n_kinship]
    chosen = snp_list(tmp_path, ids, "k.snps")
    code, err = run(["kinship", "--bfile", prefix, "--extract", chosen, "--out", tmp_path / "k",
                     "--no-progress"], capsys)
    assert code == 0, err
    common = ["assoc", "--bfile", prefix, "--covar", covar, "--no-progress",
              *(["--refit"] if refit else [])]
    code, err = run([*common, "--kinship-snps", chosen, "--out", tmp_path / "ks"], capsys)
    assert code == 0, err
    code, err = run([*common, "--kinship", tmp_path / "k.kinship.txt", "--out",
                     tmp_path / "file"], capsys)
    assert code == 0, err
    ks = json.loads((tmp_path / "ks.null.json").read_text())
    file = json.loads((tmp_path / "file.null.json").read_text())
    expected = (f"standardized, {n_kinship} SNPs, low rank" if n_kinship < 120
                else f"standardized, {n_kinship} SNPs")
    assert ks["kinship"] == expected
    assert ks["provenance"]["parameters"]["kinship_snps"] == str(chosen)
    np.testing.assert_allclose(ks["gamma"], file["gamma"], rtol=1e-6)
    np.testing.assert_allclose(ks["loglik"], file["loglik"], rtol=1e-9)
    a = np.genfromtxt(tmp_path / "ks.assoc.tsv", names=True, dtype=None, encoding=None)
    b = np.genfromtxt(tmp_path / "file.assoc.tsv", names=True, dtype=None, encoding=None)
    assert a.size == b.size == 600  # every SNP is scanned, not only the kinship's
    # γ is found to ~1e-7 (a flat likelihood: the two logliks agree to ~1e-13), which moves every
    # β by ~1e-8 in absolute terms; a β near 0 cannot meet a relative tolerance alone
    np.testing.assert_allclose(a["beta"], b["beta"], rtol=1e-6, atol=1e-7)
    for column in ("p_wald", "p_lrt", "p_score"):
        assert np.isfinite(a[column]).all()
        np.testing.assert_allclose(-np.log10(a[column]), -np.log10(b[column]), atol=1e-6)


def assert_chunks_are_the_single_run(tmp_path: Path, capsys, prefix: Path,
                                     options: list) -> None:
    """``fit --save-model`` with ``options``, ``assoc --model --chunk i/3 --refit`` for
    i = 1..3 and ``gather``: the gathered table is the single ``assoc --refit`` run's, byte for
    byte (the model is left at ``tmp_path / "m"``)."""
    options = ["--bfile", prefix, *options, "--block-size", "64", "--no-progress"]
    code, err = run(["assoc", *options, "--refit", "--out", tmp_path / "single"], capsys)
    assert code == 0, err
    # a refit needs each K₋c's own spectrum: a LOCO model for refit chunks is fitted so
    refit_ready = ["--loco-method", "eigendecomposition"] if "--loco" in options else []
    code, err = run(["fit", *options, *refit_ready, "--save-model", tmp_path / "m", "--out",
                     tmp_path / "m"], capsys)
    assert code == 0, err
    parts = []
    for i in (1, 2, 3):
        code, err = run(["assoc", "--bfile", prefix, "--model", tmp_path / "m", "--refit",
                         "--chunk", f"{i}/3", "--block-size", "64", "--no-progress", "--out",
                         tmp_path / f"part{i}"], capsys)
        assert code == 0, err
        parts.append(tmp_path / f"part{i}")
    code, err = run(["gather", *parts, "--out", tmp_path / "g"], capsys)
    assert code == 0, err
    assert ((tmp_path / "g.assoc.tsv").read_bytes()
            == (tmp_path / "single.assoc.tsv").read_bytes())


def bim(prefix: Path) -> list[tuple[str, str]]:
    """(chromosome, SNP ID) of every ``.bim`` line."""
    return [tuple(line.split()[:2]) for line in Path(f"{prefix}.bim").read_text().splitlines()]


@pytest.mark.parametrize("n_kinship", [60, 450])  # K₋c low rank (≤ 60 < 120) and dense
def test_loco_kinship_snps_is_each_chromosome_scanned_with_the_kinship_snps_off_it(
        tmp_path, data, capsys, n_kinship):
    """assoc --loco --kinship-snps S, chromosome c = assoc --extract (SNPs on c)
    --kinship-snps (S off c): the same null and rows from the non-LOCO path, on a polygenic
    phenotype (h² = 0.6 over every SNP) whose γ is well inside its bounds."""
    prefix, covar = data
    snps = bim(prefix)
    chosen = [snp for _, snp in snps[:: 600 // n_kinship]][:n_kinship]
    dosage = open_bed(f"{prefix}.bed").read()
    dosage = np.where(np.isnan(dosage), np.nanmean(dosage, axis=0), dosage)
    z = (dosage - dosage.mean(axis=0)) / dosage.std(axis=0)
    rng = np.random.default_rng(3)
    y = z @ rng.normal(scale=np.sqrt(0.6 / z.shape[1]), size=z.shape[1])
    y += rng.normal(scale=np.sqrt(0.4), size=y.size)
    pheno = tmp_path / "y.txt"
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    pheno.write_text("".join(f"{f} {i} {v:.6f}\n" for (f, i), v in zip(fam, y, strict=True)))
    common = ["assoc", "--bfile", prefix, "--pheno", pheno, "--covar", covar, "--refit",
              "--no-progress"]
    code, err = run([*common, "--loco", "--kinship-snps", snp_list(tmp_path, chosen, "k.snps"),
                     "--out", tmp_path / "loco"], capsys)
    assert code == 0, err
    loco = json.loads((tmp_path / "loco.null.json").read_text())
    rows = np.genfromtxt(tmp_path / "loco.assoc.tsv", names=True, dtype=None, encoding=None)
    assert rows.size == 600
    chromosomes = sorted({c for c, _ in snps})
    assert sorted(loco["loco"]) == chromosomes
    for c in chromosomes:
        on_c = {snp for chrom, snp in snps if chrom == c}
        off = snp_list(tmp_path, [snp for snp in chosen if snp not in on_c], f"off{c}.snps")
        extract = snp_list(tmp_path, sorted(on_c), f"on{c}.snps")
        code, err = run([*common, "--extract", extract, "--kinship-snps", off, "--out",
                         tmp_path / f"c{c}"], capsys)
        assert code == 0, err
        single = json.loads((tmp_path / f"c{c}.null.json").read_text())
        assert single["kinship"].endswith("low rank") == (n_kinship == 60)
        np.testing.assert_allclose(loco["loco"][c]["gamma"], single["gamma"], rtol=1e-6)
        np.testing.assert_allclose(loco["loco"][c]["loglik"], single["loglik"], rtol=1e-9)
        part = np.genfromtxt(tmp_path / f"c{c}.assoc.tsv", names=True, dtype=None,
                             encoding=None)
        assert 0.05 < single["gamma"] < 20
        here = np.isin(rows["snp"], part["snp"])
        assert here.sum() == part.size == len(on_c)
        np.testing.assert_allclose(rows["beta"][here], part["beta"], rtol=1e-6, atol=1e-9)
        for column in ("p_wald", "p_lrt", "p_score"):
            np.testing.assert_allclose(-np.log10(rows[column][here]),
                                       -np.log10(part[column]), atol=1e-6)
    # Saved: the chunks of a LOCO model with --kinship-snps are the single run, byte for byte.
    assert_chunks_are_the_single_run(
        tmp_path, capsys, prefix,
        ["--pheno", pheno, "--covar", covar, "--loco", "--kinship-snps", tmp_path / "k.snps"])


def test_kinship_snps_errors_and_saved_models(tmp_path, data, capsys):
    prefix, covar = data
    chosen = snp_list(tmp_path, [f"rs{j}" for j in range(50)], "k.snps")
    on_one = snp_list(tmp_path, [snp for c, snp in bim(prefix) if c == "1"][:30], "one.snps")
    code, err = run(["assoc", "--bfile", prefix, "--kinship-snps", on_one, "--loco", "--out",
                     tmp_path / "x"], capsys)
    assert code == 2 and "no kinship SNP is off chromosome 1" in err and "one.snps" in err
    run(["kinship", "--bfile", prefix, "--out", tmp_path / "k", "--no-progress"], capsys)
    code, err = run(["assoc", "--bfile", prefix, "--kinship-snps", chosen, "--kinship",
                     tmp_path / "k.kinship.txt", "--out", tmp_path / "x"], capsys)
    assert code == 2 and "do not also pass --kinship" in err
    unknown = snp_list(tmp_path, ["rs1", "rs_nowhere"], "bad.snps")
    code, err = run(["assoc", "--bfile", prefix, "--kinship-snps", unknown, "--out",
                     tmp_path / "x"], capsys)
    assert code == 2 and "bad.snps" in err and "rs_nowhere" in err
    assert not (tmp_path / "x.assoc.tsv").exists()
    # A saved low-rank model: its chunks are the single run, and the list is fingerprinted.
    assert_chunks_are_the_single_run(tmp_path, capsys, prefix,
                                     ["--covar", covar, "--kinship-snps", chosen])
    header = json.loads((tmp_path / "m.model.json").read_text())
    assert header["inputs"]["kinship_snps"]["path"] == str(chosen)
