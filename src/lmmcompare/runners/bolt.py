"""Run BOLT-LMM (Debian ``bolt-lmm`` 2.4.0, ``bolt --lmmInfOnly``) and write our two result files.

What BOLT-LMM does with the input set written here (read in the BOLT-LMM v2.4/v2.5 sources,
``src/BoltMain.cpp``, ``src/Bolt.cpp``, ``src/SnpData.cpp``, ``src/BoltParams.cpp``):

* Samples: ``--remove`` lists every ``.fam`` sample we do not analyse, so BOLT keeps exactly
  ours (``SnpData::processIndivs``; BOLT 2.4 aborts on a non-numeric ``.fam`` phenotype such as
  ``NA``, so it reads a copy of our ``.fam`` with phenotype −9); the phenotype
  (``--phenoFile``) and covariate (``--covarFile``) files hold those samples only, by FID/IID,
  with our values (``repr``).  The log's ``Nused`` must be our n (else ``ToolFailed``).
  ``--maxMissingPerIndiv 1`` switches its sample missingness filter off (``numMissing > 1·M``
  never holds).
* Covariates: each of our numeric columns (categorical ones are already one-hot) is a
  ``--qCovarCol``; BOLT adds the all-ones column itself ("Using all-1s vector (constant term)
  in addition to specified covariates"), and every computation happens in the space orthogonal
  to the covariates (``CovariateBasis``; ``Bolt::conjGradSolve`` solves with
  H_proj = X_proj X_projᵀ/M + δ I_proj).  The log's ``Cindep`` must be our c (intercept
  included).
* SNPs: only the SNPs ours can test (errcode ``.``) reach BOLT: they are the ``--modelSnps``
  (the GRM) and every other ``.bim`` SNP is in ``--exclude``, so the stats file
  (``Bolt::streamComputeRetroLOCO``, which writes every non-excluded SNP) holds exactly them.
  ``--maxMissingPerSnp 1`` switches the SNP missingness filter off (``snpMissing <= 1``
  always holds); BOLT has no MAF filter for PLINK genotypes.  A SNP left with (almost) nothing
  after projecting out the covariates (``projNorm2 < 0.1``, ``Bolt::initMarker``) gets the
  sentinel statistic −1e9: reported, but without a statistic, so ``TOOL_FAILED`` here (ours
  found it testable); a listed SNP missing from the stats file is ``NOT_REPORTED``.  BOLT
  accepts chromosome codes 1–23, X, XY, PAR1, PAR2 (optionally ``chr``-prefixed;
  ``SnpData::chrStrToInt``, 22 autosomes); a tested SNP elsewhere cannot run (``SkipRun``).
  No genetic map is given: the map is only used for proximal-contamination windows inside one
  chromosome, which LOCO does not use, and ``--noMapCheck`` stops BOLT from refusing a ``.bim``
  whose 3rd column is in cM.
* Genotypes: ``SnpData::readBedLine`` maps PLINK code 00 (homozygous ``.bim`` column 5) to 2,
  so BOLT counts copies of our ``a1``; output ``ALLELE1``/``ALLELE0`` are ``.bim`` columns 5/6
  and ``A1FREQ`` is the ``a1`` frequency over the called analysed samples
  (``SnpData::computeAlleleFreq``).  Both are checked against ours (a flipped allele is a
  ``ToolFailed``), as is ``F_MISS``.  Missing calls are set to the SNP's mean
  (``genoLineToMaskedSnpVector``: x − 2·A1FREQ, missing → 0).
* GRM: ``Bolt::initMarker`` centres each model SNP over the analysed samples, sets missing
  calls to the mean and scales it to Σᵢ zᵢ² = Nused − 1; H = K_B + δI with K_B = Z Zᵀ/M.  Ours
  (``exactlmm.kinship``) scales to Σᵢ zᵢ² = n, so K_B = (n − 1)/n · K_std, K_std our
  standardized kinship of the same SNPs (mean diagonal 1).  LOCO (``--numLeaveOutChunks``
  default = number of chromosomes, ``Bolt::makeChunkAssignments``): the SNPs of chromosome c
  are tested against H₋c built from the model SNPs off c, with M₋c.  Fewer than two
  chromosomes among the tested SNPs is a ``SkipRun`` (BOLT: "LOCO mixed model analysis
  requires >= 2 chromosomes").
* Variance parameters (``Bolt::estLogDelta``): one δ = σe²/σ²_K for all chromosomes, fitted on
  the genome-wide GRM by a stochastic ("Monte-Carlo scaling") REML with 15 random trials
  (``setMCtrials``: min(4e9/N², 15), at least 3) and a secant search; its random numbers come
  from ``--seed`` (hidden option, default 0; ``boost::mt19937(seed + 1)``), passed as
  :data:`SEED` so that a run is reproducible.  The log prints ``sigma^2_K`` and ``logDelta``
  (``Variance params`` line, 6 decimals) and h2g = Xfro2/(Xfro2 + M(N−C)δ) (3 decimals; an
  approximation on the projected GRM).  BOLT aborts when log δ reaches ±10 ("Heritability
  estimate is close to 0" / "close to 1"): a ``SkipRun`` with BOLT's reason.  BOLT gives no
  likelihood: ``loglik`` is ``None``.  Conversion: ``registry._bolt_to_standard``.
* Test (``Bolt::computeLmmInf``, then ``Bolt::getSnpStats`` on the streamed genotypes):
  χ²_BOLT_LMM_INF = c·(N − C)(x_pᵀH₋c⁻¹y_p)²/(‖x_p‖²‖H₋c⁻¹y_p‖²) (p: projected off the
  covariates), a retrospective, GRAMMAR-Gamma-like statistic in which xᵀH⁻¹x is replaced by
  ‖x_p‖² times one constant: c is the sum of the prospective statistics
  (N − C)(xᵀH⁻¹y)²/(xᵀH⁻¹x · yᵀH⁻¹y) — the score test at the null δ — over the sum of the
  retrospective ones at ``--numCalibSnps`` = 30 random SNPs (one per 30th of the SNPs, drawn
  with ``mt19937(seed + 321)``), or the ratio of their medians when the jackknife s.e. of c
  exceeds 0.01 (``native.calibration`` is the factor used).  P = χ²(1) upper tail.  BOLT
  prints ``P_BOLT_LMM_INF`` with two significant digits only, so ``p_wald`` here is the χ²(1)
  tail of ``CHISQ_BOLT_LMM_INF`` (``--verboseStats``, six significant digits), checked against
  the printed P.  Being score-type, it is below our Wald F for a strong effect ((n − c)r²
  against (n − c − 1)r²/(1 − r²), r² = (xᵀPy)²/(xᵀPx·yᵀPy)).
* ``BETA`` = χ²/(VinvScaleFactor·x_pᵀr) = c(N − C)σ²_K·x_pᵀH₋c⁻¹y_p/(‖H₋c⁻¹y_p‖²‖x_p‖²),
  ``SE`` = |BETA|/√χ²: the generalized least squares xᵀV⁻¹y/xᵀV⁻¹x (V = σ²_K H) under the
  same approximation of xᵀV⁻¹x, with x = copies of ``ALLELE1`` (= our ``a1``) minus their
  mean: per copy of ``a1``, on the phenotype scale.  A dense numpy replica of χ² and BETA from
  BOLT's printed δ, σ²_K and c reproduces its file to its conjugate-gradient tolerance
  (``tests/test_peer_bolt.py``; 0.1–0.3 % on EUR_subset, HS1940 and a simulation).
  ``delta`` is the run's one δ on our K_std scale (1/γ of ``null.json``) for every SNP; BOLT
  has no LRT or score test.
* Threads: ``--numThreads`` and ``OMP_NUM_THREADS`` are ``request.threads``, BLAS runs one
  thread (:func:`thread_environment`), so the bytes do not depend on the thread count.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import chi2

from exactlmm.io.plink import read_fam_fields
from exactlmm.io.results import TESTED
from exactlmm.pipeline import AnalysisInputs
from lmmcompare.runners import RunRequest, SkipRun, ToolFailed, ToolNotInstalled
from lmmcompare.runners._common import (
    empty_stat_columns,
    find_program,
    iter_snp_blocks,
    load,
    null_record,
    output_tail,
    record_block,
    reported_rows,
    run_parameters,
    snp_columns,
    write_results,
)

TOOL = "bolt"
SEED = 0
"""BOLT's ``--seed`` (its own default, passed explicitly): the Monte-Carlo REML and the choice
of calibration SNPs depend on it, so the same inputs give the same bytes."""

N_AUTOSOMES = 22
"""BOLT's default ``--Nautosomes``: numeric chromosome codes 1..23 are accepted (23 = X)."""

