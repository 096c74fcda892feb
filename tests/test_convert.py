"""Genotype formats converted to PLINK 1 (``lmmcompare.convert``), checked with PLINK 2 itself.

A simulated PLINK 1 set (``lmmcompare.simulate``, FID = IID, random A/C/G/T alleles) is written
as PGEN, VCF, VCF.gz and BGEN by ``plink2`` and converted back; the converted set must give a
byte-identical ``exactlmm assoc`` table (allele and sample order included).  Hard calls from
dosages are checked on a BGEN built here byte by byte (``_write_bgen``), whose probabilities are
known exactly.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed

from exactlmm.cli import main as exactlmm_main
from exactlmm.errors import InputError
from lmmcompare import convert
from lmmcompare.simulate import simulate_dataset

pytestmark = pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")

PAIRS = [(a, b) for a in "ACGT" for b in "ACGT" if a != b]


def _plink2(*args: str, cwd: Path) -> None:
    subprocess.run(["plink2", "--threads", "1", "--memory", "1024", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``orig.{bed,bim,fam,pheno}``: 150 samples, 240 SNPs on 3 chromosomes, 2 % missing calls,
    FID = IID (so single-id formats round-trip), random allele letters."""
    folder = tmp_path_factory.mktemp("original")
    prefix = folder / "orig"
    simulate_dataset(prefix, n_samples=150, n_snps=240, n_chromosomes=3, seed=5, h2=0.5,
                     n_causal=2, causal_h2=0.1, missing_rate=0.02)
    rng = np.random.default_rng(5)
    bim = [line.split("\t") for line in Path(f"{prefix}.bim").read_text().splitlines()]
    for fields, k in zip(bim, rng.integers(0, len(PAIRS), size=len(bim)), strict=True):
        fields[4], fields[5] = PAIRS[k]
    Path(f"{prefix}.bim").write_text("".join("\t".join(f) + "\n" for f in bim))
    for ext in ("fam", "pheno"):
        path = Path(f"{prefix}.{ext}")
        lines = path.read_text().splitlines()
        start = 1 if ext == "pheno" else 0
        rows = [line.split() for line in lines[start:]]
        path.write_text("".join(line + "\n" for line in lines[:start])
                        + "".join(" ".join([r[1], *r[1:]]) + "\n" for r in rows))
    return prefix


def _scan(bfile: Path, pheno: Path, out: Path) -> bytes:
    assert exactlmm_main(["assoc", "--bfile", str(bfile), "--pheno", str(pheno),
                          "--no-progress", "--out", str(out)]) == 0
    return Path(f"{out}.assoc.tsv").read_bytes()


