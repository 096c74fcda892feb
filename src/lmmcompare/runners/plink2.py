"""Run PLINK 2 (Debian ``plink2`` 2.00a3.5, ``--glm``) and write our two result files.

PLINK 2 fits no kinship: per SNP, ordinary least squares of y on [1, covariates, a1 dosage],
the baseline that shows what the mixed model buys (registry mode ``none``; its γ is 0 by
construction, ``registry._plink2_to_standard``).  What it does with the input set written here
(read in plink-ng tag ``v2.00a3.5``, commit 927db87e, 9 Aug 2022, the Debian version):

* Samples: a ``.fam`` of our own (``data.fam``: ``s<i> s<i> 0 0 0 -9`` for the i-th ``.fam``
  sample, so no sample ID can be misparsed) beside a symbolic link to our ``.bed``;
  ``--keep`` lists the analysed samples, ``--pheno``/``--covar`` hold only their values
  (``repr``, exact), and ``--no-input-missing-phenotype`` makes every number a value (by
  default −9 is missing; ``'NA'`` stays missing, and we write none).  The run fails
  (``ToolFailed``) unless PLINK 2's log reports exactly our n samples with a phenotype after
  its filters and our k covariates.
* Phenotype: PLINK 2 reads a column whose values all lie in {0, 1, 2} as case/control and
  runs logistic regression (``LoadPhenos`` in ``plink2_psam.cc``: a column becomes
  quantitative only when a value is none of missing/1/2/0).  Such a y is written centred,
  y − ȳ: with the intercept in the model β, se and p of the SNP are unchanged
  (``native.phenotype_centered``).
* Covariates: ``inputs.samples.covariates`` (numeric, without the intercept; PLINK 2 adds the
  constant-1 column itself — ``GlmLinearThread`` in ``plink2_glm_linear.cc``, "first predictor
  column: intercept") as ``c1 … ck`` with ``--covar-name``, always with
  ``--covar-variance-standardize``: without it PLINK 2 refuses a covariate whose raw sum of
  squares exceeds 2²⁰ times the smallest centred one (e.g. a year of birth;
  ``GlmFillAndTestCovars`` in ``plink2_glm_shared.cc``, ``UNSTABLE_SCALE``).  Each covariate
  is replaced by (x − mean)/sd, an affine map that leaves the span of [1, X] and therefore
  the SNP's β, se and p unchanged (checked: byte-identical ``BETA``/``SE``/``P`` on EUR_subset
  with and without it).  Without covariates ``--glm allow-no-covars`` is given.
* Multicollinearity: PLINK 2 skips a SNP whose correlation with a covariate exceeds
  ``--max-corr`` (0.999) or whose VIF exceeds ``--vif`` (50) (``CheckMaxCorrAndVif``); both
  are opened (1 and 1e300) so it tests what ours tests.  A SNP in the span of the covariates
  is ``COLLINEAR`` by our rule and is not passed to it (``_common.iter_snp_blocks``).
* SNPs: ``--extract`` lists the SNPs ours tests.  PLINK 2 silently drops a variant with a
  negative ``.bim`` position (``if (cur_bp < 0) goto LoadPvar_skip_variant`` in ``LoadPvar``,
  ``plink2_pvar.cc``; 1,668 of HS1940's 10,768 listed SNPs have position −9), so ``data.bim``
  is our ``.bim`` (same IDs, alleles and order) with such positions set to 0.
* Allele: a ``.bim`` is read as ``#CHROM ID CM POS ALT REF`` (``LoadPvar`` in
  ``plink2_pvar.cc``, headerless case), so ALT is ``.bim`` column 5, our ``a1``; ``--glm
  omit-ref`` makes A1 = ALT for every SNP (``common.omitted_alleles = nullptr``, i.e. REF
  omitted, in ``GlmMain``, ``plink2_glm.cc``; by default PLINK 2 omits the *major* allele, so
  A1 would be the minor allele).  ``A1``/``ALT``/``REF`` and ``A1_FREQ`` are checked against
  our ``a1``/``a2``/``af``; a mismatch is a ``ToolFailed``.
* Missing genotypes: PLINK 2 drops, per SNP, the samples with a missing call (complete-case
  regression, ``sample_nm``/``nm_sample_ct`` in ``GlmLinearThread``), where ours and the other
  peers mean-impute.  Its ``OBS_CT`` is that called count and must equal our ``n`` (checked);
  ``A1_FREQ`` is over the same called samples.
* Test: β̂ and se from (XᵀX)⁻¹ with σ̂² = RSS/(OBS_CT − q), q = k + 2 predictors (intercept,
  SNP, k covariates), and p from a two-sided t test with OBS_CT − k − 2 = OBS_CT − c − 1
  degrees of freedom (c our covariate count with the intercept): ``TstatToLnP(tstat,
  sample_obs_ct - cur_biallelic_predictor_ct - extra_allele_ct)`` in ``GlmLinear``.  ``BETA``,
  ``SE`` and ``P`` are printed with 6 significant digits (``dtoa_g``/``lntoa_g``).
* Errors: a SNP PLINK 2 could not test has ``ERRCODE`` other than ``.``: ``CONST_ALLELE``/
  ``CONST_OMITTED_ALLELE`` become ``MONOMORPHIC``, ``VIF_INFINITE`` ``COLLINEAR`` (PLINK 2's
  names for ours, :data:`exactlmm.io.results.ERRCODES`), any other (``RANK_DEFICIENT``,
  ``INVALID_RESULT``, ``SAMPLE_CT<=PREDICTOR_CT``, …) ``TOOL_FAILED``; PLINK 2's own counts are
  kept in ``native.errcodes``.  A tested SNP missing from its table is ``NOT_REPORTED``.
* Chromosomes: PLINK 2 (human chromosome set) treats X, Y, XY and MT specially (sex covariate,
  haploid male calls); ours treats every SNP alike, so a run with such SNPs is skipped.
* Kinship: the request's file is read and checked with the other inputs (``_common.load``,
  as for every tool) but not given to PLINK 2; ``kinship_mean_diag`` in ``null.json`` is its
  t (pve = 0 whatever t).
* Null model: none is fitted.  γ = 0, ``delta`` NA in the table, ``loglik`` and ``beta``
  ``None`` (``hide-covar`` reports only the SNP term; PLINK 2 prints no likelihood).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from exactlmm.dosage import count_errcodes, describe_counts
from exactlmm.io.results import ERRCODE_DTYPE, TESTED
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

TOOL = "plink2"
MODE = "none"
PHENOTYPE = "y"
OUT = "result"
GLM_FILE = f"{OUT}.{PHENOTYPE}.glm.linear"
MEMORY_MIB = "1024"
"""``--memory``: PLINK 2 otherwise reserves half the machine's RAM (its minimum is 640)."""

