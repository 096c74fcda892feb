"""Metrics of a replicated simulation study: calibration, power and heritability bias.

One replicate of a scenario is one simulated dataset with a known truth, scanned by every tool.
Per replicate and run (tool × mode × statistic) :func:`replicate_metrics` counts what the
study tables pool; :func:`calibration_table`, :func:`calibration_maf_table`,
:func:`power_table`, :func:`heritability_table` and :func:`proximal_table` aggregate the
replicates of each scenario.  Every table has its columns even when it has no row (a null-only
study has no power row): its header is written, never nothing.

Definitions
-----------
* **Null SNPs** are the SNPs of the chromosomes the simulation left without any genetic effect
  (``null_chromosomes`` of the truth record; :func:`null_snp_mask`): no causal SNP, no
  polygenic effect, no linkage to one — truly null for a full-kinship and for a
  leave-one-chromosome-out test alike.  A scenario without such chromosomes has no null SNP
  and no calibration row: on the chromosomes without a causal SNP every SNP still carries a
  polygenic effect, which a LOCO test detects (that is power, not a type-I error), so those are
  not counted as null.  The config check refuses a scenario that would measure nothing
  (``n_causal: 0`` and no null chromosome: ``lmmcompare.workflow_config``).
* **Type-I error at α**: k/n, k the null SNPs with p < α, n the null SNPs tested, pooled over the
  replicates.  Its interval ``ci_low``/``ci_high`` is the replicate-level Korn–Graubard interval
  (:func:`lmmcompare.study_intervals.rate_interval`; ``ci`` names it): the SNPs of a replicate
  share a phenotype, a kinship and γ̂, so the replicate is the independent unit.  The exact
  (Clopper–Pearson) interval of k successes in n *independent* trials (:func:`clopper_pearson`)
  is kept as ``snp_binomial_ci_low``/``_high``, labelled for what it assumes; it is too narrow
  whenever the replicates' λGC differ.
* **λGC** per replicate over its null SNPs (:func:`lmmcompare.compare.lambda_gc`); the table
  gives the mean, the standard deviation and the t interval of the mean over replicates.
* **By MAF**: the same type-I error per bin of the null SNPs' minor-allele frequency in the
  analysed samples (:data:`MAF_BINS`, from the run's ``af``), for low-frequency SNPs of binary
  traits.
* **Power at α**: the share of causal SNPs with p < α, pooled over replicates, with its
  Korn–Graubard interval; **mean χ²** at causal SNPs, χ² = F⁻¹_{χ²₁}(1 − p) = Φ⁻¹(p/2)², with
  the t interval of the pooled ratio (:func:`lmmcompare.study_intervals.ratio_interval`).
* **Heritability**: bias = mean(ĥ² − h²) with its t interval, RMSE = √mean((ĥ² − h²)²) and the
  same for γ, over the replicates, against the truth the simulator defines on the kinship every
  tool is given (``gamma`` of the truth record; see :mod:`lmmcompare.simulate`); the coverage
  of ĥ² ± 1.96·se(ĥ²) over the replicates of a run that reports se(ĥ²) (ours: the observed
  information of the REML profile, ``se_h2`` of its ``null.json``), with the Clopper–Pearson
  interval over replicates (independent, so exact).  Binary traits have a second row on the
  liability scale (:mod:`lmmcompare.liability`, Lee et al. 2011).
* **Runtime** per replicate: each tool run's wall time and peak memory from its Snakemake
  benchmark file (:func:`runtime_table`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from lmmcompare import liability, study_intervals
from lmmcompare.compare import lambda_gc
from lmmcompare.study_intervals import MEAN_METHOD, RATE_METHOD, mean_interval, rate_interval

TYPE1_ALPHAS = (0.05, 1e-3, 1e-4)
"""Significance levels of the calibration table."""

POWER_ALPHAS = (5e-8, 1e-5)
"""Significance levels of the power table."""

CONFIDENCE = study_intervals.CONFIDENCE
"""Level of every interval."""

MAF_BINS = (0.0, 0.01, 0.02, 0.05, 0.5)
"""Edges of the minor-allele-frequency bins of :func:`calibration_maf_table` (a SNP of MAF f is
in bin (lo, hi] with lo < f ≤ hi; the first bin holds MAF 0 < f ≤ 0.01)."""

SE_COVERAGE_Z = 1.96
"""ĥ² ± 1.96·se(ĥ²): the nominal 95 % Wald interval whose coverage the heritability table
reports."""

KEYS = ("scenario", "tool", "mode", "statistic")
"""What a row of the study tables is about."""

CALIBRATION_COLUMNS = (
    *KEYS, "alpha", "type1_error", "ci_low", "ci_high", "ci", "snp_binomial_ci_low",
    "snp_binomial_ci_high", "n_hits", "n_snps", "lambda_gc_mean", "lambda_gc_sd",
    "lambda_gc_ci_low", "lambda_gc_ci_high", "n_replicates",
)
CALIBRATION_MAF_COLUMNS = (
    *KEYS, "prevalence", "case_fraction", "maf_bin", "alpha", "type1_error", "ci_low",
    "ci_high", "ci", "n_hits", "n_snps", "n_replicates",
)
POWER_COLUMNS = (
    *KEYS, "alpha", "power", "ci_low", "ci_high", "ci", "n_hits", "n_causal",
    "mean_chisq_causal", "mean_chisq_ci_low", "mean_chisq_ci_high", "n_replicates",
)
HERITABILITY_COLUMNS = (
    *KEYS[:3], "scale", "h2_true", "h2_mean", "h2_bias", "ci_low", "ci_high", "ci", "h2_rmse",
    "h2_sd", "gamma_true", "gamma_mean", "gamma_bias", "gamma_rmse", "se_coverage",
    "se_coverage_ci_low", "se_coverage_ci_high", "n_with_se", "n_replicates",
)
PROXIMAL_COLUMNS = (
    "scenario", "tool", "statistic", "alpha", "power_full", "power_loco", "power_diff",
    "power_diff_ci_low", "power_diff_ci_high", "mean_chisq_causal_full",
    "mean_chisq_causal_loco", "mean_chisq_diff", "mean_chisq_diff_ci_low",
    "mean_chisq_diff_ci_high", "ci", "n_causal", "n_replicates",
)
"""The columns of each table (also those of an empty one)."""


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact two-sided binomial interval for k successes in n independent trials.

    Lower bound B(a/2; k, n − k + 1) (0 when k = 0), upper bound B(1 − a/2; k + 1, n − k)
    (1 when k = n), a = 1 − ``confidence``; (NaN, NaN) when n = 0.  In the study tables it is
    the per-SNP interval (``snp_binomial_ci_*``) and the interval of a share of replicates.

    >>> [round(v, 4) for v in clopper_pearson(5, 100)]
    [0.0164, 0.1128]
    """
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k = {k}, n = {n}")
    if n == 0:
        return math.nan, math.nan
    a = 1.0 - confidence
    lower = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    upper = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lower, upper