EXPORTS = {
    # name: (plink2 export arguments, output file(s), kind, to_plink1 keywords)
    "pgen": (["--make-pgen"], "x", "pgen", {}),
    "pgen_zst_iid_only": (["--make-pgen", "vzs", "psam-cols=sex"], "x", "pgen", {}),
    "vcf": (["--export", "vcf", "id-paste=iid"], "x.vcf", "vcf", {}),
    "vcf_gz": (["--export", "vcf", "bgz", "id-paste=iid"], "x.vcf.gz", "vcf", {}),
    "bgen": (["--export", "bgen-1.2", "id-paste=iid"], "x.bgen", "bgen",
             {"bgen_ref": "ref-last"}),
    "bgen_sample_v2": (["--export", "bgen-1.2", "sample-v2", "id-paste=iid"], "x.bgen", "bgen",
                       {"bgen_ref": "ref-last"}),
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_round_trip_gives_a_byte_identical_scan(name, original, tmp_path):
    args, written, kind, keywords = EXPORTS[name]
    _plink2("--bfile", str(original), *args, "--out", "x", cwd=tmp_path)
    conversion = convert.to_plink1(tmp_path / written, kind, tmp_path / "back", **keywords)
    assert (conversion.n_samples, conversion.n_variants) == (150, 240)
    assert conversion.multiallelic_dropped == 0
    back = tmp_path / "back"
    assert Path(f"{back}.bed").read_bytes() == Path(f"{original}.bed").read_bytes()
    ours = [line.split()[:2] for line in Path(f"{original}.fam").read_text().splitlines()]
    theirs = [line.split()[:2] for line in Path(f"{back}.fam").read_text().splitlines()]
    assert theirs == ours
    bim = [line.split() for line in Path(f"{original}.bim").read_text().splitlines()]
    bim_back = [line.split() for line in Path(f"{back}.bim").read_text().splitlines()]
    assert [[r[0], r[1], r[3], r[4], r[5]] for r in bim_back] == \
        [[r[0], r[1], r[3], r[4], r[5]] for r in bim]
    pheno = Path(f"{original}.pheno")
    assert _scan(back, pheno, tmp_path / "scan_back") == _scan(original, pheno,
                                                               tmp_path / "scan_orig")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_bgen_ref_first_counts_the_second_allele(original, tmp_path):
    """PLINK 2 exports BGEN ref-last; read as ref-first, REF/ALT and so a1/a2 swap places and
    every call counts the other allele."""
    _plink2("--bfile", str(original), "--export", "bgen-1.2", "id-paste=iid", "--out", "x",
            cwd=tmp_path)
    convert.to_plink1(tmp_path / "x.bgen", "bgen", tmp_path / "first", bgen_ref="ref-first")
    bim = [line.split() for line in Path(f"{original}.bim").read_text().splitlines()]
    first = [line.split() for line in (tmp_path / "first.bim").read_text().splitlines()]
    assert [(r[4], r[5]) for r in first] == [(r[5], r[4]) for r in bim]
    ours = open_bed(f"{original}.bed", count_A1=True).read()
    swapped = open_bed(tmp_path / "first.bed", count_A1=True).read()
    np.testing.assert_array_equal(swapped, 2 - ours)


# ----------------------------------------------------------------------------- hard calls


def _write_bgen(path: Path, ids: list[str], variants: list[tuple], probabilities: list,
                bits: int = 16) -> None:
    """A BGEN v1.2 file (layout 2, zlib, sample ids stored): per variant (id, rsid, chrom,
    pos, allele 1, allele 2) and an (n, 3) array of P(11), P(12), P(22) stored with ``bits``
    bits (P(22) rounded first, P(12) capped so the stored pair sums to at most 1)."""
    n, scale = len(ids), (1 << bits) - 1
    header = struct.pack("<III", 20, len(variants), n) + b"bgen" + struct.pack(
        "<I", 1 | (2 << 2) | (1 << 31))
    id_data = b"".join(struct.pack("<H", len(s)) + s.encode() for s in ids)
    out = bytearray(struct.pack("<I", 20 + 8 + len(id_data)) + header
                    + struct.pack("<II", 8 + len(id_data), n) + id_data)
    for (vid, rsid, chrom, pos, a, b), p in zip(variants, probabilities, strict=True):
        for text in (vid, rsid, chrom):
            out += struct.pack("<H", len(text)) + text.encode()
        out += struct.pack("<IH", pos, 2)
        for allele in (a, b):
            out += struct.pack("<I", len(allele)) + allele.encode()
        q22 = np.round(p[:, 2] * scale).astype(np.int64)
        q12 = np.minimum(np.round(p[:, 1] * scale).astype(np.int64), scale - q22)
        q11 = scale - q12 - q22
        bits_stream = "".join(format(v, f"0{bits}b")[::-1]
                              for pair in zip(q11, q12, strict=True) for v in pair)
        bits_stream += "0" * (-len(bits_stream) % 8)
        packed = bytes(int(bits_stream[k:k + 8][::-1], 2) for k in range(0, len(bits_stream), 8))
        data = struct.pack("<IHBB", n, 2, 2, 2) + bytes([2] * n) + struct.pack("<BB", 0, bits)
        data += packed
        compressed = zlib.compress(data)
        out += struct.pack("<II", len(compressed) + 4, len(data)) + compressed
    path.write_bytes(bytes(out))


def _sample_file(path: Path, ids: list[str]) -> None:
    path.write_text("ID_1 ID_2 missing\n0 0 0\n" + "".join(f"{s} {s} 0\n" for s in ids))


# ALT (= second allele with ref-first) dosages, none within 0.01 of a threshold used below
DOSAGES = np.array([0.0, 0.05, 0.08, 0.13, 0.3, 0.45, 0.55, 0.7, 0.88, 0.95, 1.0, 1.06, 1.12,
                    1.3, 1.47, 1.62, 1.85, 1.93, 2.0])


def _probabilities(dosage: np.ndarray) -> np.ndarray:
    """Genotype probabilities with ALT dosage d spread over the two nearest genotypes."""
    p = np.zeros((dosage.size, 3))
    low = np.minimum(np.floor(dosage), 1).astype(int)
    frac = dosage - low
    p[np.arange(dosage.size), low] = 1 - frac
    p[np.arange(dosage.size), low + 1] += frac
    return p


@pytest.fixture
def dosage_bgen(tmp_path: Path) -> Path:
    ids = [f"s{k}" for k in range(DOSAGES.size)]
    _write_bgen(tmp_path / "d.bgen", ids, [("v1", "rs1", "1", 100, "C", "T"),
                                           ("v2", "rs2", "1", 200, "G", "A")],
                [_probabilities(DOSAGES), _probabilities(DOSAGES[::-1])])
    _sample_file(tmp_path / "d.sample", ids)
    return tmp_path / "d.bgen"


@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.2, 0.4])
def test_bgen_dosages_become_hard_calls_by_the_threshold(dosage_bgen, tmp_path, threshold):
    """Call = round(d) when |d − round(d)| ≤ threshold, else missing (d the ALT dosage)."""
    convert.to_plink1(dosage_bgen, "bgen", tmp_path / "calls", hard_call_threshold=threshold)
    bim = (tmp_path / "calls.bim").read_text().split()
    assert bim[4:6] == ["T", "C"]  # ref-first: ALT (the second allele) is .bim column 5
    calls = open_bed(tmp_path / "calls.bed", count_A1=True).read()
    for column, dosage in ((0, DOSAGES), (1, DOSAGES[::-1])):
        nearest = np.round(dosage)
        expected = np.where(np.abs(dosage - nearest) <= threshold, nearest, np.nan)
        np.testing.assert_array_equal(calls[:, column], expected)


