"""No SNP makes a run fail: untestable SNPs get NA rows with a reason, kinships leave them out,
and stderr and the JSON records give the counts per reason (fixed, refit, LOCO; kinship, fit,
qc).  Reference counts come from bed_reader and numpy directly, not from exactlmm."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed, to_bed

from exactlmm.cli import main
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.results import read_assoc_tsv

STATS = ("beta", "se", "p_wald", "p_lrt", "p_score", "delta")


def run(argv: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def read_dosages(prefix: Path) -> tuple[np.ndarray, np.ndarray]:
    """All dosages (copies of a1, NaN missing) and the .fam phenotype strings, by bed_reader."""
    with open_bed(f"{prefix}.bed", count_A1=True) as bed:
        return bed.read(dtype="float64"), np.asarray(bed.pheno)


def monomorphic_columns(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one distinct called value, no call) per column, via np.unique over the calls."""
    distinct = np.array([np.unique(c[~np.isnan(c)]).size for c in G.T])
    return distinct == 1, distinct == 0


def assert_untestable_rows(table: dict, code: str, rows: np.ndarray) -> None:
    assert np.all(table["errcode"][rows] == code)
    for name in (*STATS, "delta_ml"):
        assert np.all(np.isnan(table[name][rows])), name


# ----------------------------------------------------------------------------- HS1940, raw


@pytest.fixture(scope="module")
def hs1940_truth(hs1940):
    """Independent count: SNPs with one called genotype among the 1410 mice with phenotype 1."""
    G, pheno = read_dosages(hs1940)
    analysed = pheno != "NA"
    assert analysed.sum() == 1410
    mono, none = monomorphic_columns(G[analysed])
    return {"mono": mono, "none": none, "n_snps": G.shape[1]}


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode", [[], ["--refit"], ["--loco"], ["--h2", "0.6"]], ids=["fixed", "refit", "loco", "h2"]
)
def test_raw_hs1940_writes_every_snp(hs1940, hs1940_truth, tmp_path, capsys, mode):
    mono, none = hs1940_truth["mono"], hs1940_truth["none"]
    n_mono = int(mono.sum())
    assert n_mono == 1234 and not none.any() and hs1940_truth["n_snps"] == 12226
    code, err = run(["assoc", "--bfile", hs1940, "--out", tmp_path / "all", "--no-progress",
                     *mode], capsys)
    assert code == 0, err
    assert f"exactlmm: {n_mono} of 12226 SNPs not tested: MONOMORPHIC {n_mono}\n" in err
    assert "warning" not in err
    table = read_assoc_tsv(tmp_path / "all.assoc.tsv")
    assert table["snp"].size == 12226
    assert_untestable_rows(table, "MONOMORPHIC", mono)
    assert np.all(table["errcode"][~mono] == ".")
    for name in STATS:
        assert np.all(np.isfinite(table[name][~mono])), name
    assert np.all(table["n"] == 1410)
    assert set(np.round(table["af"][mono] * 2, 12)) <= {0.0, 1.0, 2.0}
    null = json.loads((tmp_path / "all.null.json").read_text())
    assert null["untested"] == {"MONOMORPHIC": n_mono}
    assert null["n_tested"] == 12226 - n_mono and null["n_snps"] == 12226
    assert null["kinship_untested"] == {"MONOMORPHIC": n_mono}
    if "--loco" not in mode:
        assert null["kinship"] == f"standardized, {12226 - n_mono} SNPs"

    # The untestable SNPs change nothing: the same run on the testable SNPs only.  With h²
    # fixed the two agree to rounding; otherwise the null optimum sits on a likelihood so flat
    # (equal to 1e-13) that a rounding-level change of K moves γ by ~5e-8 (seen), and the
    # statistics with it.
    listed = tmp_path / "testable.snplist"
    listed.write_text("".join(f"{s}\n" for s in table["snp"][~mono]))
    code, err = run(["assoc", "--bfile", hs1940, "--extract", listed, "--out",
                     tmp_path / "some", "--no-progress", *mode], capsys)
    assert code == 0, err
    assert "not tested" not in err
    some = read_assoc_tsv(tmp_path / "some.assoc.tsv")
    other = json.loads((tmp_path / "some.null.json").read_text())
    assert other["untested"] == {} and other["kinship_untested"] == {}
    assert other["loglik"] == pytest.approx(null["loglik"], rel=1e-12)
    rtol = 1e-9 if "--h2" in mode else 1e-5
    assert other["gamma"] == pytest.approx(null["gamma"], rel=rtol / 10)
    if "--loco" in mode:
        for chrom, fit in null["loco"].items():
            assert other["loco"][chrom]["gamma"] == pytest.approx(fit["gamma"], rel=rtol / 10)
    np.testing.assert_array_equal(some["snp"], table["snp"][~mono])
    np.testing.assert_array_equal(some["af"], table["af"][~mono])
    for name in ("se", "p_wald", "p_lrt", "p_score", "delta", "delta_ml"):
        np.testing.assert_allclose(some[name], table[name][~mono], rtol=rtol, err_msg=name)
    shift = np.abs(some["beta"] - table["beta"][~mono]) / some["se"]
    assert shift.max() <= rtol  # the TSV holds 10 digits: 1.5e-10 seen with h² fixed


