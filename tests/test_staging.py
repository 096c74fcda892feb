"""Tests for lmmcompare.staging: a configured dataset staged from files or an archive, checked
by sha256, converted from PLINK 2, VCF or BGEN (written here by plink2 from a PLINK 1 set, which
the staged set must equal call for call); each kind of bad input is one line naming the source
as configured."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from exactlmm.errors import InputError
from lmmcompare.staging import input_sources, plan, stage_plink

OUTPUTS = ("bed", "bim", "fam", "pheno")


def _plink_entry(**given) -> dict:
    """A ``plink:`` entry with the schema's defaults for what is not given."""
    entry = {"source": "data", "archive": None, "archive_sha256": None, "gzipped": False,
             "sha256": {}, "phenotype": {"file": None, "column": 1, "fam_column": 6},
             "covariates": None, "format": {"kind": "plink1"}}
    return {**entry, **given}


def _outputs(directory: Path, covar: bool = False) -> dict[str, Path]:
    names = (*OUTPUTS, "covar") if covar else OUTPUTS
    return {ext: directory / "staged" / f"genotypes.{ext}" for ext in names}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def gzipped(tmp_path: Path, make_plink) -> tuple[Path, dict]:
    """A random fileset, its gzipped copies ``gz/data.{bed,bim,fam}.gz`` and their sha256."""
    prefix = make_plink(tmp_path, n=30, m=40, seed=4)
    (tmp_path / "gz").mkdir()
    sha256 = {}
    for ext in ("bed", "bim", "fam"):
        packed = tmp_path / "gz" / f"data.{ext}.gz"
        packed.write_bytes(gzip.compress(Path(f"{prefix}.{ext}").read_bytes(), mtime=0))
        sha256[ext] = _sha256(packed)
    return prefix, sha256


def _stage_gzipped(tmp_path: Path, sha256: dict) -> dict[str, Path]:
    entry = _plink_entry(source="data", gzipped=True, sha256=sha256)
    sources = input_sources(entry)
    assert sources == {ext: f"data.{ext}.gz" for ext in ("bed", "bim", "fam")}
    outputs = _outputs(tmp_path)
    stage_plink(plan(entry), {k: tmp_path / "gz" / v for k, v in sources.items()}, outputs)
    return outputs


def test_gzipped_files_are_checked_and_unpacked(tmp_path: Path, gzipped) -> None:
    prefix, sha256 = gzipped
    outputs = _stage_gzipped(tmp_path, sha256)
    for ext in ("bed", "bim", "fam"):
        assert outputs[ext].read_bytes() == Path(f"{prefix}.{ext}").read_bytes()
    fam = [line.split() for line in Path(f"{prefix}.fam").read_text().splitlines()]
    assert outputs["pheno"].read_text().splitlines() == (
        ["FID IID pheno"] + [f"{f[0]} {f[1]} {f[5]}" for f in fam])


def test_a_wrong_sha256_is_one_line_naming_the_file(tmp_path: Path, gzipped) -> None:
    _, sha256 = gzipped
    with pytest.raises(InputError) as caught:
        _stage_gzipped(tmp_path, {**sha256, "bim": "0" * 64})
    assert str(caught.value).startswith(f"data.bim.gz: sha256 mismatch: expected {'0' * 64}, ")
    assert "\n" not in str(caught.value)


def test_a_file_that_is_not_gzip_is_one_line_naming_it(tmp_path: Path, gzipped) -> None:
    _, sha256 = gzipped
    (tmp_path / "gz" / "data.fam.gz").write_text("fam0 ind0 0 0 1 0.5\n")
    with pytest.raises(InputError, match=r"^data\.fam\.gz: cannot read \(.*gzip") as caught:
        _stage_gzipped(tmp_path, {**sha256, "fam": None})
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "staged" / "genotypes.fam").exists()