def test_dosage_certainty_sets_uncertain_genotypes_missing(tmp_path):
    ids = ["a", "b", "c"]
    probabilities = np.array([[0.05, 0.95, 0.0], [0.3, 0.5, 0.2], [0.0, 0.0, 1.0]])
    _write_bgen(tmp_path / "u.bgen", ids, [("v1", "rs1", "1", 100, "C", "T")], [probabilities])
    _sample_file(tmp_path / "u.sample", ids)
    # dosage of b is 0.9: a call under threshold 0.1, but its largest probability is 0.5
    convert.to_plink1(tmp_path / "u.bgen", "bgen", tmp_path / "loose")
    convert.to_plink1(tmp_path / "u.bgen", "bgen", tmp_path / "sure", dosage_certainty=0.9)
    np.testing.assert_array_equal(open_bed(tmp_path / "loose.bed").read()[:, 0], [1, 1, 2])
    np.testing.assert_array_equal(open_bed(tmp_path / "sure.bed").read()[:, 0], [1, np.nan, 2])


VCF_HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=1>\n"
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
              '##FORMAT=<ID=DS,Number=1,Type=Float,Description="ALT dosage">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\ts4\n")


def _vcf(path: Path, records: list[str]) -> Path:
    path.write_text(VCF_HEADER + "".join(r + "\n" for r in records))
    return path


def test_vcf_reads_gt_calls_unless_a_dosage_field_is_named(tmp_path):
    vcf = _vcf(tmp_path / "d.vcf", ["1\t10\trs1\tA\tG\t.\t.\t.\tGT:DS\t0/0:0.3\t0/1:0.95"
                                    "\t1/1:1.6\t0/1:1.02"])
    convert.to_plink1(vcf, "vcf", tmp_path / "gt")
    convert.to_plink1(vcf, "vcf", tmp_path / "ds", vcf_dosage="DS")
    np.testing.assert_array_equal(open_bed(tmp_path / "gt.bed").read()[:, 0], [0, 1, 2, 1])
    np.testing.assert_array_equal(open_bed(tmp_path / "ds.bed").read()[:, 0],
                                  [np.nan, 1, np.nan, 1])


