"""Genetic relationship (kinship) matrices from PLINK genotypes, streamed block by block.

Notation: X is the n × M matrix of dosages (copies of ``a1``) of the analysed samples and
SNPs, with missing calls.  For SNP j, μ_j is the mean of its called genotypes; a missing call
is replaced by μ_j ("mean imputation"), so after centring it is exactly 0
(:func:`exactlmm.dosage.impute_center`, the one place that imputes).

Untestable SNPs are left out.  A SNP without any call among the selected samples
(``NO_CALLS``) or with one genotype class among its calls (``MONOMORPHIC``; the exact rule of
:mod:`exactlmm.dosage`) carries no information about relatedness and cannot be standardised.
Every kinship below is built from the other SNPs only, and M (or p) counts only those; the
functions return how many SNPs were left out per reason, they never raise because of a SNP.

* Standardised kinship (FaST-LMM's and PLINK's ``--make-rel``-style default here):

      z_ij = (x_ij − μ_j) / s_j,    s_j² = (1/n) Σ_i (x̃_ij − μ_j)²,    K = Z Zᵀ / M,

  where x̃ is the mean-imputed column, i.e. s_j is the standard deviation (ddof 0) of the
  imputed column.  Every column of Z then has mean 0 and Σ_i z_ij² = n, so mean(diag K) = 1
  (up to rounding) with or without missing calls.  Note: pysnptools/FaST-LMM's ``Unit``
  standardiser instead divides by the standard deviation of the *called* genotypes and then
  sets missing entries to 0; the two agree exactly when nothing is missing, and otherwise
  differ by the factor sqrt(c_j / n) per SNP (c_j called genotypes).

* Centred kinship, GEMMA ``-gk 1`` (``PlinkKin`` in GEMMA's ``src/gemma_io.cpp``):

      K = (1/p) Σ_j (x̃_j − μ_j 1)(x̃_j − μ_j 1)ᵀ,    no scaling,

  p the number of testable SNPs (GEMMA drops monomorphic SNPs in its QC as well).  See
  :func:`kinship_centered` for which samples and SNPs GEMMA uses.

* Leave one chromosome out (LOCO): for chromosome c, K₋c is built from the SNPs on all other
  chromosomes, K₋c = (Σ_{chrom(j) ≠ c} z_j z_jᵀ) / M₋c.

Each block Z_b (n × b) is accumulated with a BLAS symmetric rank-k update (``dsyrk``, upper
triangle, :mod:`exactlmm.blas`), S ← S + Z_b Z_bᵀ, so memory is one n × n matrix plus one
block; the lower triangle is filled once at the end (a tile at a time), so K is exactly
symmetric.

>>> import numpy as np
>>> G = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, np.nan], [2.0, 1.0, 0.0]])
>>> standardize(G).round(6).tolist()  # the monomorphic middle SNP is a zero column
[[-1.224745, 0.0, 1.224745], [0.0, 0.0, 0.0], [1.224745, 0.0, -1.224745]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from exactlmm.blas import syrk
from exactlmm.dosage import (
    ImputedBlock,
    add_counts,
    count_errcodes,
    decode,
    describe_counts,
    impute_center,
)
from exactlmm.errors import InputError
from exactlmm.io.plink import PlinkDataset, auto_block_size, bed_codes
from exactlmm.io.results import TESTED
from exactlmm.parallel import Workspace
from exactlmm.progress import progress_bar
from exactlmm.qc import GEMMA_MAF, GEMMA_MISSING, qc_mask, snp_stats
from exactlmm.symmetric import fill_lower

#: The two kinds of kinship, as the command line (``--kind``) and the JSON records name them.
KINDS = ("standardized", "centered")


class KinshipMatrix(NamedTuple):
    """A kinship and what it was built from.

    Attributes
    ----------
    matrix: K, n × n, exactly symmetric.
    n_snps: M (or p), the number of SNPs K is the average over.
    untested: {reason: count} of the selected SNPs left out of K (``"NO_CALLS"``,
        ``"MONOMORPHIC"``; see :mod:`exactlmm.dosage`), empty when none was.
    """

    matrix: np.ndarray
    n_snps: int
    untested: dict[str, int]


def _standardized_columns(block: ImputedBlock) -> np.ndarray:
    """z = (x̃ − μ)/s of the block's columns, s = sd(x̃) with ddof 0; untestable columns 0."""
    sd = np.sqrt(block.variance)
    return block.centered / np.where(block.testable, sd, 1.0)


