"""Every text reader, one table: odd but valid spellings of a file (a UTF-8 byte-order mark,
CRLF or CR line ends, tabs, blank lines, no final newline) read exactly as the plain file, and
invalid files are one ``InputError`` naming the file.

The readers: phenotype and covariate files (header or not, categorical columns), ``.fam`` and
``.bim`` (through ``open_plink``), SNP lists, the plain-text kinship and GCTA's ``.grm.id``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from exactlmm.errors import InputError
from exactlmm.io.grm import read_grm_ids
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.plink import open_plink
from exactlmm.io.tables import read_covar, read_pheno
from exactlmm.qc import read_snp_list

PHENO = "FID IID height\nf1 i1 1.5\nf2 i2 NA\nf3 i3 -0.25\n"
COVAR = "FID IID age batch\nf1 i1 31 A\nf2 i2 47 B\nf3 i3 52 A\n"
FAM = "f1 i1 0 0 1 1.5\nf2 i2 0 0 2 -9\nf3 i3 0 0 1 0.5\n"
BIM = "1\trs1\t0\t100\tA\tG\n1\trs2\t0\t200\tC\tT\n2\trs3\t0\t50\tG\tA\n"
SNPS = "rs1\nrs3\n"
KINSHIP = "1 0.5 0.25\n0.5 1 0.125\n0.25 0.125 1\n"
GRM_ID = "f1\ti1\nf2\ti2\nf3\ti3\n"


def _plink(folder: Path, fam: str, bim: str) -> Path:
    """A 3-sample, 3-SNP fileset with the given .fam and .bim text."""
    prefix = folder / "d"
    (folder / "d.fam").write_bytes(fam.encode("utf-8") if isinstance(fam, str) else fam)
    (folder / "d.bim").write_bytes(bim.encode("utf-8") if isinstance(bim, str) else bim)
    (folder / "d.bed").write_bytes(bytes([0x6C, 0x1B, 0x01]) + bytes([0b11100100]) * 3)
    return prefix


def _grm_ids(path: Path):
    shutil.copy(path, path.with_name("k.grm.id"))
    return read_grm_ids(path.with_name("k.grm.bin"))


#: name → (plain text, reader(path) → a comparable value)
READERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "pheno": (PHENO, lambda p: (read_pheno(p).names, repr(read_pheno(p).values.tolist()),
                                read_pheno(p).iid.tolist())),
    "covar": (COVAR, lambda p: (read_covar(p).names, read_covar(p).categorical,
                                read_covar(p).values.tolist())),
    "fam": (FAM, lambda p: (open_plink(_plink(p.parent, p.read_bytes(), BIM)).iid.tolist())),
    "bim": (BIM, lambda p: {k: v.tolist() for k, v in vars(
        open_plink(_plink(p.parent, FAM, p.read_bytes()))).items() if k != "prefix"}),
    "snplist": (SNPS, read_snp_list),
    "kinship": (KINSHIP, lambda p: read_kinship(p, 3).tolist()),
    "grm.id": (GRM_ID, lambda p: _grm_ids(p).tolist()),
}

#: variant → how it spells the same text
SPELLINGS: dict[str, Callable[[str], bytes]] = {
    "bom": lambda t: b"\xef\xbb\xbf" + t.encode(),
    "crlf": lambda t: t.replace("\n", "\r\n").encode(),
    "bom+crlf": lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode(),
    "cr": lambda t: t.replace("\n", "\r").encode(),
    "no final newline": lambda t: t.rstrip("\n").encode(),
    "blank lines": lambda t: ("\n" + t.replace("\n", "\n\n")).encode(),
    "trailing spaces": lambda t: t.replace("\n", "  \n").encode(),
}


def _read(folder: Path, name: str, data: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"input.{name}"
    path.write_bytes(data)
    return READERS[name][1](path)


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("name", sorted(READERS))
def test_odd_but_valid_spellings_read_as_the_plain_file(tmp_path, name, spelling):
    text = READERS[name][0]
    plain = _read(tmp_path / "plain", name, text.encode())
    assert _read(tmp_path / "odd", name, SPELLINGS[spelling](text)) == plain


def test_a_bom_before_a_header_keeps_the_header_and_the_numeric_columns(tmp_path):
    """The issue's case: with the BOM taken for part of "FID", the header was not
    recognised and every numeric covariate became categorical."""
    path = tmp_path / "c.txt"
    path.write_bytes(b"\xef\xbb\xbf" + COVAR.encode())
    table = read_covar(path)
    assert table.header and table.names == ["age", "batch"]
    assert table.categorical == {"batch": ["A", "B"]}  # age stays numeric
    pheno = tmp_path / "p.txt"
    pheno.write_bytes(b"\xef\xbb\xbf" + PHENO.encode())
    assert read_pheno(pheno).names == ["height"]


#: name → invalid contents → the message's pattern
INVALID: list[tuple[str, bytes, str]] = [
    *((name, b"", r"empty") for name in ("pheno", "covar", "fam", "bim", "kinship",
                                          "grm.id")),
    *((name, "x é\n".encode("latin-1"), r"not a text file") for name in sorted(READERS)),
    ("pheno", b"FID IID y\nf1 i1 1\nf2 i2\n", r"line 3"),
    ("pheno", b"FID IID y\nf1 i1 one\nf2 i2 2\n", r"line 2"),
    ("covar", b"f1 i1 1 2\nf2 i2 3\n", r"line 2"),
    ("fam", b"f1 i1 0 0 1\n", r"line 1: 5 fields"),
    ("fam", b"f1 i1 0 0 1 1\nf1 i1 0 0 1 1\nf3 i3 0 0 1 1\n", r"line 2: sample FID=f1"),
    ("bim", b"1 rs1 0 100 A G\n1 rs2 0 x C T\n2 rs3 0 50 G A\n", r"line 2, column 4"),
    ("bim", b"1 rs1 0 100 A\n", r"line 1: 5 fields"),
    ("snplist", b"rs1 rs2\n", r"line 1: 2 fields"),
    ("snplist", b"\n\n", r"the SNP list is empty"),
    ("kinship", b"1 0\n0 1\n", r"2 rows"),
    ("kinship", b"1 0 0\n0 1\n0 0 1\n", r"line 2"),
    ("kinship", b"1 0 0\n0 one 0\n0 0 1\n", r"line 2"),
    ("grm.id", b"f1\n", r"line 1: expected FID IID"),
    ("grm.id", b"f1 i1\nf1 i1\nf3 i3\n", r"line 2: sample FID=f1 IID=i1 appears again"),
]


@pytest.mark.parametrize("name, data, pattern", INVALID)
def test_invalid_files_are_one_error_naming_the_file(tmp_path, name, data, pattern):
    with pytest.raises(InputError) as error:
        value = _read(tmp_path, name, data)
        if name == "snplist":  # an empty list is refused where it is used
            from exactlmm.qc import snp_index_from_list

            snp_index_from_list(open_plink(_plink(tmp_path, FAM, BIM)), value,
                                tmp_path / "input.snplist")
    message = str(error.value)
    named = any(name in message for name in ("input.", "d.fam", "d.bim", "k.grm.id"))
    assert "\n" not in message and named, message
    assert re.search(pattern, message), message


def test_a_missing_file_is_named(tmp_path):
    for reader in (read_pheno, read_covar, read_snp_list, lambda p: read_kinship(p, 3)):
        with pytest.raises(InputError, match=r"nothing\.txt: .*not found"):
            reader(tmp_path / "nothing.txt")
    with pytest.raises(InputError, match=r"a folder, not a"):
        read_pheno(tmp_path)


def test_numbers_read_the_same_in_every_spelling(tmp_path):
    """The values themselves: a phenotype and a kinship read with a BOM and CRLF equal the
    plain reading bit for bit."""
    values = np.random.default_rng(0).standard_normal(3)
    text = "".join(f"f{i} i{i} {v!r}\n" for i, v in enumerate(values))
    path = tmp_path / "p.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    np.testing.assert_array_equal(read_pheno(path).values[:, 0], values)
