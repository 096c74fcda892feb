"""Genetic relationship (kinship) matrices from PLINK genotypes, streamed block by block.

Notation: X is the n × M matrix of dosages (copies of ``a1``) of the analysed samples and
SNPs, with missing calls.  For SNP j, μ_j is the mean of its called genotypes; a missing call
is replaced by μ_j ("mean imputation"), so after centring it is exactly 0.

* Standardised kinship (FaST-LMM's and PLINK's ``--make-rel``-style default here):

      z_ij = (x_ij − μ_j) / s_j,    s_j² = (1/n) Σ_i (x̃_ij − μ_j)²,    K = Z Zᵀ / M,

  where x̃ is the mean-imputed column, i.e. s_j is the standard deviation (ddof 0) of the
  imputed column.  Every column of Z then has mean 0 and Σ_i z_ij² = n, so mean(diag K) = 1
  (up to rounding) with or without missing calls.  Note: pysnptools/FaST-LMM's ``Unit``
  standardiser instead divides by the standard deviation of the *called* genotypes and then
  sets missing entries to 0; the two agree exactly when nothing is missing, and otherwise
  differ by the factor sqrt(c_j / n) per SNP (c_j called genotypes).

* Centred kinship, GEMMA ``-gk 1`` (``PlinkKin`` in GEMMA's ``src/gemma_io.cpp``):

      K = (1/p) Σ_j (x̃_j − μ_j 1)(x̃_j − μ_j 1)ᵀ,    no scaling.

  See :func:`kinship_centred` for which samples and SNPs GEMMA uses.

* Leave one chromosome out (LOCO): for chromosome c, K₋c is built from the SNPs on all other
  chromosomes, K₋c = (Σ_{chrom(j) ≠ c} z_j z_jᵀ) / M₋c.

Each block Z_b (n × b) is accumulated with a BLAS symmetric rank-k update (``dsyrk``, upper
triangle), S ← S + Z_b Z_bᵀ, so memory is one n × n matrix plus one block; the lower triangle is
filled once at the end, so K is exactly symmetric.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from scipy.linalg.blas import dsyrk
from tqdm import tqdm

from exactlmm.errors import InputError
from exactlmm.io.plink import PlinkDataset, iter_genotype_blocks
from exactlmm.qc import GEMMA_MAF, GEMMA_MISSING, qc_mask, snp_stats


def _impute_centre(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X̃ − 1μᵀ, number of calls per column): missing entries become exactly 0."""
    called = ~np.isnan(G)
    n_called = called.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(called, G, 0.0).sum(axis=0) / n_called
    return np.where(called, G - mean, 0.0), n_called


def _describe(bad: np.ndarray, snp_ids: Sequence[str] | np.ndarray | None) -> str:
    count = int(np.count_nonzero(bad))
    first = int(np.argmax(bad))
    name = f"SNP {snp_ids[first]}" if snp_ids is not None else f"column {first + 1}"
    return f"{count} SNP{'s' if count > 1 else ''} (first: {name})"


MONOMORPHIC = (
    "monomorphic among the analysed samples; standardised genotypes are undefined — drop "
    "them with a minor-allele-frequency filter (--maf)"
)
UNCALLED = "without any called genotype among the analysed samples — drop them with --geno"


def _standardised_columns(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Z, bad): z = (x̃ − μ)/s per column; ``bad`` marks columns with s = 0 (left unscaled)."""
    Z, _ = _impute_centre(np.asarray(G, dtype=np.float64))
    sd = np.sqrt(np.einsum("ij,ij->j", Z, Z) / Z.shape[0])
    bad = ~(sd > 0)  # also NaN: no call at all
    Z /= np.where(bad, 1.0, sd)
    return Z, bad


def _centred_columns(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Z, bad): z = x̃ − μ per column; ``bad`` marks columns without any call."""
    Z, n_called = _impute_centre(np.asarray(G, dtype=np.float64))
    return Z, n_called == 0


