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

from exactlmm.io.bed import BedCodes
from exactlmm.io.results import ERRCODE_DTYPE, ERRCODES, TESTED
from exactlmm.parallel import Workspace, chunks, run_parts

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


@dataclass(frozen=True)
class CallCounts:
    """Calls of each genotype class per SNP among the selected samples, from ``.bed`` codes
    (:mod:`exactlmm.io.bed`): ``two``, ``one``, ``zero`` copies of a1 and ``missing`` (int64).

    Everything the module notes define follows from them exactly: c = two + one + zero,
    μ = (2·two + one)/c (sums of whole numbers are exact in floating point, so μ is the same
    number the dosage path computes), Σ (x − μ)² over the calls = Σ_v count_v (v − μ)², and
    the errcode (``NO_CALLS`` when c = 0, ``MONOMORPHIC`` when one class holds every call).
    """

    two: np.ndarray
    one: np.ndarray
    zero: np.ndarray
    missing: np.ndarray

    @property
    def n_called(self) -> np.ndarray:
        return self.two + self.one + self.zero

    @property
    def mean(self) -> np.ndarray:
        """μ per SNP (NaN without a call)."""
        called = self.n_called
        out = np.full(called.shape, np.nan)
        np.divide(2.0 * self.two + self.one, called, out=out, where=called > 0)
        return out

    @property
    def sum_sq(self) -> np.ndarray:
        """Σ over the calls of (x − μ)² per SNP (0 for an untestable SNP)."""
        mu = np.where(self.n_called > 0, self.mean, 0.0)
        total = self.two * (2.0 - mu) ** 2 + self.one * (1.0 - mu) ** 2 + self.zero * mu**2
        return np.where(self.errcode == TESTED, total, 0.0)

    @property
    def errcode(self) -> np.ndarray:
        classes = (self.two > 0).astype(np.int64) + (self.one > 0) + (self.zero > 0)
        errcode = np.full(classes.shape, TESTED, dtype=ERRCODE_DTYPE)
        errcode[classes == 1] = MONOMORPHIC
        errcode[classes == 0] = NO_CALLS
        return errcode

    def __getitem__(self, index) -> CallCounts:
        """The counts of some SNPs (any numpy index)."""
        return CallCounts(self.two[index], self.one[index], self.zero[index],
                          self.missing[index])


def count_calls(codes: np.ndarray) -> CallCounts:
    """:class:`CallCounts` of an m SNPs × n samples array of ``.bed`` codes (0: two copies of
    a1, 1: missing, 2: one, 3: none; :mod:`exactlmm.io.bed`)."""
    two, missing, one = (np.count_nonzero(codes == k, axis=1) for k in range(3))
    zero = codes.shape[1] - two - missing - one
    return CallCounts(two.astype(np.int64), one.astype(np.int64), zero.astype(np.int64),
                      missing.astype(np.int64))


def code_values(codes: np.ndarray, counts: CallCounts, *, standardized: bool = False,
                out: np.ndarray | None = None, index: np.ndarray | None = None
                ) -> np.ndarray:
    """Imputed, centered dosages x̃ − μ (or standardized, (x̃ − μ)/s with s² = sum_sq/n, the
    kinship's z) of the codes, n samples × m SNPs (Fortran order: one SNP per column).

    Each SNP's four possible values (v − μ, or (v − μ)/s, for v = 2, 1, 0 copies, and 0 for a
    missing call) are computed once and looked up per call; an untestable SNP's column is 0.
    They are the numbers :func:`impute_center` gives for the same calls (its dosage path
    subtracts the same μ from the same whole numbers).  ``out``: an m × n C-ordered array to
    write them to (its transpose is returned); ``index``: an m × n ``intp`` scratch array."""
    m = codes.shape[0]
    mu = counts.mean
    table = np.zeros((m, 4))
    testable = counts.errcode == TESTED
    for code, dosage in ((0, 2.0), (2, 1.0), (3, 0.0)):
        table[:, code] = np.where(testable, dosage - np.where(testable, mu, 0.0), 0.0)
    if standardized:
        sd = np.sqrt(counts.sum_sq / codes.shape[1])
        table /= np.where(testable, sd, 1.0)[:, None]
    index = np.add(codes, (4 * np.arange(m, dtype=np.intp))[:, None], out=index)
    return np.take(table.ravel(), index, out=out, mode="clip").T


def decode(reader: BedCodes, snps: np.ndarray, *, standardized: bool = False,
           workspace: Workspace | None = None) -> tuple[np.ndarray, CallCounts]:
    """:func:`code_values` and :class:`CallCounts` of the SNPs ``snps`` (``.bim`` positions)
    read from ``reader`` (:class:`exactlmm.io.bed.BedCodes`), the SNPs split in chunks decoded
    in parallel (:mod:`exactlmm.parallel`): an n × m Fortran array and the counts.  With a
    ``workspace`` the values are its array ``"values"`` (valid until the next decode)."""
    workspace = Workspace() if workspace is None else workspace
    m, n = snps.size, reader.n_samples
    values = workspace.array("values", (m, n))
    fields = {name: np.empty(m, dtype=np.int64) for name in ("two", "one", "zero", "missing")}
    pieces = chunks(m)

    def work(part: int) -> None:
        rows = pieces[part]
        codes = reader.codes(snps[rows], workspace, f"decode{part}.")
        counts = count_calls(codes)
        for name, column in fields.items():
            column[rows] = getattr(counts, name)
        index = workspace.array(f"decode{part}.index", codes.shape, np.intp)
        code_values(codes, counts, standardized=standardized, out=values[rows], index=index)

    run_parts(work, len(pieces))
    return values.T, CallCounts(**fields)


def impute_codes(codes: np.ndarray, counts: CallCounts | None = None) -> ImputedBlock:
    """:func:`impute_center` of the calls given as ``.bed`` codes (m SNPs × n samples)."""
    counts = count_calls(codes) if counts is None else counts
    return ImputedBlock(code_values(codes, counts), counts.n_called, counts.mean,
                        counts.sum_sq, counts.errcode)


def imputed(values: np.ndarray, counts: CallCounts) -> ImputedBlock:
    """The :class:`ImputedBlock` of centered values and their counts (:func:`decode`)."""
    return ImputedBlock(values, counts.n_called, counts.mean, counts.sum_sq, counts.errcode)


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
