"""What the runners share: loading the request, SNP summaries, the null record and the two
output files.

Inputs come from the one loader of the project, :func:`exactlmm.pipeline.load_inputs`, called
here only (:func:`load`), so every tool analyses the same samples (``.fam`` order, phenotype
and covariates present), the same SNPs (the request's ``extract`` list, read by
``exactlmm.qc``) and the kinship cut to those samples.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from exactlmm.dosage import count_errcodes, describe_counts, impute_center
from exactlmm.inputs import AnalysisInputs, InputOptions, load_inputs
from exactlmm.io.plink import iter_genotype_blocks
from exactlmm.io.results import ERRCODE_DTYPE, STATISTIC_COLUMNS, TESTED, write_result_pair
from exactlmm.provenance import provenance
from exactlmm.scan import COLLINEAR_TOLERANCE
from lmmcompare import params, registry
from lmmcompare.runners import RunRequest

GENOTYPE_BLOCK = 2048
"""SNPs per block when streaming genotypes for the per-SNP summaries."""


def load(request: RunRequest, *, with_kinship: bool = True, center: bool = False
         ) -> AnalysisInputs:
    """Read and match every input of ``request`` (the harness's one call of
    ``exactlmm.inputs.load_inputs``): the kinship cut to the analysed samples, as given (each
    peer gets K as given) or double-centered over them with ``center``; no kinship at all with
    ``with_kinship=False`` (modes ``loco`` and ``none``: the tool builds its own, or uses
    none)."""
    return load_inputs(InputOptions(
        request.bfile, request.pheno, request.mpheno, request.covar,
        request.kinship if with_kinship else None, request.extract,
        center_kinship=center and with_kinship,
    ))


@dataclass(frozen=True)
class GenotypeBlock:
    """One block of tested SNPs for the analysed samples (``exactlmm.dosage`` does the work).

    ``rows`` are positions into ``AnalysisInputs.snp_index``; ``dosage`` holds copies of ``a1``
    with missing calls replaced by the SNP's mean over called samples (n × block); per SNP,
    ``n_called``, ``af`` (a1 frequency among called samples), ``sd`` (ddof-0 standard
    deviation over called samples, as pysnptools' ``Unit`` standardizer computes it) and
    ``errcode`` (``"."`` when testable, else why not: ``NO_CALLS``, ``MONOMORPHIC``).
    """

    rows: np.ndarray
    dosage: np.ndarray
    n_called: np.ndarray
    af: np.ndarray
    sd: np.ndarray
    errcode: np.ndarray

    @property
    def testable(self) -> np.ndarray:
        return self.errcode == TESTED


def iter_snp_blocks(
    inputs: AnalysisInputs, block_size: int = GENOTYPE_BLOCK
) -> Iterator[GenotypeBlock]:
    """Stream the tested SNPs, mean-imputed, in ``.bim`` order.

    ``errcode`` is our scan's: ``NO_CALLS``/``MONOMORPHIC`` by :mod:`exactlmm.dosage`, and
    ``COLLINEAR`` for a SNP in the span of the covariates X, ‖(I − QQᵀ)g‖² ≤
    ``scan.COLLINEAR_TOLERANCE`` · ‖g − ḡ‖² with Q an orthonormal basis of X — so every tool
    skips the SNPs ours cannot test, for the same reason.
    """
    q, _ = np.linalg.qr(inputs.covariates)
    offset = 0
    for _, g in iter_genotype_blocks(
        inputs.dataset, inputs.samples.fam_index, inputs.snp_index, block_size=block_size
    ):
        imputed = impute_center(g)
        residual = imputed.centered - q @ (q.T @ imputed.centered)
        collinear = imputed.testable & (
            np.einsum("ij,ij->j", residual, residual) <= COLLINEAR_TOLERANCE * imputed.sum_sq
        )
        rows = np.arange(offset, offset + g.shape[1])
        offset += g.shape[1]
        yield GenotypeBlock(
            rows=rows,
            dosage=imputed.centered + np.where(imputed.n_called > 0, imputed.mean, 0.0),
            n_called=imputed.n_called,
            af=imputed.af,
            sd=np.sqrt(imputed.called_variance),
            errcode=np.where(collinear, "COLLINEAR", imputed.errcode).astype(ERRCODE_DTYPE),
        )


def record_block(stats: dict[str, np.ndarray], block: GenotypeBlock) -> None:
    """Copy a block's ``n``, ``af`` and ``errcode`` into the statistics columns."""
    stats["n"][block.rows] = block.n_called
    stats["af"][block.rows] = block.af
    stats["errcode"][block.rows] = block.errcode


def snp_columns(inputs: AnalysisInputs) -> dict[str, np.ndarray]:
    """The SNP-description columns (chrom snp pos a1 a2) of the tested SNPs."""
    idx = inputs.snp_index
    ds = inputs.dataset
    return {
        "chrom": ds.chrom[idx],
        "snp": ds.snp[idx],
        "pos": ds.pos[idx],
        "a1": ds.a1[idx],
        "a2": ds.a2[idx],
    }


def empty_stat_columns(m: int) -> dict[str, np.ndarray]:
    """``n``, ``af``, the statistics and ``errcode`` for ``m`` SNPs: ``n`` 0, numbers NaN (NA),
    ``errcode`` '.' (tested)."""
    out: dict[str, np.ndarray] = {"n": np.zeros(m, dtype=np.int64)}
    for name in ("af", *STATISTIC_COLUMNS):
        out[name] = np.full(m, np.nan)
    out["errcode"] = np.full(m, TESTED, dtype=ERRCODE_DTYPE)
    return out


def summarized_snps(inputs: AnalysisInputs) -> tuple[dict[str, np.ndarray],
                                                     dict[str, np.ndarray]]:
    """The SNP columns and the statistics columns of the tested SNPs, ``n``, ``af`` and
    ``errcode`` filled from one pass over the genotypes (the statistics NA)."""
    stats = empty_stat_columns(inputs.snp_index.size)
    for block in iter_snp_blocks(inputs):
        record_block(stats, block)
    return snp_columns(inputs), stats


def write_results(out: str | os.PathLike[str], columns: dict[str, Any], record: dict) -> None:
    """Write ``OUT.assoc.tsv`` and ``OUT.null.json`` with ``exactlmm.io.results`` (NaN → NA).

    One rule for every peer, as for ours: a SNP marked tested for which the tool gave no Wald
    p-value is ``TOOL_FAILED``, and a SNP with an errcode has NA statistics.  The SNPs without
    statistics are counted per reason on stderr (the job's log).
    """
    errcode = np.asarray(columns["errcode"]).astype(ERRCODE_DTYPE)
    p_wald = np.asarray(columns["p_wald"], dtype=np.float64)
    errcode[(errcode == TESTED) & np.isnan(p_wald)] = "TOOL_FAILED"
    for name in STATISTIC_COLUMNS:
        columns[name] = np.where(errcode != TESTED, np.nan,
                                 np.asarray(columns[name], dtype=np.float64))
    columns["errcode"] = errcode
    counts = count_errcodes(errcode)
    if counts:
        print(f"{record['tool']}: {sum(counts.values())} of {errcode.size} SNPs without "
              f"statistics: {describe_counts(counts)}", file=sys.stderr)
    write_result_pair(out, columns, record)


def write_run(
    out: str | os.PathLike[str], tool: str, version: str | None, request: RunRequest,
    mode: str, inputs: AnalysisInputs, stats: dict[str, np.ndarray], native: dict[str, Any], /,
    *,
    loglik: float | None, beta: Sequence[float] | None, mean_diag: float | None = None,
    null_delta: bool = False, **settings: Any,
) -> None:
    """Write a run's ``OUT.null.json`` and ``OUT.assoc.tsv`` (:func:`write_results`).

    The record has the standard fields of the tool's registry conversion of its ``native``
    numbers (by its own names) and those numbers; ``mean_diag`` is t = tr(K)/n of the kinship
    the tool actually used when that is not the analysed samples' K as given (GEMMA re-centres
    K after subsetting; pve is on that K); every tool that gives a log-likelihood gives the REML
    one.  Its provenance holds the request as given, the mode and the tool's own ``settings``.
    The table is the tested SNPs' :func:`snp_columns` and ``stats``; with ``null_delta`` its
    ``delta`` is the null δ for every SNP it tested (a tool that holds the null variance ratio,
    or one for all chromosomes).
    """
    t = inputs.kinship_mean_diag if mean_diag is None else float(mean_diag)
    std = registry.get(tool).to_standard(native, t)
    parameters = {**request.as_dict(), "mode": mode, **settings}
    record = {
        "tool": tool, "version": version, "mode": mode,
        "likelihood": None if loglik is None else "REML",
        **{key: std[key] for key in ("gamma", "delta", "h2", "pve")},
        "kinship_mean_diag": t, "sigma_g2": std["sigma_g2"], "sigma_e2": std["sigma_e2"],
        "loglik": None if loglik is None else float(loglik),
        "beta": None if beta is None else [float(b) for b in beta],
        "covariates": inputs.covariate_names, "n_samples": inputs.n_samples,
        "n_covariates": inputs.n_covariates, "native": native,
        "provenance": provenance(tool, version, parameters),
    }
    if null_delta:
        delta = params.delta_from_gamma(record["gamma"], strict=False)
        stats["delta"] = np.where(stats["errcode"] == TESTED, delta, np.nan)
    write_results(out, {**snp_columns(inputs), **stats}, record)