def chisq_from_p(p: np.ndarray) -> np.ndarray:
    """χ²₁ statistic of a two-sided p value: Φ⁻¹(p/2)² (= ``chi2.isf(p, 1)``)."""
    return special.ndtri(np.asarray(p, dtype=np.float64) / 2.0) ** 2


def null_snp_mask(chrom: Sequence[str], null_chromosomes: Iterable[str]) -> np.ndarray:
    """Null SNPs of a replicate: those on the chromosomes the simulation gave no effect at all
    (``null_chromosomes`` of the truth record); none when there are no such chromosomes
    (module docstring)."""
    return np.isin(np.asarray(chrom).astype(str), [str(c) for c in null_chromosomes])


def maf_bin_label(low: float, high: float) -> str:
    """``"0.01-0.02"``: the name of the MAF bin (low, high]."""
    return f"{low:g}-{high:g}"


MAF_BIN_LABELS = tuple(maf_bin_label(lo, hi) for lo, hi in itertools.pairwise(MAF_BINS))
"""The bins' names, in order."""


def replicate_metrics(
    p: np.ndarray, is_null: np.ndarray, is_causal: np.ndarray, af: np.ndarray | None = None
) -> dict[str, Any]:
    """What one run of one replicate adds to the study tables (NaN p = not tested).

    ``n_null``/``k_null_{α}``: tested null SNPs and those with p < α (:data:`TYPE1_ALPHAS`);
    ``lambda_gc`` over the null SNPs; the same counts per MAF bin (``n_null_maf{bin}``,
    ``k_null_{α}_maf{bin}``, :data:`MAF_BINS`) from ``af`` (the allele frequency in the
    analysed samples; without it the bins count nothing); ``n_causal``/``k_causal_{α}``: tested
    causal SNPs and those with p < α (:data:`POWER_ALPHAS`); ``sum_chisq_causal`` of their χ².
    """
    p = np.asarray(p, dtype=np.float64)
    tested = np.isfinite(p)
    null = tested & np.asarray(is_null, dtype=bool)
    null_p = p[null]
    causal_p = p[tested & np.asarray(is_causal, dtype=bool)]
    out: dict[str, Any] = {"n_null": int(null_p.size), "lambda_gc": lambda_gc(null_p)}
    for alpha in TYPE1_ALPHAS:
        out[f"k_null_{alpha:g}"] = int(np.sum(null_p < alpha))
    maf = np.full(p.size, np.nan) if af is None else np.asarray(af, dtype=np.float64)
    maf = np.minimum(maf, 1.0 - maf)
    for label, (low, high) in zip(MAF_BIN_LABELS, itertools.pairwise(MAF_BINS), strict=True):
        in_bin = null & (maf > low) & (maf <= high)
        out[f"n_null_maf{label}"] = int(in_bin.sum())
        for alpha in TYPE1_ALPHAS:
            out[f"k_null_{alpha:g}_maf{label}"] = int(np.sum(p[in_bin] < alpha))
    out["n_causal"] = int(causal_p.size)
    for alpha in POWER_ALPHAS:
        out[f"k_causal_{alpha:g}"] = int(np.sum(causal_p < alpha))
    out["sum_chisq_causal"] = float(np.sum(chisq_from_p(causal_p)))
    return out


