"""PLINK 1 binary filesets (.bed/.bim/.fam): checked opening and streamed dosage blocks.

Genotype coding.  A ``.bed`` file stores, per SNP, one 2-bit code per sample (SNP-major
mode, magic bytes ``6c 1b 01``): ``00`` homozygous for the first ``.bim`` allele (column 5,
``a1``), ``10`` heterozygous, ``11`` homozygous for the second allele (``a2``), ``01``
missing.  We read it with ``bed_reader`` and ``count_A1=True``, so a dosage is the number of
copies of ``a1``: 2, 1, 0, or NaN when missing.  GEMMA's ``PlinkKin``/``ReadFile_bed`` use the
same coding (``00`` → 2.0), and so does FaST-LMM (it reads through bed-reader/pysnptools with
``count_A1=True``).

The ``.bim`` and ``.fam`` files are parsed here (whitespace separated) so that every
malformed line gives our own one-line :class:`~exactlmm.errors.InputError` with the line
number; bed-reader is only used for the genotype bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bed_reader import open_bed

from exactlmm.errors import InputError

BED_MAGIC = b"\x6c\x1b\x01"
"""First three bytes of a SNP-major PLINK 1 ``.bed`` file."""

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


def _with_suffix(prefix: Path, suffix: str) -> Path:
    # Not Path.with_suffix: a prefix such as "data.v2" must become "data.v2.bed".
    return prefix.with_name(prefix.name + suffix)


def _split_lines(path: Path) -> list[tuple[int, list[str]]]:
    """Whitespace-split the non-blank lines of a text file, with 1-based line numbers."""
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise InputError(f"not a text file ({err.reason} at byte {err.start})", path=path) from None
    return [(i, fields) for i, line in enumerate(text.splitlines(), 1) if (fields := line.split())]


def read_fam_fields(path: str | os.PathLike[str]) -> list[tuple[int, list[str]]]:
    """Fields of every non-blank ``.fam`` line, with line numbers, checked for shape.

    Every line needs at least 6 fields (FID IID father mother sex phenotype) and all lines
    the same number of fields (GEMMA's example ``.fam`` files carry extra phenotype columns).
    """
    path = Path(path)
    rows = _split_lines(path)
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
    seen: dict[tuple[str, str], int] = {}
    for (lineno, fields) in rows:
        key = (fields[0], fields[1])
        if key in seen:
            raise InputError(
                f"line {lineno}: sample FID={key[0]} IID={key[1]} appears again "
                f"(first on line {seen[key]}); sample IDs must be unique",
                path=path,
            )
        seen[key] = lineno
    return fid, iid


def _read_bim(path: Path) -> dict[str, np.ndarray]:
    rows = _split_lines(path)
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


def iter_genotype_blocks(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    snp_index: np.ndarray | None = None,
    block_size: int = 4096,
    *,
    num_threads: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream dosages, ``block_size`` SNPs at a time.

    Yields ``(snp_positions, G)``: ``snp_positions`` are int64 positions in ``.bim`` order of
    the SNPs in this block, and ``G`` is a float64 Fortran-ordered array of shape
    ``(n_selected_samples, len(snp_positions))`` holding the number of copies of ``a1``
    (0, 1, 2) or NaN for a missing call.  ``sample_index`` / ``snp_index`` are ``None``
    (all), a boolean mask, or integer positions (the order given is the order returned).

    One ``open_bed`` handle is kept for the whole iteration and closed at its end (or when the
    generator is closed), so memory is bounded by one block.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    samples = _as_positions(sample_index, ds.n_samples, "sample_index")
    snps = _as_positions(snp_index, ds.n_snps, "snp_index")
    all_samples = samples.size == ds.n_samples and bool(np.all(samples == np.arange(samples.size)))
    rows = np.s_[:] if all_samples else samples
    with open_bed(
        ds.bed_path,
        iid_count=ds.n_samples,
        sid_count=ds.n_snps,
        count_A1=True,
        num_threads=num_threads,
    ) as bed:
        for start in range(0, snps.size, block_size):
            block = snps[start : start + block_size]
            genotypes = bed.read(index=np.s_[rows, block], dtype="float64", order="F")
            yield block, genotypes


def read_genotypes(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    snp_index: np.ndarray | None = None,
) -> np.ndarray:
    """All selected dosages at once (n_selected_samples × n_selected_snps); small data only."""
    samples = _as_positions(sample_index, ds.n_samples, "sample_index")
    snps = _as_positions(snp_index, ds.n_snps, "snp_index")
    out = np.empty((samples.size, snps.size), dtype=np.float64, order="F")
    offset = 0
    for block, genotypes in iter_genotype_blocks(ds, samples, snps, block_size=max(snps.size, 1)):
        out[:, offset : offset + block.size] = genotypes
        offset += block.size
    return out