def _centered_columns(block: ImputedBlock) -> np.ndarray:
    """z = x̃ − μ of the block's columns (untestable columns are exactly 0 already)."""
    return block.centered


TRANSFORMS = {"standardized": _standardized_columns, "centered": _centered_columns}


def standardize(G: np.ndarray) -> np.ndarray:
    """Mean-impute, center and scale each column: z = (x̃ − μ) / s, s = sd(x̃) with ddof 0.

    ``G`` is samples × SNPs with NaN for missing calls.  A column that cannot be scaled (no
    call, or monomorphic: :func:`exactlmm.dosage.classify`) is returned as exactly 0, so it adds
    nothing to ZZᵀ — but it must not be counted in M either (the kinship functions here leave
    such SNPs out).
    """
    return _standardized_columns(impute_center(G))


def center(G: np.ndarray) -> np.ndarray:
    """Mean-impute and center each column (GEMMA ``-gk 1``): x̃ − μ.  Columns without any call
    or with one genotype class are exactly 0 (and left out of p by the kinship functions)."""
    return _centered_columns(impute_center(G))


def _symmetrize_upper(S: np.ndarray) -> np.ndarray:
    """Fill the strict lower triangle from the upper one, in place."""
    return fill_lower(S)


def _n_selected(index: np.ndarray | None, size: int) -> int:
    if index is None:
        return size
    index = np.asarray(index)
    return int(np.count_nonzero(index)) if index.dtype == bool else int(index.size)


class _Sums(NamedTuple):
    """What one pass accumulates, per chromosome (or under the key "" for all)."""

    sums: dict[str, np.ndarray]  # upper triangles of Σ z_j z_jᵀ over the testable SNPs
    counts: dict[str, int]  # testable SNPs
    untested: dict[str, dict[str, int]]  # SNPs left out, per reason
    chromosomes: list[str]  # every chromosome with a selected SNP, in order of appearance


def _accumulate(
    ds: PlinkDataset,
    sample_index: np.ndarray | None,
    snp_index: np.ndarray | None,
    method: str,
    block_size: int | None,
    progress: bool,
    by_chromosome: bool,
) -> _Sums:
    """Upper triangles of Σ z_j z_jᵀ over the testable SNPs, with the counts of used and
    left-out SNPs (see :class:`_Sums`).  An untestable SNP's z is exactly 0, so it adds nothing
    to a block's product and only its count is kept out."""
    codes = bed_codes(ds, sample_index)
    snps = np.arange(ds.n_snps) if snp_index is None else np.asarray(snp_index)
    if snps.dtype == bool:
        snps = np.flatnonzero(snps)
    n = codes.n_samples
    if block_size is None:  # rank-k updates of an n × n matrix want k of the order of n
        block_size = max(auto_block_size(n), min(4096, n))
    out = _Sums({}, {}, {}, [])
    workspace = Workspace()
    with progress_bar(snps.size, "kinship", progress) as bar:
        for start in range(0, snps.size, block_size):
            positions = snps[start : start + block_size]
            Z, counts = decode(codes, positions, standardized=method == "standardized",
                               workspace=workspace)
            errcode = counts.errcode
            bar.update(positions.size)
            if by_chromosome:
                groups = ds.chromosome[positions]
                runs = [(c, groups == c) for c in dict.fromkeys(groups.tolist())]
            else:
                runs = [("", None)]
            for chrom, here in runs:
                if chrom not in out.untested:
                    out.chromosomes.append(chrom)
                    out.untested[chrom] = {}
                codes_here = errcode if here is None else errcode[here]
                out.untested[chrom] = add_counts(out.untested[chrom],
                                                 count_errcodes(codes_here))
                used = int(np.count_nonzero(codes_here == TESTED))
                if used == 0:
                    continue
                if chrom not in out.sums:
                    out.sums[chrom] = np.zeros((n, n), order="F")
                    out.counts[chrom] = 0
                Zc = Z if here is None else _columns(Z, here)
                syrk(1.0, Zc, 1.0, out.sums[chrom])
                out.counts[chrom] += used
    if not out.chromosomes:
        raise InputError("no SNPs selected for the kinship", path=ds.bim_path)
    if not out.counts:
        untested = add_counts(*out.untested.values())
        raise InputError(
            f"none of the {snps.size} selected SNPs can enter the kinship "
            f"({describe_counts(untested)} among the selected samples)",
            path=ds.bed_path,
        )
    return out


