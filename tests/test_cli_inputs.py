"""What the command line does with inputs a hostile or careless user gives (issue 20's
probes): a bad option or an input that cannot be analysed is one line, exit 2, nothing
written; an odd but meaningful input gets PLINK 2's answer."""

from __future__ import annotations

import errno
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from exactlmm.cli import main
from exactlmm.io.results import read_assoc_tsv


def run(argv: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def one_error(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def data(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=60, m=90, seed=21, chroms=3)
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    rng = np.random.default_rng(1)
    pheno = tmp_path / "p.txt"
    pheno.write_text("FID IID y\n" + "".join(
        f"{f} {i} {v!r}\n" for (f, i), v in zip(fam, rng.standard_normal(60).tolist(),
                                                 strict=True)))
    return prefix, pheno, fam


def outputs(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.rglob(f"*{name}*"))


@pytest.mark.parametrize("command", ["assoc", "kinship", "qc", "fit"])
@pytest.mark.parametrize("option, value, message", [
    ("--block-size", "0", "expected a whole number >= 1"),
    ("--block-size", "-5", "expected a whole number >= 1"),
    ("--maf", "-1", "expected a number from 0 to 0.5"),
    ("--maf", "nan", "expected a number from 0 to 0.5"),
    ("--geno", "2", "expected a number from 0 to 1"),
])
def test_bad_numbers_are_one_line(tmp_path, data, capsys, command, option, value, message):
    prefix, _, _ = data
    with pytest.raises(SystemExit) as stop:
        main([command, "--bfile", str(prefix), option, value, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert outputs(tmp_path, "o.") == []


@pytest.mark.parametrize("out", ["", "folder/", ".", "folder/.."])
def test_an_output_prefix_that_is_a_folder_is_refused(tmp_path, data, capsys, monkeypatch,
                                                      out):
    """``--out ""`` or ``--out dir/`` would write hidden files (``dir/.assoc.tsv``)."""
    prefix, pheno, _ = data
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    with pytest.raises(SystemExit) as stop:
        main(["assoc", "--bfile", str(prefix), "--pheno", str(pheno), "--out", out])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "is a folder; give a file prefix" in err
    assert [p.name for p in tmp_path.rglob(".*")] == []


def test_an_output_under_a_regular_file_is_one_line(tmp_path, data, capsys):
    prefix, pheno, _ = data
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--out",
                     f"{prefix}.bed/result"], capsys)
    one_error(code, err, "data.bed is a file, not a folder")


@pytest.mark.parametrize("number, where", [
    (errno.ENOSPC, "write"),  # disk full while writing the table
    (errno.EROFS, "create"),  # a read-only file system: the temporary cannot be made
])
def test_a_full_or_read_only_disk_is_one_line_naming_the_output(tmp_path, data, capsys,
                                                              monkeypatch, number, where):
    from exactlmm.io import atomic

    prefix, pheno, _ = data
    if where == "write":
        real = atomic._temporary

        class Full:
            def __init__(self, handle):
                self.handle = handle

            def write(self, data):
                raise OSError(number, "No space left on device")

            def __getattr__(self, name):
                return getattr(self.handle, name)

        def full(target, mode):
            context = real(target, mode)
            handle, tmp = context.__enter__()
            try:
                yield Full(handle), tmp
            except BaseException as err:
                context.__exit__(type(err), err, err.__traceback__)
                raise
            else:
                context.__exit__(None, None, None)

        monkeypatch.setattr(atomic, "_temporary", atomic.contextlib.contextmanager(full))
    else:
        def read_only(*args, **kwargs):
            raise OSError(number, "Read-only file system")

        monkeypatch.setattr(tempfile, "mkstemp", read_only)
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--out",
                     tmp_path / "res", "--no-progress"], capsys)
    line = one_error(code, err, "res.assoc.tsv: cannot write it")
    assert ("No space left" if where == "write" else "Read-only") in line
    assert outputs(tmp_path, "res.") == []


def test_a_phenotype_in_the_span_of_the_covariates_is_refused(tmp_path, data, capsys):
    """The issue's probe: the phenotype file given as the covariates too (σe² 1.9e-30 and
    p-values of rounding noise, exit 0, before)."""
    prefix, pheno, _ = data
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--covar", pheno, "--out",
                     tmp_path / "x", "--no-progress"], capsys)
    one_error(code, err, "p.txt", "lies in the span of the intercept and the covariates")
    assert outputs(tmp_path, "x.") == []


def test_qc_that_keeps_no_snp_is_an_error_not_an_empty_list(tmp_path, data, capsys):
    prefix, pheno, _ = data
    code, err = run(["qc", "--bfile", prefix, "--pheno", pheno, "--maf", "0.5", "--geno", "0",
                     "--out", tmp_path / "q"], capsys)
    one_error(code, err, "no SNP passes", "data.bim")
    assert outputs(tmp_path, "q.") == []


def _duplicate_ids(prefix: Path, first: int, second: int) -> None:
    bim = Path(f"{prefix}.bim")
    lines = [line.split() for line in bim.read_text().splitlines()]
    lines[second][1] = lines[first][1]
    bim.write_text("".join("\t".join(fields) + "\n" for fields in lines))


