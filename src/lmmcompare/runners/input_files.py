"""The input files command-line tools read, written from our inputs in the layouts they share.

Every tool gets the same samples, phenotype, covariates and SNPs (``_common.load``); these
writers give them the file layouts the tools read: our genotypes linked under a name of the
tool's working directory, a ``.fam`` with our phenotype (or none), sample and SNP lists, and
``FID IID`` tables of values (numbers with ``repr``: exact doubles).  A tool's own layouts (a
transposed PLINK file, renamed samples) stay in its runner.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exactlmm.io.atomic import atomic_write
from exactlmm.io.bed import BED_MAGIC, row_bytes
from exactlmm.io.plink import PlinkDataset, bed_codes, iter_code_blocks, read_fam_fields
from exactlmm.pipeline import AnalysisInputs


def link_genotypes(inputs: AnalysisInputs, directory: Path, name: str = "data",
                   extensions: Sequence[str] = ("bed", "bim")) -> None:
    """Symbolic links ``directory/NAME.bed`` (and ``.bim``) to our fileset."""
    for ext in extensions:
        target = Path(getattr(inputs.dataset, f"{ext}_path")).resolve()
        (directory / f"{name}.{ext}").symlink_to(target)


def fam_text(inputs: AnalysisInputs, *, phenotype: bool, integer_sex: bool = False) -> str:
    """Our ``.fam`` (its first four fields as read by ``exactlmm.io.plink.read_fam_fields``)
    with field 6 our phenotype for an analysed sample and ``NA`` for the others
    (``phenotype``), or −9 for every sample; field 5 as it is, or 0 where it is not an integer
    (``integer_sex``: BOLT-LMM 2.4 aborts on another)."""
    ds = inputs.dataset
    values = np.full(ds.n_samples, "NA" if phenotype else "-9", dtype=object)
    if phenotype:
        values[inputs.samples.fam_index] = [repr(float(v)) for v in inputs.y]
    lines = []
    for (_, fields), value in zip(read_fam_fields(ds.fam_path), values, strict=True):
        sex = fields[4]
        if integer_sex and not re.fullmatch(r"[+-]?\d+", sex):
            sex = "0"
        lines.append(" ".join([*fields[:4], sex, value]))
    return "\n".join(lines) + "\n"


def sample_list(fid: Sequence[str], iid: Sequence[str]) -> str:
    """``FID IID`` lines (PLINK ``--keep``/``--remove``)."""
    return "".join(f"{f} {i}\n" for f, i in zip(fid, iid, strict=True))


def id_list(ids: Sequence[str] | np.ndarray) -> str:
    """One ID a line (SNP lists: PLINK ``--extract``, GEMMA ``-snps``)."""
    return "".join(f"{x}\n" for x in np.asarray(ids).tolist())


def sample_table(fid: Sequence[str], iid: Sequence[str], values: np.ndarray,
                 header: Sequence[str] | None = None) -> str:
    """``FID IID v1 …`` lines, one per sample (values with ``repr``: exact doubles), after an
    optional header line: the phenotype and covariate files the tools read."""
    rows = np.asarray(values, dtype=np.float64).reshape(len(fid), -1).tolist()
    lines = [] if header is None else [" ".join(header)]
    lines += [" ".join([f, i, *map(repr, row)]) for f, i, row in zip(fid, iid, rows, strict=True)]
    return "\n".join(lines) + "\n"


def bed_rows(codes: np.ndarray) -> bytes:
    """SNP-major ``.bed`` rows (after the magic bytes) of an m × n array of 2-bit call codes
    (``exactlmm.io.bed``: 0 two copies of a1, 1 missing, 2 one copy, 3 none): four samples a
    byte, the first in the lowest bits, the last byte padded with 0."""
    m, n = codes.shape
    padded = np.zeros((m, 4 * row_bytes(n)), dtype=np.uint8)
    padded[:, :n] = codes
    quads = padded.reshape(m, -1, 4)
    return (quads[..., 0] | (quads[..., 1] << 2) | (quads[..., 2] << 4)
            | (quads[..., 3] << 6)).astype(np.uint8).tobytes()


def write_plink_subset(ds: PlinkDataset, sample_index: np.ndarray, snp_positions: np.ndarray,
                       prefix: str | Path, fam_lines: Sequence[str]) -> None:
    """``PREFIX.bed/.bim/.fam`` of the samples ``sample_index`` and the SNPs ``snp_positions``
    (positions into ``ds``, the order given kept): every call copied code for code (no
    decoding, so the genotypes are exactly ours), the ``.bim`` lines of those SNPs, and
    ``fam_lines`` (one per sample, without line ends) as the ``.fam``.  Each file atomically."""
    positions = np.asarray(snp_positions, dtype=np.int64)
    if len(fam_lines) != len(sample_index):
        raise ValueError("one .fam line per sample")
    prefix = Path(prefix)
    rows = zip(ds.chrom[positions].tolist(), ds.snp[positions].tolist(),
               ds.cm[positions].tolist(), ds.pos[positions].tolist(), ds.a1[positions].tolist(),
               ds.a2[positions].tolist(), strict=True)
    with atomic_write(prefix.with_name(prefix.name + ".bim"), "w") as bim:
        bim.writelines(f"{c}\t{s}\t{m!r}\t{p}\t{a}\t{b}\n" for c, s, m, p, a, b in rows)
    with atomic_write(prefix.with_name(prefix.name + ".fam"), "w") as fam:
        fam.writelines(f"{line}\n" for line in fam_lines)
    codes = bed_codes(ds, np.asarray(sample_index, dtype=np.int64))
    with atomic_write(prefix.with_name(prefix.name + ".bed"), "wb") as bed:
        bed.write(BED_MAGIC)
        for _, block in iter_code_blocks(codes, positions, None):
            bed.write(bed_rows(block))