def _number(record: Mapping[str, Any], key: str) -> float:
    value = record.get(key)
    return float(value) if isinstance(value, (int, float)) else math.nan


def run_record(null: Mapping[str, Any], truth: Mapping[str, Any], *, estimated: bool
               ) -> dict[str, Any]:
    """What a replicate row holds of a run's ``null.json`` and the replicate's truth record:
    ``gamma``, ``h2``, ``se_h2`` (NaN when the run estimates no γ or reports no se),
    ``df_genetic`` (ours), ``n_samples``, ``n_snps`` (SNPs tested: M of the kinship built from
    them), the truth ``gamma_true``, ``h2_true`` and, for a binary trait, ``prevalence``,
    ``case_fraction`` (the sample's) and ``h2_liability_true`` (NaN for a quantitative one)."""
    gamma_true = float(truth["gamma"])
    gamma = _number(null, "gamma") if estimated else math.nan
    binary = truth.get("trait") == "binary"
    return {
        "gamma": gamma, "h2": gamma / (1.0 + gamma),
        "se_h2": _number(null, "se_h2") if estimated else math.nan,
        "df_genetic": _number(null, "df_genetic") if estimated else math.nan,
        "n_samples": _number(null, "n_samples"), "n_snps": _number(null, "n_tested"),
        "gamma_true": gamma_true, "h2_true": gamma_true / (1.0 + gamma_true),
        "prevalence": float(truth["prevalence"]) if binary else math.nan,
        "case_fraction": float(truth["case_fraction"]) if binary else math.nan,
        "h2_liability_true": float(truth["h2_liability"]) if binary else math.nan,
    }


