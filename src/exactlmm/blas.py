"""The five in-place operations of the package, on numpy's own BLAS/LAPACK.

* :func:`syrk`:  C ← αAAᵀ + βC (upper triangle), the kinship's accumulation (and :func:`gram`,
  AAᵀ whole, where numpy's own ``a @ a.T`` would reach the ``dsyrk`` of :data:`SYRK_TILE`);
* :func:`syr2k`: C ← α(ABᵀ + BAᵀ) + βC (upper triangle), the projection of the covariates;
* :func:`trsm_lower`: B ← L⁻¹B (or L⁻ᵀB) for a lower-triangular L, the capacitance solves of
  the leave-one-chromosome-out downdate (:mod:`exactlmm.downdate`);
* :func:`syevd`: eigenvalues and eigenvectors of a symmetric matrix from its upper triangle,
  the vectors overwriting it (LAPACK ``dsyevd``; its workspace is 2n² doubles);
* :func:`gesdd`: the thin SVD of a tall n × k matrix, its left singular vectors overwriting it
  (LAPACK ``dgesdd`` with ``JOBZ = 'O'``; Vᵀ and its workspace are about 6k² doubles), where
  ``numpy.linalg.svd`` holds four n × k arrays at once (its input, its copy, U and U's copy).

numpy does every other product of the package (``matmul``), so these go to the same library,
through its C interfaces (CBLAS, LAPACKE) with ``ctypes``: numpy's wheels carry OpenBLAS but
expose no in-place symmetric routines, and SciPy's wheels carry a second OpenBLAS whose thread
pool would then compete with numpy's for the cores (measured on a loaded 2-core machine: SciPy's
``dsyevd`` of n = 1410 took 3.6–12.5 s, numpy's ``eigh`` 0.55 s).  When numpy's library or a
symbol cannot be found (another platform or build), SciPy's ``scipy.linalg.blas``/``lapack``
wrappers do the same operations.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from functools import cache

import numpy as np

_COL_MAJOR = 102  # CBLAS / LAPACKE: column-major (Fortran) storage
_UPPER = 121
_NO_TRANS = 111
_TRANS = 112
_RIGHT = 142
_NON_UNIT = 131


class _Library:
    """numpy's BLAS: the CBLAS and LAPACKE entry points and their integer type."""

    def __init__(self, handle: ctypes.CDLL, suffix: str, integer: type) -> None:
        self.integer = integer
        self.dsyrk = getattr(handle, f"cblas_dsyrk{suffix}")
        self.dsyr2k = getattr(handle, f"cblas_dsyr2k{suffix}")
        self.dgemm = getattr(handle, f"cblas_dgemm{suffix}")
        self.dsyevd = getattr(handle, f"LAPACKE_dsyevd{suffix}")
        self.dsyevd.restype = integer
        self.dgesdd = getattr(handle, f"LAPACKE_dgesdd{suffix}")
        self.dgesdd.restype = integer
        try:  # optional: without it trsm_lower uses SciPy's
            self.dtrsm = getattr(handle, f"cblas_dtrsm{suffix}")
        except AttributeError:
            self.dtrsm = None


def _numpy_blas_paths() -> list[str]:
    """Shared libraries with "blas" in their name that numpy's own folders hold and this
    process has loaded (Linux: from /proc/self/maps)."""
    roots = {os.path.dirname(os.path.dirname(np.__file__))}
    try:
        with open("/proc/self/maps") as maps:
            loaded = {line.split()[-1] for line in maps if "blas" in line.lower()}
    except OSError:
        return []
    numpy_dir = os.path.dirname(np.__file__)
    return sorted(path for path in loaded
                  if path.startswith(numpy_dir) or any(
                      path.startswith(os.path.join(root, name)) for root in roots
                      for name in ("numpy.libs", "scipy_openblas64", "scipy_openblas32")))