N_CALIB_SNPS = 30
"""BOLT's ``--numCalibSnps`` default: ``Bolt::selectProSnps`` draws one calibration SNP from each
of 30 equal blocks of the model SNPs; with fewer than 30 SNPs a block is empty and BOLT 2.4
crashes (segmentation fault on a 15-SNP list)."""

QC_OFF = ("--maxMissingPerSnp=1", "--maxMissingPerIndiv=1", "--noMapCheck")
"""BOLT options that switch its SNP and sample filters (and its genetic-map check) off."""

BAD_SNP_STAT = -1e9
"""``Bolt::BAD_SNP_STAT``: the χ² BOLT writes for a SNP it could not test."""

STATS_COLUMNS = (
    "SNP", "CHR", "BP", "GENPOS", "ALLELE1", "ALLELE0", "A1FREQ", "F_MISS",
    "CHISQ_LINREG", "P_LINREG", "BETA", "SE", "CHISQ_BOLT_LMM_INF", "P_BOLT_LMM_INF",
)  # fmt: skip
"""Header of the ``--lmmInfOnly --verboseStats`` stats file (``Bolt::printStatsHeader``)."""

PRINTED_DIGITS = 6
"""BOLT writes A1FREQ, F_MISS, BETA, SE and χ² with the stream default, 6 significant digits."""

