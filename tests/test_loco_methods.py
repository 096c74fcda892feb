"""``exactlmm assoc --loco``'s two ways with each chromosome's K₋c — a downdate of the
genome-wide eigenbasis or K₋c's own eigendecomposition — give the same scan to round-off, the
record says which each chromosome took, and a saved model keeps to its own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from exactlmm.cli import main
from exactlmm.io.results import read_assoc_tsv


def run(argv: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def data(tmp_path, make_plink):
    """150 samples, 900 SNPs on 3 chromosomes (2 % missing calls), a polygenic phenotype with
    h² about 0.5, and a covariate."""
    prefix = make_plink(tmp_path, n=150, m=900, seed=12, chroms=3, missing_rate=0.02)
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    rng = np.random.default_rng(8)
    from bed_reader import open_bed

    g = open_bed(f"{prefix}.bed").read()
    g = np.where(np.isnan(g), np.nanmean(g, axis=0), g)
    z = (g - g.mean(axis=0)) / g.std(axis=0)
    y = z @ rng.normal(scale=np.sqrt(0.5 / 900), size=900) + rng.normal(scale=0.7, size=150)
    pheno, covar = tmp_path / "y.txt", tmp_path / "c.txt"
    pheno.write_text("".join(f"{f} {i} {v!r}\n" for (f, i), v in zip(fam, y, strict=True)))
    covar.write_text("".join(f"{f} {i} {rng.normal():.4f}\n" for f, i in fam))
    return ["--bfile", prefix, "--pheno", pheno, "--covar", covar, "--no-progress"]


@pytest.mark.parametrize("likelihood", [[], ["--ml"]])
def test_downdate_and_eigendecomposition_give_the_same_scan(tmp_path, data, capsys,
                                                             likelihood):
    records, tables = {}, {}
    for method in ("downdate", "eigendecomposition"):
        code, err = run(["assoc", *data, *likelihood, "--loco", "--loco-method", method,
                         "--out", tmp_path / method], capsys)
        assert code == 0, err
        records[method] = json.loads((tmp_path / f"{method}.null.json").read_text())
        tables[method] = read_assoc_tsv(tmp_path / f"{method}.assoc.tsv")
    down, eig = records["downdate"], records["eigendecomposition"]
    assert sorted(down["loco"]) == ["1", "2", "3"]
    for c in down["loco"]:
        assert down["loco"][c]["method"] == "downdate"
        assert eig["loco"][c]["method"] == "eigendecomposition"
        assert down["loco"][c]["gamma"] == pytest.approx(eig["loco"][c]["gamma"], rel=1e-6)
        assert down["loco"][c]["loglik"] == pytest.approx(eig["loco"][c]["loglik"], rel=1e-10)
    assert down["gamma"] == eig["gamma"] and down["loglik"] == eig["loglik"]  # the headline
    a, b = tables["downdate"], tables["eigendecomposition"]
    assert (a["errcode"] == b["errcode"]).all()
    for column in ("p_wald", "p_lrt", "p_score"):
        np.testing.assert_allclose(-np.log10(a[column]), -np.log10(b[column]), atol=1e-6)
    np.testing.assert_allclose(a["beta"], b["beta"], rtol=1e-5, atol=1e-7 * np.nanmax(a["se"]))


def test_auto_refits_with_each_chromosomes_own_spectrum(tmp_path, data, capsys):
    code, err = run(["assoc", *data, "--loco", "--refit", "--out", tmp_path / "r"], capsys)
    assert code == 0, err
    record = json.loads((tmp_path / "r.null.json").read_text())
    assert {fit["method"] for fit in record["loco"].values()} == {"eigendecomposition"}
    code, err = run(["assoc", *data, "--loco", "--refit", "--loco-method", "downdate", "--out",
                     tmp_path / "x"], capsys)
    assert code == 2 and "has no per-SNP refit" in err


def test_a_downdate_model_refuses_a_refit_chunk_in_one_line(tmp_path, data, capsys):
    code, err = run(["fit", *data, "--loco", "--loco-method", "downdate", "--save-model",
                     tmp_path / "m", "--out", tmp_path / "m"], capsys)
    assert code == 0, err
    header = json.loads((tmp_path / "m.model.json").read_text())
    assert [part["method"] for part in header["parts"]] == [None, *["downdate"] * 3]
    code, err = run(["assoc", "--bfile", data[1], "--model", tmp_path / "m", "--refit",
                     "--out", tmp_path / "x"], capsys)
    assert code == 2 and "--loco-method eigendecomposition" in err
    assert not list(tmp_path.glob("x.*"))
