"""Run PLINK 2 (Debian ``plink2`` 2.00a3.5, ``--glm``) and write our two result files.

PLINK 2 fits no kinship: per SNP, ordinary least squares of y on [1, covariates, a1 dosage],
the baseline that shows what the mixed model buys (registry mode ``none``; γ = 0 by
construction, ``registry._plink2_to_standard``).  A case-control phenotype (exactly two
values: the larger is the case) gets PLINK 2's own model for one, logistic regression with
Firth's penalised likelihood where the logistic fit fails to converge (``--glm
firth-fallback``; β = log odds ratio, Wald z; written 1 = control, 2 = case, the
``.glm.logistic.hybrid`` table read with the ``plink2`` preset of :mod:`lmmcompare.formats`):
the baseline of the study's binary scenarios.  What it does with the input set written here,
and the lines of plink-ng ``v2.00a3.5`` that say so, is in ``docs/PEERS-VERIFIED.md``
(PLINK 2).  In short: a ``.fam`` of our own (sample ``s<i>``: no ID can be misparsed),
``--keep`` our samples, our phenotype (centred when all its values lie in {0, 1, 2}, which
PLINK 2 would read as case/control, unless it is one: :func:`phenotype_values`) and our
covariates without the intercept, variance-standardized (β, se, p unchanged); its
collinearity filters opened, so it tests what ours tests; ``--extract`` the SNPs ours can
test, a negative ``.bim`` position (which it drops) written as 0; ``omit-ref``, so A1 = ALT =
our ``a1`` (checked, with positions, ``OBS_CT`` and ``A1_FREQ``).  Missing calls: complete
cases per SNP where ours mean-imputes.  ``ERRCODE`` ``CONST_*`` become ``MONOMORPHIC``,
``VIF_INFINITE`` ``COLLINEAR``, others ``TOOL_FAILED``.  X, Y, XY and MT (sex covariate,
haploid calls) would be treated unlike ours: a run with such SNPs is skipped.  The kinship is
read with the other inputs but not used.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from exactlmm.io.results import TESTED
from exactlmm.pipeline import AnalysisInputs
from lmmcompare import formats
from lmmcompare.runners import RunRequest, SkipRun, ToolFailed
from lmmcompare.runners._common import load, summarized_snps, write_run
from lmmcompare.runners.input_files import id_list, link_genotypes, sample_list, sample_table
from lmmcompare.runners.program import program_run
from lmmcompare.runners.tool_output import (
    check_agrees,
    log_values,
    mark_not_reported,
    read_output,
    reported_rows,
)

TOOL = "plink2"
PHENOTYPE = "y"
OUT = "result"
GLM_FILE = f"{OUT}.{PHENOTYPE}.glm.linear"
MEMORY_MIB = "1024"
"""``--memory``: PLINK 2 otherwise reserves half the machine's RAM (its minimum is 640)."""

LOGISTIC_FILE = f"{OUT}.{PHENOTYPE}.glm.logistic.hybrid"
"""The table of a case-control phenotype (``--glm firth-fallback``)."""

LOGISTIC_COLS = "chrom,pos,ref,alt,a1freq,firth,test,nobs,beta,se,tz,p,err"
"""Its columns (``FIRTH?`` says where Firth regression was used; ``beta``: log odds ratio)."""

GLM_COLS = "chrom,pos,ref,alt,a1freq,nobs,beta,se,tz,p,err"
"""``--glm cols=``: ``#CHROM POS ID REF ALT A1 A1_FREQ OBS_CT BETA SE T_STAT P ERRCODE`` (with
``hide-covar``), read by the ``plink2`` format of ``lmmcompare.formats``, whose ERRCODE map
(``CONST_*`` → ``MONOMORPHIC``, ``VIF_INFINITE`` → ``COLLINEAR``, any other → ``TOOL_FAILED``)
is the one used here."""
FORMAT = formats.PRESETS["plink2"]

SPECIAL_CHROMOSOMES = frozenset({"X", "Y", "XY", "MT", "M", "23", "24", "25", "26"})
"""Chromosome codes PLINK 2's default (human) chromosome set does not treat as autosomes."""

SIGNIFICANT_DIGITS = 6
"""PLINK 2 prints BETA, SE, P and A1_FREQ with 6 significant digits."""

LOG_COUNTS = {
    "n_keep": r"--keep: (\d+) samples? remaining",
    "n_after_filters": r"(\d+) samples? \([^)]*\) remaining after main filters",
}
"""Sample counts read from PLINK 2's log (whitespace-normalized: PLINK wraps its lines)."""

PHENOTYPE_COUNTS = (r"(\d+) quantitative phenotype values? remaining after main filters",
                    r"(\d+) cases? and (\d+) controls? remaining after main filters")
"""The analysed phenotype values in the log: quantitative, or cases and controls."""