def test_duplicate_snp_ids_follow_plink2(tmp_path, data, capsys):
    """PLINK 2 (2.00a3.5, checked by hand): ``--extract`` of an ID the .bim holds twice
    selects both SNPs.  qc lists each passing ID once, and refuses when only some SNPs of an
    ID pass (a list cannot tell them apart)."""
    prefix, pheno, _ = data
    _duplicate_ids(prefix, 3, 4)
    code, err = run(["qc", "--bfile", prefix, "--pheno", pheno, "--out", tmp_path / "q"],
                    capsys)
    assert code == 0, err
    listed = (tmp_path / "q.snplist").read_text().split()
    assert listed.count("rs3") == 1 and len(listed) == 89
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--extract",
                     tmp_path / "q.snplist", "--out", tmp_path / "a", "--no-progress"], capsys)
    assert code == 0, err
    table = read_assoc_tsv(tmp_path / "a.assoc.tsv")
    assert list(table["snp"]).count("rs3") == 2 and table["snp"].size == 90
    bed = Path(f"{prefix}.bed")  # make SNP 4 monomorphic: one rs3 passes, the other not
    raw = bytearray(bed.read_bytes())
    width = (60 + 3) // 4
    raw[3 + 4 * width: 3 + 5 * width] = b"\x00" * width
    bed.write_bytes(bytes(raw))
    code, err = run(["qc", "--bfile", prefix, "--pheno", pheno, "--out", tmp_path / "q2"],
                    capsys)
    one_error(code, err, "SNP ID rs3 names several SNPs", "data.bim", "--set-all-var-ids")


def test_loco_reads_chromosome_codes_as_plink2(tmp_path, make_plink, capsys):
    """``chr1`` and ``1`` are one chromosome, ``23`` and ``X`` another, and a warning says the
    X is analysed like an autosome: the same scan as the plain codes."""
    plain = make_plink(tmp_path / "plain", n=70, m=120, seed=4, chroms=["1", "2", "X"])
    odd = make_plink(tmp_path / "odd", n=70, m=120, seed=4, chroms=["1", "2", "X"])
    bim = Path(f"{odd}.bim")
    lines = [line.split() for line in bim.read_text().splitlines()]
    for k, fields in enumerate(lines):
        fields[0] = {"1": "chr1" if k % 2 else "1", "2": "02", "X": "23" if k % 2 else "x"}[
            fields[0]]
    bim.write_text("".join("\t".join(fields) + "\n" for fields in lines))
    tables = []
    for prefix in (plain, odd):
        code, err = run(["assoc", "--bfile", prefix, "--loco", "--out", f"{prefix}.loco",
                         "--no-progress"], capsys)
        assert code == 0, err
        assert err.count("chromosome X left out and tested like the autosomes") == 1
        record = json.loads(Path(f"{prefix}.loco.null.json").read_text())
        assert sorted(record["loco"]) == ["1", "2", "X"]
        tables.append(read_assoc_tsv(f"{prefix}.loco.assoc.tsv"))
    for name in ("beta", "p_wald", "delta"):
        np.testing.assert_array_equal(tables[0][name], tables[1][name])


def test_a_one_two_coded_fam_phenotype_reads_zero_as_missing(tmp_path, data, capsys):
    """PLINK's case/control coding in the .fam: 1 = control, 2 = case, 0 missing; a warning
    says so, and that a binary trait is analysed as a quantitative one."""
    prefix, _, _ = data
    codes = np.random.default_rng(3).choice(["1", "2", "0"], size=60, p=[0.45, 0.45, 0.1])
    lines = Path(f"{prefix}.fam").read_text().splitlines()
    Path(f"{prefix}.fam").write_text("".join(
        " ".join([*line.split()[:5], code]) + "\n" for line, code in zip(lines, codes,
                                                                        strict=True)))
    code, err = run(["fit", "--bfile", prefix, "--out", tmp_path / "f", "--no-progress"],
                    capsys)
    assert code == 0, err
    assert f"its {int((codes == '0').sum())} zeros are read as missing" in err
    assert "is binary (1/2)" in err
    record = json.loads((tmp_path / "f.null.json").read_text())
    assert record["n_samples"] == int((codes != "0").sum())


def test_samples_dropped_are_counted_by_reason(tmp_path, data, capsys):
    prefix, pheno, fam = data
    covar = tmp_path / "c.txt"
    covar.write_text("".join(f"{f} {i} {'NA' if k < 4 else k % 7}\n"
                             for k, (f, i) in enumerate(fam[:-3])))
    lines = pheno.read_text().splitlines()
    lines[10] = " ".join([*lines[10].split()[:2], "NA"])
    pheno.write_text("\n".join(lines[:-2]) + "\n")  # two samples without a phenotype line
    code, err = run(["fit", "--bfile", prefix, "--pheno", pheno, "--covar", covar, "--out",
                     tmp_path / "f", "--no-progress"], capsys)
    assert code == 0, err
    record = json.loads((tmp_path / "f.null.json").read_text())
    # 4 NA covariates and 1 not in the covariate file (the third-last; the last two have no
    # phenotype line); 1 NA phenotype; 2 without a phenotype line
    assert record["samples_dropped"] == {"missing_phenotype": 1, "missing_covariate": 5,
                                         "not_in_phenotype_file": 2}
    assert record["n_samples"] == 60 - 8
