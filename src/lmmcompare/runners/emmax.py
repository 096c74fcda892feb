"""Run EMMAX (Debian ``emmax``, beta-07Mar2010) and write our two result files.

What EMMAX does with the input set written here (read in ``emmax.c`` of the EMMAX beta source
distribution, the initial commit ``7a7ae1d`` of github.com/quiestrho/EPI-EMMAX, whose option
string ``c:d:k:K:S:E:vi:o:p:t:wzD:P:F:ZON`` and messages are those of the Debian binary, which
is built against LAPACK/CBLAS instead of the source's MKL; function names below are its):

* Samples: the ``.tfam`` lists exactly our analysed samples in ``.fam`` order; the phenotype
  file (``-p``, ``FID IID y``) and the covariate file (``-c``, ``FID IID 1 c1 … ck``) follow it
  line by line.  ``main`` aborts unless the FID and IID of every line equal the ``.tfam``'s
  (``strcmp`` loop after the REML fit) and the row counts equal n; a phenotype ``NA`` would
  make it drop that sample (``mphenoflag``), and the log line "n rows and 1 columns … with 0
  missing values" is checked here, so EMMAX analyses exactly our n samples.
* Covariates: EMMAX adds no intercept when ``-c`` is given ("Make sure that the intercept is
  included in the covariates"); we always pass ``-c`` with a column of ones first, so q0 = c.
* Kinship: ``-k`` is read as an n × n whitespace-separated matrix in ``.tfam`` order
  (``read_matrix_with_col_headers``, delimiters ``" \\t\\r\\n"``; rows and columns must both
  equal n).  We write our kinship cut to the analysed samples with ``%.17g`` (exact doubles).
  ``ensure_symmetry_and_relax_diag`` averages K with Kᵀ and adds 1e-10 to its diagonal; EMMAX
  neither rescales nor re-centres K, so its δ is on K as given.
* Genotypes (``tokenize_line_with_col_headers`` with ``zero_miss_flag``): each allele token "1"
  counts 0 and "2" counts 1, "0 0" is missing; the dosage is the number of "2" alleles.  We
  write k copies of our a1 (``.bim`` column 5) as k "2" alleles ("1 1", "1 2", "2 2"), so
  EMMAX's β is per copy of a1.  Missing calls are replaced by the SNP's mean over the analysed
  samples (``main``, "resolve missing values using mean"), as ours.  Only the SNPs ours can
  test are written (a constant SNP makes XᵀH⁻¹X singular; EMMAX would print p = 1).
* Null fit (``REMLE_grid_wo_Z``): EMMA's REML in log δ, δ = σe²/σg², over the n − c non-zero
  eigenvalues λᵢ of SKS (S = I − X(XᵀX)⁻¹Xᵀ; ``eigen_R_wo_Z``, LAPACK ``dsyevd``),
  ``LL_REML_wo_Z`` = ½[(n−c)(log((n−c)/2π) − 1 − log Σηᵢ²/(λᵢ+δ)) − Σ log(λᵢ+δ)].  The
  optimum is found on a grid of 100 steps over log δ ∈ [−10, 10] then by bisection on the
  derivative to |Δ log δ| < 1e-4 (``XACCU``), returning the end of the bracket where the
  derivative is ≤ 0: its log δ is *above* the exact REML one by less than 1e-4 (γ is low by
  up to 1e-4 relative; 9.5e-5 on HS1940, 1.4e-5 on EUR_subset).
* ``.reml`` (6 lines): REML log-likelihood at that δ, the REML log-likelihood at δ = ∞ (no
  kinship term), δ, vg = Σηᵢ²/(λᵢ+δ)/(n−c) = σ̂g², ve = vg·δ = σ̂e², and
  hg = tr(CKC)/((n−1)δ + tr(CKC)) with C = I − 11ᵀ/n (``centered_trace``; the pve of the
  centred K with an n − 1 divisor, not our h² or pve).  The REML is exact REML on our
  convention (``lmmcompare.params``): log|Q₂ᵀHQ₂| = log|H| + log|XᵀH⁻¹X| − log|XᵀX| and the
  δ-scale and γ-scale likelihoods are equal, so ``null.json`` ``loglik`` is EMMAX's number.
* Test (``main``, GLS loop): at the null δ for every SNP (P3D), β̂ and
  t = β̂/√([(XᵀD X)⁻¹]_qq · (yᵀDy − yᵀDX(XᵀDX)⁻¹XᵀDy)/(n − c − 1)), D = (K + δI)⁻¹ in the
  eigenbasis of K (``eigen_L_wo_Z``); p = ``tcdf`` = I_{ν/(ν+t²)}(ν/2, ½), ν = n − c − 1, the
  two-sided t test (Numerical Recipes ``betai``).  ``.ps`` has three columns: SNP, β, p (no
  SE in this version: the Debian binary's format strings are the same).  se is recovered
  from that test: x = I⁻¹_p(ν/2, ½) (scipy ``betaincinv``), |t| = √(ν(1 − x)/x),
  se = |β̂|/|t| (NA when p = 1 or p = 0).  It is as precise as EMMAX's p, ~1e-9 relative
  (``betacf`` stops at 1e-10), except near p = 1: ``tcdf`` forms ν/(ν + t²) in double
  precision, so p − 1 and the se derived from it carry a relative error ≈ 1e-16·ν/t² (1e-6 at
  |t| ≈ 3e-4, p ≈ 1 − 2e-4 for ν ≈ 1400; 4 % at p = 1 − 1.1e-6 on HS1940).
* Digits: ``-d 17`` makes every printed number a round-trip double.  BLAS threads are set to
  1 in EMMAX's environment, so its output does not depend on the machine's cores.

Checks that make a wrong run a ``ToolFailed``: EMMAX's exit status, any "FATAL ERROR" it
prints without stopping (``eigen_R_wo_Z``), the sample and covariate counts of its log, the SNP
IDs of ``.ps`` (only those written, each once; a written SNP it did not report would be
``NOT_REPORTED``), and β and p of the first and the strongest SNPs against our own generalized
least squares at EMMAX's δ (a flipped allele flips β's sign; a sample-order slip changes both).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from exactlmm.dosage import count_errcodes, describe_counts, impute_center
from exactlmm.io.plink import iter_genotype_blocks, read_genotypes
from exactlmm.io.results import TESTED
from exactlmm.pipeline import AnalysisInputs
from lmmcompare import params
from lmmcompare.runners import RunRequest, ToolFailed, ToolNotInstalled
from lmmcompare.runners._common import (
    GENOTYPE_BLOCK,
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

TOOL = "emmax"
DIGITS = 17
"""``-d``: significant digits EMMAX prints (17: every double round-trips)."""

REML_FIELDS = ("reml", "reml0", "delta", "vg", "ve", "hg")
"""The six lines of EMMAX's ``PREFIX.reml``, in order (``main``)."""

