"""Run GEMMA (Debian ``gemma`` 0.98.5, ``-lmm 4``) and write our two result files.

What GEMMA does with the input set written here (read in GEMMA v0.98.5 ``src/``):

* Samples: GEMMA analyses the ``.fam`` samples whose phenotype (``.fam`` field 6 here) is not
  ``NA``/−9 and whose ``-c`` covariate row has no ``NA`` (``ReadFile_fam``, ``ReadFile_cvt``,
  ``PARAM::ProcessCvtPhen``).  We write our phenotype into field 6 and ``NA`` for every
  sample we do not analyse, so GEMMA analyses exactly our samples.
* Kinship: ``-k`` is the N × N file over all ``.fam`` samples; ``ReadFile_kin`` cuts it to the
  analysed samples and ``CenterMatrix`` then **re-centres** it, K_c = PKP, P = I − 11ᵀ/n
  (``src/gemma.cpp``, LMM branch), and eigenvalues below 1e-10 are set to 0
  (``EigenDecomp_Zeroed``).  With the intercept in X this changes no REML quantity — the
  null REML λ, per-SNP REML λ, β, se and ``p_wald`` are those of K — but the ML quantities
  (``l_mle``, ``p_lrt``, ``p_score``, the null MLE log-likelihood) and GEMMA's pve
  (t_c = tr(K_c)/n) belong to K_c.  See ``lmmcompare.params``.
* Covariates: ``-c`` rows hold a column of ones (GEMMA adds no intercept of its own when
  ``-c`` is given) then our covariates.  Without covariates no ``-c`` is passed and GEMMA
  uses the intercept alone.  The file must end in a newline (``ReadFile_cvt`` drops an
  unterminated last line).
* Genotypes: ``ReadFile_bed``/``AnalyzePlink`` count copies of the first ``.bim`` allele
  (PLINK code 00 → 2), i.e. our ``a1``; output ``allele1`` = ``.bim`` column 5.  Missing calls
  are replaced by the SNP's mean over the analysed samples.
* SNPs: ``-snps`` restricts the test to our list; QC is switched off with ``-miss 1``
  (``n_miss/n > 1`` never holds), ``-maf 0`` (``maf < 0 || maf > 1`` never holds), ``-r2 1``
  (the covariate-collinearity filter, only active with > 1 covariate column) and ``-hwe 0``
  (off, also the default).  GEMMA still drops SNPs whose called genotypes in the analysed
  samples are all 0, all 1 or all 2 (``(n_0+n_1)==0 || (n_1+n_2)==0 || (n_2+n_0)==0``), i.e.
  constant SNPs, which no tool can test; they get NA rows here, as with the other peers.
* ``-lmm 4`` (``LMM::AnalyzePlink``): ``p_wald`` at the per-SNP REML λ (``l_remle``),
  F(1, n − c − 1); ``p_lrt`` χ²(1) of 2(ML₁ − ML₀) with the per-SNP ML λ (``l_mle``) against
  the null ML; ``p_score`` at the null ML λ, F(1, n − c − 1) of n(xᵀPy)²/(yᵀPy·xᵀPx).  β and se
  are the Wald ones.  So δ = 1/``l_remle``, δ_ml = 1/``l_mle``.  GEMMA has no Wald test at a
  fixed λ: GEMMA has no ``fixed`` mode (its registry entry).
* Null model (``output/PREFIX.log.txt``): REML and ML log-likelihoods, pve, se(pve), vg, ve
  and β, each printed with 6 significant digits; λ itself is not printed (its line is
  commented out in ``gemma.cpp``), so λ = vg/ve (``CalcLmmVgVeBeta`` sets vg = λ·ve), good
  to ~5e-6 relative.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from exactlmm.io.results import TESTED
from exactlmm.pipeline import AnalysisInputs
from lmmcompare import formats, params, registry
from lmmcompare.runners import RunRequest, ToolFailed
from lmmcompare.runners._common import load, summarized_snps, write_run
from lmmcompare.runners.input_files import fam_text, id_list, link_genotypes
from lmmcompare.runners.program import program_run
from lmmcompare.runners.tool_output import (
    check_agrees,
    log_values,
    mark_not_reported,
    read_output,
    reported_rows,
)

TOOL = "gemma"
QC_OFF = ("-miss", "1", "-maf", "0", "-r2", "1", "-hwe", "0")
"""GEMMA options that switch its SNP filters off (see the module docstring)."""

AF_DECIMALS = 3
"""GEMMA prints ``af`` with 3 decimals."""

OUTPUTS = ("output/result.assoc.txt", "output/result.log.txt")
"""GEMMA's association table and log (``-o result``)."""