# ----------------------------------------------------------------------------- small data


@pytest.fixture
def planted(tmp_path, make_plink):
    """80 samples (76 with phenotype), 150 SNPs on 3 chromosomes, with 5 monomorphic SNPs, one
    SNP called only in the 4 samples without phenotype (NO_CALLS among the analysed), and one
    SNP whose dosage is also a covariate (COLLINEAR)."""
    prefix = make_plink(tmp_path / "raw", n=80, m=150, seed=21, chroms=3, missing_rate=0.02,
                        n_monomorphic=5)
    G, _ = read_dosages(prefix)
    rng = np.random.default_rng(4)
    no_pheno = np.array([2, 30, 31, 77])
    G[:, 60] = np.nan
    G[no_pheno, 60] = [0.0, 1.0, 2.0, 1.0]  # polymorphic over all 80, uncalled over the 76
    with open_bed(f"{prefix}.bed") as bed:
        properties = {"fid": bed.fid, "iid": bed.iid, "chromosome": bed.chromosome,
                      "sid": bed.sid, "bp_position": bed.bp_position}
    to_bed(tmp_path / "data.bed", G, properties=properties, count_A1=True)
    fam = [line.split()[:2] for line in (tmp_path / "data.fam").read_text().splitlines()]
    y = rng.standard_normal(80)
    lines = ["FID IID trait"]
    for i, (f, iid) in enumerate(fam):
        lines.append(f"{f} {iid} {'NA' if i in no_pheno else repr(float(y[i]))}")
    (tmp_path / "pheno.txt").write_text("\n".join(lines) + "\n")
    covariate = np.where(np.isnan(G[:, 99]), np.nanmean(G[:, 99]), G[:, 99])
    (tmp_path / "covar.txt").write_text(
        "".join(f"{f} {iid} {covariate[i]!r}\n" for i, (f, iid) in enumerate(fam))
    )
    analysed = np.setdiff1d(np.arange(80), no_pheno)
    mono, none = monomorphic_columns(G[analysed])
    assert mono.sum() == 5 and none.tolist() == [j == 60 for j in range(150)]
    assert monomorphic_columns(G)[0].sum() == 5  # over all 80 samples SNP 60 is testable
    return {"prefix": tmp_path / "data", "pheno": tmp_path / "pheno.txt",
            "covar": tmp_path / "covar.txt", "mono": mono, "none": none, "dir": tmp_path}


@pytest.mark.parametrize("mode", [[], ["--refit"], ["--loco"], ["--loco", "--refit"]],
                         ids=["fixed", "refit", "loco", "loco-refit"])