# ---------------------------------------------------------------- sites, ids, samples, errors


def test_multiallelic_sites_are_dropped_and_counted(tmp_path):
    vcf = _vcf(tmp_path / "m.vcf", [
        "1\t10\trs1\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1\t0/1",
        "1\t20\trs2\tC\tT,G\t.\t.\t.\tGT\t0/1\t1/2\t0/0\t2/2",
        "1\t30\trs3\tG\tA\t.\t.\t.\tGT\t0/0\t0/0\t0/1\t1/1",
        "1\t40\trs4\tT\tC,A,G\t.\t.\t.\tGT\t0/3\t0/0\t0/1\t0/0",
    ])
    conversion = convert.to_plink1(vcf, "vcf", tmp_path / "bi")
    assert (conversion.n_variants, conversion.multiallelic_dropped) == (2, 2)
    assert [line.split()[1] for line in (tmp_path / "bi.bim").read_text().splitlines()] == \
        ["rs1", "rs3"]
    assert "2 multi-allelic site(s) dropped" in conversion.describe()


def test_vcf_samples_get_fid_equal_to_iid_and_missing_ids_are_named(tmp_path):
    vcf = _vcf(tmp_path / "i.vcf", ["1\t10\t.\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1\t0/1"])
    convert.to_plink1(vcf, "vcf", tmp_path / "i")
    assert [line.split()[:2] for line in (tmp_path / "i.fam").read_text().splitlines()] == \
        [["s1", "s1"], ["s2", "s2"], ["s3", "s3"], ["s4", "s4"]]
    assert (tmp_path / "i.bim").read_text().split()[1] == "1:10:A:G"


def test_duplicate_variant_ids_are_an_error_naming_the_source(tmp_path):
    vcf = _vcf(tmp_path / "dup.vcf", ["1\t10\trs1\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1\t0/1",
                                      "1\t20\trs1\tC\tT\t.\t.\t.\tGT\t0/0\t0/1\t1/1\t0/1"])
    with pytest.raises(InputError, match=r"variant id 'rs1' appears more than once") as err:
        convert.to_plink1(vcf, "vcf", tmp_path / "dup")
    assert str(err.value).startswith(str(vcf)) and "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.vcf"]


def test_sample_file_with_another_count_is_an_error_naming_it(dosage_bgen, tmp_path):
    sample = tmp_path / "short.sample"
    _sample_file(sample, [f"s{k}" for k in range(DOSAGES.size - 1)])
    with pytest.raises(InputError, match=r"lists 18 samples, d.bgen holds 19") as err:
        convert.to_plink1(dosage_bgen, "bgen", tmp_path / "x", sample=sample)
    assert str(err.value).startswith(str(sample))


def test_sample_file_naming_other_samples_is_an_error_naming_it(dosage_bgen, tmp_path):
    sample = tmp_path / "other.sample"
    ids = [f"s{k}" for k in range(DOSAGES.size)]
    ids[4] = "stranger"
    _sample_file(sample, ids)
    with pytest.raises(InputError, match=r"sample 5 is 'stranger stranger' here but 's4'"):
        convert.to_plink1(dosage_bgen, "bgen", tmp_path / "x", sample=sample)


def test_missing_inputs_are_errors_naming_the_file(tmp_path):
    with pytest.raises(InputError, match="VCF file not found"):
        convert.to_plink1(tmp_path / "absent.vcf", "vcf", tmp_path / "x")
    with pytest.raises(InputError, match=r"\.pgen file not found"):
        convert.to_plink1(tmp_path / "absent", "pgen", tmp_path / "x")
    (tmp_path / "lone.bgen").write_bytes(b"\0" * 64)
    with pytest.raises(InputError, match=r"lone\.sample: \.sample file not found"):
        convert.to_plink1(tmp_path / "lone.bgen", "bgen", tmp_path / "x")


def test_not_a_bgen_file_is_an_error(tmp_path):
    (tmp_path / "fake.bgen").write_bytes(b"\x14\0\0\0" + b"\x14\0\0\0" + b"\0" * 8 + b"nope"
                                         + b"\0" * 8)
    _sample_file(tmp_path / "fake.sample", ["a"])
    with pytest.raises(InputError, match="not a BGEN file"):
        convert.to_plink1(tmp_path / "fake.bgen", "bgen", tmp_path / "x")


