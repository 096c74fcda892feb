"""Mean imputation of dosages and the one rule that says whether a SNP can be tested.

Every part of the package that turns genotypes into numbers (the kinship, the scan, the SNP QC)
goes through this module, so they agree on which SNPs are testable and on the imputed values.

For SNP j over the n analysed samples, with c_j called (non-NaN) dosages x_ij:

    μ_j = Σ_{called} x_ij / c_j                   (mean of the called dosages; NaN when c_j = 0)
    x̃_ij = x_ij for a call, μ_j for a missing call  (mean imputation)
    centered_ij = x̃_ij − μ_j                       (exactly 0 for a missing call)
    sum_sq_j = Σ_i centered_ij²                    (= Σ over the calls only)

Two variances follow, both ddof 0: ``variance = sum_sq / n`` of the imputed column (what the
standardized kinship divides by) and ``called_variance = sum_sq / c`` of the called dosages
(what pysnptools' ``Unit`` standardizer divides by).  The allele frequency is ``af = μ/2``.

Testability (the ``errcode`` column of :mod:`exactlmm.io.results`), one exact rule:

* ``NO_CALLS``: c_j = 0;
* ``MONOMORPHIC``: every called dosage equals every other one, i.e. max = min over the calls
  — zero variance exactly, no tolerance.  For PLINK hard calls (whole numbers) this is the
  same as c Σx² − (Σx)² = 0, the test GEMMA applies;
* ``TESTED`` (``"."``) otherwise.

A monomorphic SNP's μ is set to its one called value, so its centered column is exactly 0
(whatever rounding the mean would have); an uncalled SNP's centered column is 0 as well.  So an
untestable SNP adds nothing to any sum of products, but it must still be left out of counts
such as the M of K = ZZᵀ/M: use ``errcode`` (or :attr:`ImputedBlock.testable`).

>>> import numpy as np
>>> G = np.array([[0.0, 1.0, np.nan], [2.0, 1.0, np.nan], [np.nan, np.nan, np.nan]])
>>> block = impute_center(G)
>>> block.errcode.tolist()
['.', 'MONOMORPHIC', 'NO_CALLS']
>>> block.centered[:, 0].tolist(), block.n_called.tolist(), block.af.tolist()
([-1.0, 1.0, 0.0], [2, 2, 0], [0.5, 0.5, nan])
>>> block.variance.tolist(), block.called_variance.tolist()
([0.6666666666666666, 0.0, 0.0], [1.0, 0.0, nan])
>>> count_errcodes(block.errcode)
{'NO_CALLS': 1, 'MONOMORPHIC': 1}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exactlmm.io.results import ERRCODE_DTYPE, ERRCODES, TESTED

NO_CALLS = "NO_CALLS"
MONOMORPHIC = "MONOMORPHIC"


@dataclass(frozen=True)
class ImputedBlock:
    """A block of SNPs (n samples × m SNPs), mean-imputed and centered (module notes).

    Attributes
    ----------
    centered: float64 n × m, x̃ − μ; exactly 0 at missing calls and in untestable columns.
    n_called: int64 per SNP, c, the number of called dosages.
    mean: μ per SNP, the mean of the called dosages (NaN when there is none).
    sum_sq: Σᵢ centeredᵢ² per SNP (0 for an untestable SNP).
    errcode: per SNP, ``"."`` (:data:`~exactlmm.io.results.TESTED`), ``"NO_CALLS"`` or
        ``"MONOMORPHIC"``.
    """

    centered: np.ndarray
    n_called: np.ndarray
    mean: np.ndarray
    sum_sq: np.ndarray
    errcode: np.ndarray

    @property
    def af(self) -> np.ndarray:
        """Frequency of the counted allele a1 among the called alleles, μ/2 (NaN: no call)."""
        return self.mean / 2.0

    @property
    def variance(self) -> np.ndarray:
        """Variance (ddof 0) of the imputed column over all n samples: sum_sq / n."""
        return self.sum_sq / self.centered.shape[0]

    @property
    def called_variance(self) -> np.ndarray:
        """Variance (ddof 0) of the called dosages: sum_sq / c (NaN when c = 0)."""
        out = np.full(self.sum_sq.shape, np.nan)
        np.divide(self.sum_sq, self.n_called, out=out, where=self.n_called > 0)
        return out

    @property
    def testable(self) -> np.ndarray:
        """Boolean per SNP: ``errcode == "."``."""
        return self.errcode == TESTED


def _classify(n_called: np.ndarray, lowest: np.ndarray, highest: np.ndarray) -> np.ndarray:
    """errcode per SNP from the number of calls and the smallest and largest called dosage."""
    errcode = np.full(n_called.shape, TESTED, dtype=object)
    errcode[(n_called > 0) & (lowest == highest)] = MONOMORPHIC
    errcode[n_called == 0] = NO_CALLS
    return errcode.astype(ERRCODE_DTYPE)


def _extremes(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest non-NaN value per column (NaN for a column without any)."""
    if G.shape[0] == 0:
        nan = np.full(G.shape[1], np.nan)
        return nan, nan
    return np.fmin.reduce(G, axis=0), np.fmax.reduce(G, axis=0)