def replicate_columns() -> tuple[str, ...]:
    """The columns of a replicate's table (``results/study/replicates/*.tsv``): the keys, the
    replicate, :func:`replicate_metrics`' counts and :func:`run_record`'s fields (also the
    header of a replicate whose every run was skipped)."""
    empty = np.empty(0)
    metrics = replicate_metrics(empty, empty, empty, empty)
    record = run_record({}, {"gamma": 1.0}, estimated=False)
    return ("scenario", "replicate", "tool", "mode", "statistic", *metrics, *record)


def _grouped(rows: pd.DataFrame, keys: Sequence[str] = KEYS
             ) -> Iterable[tuple[dict[str, Any], pd.DataFrame]]:
    for key, group in rows.groupby(list(keys), sort=False):
        yield dict(zip(keys, key, strict=True)), group


def _table(records: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=list(columns))


def _spread(values: np.ndarray) -> tuple[float, float]:
    """Mean and sd (ddof 1) of the finite values; NaN where undefined."""
    finite = values[np.isfinite(values)]
    mean = float(finite.mean()) if finite.size else math.nan
    sd = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return mean, sd


def _rate(hits: np.ndarray, trials: np.ndarray) -> dict[str, Any]:
    """A pooled rate with its replicate-level interval, and the pooled counts."""
    k, n = int(hits.sum()), int(trials.sum())
    low, high = rate_interval(hits, trials)
    return {"rate": k / n if n else math.nan, "ci_low": low, "ci_high": high,
            "ci": RATE_METHOD, "n_hits": k, "n_trials": n}


def calibration_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Type-I error per scenario × tool × mode × statistic × α, pooled over replicates.

    ``rows`` holds one :func:`replicate_metrics` record per replicate and run, with the
    :data:`KEYS` columns and ``replicate``.  Columns :data:`CALIBRATION_COLUMNS`: the keys,
    ``alpha``, ``type1_error`` with its replicate-level interval (``ci_low``, ``ci_high``,
    ``ci``), the per-SNP binomial interval (``snp_binomial_ci_*``, independent SNPs assumed),
    ``n_hits``, ``n_snps`` (null SNPs tested, pooled), ``lambda_gc_mean``, ``lambda_gc_sd``
    (ddof 1) and its t interval (``lambda_gc_ci_*``), ``n_replicates`` (with null SNPs).
    Runs without null SNPs have no row.
    """
    out = []
    for key, group in _grouped(rows):
        group = group[group["n_null"] > 0]
        if group.empty:
            continue
        lam = group["lambda_gc"].to_numpy(dtype=np.float64)
        lam_mean, lam_sd = _spread(lam)
        lam_low, lam_high = mean_interval(lam)
        n = group["n_null"].to_numpy()
        for alpha in TYPE1_ALPHAS:
            rate = _rate(group[f"k_null_{alpha:g}"].to_numpy(), n)
            snp_low, snp_high = clopper_pearson(rate["n_hits"], rate["n_trials"])
            out.append({
                **key, "alpha": alpha, "type1_error": rate["rate"], "ci_low": rate["ci_low"],
                "ci_high": rate["ci_high"], "ci": rate["ci"], "snp_binomial_ci_low": snp_low,
                "snp_binomial_ci_high": snp_high, "n_hits": rate["n_hits"],
                "n_snps": rate["n_trials"], "lambda_gc_mean": lam_mean, "lambda_gc_sd": lam_sd,
                "lambda_gc_ci_low": lam_low, "lambda_gc_ci_high": lam_high,
                "n_replicates": int(group["replicate"].nunique()),
            })
    return _table(out, CALIBRATION_COLUMNS)


def _scenario_mean(group: pd.DataFrame, column: str) -> float:
    return float(group[column].mean()) if column in group else math.nan


def calibration_maf_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Type-I error per scenario × tool × mode × statistic × MAF bin × α (bins with null
    SNPs only), pooled over replicates, with the replicate-level interval; ``prevalence`` and
    ``case_fraction`` (the mean realised share of cases) of a binary scenario, NaN for a
    quantitative one.  Columns :data:`CALIBRATION_MAF_COLUMNS`."""
    out = []
    for key, group in _grouped(rows):
        for label in MAF_BIN_LABELS:
            n = group[f"n_null_maf{label}"].to_numpy()
            if n.sum() == 0:
                continue
            for alpha in TYPE1_ALPHAS:
                rate = _rate(group[f"k_null_{alpha:g}_maf{label}"].to_numpy(), n)
                out.append({
                    **key, "prevalence": _scenario_mean(group, "prevalence"),
                    "case_fraction": _scenario_mean(group, "case_fraction"), "maf_bin": label,
                    "alpha": alpha, "type1_error": rate["rate"], "ci_low": rate["ci_low"],
                    "ci_high": rate["ci_high"], "ci": rate["ci"], "n_hits": rate["n_hits"],
                    "n_snps": rate["n_trials"],
                    "n_replicates": int(group.loc[n > 0, "replicate"].nunique()),
                })
    return _table(out, CALIBRATION_MAF_COLUMNS)


