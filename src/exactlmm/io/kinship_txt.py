"""Plain-text kinship matrices: N × N, one row per line, samples in ``.fam`` order, no header.

This is the format GEMMA writes with ``-gk`` (``output/PREFIX.cXX.txt``, tab separated, 10
significant digits) and reads with ``-k``, and the one PyLMM reads (``--kfile``, whitespace
separated).  We write tab-separated ``%.17g`` values, which read back to the identical
float64 matrix, so writing is byte-reproducible and the round trip is exact.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from scipy.linalg import eigvalsh

from exactlmm.errors import InputError
from exactlmm.io.atomic import atomic_write

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
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError("kinship file not found", path=path) from None
    except UnicodeDecodeError as err:
        raise InputError(f"not a text file ({err.reason} at byte {err.start})", path=path) from None
    if not text.strip():
        raise InputError("the kinship file is empty", path=path)
    try:
        # numpy >= 1.23 parses in C; blank lines are skipped, '#' is not special.
        K = np.loadtxt(io.StringIO(text), dtype=np.float64, comments=None, ndmin=2)
    except ValueError as err:
        _diagnose(text, path)  # raises an InputError naming the line
        message = " ".join(str(err).split())  # pragma: no cover - numpy rejects what Python reads
        raise InputError(f"cannot be read as a matrix of numbers: {message}", path=path) from None
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
    finite = np.isfinite(K)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        raise InputError(
            f"row {r + 1}, column {c + 1}: {K[r, c]!r} is not a finite number", path=path
        )
    asymmetry = np.abs(K - K.T)
    scale = np.abs(K).max()
    if asymmetry.max() > SYMMETRY_RTOL * scale:
        r, c = np.unravel_index(np.argmax(asymmetry), asymmetry.shape)
        raise InputError(
            f"kinship is not symmetric: K[{r + 1},{c + 1}] = {K[r, c]!r} but "
            f"K[{c + 1},{r + 1}] = {K[c, r]!r} (rows and columns numbered from 1)",
            path=path,
        )
    return (K + K.T) / 2


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
