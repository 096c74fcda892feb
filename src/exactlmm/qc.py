"""SNP quality control: allele frequency, missingness, monomorphic SNPs; kept-SNP list files.

For SNP j over the n analysed samples, with c_j called (non-missing) genotypes x_ij ∈ {0,1,2}
(copies of ``a1``):

    af_j = Σ x_ij / (2 c_j)            frequency of a1 among the called alleles
    maf_j = min(af_j, 1 − af_j)
    missing_rate_j = (n − c_j) / n
    var_j = Σ x_ij² / c_j − (Σ x_ij / c_j)²     variance of the called genotypes (ddof 0)

Whether a SNP can be tested at all is decided by the one rule of :mod:`exactlmm.dosage`
(``errcode`` per SNP): ``NO_CALLS`` when c_j = 0, ``MONOMORPHIC`` when all its calls are equal
(one genotype class — all 0, all 1 or all 2; for whole-number dosages the same as
``c_j Σx² − (Σx)² = 0``, i.e. var_j = 0 exactly), else tested (``"."``).

The two PLINK-style filters, :func:`filter_mask`, are separate from testability:

    --geno X:  drop when missing_rate > X        (X = 1: no filter)
    --maf X:   drop when not X ≤ af ≤ 1 − X      (X = 0: no filter; a SNP without calls has no
                                                 af, so it fails any X > 0)

so that a SNP passing the requested filters but untestable still gets a row with its reason.

GEMMA's rule (``ReadFile_bed`` in ``src/gemma_io.cpp``, 0.98.5; defaults in ``param.cpp``
``maf_level(0.01)``, ``miss_level(0.05)``) computed on the analysed (phenotyped, covariates
present) individuals, keeps a SNP when

    missing_rate ≤ miss_level   and   maf_level ≤ af ≤ 1 − maf_level   and   not monomorphic,

i.e. the missingness bound is inclusive (a SNP is dropped when missing_rate > 0.05, as PLINK's
``--geno``) and so is the MAF bound (dropped when maf < 0.01).  :func:`qc_mask` applies exactly
this rule with the same floating-point expressions.  GEMMA further drops, only when
covariates besides the intercept are given, a SNP whose R² on the covariates exceeds 0.9999
(``r2_level``); that collinearity check is not part of this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from exactlmm.dosage import MONOMORPHIC, NO_CALLS, count_calls
from exactlmm.errors import InputError
from exactlmm.io.atomic import write_text_atomic
from exactlmm.io.plink import PlinkDataset, bed_codes, iter_code_blocks
from exactlmm.io.results import TESTED
from exactlmm.io.text import split_lines
from exactlmm.progress import progress_bar

GEMMA_MAF = 0.01
GEMMA_MISSING = 0.05


@dataclass
class SnpStats:
    """Per-SNP summaries over the analysed samples (arrays over the ``.bim`` SNPs).

    Attributes
    ----------
    af: frequency of ``a1`` among the called alleles (NaN when no call).
    maf: min(af, 1 − af).
    missing_rate: fraction of the analysed samples without a call.
    n_called: number of called genotypes (int64).
    genotype_var: variance (ddof 0) of the called genotypes (NaN when no call).
    n_samples: number of analysed samples.
    errcode: ``"."`` (testable), ``"NO_CALLS"`` or ``"MONOMORPHIC"``
        (:func:`exactlmm.dosage.classify`, the rule every module uses).
    """

    af: np.ndarray
    maf: np.ndarray
    missing_rate: np.ndarray
    n_called: np.ndarray
    genotype_var: np.ndarray
    n_samples: int
    errcode: np.ndarray


def snp_stats(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    block_size: int | None = 4096,
    *,
    progress: bool = False,
) -> SnpStats:
    """Allele frequency, missingness and genotype variance of every SNP, streamed in blocks
    of ``.bed`` codes (the class counts give every sum exactly: Σx = 2·two + one,
    Σx² = 4·two + one)."""
    codes = bed_codes(ds, sample_index)
    n_samples = codes.n_samples
    two = np.zeros(ds.n_snps, dtype=np.int64)
    one = np.zeros(ds.n_snps, dtype=np.int64)
    n_called = np.zeros(ds.n_snps, dtype=np.int64)
    errcode = np.full(ds.n_snps, TESTED, dtype=object)
    with progress_bar(ds.n_snps, "SNP QC", progress) as bar:
        for positions, block_codes in iter_code_blocks(codes, np.arange(ds.n_snps),
                                                       block_size):
            counts = count_calls(block_codes)
            two[positions], one[positions] = counts.two, counts.one
            n_called[positions] = counts.n_called
            errcode[positions] = counts.errcode
            bar.update(positions.size)
    total = (2 * two + one).astype(np.float64)
    total_sq = (4 * two + one).astype(np.float64)
    if n_samples == 0:
        raise ValueError("no samples selected")
    with np.errstate(invalid="ignore", divide="ignore"):
        af = total / (2.0 * n_called)  # GEMMA: maf /= 2.0 * (ni_test - n_miss)
        genotype_var = (n_called * total_sq - total * total) / (n_called.astype(float) ** 2)
    genotype_var[n_called == 0] = np.nan
    return SnpStats(
        af=af,
        maf=np.minimum(af, 1.0 - af),
        missing_rate=(n_samples - n_called) / float(n_samples),  # GEMMA: n_miss / ni_test
        n_called=n_called,
        genotype_var=genotype_var,
        n_samples=int(n_samples),
        errcode=errcode.astype(str),
    )


def monomorphic(stats: SnpStats) -> np.ndarray:
    """Untestable SNPs: one genotype class among their calls, or no call (``errcode != "."``)."""
    return stats.errcode != TESTED


def filter_mask(stats: SnpStats, maf_min: float = 0.0, missing_max: float = 1.0) -> np.ndarray:
    """Boolean mask of the SNPs passing ``--maf maf_min`` and ``--geno missing_max`` (module
    docstring): missing_rate ≤ missing_max, and, when maf_min > 0, maf_min ≤ af ≤ 1 − maf_min.

    Untestable SNPs are not dropped here unless a filter drops them (a SNP of one homozygous
    class has maf 0, so any maf_min > 0 does; an all-heterozygous one has maf 0.5 and stays);
    see :func:`qc_mask` for GEMMA's rule, which drops them all.
    """
    if not 0.0 <= maf_min <= 0.5:
        raise InputError(f"minor allele frequency threshold {maf_min} is not in [0, 0.5]")
    if not 0.0 <= missing_max <= 1.0:
        raise InputError(f"missingness threshold {missing_max} is not in [0, 1]")
    keep = stats.missing_rate <= missing_max
    if maf_min > 0.0:
        with np.errstate(invalid="ignore"):
            keep &= (stats.af >= maf_min) & (stats.af <= 1.0 - maf_min)
    return keep


def qc_mask(stats: SnpStats, maf_min: float = 0.0, missing_max: float = 1.0) -> np.ndarray:
    """Boolean mask of the SNPs kept: GEMMA's rule (see the module docstring).

    keep = (missing_rate ≤ missing_max) & (maf_min ≤ af ≤ 1 − maf_min) & testable.

    The defaults keep every testable SNP; GEMMA's defaults are ``maf_min=0.01``,
    ``missing_max=0.05`` (:data:`GEMMA_MAF`, :data:`GEMMA_MISSING`).  Untestable SNPs
    (monomorphic, or no call) are always dropped: they carry no information.
    """
    return filter_mask(stats, maf_min, missing_max) & ~monomorphic(stats)


def filter_counts(
    stats: SnpStats,
    maf_min: float = 0.0,
    missing_max: float = 1.0,
    selected: np.ndarray | None = None,
) -> dict[str, int]:
    """How many of the ``selected`` SNPs (boolean mask; default all) each check drops, each SNP
    counted once, under the first check it fails in the order NO_CALLS, MONOMORPHIC, ``geno``,
    ``maf``; plus ``"pass"``, the SNPs :func:`qc_mask` keeps.  The values sum to the number
    of selected SNPs."""
    chosen = np.ones(stats.af.size, dtype=bool) if selected is None else np.asarray(selected)
    left = chosen.copy()
    counts: dict[str, int] = {}
    geno_ok = filter_mask(stats, 0.0, missing_max)
    maf_ok = filter_mask(stats, maf_min, 1.0)
    for name, fails in (
        (NO_CALLS, stats.errcode == NO_CALLS),
        (MONOMORPHIC, stats.errcode == MONOMORPHIC),
        ("geno", ~geno_ok),
        ("maf", ~maf_ok),
    ):
        counts[name] = int(np.count_nonzero(left & fails))
        left &= ~fails
    counts["pass"] = int(np.count_nonzero(left))
    return counts


def write_snp_list(path: str | os.PathLike[str], snp_ids) -> None:
    """Write SNP IDs, one per line, atomically (an ID given twice once)."""
    ids = list(dict.fromkeys(str(s) for s in snp_ids))
    bad = next((s for s in ids if not s or len(s.split()) != 1 or s != s.strip()), None)
    if bad is not None:
        raise ValueError(f"SNP ID {bad!r} is empty or holds whitespace")
    write_text_atomic(path, "".join(s + "\n" for s in ids))


def read_snp_list(path: str | os.PathLike[str]) -> list[str]:
    """Read a SNP list: one ID per non-blank line (a line with two fields is an error)."""
    ids: list[str] = []
    for lineno, fields in split_lines(path, "SNP list"):
        if len(fields) != 1:
            raise InputError(
                f"line {lineno}: {len(fields)} fields; a SNP list has one ID per line", path=path
            )
        ids.append(fields[0])
    return ids


def snp_index_from_list(
    ds: PlinkDataset, ids, path: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Positions (int64, increasing = ``.bim`` order) of the SNPs whose IDs are listed.

    As PLINK 2's ``--extract``: the list is a set (an ID listed twice selects its SNPs once),
    and an ID the ``.bim`` holds more than once selects every SNP of that ID.  Errors
    (``InputError`` naming the list file): an empty list, an ID not in the ``.bim`` file (the
    first is named, with the count).
    """
    ids = list(ids)
    if not ids:
        raise InputError("the SNP list is empty", path=path)
    listed = np.unique(np.asarray(ids, dtype=str))
    order = np.argsort(ds.snp, kind="stable")
    sorted_snps = ds.snp[order]
    at = np.searchsorted(sorted_snps, listed)
    found = (at < sorted_snps.size) & (sorted_snps[np.minimum(at, sorted_snps.size - 1)] == listed)
    if not found.all():
        unknown = set(listed[~found].tolist())
        first = next(s for s in ids if s in unknown)
        raise InputError(
            f"{len(unknown)} listed SNP ID{'s are' if len(unknown) > 1 else ' is'} not in "
            f"{ds.bim_path}, e.g. {first}",
            path=path,
        )
    after = np.searchsorted(sorted_snps, listed, side="right")
    selected = np.repeat(at, after - at) + _ranges_within(after - at)
    return np.sort(order[selected]).astype(np.int64)


def _ranges_within(lengths: np.ndarray) -> np.ndarray:
    """0, 1, …, l − 1 for each l of ``lengths``, concatenated."""
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(int(lengths.sum())) - starts