LOG_DELTA_BOUNDS = (-10.0, 10.0)
"""EMMAX's search range of log δ (``DEFAULT_LLIM``, ``DEFAULT_ULIM``)."""

SPOT_CHECK_SNPS = 3
"""SNPs of each kind (first tested, strongest) whose β and p are recomputed here."""

SPOT_CHECK_RTOL = 1e-6
"""Relative tolerance of the spot check (EMMAX's numbers at its own δ; rounding only)."""

_TOKENS = np.frombuffer(b"1 1 1 2 2 2 0 0 ", dtype=np.uint8).reshape(4, 4)
"""tped genotype tokens for 0, 1, 2 copies of a1 and a missing call (code 3)."""

_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def find_emmax(binary: str | None = None) -> str:
    """Path of the ``emmax`` executable (``binary`` or ``emmax`` on PATH)."""
    return find_program("emmax", "EMMAX", "apt-get install emmax", binary)


def installed() -> bool:
    """Whether the tool can run here (a run would otherwise be skipped as not installed)."""
    try:
        find_emmax()
    except ToolNotInstalled:
        return False
    return True


def emmax_version(binary: str) -> str | None:
    """The Debian package version when ``binary`` is the packaged one (EMMAX prints none)."""
    if Path(binary).resolve() != Path("/usr/bin/emmax"):
        return None
    try:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "emmax"], capture_output=True, text=True
        )
    except OSError:
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


# ----------------------------------------------------------------------------- inputs


def tped_lines(
    chrom: np.ndarray, snp: np.ndarray, pos: np.ndarray, genotypes: np.ndarray
) -> bytes:
    """tped lines of SNPs (vectorised): ``chrom snp 0 pos`` then two allele tokens per sample.

    ``genotypes`` is n × m copies of a1 (0, 1, 2; NaN missing).  Copies of a1 are written as
    allele "2" (EMMAX counts "2" alleles), a missing call as "0 0".  The header fields are
    padded with spaces to one width (EMMAX splits on runs of blanks), so that each line is a
    fixed-width row of one byte array.
    """
    m = genotypes.shape[1]
    if m == 0:
        return b""
    codes = np.where(np.isnan(genotypes), 3.0, genotypes).T.astype(np.uint8)
    if codes.max(initial=0) > 3:
        raise ValueError("genotypes must be 0, 1, 2 or NaN")
    body = _TOKENS[codes].reshape(m, -1)
    body[:, -1] = ord("\n")
    header = np.char.add(np.char.add(np.asarray(chrom, dtype=str), " "), snp.astype(str))
    header = np.char.add(np.char.add(header, " 0 "), np.asarray(pos).astype(str))
    encoded = np.char.encode(header, "utf-8")
    width = int(np.char.str_len(encoded).max()) + 1
    fixed = np.char.ljust(encoded, width).astype(f"S{width}")
    head = np.frombuffer(fixed.tobytes(), dtype=np.uint8).reshape(m, width)
    return np.hstack([head, body]).tobytes()


