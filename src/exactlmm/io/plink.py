"""PLINK 1 binary filesets (.bed/.bim/.fam): checked opening and streamed dosage blocks.

Genotype coding.  A ``.bed`` file stores, per SNP, one 2-bit code per sample (SNP-major
mode, magic bytes ``6c 1b 01``): ``00`` homozygous for the first ``.bim`` allele (column 5,
``a1``), ``10`` heterozygous, ``11`` homozygous for the second allele (``a2``), ``01``
missing.  :mod:`exactlmm.io.bed` decodes it (bed-reader's ``count_A1=True`` coding), so a
dosage is the number of copies of ``a1``: 2, 1, 0, or NaN when missing.  GEMMA's
``PlinkKin``/``ReadFile_bed`` use the same coding (``00`` → 2.0), and so does FaST-LMM (it
reads through bed-reader/pysnptools with ``count_A1=True``).

The ``.bim`` and ``.fam`` files are parsed here (whitespace separated) so that every
malformed line gives our own one-line :class:`~exactlmm.errors.InputError` with the line
number.  A well-formed ASCII ``.bim`` is split in one pass over its bytes (numpy); anything
else goes through the line-by-line reader, which names the first bad line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from exactlmm.errors import InputError
from exactlmm.io.bed import BED_MAGIC, CODE_DOSAGE, BedCodes
from exactlmm.io.text import UTF8_BOM, check_unique_samples, split_lines

FAM_MIN_FIELDS = 6
BIM_FIELDS = 6


@dataclass(frozen=True, eq=False)
class PlinkDataset:
    """A checked PLINK fileset: sample and SNP metadata; genotypes stay on disk.

    Attributes
    ----------
    prefix:
        Path without extension; the files are ``prefix.bed``, ``prefix.bim``, ``prefix.fam``.
    fid, iid:
        Family and individual IDs (``.fam`` columns 1–2), as strings, in file order.
    chrom, snp:
        Chromosome code and SNP ID (``.bim`` columns 1–2), strings.
    cm, pos:
        Genetic position (float64, column 3) and base-pair position (int64, column 4).
    a1, a2:
        ``.bim`` columns 5 and 6; dosages count copies of ``a1``.
    """

    prefix: Path
    fid: np.ndarray
    iid: np.ndarray
    chrom: np.ndarray
    snp: np.ndarray
    cm: np.ndarray
    pos: np.ndarray
    a1: np.ndarray
    a2: np.ndarray

    @cached_property
    def chromosome(self) -> np.ndarray:
        """Each SNP's chromosome as one code however the ``.bim`` spells it
        (:func:`chromosome_codes`): what leave-one-chromosome-out groups SNPs by."""
        return chromosome_codes(self.chrom)

    @property
    def n_samples(self) -> int:
        """Number of individuals in the ``.fam`` file."""
        return int(self.iid.shape[0])

    @property
    def n_snps(self) -> int:
        """Number of SNPs in the ``.bim`` file."""
        return int(self.snp.shape[0])

    @property
    def bed_path(self) -> Path:
        return _with_suffix(self.prefix, ".bed")

    @property
    def bim_path(self) -> Path:
        return _with_suffix(self.prefix, ".bim")

    @property
    def fam_path(self) -> Path:
        return _with_suffix(self.prefix, ".fam")


#: PLINK's numeric codes of the human sex and mitochondrial chromosomes.
_NAMED_CHROMOSOMES = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}
SEX_AND_MITOCHONDRIAL = ("X", "Y", "XY", "MT")


def chromosome_codes(chrom: np.ndarray) -> np.ndarray:
    """One code per chromosome, as PLINK 2 reads ``.bim`` chromosome names: a ``chr`` prefix
    dropped (any case), leading zeros dropped (``01`` = ``1``), and the human sex and
    mitochondrial chromosomes named (``23`` = ``X``, ``24`` = ``Y``, ``25`` = ``XY``,
    ``26`` = ``M`` = ``MT``; names upper-cased).  Other names (``2L``, ``scaffold_3``) are
    kept as written.

    >>> chromosome_codes(np.array(["chr1", "1", "01", "23", "chrX", "x", "M", "26", "2L"])).tolist()
    ['1', '1', '1', 'X', 'X', 'X', 'MT', 'MT', '2L']
    """
    names, inverse = np.unique(np.asarray(chrom, dtype=str), return_inverse=True)
    codes = []
    for name in names.tolist():
        code = name[3:] if name[:3].lower() == "chr" and len(name) > 3 else name
        if code.isdigit():
            code = str(int(code))
        upper = code.upper()
        code = _NAMED_CHROMOSOMES.get(upper, upper if upper in SEX_AND_MITOCHONDRIAL else code)
        codes.append(code)
    return np.array(codes, dtype=str)[inverse.reshape(-1)] if names.size else names


def _with_suffix(prefix: Path, suffix: str) -> Path:
    # Not Path.with_suffix: a prefix such as "data.v2" must become "data.v2.bed".
    return prefix.with_name(prefix.name + suffix)


def read_fam_fields(path: str | os.PathLike[str]) -> list[tuple[int, list[str]]]:
    """Fields of every non-blank ``.fam`` line, with line numbers, checked for shape.

    Every line needs at least 6 fields (FID IID father mother sex phenotype) and all lines
    the same number of fields (GEMMA's example ``.fam`` files carry extra phenotype columns).
    """
    path = Path(path)
    rows = split_lines(path)
    if not rows:
        raise InputError("the .fam file is empty (no samples)", path=path)
    width = len(rows[0][1])
    if width < FAM_MIN_FIELDS:
        raise InputError(
            f"line {rows[0][0]}: {width} fields, a .fam line needs at least {FAM_MIN_FIELDS} "
            "(FID IID father mother sex phenotype)",
            path=path,
        )
    for lineno, fields in rows:
        if len(fields) != width:
            raise InputError(
                f"line {lineno}: {len(fields)} fields, but line {rows[0][0]} has {width}",
                path=path,
            )
    return rows


def _read_fam(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = read_fam_fields(path)
    fid = np.array([fields[0] for _, fields in rows], dtype=str)
    iid = np.array([fields[1] for _, fields in rows], dtype=str)
    check_unique_samples(rows, path)
    return fid, iid


#: Bytes that end a line for ``str.splitlines`` or that ``bytes.split`` and ``str.split``
#: treat differently (ASCII only; any byte ≥ 128 also sends a file to the line reader).
_IRREGULAR = np.zeros(256, dtype=bool)
_IRREGULAR[[0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x1F]] = True
_IRREGULAR[128:] = True
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20]] = True


def _fields_table(path: Path, n_fields: int, numeric: tuple[int, ...] = ()
                  ) -> list[np.ndarray] | None:
    """The whitespace-separated fields of a plain ASCII file whose non-blank lines all hold
    exactly ``n_fields`` fields: one array per field (column), of ``str`` (numpy ``U``), or
    of ``bytes`` for the columns ``numeric`` (to be parsed as numbers);
    ``None`` when the file is anything else (the caller then reads it line by line and names
    the problem)."""
    data = path.read_bytes()
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    buf = np.frombuffer(data, dtype=np.uint8)
    if _IRREGULAR[buf].any() or data.count(b"\r") != data.count(b"\r\n"):
        return None
    space = _SPACE[buf]
    word = ~space
    starts = np.flatnonzero(word & np.concatenate(([True], space[:-1])))
    ends = np.flatnonzero(word & np.concatenate((space[1:], [True]))) + 1
    if starts.size == 0 or starts.size % n_fields:
        return None
    line_of = np.searchsorted(np.flatnonzero(buf == 0x0A), starts).reshape(-1, n_fields)
    # every line's fields are consecutive tokens: the first and last of each group of
    # n_fields share a line, and the next group starts on a later line
    if np.any(line_of[:, 0] != line_of[:, -1]) or np.any(line_of[1:, 0] == line_of[:-1, -1]):
        return None
    return [_token_column(buf, starts[j::n_fields], ends[j::n_fields], j not in numeric)
            for j in range(n_fields)]


def _token_column(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, text: bool = True
                  ) -> np.ndarray:
    """The ASCII tokens buf[starts[i]:ends[i]]: a numpy ``str`` array (code points = bytes),
    or ``bytes`` (``S``) with ``text=False`` (what numbers are parsed from)."""
    lengths = ends - starts
    width = int(lengths.max())
    offsets = np.arange(width, dtype=np.intp)
    chars = np.take(buf, np.minimum(starts[:, None] + offsets, buf.size - 1))
    chars[offsets >= lengths[:, None]] = 0
    if text:
        return chars.astype(np.uint32).view(f"<U{width}").ravel()
    return chars.view(f"S{width}").ravel()


def _read_bim(path: Path) -> dict[str, np.ndarray]:
    columns = _fields_table(path, BIM_FIELDS, numeric=(2, 3))
    if columns is not None:
        chrom, snp, cm, pos, a1, a2 = columns
        try:
            return {"chrom": chrom, "snp": snp, "cm": cm.astype(np.float64),
                    "pos": pos.astype(np.int64), "a1": a1, "a2": a2}
        except (ValueError, OverflowError):
            pass  # a position that is not a number: the line reader names it
    return _read_bim_lines(path)


def _read_bim_lines(path: Path) -> dict[str, np.ndarray]:
    rows = split_lines(path)
    if not rows:
        raise InputError("the .bim file is empty (no SNPs)", path=path)
    for lineno, fields in rows:
        if len(fields) != BIM_FIELDS:
            raise InputError(
                f"line {lineno}: {len(fields)} fields, a .bim line needs exactly {BIM_FIELDS} "
                "(chromosome SNP cM position allele1 allele2)",
                path=path,
            )
    table = np.array([fields for _, fields in rows], dtype=str)
    columns = {
        "chrom": table[:, 0],
        "snp": table[:, 1],
        "a1": table[:, 4],
        "a2": table[:, 5],
    }
    for name, j, dtype, kind in (
        ("cm", 2, np.float64, "genetic position"),
        ("pos", 3, np.int64, "base-pair position"),
    ):
        try:
            columns[name] = table[:, j].astype(dtype)
        except (ValueError, OverflowError):
            lineno, fields = next(row for row in rows if not _parses(row[1][j], dtype))
            raise InputError(
                f"line {lineno}, column {j + 1}: {kind} '{fields[j]}' is not a number", path=path
            ) from None
    return columns


def _parses(text: str, dtype: type) -> bool:
    """Whether numpy converts ``text`` to ``dtype`` (the same parser as the column's astype)."""
    try:
        np.array([text]).astype(dtype)
    except (ValueError, OverflowError):
        return False
    return True


def _check_bed(path: Path, n_samples: int, n_snps: int) -> None:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        magic = handle.read(3)
    if magic[:2] != BED_MAGIC[:2]:
        raise InputError(
            f"not a PLINK 1 .bed file (first bytes {magic.hex(' ')}, expected 6c 1b 01)",
            path=path,
        )
    if magic != BED_MAGIC:
        raise InputError(
            "individual-major .bed files are not supported; rewrite it SNP-major with "
            "'plink --bfile PREFIX --make-bed'",
            path=path,
        )
    expected = 3 + n_snps * ((n_samples + 3) // 4)
    if size != expected:
        state = "truncated" if size < expected else "too large"
        raise InputError(
            f"{state}: {size} bytes, but {n_snps} SNPs x {n_samples} samples need "
            f"{expected} bytes (3 + {n_snps} x ceil({n_samples}/4))",
            path=path,
        )


def open_plink(prefix: str | os.PathLike[str]) -> PlinkDataset:
    """Open and check a PLINK 1 binary fileset.

    ``prefix`` is the path without extension; a path ending in ``.bed`` (or ``.bim``,
    ``.fam``) is accepted too.  Checks, each failing with a one-line ``InputError`` naming
    the file: all three files exist; ``.fam`` lines have ≥ 6 fields and ``.bim`` lines
    exactly 6; the ``.bim`` positions are numbers; (FID, IID) pairs are unique; the ``.bed``
    starts with the SNP-major magic bytes and has exactly
    ``3 + n_snps · ceil(n_samples / 4)`` bytes.
    """
    prefix = Path(prefix)
    if prefix.suffix in (".bed", ".bim", ".fam"):
        prefix = prefix.with_suffix("")
    paths = {ext: _with_suffix(prefix, ext) for ext in (".bed", ".bim", ".fam")}
    for path in paths.values():
        if not path.is_file():
            raise InputError("file not found (PLINK fileset needs .bed, .bim and .fam)", path=path)
    fid, iid = _read_fam(paths[".fam"])
    bim = _read_bim(paths[".bim"])
    _check_bed(paths[".bed"], n_samples=len(iid), n_snps=len(bim["snp"]))
    return PlinkDataset(prefix=prefix, fid=fid, iid=iid, **bim)


def _as_positions(index: np.ndarray | None, size: int, what: str) -> np.ndarray:
    """``None`` (all), a boolean mask or integer positions → int64 positions, order kept."""
    if index is None:
        return np.arange(size, dtype=np.int64)
    index = np.asarray(index)
    if index.dtype == bool:
        if index.shape != (size,):
            raise ValueError(f"{what} mask has shape {index.shape}, expected ({size},)")
        return np.flatnonzero(index).astype(np.int64)
    if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
        raise ValueError(f"{what} must be a boolean mask or a 1-D array of integer positions")
    positions = index.astype(np.int64)
    if positions.size and (positions.min() < 0 or positions.max() >= size):
        raise ValueError(f"{what} has positions outside 0..{size - 1}")
    return positions


def bed_codes(ds: PlinkDataset, sample_index: np.ndarray | None = None) -> BedCodes:
    """The ``.bed`` call codes of ``ds`` for the samples ``sample_index`` (``None``, a boolean
    mask or positions; the order given is kept): :class:`exactlmm.io.bed.BedCodes`."""
    samples = _as_positions(sample_index, ds.n_samples, "sample_index")
    return BedCodes(ds.bed_path, ds.n_samples, ds.n_snps, samples)


#: Bytes of one n × m float64 block that :func:`auto_block_size` aims at: below glibc's
#: largest mmap threshold (32 MiB), so a block's arrays come from the heap and are reused, not
#: mapped and page-faulted afresh for every block (measured: a third of the run at n = 1410).
BLOCK_BYTES = 24 << 20


def auto_block_size(n_samples: int) -> int:
    """SNPs per block for n samples: BLOCK_BYTES / (8n), between 1024 and 8192 (large enough
    for efficient GEMMs and rank-k updates, small enough to stay in the heap)."""
    return int(np.clip(BLOCK_BYTES // (8 * max(n_samples, 1)), 1024, 8192))


def iter_code_blocks(
    codes: BedCodes, snp_index: np.ndarray, block_size: int | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(snp_positions, codes)`` for ``block_size`` SNPs of ``snp_index`` at a time (``None``:
    :func:`auto_block_size`): the codes of the selected samples, an m × n ``uint8`` array
    (:mod:`exactlmm.io.bed`)."""
    if block_size is None:
        block_size = auto_block_size(codes.n_samples)
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    for start in range(0, snp_index.size, block_size):
        block = snp_index[start : start + block_size]
        yield block, codes.codes(block)


def iter_genotype_blocks(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    snp_index: np.ndarray | None = None,
    block_size: int | None = 4096,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream dosages, ``block_size`` SNPs at a time (``None``: :func:`auto_block_size`).

    Yields ``(snp_positions, G)``: ``snp_positions`` are int64 positions in ``.bim`` order of
    the SNPs in this block, and ``G`` is a float64 Fortran-ordered array of shape
    ``(n_selected_samples, len(snp_positions))`` holding the number of copies of ``a1``
    (0, 1, 2) or NaN for a missing call.  ``sample_index`` / ``snp_index`` are ``None``
    (all), a boolean mask, or integer positions (the order given is the order returned).

    The ``.bed`` file is memory-mapped (:class:`exactlmm.io.bed.BedCodes`), so memory is
    bounded by one block.
    """
    if block_size is not None and block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    codes = bed_codes(ds, sample_index)
    snps = _as_positions(snp_index, ds.n_snps, "snp_index")
    for block, block_codes in iter_code_blocks(codes, snps, block_size):
        yield block, np.take(CODE_DOSAGE, block_codes).T


def read_genotypes(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    snp_index: np.ndarray | None = None,
) -> np.ndarray:
    """All selected dosages at once (n_selected_samples × n_selected_snps); small data only."""
    samples = _as_positions(sample_index, ds.n_samples, "sample_index")
    snps = _as_positions(snp_index, ds.n_snps, "snp_index")
    if snps.size == 0:
        return np.empty((samples.size, 0), dtype=np.float64, order="F")
    return np.take(CODE_DOSAGE, bed_codes(ds, samples).codes(snps)).T