def test_assoc_reasons_and_counts(planted, capsys, mode):
    d = planted
    out = d["dir"] / "res"
    code, err = run(["assoc", "--bfile", d["prefix"], "--pheno", d["pheno"], "--covar",
                     d["covar"], "--out", out, "--no-progress", *mode], capsys)
    assert code == 0, err
    assert ("exactlmm: 7 of 150 SNPs not tested: NO_CALLS 1, MONOMORPHIC 5, COLLINEAR 1\n"
            in err)
    table = read_assoc_tsv(f"{out}.assoc.tsv")
    assert table["snp"].size == 150
    assert_untestable_rows(table, "MONOMORPHIC", d["mono"])
    assert_untestable_rows(table, "NO_CALLS", d["none"])
    assert_untestable_rows(table, "COLLINEAR", np.arange(150) == 99)
    assert table["n"][60] == 0 and np.isnan(table["af"][60])
    tested = table["errcode"] == "."
    assert tested.sum() == 143
    for name in STATS:
        assert np.all(np.isfinite(table[name][tested])), name
    null = json.loads(Path(f"{out}.null.json").read_text())
    assert null["untested"] == {"NO_CALLS": 1, "MONOMORPHIC": 5, "COLLINEAR": 1}
    assert null["n_tested"] == 143
    # The kinship leaves out what cannot be standardized; the collinear SNP stays in it.
    assert null["kinship_untested"] == {"NO_CALLS": 1, "MONOMORPHIC": 5}


def test_kinship_fit_qc_subcommands_with_untestable_snps(planted, capsys):
    d = planted
    G, _ = read_dosages(d["prefix"])
    mono_all, _ = monomorphic_columns(G)

    # kinship over all 80 samples: the 5 monomorphic SNPs are left out, SNP 60 is in.
    for kind in ("standardized", "centered"):
        out = d["dir"] / f"k_{kind}"
        code, err = run(["kinship", "--bfile", d["prefix"], "--kind", kind, "--loco",
                         "--out", out, "--no-progress"], capsys)
        assert code == 0, err
        assert "exactlmm: 5 of 150 SNPs left out of the kinship: MONOMORPHIC 5\n" in err
        record = json.loads(Path(f"{out}.kinship.json").read_text())
        assert record["kind"] == kind
        assert record["n_snps"] == 145 and record["n_selected"] == 150
        assert record["untested"] == {"MONOMORPHIC": 5}
        assert sum(record["loco"].values()) == 2 * 145
        x = np.where(np.isnan(G), np.nanmean(G, axis=0), G)[:, ~mono_all]
        z = x - x.mean(axis=0)
        if kind == "standardized":
            z /= z.std(axis=0)
        k = read_kinship(f"{out}.kinship.txt", 80)
        np.testing.assert_allclose(k, z @ z.T / 145, rtol=1e-8, atol=1e-9)

    # fit: the kinship of the 76 analysed samples leaves out 5 + 1 SNPs.
    out = d["dir"] / "fit"
    code, err = run(["fit", "--bfile", d["prefix"], "--pheno", d["pheno"], "--out", out,
                     "--no-progress"], capsys)
    assert code == 0, err
    assert ("exactlmm: 6 of 150 SNPs left out of the kinship: NO_CALLS 1, MONOMORPHIC 5\n"
            in err)
    record = json.loads(Path(f"{out}.null.json").read_text())
    assert record["kinship_untested"] == {"NO_CALLS": 1, "MONOMORPHIC": 5}
    assert record["kinship"] == "standardized, 144 SNPs"

    # qc: counts per check; the list holds the testable SNPs that pass.
    code, err = run(["qc", "--bfile", d["prefix"], "--pheno", d["pheno"], "--maf", "0.3",
                     "--out", d["dir"] / "q"], capsys)
    assert code == 0, err
    G76 = G[np.array([line.split()[2] != "NA" for line in
                      d["pheno"].read_text().splitlines()[1:]])]
    with np.errstate(invalid="ignore"):
        af = np.nansum(G76, axis=0) / (2 * np.sum(~np.isnan(G76), axis=0))
    testable = ~(d["mono"] | d["none"])
    low_maf = testable & ~((af >= 0.3) & (af <= 0.7))
    assert (f"dropped (each under the first check it fails): NO_CALLS 1, MONOMORPHIC 5, "
            f"missingness > 1.0 0, MAF < 0.3 {int(low_maf.sum())}\n") in err
    kept = (d["dir"] / "q.snplist").read_text().split()
    assert kept == [f"rs{j}" for j in np.flatnonzero(testable & ~low_maf)]
    assert f"{len(kept)} of 150 SNPs pass" in err