P_PRINTED_REL = 0.06
"""``P_BOLT_LMM_INF`` is printed ``%.1E``: within 5 % (plus χ² rounding) of the exact tail."""

LOG_PATTERNS = {
    "n_used": r"Number of individuals used in analysis: Nused = (\d+)",
    "c_indep": r"Total independent covariate vectors: Cindep = (\d+)",
    "n_chroms": r"Number of chroms with >= 1 good SNP: (\d+)",
    "mc_trials": r"Using default number of random trials: (\d+)",
    "h2g": r"Estimated \(pseudo-\)heritability: h2g = (\S+)",
    "calibration": r"Calibration: (\S+) \(",
}
"""Numbers read from BOLT's console output (all required)."""
VARIANCE_PATTERN = r"Variance params: sigma\^2_K = (\S+), logDelta = (\S+),"
"""``Bolt::estLogDelta``'s line with σ²_K and log δ (printed by builds with ``-DVERBOSE``, as
upstream's Makefile and Debian's)."""
AVG_NORM_PATTERN = r"Average norm of projected SNPs:\s+(\S+)"
MEDIANS_PATTERN = r"Using ratio of medians instead: (\S+)"
"""BOLT replaces the calibration factor when its jackknife s.e. exceeds 0.01."""

SKIP_MESSAGES = (
    "Heritability estimate is close to 0",
    "Heritability estimate is close to 1",
    "LOCO mixed model analysis requires >= 2 chromosomes",
)
"""BOLT's refusals of a dataset: a skipped run (with BOLT's words), not a failure."""


def find_bolt(binary: str | None = None) -> str:
    """Path of the ``bolt`` executable (``binary`` or ``bolt`` on PATH)."""
    return find_program("bolt", "BOLT-LMM", "apt-get install bolt-lmm", binary)


def installed() -> bool:
    """Whether the tool can run here (a run would otherwise be skipped as not installed)."""
    try:
        find_bolt()
    except ToolNotInstalled:
        return False
    return True


