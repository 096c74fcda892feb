"""Run BOLT-LMM (Debian ``bolt-lmm`` 2.4.0, ``bolt --lmm``) and write our two result files.

What BOLT-LMM does with the input set written here, and the source lines that say so, is in
``docs/PEERS-VERIFIED.md`` (BOLT-LMM): our samples, phenotype and covariates, the SNPs ours can
test as ``--modelSnps`` (:func:`check_snps` says when BOLT cannot run LOCO on them), allele
coding checked; LOCO on its own GRM, K_B = (n − 1)/n · K_std (``registry._bolt_to_standard``),
one seeded Monte-Carlo REML δ; no likelihood; its refusals of a dataset are skipped runs.  One
run gives both statistics (table: the ``bolt`` format preset): ``p_wald`` from the calibrated
retrospective score χ² of the infinitesimal model (BOLT_LMM_INF; the bytes of
``--lmmInfOnly``), below our Wald F for a strong effect, and ``p_bolt_mix`` from its Bayesian
mixture model (BOLT_LMM) when its cross-validation finds that predicts better (relative MSE
gain ≥ 1 %); when BOLT declines, the column is NA and its words are in ``native["mixture"]``.
``--LDscoresUseChip``: ``--lmm`` calibrates with LD scores and Debian's BOLT ships no table.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from exactlmm.io.results import TESTED
from exactlmm.pipeline import AnalysisInputs
from lmmcompare import formats
from lmmcompare.runners import RunRequest, SkipRun, ToolFailed
from lmmcompare.runners._common import load, summarized_snps, write_run
from lmmcompare.runners.bolt_console import parse_log, parse_mixture
from lmmcompare.runners.input_files import (
    fam_text,
    id_list,
    link_genotypes,
    sample_list,
    sample_table,
)
from lmmcompare.runners.program import program_run
from lmmcompare.runners.tool_output import (
    check_agrees,
    check_counts,
    mark_not_reported,
    read_output,
    reported_rows,
)

TOOL = "bolt"
SEED = 0
"""``--seed`` (its default, given): its Monte-Carlo REML and calibration SNPs depend on it."""

N_AUTOSOMES = 22
"""BOLT's default ``--Nautosomes``: numeric chromosome codes 1..23 are accepted (23 = X)."""

N_CALIB_SNPS = 30
"""``--numCalibSnps``: with fewer model SNPs BOLT 2.4 crashes (``Bolt::selectProSnps``)."""

QC_OFF = ("--maxMissingPerSnp=1", "--maxMissingPerIndiv=1", "--noMapCheck")
"""Its SNP and sample filters (and its genetic-map check) off."""

MODEL = ("--lmm", "--LDscoresUseChip")
"""Both models (module docstring)."""

FORMAT = formats.PRESETS["bolt"]
"""The ``--verboseStats`` stats file (``lmmcompare.formats``: p from the 6-digit
``CHISQ_BOLT_LMM_INF`` and, when the mixture model was computed, ``CHISQ_BOLT_LMM``; the χ² of
a SNP it could not test, ``Bolt::BAD_SNP_STAT`` = −1e9, missing; ``F_MISS`` and the printed
P columns as extra columns)."""

PRINTED_DIGITS = 6
"""BOLT writes A1FREQ, F_MISS, BETA, SE and χ² with the stream default, 6 significant digits."""
P_PRINTED_REL = 0.06
"""``P_BOLT_LMM_INF`` is printed ``%.1E``: within 5 % (plus χ² rounding) of the exact tail."""
SKIP_MESSAGES = (
    "Heritability estimate is close to 0",
    "Heritability estimate is close to 1",
    "LOCO mixed model analysis requires >= 2 chromosomes",
)
"""BOLT's refusals of a dataset: a skipped run (with BOLT's words), not a failure."""