FORMAT = formats.PRESETS["gemma"]
"""GEMMA's ``output/PREFIX.assoc.txt`` (``lmmcompare.formats``: allele1 = .bim column 5, the
per-SNP λ and ``n_miss`` as extra columns)."""

LOG_PATTERNS = {
    "n_total": r"number of total individuals = (\S+)",
    "n_analysed": r"number of analyzed individuals = (\S+)",
    "n_covariates": r"number of covariates = (\S+)",
    "n_snps": r"number of analyzed SNPs/var = (\S+)",
    "logl_remle": r"REMLE log-likelihood in the null model = (\S+)",
    "logl_mle": r"MLE log-likelihood in the null model = (\S+)",
    "pve": r"pve estimate in the null model = (\S+)",
    "se_pve": r"se\(pve\) in the null model = (\S+)",
    "vg": r"vg estimate in the null model = (\S+)",
    "ve": r"ve estimate in the null model = (\S+)",
    "beta": r"beta estimate in the null model = (.*)",
    "se_beta": r"se\(beta\) = (.*)",
}


def parse_log(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Null-model numbers from GEMMA's ``output/PREFIX.log.txt`` (``-lmm``, one phenotype):
    counts as int, the log-likelihoods, pve, se_pve, vg, ve as float and ``beta``, ``se_beta``
    as lists (covariate order of the ``-c`` file)."""
    patterns = {key: rf"^## {pattern}$" for key, pattern in LOG_PATTERNS.items()}
    found = log_values(Path(path).read_text(), patterns, str(path))
    out: dict[str, Any] = {}
    for key, (value,) in found.items():
        if key.startswith("n_"):
            out[key] = int(value)
        elif key in ("beta", "se_beta"):
            out[key] = [float(v) for v in value.split()]
        else:
            out[key] = float(value)
    return out


def write_input_set(inputs: AnalysisInputs, directory: Path, snp_ids: np.ndarray) -> list[str]:
    """Write GEMMA's inputs into ``directory``; return the options naming them.

    ``data.bed``/``data.bim`` are symbolic links to ours; ``data.fam`` is ours with field 6
    replaced by our phenotype (``repr``, exact) or ``NA``; ``snps.txt`` lists ``snp_ids``;
    ``covar.txt`` (only with covariates) holds ``1 c1 … ck`` or ``NA`` rows in ``.fam`` order.
    """
    link_genotypes(inputs, directory)
    (directory / "data.fam").write_text(fam_text(inputs, phenotype=True))
    (directory / "snps.txt").write_text(id_list(snp_ids))
    options = ["-bfile", "data", "-snps", "snps.txt"]
    covariates = inputs.samples.covariates
    if covariates.shape[1]:
        lines = [" ".join(["NA"] * (1 + covariates.shape[1]))] * inputs.dataset.n_samples
        for row, i in enumerate(inputs.samples.fam_index):
            lines[int(i)] = " ".join(["1", *(repr(float(v)) for v in covariates[row])])
        (directory / "covar.txt").write_text("\n".join(lines) + "\n")
        options += ["-c", "covar.txt"]
    return options


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """Run ``gemma -lmm 4`` (refit mode, its registry entry); write ``out.assoc.tsv`` and
    ``out.null.json``."""
    inputs = load(request)
    columns, stats = summarized_snps(inputs)
    given = np.flatnonzero(stats["errcode"] == TESTED)
    with program_run(request, TOOL) as work:
        # Only SNPs ours can test reach GEMMA: it crashes (GSL "function value is not finite"
        # in its λ search) on a SNP in the covariate span.
        options = write_input_set(inputs, work.directory, columns["snp"][given])
        arguments = [*options, "-k", str(Path(request.kinship).resolve()), *QC_OFF,
                     "-lmm", "4", "-o", "result"]
        console = work.run(arguments, OUTPUTS, progress_marks=("====",))
        table = read_output(work.path(OUTPUTS[0]), FORMAT, "GEMMA")
        log = parse_log(work.path(OUTPUTS[1]))
    version_match = re.search(r"GEMMA (\S+)", console.text)

    n, c = inputs.n_samples, inputs.n_covariates
    if log["n_analysed"] != n or log["n_covariates"] != c:
        raise ToolFailed(
            f"GEMMA analysed {log['n_analysed']} samples with {log['n_covariates']} covariates; "
            f"expected {n} and {c}"
        )
    rows = reported_rows(columns["snp"], given, table.snp, "GEMMA")
    _check_coding(table, columns, stats, rows, n)

    stats["beta"][rows] = table.beta
    stats["se"][rows] = table.se
    for name in registry.statistics_of(TOOL):  # -lmm 4 gives all three, named as ours
        stats[name][rows] = table.pvalues[name]
    stats["delta"][rows] = params.delta_from_gamma(
        params.gamma_from_gemma_lambda(table.extra["l_remle"]), strict=False
    )
    stats["delta_ml"][rows] = params.delta_from_gamma(
        params.gamma_from_gemma_lambda(table.extra["l_mle"]), strict=False
    )
    # GEMMA drops constant SNPs silently (errcode MONOMORPHIC/NO_CALLS by our rule); a testable
    # SNP it did not report is NOT_REPORTED.
    mark_not_reported(stats, rows, "GEMMA")

    K = inputs.kinship
    t_centered = float(np.trace(K) - K.sum() / n) / n
    native = {
        "lambda": log["vg"] / log["ve"],
        "pve": log["pve"],
        "se_pve": log["se_pve"],
        "vg": log["vg"],
        "ve": log["ve"],
        "logl_remle": log["logl_remle"],
        "logl_mle": log["logl_mle"],
        "beta": log["beta"],
        "se_beta": log["se_beta"],
        "K_centered_mean_diag": t_centered,
        "n_snps_tested": int(log["n_snps"]),
    }
    # The kinship as given, not its resolved path: provenance must not depend on where the
    # checkout lives.
    command = ["gemma", *options, "-k", request.kinship, *arguments[len(options) + 2:]]
    # GEMMA re-centres K over the analysed samples: its PVE uses t of that K.
    write_run(out, TOOL, version_match.group(1) if version_match else None, request, mode,
              inputs, stats, native, loglik=log["logl_remle"], beta=log["beta"],
              mean_diag=t_centered, command=command)


def _check_coding(table: formats.ResultTable, columns: dict[str, np.ndarray],
                  stats: dict[str, np.ndarray], rows: np.ndarray, n: int) -> None:
    """GEMMA's alleles, called counts and a1 frequencies must be ours (else β's sign is off)."""
    for theirs, column, ours in (("allele1", table.effect_allele, "a1"),
                                 ("allele0", table.other_allele, "a2")):
        check_agrees("GEMMA", theirs, column, columns[ours][rows], f"our {ours}: allele coding")
    check_agrees("GEMMA", "called counts (n - n_miss)", n - table.extra["n_miss"],
                 stats["n"][rows], "ours: other samples")
    check_agrees("GEMMA", "af", table.af, stats["af"][rows], "our a1 frequencies: allele "
                 "coding", atol=0.5 * 10.0**-AF_DECIMALS + 1e-9)