GLM_COLS = "chrom,pos,ref,alt,a1freq,nobs,beta,se,tz,p,err"
GLM_FIELDS = (
    "#CHROM", "POS", "ID", "REF", "ALT", "A1", "A1_FREQ", "OBS_CT", "BETA", "SE", "T_STAT",
    "P", "ERRCODE",
)  # fmt: skip
"""Header of ``result.y.glm.linear`` with ``cols=`` :data:`GLM_COLS` and ``hide-covar``."""

ERRCODE_MAP = {
    "CONST_ALLELE": "MONOMORPHIC",
    "CONST_OMITTED_ALLELE": "MONOMORPHIC",
    "VIF_INFINITE": "COLLINEAR",
}
"""PLINK 2 ``ERRCODE`` → ours; every other PLINK 2 code is ``TOOL_FAILED``."""

SPECIAL_CHROMOSOMES = frozenset({"X", "Y", "XY", "MT", "M", "23", "24", "25", "26"})
"""Chromosome codes PLINK 2's default (human) chromosome set does not treat as autosomes."""

SIGNIFICANT_DIGITS = 6
"""PLINK 2 prints BETA, SE, P and A1_FREQ with 6 significant digits."""

LOG_COUNTS = {
    "n_keep": r"--keep: (\d+) samples? remaining",
    "n_after_filters": r"(\d+) samples? \([^)]*\) remaining after main filters",
    "n_phenotype": r"(\d+) quantitative phenotype values? remaining after main filters",
}
"""Sample counts read from PLINK 2's log (whitespace-normalized: PLINK wraps its lines)."""