@cache
def _library() -> _Library | None:
    """numpy's BLAS, or ``None`` when it cannot be called directly here."""
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # make sure numpy's BLAS is loaded
    for path in _numpy_blas_paths():
        try:
            handle = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix, integer in (("64_", ctypes.c_int64), ("", ctypes.c_int32)):
            for prefix in ("", "scipy_"):
                try:
                    library = _Library(_Prefixed(handle, prefix), suffix, integer)
                except AttributeError:
                    continue
                if _works(library):
                    return library
    return None


class _Prefixed:
    """Attribute access to ``handle`` with a symbol prefix (numpy 2's ``scipy_`` names)."""

    def __init__(self, handle: ctypes.CDLL, prefix: str) -> None:
        self.handle, self.prefix = handle, prefix

    def __getattr__(self, name: str) -> Callable:
        return getattr(self.handle, self.prefix + name)


def _works(library: _Library) -> bool:
    """A 2 × 2 check of the three calls against their definitions."""
    try:
        c = np.zeros((2, 2), order="F")
        a = np.asfortranarray([[1.0, 2.0], [3.0, 4.0]])
        _syrk_with(library, 1.0, a, 0.0, c)
        if not np.allclose(np.triu(c), np.triu(a @ a.T)):
            return False
        _syr2k_with(library, 1.0, a, a, 0.0, c)
        if not np.allclose(np.triu(c), np.triu(2 * a @ a.T)):
            return False
        s = np.asfortranarray([[2.0, 1.0], [1.0, 2.0]])
        w = _syevd_with(library, s)
        if not (np.allclose(w, [1.0, 3.0]) and np.allclose(abs(s[0, 0]), 2**-0.5)):
            return False
        t = np.asfortranarray([[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]])
        sv, _ = _gesdd_with(library, t)
        if not (np.allclose(sv, [4.0, 3.0]) and np.allclose(abs(t[1, 0]), 1.0)):
            return False
        if library.dtrsm is not None:
            lower = np.array([[2.0, 0.0], [1.0, 4.0]])
            rhs = np.array([[2.0, 4.0, 6.0], [9.0, 6.0, 3.0]])
            _trsm_with(library, lower, rhs, False)
            if not np.allclose(rhs, [[1.0, 2.0, 3.0], [2.0, 1.0, 0.0]]):
                library.dtrsm = None
            else:
                _trsm_with(library, lower, rhs, True)
                if not np.allclose(rhs, [[0.25, 0.875, 1.5], [0.5, 0.25, 0.0]]):
                    library.dtrsm = None
        return True
    except Exception:  # any failure means: do not use this library
        return False