def thread_environment(threads: int) -> dict[str, str]:
    """The environment of the ``bolt`` process: ``threads`` OpenMP threads (``--numThreads``
    sets the same), one BLAS thread, passive OpenMP waiting.

    * One BLAS thread: with two OpenBLAS threads BOLT's DGEMMs round differently, and the
      6-digit outputs of a few SNPs change in the last digit (HS1940: 4 of 10,768 SNPs); with
      one, the bytes do not depend on the thread count (its OpenMP loops build SNP vectors
      independently), as ``RunRequest.threads`` requires.  The cost: HS1940 7.5 s against
      5.5 s with two BLAS threads.
    * GNU OpenMP's default busy-waiting made 2 threads ~5× slower than one on a loaded
      2-core machine (EUR_subset: 14 s against 3 s with ``OMP_WAIT_POLICY=PASSIVE`` and 2 s
      with one thread).
    """
    return {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
    }


def bolt_chromosome(code: str, n_autosomes: int = N_AUTOSOMES) -> int:
    """BOLT's integer for a ``.bim`` chromosome code (``SnpData::chrStrToInt``), −1 if it
    rejects it: an optional ``chr`` prefix, then a number 1..n_autosomes + 1 (leading digits,
    as ``atoi``) or X, XY, PAR1, PAR2 (= n_autosomes + 1)."""
    if code.startswith("chr"):
        code = code[3:]
    if code[:1].isdigit():
        number = int(re.match(r"\d+", code).group(0))
        return number if 1 <= number <= n_autosomes + 1 else -1
    return n_autosomes + 1 if code in ("X", "XY", "PAR1", "PAR2") else -1


def check_snps(chrom: np.ndarray) -> None:
    """``SkipRun`` unless BOLT can run LOCO on the tested SNPs with these chromosome codes:
    every code accepted, distinct codes kept distinct, at least two chromosomes, at least
    :data:`N_CALIB_SNPS` SNPs."""
    codes = list(dict.fromkeys(chrom.astype(str).tolist()))
    numbers = {code: bolt_chromosome(code) for code in codes}
    rejected = [code for code, number in numbers.items() if number == -1]
    if rejected:
        raise SkipRun(
            f"BOLT-LMM rejects chromosome code(s) {', '.join(rejected[:5])} of tested SNPs "
            f"(it takes 1-{N_AUTOSOMES + 1}, X, XY, PAR1, PAR2)"
        )
    if len(set(numbers.values())) != len(codes):
        raise SkipRun(
            "BOLT-LMM would merge chromosome codes "
            f"{', '.join(codes)} (X, XY, PAR1, PAR2 and {N_AUTOSOMES + 1} are one chromosome "
            "to it): its LOCO groups would differ from ours"
        )
    if len(codes) < 2:
        raise SkipRun(
            "BOLT-LMM's LOCO mixed model analysis requires >= 2 chromosomes; the tested SNPs "
            f"are all on chromosome {codes[0] if codes else '(none)'}"
        )
    if chrom.size < N_CALIB_SNPS:
        raise SkipRun(
            f"BOLT-LMM needs at least {N_CALIB_SNPS} tested SNPs (--numCalibSnps; it crashes "
            f"with fewer), there are {chrom.size}"
        )