def thread_environment(threads: int) -> dict[str, str]:
    """``bolt``'s environment besides the job's threads: ``threads`` OpenMP threads, waiting
    passively (busy-waiting made two threads ~5× slower on a loaded machine), one BLAS thread
    (with two, 4 of HS1940's 10,768 rows change in the last digit: the bytes would depend on
    the thread count)."""
    return {"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def bolt_chromosome(code: str, n_autosomes: int = N_AUTOSOMES) -> int:
    """BOLT's integer for a ``.bim`` chromosome code (``SnpData::chrStrToInt``), −1 if it
    rejects it: ``chr``, then 1..n_autosomes + 1 (``atoi``) or X, XY, PAR1, PAR2 (the last)."""
    if code.startswith("chr"):
        code = code[3:]
    if code[:1].isdigit():
        number = int(re.match(r"\d+", code).group(0))
        return number if 1 <= number <= n_autosomes + 1 else -1
    return n_autosomes + 1 if code in ("X", "XY", "PAR1", "PAR2") else -1


def check_snps(chrom: np.ndarray) -> None:
    """``SkipRun`` unless BOLT can run LOCO on the tested SNPs with these chromosome codes: all
    accepted and kept distinct, two chromosomes or more, :data:`N_CALIB_SNPS` SNPs or more."""
    codes = list(dict.fromkeys(chrom.astype(str).tolist()))
    numbers = {code: bolt_chromosome(code) for code in codes}
    if rejected := [code for code, number in numbers.items() if number == -1]:
        raise SkipRun(f"BOLT-LMM rejects chromosome code(s) {', '.join(rejected[:5])} of tested "
                      f"SNPs (it takes 1-{N_AUTOSOMES + 1}, X, XY, PAR1, PAR2)")
    if len(set(numbers.values())) != len(codes):
        raise SkipRun(f"BOLT-LMM would merge chromosome codes {', '.join(codes)} (X, XY, PAR1, "
                      f"PAR2 and {N_AUTOSOMES + 1} are one chromosome to it): its LOCO groups "
                      "would differ from ours")
    if len(codes) < 2:
        raise SkipRun("BOLT-LMM's LOCO mixed model analysis requires >= 2 chromosomes; the tested "
                      f"SNPs are all on chromosome {codes[0] if codes else '(none)'}")
    if chrom.size < N_CALIB_SNPS:
        raise SkipRun(f"BOLT-LMM needs at least {N_CALIB_SNPS} tested SNPs (--numCalibSnps; it "
                      f"crashes with fewer), there are {chrom.size}")


def write_input_set(inputs: AnalysisInputs, directory: Path, tested: np.ndarray) -> list[str]:
    """Write BOLT's inputs into ``directory`` (our ``.fam`` with an integer sex and phenotype
    −9, as BOLT 2.4 needs; ``remove.txt``, ``pheno.txt``, ``covar.txt``, ``model.txt`` = the
    ``tested`` SNPs, ``exclude.txt`` = the others); return the options naming them."""
    ds = inputs.dataset
    link_genotypes(inputs, directory)
    (directory / "data.fam").write_text(fam_text(inputs, phenotype=False, integer_sex=True))
    fam_index = inputs.samples.fam_index
    fid, iid = ds.fid[fam_index].tolist(), ds.iid[fam_index].tolist()
    options = ["--bfile=data"]
    others = np.setdiff1d(np.arange(ds.n_samples), fam_index)
    if others.size:
        (directory / "remove.txt").write_text(sample_list(ds.fid[others], ds.iid[others]))
        options.append("--remove=remove.txt")
    listed = np.zeros(ds.n_snps, dtype=bool)
    listed[inputs.snp_index[tested]] = True
    (directory / "model.txt").write_text(id_list(ds.snp[listed]))
    if not listed.all():
        (directory / "exclude.txt").write_text(id_list(ds.snp[~listed]))
        options.append("--exclude=exclude.txt")
    options.append("--modelSnps=model.txt")
    (directory / "pheno.txt").write_text(sample_table(fid, iid, inputs.y, ("FID", "IID", "PHENO")))
    options += ["--phenoFile=pheno.txt", "--phenoCol=PHENO"]
    covariates = inputs.samples.covariates
    if covariates.shape[1]:
        names = [f"COV{j + 1}" for j in range(covariates.shape[1])]
        (directory / "covar.txt").write_text(
            sample_table(fid, iid, covariates, ("FID", "IID", *names)))
        options += ["--covarFile=covar.txt", *(f"--qCovarCol={name}" for name in names)]
    return options


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """Run ``bolt --lmm`` (loco mode, its registry entry); write ``out.assoc.tsv`` and
    ``out.null.json``."""
    inputs = load(request, with_kinship=False)  # loco: BOLT builds its own GRM
    columns, stats = summarized_snps(inputs)
    tested = stats["errcode"] == TESTED
    check_snps(columns["chrom"][tested])

    threads = max(1, int(request.threads))
    with program_run(request, TOOL, env=thread_environment(threads)) as work:
        options = write_input_set(inputs, work.directory, tested)
        arguments = [*options, *MODEL, *QC_OFF, f"--seed={SEED}", "--verboseStats",
                     "--statsFile=stats.tab", f"--numThreads={threads}"]
        console = work.run(arguments, ["stats.tab"], refusals=SKIP_MESSAGES, tail_lines=6)
        table = read_output(work.path("stats.tab"), FORMAT, "BOLT-LMM")
    log = parse_log(console.text)
    mixture = parse_mixture(console.text)
    version_match = re.search(r"BOLT-LMM, v(\S+)", console.stdout)

    n = inputs.n_samples
    check_counts("BOLT-LMM", {"samples (Nused)": log["n_used"], "covariates with the intercept "
                              "(Cindep)": log["c_indep"]}, (n, inputs.n_covariates))
    rows = reported_rows(columns["snp"], np.flatnonzero(tested), table.snp, "BOLT-LMM")
    _check_coding(table, columns, stats, rows, n)
    # A SNP BOLT could not test (χ² = −1e9, the preset's missing spelling) has no p:
    # write_results makes it TOOL_FAILED.
    for statistic, printed in (("p_wald", "P_BOLT_LMM_INF"), ("p_bolt_mix", "P_BOLT_LMM")):
        if statistic in table.pvalues:
            _check_printed_p(table.pvalues[statistic], table.extra[printed], printed)
            stats[statistic][rows] = table.pvalues[statistic]
    if ("p_bolt_mix" in table.pvalues) != (mixture["mixture"] == "computed"):
        raise ToolFailed(f"BOLT-LMM's mixture model: {mixture['mixture']}, but its table "
                         f"{'has' if 'p_bolt_mix' in table.pvalues else 'lacks'} CHISQ_BOLT_LMM")
    native = {**{key: log[key] for key in ("log_delta", "sigma2_K", "h2g", "n_used", "c_indep",
                                           "calibration", "mc_trials")},
              "seed": SEED, "n_chromosomes": log["n_chroms"], "log_delta_from": "logDelta",
              **mixture}
    # Threads are left out of the command recorded: the bytes do not depend on them.
    command = ["bolt", *(a for a in arguments if not a.startswith("--numThreads"))]
    good = np.isfinite(table.pvalues["p_wald"])  # the infinitesimal model's β and se
    stats["beta"][rows[good]] = table.beta[good]
    stats["se"][rows[good]] = table.se[good]
    mark_not_reported(stats, rows, "BOLT-LMM")
    # One δ for every chromosome, on K_std (t = 1).
    write_run(out, TOOL, version_match.group(1) if version_match else None, request, mode,
              inputs, stats, native, loglik=None, beta=None, mean_diag=1.0, null_delta=True,
              command=command)


def _check_coding(table: formats.ResultTable, columns: dict[str, np.ndarray],
                  stats: dict[str, np.ndarray], rows: np.ndarray, n: int) -> None:
    """BOLT's alleles, a1 frequencies and missing fractions must be ours (else β's sign or the
    samples are off)."""
    for label, theirs, ours in (("ALLELE1", table.effect_allele, "a1"),
                                ("ALLELE0", table.other_allele, "a2")):
        check_agrees("BOLT-LMM", label, theirs, columns[ours][rows],
                     f"our {ours} (.bim column {5 if ours == 'a1' else 6}): allele coding")
    rtol = 10.0 ** (1 - PRINTED_DIGITS)
    check_agrees("BOLT-LMM", "A1FREQ", table.af, stats["af"][rows],
                 "our a1 frequency: allele coding or sample mismatch", rtol=rtol, atol=1e-9)
    check_agrees("BOLT-LMM", "F_MISS", table.extra["F_MISS"], 1.0 - stats["n"][rows] / n,
                 "our missing-call fractions", rtol=rtol, atol=1e-9)


def _check_printed_p(p: np.ndarray, printed: np.ndarray, column: str) -> None:
    """The χ²(1) tail of a CHISQ_ column must match BOLT's own (rounded) P column (where both
    are normal doubles; BOLT prints an asymptotic P below the smallest one)."""
    ok = (p > 1e-300) & (printed > 1e-300)
    if np.any(np.abs(np.log(printed[ok] / p[ok])) > math.log1p(P_PRINTED_REL)):
        raise ToolFailed(f"BOLT-LMM's {column} is not the chi2(1) tail of its CHISQ_ column")