def test_plink2_failure_is_one_line_with_its_error_and_leaves_the_old_set(tmp_path):
    old = {ext: f"old {ext}\n" for ext in ("bed", "bim", "fam")}
    for ext, text in old.items():
        (tmp_path / f"out.{ext}").write_text(text)
    vcf = _vcf(tmp_path / "bad.vcf", ["1\t10\trs1\tA\tG\t.\t.\t.\tGT\t0/0\t0/9\t1/1\t0/1"])
    with pytest.raises(InputError, match=r"plink2 failed \(exit \d+\): Error: .*GT") as err:
        convert.to_plink1(vcf, "vcf", tmp_path / "out")
    assert str(err.value).startswith(str(vcf)) and "\n" not in str(err.value)
    assert {ext: (tmp_path / f"out.{ext}").read_text() for ext in old} == old
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_new_set_replaces_the_old_one_whole(original, tmp_path):
    for ext in ("bed", "bim", "fam"):
        (tmp_path / f"out.{ext}").write_text("stale\n")
    _plink2("--bfile", str(original), "--make-pgen", "--out", "x", cwd=tmp_path)
    convert.to_plink1(tmp_path / "x", "pgen", tmp_path / "out")
    assert (tmp_path / "out.bed").read_bytes() == Path(f"{original}.bed").read_bytes()
    assert (tmp_path / "out.fam").read_text() != "stale\n"


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("plink", {}, "kind must be one of"),
        ("bgen", {"hard_call_threshold": 0.5}, "hard_call_threshold"),
        ("bgen", {"dosage_certainty": 1.5}, "dosage_certainty must be"),
        ("vcf", {"dosage_certainty": 0.9}, "BGEN and to VCF GP"),
        ("pgen", {"vcf_dosage": "DS"}, "vcf_dosage is for VCF"),
        ("vcf", {"vcf_dosage": "AD"}, "vcf_dosage is for VCF"),
        ("bgen", {"bgen_ref": "first"}, "bgen_ref"),
    ],
)
def test_options_out_of_range_are_refused(kind, options, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        convert.to_plink1(tmp_path / "x", kind, tmp_path / "out", **options)


def test_option_defaults_are_the_documented_ones():
    import inspect

    signature = inspect.signature(convert.to_plink1)
    for name, (default, description) in convert.OPTIONS.items():
        assert signature.parameters[name].default == default
        assert description


def test_gzip_vcf_from_gzip_module_is_read(tmp_path):
    """Plain gzip (not bgzip) is read too."""
    text = VCF_HEADER + "1\t10\trs1\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1\t0/1\n"
    with gzip.open(tmp_path / "g.vcf.gz", "wt") as handle:
        handle.write(text)
    conversion = convert.to_plink1(tmp_path / "g.vcf.gz", "vcf", tmp_path / "g")
    assert conversion.n_variants == 1


def test_an_interrupted_move_leaves_no_bed_beside_a_new_bim(original, tmp_path, monkeypatch):
    """The .bed seals the set: the old one goes first and the new one comes last, so a move
    stopped half-way leaves no .bed at all rather than an old .bed beside a new .bim."""
    for ext in ("bed", "bim", "fam"):
        (tmp_path / f"out.{ext}").write_text("old\n")
    _plink2("--bfile", str(original), "--make-pgen", "--out", "x", cwd=tmp_path)
    moved = []
    real_replace = convert.os.replace

    def replace_then_stop(source, target):
        if moved:
            raise KeyboardInterrupt
        moved.append(target)
        real_replace(source, target)

    monkeypatch.setattr(convert.os, "replace", replace_then_stop)
    with pytest.raises(KeyboardInterrupt):
        convert.to_plink1(tmp_path / "x", "pgen", tmp_path / "out")
    assert [Path(p).name for p in moved] == ["out.bim"]
    assert not (tmp_path / "out.bed").exists()
    assert (tmp_path / "out.bim").read_text() != "old\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