def _id_lines(inputs: AnalysisInputs, values: np.ndarray) -> str:
    """``FID IID v1 …`` lines (values with ``repr``: exact) in the analysed samples' order."""
    ids = inputs.sample_ids
    rows = [
        " ".join([fid, iid, *(repr(float(v)) for v in row)])
        for (fid, iid), row in zip(ids.tolist(), values.tolist(), strict=True)
    ]
    return "\n".join(rows) + "\n"


def write_input_set(
    inputs: AnalysisInputs, directory: Path, columns: dict[str, np.ndarray],
    stats: dict[str, np.ndarray],
) -> np.ndarray:
    """Write ``data.tped``/``data.tfam``, ``pheno.txt``, ``covar.txt`` and ``kinship.txt``.

    Streams the genotypes once: fills ``n``, ``af`` and ``errcode`` of ``stats``
    (:func:`record_block`) and writes the tested SNPs to ``data.tped``.  Returns the rows (into
    ``inputs.snp_index``) of the SNPs written, in file order.
    """
    ds = inputs.dataset
    ids = inputs.sample_ids
    (directory / "data.tfam").write_text(
        "".join(f"{fid} {iid} 0 0 0 -9\n" for fid, iid in ids.tolist())
    )
    (directory / "pheno.txt").write_text(_id_lines(inputs, inputs.y[:, None]))
    (directory / "covar.txt").write_text(_id_lines(inputs, inputs.covariates))
    np.savetxt(directory / "kinship.txt", inputs.kinship, fmt="%.17g", delimiter="\t")
    written = []
    raw_blocks = iter_genotype_blocks(
        ds, inputs.samples.fam_index, inputs.snp_index, block_size=GENOTYPE_BLOCK
    )
    with open(directory / "data.tped", "wb") as tped:
        for block, (positions, raw) in zip(iter_snp_blocks(inputs), raw_blocks, strict=True):
            if not np.array_equal(inputs.snp_index[block.rows], positions):
                raise RuntimeError("genotype blocks out of step")  # cannot happen
            record_block(stats, block)
            keep = block.testable
            rows = block.rows[keep]
            tped.write(tped_lines(columns["chrom"][rows], columns["snp"][rows],
                                  columns["pos"][rows], raw[:, keep]))
            written.append(rows)
    return np.concatenate(written) if written else np.zeros(0, dtype=np.int64)


# ----------------------------------------------------------------------------- outputs