def standardise(
    G: np.ndarray, path: object | None = None, *, snp_ids: Sequence[str] | None = None
) -> np.ndarray:
    """Mean-impute, centre and scale each column: z = (x̃ − μ) / s, s = sd(x̃) with ddof 0.

    ``G`` is samples × SNPs with NaN for missing calls.  A column with no variance among its
    calls (monomorphic, or no call at all) cannot be scaled: ``InputError`` naming ``path``
    (the ``.bed`` file), the count and the first such SNP (``snp_ids`` gives the names).
    """
    Z, bad = _standardised_columns(G)
    if bad.any():
        raise InputError(f"{_describe(bad, snp_ids)} {MONOMORPHIC}", path=path)
    return Z


def centre(
    G: np.ndarray, path: object | None = None, *, snp_ids: Sequence[str] | None = None
) -> np.ndarray:
    """Mean-impute and centre each column (GEMMA ``-gk 1``): x̃ − μ.  A column without any
    call has no mean: ``InputError`` naming ``path``.  Monomorphic columns become 0."""
    Z, bad = _centred_columns(G)
    if bad.any():
        raise InputError(f"{_describe(bad, snp_ids)} {UNCALLED}", path=path)
    return Z


TRANSFORMS = {
    "standardised": (_standardised_columns, MONOMORPHIC),
    "centred": (_centred_columns, UNCALLED),
}


def _symmetrise_upper(S: np.ndarray) -> np.ndarray:
    """Fill the strict lower triangle from the upper one, in place."""
    lower = np.tril_indices(S.shape[0], -1)
    S[lower] = S.T[lower]
    return S


def _n_selected(index: np.ndarray | None, size: int) -> int:
    if index is None:
        return size
    index = np.asarray(index)
    return int(np.count_nonzero(index)) if index.dtype == bool else int(index.size)


