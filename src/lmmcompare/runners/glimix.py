"""Run glimix-core (``glimix_core.lmm.LMM`` + ``FastScanner``, 3.1.12) and write our two files.

What glimix-core does with our inputs (read in glimix-core v3.1.12, ``glimix_core/lmm/_lmm.py``,
``glimix_core/lmm/_lmm_scan.py``, ``glimix_core/lmm/_b.py``, and numpy-sugar 1.5
``numpy_sugar/linalg``; the installed package is that tag's source):

* Inputs, all ours: y = our phenotype, X = our design (``AnalysisInputs.covariates``: the
  intercept column we add, then our covariates; glimix-core adds no intercept of its own), K =
  our kinship cut to the analysed samples, as given, through ``QS = economic_qs(K)`` — ``eigh``
  of K with the eigenpairs of eigenvalue < √ε ≈ 1.5e-8 dropped (so a negative or null
  eigenvalue counts as 0; ``native.kinship_rank`` says how many were kept).  Genotypes are our
  mean-imputed dosages (copies of ``a1``) of the testable SNPs (errcode ``.``,
  ``_common.iter_snp_blocks``): glimix-core reads no genotype file, so the allele coding and the
  samples are ours by construction (its sample and covariate counts are checked).
* Model (``LMM`` docstring, ``v0``/``v1`` properties): y ~ N(Xβ, s((1 − δ_g)K + δ_g I)), so
  σg² = v0 = s(1 − δ_g) and σe² = v1 = sδ_g on K as given; γ = v0/v1 = (1 − δ_g)/δ_g
  (``registry._glimix_to_standard``).  ``fit`` maximises over the logistic variable
  log(δ_g/(1 − δ_g)) = log(σe²/σg²) — our log δ — with Brent (``optimix`` ``_maximize_scalar``,
  ``rtol = atol = 1e-6``: γ to about 1e-6 relative), β and s profiled out.
* ``restricted=True``: s = yᵀB(y − Xβ̂)/(n − c) (``_optimal_scale_using_optimal_beta``, ``_df``
  = n − rank X) and ``lml()`` = ``_lml_optimal_scale`` + ½(log|XᵀX| − log|XᵀD⁻¹X/s|), i.e.
  −½[(n − c)log 2π + (n − c) + (n − c) log s + log|D| + log|XᵀD⁻¹X| − log|XᵀX|] with
  D = (1 − δ_g)K + δ_g I: the exact REML of ``lmmcompare.params`` (the D-scale and the H-scale
  REML are equal, D = δ_g H, s = σe²/δ_g), written to ``null.json`` ``loglik`` unchanged.
* ``get_fast_scanner()`` builds ``FastScanner(y, X, ((Q0,), v0·S0), v1)``: B = (v0K + v1I)⁻¹ =
  H⁻¹/σe² with the **null** variances, built once (P3D: nothing of the variance ratio is re-fitted
  per SNP).  ``fast_scan(M)`` solves, per SNP j with E = [X, m_j], (EᵀBE)b = EᵀBy (GLS, so
  ``effsizes1`` = our β̂) and re-optimises only the scale by **ML**, s_j = r_j/n with
  r_j = (y − Eb)ᵀB(y − Eb) (``_1covariate_loop``/``_multicovariate_loop``; ``null_scale`` is
  (n − c)/n at the REML null).  Its ``lml`` is the ML log-likelihood at (null ratio, s_j), not
  used here.  ``effsizes1_se`` depends on the number of columns of X:

  - c = 1 (``_1covariate_loop``): se² = s_j·[(EᵀBE)⁻¹]ⱼⱼ (``hinv``), the ML scale with
    denominator n;
  - c > 1 (``_multicovariate_loop``): se² = [(EᵀBE)⁻¹]ⱼⱼ (``nice_inv`` = pinv of EᵀBE + 1e-12 I),
    the scale **not** applied, i.e. σe² held at the null REML value.

* Our Wald test (``params`` module docstring; ours, FaST-LMM, PyLMM, EMMAX in fixed mode):
  Var(β̂) = σ̂²[(EᵀH⁻¹E)⁻¹]ⱼⱼ with σ̂² = r_j^H/(n − c − 1) = σe² r_j/(n − c − 1) and
  [(EᵀH⁻¹E)⁻¹]ⱼⱼ = [(EᵀBE)⁻¹]ⱼⱼ/σe², so Var(β̂) = r_j[(EᵀBE)⁻¹]ⱼⱼ/(n − c − 1)
  = [(EᵀBE)⁻¹]ⱼⱼ · s_j · n/(n − c − 1).  Hence

      se² = effsizes1_se² · n/(n − c − 1)              (c = 1),
      se² = effsizes1_se² · scale_j · n/(n − c − 1)    (c > 1),

  and p_wald = F(1, n − c − 1) upper tail of β̂²/se².  The two conventions are checked on every
  run against the identity t² = (n − c − 1)(s₀/s_j − 1), s₀ = ``null_scale`` (with the ratio
  fixed, the F statistic is the drop of the residual sum): a glimix-core whose se convention
  differs fails the run (``ToolFailed``) instead of giving wrong p-values.
* No LRT or score test is reported (``p_lrt``, ``p_score``, ``delta_ml`` NA); ``delta`` is the
  null δ = 1/γ.  Null β are ``LMM.beta`` (order of X); FastScanner's ``lml`` is not reported.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import scipy.special

from exactlmm.provenance import package_version
from lmmcompare.runners import RunRequest, ToolFailed
from lmmcompare.runners._common import (
    empty_stat_columns,
    iter_snp_blocks,
    load,
    record_block,
    write_run,
)

TOOL = "glimix"
PACKAGE = "glimix-core"

WALD_CHECK_RTOL = 1e-6
"""Relative tolerance of the per-SNP check of β̂²/se² against (n − c − 1)(s₀/s_j − 1)."""
WALD_CHECK_ATOL = 1e-6
"""Absolute tolerance of that check (t² near 0 loses relative digits in s₀/s_j − 1)."""


def wald_from_scan(
    result: dict[str, np.ndarray], null_scale: float, n: int, c: int
) -> dict[str, np.ndarray]:
    """Our Wald β, se and p from one ``FastScanner.fast_scan`` result (module docstring).

    ``c`` is the number of columns of X (the intercept included): it selects glimix-core's
    ``effsizes1_se`` convention.  A SNP whose numbers are not finite gets NaN (the run marks it
    ``TOOL_FAILED`` and goes on); raises ``ToolFailed`` when β̂²/se² disagrees with
    (n − c − 1)(s₀/s_j − 1) for a SNP whose numbers are finite — another convention, wrong for
    every SNP.
    """
    dof = n - c - 1
    beta = np.asarray(result["effsizes1"], dtype=np.float64)
    se_glimix = np.asarray(result["effsizes1_se"], dtype=np.float64)
    scale = np.asarray(result["scale"], dtype=np.float64)
    var = se_glimix**2 * (n / dof)
    if c > 1:
        var = var * scale
    se = np.sqrt(var)
    f_stat = beta**2 / var
    from_scales = dof * (null_scale / scale - 1.0)
    finite = np.isfinite(f_stat) & np.isfinite(from_scales) & np.isfinite(beta)
    bad = finite & ~(
        np.abs(f_stat - from_scales) <= WALD_CHECK_ATOL + WALD_CHECK_RTOL * np.abs(f_stat)
    )
    if np.any(bad):
        j = int(np.flatnonzero(bad)[0])
        raise ToolFailed(
            f"glimix-core FastScanner: β²/se² = {f_stat[j]!r} but (n − c − 1)(s0/s − 1) = "
            f"{from_scales[j]!r} for {int(bad.sum())} SNP(s): its effsizes1_se convention is "
            "not the one of glimix-core 3.1.12"
        )
    with np.errstate(invalid="ignore"):
        p_wald = scipy.special.fdtrc(1, dof, f_stat)
    return {name: np.where(finite, values, np.nan)
            for name, values in (("beta", beta), ("se", se), ("p_wald", p_wald))}


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """Fit glimix-core's REML null model and scan every testable SNP at its variance ratio (fixed
    mode, its registry entry); write ``out.assoc.tsv`` and ``out.null.json``."""
    from glimix_core.lmm import LMM
    from numpy_sugar.linalg import economic_qs

    inputs = load(request)
    n, c = inputs.n_samples, inputs.n_covariates
    X = inputs.covariates
    try:
        QS = economic_qs(inputs.kinship)
        lmm = LMM(inputs.y, X, QS, restricted=True)
        lmm.fit(verbose=False)
        scanner = lmm.get_fast_scanner()
        null_scale = float(scanner.null_scale)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:
        raise ToolFailed(f"glimix-core LMM null fit failed: {type(err).__name__}: {err}") from err
    if lmm.nsamples != n or lmm.ncovariates != c or lmm.X.shape != (n, c):
        raise ToolFailed(
            f"glimix-core used {lmm.nsamples} samples and {lmm.ncovariates} covariates; "
            f"expected {n} and {c}"
        )

    m = inputs.snp_index.size
    stats = empty_stat_columns(m)
    for block in iter_snp_blocks(inputs):
        record_block(stats, block)
        testable = block.testable
        if not testable.any():
            continue
        try:
            with warnings.catch_warnings():
                # _multicovariate_loop assigns a 1-element array to a scalar (numpy ≥ 1.25
                # warns once per SNP; glimix-core 3.1.14 takes .flat[0]): same value.
                warnings.filterwarnings(
                    "ignore", message="Conversion of an array with ndim > 0 to a scalar",
                    category=DeprecationWarning,
                )
                result = scanner.fast_scan(block.dosage[:, testable], verbose=False)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:
            raise ToolFailed(f"glimix-core fast_scan failed: {type(err).__name__}: {err}") from err
        if result["effsizes1"].shape != (int(testable.sum()),):
            raise ToolFailed("glimix-core fast_scan returned a result per SNP of another length")
        wald = wald_from_scan(result, null_scale, n, c)
        rows = block.rows[testable]
        for name, values in wald.items():
            stats[name][rows] = values

    delta_g, scale = float(lmm.delta), float(lmm.scale)
    native = {
        "delta": delta_g,
        "scale": scale,
        "v0": float(lmm.v0),
        "v1": float(lmm.v1),
        "lml": float(lmm.lml()),
        "scanner_null_scale": null_scale,
        "kinship_rank": int(QS[1].size),
    }
    # restricted=True: lml() is the exact REML (module docstring), no constant to remove;
    # fixed mode: the null δ = 1/γ for every tested SNP.
    write_run(out, TOOL, package_version(PACKAGE), request, mode, inputs, stats, native,
              loglik=native["lml"], beta=np.ravel(lmm.beta), null_delta=True,
              api="glimix_core.lmm.LMM(restricted=True).get_fast_scanner().fast_scan",
              numpy_sugar=package_version("numpy-sugar"))