def parse_ps(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """EMMAX's ``PREFIX.ps``: ``snp``, ``beta``, ``p`` (tab-separated, no header)."""
    text = Path(path).read_text()
    rows = [line.split("\t") for line in text.splitlines() if line]
    if any(len(row) != 3 for row in rows):
        raise ToolFailed(
            f"{path}: expected 3 columns (SNP, beta, p) as EMMAX beta-07Mar2010 writes them"
        )
    if not rows:
        return {"snp": np.zeros(0, dtype=str), "beta": np.zeros(0), "p": np.zeros(0)}
    snp, beta, p = zip(*rows, strict=True)
    return {
        "snp": np.array(snp, dtype=str),
        "beta": np.array(beta, dtype=np.float64),
        "p": np.array(p, dtype=np.float64),
    }


def parse_reml(path: str | os.PathLike[str]) -> dict[str, float]:
    """EMMAX's ``PREFIX.reml``: six numbers, one a line (:data:`REML_FIELDS`)."""
    values = Path(path).read_text().split()
    if len(values) != len(REML_FIELDS):
        raise ToolFailed(f"{path}: expected {len(REML_FIELDS)} numbers, found {len(values)}")
    return {name: float(v) for name, v in zip(REML_FIELDS, values, strict=True)}


def parse_log_counts(text: str) -> dict[str, tuple[int, int, int]]:
    """(rows, columns, missing) EMMAX logs for the kinship, phenotype and covariate files."""
    out = {}
    for key, what in (("kinship", "kinship file"), ("pheno", "phenotype file"),
                      ("covar", "covariate file")):
        match = re.search(
            rf"Reading (?:the )?{what} .*?\n\s*(\d+) rows and (\d+) columns were observed "
            r"with (\d+) missing values",
            text,
        )
        if match is None:
            raise ToolFailed(f"EMMAX's log has no row/column count for its {what}")
        out[key] = tuple(int(g) for g in match.groups())
    return out


def se_from_t_test(beta: np.ndarray, p: np.ndarray, df: int) -> np.ndarray:
    """se = |β|/|t| with |t| the two-sided t quantile of p at ``df`` degrees of freedom.

    EMMAX's p is I_{ν/(ν+t²)}(ν/2, ½) (``tcdf``), so x = I⁻¹_p(ν/2, ½) and t² = ν(1 − x)/x.
    NA where p is 1 (t = 0: se undefined from p) or 0 (underflow) or not finite.
    """
    from scipy.special import betaincinv

    beta = np.asarray(beta, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    ok = np.isfinite(p) & (p > 0) & (p < 1) & np.isfinite(beta)
    x = betaincinv(0.5 * df, 0.5, np.where(ok, p, 0.5))
    t = np.sqrt(df * (1.0 - x) / x)
    return np.where(ok, np.abs(beta) / np.where(ok, t, 1.0), np.nan)


def gls_at_delta(
    kinship: np.ndarray, covariates: np.ndarray, y: np.ndarray, dosage: np.ndarray,
    delta: float,
) -> tuple[np.ndarray, np.ndarray]:
    """β and two-sided t-test p of each column of ``dosage`` by generalized least squares with
    V ∝ K + δI and σ² = residual/(n − c − 1) — EMMAX's test, computed independently."""
    from scipy import linalg, stats

    n, c = covariates.shape
    chol = linalg.cho_factor(kinship + delta * np.eye(n), lower=True)
    betas, pvalues = [], []
    for j in range(dosage.shape[1]):
        x = np.column_stack([covariates, dosage[:, j]])
        hx = linalg.cho_solve(chol, x)
        hy = linalg.cho_solve(chol, y)
        xhx_inv = np.linalg.inv(x.T @ hx)
        b = xhx_inv @ (hx.T @ y)
        sigma2 = (y @ hy - b @ (hx.T @ y)) / (n - c - 1)
        t = b[-1] / np.sqrt(xhx_inv[-1, -1] * sigma2)
        betas.append(b[-1])
        pvalues.append(2.0 * stats.t.sf(abs(t), n - c - 1))
    return np.array(betas), np.array(pvalues)


def _spot_check(
    inputs: AnalysisInputs, table: dict[str, np.ndarray], rows: np.ndarray, delta: float
) -> None:
    """β and p of the first and the strongest reported SNPs against :func:`gls_at_delta`.

    ``rows`` are the positions (into ``inputs.snp_index``) of the rows of ``table``.
    """
    usable = np.flatnonzero(table["p"] > 0)
    if usable.size == 0:
        return
    strongest = usable[np.argsort(table["p"][usable], kind="stable")[:SPOT_CHECK_SNPS]]
    picks = np.unique(np.concatenate([usable[:SPOT_CHECK_SNPS], strongest]))
    g = read_genotypes(inputs.dataset, inputs.samples.fam_index, inputs.snp_index[rows[picks]])
    imputed = impute_center(g)
    beta, p = gls_at_delta(
        inputs.kinship, inputs.covariates, inputs.y, imputed.centered + imputed.mean, delta
    )
    theirs_b, theirs_p = table["beta"][picks], table["p"][picks]
    scale = np.maximum(np.abs(beta), np.max(np.abs(beta)))
    bad_beta = np.abs(theirs_b - beta) > SPOT_CHECK_RTOL * scale
    bad_p = np.abs(np.log(theirs_p) - np.log(p)) > SPOT_CHECK_RTOL * np.maximum(
        1.0, np.abs(np.log(p))
    )
    if np.any(bad_beta | bad_p):
        k = int(np.flatnonzero(bad_beta | bad_p)[0])
        flipped = np.sign(theirs_b[k]) == -np.sign(beta[k])
        raise ToolFailed(
            f"EMMAX's β, p for {table['snp'][picks[k]]} are {theirs_b[k]!r}, {theirs_p[k]!r}; "
            f"generalized least squares at its δ gives {beta[k]!r}, {p[k]!r}"
            + (" (β's sign is flipped: allele coding)" if flipped else "")
        )




def run(
    request: RunRequest,
    mode: str,
    out: str | os.PathLike[str],
    *,
    emmax_binary: str | None = None,
    keep_raw: str | os.PathLike[str] | None = None,
) -> None:
    """Run ``emmax`` (fixed mode only); write ``out.assoc.tsv`` and ``out.null.json``.

    ``emmax_binary`` names the executable (default ``emmax`` on PATH).  With ``keep_raw``,
    EMMAX's own ``result.ps``, ``result.reml``, ``result.log`` and its console output
    (``result.stdout.txt``) are copied into that directory.
    """
    if mode != "fixed":
        raise ValueError(f"EMMAX runs in fixed mode only, not {mode!r} (lmmcompare.registry)")
    binary = find_emmax(emmax_binary)
    inputs = load(request)
    n, c = inputs.n_samples, inputs.n_covariates
    columns = snp_columns(inputs)
    stats = empty_stat_columns(inputs.snp_index.size)
    env = {**os.environ, **dict.fromkeys(_THREAD_VARIABLES, "1")}
    command = ["emmax", "-t", "data", "-p", "pheno.txt", "-c", "covar.txt", "-k", "kinship.txt",
               "-d", str(DIGITS), "-o", "result"]
    with tempfile.TemporaryDirectory(prefix="emmax-") as tmp:
        directory = Path(tmp)
        written = write_input_set(inputs, directory, columns, stats)
        proc = subprocess.run([binary, *command[1:]], cwd=directory, capture_output=True,
                              text=True, env=env)
        output = proc.stdout + proc.stderr
        paths = {ext: directory / f"result.{ext}" for ext in ("ps", "reml", "log")}
        if proc.returncode != 0 or not all(p.is_file() for p in paths.values()):
            raise ToolFailed(f"emmax exited with status {proc.returncode}: {output_tail(output)}")
        if "FATAL ERROR" in output:
            fatal = [line for line in output.splitlines() if "FATAL ERROR" in line]
            raise ToolFailed(f"emmax reported: {fatal[0].strip()}")
        table = parse_ps(paths["ps"])
        reml = parse_reml(paths["reml"])
        log_text = paths["log"].read_text()
        if keep_raw is not None:
            raw = Path(keep_raw)
            raw.mkdir(parents=True, exist_ok=True)
            for path in paths.values():
                shutil.copyfile(path, raw / path.name)
            (raw / "result.stdout.txt").write_text(output)

    counts = parse_log_counts(log_text)
    expected = {"kinship": (n, n, 0), "pheno": (n, 1, 0), "covar": (n, c, 0)}
    if counts != expected:
        raise ToolFailed(f"EMMAX read (rows, columns, missing) {counts}; expected {expected}")
    rows = reported_rows(columns["snp"], written, table["snp"], "EMMAX")
    delta = reml["delta"]
    _spot_check(inputs, table, rows, delta)

    df = n - c - 1
    stats["beta"][rows] = table["beta"]
    stats["p_wald"][rows] = table["p"]
    stats["se"][rows] = se_from_t_test(table["beta"], table["p"], df)
    stats["delta"][rows] = delta
    # EMMAX reports every line of its tped; a tested SNP missing from .ps is NOT_REPORTED.
    reported = np.zeros(inputs.snp_index.size, dtype=bool)
    reported[rows] = True
    missing = ~reported & (stats["errcode"] == TESTED)
    stats["errcode"][missing] = "NOT_REPORTED"
    if missing.any():
        print(f"emmax: {int(missing.sum())} SNPs were not reported by EMMAX; their rows are NA "
              f"({describe_counts(count_errcodes(stats['errcode']))})", file=sys.stderr)

    log_delta = float(np.log(delta))
    native: dict[str, Any] = {
        **reml,
        "log_delta": log_delta,
        "log_delta_bounds": list(LOG_DELTA_BOUNDS),
        "at_bound": bool(min(abs(log_delta - b) for b in LOG_DELTA_BOUNDS) < 1e-9),
        "df": df,
        "n_snps_tested": int(table["snp"].size),
    }
    record = null_record(
        TOOL,
        emmax_version(binary),
        inputs,
        native,
        # LL_REML_wo_Z is the exact REML (module docstring): no constant to remove.
        loglik=params.finite_number(reml["reml"], "EMMAX REML"),
        beta=None,
        parameters=run_parameters(
            request, mode, command=command,
            inputs="data.tped/tfam, pheno.txt, covar.txt (intercept first), kinship.txt: "
                   "written by lmmcompare.runners.emmax",
        ),
    )
    write_results(out, {**columns, **stats}, record)