def power_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Power per scenario × tool × mode × statistic × α on the causal SNPs, pooled over
    replicates (scenarios with causal SNPs only), with the replicate-level interval; the mean
    χ² at the causal SNPs with the t interval of the pooled ratio.  Columns
    :data:`POWER_COLUMNS`."""
    out = []
    for key, group in _grouped(rows):
        n = group["n_causal"].to_numpy()
        if n.sum() == 0:
            continue
        chisq = group["sum_chisq_causal"].to_numpy(dtype=np.float64)
        chisq_low, chisq_high = study_intervals.ratio_interval(chisq, n)
        for alpha in POWER_ALPHAS:
            rate = _rate(group[f"k_causal_{alpha:g}"].to_numpy(), n)
            out.append({
                **key, "alpha": alpha, "power": rate["rate"], "ci_low": rate["ci_low"],
                "ci_high": rate["ci_high"], "ci": rate["ci"], "n_hits": rate["n_hits"],
                "n_causal": rate["n_trials"], "mean_chisq_causal": float(chisq.sum()) / n.sum(),
                "mean_chisq_ci_low": chisq_low, "mean_chisq_ci_high": chisq_high,
                "n_replicates": int(group["replicate"].nunique()),
            })
    return _table(out, POWER_COLUMNS)


def heritability_scales(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per replicate, run and scale of h²: ``scale`` ``observed`` (ĥ² = γ̂/(1 + γ̂),
    ``se_h2``, against ``h2_true``) for every run, and for a binary trait (``prevalence``
    given) a ``liability`` row: ĥ², se and the truth on the liability scale
    (:func:`lmmcompare.liability.observed_to_liability` at the replicate's prevalence and case
    fraction; the truth ``h2_liability_true``)."""
    observed = runs.assign(scale="observed")
    if "prevalence" not in runs:
        return observed
    binary = runs[np.isfinite(runs["prevalence"].to_numpy(dtype=np.float64))]
    if binary.empty:
        return observed
    factor = np.array([liability.scale_factor(k, p) for k, p in
                       zip(binary["prevalence"], binary["case_fraction"], strict=True)])
    h2 = binary["h2"].to_numpy(dtype=np.float64) * factor
    truth = binary["h2_liability_true"].to_numpy(dtype=np.float64)
    scaled = binary.assign(
        scale="liability", h2=h2, gamma=h2 / (1.0 - h2), se_h2=binary["se_h2"] * factor,
        h2_true=truth, gamma_true=truth / (1.0 - truth))
    return pd.concat([observed, scaled], ignore_index=True)