def test_assoc_with_geno_keeps_untestable_rows(planted, capsys):
    """--geno is a missingness filter only: monomorphic SNPs pass it and get their rows;
    the uncalled one (missingness 1) fails it and gets none."""
    d = planted
    out = d["dir"] / "geno"
    code, err = run(["assoc", "--bfile", d["prefix"], "--pheno", d["pheno"], "--geno", "0.5",
                     "--out", out, "--no-progress"], capsys)
    assert code == 0, err
    table = read_assoc_tsv(f"{out}.assoc.tsv")
    assert table["snp"].size == 149 and "rs60" not in table["snp"].tolist()
    assert (table["errcode"] == "MONOMORPHIC").sum() == 5
    assert json.loads(Path(f"{out}.null.json").read_text())["untested"] == {"MONOMORPHIC": 5}


def test_low_rank_kinship_leaves_untestable_snps_out(planted, capsys):
    """Fewer selected SNPs than samples: the low-rank path drops the untestable ones too and
    gives the fit of the testable ones alone."""
    d = planted
    snps = [f"rs{j}" for j in range(40)] + ["rs60"]
    mono = [f"rs{j}" for j in np.flatnonzero(d["mono"])]
    (d["dir"] / "few").write_text("\n".join(snps + [s for s in mono if s not in snps]) + "\n")
    (d["dir"] / "good").write_text(
        "\n".join(s for s in snps if s != "rs60" and s not in mono) + "\n")
    records = {}
    for name in ("few", "good"):
        code, err = run(["fit", "--bfile", d["prefix"], "--pheno", d["pheno"], "--extract",
                         d["dir"] / name, "--out", d["dir"] / f"fit_{name}", "--no-progress"],
                        capsys)
        assert code == 0, err
        records[name] = json.loads((d["dir"] / f"fit_{name}.null.json").read_text())
    m = len(snps) - 1 - sum(s in snps for s in mono)
    assert records["few"]["kinship"] == f"standardized, {m} SNPs, low rank"
    assert records["few"]["kinship_untested"] == {"NO_CALLS": 1, "MONOMORPHIC": 5}
    assert records["few"]["gamma"] == pytest.approx(records["good"]["gamma"], rel=1e-10)
    assert records["few"]["loglik"] == pytest.approx(records["good"]["loglik"], rel=1e-12)


def test_no_testable_snp_for_the_kinship_is_one_line(tmp_path, capsys):
    G = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    to_bed(tmp_path / "flat.bed", G, count_A1=True,
           properties={"pheno": [0.1, 0.5, -0.3, 1.2]})
    code, err = run(["assoc", "--bfile", tmp_path / "flat", "--out", tmp_path / "o",
                     "--no-progress"], capsys)
    assert code == 2
    assert err.splitlines() == [
        f"exactlmm: error: {tmp_path / 'flat.bed'}: none of the 2 SNPs selected for the "
        "kinship is testable among the analysed samples (MONOMORPHIC 2)"
    ]
    assert not list(tmp_path.glob("o.*"))


def test_loco_keeps_every_errcode_whatever_the_first_chromosome_had(make_plink, tmp_path, capsys):
    """LOCO assembles its columns chromosome by chromosome: an errcode first met on a later
    chromosome is written in full (regression: it was cut to the first chromosome's width)."""
    prefix = make_plink(tmp_path / "raw", n=60, m=90, seed=5, chroms=3, missing_rate=0.0)
    G, _ = read_dosages(prefix)
    G[:, 80] = 1.0  # chromosome 3; chromosomes 1 and 2 hold testable SNPs only
    with open_bed(f"{prefix}.bed") as bed:
        properties = {"fid": bed.fid, "iid": bed.iid, "chromosome": bed.chromosome,
                      "sid": bed.sid, "bp_position": bed.bp_position, "pheno": bed.pheno}
    to_bed(tmp_path / "data.bed", G, properties=properties, count_A1=True)
    code, err = run(["assoc", "--bfile", tmp_path / "data", "--loco", "--no-progress",
                     "--out", tmp_path / "res"], capsys)
    assert code == 0, err
    table = read_assoc_tsv(tmp_path / "res.assoc.tsv")
    assert table["errcode"][80] == "MONOMORPHIC"
    assert set(np.delete(table["errcode"], 80)) == {"."}
    assert "exactlmm: 1 of 90 SNPs not tested: MONOMORPHIC 1\n" in err