def _archive(tmp_path: Path, prefix: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "bundle.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            source = tmp_path / "member"
            source.write_bytes(data)
            tar.add(source, arcname=name)
    return path


def test_an_archive_with_phenotype_and_categorical_covariates(tmp_path: Path,
                                                              make_plink) -> None:
    prefix = make_plink(tmp_path, n=30, m=40, seed=5)
    ids = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    pheno = "".join(f"{f} {i} {k * 0.5} {k * 7 % 5}\n" for k, (f, i) in enumerate(ids))
    covar = "FID IID AGE SITE\n" + "".join(
        f"{f} {i} {20 + k} {'ab'[k % 3 == 0]}\n" for k, (f, i) in enumerate(ids))
    members = {f"./set/data.{ext}": Path(f"{prefix}.{ext}").read_bytes()
               for ext in ("bed", "bim", "fam")}
    members |= {"set/p.txt": pheno.encode(), "set/c.txt": covar.encode()}
    archive = _archive(tmp_path, prefix, members)
    entry = _plink_entry(source="set/data", archive=str(archive),
                         archive_sha256=_sha256(archive),
                         phenotype={"file": "set/p.txt", "column": 2, "fam_column": None},
                         covariates={"file": "set/c.txt", "columns": ["SITE", "AGE"]})
    assert input_sources(entry) == {"archive": str(archive)}
    assert plan(entry)["phenotype_column"] == 2
    outputs = _outputs(tmp_path, covar=True)
    stage_plink(plan(entry), {"archive": archive}, outputs)
    assert outputs["bed"].read_bytes() == Path(f"{prefix}.bed").read_bytes()
    assert outputs["pheno"].read_text() == pheno
    lines = outputs["covar"].read_text().splitlines()
    assert lines[0] == "FID IID SITE=b AGE"  # a, the most frequent level, is the reference
    assert lines[1] == f"{ids[0][0]} {ids[0][1]} 1.0 20.0"


def test_a_missing_archive_member_is_one_line_naming_the_archive(tmp_path: Path,
                                                                  make_plink) -> None:
    prefix = make_plink(tmp_path, n=20, m=10, seed=6)
    archive = _archive(tmp_path, prefix, {f"data.{ext}": Path(f"{prefix}.{ext}").read_bytes()
                                          for ext in ("bed", "fam")})
    entry = _plink_entry(source="data", archive=str(archive))
    with pytest.raises(InputError) as caught:
        stage_plink(plan(entry), {"archive": archive}, _outputs(tmp_path))
    assert str(caught.value) == f"{archive}: the archive has no member 'data.bim'"
    assert not (tmp_path / "staged").exists()


def test_a_fam_without_the_phenotype_column_names_the_source(tmp_path: Path, gzipped) -> None:
    _, sha256 = gzipped
    entry = _plink_entry(source="data", gzipped=True, sha256=sha256,
                         phenotype={"file": None, "column": 1, "fam_column": 8})
    sources = {k: tmp_path / "gz" / v for k, v in input_sources(entry).items()}
    with pytest.raises(InputError, match=r"^data\.fam\.gz: line 1: has 6 columns, phenotype "
                                         r"column 8 is missing$"):
        stage_plink(plan(entry), sources, _outputs(tmp_path))


def test_plain_files_with_a_covariate_file_given_as_a_string(tmp_path: Path) -> None:
    entry = _plink_entry(source="https://example.org/d/x",
                         phenotype={"file": "p.txt", "column": 1, "fam_column": 6},
                         covariates="c.txt")
    assert input_sources(entry) == {"bed": "https://example.org/d/x.bed",
                                    "bim": "https://example.org/d/x.bim",
                                    "fam": "https://example.org/d/x.fam",
                                    "pheno_file": "p.txt", "covar_file": "c.txt"}
    assert plan(entry)["covariates"] == {"file": "c.txt", "columns": None, "categorical": []}


# ------------------------------------------------------------------ PLINK 2, VCF, BGEN

needs_plink2 = pytest.mark.skipif(shutil.which("plink2") is None,
                                  reason="plink2 not installed (apt-get install plink2)")

EXPORTS = {
    # kind: (plink2 --export/--make-pgen arguments, the files written, the plink: entry)
    "pgen": (["--make-pgen"], ("x.pgen", "x.pvar", "x.psam"), {"source": "x"}),
    "vcf": (["--export", "vcf", "bgz", "id-paste=iid"], ("x.vcf.gz",),
            {"source": "x.vcf.gz"}),
    "bgen": (["--export", "bgen-1.2", "id-paste=iid"], ("x.bgen", "x.sample"),
             {"source": "x.bgen", "format": {"kind": "bgen", "bgen_ref": "ref-last"}}),
}


def _export(prefix: Path, kind: str, folder: Path) -> dict:
    """Write the set ``prefix`` as ``kind`` into ``folder``; return its plink: entry (a
    phenotype file of FID = IID ids beside it, as single-id formats give)."""
    arguments, written, entry = EXPORTS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["plink2", "--bfile", str(prefix), *arguments, "--threads", "1",
                    "--memory", "1024", "--out", "x"], cwd=folder, check=True,
                   capture_output=True)
    fam = [line.split() for line in Path(f"{prefix}.fam").read_text().splitlines()]
    fid = (lambda row: row[0]) if kind == "pgen" else (lambda row: row[1])
    (folder / "p.txt").write_text("".join(f"{fid(r)} {r[1]} {r[5]}\n" for r in fam))
    sha256 = {ext.rsplit(".", 1)[-1] if kind != "vcf" else "vcf": _sha256(folder / name)
              for ext, name in zip(written, written, strict=True)}
    return _plink_entry(**{"format": {"kind": kind}, **entry}, sha256=sha256,
                        phenotype={"file": "p.txt", "column": 1, "fam_column": None})


def _stage_from(folder: Path, entry: dict, outputs: dict[str, Path]) -> None:
    sources = {name: folder / source for name, source in input_sources(entry).items()}
    stage_plink(plan(entry), sources, outputs)