def _pointer(array: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(array.ctypes.data)


def _check_out(c: np.ndarray) -> None:
    if c.dtype != np.float64 or not c.flags.f_contiguous or not c.flags.writeable:
        raise ValueError("the matrix must be a writeable Fortran-ordered float64 array")


#: The largest order of one ``dsyrk`` call; a larger C is done in tiles of this order.
#: OpenBLAS 0.3.23 (numpy 1.26's wheels) crashes in its threaded ``dsyrk`` with its AVX-512
#: kernels (SkylakeX, Cooperlake) from an order of about 15,000 (measured on 2 cores: n = 14,000
#: and k = 4,096 fine; n = 16,000 and k = 4,096, n = 20,000 and k = 512 segfault; one thread,
#: or the Haswell or Zen kernels, fine); ``dgemm`` and ``dsyr2k`` of those sizes are fine.
SYRK_TILE = 8192


def _syrk_with(library: _Library, alpha: float, a: np.ndarray, beta: float, c: np.ndarray
               ) -> None:
    """C ← αAAᵀ + βC on C's upper triangle: one ``dsyrk`` up to :data:`SYRK_TILE`, else in
    tiles — ``dsyrk`` on each diagonal tile C[I, I] and ``dgemm`` on each tile C[I, J], I < J,
    above it (the same multiply-adds: half of AAᵀ)."""
    n, k = a.shape
    integer = library.integer
    lda, ldc = max(a.strides[1] // 8, 1), n
    row, col = a.strides[0], 8 * ldc  # bytes: one row of A or C, one column of C

    def at(array: np.ndarray, offset: int) -> ctypes.c_void_p:
        return ctypes.c_void_p(array.ctypes.data + offset)

    starts = range(0, n, SYRK_TILE)
    for i in starts:
        rows = min(SYRK_TILE, n - i)
        library.dsyrk(_COL_MAJOR, _UPPER, _NO_TRANS, integer(rows), integer(k),
                      ctypes.c_double(alpha), at(a, i * row), integer(lda),
                      ctypes.c_double(beta), at(c, i * 8 + i * col), integer(ldc))
        for j in starts[i // SYRK_TILE + 1:]:
            cols = min(SYRK_TILE, n - j)
            library.dgemm(_COL_MAJOR, _NO_TRANS, _TRANS, integer(rows), integer(cols),
                          integer(k), ctypes.c_double(alpha), at(a, i * row), integer(lda),
                          at(a, j * row), integer(lda), ctypes.c_double(beta),
                          at(c, i * 8 + j * col), integer(ldc))


def _syr2k_with(library: _Library, alpha: float, a: np.ndarray, b: np.ndarray, beta: float,
                c: np.ndarray) -> None:
    n, k = a.shape
    integer = library.integer
    library.dsyr2k(_COL_MAJOR, _UPPER, _NO_TRANS, integer(n), integer(k),
                   ctypes.c_double(alpha), _pointer(a), integer(n), _pointer(b), integer(n),
                   ctypes.c_double(beta), _pointer(c), integer(n))


def _syevd_with(library: _Library, a: np.ndarray) -> np.ndarray:
    n = a.shape[0]
    w = np.empty(n)
    integer = library.integer
    info = library.dsyevd(_COL_MAJOR, ctypes.c_char(b"V"), ctypes.c_char(b"U"), integer(n),
                          _pointer(a), integer(n), _pointer(w))
    if info != 0:
        raise np.linalg.LinAlgError(f"LAPACK dsyevd failed (info {info})")
    return w


def _gesdd_with(library: _Library, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, k = a.shape
    sv, vt = np.empty(k), np.empty((k, k), order="F")
    integer = library.integer
    u_unused = np.empty(1)
    info = library.dgesdd(_COL_MAJOR, ctypes.c_char(b"O"), integer(n), integer(k), _pointer(a),
                          integer(n), _pointer(sv), _pointer(u_unused), integer(1),
                          _pointer(vt), integer(k))
    if info != 0:
        raise np.linalg.LinAlgError(f"LAPACK dgesdd failed (info {info})")
    return sv, vt


def _trsm_with(library: _Library, lower: np.ndarray, b: np.ndarray, transpose: bool) -> None:
    """B ← L⁻¹B (or L⁻ᵀB) for C-ordered L (r × r) and B (r × k).  Column-major, the arrays are
    Lᵀ (upper triangular) and Bᵀ, and Bᵀ ← Bᵀ(Lᵀ)⁻¹ (or Bᵀ L⁻¹) is a right-side solve with
    the upper Lᵀ (or its transpose)."""
    r, k = b.shape
    integer = library.integer
    trans = _TRANS if transpose else _NO_TRANS
    library.dtrsm(_COL_MAJOR, _RIGHT, _UPPER, trans, _NON_UNIT, integer(k), integer(r),
                  ctypes.c_double(1.0), _pointer(lower), integer(r), _pointer(b),
                  integer(max(k, 1)))


def _fortran_columns(a: np.ndarray) -> np.ndarray:
    """``a`` itself when its columns are contiguous float64 (any column stride), else a
    Fortran copy."""
    if a.dtype == np.float64 and a.strides[0] == 8 and a.strides[1] >= 8 * a.shape[0]:
        return a
    return np.asfortranarray(a, dtype=np.float64)


def syrk(alpha: float, a: np.ndarray, beta: float, c: np.ndarray) -> np.ndarray:
    """C ← α·A·Aᵀ + β·C on the upper triangle of the n × n Fortran array ``c``, in place
    (A is n × k); returns ``c``."""
    _check_out(c)
    a = _fortran_columns(a)
    library = _library()
    if library is None:
        from scipy.linalg.blas import dsyrk

        out = dsyrk(alpha, a, beta=beta, c=c, trans=0, lower=0, overwrite_c=1)
        if out is not c:
            c[...] = out
        return c
    _syrk_with(library, alpha, a, beta, c)
    return c


def gram(a: np.ndarray) -> np.ndarray:
    """A Aᵀ, both triangles (A is r × k): numpy's product up to :data:`SYRK_TILE` rows — it
    calls ``dsyrk`` itself for A times its own transpose — and :func:`syrk` in tiles above."""
    if a.shape[0] <= SYRK_TILE or _library() is None:
        return a @ a.T
    from .symmetric import fill_lower

    return fill_lower(syrk(1.0, a, 0.0, np.zeros((a.shape[0], a.shape[0]), order="F")))


def syr2k(alpha: float, a: np.ndarray, b: np.ndarray, beta: float, c: np.ndarray
          ) -> np.ndarray:
    """C ← α(ABᵀ + BAᵀ) + βC on the upper triangle of ``c`` in place (A, B: n × k)."""
    _check_out(c)
    a, b = np.asfortranarray(a, dtype=np.float64), np.asfortranarray(b, dtype=np.float64)
    library = _library()
    if library is None:
        from scipy.linalg.blas import dsyr2k

        out = dsyr2k(alpha, a, b, beta=beta, c=c, trans=0, lower=0, overwrite_c=1)
        if out is not c:
            c[...] = out
        return c
    _syr2k_with(library, alpha, a, b, beta, c)
    return c


def trsm_lower(lower: np.ndarray, b: np.ndarray, *, transpose: bool = False) -> np.ndarray:
    """B ← L⁻¹B (``transpose``: L⁻ᵀB) in place, L an r × r lower-triangular matrix (its upper
    triangle is not read) and B a writeable C-ordered float64 r × k array (one right-hand side
    per column); returns ``b``."""
    if b.dtype != np.float64 or not b.flags.c_contiguous or not b.flags.writeable:
        raise ValueError("the right-hand sides must be a writeable C-ordered float64 array")
    r = b.shape[0]
    if lower.shape != (r, r):
        raise ValueError(f"the triangular factor must be {r} × {r}, not {lower.shape}")
    lower = np.ascontiguousarray(lower, dtype=np.float64)
    library = _library()
    if library is None or library.dtrsm is None:
        from scipy.linalg.blas import dtrsm

        # Bᵀ (Fortran-ordered k × r) ← Bᵀ L⁻ᵀ: a right-side solve with Lᵀ.
        out = dtrsm(1.0, lower, b.T, side=1, lower=1, trans_a=0 if transpose else 1,
                    overwrite_b=1)
        if not np.shares_memory(out, b):
            b[...] = out.T
        return b
    _trsm_with(library, lower, b, transpose)
    return b


def syevd(a: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of the symmetric matrix whose upper triangle ``a`` (a
    Fortran-ordered float64 n × n array) holds; the eigenvectors overwrite ``a`` (columns)."""
    _check_out(a)
    library = _library()
    if library is None:
        from scipy.linalg.lapack import dsyevd

        w, v, info = dsyevd(a, compute_v=1, lower=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"LAPACK dsyevd failed (info {info})")
        if v is not a:
            a[...] = v
        return w
    return _syevd_with(library, a)


def gesdd(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thin SVD A = U diag(σ) Vᵀ of a tall (n ≥ k) Fortran-ordered float64 n × k array: returns
    (σ descending, Vᵀ); U overwrites ``a``."""
    _check_out(a)
    if a.shape[0] < a.shape[1]:
        raise ValueError("gesdd here is for tall matrices (n ≥ k)")
    library = _library()
    if library is None:
        from scipy.linalg.lapack import dgesdd

        u, sv, vt, info = dgesdd(a, compute_uv=1, full_matrices=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"LAPACK dgesdd failed (info {info})")
        a[...] = u
        return sv, vt
    return _gesdd_with(library, a)


def backend() -> str:
    """Which library the four calls use: numpy's (its path) or SciPy's wrappers."""
    library = _library()
    return "scipy.linalg" if library is None else "numpy's BLAS (ctypes)"
