"""The ``exactlmm`` command line, driven in-process through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from exactlmm import __version__
from exactlmm.cli import main
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.results import ASSOC_COLUMNS, read_assoc_tsv


def write_pheno(path: Path, prefix: Path, values: np.ndarray, header: bool = True) -> Path:
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    lines = ["FID IID trait"] if header else []
    for (fid, iid), v in zip(fam, values, strict=True):
        lines.append(f"{fid} {iid} {'NA' if np.isnan(v) else repr(float(v))}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def data(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=80, m=150, seed=11, chroms=3, missing_rate=0.0)
    rng = np.random.default_rng(5)
    y = rng.standard_normal(80)
    y[[3, 17]] = np.nan  # two samples without phenotype are dropped
    pheno = write_pheno(tmp_path / "pheno.txt", prefix, y)
    covar = tmp_path / "covar.txt"
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    covar.write_text(
        "".join(f"{f} {i} {rng.standard_normal():.6f}\n" for f, i in fam)
    )
    return prefix, pheno, covar


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out
    for sub in ("qc", "kinship", "fit", "assoc"):
        with pytest.raises(SystemExit):
            main([sub, "--help"])
        text = capsys.readouterr().out
        assert "--bfile" in text and "--out" in text
    with pytest.raises(SystemExit):
        main(["kinship", "--help"])
    assert "{standardized,centered}" in capsys.readouterr().out


def test_assoc_matches_dense_gls(tmp_path, data, capsys):
    prefix, pheno, covar = data
    out = tmp_path / "res"
    code, err = run(["kinship", "--bfile", prefix, "--out", out, "--no-progress"], capsys)
    assert code == 0, err
    kin = Path(f"{out}.kinship.txt")
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--covar", covar,
                     "--kinship", kin, "--out", out, "--no-progress"], capsys)
    assert code == 0, err
    table = read_assoc_tsv(f"{out}.assoc.tsv")
    assert tuple(table) == ASSOC_COLUMNS
    null = json.loads(Path(f"{out}.null.json").read_text())
    assert null["likelihood"] == "REML" and null["n_samples"] == 78
    assert null["provenance"]["tool"] == "exactlmm"
    assert null["covariates"] == ["intercept", "covar1"]
    # Dense GLS on the same 78 samples with the kinship file and the null γ.
    keep = np.setdiff1d(np.arange(80), [3, 17])
    k = read_kinship(kin, 80)[np.ix_(keep, keep)]
    tokens = [line.split()[2] for line in pheno.read_text().splitlines()[1:]]
    y = np.array([np.nan if v == "NA" else float(v) for v in tokens])[keep]
    c = np.array([float(line.split()[2]) for line in covar.read_text().splitlines()])[keep]
    from bed_reader import open_bed

    with open_bed(f"{prefix}.bed") as bed:
        g = bed.read(dtype="float64")[keep]
    x = np.column_stack([np.ones(keep.size), c])
    hi = np.linalg.inv(null["gamma"] * k + np.eye(keep.size))
    for j in (0, 70, 149):
        xp = np.column_stack([x, g[:, j]])
        a = xp.T @ hi @ xp
        b = np.linalg.solve(a, xp.T @ hi @ y)
        r = y - xp @ b
        se = np.sqrt(r @ hi @ r / (keep.size - 3) * np.linalg.inv(a)[-1, -1])
        assert table["beta"][j] == pytest.approx(b[-1], rel=1e-7)
        assert table["se"][j] == pytest.approx(se, rel=1e-7)
        p = 2 * scipy.stats.t.sf(abs(b[-1] / se), keep.size - 3)
        assert table["p_wald"][j] == pytest.approx(p, rel=1e-6)
    assert np.all(table["n"] == 78)


def test_outputs_are_byte_reproducible(tmp_path, data, capsys):
    prefix, pheno, _ = data
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--refit",
                         "--out", out, "--no-progress"], capsys)
        assert code == 0, err
        outputs.append([Path(f"{out}.{ext}").read_bytes() for ext in ("assoc.tsv", "null.json")])
    assert outputs[0][0] == outputs[1][0]
    # The JSON names the output prefix among its parameters; everything else is identical.
    a, b = (json.loads(o[1]) for o in outputs)
    a["provenance"]["parameters"].pop("out")
    b["provenance"]["parameters"].pop("out")
    assert a == b


@pytest.mark.parametrize("m", [150, 100])
def test_loco_equals_per_chromosome_kinship(tmp_path, make_plink, capsys, m):
    """m = 150: each complement has ≥ 80 SNPs (dense K₋c); m = 100: fewer (low-rank path)."""
    prefix = make_plink(tmp_path, n=80, m=m, seed=11, chroms=3, missing_rate=0.0)
    pheno = write_pheno(tmp_path / "pheno.txt", prefix,
                        np.random.default_rng(5).standard_normal(80))
    y = np.array([line.split()[2] for line in pheno.read_text().splitlines()[1:]])
    complete = tmp_path / "complete.txt"  # LOCO standardises over the analysed samples
    complete.write_text(pheno.read_text())
    assert "NA" not in complete.read_text() and y.size == 80
    code, err = run(["assoc", "--bfile", prefix, "--pheno", complete, "--loco",
                     "--out", tmp_path / "loco", "--no-progress"], capsys)
    assert code == 0, err
    code, err = run(["kinship", "--bfile", prefix, "--loco", "--out", tmp_path / "k",
                     "--no-progress"], capsys)
    assert code == 0, err
    loco = read_assoc_tsv(tmp_path / "loco.assoc.tsv")
    for chrom in ("1", "2", "3"):
        snps = loco["snp"][loco["chrom"] == chrom]
        (tmp_path / "list").write_text("\n".join(snps) + "\n")
        code, err = run(["assoc", "--bfile", prefix, "--pheno", complete, "--kinship",
                         tmp_path / f"k.chr{chrom}.kinship.txt", "--extract", tmp_path / "list",
                         "--out", tmp_path / "one", "--no-progress"], capsys)
        assert code == 0, err
        one = read_assoc_tsv(tmp_path / "one.assoc.tsv")
        np.testing.assert_allclose(one["p_wald"], loco["p_wald"][loco["chrom"] == chrom],
                                   rtol=1e-6)
        assert json.loads((tmp_path / "one.null.json").read_text())["mode"] == "fixed"
    # The mode recorded is the harness's (lmmcompare.registry): loco, or loco-refit with --refit.
    assert json.loads((tmp_path / "loco.null.json").read_text())["mode"] == "loco"
    if m == 150:
        code, err = run(["assoc", "--bfile", prefix, "--pheno", complete, "--loco", "--refit",
                         "--out", tmp_path / "lr", "--no-progress"], capsys)
        assert code == 0, err
        assert json.loads((tmp_path / "lr.null.json").read_text())["mode"] == "loco-refit"


def test_fit_ml_and_fixed_h2(tmp_path, data, capsys):
    prefix, pheno, _ = data
    code, err = run(["fit", "--bfile", prefix, "--pheno", pheno, "--ml", "--out",
                     tmp_path / "ml", "--no-progress"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "ml.null.json").read_text())["likelihood"] == "ML"
    code, err = run(["fit", "--bfile", prefix, "--pheno", pheno, "--h2", "0.25", "--out",
                     tmp_path / "fixed", "--no-progress"], capsys)
    assert code == 0, err
    fixed = json.loads((tmp_path / "fixed.null.json").read_text())
    assert fixed["h2"] == pytest.approx(0.25) and fixed["gamma"] == pytest.approx(1 / 3)


def test_qc_writes_snplist(tmp_path, make_plink, capsys):
    prefix = make_plink(tmp_path, n=60, m=100, seed=2, n_monomorphic=4)
    code, err = run(["qc", "--bfile", prefix, "--maf", "0.05", "--out", tmp_path / "q"], capsys)
    assert code == 0, err
    kept = (tmp_path / "q.snplist").read_text().split()
    assert 0 < len(kept) <= 96
    assert "MONOMORPHIC 4," in err and f"{len(kept)} of 100 SNPs pass" in err


def test_monomorphic_snps_are_rows_not_errors(tmp_path, make_plink, capsys):
    """Formerly an error: 2 monomorphic SNPs now get NA rows with their reason."""
    prefix = make_plink(tmp_path, n=40, m=60, seed=3, n_monomorphic=2)
    code, err = run(["assoc", "--bfile", prefix, "--out", tmp_path / "r", "--no-progress"],
                    capsys)
    assert code == 0, err
    assert "exactlmm: 2 of 60 SNPs not tested: MONOMORPHIC 2\n" in err
    table = read_assoc_tsv(tmp_path / "r.assoc.tsv")
    assert table["snp"].size == 60 and (table["errcode"] == "MONOMORPHIC").sum() == 2


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("exactlmm: error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def assert_no_outputs(out: Path) -> None:
    leftovers = sorted(p.name for p in out.parent.iterdir() if p.name.startswith(out.name))
    assert leftovers == [], leftovers


@pytest.mark.parametrize(
    "case",
    ["missing_bim", "truncated_bed", "nan_pheno", "text_pheno", "mismatched_ids",
     "kinship_size", "kinship_asymmetric", "collinear_covar", "h2_one", "h2_zero",
     "h2_with_refit"],
)
def test_bad_input_is_one_line_and_leaves_no_output(tmp_path, make_plink, capsys, case):
    prefix = make_plink(tmp_path / "d", n=40, m=60, seed=3)
    pheno = write_pheno(tmp_path / "pheno.txt", prefix, np.linspace(0, 1, 40))
    out = tmp_path / "out" / "res"
    out.parent.mkdir()
    extra: list = []
    needles: tuple[str, ...]
    if case == "missing_bim":
        Path(f"{prefix}.bim").unlink()
        needles = ("data.bim",)
    elif case == "truncated_bed":
        bed = Path(f"{prefix}.bed")
        bed.write_bytes(bed.read_bytes()[:-7])
        needles = ("data.bed",)
    elif case == "nan_pheno":
        pheno.write_text(pheno.read_text().replace(" 0.0\n", " nan\n", 1).replace(
            "FID IID trait\n", "FID IID trait\n"))
        pheno.write_text(pheno.read_text() + "fam999 ind999 inf\n")
        needles = ("pheno.txt",)
    elif case == "text_pheno":
        lines = pheno.read_text().splitlines()
        lines[5] = lines[5].rsplit(" ", 1)[0] + " abc"
        pheno.write_text("\n".join(lines) + "\n")
        needles = ("pheno.txt", "abc")
    elif case == "mismatched_ids":
        pheno.write_text(pheno.read_text().replace("ind", "sample"))
        needles = ("pheno.txt", "data.fam")
    elif case in ("kinship_size", "kinship_asymmetric"):
        n = 39 if case == "kinship_size" else 40
        k = np.eye(n)
        if case == "kinship_asymmetric":
            k[0, 1] = 0.3
        np.savetxt(tmp_path / "kin.txt", k)
        extra = ["--kinship", tmp_path / "kin.txt"]
        needles = ("kin.txt",)
    elif case == "collinear_covar":
        fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
        (tmp_path / "covar.txt").write_text("".join(f"{f} {i} 1\n" for f, i in fam))
        extra = ["--covar", tmp_path / "covar.txt"]
        needles = ("collinear",)
    elif case == "h2_with_refit":
        extra = ["--h2", "0.5", "--refit"]
        needles = ("--refit",)
    elif case == "h2_one":
        extra = ["--h2", "1"]
        needles = ("h",)
    else:
        extra = ["--h2", "0"]
        needles = ("h",)
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--out", out,
                     "--no-progress", *extra], capsys)
    one_line_error(code, err, *needles)
    assert "Traceback" not in err
    assert_no_outputs(out)


def test_categorical_covariate_by_name_and_options_need_a_file(tmp_path, data, capsys):
    """--covar-name picks columns; a text column is one-hot coded (the null record names the
    indicator); --covar-categorical without --covar is a one-line error."""
    prefix, pheno, _ = data
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    covar = tmp_path / "cat.txt"
    covar.write_text("FID IID unused site\n" + "".join(
        f"{f} {i} 0.5 {'north' if k % 3 else 'south'}\n" for k, (f, i) in enumerate(fam)))
    code, err = run(["fit", "--bfile", prefix, "--pheno", pheno, "--covar", covar,
                     "--covar-name", "site", "--out", tmp_path / "f", "--no-progress"], capsys)
    assert code == 0, err
    record = json.loads((tmp_path / "f.null.json").read_text())
    assert record["covariates"] == ["intercept", "site=south"]  # north: the more frequent
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--covar-categorical",
                     "site", "--out", tmp_path / "x", "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1 and "need a covariate file (--covar)" in err
    assert not list(tmp_path.glob("x.*"))
