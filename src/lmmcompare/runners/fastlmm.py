"""Run FaST-LMM (``fastlmm.association.single_snp``, 0.6.13) and write our two result files.

What ``single_snp`` does with our inputs (read in ``fastlmm/association/single_snp.py``,
``fastlmm/inference/lmm_cov.py`` and ``pysnptools/standardizer``):

* K0 = our kinship cut to the analysed samples, given as a pysnptools ``KernelData``.  It is
  rescaled in place to mean diagonal 1, K' = K·n/tr K = K/t (``DiagKtoN``, called from
  ``_find_h2_s_u_for_one_pheno`` via ``_Mixer.combine_the_best_way``), not re-centred.
* The covariates get an intercept column appended (``_internal_single``) and are projected
  out of K', y and the SNPs (``lmm_cov.LMM.setSU_fromK``/``rotate``): REML.  h2 is fitted
  once on the null (``findH2``: a 10-point grid on [0, 0.99999] then Brent), with
  V = σ²(h2·K' + (1 − h2)I), and held for every SNP — FaST-LMM has no per-SNP refit, so only
  ``fixed`` mode exists (its registry entry says why a ``refit`` run is skipped).
* SNPs are read ``count_A1=True`` (copies of ``.bim`` column 5, our ``a1``) and unit
  standardised (``Unit``: mean and ddof-0 SD over the called samples, then missing → 0,
  i.e. mean imputation).  ``SnpWeight`` is β per SD: β per copy of a1 = SnpWeight / SD and
  se = SnpWeightSE / SD, with SD computed the same way here.
* ``PValue`` is a Wald test, β²/Var(β) against F(1, n − c − 1), Var(β) with σ² = r²/(n − c − 1)
  (``_multi_compute_stats``, ``nLLcore``).  No LRT or score test: ``p_lrt``/``p_score`` NA.
* ``leave_out_one_chrom`` must be False with a precomputed kernel.

The null log-likelihood is not in ``single_snp``'s output; we pass it a ``cache_file``, in
which it saves the eigen-decomposition (S, U) and h2 of the null, and evaluate FaST-LMM's own
``lmm_cov.LMM.nLLeval(h2)`` on that cache: nLL = −REML (``params.reml_from_fastlmm_nll``).
σ² of V = σ²(h2K' + (1 − h2)I) follows from the same nLL:
nLL = ½[Σ log(h2 sᵢ + 1 − h2) + N(log(2πσ²) + 1)], N = n − c.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from exactlmm.io.results import TESTED
from exactlmm.provenance import package_version
from lmmcompare import params
from lmmcompare.runners import RunRequest, ToolFailed
from lmmcompare.runners._common import (
    empty_stat_columns,
    iter_snp_blocks,
    load,
    record_block,
    write_run,
)

TOOL = "fastlmm"
PACKAGE = "fastlmm"


def _null_nll(lmm_class, cache_file: Path, design: np.ndarray, y: np.ndarray) -> dict:
    """FaST-LMM's null nLL and σ² at its fitted h2, from the ``single_snp`` cache file."""
    with np.load(cache_file) as cache:
        S, U, h2 = cache["S"], cache["U"], float(np.ravel(cache["h2_0"])[0])
    lmm = lmm_class(X=design, Y=y.reshape(-1, 1), K=None, G=None, S=S, U=U)
    nll = float(np.ravel(lmm.nLLeval(h2=h2)["nLL"])[0])
    dof = y.size - design.shape[1]
    logdet = float(np.log(h2 * S + (1.0 - h2)).sum())
    sigma2 = math.exp((2.0 * nll - logdet) / dof - 1.0) / (2.0 * math.pi)
    return {"h2": h2, "nLL": nll, "sigma2": sigma2}


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """Run ``single_snp`` (fixed mode, its registry entry); write ``out.assoc.tsv`` and
    ``out.null.json``."""
    from fastlmm.association import single_snp
    from fastlmm.inference.lmm_cov import LMM as lmm_class
    from pysnptools.kernelreader import KernelData
    from pysnptools.snpreader import Bed, SnpData

    inputs = load(request)
    ids = inputs.sample_ids
    y = inputs.y
    # FaST-LMM rescales (its own copy of) K to mean diagonal 1; kernel.val is left as given.
    kernel = KernelData(iid=ids, val=inputs.kinship.copy())
    pheno_data = SnpData(iid=ids, sid=np.array(["pheno"]), val=y.reshape(-1, 1).copy())
    covariates = inputs.samples.covariates
    covar_data = (
        SnpData(iid=ids, sid=np.array(inputs.samples.covariate_names), val=covariates.copy())
        if covariates.shape[1]
        else None
    )
    test_snps = Bed(str(inputs.dataset.bed_path), count_A1=True)[:, inputs.snp_index]

    with tempfile.TemporaryDirectory(prefix="fastlmm-") as tmp:
        cache_file = Path(tmp) / "null_cache.npz"
        try:
            frame = single_snp(
                test_snps=test_snps,
                pheno=pheno_data,
                K0=kernel,
                covar=covar_data,
                leave_out_one_chrom=False,
                cache_file=str(cache_file),
                count_A1=True,
            )
        except Exception as err:  # FaST-LMM raises AssertionError/ValueError/LinAlgError
            raise ToolFailed(f"fastlmm single_snp failed: {type(err).__name__}: {err}") from err
        # FaST-LMM appends the intercept after the covariates; order does not change nLL.
        design = np.column_stack([covariates, np.ones(inputs.n_samples)])
        null = _null_nll(lmm_class, cache_file, design, y)

    if frame.shape[0] != inputs.snp_index.size:
        raise ToolFailed(f"single_snp returned {frame.shape[0]} rows for {inputs.snp_index.size}")
    frame = frame.sort_values("sid_index")
    expected = inputs.dataset.snp[inputs.snp_index]
    if not np.array_equal(frame["SNP"].to_numpy().astype(str), expected):
        raise ToolFailed("single_snp returned SNPs in an unexpected order")
    null_h2 = float(frame["Nullh2"].iloc[0])
    if not math.isclose(null_h2, null["h2"], rel_tol=0, abs_tol=1e-12):
        raise ToolFailed(f"Nullh2 {null_h2} differs from the cached null h2 {null['h2']}")

    m = inputs.snp_index.size
    stats = empty_stat_columns(m)
    sd = np.full(m, np.nan)
    for block in iter_snp_blocks(inputs):
        record_block(stats, block)
        sd[block.rows] = block.sd
    # SNPs ours cannot test (errcode) are NA whatever FaST-LMM returned for them (for a SNP in
    # the covariate span it gives β = 0, p = 1).
    testable = stats["errcode"] == TESTED
    weight = frame["SnpWeight"].to_numpy(dtype=np.float64)
    weight_se = frame["SnpWeightSE"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats["beta"] = np.where(testable, weight / sd, np.nan)
        stats["se"] = np.where(testable, weight_se / sd, np.nan)
    stats["p_wald"] = np.where(testable, frame["PValue"].to_numpy(dtype=np.float64), np.nan)

    # FaST-LMM's h2 is on K·n/tr(K); the conversion assumes that scaling (its source, see
    # docs/PEERS-VERIFIED.md).  Its scale cannot be read back from single_snp, so no
    # "K_scaling" is passed to to_standard (it would only compare t with itself): the scaling is
    # verified instead on a kinship with t ≈ 3 against PyLMM (tests/test_peers.py, which fails
    # if t is dropped from the conversion) and against ours on HS1940 (t = 0.36, the workflow's
    # rel_diff_gamma tolerance; measured 1e-7 relative).
    t = inputs.kinship_mean_diag
    native = {"h2": null_h2, "assumed_K_scale": t, "nLL": null["nLL"], "sigma2": null["sigma2"]}
    write_run(out, TOOL, package_version(PACKAGE), request, mode, inputs, stats, native,
              null_delta=True,
              loglik=params.reml_from_fastlmm_nll(null["nLL"]),
              beta=None,  # FaST-LMM projects the covariates out, never estimates their effects
              api="fastlmm.association.single_snp", leave_out_one_chrom=False, count_A1=True,
              pysnptools=package_version("pysnptools"))