def write_input_set(
    inputs: AnalysisInputs, directory: Path, tested: np.ndarray
) -> list[str]:
    """Write BOLT's inputs into ``directory``; return the options naming them.

    ``data.{bed,bim}`` are symbolic links to ours, ``data.fam`` is ours with a numeric sex and
    phenotype (see below); ``remove.txt`` lists the ``.fam`` samples we do not analyse (only
    when there are any); ``pheno.txt`` (``FID IID PHENO``) and
    ``covar.txt`` (``FID IID COV1 … COVk``, only with covariates) hold our values for the
    analysed samples; ``model.txt`` lists the ``tested`` SNP IDs, ``exclude.txt`` every other
    ``.bim`` SNP (only when there are any).
    """
    ds = inputs.dataset
    for ext in ("bed", "bim"):
        (directory / f"data.{ext}").symlink_to(Path(getattr(ds, f"{ext}_path")).resolve())
    # BOLT 2.4 reads .fam field 5 as an integer and field 6 as a number ("NA" aborts it,
    # SnpData::processIndivs): ours with sex 0 where it is not an integer and phenotype -9
    # (the phenotype comes from pheno.txt).
    fam_lines = []
    for _, fields in read_fam_fields(ds.fam_path):
        sex = fields[4] if re.fullmatch(r"[+-]?\d+", fields[4]) else "0"
        fam_lines.append(" ".join([*fields[:4], sex, "-9"]))
    (directory / "data.fam").write_text("\n".join(fam_lines) + "\n")
    fam_index = inputs.samples.fam_index
    ids = [f"{f} {i}" for f, i in zip(ds.fid[fam_index], ds.iid[fam_index], strict=True)]
    options = ["--bfile=data"]
    analysed = np.zeros(ds.n_samples, dtype=bool)
    analysed[fam_index] = True
    if not analysed.all():
        others = np.flatnonzero(~analysed)
        (directory / "remove.txt").write_text(
            "".join(f"{ds.fid[i]} {ds.iid[i]}\n" for i in others)
        )
        options.append("--remove=remove.txt")
    listed = np.zeros(ds.n_snps, dtype=bool)
    listed[inputs.snp_index[tested]] = True
    (directory / "model.txt").write_text("\n".join(ds.snp[listed].tolist()) + "\n")
    if not listed.all():
        (directory / "exclude.txt").write_text("\n".join(ds.snp[~listed].tolist()) + "\n")
        options.append("--exclude=exclude.txt")
    options.append("--modelSnps=model.txt")
    (directory / "pheno.txt").write_text(
        "FID IID PHENO\n"
        + "".join(f"{sid} {float(v)!r}\n" for sid, v in zip(ids, inputs.y, strict=True))
    )
    options += ["--phenoFile=pheno.txt", "--phenoCol=PHENO"]
    covariates = inputs.samples.covariates
    k = covariates.shape[1]
    if k:
        names = [f"COV{j + 1}" for j in range(k)]
        rows = (" ".join([sid, *(repr(float(v)) for v in row)])
                for sid, row in zip(ids, covariates, strict=True))
        (directory / "covar.txt").write_text(
            " ".join(["FID", "IID", *names]) + "\n" + "\n".join(rows) + "\n"
        )
        options += ["--covarFile=covar.txt", *(f"--qCovarCol={name}" for name in names)]
    return options


def parse_log(text: str) -> dict[str, Any]:
    """Counts, h2g, σ²_K, log δ and the calibration factor from BOLT's console output.

    ``log_delta`` and ``sigma2_K`` come from the ``Variance params`` line; a build without it
    gets log δ from h2g = Xfro2/(Xfro2 + M(N−C)δ) and the average projected SNP norm
    Xfro2/M (``Bolt::logDeltaToH2``), to h2g's 3 decimals, and ``sigma2_K`` ``None``.
    """
    out: dict[str, Any] = {}
    for key, pattern in LOG_PATTERNS.items():
        match = re.search(pattern, text)
        if match is None:
            raise ToolFailed(f"BOLT-LMM's output has no line matching '{pattern}'")
        value = match.group(1)
        out[key] = int(value) if key in ("n_used", "c_indep", "n_chroms", "mc_trials") \
            else float(value)
    medians = re.search(MEDIANS_PATTERN, text)
    if medians is not None:  # BOLT used the ratio of medians instead of the printed ratio
        out["calibration"] = float(medians.group(1))
    variance = re.search(VARIANCE_PATTERN, text)
    if variance is not None:
        out["sigma2_K"] = float(variance.group(1))
        out["log_delta"] = float(variance.group(2))
        out["log_delta_from"] = "logDelta"
    else:
        norm = re.search(AVG_NORM_PATTERN, text)
        h2g = out["h2g"]
        if norm is None or not 0.0 < h2g < 1.0:
            raise ToolFailed("BOLT-LMM's output has neither log delta nor a usable h2g")
        dof = out["n_used"] - out["c_indep"]
        out["sigma2_K"] = None
        out["log_delta"] = math.log(float(norm.group(1)) * (1.0 - h2g) / (dof * h2g))
        out["log_delta_from"] = "h2g"
    return out


