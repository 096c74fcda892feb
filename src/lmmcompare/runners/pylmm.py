"""Run PyLMM (``pylmm3`` 0.1.1, ``pylmm3.lmm.LMM``) and write our two result files.

PyLMM's model (``pylmm3/lmm.py``): V = σ²(hK + (1 − h)I) with K exactly as given (the
analysed samples' kinship; PyLMM neither rescales nor re-centres it), so h = γ/(1 + γ) and
γ = h/(1 − h) (``params.gamma_from_h2``).  Eigenvalues of K below 1e-6 are set to 1e-6.

* Null fit: ``LMM.fit()`` — REML, a grid h = 0, 0.01, …, 0.99 then Brent around each
  interior grid maximum.  Its log-likelihood is the exact REML plus the constant
  ``params.pylmm_reml_offset(n, c)``; ``null.json`` ``loglik`` has it removed.
* ``fixed`` mode: ``LMM.association(x)`` at the null h — a Wald t test with n − c − 1
  degrees of freedom, σ² = Q/(n − c − 1).
* ``refit`` mode: ``LMM.fit(X=x)`` re-estimates h by REML with the SNP among the fixed
  effects, then ``association(x)`` uses it.  ``fit`` overwrites the stored null h, so the
  null fit is restored afterwards.
* PyLMM has no LRT or score test: ``p_lrt``, ``p_score`` and ``delta_ml`` are NA.

We call the ``LMM`` class directly with complete data, not ``pylmm3.lmm.GWAS``: ``GWAS``
fails (``True - v`` on numpy booleans) on any missing phenotype or genotype and ignores its
REML flag.  The per-SNP loop below is the one ``GWAS`` runs (one ``association`` call per
SNP, after ``fit(X=x)`` when refitting) — PyLMM's own cost, which the comparison measures.
Genotypes are the ``a1`` dosages, missing calls replaced by the SNP's mean, *not*
standardised (``pylmmGWAS.py`` standardises them, which rescales β and leaves p unchanged),
so β is per copy of ``a1``.  SNPs constant in the analysed samples get NA.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from exactlmm.provenance import package_version
from lmmcompare import params
from lmmcompare.runners import RunRequest
from lmmcompare.runners._common import (
    empty_stat_columns,
    iter_snp_blocks,
    load,
    record_block,
    write_run,
)

TOOL = "pylmm"
PACKAGE = "pylmm3"


def _delta_from_h(h: np.ndarray) -> np.ndarray:
    """Per-SNP δ = (1 − h)/h via γ = h/(1 − h); h = 0 → δ = inf, h outside [0, 1] → NaN.

    PyLMM's Brent step is not bounded, so a refit h can leave [0, 1]; such values have no
    meaning as variance ratios and are written as NA.
    """
    out = np.full(h.shape, np.nan)
    ok = np.isfinite(h) & (h >= 0) & (h <= 1)
    gamma = params.gamma_from_h2(h[ok], strict=False)
    out[ok] = params.delta_from_gamma(gamma, strict=False)
    return out


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """Fit PyLMM's null model and test every listed SNP; write ``out.assoc.tsv``/``.null.json``."""
    from pylmm3.lmm import LMM
    inputs = load(request)
    n, c = inputs.n_samples, inputs.n_covariates

    lmm = LMM(inputs.y.copy(), inputs.kinship.copy(), X0=inputs.covariates)
    lmm.fit()  # REML (the default); sets optH, optLL, optBeta, optSigma
    null_state = {key: getattr(lmm, key) for key in ("optH", "optLL", "optBeta", "optSigma")}
    null_h = float(lmm.optH)

    m = inputs.snp_index.size
    stats = empty_stat_columns(m)
    h_used = np.full(m, np.nan)
    failed: list[str] = []
    for block in iter_snp_blocks(inputs):
        record_block(stats, block)
        for j, row in enumerate(block.rows):
            if not block.testable[j]:  # constant (or never called) in the analysed samples
                continue
            x = block.dosage[:, j : j + 1]
            if mode == "refit":
                try:
                    lmm.fit(X=x)
                except (RuntimeError, ValueError, FloatingPointError, np.linalg.LinAlgError):
                    # PyLMM's own optimiser gave up on this SNP (e.g. scipy's BracketError
                    # from its unbounded Brent step): PyLMM has no result for it, so NA.
                    failed.append(str(inputs.dataset.snp[inputs.snp_index[row]]))
                    stats["errcode"][row] = "TOOL_FAILED"
                    continue
            try:
                _, p, beta, var = lmm.association(x, REML=True, returnBeta=True)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                failed.append(str(inputs.dataset.snp[inputs.snp_index[row]]))
                stats["errcode"][row] = "TOOL_FAILED"
                continue
            stats["beta"][row] = beta
            stats["se"][row] = np.sqrt(np.ravel(var)[0])  # var comes back as a 1 × 1 array
            stats["p_wald"][row] = p
            h_used[row] = lmm.optH
    for key, value in null_state.items():  # fit(X=x) overwrote the null
        setattr(lmm, key, value)

    stats["delta"] = _delta_from_h(h_used)
    native = {
        "h": null_h,
        "sigma2": float(null_state["optSigma"]),
        "loglik_reml_pylmm": float(null_state["optLL"]),
        "reml_offset": params.pylmm_reml_offset(n, c),
        "kinship_eigenvalues_clamped": int(np.count_nonzero(lmm.Kva <= 1e-6)),
        "failures": len(failed),
        "failed_snps": failed[:20],
    }
    if failed:
        print(
            f"pylmm: warning: PyLMM failed for {len(failed)} SNP(s) "
            f"(first: {failed[0]}); they are NA",
            file=sys.stderr,
        )
    write_run(out, TOOL, package_version(PACKAGE), request, mode, inputs, stats, native,
              loglik=params.reml_from_pylmm(native["loglik_reml_pylmm"], n, c),
              beta=np.ravel(null_state["optBeta"]), api="pylmm3.lmm.LMM", reml=True)