def _columns(Z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The columns of Z under ``mask``: a view when they are one run, else a Fortran copy."""
    where = np.flatnonzero(mask)
    if where[-1] - where[0] == where.size - 1:
        return Z[:, where[0] : where[-1] + 1]
    return np.asfortranarray(Z[:, where])


def _kinship(
    ds: PlinkDataset,
    sample_index: np.ndarray | None,
    snp_index: np.ndarray | None,
    method: str,
    block_size: int | None,
    progress: bool,
) -> KinshipMatrix:
    acc = _accumulate(ds, sample_index, snp_index, method, block_size, progress,
                      by_chromosome=False)
    K, M = acc.sums[""], acc.counts[""]
    K /= M
    return KinshipMatrix(_symmetrize_upper(K), M, acc.untested[""])


def kinship_standardized(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    snp_index: np.ndarray | None = None,
    block_size: int | None = 4096,
    progress: bool = False,
) -> KinshipMatrix:
    """K = Z Zᵀ / M over the selected samples (rows, in the order given) and SNPs.

    Z is :func:`standardize` applied block by block over the selected samples; SNPs without a
    call or monomorphic among them are left out (not counted in M) and counted per reason in
    ``untested``.  Returns ``(K, M, untested)`` (:class:`KinshipMatrix`).
    """
    return _kinship(ds, sample_index, snp_index, "standardized", block_size, progress)


def kinship_centered(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    snp_index: np.ndarray | None = None,
    block_size: int | None = 4096,
    progress: bool = False,
) -> KinshipMatrix:
    """GEMMA ``-gk 1``: K = (1/p) Σ_j (x̃_j − μ_j)(x̃_j − μ_j)ᵀ; returns ``(K, p, untested)``.

    μ_j is the mean of the called genotypes among the selected samples, missing calls are set
    to μ_j, nothing is scaled; SNPs without a call or monomorphic among the selected samples
    are left out (not counted in p) and counted per reason in ``untested``.

    To reproduce ``gemma -bfile P -gk 1`` exactly (GEMMA 0.98.5, ``PARAM::CalcKin`` →
    ``PlinkKin``): GEMMA builds K over **all** ``.fam`` individuals (``ni_total``, means over
    all of them), but from the SNPs that pass its QC on the **analysed** individuals — those
    with a non-missing phenotype (``-n``, default ``.fam`` column 6) and covariates — i.e.
    missingness ≤ 0.05, 0.01 ≤ af ≤ 0.99, polymorphic (``ReadFile_bed``).  That is
    :func:`kinship_like_gemma`, or::

        stats = qc.snp_stats(ds, analysed_fam_index)
        K, p, _ = kinship_centered(ds, None, qc.qc_mask(stats, 0.01, 0.05))
    """
    return _kinship(ds, sample_index, snp_index, "centered", block_size, progress)


def kinship_like_gemma(
    ds: PlinkDataset,
    analysed_index: np.ndarray | None,
    block_size: int | None = 4096,
    progress: bool = False,
) -> KinshipMatrix:
    """``gemma -gk 1``'s matrix: centered kinship over all ``.fam`` samples, from the SNPs that
    pass GEMMA's default QC (MAF ≥ 0.01, missingness ≤ 0.05, polymorphic) on the analysed
    samples ``analysed_index`` (e.g. ``SampleMatch.fam_index``).  No covariate R² filter:
    GEMMA applies that only when covariates are given."""
    stats = snp_stats(ds, analysed_index, block_size, progress=progress)
    mask = qc_mask(stats, GEMMA_MAF, GEMMA_MISSING)
    return kinship_centered(ds, None, mask, block_size, progress)


def kinship_loco(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    snp_index: np.ndarray | None = None,
    block_size: int | None = 4096,
    progress: bool = False,
    *,
    method: str = "standardized",
    chromosomes: Sequence[str] | None = None,
) -> dict[str, KinshipMatrix]:
    """Leave-one-chromosome-out kinships: {chrom c: (K₋c, M₋c, untested₋c)}, from one pass.

    K₋c = (S − S_c) / (M − M_c), where S_c = Σ_{j on c} z_j z_jᵀ and S = Σ_c S_c; z is
    :func:`standardize` (``method="standardized"``) or :func:`center` (``"centered"``), computed
    per SNP over the selected samples, so it does not depend on which chromosome is left out.
    Untestable SNPs are in no S_c; ``untested₋c`` counts those off chromosome c (the ones K₋c
    would have used).  A chromosome whose SNPs are all untestable still gets its K₋c (= K).

    Memory: one n × n float64 matrix per chromosome plus one for S, (C + 1) · 8n² bytes
    (n = 2000, C = 20: 0.67 GB; n = 5000, C = 3: 0.8 GB); the returned matrices reuse the
    per-chromosome buffers.  Needs testable SNPs on at least two chromosomes.  Keys are
    chromosome codes as in the ``.bim`` file, in order of first appearance; ``chromosomes``
    asks for these keys instead (the scanned SNPs' chromosomes when the kinship SNPs are
    others, ``--kinship-snps``): a chromosome with no kinship SNP gets K₋c = K, and one with
    no testable kinship SNP off it is an error.
    """
    if method not in TRANSFORMS:
        raise ValueError(f"method must be one of {KINDS}, got {method!r}")
    acc = _accumulate(ds, sample_index, snp_index, method, block_size, progress,
                      by_chromosome=True)
    if len(acc.chromosomes) < 2 and chromosomes is None:
        raise InputError(
            f"leave-one-chromosome-out needs SNPs on two or more chromosomes; all selected "
            f"SNPs are on chromosome {acc.chromosomes[0]}",
            path=ds.bim_path,
        )
    if len(acc.counts) < 2 and chromosomes is None:
        only = next(iter(acc.counts))
        raise InputError(
            f"leave-one-chromosome-out needs testable SNPs on two or more chromosomes; all "
            f"testable selected SNPs are on chromosome {only}",
            path=ds.bed_path,
        )
    sums = list(acc.sums.values())
    total = sums[0].copy(order="F")
    for S_c in sums[1:]:
        total += S_c
    m_total = sum(acc.counts.values())
    wanted = acc.chromosomes if chromosomes is None else list(chromosomes)
    for chrom in wanted:
        if m_total - acc.counts.get(chrom, 0) == 0:
            raise InputError(
                f"leave-one-chromosome-out: no testable kinship SNP is off chromosome {chrom}",
                path=ds.bed_path,
            )
    out: dict[str, KinshipMatrix] = {}
    for chrom in wanted:
        S_c = acc.sums.get(chrom)
        if S_c is None:
            S_c = total.copy(order="F")
        else:
            np.subtract(total, S_c, out=S_c)
        m_rest = m_total - acc.counts.get(chrom, 0)
        S_c /= m_rest
        untested = add_counts(*(u for c, u in acc.untested.items() if c != chrom))
        out[chrom] = KinshipMatrix(_symmetrize_upper(S_c), m_rest, untested)
    return out
