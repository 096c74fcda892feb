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

from exactlmm.io.plink import read_fam_fields
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
