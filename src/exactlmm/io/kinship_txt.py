"""Plain-text kinship matrices: N × N, one row per line, samples in ``.fam`` order, no header.

This is the format GEMMA writes with ``-gk`` (``output/PREFIX.cXX.txt``, tab separated, 10
significant digits) and reads with ``-k``, and the one PyLMM reads (``--kfile``, whitespace
separated).  We write tab-separated ``%.17g`` values, which read back to the identical
float64 matrix, so writing is byte-reproducible and the round trip is exact.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from exactlmm.errors import InputError
from exactlmm.io.atomic import atomic_write
from exactlmm.io.text import read_text
from exactlmm.symmetric import max_abs, max_asymmetry, symmetrize

SYMMETRY_RTOL = 1e-6
"""A matrix is symmetric when max|K − Kᵀ| ≤ SYMMETRY_RTOL · max|K|."""

PSD_RTOL = 1e-6
"""A matrix is positive semi-definite when λ_min ≥ −PSD_RTOL · λ_max."""


def write_kinship(path: str | os.PathLike[str], K: np.ndarray) -> None:
    """Write the square matrix ``K`` atomically: tab separated, ``%.17g``, ``\\n`` line ends."""
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"kinship must be a non-empty square matrix, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError("kinship has non-finite entries")
    row_format = "\t".join(["%.17g"] * K.shape[1]) + "\n"
    with atomic_write(path, "w") as handle:
        for row in K.tolist():
            handle.write(row_format % tuple(row))


def read_kinship(path: str | os.PathLike[str], n_expected: int | None = None) -> np.ndarray:
    """Read an N × N kinship text file; return it exactly symmetrised, (K + Kᵀ)/2.

    Errors (``InputError`` naming the file): empty file; number of rows ≠ ``n_expected``
    (the number of ``.fam`` samples); a row with a number of values ≠ the number of rows; a
    value that is not a number or not finite; max|K − Kᵀ| > 1e-6 · max|K|.

    A plain ASCII file of equally long lines is parsed by numpy in slabs of lines straight into
    the matrix (memory: K plus one slab); anything else by ``numpy.loadtxt``, whose failure is
    diagnosed line by line.
    """
    path = Path(path)
    try:
        K = _read_regular(path)
    except FileNotFoundError:
        raise InputError("kinship file not found", path=path) from None
    if K is None:
        K = _read_any(path)
    n = K.shape[0]
    if n_expected is not None and n != n_expected:
        raise InputError(
            f"has {n} rows, .fam has {n_expected} samples (the kinship must be N x N in "
            ".fam order)",
            path=path,
        )
    if K.shape[1] != n:
        raise InputError(
            f"{K.shape[1]} values per line, but the file has {n} rows "
            "(the kinship must be square)",
            path=path,
        )
    check_entries(K, path)
    return symmetrize(K)


def check_entries(K: np.ndarray, path: object) -> None:
    """Every entry finite and max|K − Kᵀ| ≤ :data:`SYMMETRY_RTOL` · max|K|, else an
    ``InputError`` naming the first offending entry (rows and columns numbered from 1)."""
    for i0 in range(0, K.shape[0], 1024):
        finite = np.isfinite(K[i0 : i0 + 1024])
        if not finite.all():
            r, c = np.argwhere(~finite)[0]
            r += i0
            raise InputError(
                f"row {r + 1}, column {c + 1}: {K[r, c]!r} is not a finite number", path=path
            )
    asymmetry, (r, c) = max_asymmetry(K)
    if asymmetry > SYMMETRY_RTOL * max_abs(K):
        raise InputError(
            f"kinship is not symmetric: K[{r + 1},{c + 1}] = {K[r, c]!r} but "
            f"K[{c + 1},{r + 1}] = {K[c, r]!r} (rows and columns numbered from 1)",
            path=path,
        )


#: The bytes of a plain ASCII line of numbers (printable ASCII and the whitespace numpy and
#: ``str.split`` agree on); a line with any other byte goes to :func:`_read_any`.
_PLAIN = bytes(range(0x21, 0x7F)) + b"\t\n\r "


def _read_regular(path: Path) -> np.ndarray | None:
    """The matrix of a file of plain ASCII lines that each hold N numbers, N lines of them
    (blank lines skipped), parsed line by line (numpy's C parser) into the N × N matrix; ``None``
    for any other file (nothing is reported: :func:`_read_any` does that)."""
    K = None
    row = 0
    with open(path, "rb") as handle:
        for line in handle:
            if line.translate(None, _PLAIN) or b"\r" in line[:-2]:
                return None
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    values = np.fromstring(line, dtype=np.float64, sep=" ")
                except (DeprecationWarning, ValueError):
                    return None
            if values.size == 0:
                if line.strip():
                    return None
                continue
            if K is None:
                K = np.empty((values.size, values.size))
            if values.size != K.shape[1] or row == K.shape[0]:
                return None
            K[row] = values
            row += 1
    if K is None:
        raise InputError("the kinship file is empty", path=path)
    return K if row == K.shape[0] else None


def _read_any(path: Path) -> np.ndarray:
    """Any text ``numpy.loadtxt`` reads (blank lines skipped, '#' not special); a file it
    cannot read gets an ``InputError`` naming the line."""
    text = read_text(path, "kinship file")
    if not text.strip():
        raise InputError("the kinship file is empty", path=path)
    try:
        return np.loadtxt(io.StringIO(text), dtype=np.float64, comments=None, ndmin=2)
    except ValueError as err:
        _diagnose(text, path)  # raises an InputError naming the line
        message = " ".join(str(err).split())  # pragma: no cover - numpy rejects what Python reads
        raise InputError(f"cannot be read as a matrix of numbers: {message}", path=path) from None


def _diagnose(text: str, path: Path) -> None:
    """Raise an ``InputError`` for the first ragged line or non-number in a kinship text."""
    rows = [(i, f) for i, line in enumerate(text.splitlines(), 1) if (f := line.split())]
    width = len(rows[0][1])
    for lineno, fields in rows:
        if len(fields) != width:
            raise InputError(
                f"line {lineno}: {len(fields)} values, but line {rows[0][0]} has {width}",
                path=path,
            )
        for c, token in enumerate(fields):
            try:
                float(token)
            except ValueError:
                raise InputError(
                    f"line {lineno}, column {c + 1}: '{token}' is not a number", path=path
                ) from None


def check_kinship(K: np.ndarray, path: str | os.PathLike[str] | None = None) -> np.ndarray:
    """Check that a symmetric ``K`` can be a covariance matrix; return its eigenvalues.

    ``K`` must not be all zero and must be positive semi-definite up to rounding:
    λ_min ≥ −1e-6 · λ_max, with the eigenvalues (ascending) from ``scipy.linalg.eigvalsh``.
    This costs O(n³); ``read_kinship`` does not call it.
    """
    from scipy.linalg import eigvalsh

    K = np.asarray(K, dtype=np.float64)
    if not np.any(K):
        raise InputError("kinship is singular: all entries are zero", path=path)
    eigenvalues = eigvalsh(K)
    smallest, largest = eigenvalues[0], eigenvalues[-1]
    if largest <= 0 or smallest < -PSD_RTOL * largest:
        raise InputError(
            f"kinship is not positive semi-definite (smallest eigenvalue {smallest:.6g}, "
            f"largest {largest:.6g})",
            path=path,
        )
    return eigenvalues