def parse_stats(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """BOLT's ``--lmmInfOnly --verboseStats`` stats file: one array per column."""
    lines = Path(path).read_text().splitlines()
    header = tuple(lines[0].split("\t")) if lines else ()
    if header != STATS_COLUMNS:
        raise ToolFailed(f"{Path(path).name}: header {list(header)} is not {list(STATS_COLUMNS)}")
    table = np.array([line.split("\t") for line in lines[1:] if line], dtype=str)
    table = table.reshape(-1, len(STATS_COLUMNS))
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(STATS_COLUMNS):
        column = table[:, j]
        out[name] = column if name in ("SNP", "CHR", "ALLELE1", "ALLELE0") \
            else column.astype(np.float64)
    return out




def _refusal(stderr: str) -> str | None:
    """BOLT's reason when it refused the dataset (one of :data:`SKIP_MESSAGES`), else None."""
    for message in SKIP_MESSAGES:
        if message in stderr:
            line = next(ln for ln in stderr.splitlines() if message in ln)
            return "BOLT-LMM: " + line.replace("ERROR:", "").strip()
    return None


def run(
    request: RunRequest,
    mode: str,
    out: str | os.PathLike[str],
    *,
    bolt_binary: str | None = None,
    keep_raw: str | os.PathLike[str] | None = None,
) -> None:
    """Run ``bolt --lmmInfOnly`` (loco mode only); write ``out.assoc.tsv`` and
    ``out.null.json``.

    ``bolt_binary`` names the executable (default ``bolt`` on PATH).  With ``keep_raw``, BOLT's
    stats file (``stats.tab``) and console output (``bolt.log``) are copied into that directory.
    """
    if mode != "loco":
        raise ValueError(f"BOLT-LMM runs in loco mode only, not {mode!r} (lmmcompare.registry)")
    binary = find_bolt(bolt_binary)
    # The same loader as every tool; loco mode uses no kinship file (BOLT builds its own GRM).
    inputs = load(request, with_kinship=False)
    columns = snp_columns(inputs)
    stats = empty_stat_columns(inputs.snp_index.size)
    for block in iter_snp_blocks(inputs):
        record_block(stats, block)
    tested = stats["errcode"] == TESTED
    check_snps(columns["chrom"][tested])

    threads = max(1, int(request.threads))
    env = thread_environment(threads)
    with tempfile.TemporaryDirectory(prefix="bolt-") as tmp:
        directory = Path(tmp)
        options = write_input_set(inputs, directory, tested)
        command = [binary, *options, "--lmmInfOnly", *QC_OFF, f"--seed={SEED}",
                   "--verboseStats", "--statsFile=stats.tab", f"--numThreads={threads}"]
        proc = subprocess.run(command, cwd=directory, capture_output=True, text=True, env=env)
        output = proc.stdout + proc.stderr
        stats_path = directory / "stats.tab"
        if keep_raw is not None:
            raw = Path(keep_raw)
            raw.mkdir(parents=True, exist_ok=True)
            (raw / "bolt.log").write_text(output)
            if stats_path.is_file():
                shutil.copyfile(stats_path, raw / stats_path.name)
        if proc.returncode != 0 or not stats_path.is_file():
            reason = _refusal(proc.stderr)
            if reason is not None:
                raise SkipRun(reason)
            raise ToolFailed(f"bolt exited with status {proc.returncode}: {output_tail(output, 6)}")
        table = parse_stats(stats_path)
    log = parse_log(output)
    version_match = re.search(r"BOLT-LMM, v(\S+)", proc.stdout)
    version = version_match.group(1) if version_match else None

    n, c = inputs.n_samples, inputs.n_covariates
    if log["n_used"] != n or log["c_indep"] != c:
        raise ToolFailed(
            f"BOLT-LMM analysed {log['n_used']} samples with {log['c_indep']} independent "
            f"covariates (intercept included); expected {n} and {c}"
        )
    rows = reported_rows(columns["snp"], np.flatnonzero(tested), table["SNP"], "BOLT-LMM")
    _check_coding(table, columns, stats, rows, n)

    chisq = table["CHISQ_BOLT_LMM_INF"]
    good = chisq > BAD_SNP_STAT / 2
    p = np.full(chisq.shape, np.nan)
    p[good] = chi2.sf(chisq[good], 1)
    _check_printed_p(p[good], table["P_BOLT_LMM_INF"][good])
    native = {
        "log_delta": log["log_delta"],
        "sigma2_K": log["sigma2_K"],
        "h2g": log["h2g"],
        "n_used": log["n_used"],
        "c_indep": log["c_indep"],
        "calibration": log["calibration"],
        "mc_trials": log["mc_trials"],
        "seed": SEED,
        "n_chromosomes": log["n_chroms"],
        "log_delta_from": log["log_delta_from"],
    }
    # BOLT's GRM is our standardized kinship of the same SNPs times (n − 1)/n; t = 1 is the
    # mean diagonal of ours (exactlmm.kinship), the kinship γ is reported on.
    record = null_record(
        TOOL, version, inputs, native, loglik=None, beta=None,
        parameters=run_parameters(
            request, mode,
            # Threads are left out: the bytes do not depend on them (thread_environment).
            command=["bolt", *(a for a in command[1:] if not a.startswith("--numThreads"))],
        ),
        mean_diag=1.0,
    )
    stats["beta"][rows[good]] = table["BETA"][good]
    stats["se"][rows[good]] = table["SE"][good]
    stats["p_wald"][rows[good]] = p[good]
    stats["delta"][rows[good]] = record["delta"]  # one δ for every chromosome (on K_std)
    reported = np.zeros(inputs.snp_index.size, dtype=bool)
    reported[rows] = True  # a sentinel row has no p: write_results makes it TOOL_FAILED
    stats["errcode"][~reported & tested] = "NOT_REPORTED"
    n_without = int(np.sum(~reported & tested)) + int(np.sum(~good))
    if n_without:
        print(f"bolt: {n_without} tested SNPs got no statistic from BOLT-LMM "
              f"({int(np.sum(~good))} with its sentinel −1e9: TOOL_FAILED); their rows are NA",
              file=sys.stderr)
    write_results(out, {**columns, **stats}, record)


def _check_coding(
    table: dict[str, np.ndarray],
    columns: dict[str, np.ndarray],
    stats: dict[str, np.ndarray],
    rows: np.ndarray,
    n: int,
) -> None:
    """BOLT's alleles, a1 frequencies and missing fractions must be ours (else β's sign or the
    samples are off)."""
    if not (
        np.array_equal(table["ALLELE1"], columns["a1"][rows])
        and np.array_equal(table["ALLELE0"], columns["a2"][rows])
    ):
        raise ToolFailed("BOLT-LMM's ALLELE1/ALLELE0 differ from .bim columns 5/6")
    rtol = 10.0 ** (1 - PRINTED_DIGITS)
    if not np.allclose(table["A1FREQ"], stats["af"][rows], rtol=rtol, atol=1e-9):
        raise ToolFailed("BOLT-LMM's A1FREQ differs from our a1 frequency: allele coding or "
                         "sample mismatch")
    if not np.allclose(table["F_MISS"], 1.0 - stats["n"][rows] / n, rtol=rtol, atol=1e-9):
        raise ToolFailed("BOLT-LMM's F_MISS differs from our missing-call fractions")


def _check_printed_p(p: np.ndarray, printed: np.ndarray) -> None:
    """The χ²(1) tail of CHISQ_BOLT_LMM_INF must match BOLT's own (rounded) P column (where
    both are normal doubles; BOLT prints an asymptotic P below the smallest one)."""
    ok = (p > 1e-300) & (printed > 1e-300)
    if np.any(np.abs(np.log(printed[ok] / p[ok])) > math.log1p(P_PRINTED_REL)):
        raise ToolFailed("BOLT-LMM's P_BOLT_LMM_INF is not the chi2(1) tail of its "
                         "CHISQ_BOLT_LMM_INF")