def classify(G: np.ndarray) -> np.ndarray:
    """errcode per column of the dosages ``G`` (n × m, NaN = missing): ``"NO_CALLS"`` when no
    call, ``"MONOMORPHIC"`` when all calls are equal, else ``"."`` (the module's rule).

    >>> classify(np.array([[0.0, 2.0, np.nan], [1.0, 2.0, np.nan]])).tolist()
    ['.', 'MONOMORPHIC', 'NO_CALLS']
    """
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2:
        raise ValueError(f"dosages must be samples × SNPs, got shape {G.shape}")
    n_called = np.count_nonzero(~np.isnan(G), axis=0)
    return _classify(n_called, *_extremes(G))


def impute_center(G: np.ndarray) -> ImputedBlock:
    """Mean-impute and center the dosages ``G`` (n × m, NaN = missing); see the module notes.

    ``G`` is not modified.  No warning is emitted for uncalled or monomorphic columns.
    """
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2:
        raise ValueError(f"dosages must be samples × SNPs, got shape {G.shape}")
    missing = np.isnan(G)
    n_called = G.shape[0] - np.count_nonzero(missing, axis=0)
    lowest, highest = _extremes(G)
    errcode = _classify(n_called, lowest, highest)
    called = n_called > 0
    total = np.where(missing, 0.0, G).sum(axis=0)
    mean = np.full(G.shape[1], np.nan)
    np.divide(total, n_called, out=mean, where=called)
    monomorphic = errcode == MONOMORPHIC
    mean[monomorphic] = lowest[monomorphic]  # its one value: the column centers to exactly 0
    centered = G - np.where(called, mean, 0.0)
    centered[missing] = 0.0
    sum_sq = np.einsum("ij,ij->j", centered, centered)
    return ImputedBlock(centered, n_called.astype(np.int64), mean, sum_sq, errcode)


def count_errcodes(errcode: np.ndarray) -> dict[str, int]:
    """{reason: number of SNPs} for every reason other than ``"."`` that occurs, in the order
    of :data:`~exactlmm.io.results.ERRCODES` (an empty dict when every SNP was tested)."""
    values, counts = np.unique(np.asarray(errcode, dtype=str), return_counts=True)
    found = {str(v): int(c) for v, c in zip(values, counts, strict=True) if v != TESTED}
    unknown = sorted(set(found) - set(ERRCODES))
    if unknown:
        raise ValueError(f"unknown errcode(s) {unknown}")
    return {reason: found[reason] for reason in ERRCODES if reason in found}


def add_counts(*counts: dict[str, int]) -> dict[str, int]:
    """Sum of several :func:`count_errcodes` results, in the order of ``ERRCODES``."""
    total: dict[str, int] = {}
    for count in counts:
        for reason, k in count.items():
            total[reason] = total.get(reason, 0) + int(k)
    return {reason: total[reason] for reason in ERRCODES if total.get(reason)}


def describe_counts(counts: dict[str, int]) -> str:
    """``"MONOMORPHIC 1234, NO_CALLS 2"``-style text of per-reason counts (``"none"`` if empty)."""
    return ", ".join(f"{reason} {k}" for reason, k in counts.items()) or "none"