def parse_log(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Sample and covariate counts and the version from PLINK 2's ``result.log``."""
    text = " ".join(Path(path).read_text().split())
    out: dict[str, Any] = {key: int(value) for key, (value,)
                           in log_values(text, LOG_COUNTS, str(path)).items()}
    quantitative, case_control = (re.search(pattern, text) for pattern in PHENOTYPE_COUNTS)
    if case_control is not None:
        out["n_cases"], out["n_controls"] = (int(v) for v in case_control.groups())
        out["n_phenotype"] = out["n_cases"] + out["n_controls"]
    elif quantitative is not None:
        out["n_phenotype"] = int(quantitative.group(1))
    else:
        raise ToolFailed(f"{path}: no line counting the phenotype values after its filters")
    covariates = re.search(r"(\d+) covariates? loaded from", text)
    out["n_covariates"] = int(covariates.group(1)) if covariates else 0
    version = re.search(r"PLINK v(\S+)", text)
    out["version"] = version.group(1) if version else None
    return out


def bim_positions(pos: np.ndarray) -> np.ndarray:
    """The ``.bim`` positions PLINK 2 is given: a negative one (PLINK's "exclude this
    variant", which ``LoadPvar`` in ``plink2_pvar.cc`` skips) becomes 0 (unknown)."""
    return np.maximum(np.asarray(pos, dtype=np.int64), 0)


def is_case_control(y: np.ndarray) -> bool:
    """Whether the phenotype is case/control: exactly two distinct values."""
    return np.unique(y).size == 2


def case_control_values(y: np.ndarray) -> np.ndarray:
    """PLINK's case/control coding of a two-valued phenotype: 1 = control (the smaller value),
    2 = case."""
    return np.where(y == y.max(), 2.0, 1.0)


def phenotype_values(y: np.ndarray) -> tuple[np.ndarray, bool]:
    """The phenotype PLINK 2 is given, and whether it was centred (module docstring): y, or
    y − ȳ when every value is 0, 1 or 2 (PLINK 2 would read it as case/control)."""
    if np.all(np.isin(y, (0.0, 1.0, 2.0))):
        return y - y.mean(), True
    return y, False


def write_input_set(
    inputs: AnalysisInputs, directory: Path, snp_ids: np.ndarray, case_control: bool = False
) -> tuple[list[str], bool]:
    """Write PLINK 2's inputs into ``directory``; return the options naming them and whether
    the phenotype was centred (``case_control``: written 1/2 for ``--glm firth-fallback``).

    ``data.bed`` is a symbolic link to ours; ``data.bim`` is ours with negative positions set
    to 0 (:func:`bim_positions`); ``data.fam`` names the ``.fam``
    samples ``s0, s1, …`` in ``.fam`` order; ``keep.txt``, ``pheno.txt`` (``#FID IID y``) and
    ``covar.txt`` (``#FID IID c1 … ck``, only with covariates) hold the analysed samples;
    ``snps.txt`` lists ``snp_ids``.
    """
    ds = inputs.dataset
    link_genotypes(inputs, directory, extensions=("bed",))
    bim = zip(ds.chrom.tolist(), ds.snp.tolist(), ds.cm.tolist(), bim_positions(ds.pos).tolist(),
              ds.a1.tolist(), ds.a2.tolist(), strict=True)
    (directory / "data.bim").write_text(
        "".join(f"{c}\t{s}\t{m!r}\t{p}\t{a}\t{b}\n" for c, s, m, p, a, b in bim)
    )
    ids = np.char.add("s", np.arange(ds.n_samples).astype(str))
    (directory / "data.fam").write_text("".join(f"{s} {s} 0 0 0 -9\n" for s in ids))
    kept = ids[inputs.samples.fam_index].tolist()
    (directory / "keep.txt").write_text(sample_list(kept, kept))
    if case_control:
        y, centered = case_control_values(inputs.y), False
    else:
        y, centered = phenotype_values(inputs.y)
    (directory / "pheno.txt").write_text(sample_table(kept, kept, y, ("#FID", "IID", PHENOTYPE)))
    (directory / "snps.txt").write_text(id_list(snp_ids))
    options = [
        "--bfile", "data", "--keep", "keep.txt", "--extract", "snps.txt",
        "--pheno", "pheno.txt", "--pheno-name", PHENOTYPE, "--no-input-missing-phenotype",
    ]  # fmt: skip
    covariates = inputs.samples.covariates
    k = covariates.shape[1]
    if k:
        names = [f"c{j + 1}" for j in range(k)]
        (directory / "covar.txt").write_text(
            sample_table(kept, kept, covariates, ("#FID", "IID", *names)))
        options += [
            "--covar", "covar.txt", "--covar-name", names[0] if k == 1 else f"c1-c{k}",
            "--covar-variance-standardize",
        ]  # fmt: skip
    glm = ["--glm", "hide-covar", "omit-ref", "no-x-sex"]
    glm += ["firth-fallback", f"cols={LOGISTIC_COLS}"] if case_control else [f"cols={GLM_COLS}"]
    if not k:
        glm.append("allow-no-covars")
    options += [*glm, "--max-corr", "1", "--vif", "1e300"]
    return options, centered


def _check_chromosomes(chrom: np.ndarray) -> None:
    codes = (code.upper() for code in np.unique(np.asarray(chrom, dtype=str)).tolist())
    special = sorted(
        {code for code in codes if code.removeprefix("CHR") in SPECIAL_CHROMOSOMES}
    )
    if special:
        raise SkipRun(
            f"PLINK 2 treats chromosome(s) {', '.join(special)} as sex/mitochondrial "
            "chromosomes (sex covariate, haploid calls); ours treats every SNP as autosomal"
        )


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """Run ``plink2 --glm`` (mode ``none``, its registry entry); write ``out.assoc.tsv`` and
    ``out.null.json``."""
    # The same loader as every tool, without the kinship file (linear regression uses none).
    inputs = load(request, with_kinship=False)
    columns, stats = summarized_snps(inputs)
    tested = np.flatnonzero(stats["errcode"] == TESTED)
    _check_chromosomes(columns["chrom"][tested])

    case_control = is_case_control(inputs.y)
    result = LOGISTIC_FILE if case_control else GLM_FILE
    with program_run(request, TOOL) as work:
        options, centered = write_input_set(inputs, work.directory, columns["snp"][tested],
                                            case_control=case_control)
        settings = ["--memory", MEMORY_MIB, "--out", OUT]
        threads = ["--threads", str(max(1, int(request.threads)))]
        work.run([*options, *settings, *threads], [result, f"{OUT}.log"],
                 progress_marks=("%",))
        table = read_output(work.path(result), FORMAT, "PLINK 2")
        log = parse_log(work.path(f"{OUT}.log"))

    n, k = inputs.n_samples, inputs.samples.covariates.shape[1]
    counts = (log["n_keep"], log["n_after_filters"], log["n_phenotype"])
    if counts != (n, n, n) or log["n_covariates"] != k:
        raise ToolFailed(
            f"PLINK 2 kept {log['n_keep']} samples, {log['n_after_filters']} after its filters, "
            f"{log['n_phenotype']} with a phenotype, and {log['n_covariates']} covariates; "
            f"expected {n} samples and {k} covariates"
        )
    rows = reported_rows(columns["snp"], tested, table.snp, "PLINK 2")
    _check_coding(table, columns, stats, rows)

    ok = table.errcode == TESTED  # PLINK 2's ERRCODE, mapped to ours by its format
    stats["beta"][rows] = np.where(ok, table.beta, np.nan)
    stats["se"][rows] = np.where(ok, table.se, np.nan)
    stats["p_wald"][rows] = np.where(ok, table.pvalues["p_wald"], np.nan)
    stats["errcode"][rows[~ok]] = table.errcode[~ok]
    mark_not_reported(stats, rows, "PLINK 2")

    native = {
        "n_samples": log["n_after_filters"],
        "n_covariates": log["n_covariates"],
        "n_snps_reported": int(rows.size),
        "errcodes": dict(sorted(Counter(table.tool_errcode.tolist()).items())),
        "model": "logistic, Firth fallback" if case_control else "linear",
        **({"n_cases": log["n_cases"], "n_controls": log["n_controls"]} if case_control
           else {}),
        "phenotype_centered": centered,
        "covar_variance_standardize": bool(k),
    }
    # The command: everything but the binary's path and the thread count (which changes no
    # number), so the same config gives the same bytes; no kinship: γ = 0, pve = 0 whatever t.
    write_run(out, TOOL, log["version"], request, mode, inputs, stats, native, loglik=None,
              beta=None, mean_diag=1.0, command=["plink2", *options, *settings])


def _check_coding(table: formats.ResultTable, columns: dict[str, np.ndarray],
                  stats: dict[str, np.ndarray], rows: np.ndarray) -> None:
    """PLINK 2's alleles, positions, called counts and A1 frequencies must be ours (else β's
    sign, or the samples, are off): A1 (the allele β counts) our a1, the other of REF and ALT
    our a2 (the format's ``other_allele``; empty when A1 is neither)."""
    for theirs, column, ours in (("A1", table.effect_allele, "a1"),
                                 ("REF/ALT other than A1", table.other_allele, "a2")):
        check_agrees("PLINK 2", theirs, column, columns[ours][rows], f"our {ours}: allele coding")
    check_agrees("PLINK 2", "POS", table.pos, bim_positions(columns["pos"][rows]),
                 "the .bim's positions")
    check_agrees("PLINK 2", "OBS_CT", table.n, stats["n"][rows],
                 "our called counts: different samples")
    check_agrees("PLINK 2", "A1_FREQ", table.af, stats["af"][rows],
                 "our a1 frequencies: allele coding",
                 rtol=0.5 * 10.0 ** (1 - SIGNIFICANT_DIGITS), atol=1e-12)
