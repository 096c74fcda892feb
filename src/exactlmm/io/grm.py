"""GCTA's binary kinship (GRM) format: ``PREFIX.grm.bin``, ``PREFIX.grm.N.bin``, ``PREFIX.grm.id``.

``PREFIX.grm.bin`` holds the lower triangle of the N × N matrix, diagonal included, row by row
(K₁₁, K₂₁, K₂₂, K₃₁, …), as little-endian float32; ``PREFIX.grm.N.bin`` the number of SNPs
behind each entry in the same layout (float32); ``PREFIX.grm.id`` one ``FID IID`` line per
sample, tab separated, in the matrix's order.  This is what GCTA (``--make-grm``), PLINK 2
(``--make-grm-bin``), BOLT-LMM and LDAK read and write.  float32 keeps ~7 significant digits:
enough for a kinship (it is an estimate), and reading it back costs a tenth of parsing text.
The plain-text format of GEMMA and PyLMM (:mod:`exactlmm.io.kinship_txt`) stays the lossless,
interoperable one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from exactlmm.errors import InputError
from exactlmm.io.atomic import atomic_write, write_text_atomic
from exactlmm.io.text import check_unique_samples, split_lines
from exactlmm.symmetric import fill_lower

SUFFIX = ".grm.bin"
_FLOAT32 = np.dtype("<f4")


def grm_prefix(path: str | os.PathLike[str]) -> Path:
    """``PREFIX`` of a ``PREFIX.grm.bin`` path."""
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise ValueError(f"{path} does not end in {SUFFIX}")
    return path.with_name(path.name[: -len(SUFFIX)])


def is_grm(path: str | os.PathLike[str]) -> bool:
    """Whether a kinship path names a GCTA binary GRM (``….grm.bin``)."""
    return str(path).endswith(SUFFIX)


def _paths(prefix: Path) -> tuple[Path, Path, Path]:
    name = prefix.name
    return (prefix.with_name(f"{name}.grm.bin"), prefix.with_name(f"{name}.grm.N.bin"),
            prefix.with_name(f"{name}.grm.id"))


def read_grm_ids(path: str | os.PathLike[str]) -> np.ndarray:
    """The (FID, IID) pairs of ``PREFIX.grm.id`` beside ``PREFIX.grm.bin``: an n × 2 str array."""
    _, _, id_path = _paths(grm_prefix(path))
    rows = split_lines(id_path, "GRM sample file")
    bad = next((lineno for lineno, fields in rows if len(fields) < 2), None)
    if bad is not None:
        raise InputError(f"line {bad}: expected FID IID", path=id_path)
    if not rows:
        raise InputError("the GRM sample file is empty", path=id_path)
    check_unique_samples(rows, id_path)
    return np.array([fields[:2] for _, fields in rows], dtype=str)


def read_grm(path: str | os.PathLike[str], n_expected: int | None = None) -> np.ndarray:
    """The N × N matrix (float64, exactly symmetric) of ``PREFIX.grm.bin``, N from its size.

    Errors (``InputError`` naming the file): a size that is not N(N+1)/2 float32 values, N ≠
    ``n_expected`` (the ``.grm.id`` lines), a non-finite entry.  Memory: the matrix and the
    file's triangle (a quarter of the matrix).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError("kinship file not found", path=path) from None
    values = size // _FLOAT32.itemsize
    n = int((np.sqrt(8 * values + 1) - 1) // 2)
    if size % _FLOAT32.itemsize or n * (n + 1) // 2 != values or n == 0:
        raise InputError(f"{size} bytes are not the float32 lower triangle of a square matrix "
                         "(GCTA's .grm.bin: N(N+1)/2 values)", path=path)
    if n_expected is not None and n != n_expected:
        raise InputError(f"holds a {n} x {n} matrix, but the .grm.id file lists {n_expected} "
                         "samples", path=path)
    triangle = np.fromfile(path, dtype=_FLOAT32)
    if not np.all(np.isfinite(triangle)):
        raise InputError("the GRM holds non-finite values", path=path)
    k = np.empty((n, n), order="F")
    for i in range(n):  # row i of the lower triangle is column i of the upper one
        start = i * (i + 1) // 2
        k[: i + 1, i] = triangle[start : start + i + 1]
    del triangle
    return fill_lower(k)


def write_grm(
    prefix: str | os.PathLike[str],
    k: np.ndarray,
    fid: np.ndarray,
    iid: np.ndarray,
    n_snps: int,
) -> Path:
    """Write ``PREFIX.grm.bin``, ``PREFIX.grm.N.bin`` (every entry ``n_snps``) and
    ``PREFIX.grm.id`` atomically; return the ``.grm.bin`` path."""
    k = np.asarray(k, dtype=np.float64)
    n = k.shape[0]
    if k.shape != (n, n) or n == 0 or len(fid) != n or len(iid) != n:
        raise ValueError(f"a GRM needs a square matrix and one ID per row, got {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("kinship has non-finite entries")
    bin_path, n_path, id_path = _paths(Path(prefix))
    with atomic_write(bin_path, "wb") as handle:
        for i in range(n):
            handle.write(k[i, : i + 1].astype(_FLOAT32).tobytes())
    row = np.full(n, float(n_snps), dtype=_FLOAT32)
    with atomic_write(n_path, "wb") as handle:
        for i in range(n):
            handle.write(row[: i + 1].tobytes())
    write_text_atomic(id_path, "".join(f"{f}\t{i}\n" for f, i in zip(fid, iid, strict=True)))
    return bin_path
