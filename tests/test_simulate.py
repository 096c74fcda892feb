"""Tests for lmmcompare.simulate: file layout, reproducibility, structure, truth, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed

from exactlmm.errors import InputError
from lmmcompare.cli import main
from lmmcompare.simulate import simulate_dataset, standardize

BASE = dict(
    n_samples=120,
    n_snps=300,
    n_chromosomes=3,
    seed=7,
    h2=0.5,
    n_causal=4,
    causal_h2=0.2,
)


def _read(prefix: Path) -> tuple[np.ndarray, open_bed]:
    bed = open_bed(f"{prefix}.bed")
    return bed.read(dtype="int8"), bed


def _sample_table(path: Path) -> tuple[list[str], np.ndarray]:
    lines = Path(path).read_text().splitlines()
    rows = [line.split() for line in lines[1:]]
    return lines[0].split(), np.array([[float(v) for v in row[2:]] for row in rows])


def test_files_and_layout(tmp_path: Path) -> None:
    prefix = tmp_path / "sim"
    truth = simulate_dataset(prefix, **{**BASE, "n_covariates": 2, "sib_fraction": 0.5})
    genotypes, bed = _read(prefix)
    assert genotypes.shape == (120, 300)
    assert set(np.unique(genotypes)) <= {0, 1, 2}
    assert list(bed.sid[:3]) == ["snp0", "snp1", "snp2"]
    assert list(np.unique(bed.chromosome)) == ["1", "2", "3"]
    for chrom in ("1", "2", "3"):
        pos = bed.bp_position[bed.chromosome == chrom]
        assert pos.size == 100 and pos[0] == 1000 and np.all(np.diff(pos) == 1000)
    assert set(bed.allele_1) == {"A"} and set(bed.allele_2) == {"G"}
    assert list(bed.iid[:2]) == ["ind0", "ind1"]
    assert np.all(bed.pheno == "-9")
    # Sibs share a FID; everyone else has their own.
    fid_of = dict(zip(bed.iid, bed.fid, strict=True))
    assert truth["n_sib_pairs"] == 30
    for a, b in truth["sib_pairs"]:
        assert fid_of[a] == fid_of[b]
    assert len(set(bed.fid)) == 120 - 30
    header, pheno = _sample_table(Path(f"{prefix}.pheno"))
    assert header == ["FID", "IID", "pheno"] and pheno.shape == (120, 1)
    header, covar = _sample_table(Path(f"{prefix}.covar"))
    assert header == ["FID", "IID", "cov1", "cov2"] and covar.shape == (120, 2)
    assert json.loads(Path(f"{prefix}.truth.json").read_text()) == truth
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"sim.{ext}" for ext in ("bed", "bim", "fam", "pheno", "covar", "truth.json")
    )
    assert truth["causal_snps"] == sorted(truth["causal_snps"], key=lambda s: int(s[3:]))
    assert len(truth["causal_snps"]) == 4


def test_same_arguments_same_bytes(tmp_path: Path) -> None:
    args = {**BASE, "n_covariates": 1, "sib_fraction": 0.3, "missing_rate": 0.02,
            "n_populations": 2, "fst": 0.1}
    simulate_dataset(tmp_path / "a" / "sim", **args)
    simulate_dataset(tmp_path / "b" / "sim", **args)
    simulate_dataset(tmp_path / "c" / "sim", **{**args, "seed": 8})
    for ext in ("bed", "bim", "fam", "pheno", "covar", "truth.json"):
        first = (tmp_path / "a" / f"sim.{ext}").read_bytes()
        assert first == (tmp_path / "b" / f"sim.{ext}").read_bytes(), ext
    for ext in ("bed", "pheno"):
        assert (tmp_path / "a" / f"sim.{ext}").read_bytes() != (
            tmp_path / "c" / f"sim.{ext}"
        ).read_bytes()


def test_no_monomorphic_snps_even_when_likely(tmp_path: Path) -> None:
    # Six samples, rare alleles and 40 % missing: many first draws are monomorphic.
    truth = simulate_dataset(
        tmp_path / "tiny", **{**BASE, "n_samples": 6, "maf_min": 0.01, "missing_rate": 0.4}
    )
    genotypes, _ = _read(tmp_path / "tiny")
    observed = genotypes != -127
    assert 0.3 < 1 - observed.mean() < 0.5
    low = np.where(observed, genotypes, 3).min(axis=0)
    high = np.where(observed, genotypes, -1).max(axis=0)
    assert np.all(low < high)
    assert truth["n_causal"] == 4


def test_sibs_share_more_ibs_than_unrelated(tmp_path: Path) -> None:
    truth = simulate_dataset(
        tmp_path / "fam", **{**BASE, "n_samples": 200, "n_snps": 2000, "sib_fraction": 0.5}
    )
    genotypes, bed = _read(tmp_path / "fam")
    index = {iid: i for i, iid in enumerate(bed.iid)}
    g = genotypes.astype(float)

    def ibs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return 1.0 - np.abs(g[a] - g[b]).mean(axis=1) / 2.0

    sib_a = np.array([index[a] for a, _ in truth["sib_pairs"]])
    sib_b = np.array([index[b] for _, b in truth["sib_pairs"]])
    unrelated = np.arange(100, 200)  # samples after the 50 sib pairs
    sib_ibs = ibs(sib_a, sib_b)
    unrelated_ibs = ibs(unrelated[:50], unrelated[50:])
    assert sib_ibs.min() > unrelated_ibs.max()
    assert sib_ibs.mean() - unrelated_ibs.mean() > 0.1
    # Kinship of sibs ≈ 1/2, of unrelated pairs ≈ 0.
    z, _, _ = standardize(genotypes)
    kinship = z @ z.T / z.shape[1]
    assert abs(kinship[sib_a, sib_b].mean() - 0.5) < 0.05
    assert abs(kinship[unrelated[:50], unrelated[50:]].mean()) < 0.05


def test_population_structure_separates_groups(tmp_path: Path) -> None:
    spread = {}
    for fst in (0.0, 0.2):
        simulate_dataset(
            tmp_path / f"pop{fst}", **{**BASE, "n_samples": 200, "n_populations": 2, "fst": fst}
        )
        genotypes, _ = _read(tmp_path / f"pop{fst}")
        freq = [genotypes[rows].mean(axis=0) / 2 for rows in (slice(0, 100), slice(100, 200))]
        spread[fst] = np.mean((freq[0] - freq[1]) ** 2)
    # Balding–Nichols: E(f1 − f2)² = 2F p(1−p) + sampling ≈ 0.08 for F = 0.2.
    assert spread[0.2] > 10 * spread[0.0]


def test_realised_heritability_and_effects(tmp_path: Path) -> None:
    prefix = tmp_path / "h2"
    truth = simulate_dataset(
        prefix,
        n_samples=2000,
        n_snps=400,
        n_chromosomes=2,
        seed=11,
        h2=0.4,
        n_causal=5,
        causal_h2=0.1,
        n_covariates=1,
        missing_rate=0.01,
    )
    assert truth["gamma"] == pytest.approx(0.4 / 0.6)
    assert truth["gamma_total"] == truth["gamma"]
    assert truth["gamma_polygenic"] == pytest.approx(0.3 / 0.6)
    assert np.sum(np.square(truth["causal_effects_std"])) == pytest.approx(0.1)
    realised = truth["realised"]
    assert abs(realised["h2"] - 0.4) < 0.05
    assert abs(realised["var_noise"] - 0.6) < 0.05
    assert abs(realised["var_polygenic"] - 0.3) < 0.08
    assert truth["kinship_mean_diag"] == pytest.approx(1.0)
    # Per-allele effects are the standardised ones over the SNP's sd; the phenotype minus the
    # fixed effects has variance ≈ 1.
    genotypes, _ = _read(prefix)
    causal = np.array([int(s[3:]) for s in truth["causal_snps"]])
    z, mean, sd = standardize(genotypes[:, causal])
    called = genotypes[:, causal] != -127
    assert 0 < (~called).sum() and np.all(z[~called] == 0)
    np.testing.assert_allclose(z[called], ((genotypes[:, causal] - mean) / sd)[called])
    np.testing.assert_allclose((z**2).sum(axis=0), 2000)
    np.testing.assert_allclose(
        np.array(truth["causal_effects_per_allele"]) * sd, truth["causal_effects_std"]
    )
    np.testing.assert_allclose(mean / 2, truth["causal_af"])
    _, pheno = _sample_table(Path(f"{prefix}.pheno"))
    _, covar = _sample_table(Path(f"{prefix}.covar"))
    residual = pheno[:, 0] - truth["intercept"] - covar @ truth["covariate_effects"]
    assert abs(residual.mean()) < 0.1
    assert abs(residual.var() - 1.0) < 0.15
    # The causal SNPs explain about causal_h2 of the residual: regress it on them.
    design = np.column_stack([np.ones(len(residual)), z])
    coef, *_ = np.linalg.lstsq(design, residual, rcond=None)
    np.testing.assert_allclose(coef[1:], truth["causal_effects_std"], atol=0.06)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"h2": 0.0}, "h2 must lie strictly between 0 and 1"),
        ({"h2": 1.0}, "h2 must lie strictly between 0 and 1"),
        ({"causal_h2": 0.5}, "causal_h2 must satisfy"),
        ({"causal_h2": -0.1}, "causal_h2 must satisfy"),
        ({"n_causal": 301}, "n_causal must lie in"),
        ({"n_causal": 0}, "disagree"),
        ({"n_causal": 3, "causal_h2": 0.0}, "disagree"),
        ({"n_chromosomes": 23}, "n_chromosomes"),
        ({"n_samples": 1}, "n_samples"),
        ({"n_snps": 2.5}, "n_snps must be an integer"),
        ({"missing_rate": 1.0}, "missing_rate"),
        ({"fst": 1.0}, "fst"),
        ({"sib_fraction": 1.5}, "sib_fraction"),
        ({"maf_min": 0.0}, "maf_min"),
        ({"n_populations": 0}, "n_populations"),
        ({"h2": float("nan")}, "h2 must be a finite number"),
    ],
)
def test_bad_arguments_raise_one_line(tmp_path: Path, change: dict, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        simulate_dataset(tmp_path / "bad", **{**BASE, **change})
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message
    assert not list(tmp_path.iterdir())


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``lmmcompare simulate`` writes what simulate_dataset writes; bad input is one line."""
    args = ["simulate", "--out", str(tmp_path / "cli"), "--n-samples", "50", "--n-snps", "40",
            "--n-chromosomes", "2", "--seed", "3", "--h2", "0.3", "--n-causal", "2",
            "--causal-h2", "0.1", "--sib-fraction", "0.2", "--n-covariates", "1"]
    assert main(args) == 0
    assert "true γ = 0.428571" in capsys.readouterr().err
    direct = simulate_dataset(
        tmp_path / "api", n_samples=50, n_snps=40, n_chromosomes=2, seed=3, h2=0.3, n_causal=2,
        causal_h2=0.1, sib_fraction=0.2, n_covariates=1,
    )
    assert json.loads((tmp_path / "cli.truth.json").read_text()) == direct
    for ext in ("bed", "bim", "fam", "pheno", "covar"):
        assert (tmp_path / f"cli.{ext}").read_bytes() == (tmp_path / f"api.{ext}").read_bytes()
    bad = [a if a != "0.3" else "1.0" for a in args]
    bad[bad.index("--out") + 1] = str(tmp_path / "bad")
    assert main(bad) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmmcompare: error: simulate: h2 must lie "
                                                   "strictly between 0 and 1"), err
    assert not list(tmp_path.glob("bad*"))
    with pytest.raises(SystemExit) as exit_info:  # argparse: a missing option, exit 2
        main(["simulate", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("lmmcompare ")


# ------------------------------------------------------------- semi-synthetic phenotypes


def test_phenotype_on_real_genotypes_follows_the_model(tmp_path: Path, make_plink) -> None:
    """simulate_phenotype: the genotypes are copied as they are, the phenotype is
    μ + Z u + Σ z_c b_c + e on the standardizable SNPs (a monomorphic one is left out of M and
    is never causal), reproducibly."""
    from exactlmm.kinship import standardize as standardize_dosages
    from lmmcompare.simulate import simulate_phenotype

    prefix = make_plink(tmp_path, n=300, m=400, seed=4, chroms=2, missing_rate=0.01,
                        n_monomorphic=3)
    truth = simulate_phenotype(tmp_path / "semi", bfile=prefix, seed=9, h2=0.6, n_causal=5,
                               causal_h2=0.2)
    for ext in (".bed", ".bim", ".fam"):
        assert Path(f"{tmp_path / 'semi'}{ext}").read_bytes() == Path(f"{prefix}{ext}").read_bytes()
    assert truth["n_snps_in_kinship"] == 397 and truth["gamma"] == pytest.approx(1.5)
    assert truth["kinship_mean_diag"] == pytest.approx(1.0)
    bim = Path(f"{prefix}.bim").read_text().splitlines()
    G = open_bed(f"{prefix}.bed").read()
    z = standardize_dosages(G)
    movable = np.flatnonzero(np.any(z != 0, axis=0))
    assert len(movable) == 397
    causal = [j for j, line in enumerate(bim) if line.split()[1] in truth["causal_snps"]]
    assert set(causal) <= set(movable) and len(causal) == 5
    # The causal part: the truth's standardized effects on the causal columns of Z.
    y = np.array([float(line.split()[2]) for line in
                  Path(f"{tmp_path / 'semi'}.pheno").read_text().splitlines()[1:]])
    assert np.sum(np.square(truth["causal_effects_std"])) == pytest.approx(0.2)
    residual = y - 1.0 - z[:, causal] @ np.array(truth["causal_effects_std"])
    assert 0.5 < np.var(residual) < 1.2  # polygenic 0.4 + noise 0.4, one draw
    again = simulate_phenotype(tmp_path / "again", bfile=prefix, seed=9, h2=0.6, n_causal=5,
                               causal_h2=0.2)
    assert again["causal_snps"] == truth["causal_snps"]
    assert Path(f"{tmp_path / 'again'}.pheno").read_bytes() == Path(
        f"{tmp_path / 'semi'}.pheno").read_bytes()
    with pytest.raises(InputError, match="causal_h2"):
        simulate_phenotype(tmp_path / "bad", bfile=prefix, seed=1, h2=0.3, n_causal=1,
                           causal_h2=0.4)


def test_null_chromosomes_carry_no_effect(tmp_path: Path) -> None:
    """null_chromosomes = k: the causal SNPs are on the other chromosomes, the truth lists the
    null ones, and k = 0 is the draw of a call without the argument."""
    base = {"n_samples": 120, "n_snps": 400, "n_chromosomes": 4, "seed": 8, "h2": 0.6,
            "n_causal": 6, "causal_h2": 0.2}
    truth = simulate_dataset(tmp_path / "k2", **base, null_chromosomes=2)
    assert truth["null_chromosomes"] == ["3", "4"]
    bim = {line.split()[1]: line.split()[0]
           for line in Path(f"{tmp_path / 'k2'}.bim").read_text().splitlines()}
    assert {bim[snp] for snp in truth["causal_snps"]} <= {"1", "2"}
    simulate_dataset(tmp_path / "plain", **base)
    simulate_dataset(tmp_path / "k0", **base, null_chromosomes=0)
    for ext in (".bed", ".pheno"):
        assert Path(f"{tmp_path / 'k0'}{ext}").read_bytes() == Path(
            f"{tmp_path / 'plain'}{ext}").read_bytes()
    # The phenotype does not depend on the null chromosomes' genotypes: with the noise and the
    # causal part fixed by the seed, k2's polygenic part is Z u with u = 0 there.
    G = open_bed(f"{tmp_path / 'k2'}.bed").read()
    z, _, _ = standardize(np.where(np.isnan(G), -127, G).astype(np.int8))
    y = np.array([float(line.split()[2]) for line in
                  Path(f"{tmp_path / 'k2'}.pheno").read_text().splitlines()[1:]])
    null = np.array([bim[f"snp{j}"] in ("3", "4") for j in range(400)])
    # Marginal correlations with y: the effect chromosomes' SNPs explain more.
    corr = np.abs(z.T @ (y - y.mean())) / np.sqrt(np.sum((y - y.mean()) ** 2) * 120)
    assert np.mean(corr[null] ** 2) < np.mean(corr[~null] ** 2)
    with pytest.raises(InputError, match=r"null_chromosomes must lie in 0\.\.n_chromosomes"):
        simulate_dataset(tmp_path / "bad", **base, null_chromosomes=4)


def test_semi_synthetic_null_chromosomes(tmp_path: Path, make_plink) -> None:
    """simulate_phenotype with null_chromosomes = 1: the last .bim chromosome holds no causal
    SNP and the truth names it; the genotypes are not copied onto themselves."""
    from lmmcompare.simulate import simulate_phenotype

    prefix = make_plink(tmp_path, n=200, m=300, seed=5, chroms=3)
    truth = simulate_phenotype(prefix, bfile=prefix, seed=2, h2=0.5, n_causal=4,
                               causal_h2=0.1, null_chromosomes=1)
    chrom = {line.split()[1]: line.split()[0]
             for line in Path(f"{prefix}.bim").read_text().splitlines()}
    last = list(dict.fromkeys(chrom.values()))[-1]
    assert truth["null_chromosomes"] == [last]
    assert last not in {chrom[snp] for snp in truth["causal_snps"]}
    assert open_bed(f"{prefix}.bed").read().shape == (200, 300)
    with pytest.raises(InputError, match=r"null_chromosomes must lie in 0\.\.2"):
        simulate_phenotype(tmp_path / "bad", bfile=prefix, seed=2, h2=0.5, n_causal=0,
                           causal_h2=0.0, null_chromosomes=3)