@needs_plink2
@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_other_formats_are_staged_as_the_plink1_set(tmp_path: Path, make_plink, kind,
                                                    capsys) -> None:
    prefix = make_plink(tmp_path, n=40, m=60, seed=8)
    entry = _export(prefix, kind, tmp_path / kind)
    assert set(input_sources(entry)) == {*EXPORTS_FILES[kind], "pheno_file"}
    outputs = _outputs(tmp_path)
    _stage_from(tmp_path / kind, entry, outputs)
    assert outputs["bed"].read_bytes() == Path(f"{prefix}.bed").read_bytes()
    bim = [line.split()[:2] + line.split()[3:] for line in
           Path(f"{prefix}.bim").read_text().splitlines()]
    assert [line.split()[:2] + line.split()[3:]
            for line in outputs["bim"].read_text().splitlines()] == bim
    iid = [line.split()[1] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    assert [line.split()[1] for line in outputs["fam"].read_text().splitlines()] == iid
    log = capsys.readouterr().err
    assert "converted " in log and "40 samples, 60 variants, 0 multi-allelic site(s) dropped" \
        in log and str(tmp_path) not in log.split("converted ")[1].split(" (")[0]


EXPORTS_FILES = {"pgen": ("pgen", "pvar", "psam"), "vcf": ("vcf",), "bgen": ("bgen", "sample")}


@needs_plink2
def test_a_wrong_sha256_of_a_pgen_file_names_it(tmp_path: Path, make_plink) -> None:
    prefix = make_plink(tmp_path, n=20, m=10, seed=9)
    entry = _export(prefix, "pgen", tmp_path / "p")
    entry["sha256"]["psam"] = "0" * 64
    with pytest.raises(InputError, match=r"^x\.psam: sha256 mismatch"):
        _stage_from(tmp_path / "p", entry, _outputs(tmp_path))
    assert not (tmp_path / "staged").exists()


@needs_plink2
def test_a_vcf_with_multiallelic_sites_and_repeated_ids(tmp_path: Path, make_plink,
                                                        capsys) -> None:
    prefix = make_plink(tmp_path, n=20, m=10, seed=10, chroms=1)
    entry = _export(prefix, "vcf", tmp_path / "v")
    entry["sha256"] = {}
    with gzip.open(tmp_path / "v" / "x.vcf.gz", "rt") as handle:
        lines = handle.read().splitlines()
    record = lines[-1].split("\t")
    multi = [record[0], str(int(record[1]) + 1), "multi", "A", "C,G", *record[5:]]
    (tmp_path / "v" / "y.vcf").write_text("\n".join([*lines, "\t".join(multi)]) + "\n")
    entry["source"] = "y.vcf"
    _stage_from(tmp_path / "v", entry, _outputs(tmp_path))
    assert "10 variants, 1 multi-allelic site(s) dropped" in capsys.readouterr().err
    twice = [*lines, "\t".join([record[0], str(int(record[1]) + 1), record[2], *record[3:]])]
    (tmp_path / "v" / "z.vcf").write_text("\n".join(twice) + "\n")
    entry["source"] = "z.vcf"
    with pytest.raises(InputError, match=rf"^z\.vcf: variant id '{record[2]}' appears more "
                                         "than once"):
        _stage_from(tmp_path / "v", entry, _outputs(tmp_path / "again"))


def test_format_settings_are_checked_with_the_config() -> None:
    from lmmcompare.workflow_config import ConfigError, validated

    def dataset(**plink):
        return {"datasets": {"d": {"plink": {"source": "x.vcf.gz", **plink}}}}

    for plink, message in (
        ({"format": {"kind": "vcf"}, "gzipped": True}, "d/plink/gzipped: applies to PLINK 1"),
        ({"format": {"kind": "vcf"}, "sha256": {"bed": "0" * 64}},
         "d/plink/sha256/bed: not a file of a vcf dataset (vcf)"),
        ({"format": {"kind": "bgen", "vcf_dosage": "DS"}},
         "d/plink/format: vcf_dosage is for VCF files"),
        ({"format": {"hard_call_threshold": 0.2}},
         "d/plink/format/hard_call_threshold: a conversion setting: applies to pgen, vcf, bgen"),
        ({"format": {"kind": "vcf", "sample": "x.sample"}},
         "d/plink/format/sample: applies to bgen only"),
        ({"format": {"kind": "vcf", "hard_call_threshold": 0.5}},
         "d/plink/format/hard_call_threshold: 0.5 is greater than or equal to the maximum"),
    ):
        with pytest.raises(ConfigError) as caught:
            validated(dataset(**plink))
        assert str(caught.value).startswith(f"config error at datasets/{message}"), \
            str(caught.value)
    validated(dataset(format={"kind": "vcf", "vcf_dosage": "GP", "dosage_certainty": 0.9}))
