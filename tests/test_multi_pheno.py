"""Several phenotypes in one ``exactlmm assoc`` run (``--mpheno 1-3``, ``--mpheno 1,3``,
``--all-pheno``): one output pair per phenotype, each equal to a run of its own (byte for byte
for the table; the JSON differs only in the ``out`` parameter), names from the header or P<N>."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from exactlmm.cli import main


def run(argv: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def multi(tmp_path, make_plink):
    """80 samples, three phenotypes: 'height' complete, 'weight' with the same samples, 'bmi'
    missing for ten of them (a second sample set)."""
    prefix = make_plink(tmp_path, n=80, m=150, seed=21, chroms=3, missing_rate=0.02)
    rng = np.random.default_rng(8)
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    values = rng.standard_normal((80, 3))
    values[::8, 2] = np.nan
    lines = ["FID IID height weight bmi"]
    for (fid, iid), row in zip(fam, values, strict=True):
        lines.append(" ".join([fid, iid, *("NA" if np.isnan(v) else repr(float(v)) for v in row)]))
    pheno = tmp_path / "pheno.txt"
    pheno.write_text("\n".join(lines) + "\n")
    return prefix, pheno


def json_without_out(path: Path) -> dict:
    record = json.loads(path.read_text())
    record["provenance"]["parameters"].pop("out")
    return record


def assert_same_as_single(tmp_path, capsys, prefix, pheno, names, columns, extra):
    for name, column in zip(names, columns, strict=True):
        single = tmp_path / f"single{column}"
        source = [] if pheno is None else ["--pheno", pheno]
        code, err = run(["assoc", "--bfile", prefix, *source, "--mpheno", column,
                         "--no-progress", "--out", single, *extra], capsys)
        assert code == 0, err
        multi = tmp_path / f"multi.{name}"
        assert Path(f"{multi}.assoc.tsv").read_bytes() == Path(f"{single}.assoc.tsv").read_bytes()
        assert json_without_out(Path(f"{multi}.null.json")) == \
            json_without_out(Path(f"{single}.null.json"))


@pytest.mark.parametrize("mode", [[], ["--refit"]], ids=["fixed", "refit"])
def test_several_phenotypes_equal_separate_runs(tmp_path, multi, capsys, mode):
    prefix, pheno = multi
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--mpheno", "1-3",
                     "--no-progress", "--out", tmp_path / "multi", *mode], capsys)
    assert code == 0, err
    assert err.count("-> ") == 3
    assert_same_as_single(tmp_path, capsys, prefix, pheno, ["height", "weight", "bmi"],
                          [1, 2, 3], mode)
    assert not (tmp_path / "multi.assoc.tsv").exists()


def test_several_phenotypes_with_a_kinship_file(tmp_path, multi, capsys):
    prefix, pheno = multi
    code, err = run(["kinship", "--bfile", prefix, "--format", "grm", "--no-progress",
                     "--out", tmp_path / "k"], capsys)
    assert code == 0, err
    kinship = ["--kinship", tmp_path / "k.grm.bin"]
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--mpheno", "1,3",
                     "--no-progress", "--out", tmp_path / "multi", *kinship], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.glob("multi.*")) == [
        "multi.bmi.assoc.tsv", "multi.bmi.null.json", "multi.height.assoc.tsv",
        "multi.height.null.json"]
    assert_same_as_single(tmp_path, capsys, prefix, pheno, ["height", "bmi"], [1, 3], kinship)


def test_all_pheno_names_without_a_header(tmp_path, multi, capsys):
    prefix, pheno = multi
    lines = pheno.read_text().splitlines()[1:]
    bare = tmp_path / "bare.txt"
    bare.write_text("\n".join(lines) + "\n")
    code, err = run(["assoc", "--bfile", prefix, "--pheno", bare, "--all-pheno",
                     "--no-progress", "--out", tmp_path / "all"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.glob("all.*.assoc.tsv")) == [
        "all.P1.assoc.tsv", "all.P2.assoc.tsv", "all.P3.assoc.tsv"]
    record = json.loads((tmp_path / "all.P2.null.json").read_text())
    assert record["provenance"]["parameters"]["mpheno"] == 2
    assert record["provenance"]["parameters"]["all_pheno"] is True


def test_one_phenotype_keeps_the_plain_names(tmp_path, multi, capsys):
    prefix, pheno = multi
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--mpheno", "2",
                     "--no-progress", "--out", tmp_path / "one"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.glob("one*")) == ["one.assoc.tsv", "one.null.json"]
    parameters = json.loads((tmp_path / "one.null.json").read_text())["provenance"]["parameters"]
    assert parameters["mpheno"] == 2 and "all_pheno" not in parameters


@pytest.mark.parametrize("spec", ["3-1", "1,1", "0", "a", "1-"])
def test_bad_phenotype_lists_are_usage_errors(tmp_path, multi, capsys, spec):
    prefix, pheno = multi
    with pytest.raises(SystemExit) as exit_info:
        main(["assoc", "--bfile", str(prefix), "--pheno", str(pheno), "--mpheno", spec,
              "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert "--mpheno" in capsys.readouterr().err


def test_one_phenotype_subcommands_and_clashing_names(tmp_path, multi, capsys):
    prefix, pheno = multi
    code, err = run(["fit", "--bfile", prefix, "--pheno", pheno, "--mpheno", "1-2",
                     "--no-progress", "--out", tmp_path / "f"], capsys)
    assert code == 2 and "takes one phenotype column" in err and err.count("\n") == 1
    clash = tmp_path / "clash.txt"
    clash.write_text(pheno.read_text().replace("height weight", "a/b a?b", 1))
    code, err = run(["assoc", "--bfile", prefix, "--pheno", clash, "--mpheno", "1-2",
                     "--no-progress", "--out", tmp_path / "c"], capsys)
    assert code == 2 and "clash.txt" in err and "a_b" in err
    assert not list(tmp_path.glob("c.*"))
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--mpheno", "1,3",
                     "--all-pheno", "--no-progress", "--out", tmp_path / "d"], capsys)
    assert code == 2 and "--all-pheno" in err


@pytest.mark.slow
def test_hs1940_six_phenotypes_four_sample_sets(hs1940, tmp_path, capsys):
    """GEMMA's six HS1940 phenotypes (.fam columns 6–11, -n 1..6) in one run equal six runs;
    they form four sample sets (p1: 1410; p2 = p4: 757; p3 = p5: 653; p6: 1580)."""
    code, err = run(["assoc", "--bfile", hs1940, "--mpheno", "1-6", "--no-progress",
                     "--out", tmp_path / "multi"], capsys)
    assert code == 0, err
    sizes = [json.loads((tmp_path / f"multi.P{j}.null.json").read_text())["n_samples"]
             for j in range(1, 7)]
    assert sizes == [1410, 757, 653, 757, 653, 1580]
    assert_same_as_single(tmp_path, capsys, hs1940, None, [f"P{j}" for j in range(1, 7)],
                          list(range(1, 7)), [])