def find_plink2(binary: str | None = None) -> str:
    """Path of the ``plink2`` executable (``binary`` or ``plink2`` on PATH)."""
    return find_program("plink2", "PLINK 2", "apt-get install plink2", binary)


def installed() -> bool:
    """Whether the tool can run here (a run would otherwise be skipped as not installed)."""
    try:
        find_plink2()
    except ToolNotInstalled:
        return False
    return True


def parse_glm(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """PLINK 2's ``.glm.linear`` table (header :data:`GLM_FIELDS`): one array per column,
    numbers as float (``NA`` → NaN) or int (``POS``, ``OBS_CT``), text as str."""
    path = Path(path)
    with path.open() as handle:
        header = handle.readline().rstrip("\n").split("\t")
    if tuple(header) != GLM_FIELDS:
        raise ToolFailed(f"{path}: header {header} is not {list(GLM_FIELDS)}")
    table = np.loadtxt(path, dtype=str, delimiter="\t", comments=None, skiprows=1, ndmin=2)
    if table.shape[0] == 0:
        table = np.empty((0, len(GLM_FIELDS)), dtype=str)
    out: dict[str, np.ndarray] = {}
    for name, values in zip(GLM_FIELDS, table.T, strict=True):
        if name in ("POS", "OBS_CT"):
            out[name] = values.astype(np.int64)
        elif name in ("A1_FREQ", "BETA", "SE", "T_STAT", "P"):
            out[name] = np.where(values == "NA", "nan", values).astype(np.float64)
        else:
            out[name] = values
    return out


def parse_log(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Sample and covariate counts and the version from PLINK 2's ``result.log``."""
    text = " ".join(Path(path).read_text().split())
    out: dict[str, Any] = {}
    for key, pattern in LOG_COUNTS.items():
        match = re.search(pattern, text)
        if match is None:
            raise ToolFailed(f"{path}: no line matching '{pattern}'")
        out[key] = int(match.group(1))
    covariates = re.search(r"(\d+) covariates? loaded from", text)
    out["n_covariates"] = int(covariates.group(1)) if covariates else 0
    version = re.search(r"PLINK v(\S+)", text)
    out["version"] = version.group(1) if version else None
    return out


def bim_positions(pos: np.ndarray) -> np.ndarray:
    """The ``.bim`` positions PLINK 2 is given: a negative one (PLINK's "exclude this
    variant", which ``LoadPvar`` in ``plink2_pvar.cc`` skips) becomes 0 (unknown)."""
    return np.maximum(np.asarray(pos, dtype=np.int64), 0)


def phenotype_values(y: np.ndarray) -> tuple[np.ndarray, bool]:
    """The phenotype PLINK 2 is given, and whether it was centred (module docstring): y, or
    y − ȳ when every value is 0, 1 or 2 (PLINK 2 would read it as case/control)."""
    if np.all(np.isin(y, (0.0, 1.0, 2.0))):
        return y - y.mean(), True
    return y, False


def write_input_set(
    inputs: AnalysisInputs, directory: Path, snp_ids: np.ndarray
) -> tuple[list[str], bool]:
    """Write PLINK 2's inputs into ``directory``; return the options naming them and whether
    the phenotype was centred.

    ``data.bed`` is a symbolic link to ours; ``data.bim`` is ours with negative positions set
    to 0 (:func:`bim_positions`); ``data.fam`` names the ``.fam``
    samples ``s0, s1, …`` in ``.fam`` order; ``keep.txt``, ``pheno.txt`` (``#FID IID y``) and
    ``covar.txt`` (``#FID IID c1 … ck``, only with covariates) hold the analysed samples;
    ``snps.txt`` lists ``snp_ids``.
    """
    ds = inputs.dataset
    (directory / "data.bed").symlink_to(Path(ds.bed_path).resolve())
    bim = zip(ds.chrom.tolist(), ds.snp.tolist(), ds.cm.tolist(), bim_positions(ds.pos).tolist(),
              ds.a1.tolist(), ds.a2.tolist(), strict=True)
    (directory / "data.bim").write_text(
        "".join(f"{c}\t{s}\t{m!r}\t{p}\t{a}\t{b}\n" for c, s, m, p, a, b in bim)
    )
    ids = np.char.add("s", np.arange(ds.n_samples).astype(str))
    (directory / "data.fam").write_text("".join(f"{s} {s} 0 0 0 -9\n" for s in ids))
    kept = ids[inputs.samples.fam_index]
    (directory / "keep.txt").write_text("".join(f"{s} {s}\n" for s in kept))
    y, centered = phenotype_values(inputs.y)
    (directory / "pheno.txt").write_text(
        f"#FID IID {PHENOTYPE}\n"
        + "".join(f"{s} {s} {float(v)!r}\n" for s, v in zip(kept, y, strict=True))
    )
    (directory / "snps.txt").write_text("".join(f"{snp}\n" for snp in snp_ids.tolist()))
    options = [
        "--bfile", "data", "--keep", "keep.txt", "--extract", "snps.txt",
        "--pheno", "pheno.txt", "--pheno-name", PHENOTYPE, "--no-input-missing-phenotype",
    ]  # fmt: skip
    covariates = inputs.samples.covariates
    k = covariates.shape[1]
    if k:
        names = [f"c{j + 1}" for j in range(k)]
        rows = (
            " ".join([s, s, *(repr(float(v)) for v in row)])
            for s, row in zip(kept, covariates, strict=True)
        )
        (directory / "covar.txt").write_text(
            "#FID IID " + " ".join(names) + "\n" + "".join(f"{r}\n" for r in rows)
        )
        options += [
            "--covar", "covar.txt", "--covar-name", names[0] if k == 1 else f"c1-c{k}",
            "--covar-variance-standardize",
        ]  # fmt: skip
    glm = ["--glm", "hide-covar", "omit-ref", "no-x-sex", f"cols={GLM_COLS}"]
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


def run(
    request: RunRequest,
    mode: str,
    out: str | os.PathLike[str],
    *,
    plink2_binary: str | None = None,
    keep_raw: str | os.PathLike[str] | None = None,
) -> None:
    """Run ``plink2 --glm`` (mode ``none`` only); write ``out.assoc.tsv`` and ``out.null.json``.

    ``plink2_binary`` names the executable (default ``plink2`` on PATH).  With ``keep_raw``,
    PLINK 2's own ``result.y.glm.linear`` and ``result.log`` are copied into that directory.
    """
    if mode != MODE:
        raise ValueError(f"PLINK 2 runs in mode 'none' only, not {mode!r} (lmmcompare.registry)")
    binary = find_plink2(plink2_binary)
    # The same loader as every tool, without the kinship file (linear regression uses none).
    inputs = load(request, with_kinship=False)
    columns = snp_columns(inputs)
    stats = empty_stat_columns(inputs.snp_index.size)
    for block in iter_snp_blocks(inputs):
        record_block(stats, block)
    tested = np.flatnonzero(stats["errcode"] == TESTED)
    _check_chromosomes(columns["chrom"][tested])

    with tempfile.TemporaryDirectory(prefix="plink2-") as tmp:
        directory = Path(tmp)
        options, centered = write_input_set(inputs, directory, columns["snp"][tested])
        settings = ["--memory", MEMORY_MIB, "--out", OUT]
        threads = ["--threads", str(max(1, int(request.threads)))]
        command = [binary, *options, *settings, *threads]
        proc = subprocess.run(command, cwd=directory, capture_output=True, text=True)
        output = proc.stdout + proc.stderr
        glm_path = directory / GLM_FILE
        log_path = directory / f"{OUT}.log"
        if proc.returncode != 0 or not glm_path.is_file() or not log_path.is_file():
            tail = output_tail(output, progress_marks=("%",))
            raise ToolFailed(f"plink2 exited with status {proc.returncode}: {tail}")
        table = parse_glm(glm_path)
        log = parse_log(log_path)
        if keep_raw is not None:
            raw = Path(keep_raw)
            raw.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(glm_path, raw / glm_path.name)
            shutil.copyfile(log_path, raw / log_path.name)

    n, k = inputs.n_samples, inputs.samples.covariates.shape[1]
    counts = (log["n_keep"], log["n_after_filters"], log["n_phenotype"])
    if counts != (n, n, n) or log["n_covariates"] != k:
        raise ToolFailed(
            f"PLINK 2 kept {log['n_keep']} samples, {log['n_after_filters']} after its filters, "
            f"{log['n_phenotype']} with a phenotype, and {log['n_covariates']} covariates; "
            f"expected {n} samples and {k} covariates"
        )
    rows = reported_rows(columns["snp"], tested, table["ID"], "PLINK 2")
    _check_coding(table, columns, stats, rows)

    plink_errcode = table["ERRCODE"]
    ok = plink_errcode == TESTED
    stats["beta"][rows] = np.where(ok, table["BETA"], np.nan)
    stats["se"][rows] = np.where(ok, table["SE"], np.nan)
    stats["p_wald"][rows] = np.where(ok, table["P"], np.nan)
    mapped = np.array([ERRCODE_MAP.get(code, "TOOL_FAILED") for code in plink_errcode[~ok]],
                      dtype=ERRCODE_DTYPE)
    stats["errcode"][rows[~ok]] = mapped
    reported = np.zeros(inputs.snp_index.size, dtype=bool)
    reported[rows] = True
    stats["errcode"][~reported & (stats["errcode"] == TESTED)] = "NOT_REPORTED"
    failed = int((~ok).sum()) + int((~reported[tested]).sum())
    if failed:
        print(
            f"plink2: {failed} of the {tested.size} SNPs given to PLINK 2 have no result ("
            f"{describe_counts(count_errcodes(stats['errcode']))} in all); their rows are NA",
            file=sys.stderr,
        )

    native = {
        "n_samples": log["n_after_filters"],
        "n_covariates": log["n_covariates"],
        "n_snps_reported": int(rows.size),
        "errcodes": dict(sorted(Counter(plink_errcode.tolist()).items())),
        "phenotype_centered": centered,
        "covar_variance_standardize": bool(k),
    }
    record = null_record(
        TOOL,
        log["version"],
        inputs,
        native,
        loglik=None,
        beta=None,
        # Everything but the binary's path and the thread count (which changes no number):
        # the same config gives the same bytes.
        parameters=run_parameters(request, mode, command=["plink2", *options, *settings]),
        mean_diag=1.0,  # no kinship: γ = 0, so pve = 0 whatever t
    )
    write_results(out, {**columns, **stats}, record)




def _check_coding(
    table: dict[str, np.ndarray],
    columns: dict[str, np.ndarray],
    stats: dict[str, np.ndarray],
    rows: np.ndarray,
) -> None:
    """PLINK 2's alleles, called counts and A1 frequencies must be ours (else β's sign, or the
    samples, are off)."""
    a1, a2 = columns["a1"][rows], columns["a2"][rows]
    if not (
        np.array_equal(table["A1"], a1)
        and np.array_equal(table["ALT"], a1)
        and np.array_equal(table["REF"], a2)
    ):
        raise ToolFailed("PLINK 2's A1/ALT/REF differ from .bim columns 5/5/6: allele coding")
    if not np.array_equal(table["POS"], bim_positions(columns["pos"][rows])):
        raise ToolFailed("PLINK 2's positions differ from the .bim's")
    if not np.array_equal(table["OBS_CT"], stats["n"][rows]):
        raise ToolFailed("PLINK 2's OBS_CT differ from our called counts: different samples")
    tolerance = 0.5 * 10.0 ** (1 - SIGNIFICANT_DIGITS)
    if not np.allclose(table["A1_FREQ"], stats["af"][rows], rtol=tolerance, atol=1e-12):
        raise ToolFailed("PLINK 2's A1 frequencies differ from ours: allele coding mismatch")