def _accumulate(
    ds: PlinkDataset,
    sample_index: np.ndarray | None,
    snp_index: np.ndarray | None,
    method: str,
    block_size: int,
    progress: bool,
    by_chromosome: bool,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Upper triangles of Σ z_j z_jᵀ (per chromosome, or under the key "" for all) and counts.

    SNPs that ``method`` cannot transform are collected over the whole pass (the rest of the
    pass then skips the products) and reported together in one ``InputError``.
    """
    columns, problem = TRANSFORMS[method]
    n = _n_selected(sample_index, ds.n_samples)
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    bad_ids: list[str] = []
    total = _n_selected(snp_index, ds.n_snps)
    with tqdm(total=total, unit="SNP", desc="kinship", file=sys.stderr,
              disable=not progress) as bar:
        for positions, G in iter_genotype_blocks(ds, sample_index, snp_index, block_size):
            Z, bad = columns(G)
            bar.update(positions.size)
            if bad.any() or bad_ids:
                bad_ids.extend(ds.snp[positions[bad]].tolist())
                continue
            groups = ds.chrom[positions] if by_chromosome else np.full(positions.size, "")
            for chrom in dict.fromkeys(groups.tolist()):
                cols = groups == chrom
                Zc = np.asfortranarray(Z if cols.all() else Z[:, cols])
                if chrom not in sums:
                    sums[chrom] = np.zeros((n, n), order="F")
                    counts[chrom] = 0
                sums[chrom] = dsyrk(1.0, Zc, beta=1.0, c=sums[chrom], trans=0, lower=0,
                                    overwrite_c=1)
                counts[chrom] += int(Zc.shape[1])
    if bad_ids:
        raise InputError(
            f"{_describe(np.ones(len(bad_ids), dtype=bool), bad_ids)} {problem}",
            path=ds.bed_path,
        )
    if not counts:
        raise InputError("no SNPs selected for the kinship", path=ds.bim_path)
    return sums, counts


def kinship_standardised(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    snp_index: np.ndarray | None = None,
    block_size: int = 4096,
    progress: bool = False,
) -> tuple[np.ndarray, int]:
    """K = Z Zᵀ / M over the selected samples (rows, in the order given) and SNPs; returns (K, M).

    Z is :func:`standardise` applied block by block, M the number of SNPs used.  Every selected
    SNP must be polymorphic among the selected samples (filter with ``qc.qc_mask``).
    """
    sums, counts = _accumulate(ds, sample_index, snp_index, "standardised", block_size,
                               progress, by_chromosome=False)
    K, M = sums[""], counts[""]
    K /= M
    return _symmetrise_upper(K), M


def kinship_centred(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    snp_index: np.ndarray | None = None,
    block_size: int = 4096,
    progress: bool = False,
) -> tuple[np.ndarray, int]:
    """GEMMA ``-gk 1``: K = (1/p) Σ_j (x̃_j − μ_j)(x̃_j − μ_j)ᵀ; returns (K, p).

    μ_j is the mean of the called genotypes among the selected samples, missing calls are set
    to μ_j, nothing is scaled, p counts every selected SNP (a monomorphic one adds 0).

    To reproduce ``gemma -bfile P -gk 1`` exactly (GEMMA 0.98.5, ``PARAM::CalcKin`` →
    ``PlinkKin``): GEMMA builds K over **all** ``.fam`` individuals (``ni_total``, means over
    all of them), but from the SNPs that pass its QC on the **analysed** individuals — those
    with a non-missing phenotype (``-n``, default ``.fam`` column 6) and covariates — i.e.
    missingness ≤ 0.05, 0.01 ≤ af ≤ 0.99, polymorphic (``ReadFile_bed``).  That is
    :func:`kinship_like_gemma`, or::

        stats = qc.snp_stats(ds, analysed_fam_index)
        K, p = kinship_centred(ds, None, qc.qc_mask(stats, 0.01, 0.05))
    """
    sums, counts = _accumulate(ds, sample_index, snp_index, "centred", block_size, progress,
                               by_chromosome=False)
    K, p = sums[""], counts[""]
    K /= p
    return _symmetrise_upper(K), p


def kinship_like_gemma(
    ds: PlinkDataset,
    analysed_index: np.ndarray | None,
    block_size: int = 4096,
    progress: bool = False,
) -> tuple[np.ndarray, int]:
    """``gemma -gk 1``'s matrix: centred kinship over all ``.fam`` samples, from the SNPs that
    pass GEMMA's default QC (MAF ≥ 0.01, missingness ≤ 0.05, polymorphic) on the analysed
    samples ``analysed_index`` (e.g. ``SampleMatch.fam_index``).  No covariate R² filter:
    GEMMA applies that only when covariates are given."""
    stats = snp_stats(ds, analysed_index, block_size, progress=progress)
    mask = qc_mask(stats, GEMMA_MAF, GEMMA_MISSING)
    return kinship_centred(ds, None, mask, block_size, progress)


def kinship_loco(
    ds: PlinkDataset,
    sample_index: np.ndarray | None = None,
    snp_index: np.ndarray | None = None,
    block_size: int = 4096,
    progress: bool = False,
    *,
    method: str = "standardised",
) -> dict[str, tuple[np.ndarray, int]]:
    """Leave-one-chromosome-out kinships: {chrom c: (K₋c, M₋c)}, from one pass over the data.

    K₋c = (S − S_c) / (M − M_c), where S_c = Σ_{j on c} z_j z_jᵀ and S = Σ_c S_c; z is
    :func:`standardise` (``method="standardised"``) or :func:`centre` (``"centred"``), computed
    per SNP over the selected samples, so it does not depend on which chromosome is left out.

    Memory: one n × n float64 matrix per chromosome plus one for S, (C + 1) · 8n² bytes
    (n = 2000, C = 20: 0.67 GB; n = 5000, C = 3: 0.8 GB); the returned matrices reuse the
    per-chromosome buffers.  Needs SNPs on at least two chromosomes.  Keys are chromosome
    codes as in the ``.bim`` file, in order of first appearance.
    """
    if method not in TRANSFORMS:
        raise ValueError(f"method must be 'standardised' or 'centred', got {method!r}")
    sums, counts = _accumulate(ds, sample_index, snp_index, method, block_size, progress,
                               by_chromosome=True)
    if len(sums) < 2:
        raise InputError(
            f"leave-one-chromosome-out needs SNPs on two or more chromosomes; all selected "
            f"SNPs are on chromosome {next(iter(sums))}",
            path=ds.bim_path,
        )
    total = next(iter(sums.values())).copy(order="F")
    for S_c in list(sums.values())[1:]:
        total += S_c
    m_total = sum(counts.values())
    out: dict[str, tuple[np.ndarray, int]] = {}
    for chrom, S_c in sums.items():
        np.subtract(total, S_c, out=S_c)
        m_rest = m_total - counts[chrom]
        S_c /= m_rest
        out[chrom] = (_symmetrise_upper(S_c), m_rest)
    return out