def heritability_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Bias and RMSE of h² and γ per scenario × tool × mode × scale against the truth, and the
    coverage of ĥ² ± 1.96·se(ĥ²).

    ``runs`` has one row per replicate and run with ``scenario tool mode replicate gamma h2
    gamma_true h2_true`` and optionally ``se_h2`` (NaN when the run reports none) and, for
    binary traits, ``prevalence case_fraction h2_liability_true`` (:func:`heritability_scales`
    makes the scales).  A run that estimates no γ (NaN) is left out.  Columns
    :data:`HERITABILITY_COLUMNS`: the truth (mean), the estimates' mean, the bias of ĥ² with
    its t interval (``ci_low``, ``ci_high``, ``ci``), RMSE and sd of ĥ², the same for γ;
    ``se_coverage`` the share of the ``n_with_se`` replicates with a standard error whose
    ĥ² ± 1.96·se holds the truth, with its Clopper–Pearson interval over replicates.
    """
    runs = runs[np.isfinite(runs["gamma"].to_numpy(dtype=np.float64))]
    if "se_h2" not in runs:
        runs = runs.assign(se_h2=math.nan)
    out = []
    for key, group in _grouped(heritability_scales(runs), [*KEYS[:3], "scale"]):
        record: dict[str, Any] = dict(key)
        for name in ("gamma", "h2"):
            est = group[name].to_numpy(dtype=np.float64)
            err = est - group[f"{name}_true"].to_numpy(dtype=np.float64)
            record[f"{name}_true"] = float(group[f"{name}_true"].mean())
            record[f"{name}_mean"] = float(est.mean())
            record[f"{name}_bias"] = float(err.mean())
            record[f"{name}_rmse"] = float(math.sqrt(np.mean(err**2)))
            if name == "h2":
                record["ci_low"], record["ci_high"] = mean_interval(err)
        record["ci"] = MEAN_METHOD
        record["h2_sd"] = _spread(group["h2"].to_numpy(dtype=np.float64))[1]
        se = group["se_h2"].to_numpy(dtype=np.float64)
        with_se = np.isfinite(se)
        covered = int(np.sum(np.abs(group["h2"].to_numpy(dtype=np.float64)
                                    - group["h2_true"].to_numpy(dtype=np.float64))[with_se]
                             <= SE_COVERAGE_Z * se[with_se]))
        record["n_with_se"] = int(with_se.sum())
        record["se_coverage"] = covered / record["n_with_se"] if with_se.any() else math.nan
        record["se_coverage_ci_low"], record["se_coverage_ci_high"] = clopper_pearson(
            covered, record["n_with_se"])
        record["n_replicates"] = int(group["replicate"].nunique())
        out.append(record)
    return _table(out, HERITABILITY_COLUMNS)


def runtime_table(benchmarks: pd.DataFrame, scenarios: Mapping[str, str]) -> pd.DataFrame:
    """Wall time and peak memory of every tool run per scenario × tool × mode, over replicates.

    ``benchmarks`` is :func:`lmmcompare.job_metrics.read_job_metrics`' table of the study's tool
    runs (one row per run and repeat; skipped runs left out by the caller), ``scenarios`` maps
    each replicate dataset to its scenario.  Columns: ``scenario tool mode``, ``seconds_mean``,
    ``seconds_sd`` (ddof 1, NaN for one replicate), ``seconds_max``, ``max_rss_mb_mean``,
    ``n_samples``, ``n_snps`` (their means: one size per scenario unless it varies),
    ``n_replicates``.  Not byte-reproducible: it is what the machine measured.
    """
    columns = ["scenario", "tool", "mode", "seconds_mean", "seconds_sd", "seconds_max",
               "max_rss_mb_mean", "n_samples", "n_snps", "n_replicates"]
    if benchmarks.empty:
        return pd.DataFrame(columns=columns)
    table = benchmarks.assign(scenario=benchmarks["dataset"].map(dict(scenarios)))
    out = []
    for (scenario, tool, mode), group in table.groupby(["scenario", "tool", "mode"], sort=False):
        seconds = group["seconds"].to_numpy(dtype=np.float64)
        out.append({
            "scenario": scenario, "tool": tool, "mode": mode,
            "seconds_mean": float(seconds.mean()),
            "seconds_sd": float(seconds.std(ddof=1)) if seconds.size > 1 else math.nan,
            "seconds_max": float(seconds.max()),
            "max_rss_mb_mean": float(group["max_rss"].mean()),
            "n_samples": float(group["n_samples"].mean()),
            "n_snps": float(group["n_snps"].mean()),
            "n_replicates": int(group["dataset"].nunique()),
        })
    return pd.DataFrame(out, columns=columns)


def proximal_table(rows: pd.DataFrame, full: str = "fixed", loco: str = "loco") -> pd.DataFrame:
    """Proximal contamination (Listgarten et al. 2012; Yang et al. 2014, MLMi against MLMe):
    for every tool with runs in both ``full`` (the causal SNP's chromosome in the kinship) and
    ``loco`` mode, per scenario, statistic and α of :data:`POWER_ALPHAS`: the power and mean χ²
    at the causal SNPs of each, and their differences (loco − full) with t intervals of the
    paired per-replicate differences (the same replicates and causal SNPs in both modes: the
    pooled ratio of :func:`lmmcompare.study_intervals.ratio_interval`).  ``rows`` are the
    replicate rows of :func:`replicate_metrics`; columns :data:`PROXIMAL_COLUMNS`."""
    keys = ["scenario", "tool", "statistic", "replicate"]
    counts = ["n_causal", "sum_chisq_causal", *(f"k_causal_{a:g}" for a in POWER_ALPHAS)]
    a = rows[rows["mode"] == full][keys + counts]
    b = rows[rows["mode"] == loco][keys + counts]
    merged = a.merge(b, on=keys, suffixes=("_full", "_loco"))
    merged = merged[(merged["n_causal_full"] > 0)
                    & (merged["n_causal_full"] == merged["n_causal_loco"])]
    out = []
    for key, group in _grouped(merged, keys[:3]):
        n = group["n_causal_full"].to_numpy()
        chisq = {side: group[f"sum_chisq_causal_{side}"].to_numpy(dtype=np.float64)
                 for side in ("full", "loco")}
        chisq_low, chisq_high = study_intervals.ratio_interval(chisq["loco"] - chisq["full"], n)
        for alpha in POWER_ALPHAS:
            hits = {side: group[f"k_causal_{alpha:g}_{side}"].to_numpy(dtype=np.float64)
                    for side in ("full", "loco")}
            power_low, power_high = study_intervals.ratio_interval(
                hits["loco"] - hits["full"], n)
            out.append({
                **key, "alpha": alpha, "power_full": hits["full"].sum() / n.sum(),
                "power_loco": hits["loco"].sum() / n.sum(),
                "power_diff": (hits["loco"].sum() - hits["full"].sum()) / n.sum(),
                "power_diff_ci_low": power_low, "power_diff_ci_high": power_high,
                "mean_chisq_causal_full": chisq["full"].sum() / n.sum(),
                "mean_chisq_causal_loco": chisq["loco"].sum() / n.sum(),
                "mean_chisq_diff": (chisq["loco"].sum() - chisq["full"].sum()) / n.sum(),
                "mean_chisq_diff_ci_low": chisq_low, "mean_chisq_diff_ci_high": chisq_high,
                "ci": MEAN_METHOD, "n_causal": int(n.sum()),
                "n_replicates": int(group["replicate"].nunique()),
            })
    return _table(out, PROXIMAL_COLUMNS)
