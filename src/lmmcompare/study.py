"""Metrics of a replicated simulation study: calibration, power and heritability bias.

One replicate of a scenario is one simulated dataset with a known truth, scanned by every tool.
Per replicate and run (tool × mode × statistic) :func:`replicate_metrics` counts what the
study tables pool; :func:`calibration_table`, :func:`power_table` and
:func:`heritability_table` aggregate the replicates of each scenario.

Definitions
-----------
* **Null SNPs.**  When the simulation left chromosomes without any genetic effect
  (``null_chromosomes``), their SNPs: truly null, even for a leave-one-chromosome-out test.
  Otherwise, in a null scenario (no causal SNP) every tested SNP, and else the SNPs on
  chromosomes that hold no causal SNP (:func:`null_snp_mask`) — the "far from causal" set of
  Yang et al. (2014).  Those carry no causal SNP but do carry polygenic effects: a full-kinship
  LMM absorbs them, a LOCO test picks them up (inflation under polygenicity, not a type-I
  error), so calibration scenarios should set ``null_chromosomes``.
* **Type-I error at α**: k/n, k the null SNPs with p < α, n the null SNPs tested, pooled over the
  replicates, with the exact (Clopper–Pearson) two-sided 95 % interval
  [B(α/2; k, n − k + 1), B(1 − α/2; k + 1, n − k)] of the Beta quantiles
  (:func:`clopper_pearson`).  SNPs of one replicate are not independent (LD), so the interval is
  narrower than it should be; it is the convention of the published comparisons.
* **λGC** per replicate over its null SNPs (:func:`lmmcompare.compare.lambda_gc`); the table
  gives the mean and standard deviation over replicates.
* **Power at α**: the share of causal SNPs with p < α, pooled over replicates, with its
  Clopper–Pearson interval; **mean χ²** at causal SNPs, χ² = F⁻¹_{χ²₁}(1 − p) = Φ⁻¹(p/2)².
* **Heritability**: bias = mean(ĥ² − h²), RMSE = √mean((ĥ² − h²)²) and the same for γ, over
  the replicates, against the truth the simulator defines on the kinship every tool is given
  (``gamma`` of the truth record; see :mod:`lmmcompare.simulate`).
* **Runtime** per replicate: each tool run's wall time and peak memory from its Snakemake
  benchmark file (:func:`runtime_table`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from lmmcompare.compare import lambda_gc

TYPE1_ALPHAS = (0.05, 1e-3, 1e-4)
"""Significance levels of the calibration table."""

POWER_ALPHAS = (5e-8, 1e-5)
"""Significance levels of the power table."""

CONFIDENCE = 0.95
"""Level of the Clopper–Pearson intervals."""

KEYS = ("scenario", "tool", "mode", "statistic")
"""What a row of the study tables is about."""


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact two-sided binomial interval for k successes in n trials.

    Lower bound B(a/2; k, n − k + 1) (0 when k = 0), upper bound B(1 − a/2; k + 1, n − k)
    (1 when k = n), a = 1 − ``confidence``; (NaN, NaN) when n = 0.

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


def null_snp_mask(
    chrom: Sequence[str], snp: Sequence[str], causal: Iterable[str],
    null_chromosomes: Iterable[str] = (),
) -> np.ndarray:
    """Null SNPs of a replicate: the SNPs of the chromosomes the simulation gave no effect at
    all (``null_chromosomes`` of the truth record) when there are such; else every SNP when
    there is no causal SNP, else the SNPs on the chromosomes without one (module docstring)."""
    chrom = np.asarray(chrom).astype(str)
    null_chromosomes = [str(c) for c in null_chromosomes]
    if null_chromosomes:
        return np.isin(chrom, null_chromosomes)
    causal = set(causal)
    if not causal:
        return np.ones(chrom.size, dtype=bool)
    is_causal = np.isin(np.asarray(snp).astype(str), list(causal))
    return ~np.isin(chrom, np.unique(chrom[is_causal]))


def replicate_metrics(
    p: np.ndarray, is_null: np.ndarray, is_causal: np.ndarray
) -> dict[str, Any]:
    """What one run of one replicate adds to the study tables (NaN p = not tested).

    ``n_null``/``k_null_{α}``: tested null SNPs and those with p < α (:data:`TYPE1_ALPHAS`);
    ``lambda_gc`` over the null SNPs; ``n_causal``/``k_causal_{α}``: tested causal SNPs and those
    with p < α (:data:`POWER_ALPHAS`); ``sum_chisq_causal`` of their χ².
    """
    p = np.asarray(p, dtype=np.float64)
    tested = np.isfinite(p)
    null_p = p[tested & np.asarray(is_null, dtype=bool)]
    causal_p = p[tested & np.asarray(is_causal, dtype=bool)]
    out: dict[str, Any] = {"n_null": int(null_p.size), "lambda_gc": lambda_gc(null_p)}
    for alpha in TYPE1_ALPHAS:
        out[f"k_null_{alpha:g}"] = int(np.sum(null_p < alpha))
    out["n_causal"] = int(causal_p.size)
    for alpha in POWER_ALPHAS:
        out[f"k_causal_{alpha:g}"] = int(np.sum(causal_p < alpha))
    out["sum_chisq_causal"] = float(np.sum(chisq_from_p(causal_p)))
    return out


def _grouped(rows: pd.DataFrame) -> Iterable[tuple[tuple, pd.DataFrame]]:
    return rows.groupby(list(KEYS), sort=False)


def calibration_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Type-I error per scenario × tool × mode × statistic × α, pooled over replicates.

    ``rows`` holds one :func:`replicate_metrics` record per replicate and run, with the
    :data:`KEYS` columns and ``replicate``.  Columns: the keys, ``alpha``, ``type1_error``,
    ``ci_low``, ``ci_high`` (Clopper–Pearson), ``n_hits``, ``n_snps`` (null SNPs tested, pooled),
    ``lambda_gc_mean``, ``lambda_gc_sd`` (over replicates; sd with ddof 1, NaN for one),
    ``n_replicates``.
    """
    out = []
    for key, group in _grouped(rows):
        lam = group["lambda_gc"].to_numpy(dtype=np.float64)
        n = int(group["n_null"].sum())
        for alpha in TYPE1_ALPHAS:
            k = int(group[f"k_null_{alpha:g}"].sum())
            low, high = clopper_pearson(k, n)
            out.append({
                **dict(zip(KEYS, key, strict=True)), "alpha": alpha,
                "type1_error": k / n if n else math.nan, "ci_low": low, "ci_high": high,
                "n_hits": k, "n_snps": n,
                "lambda_gc_mean": float(np.nanmean(lam)) if np.isfinite(lam).any() else math.nan,
                "lambda_gc_sd": float(np.nanstd(lam, ddof=1)) if np.isfinite(lam).sum() > 1
                else math.nan,
                "n_replicates": int(group["replicate"].nunique()),
            })
    return pd.DataFrame(out)


def power_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Power per scenario × tool × mode × statistic × α on the causal SNPs, pooled over
    replicates (scenarios with causal SNPs only).  Columns: the keys, ``alpha``, ``power``,
    ``ci_low``, ``ci_high``, ``n_hits``, ``n_causal``, ``mean_chisq_causal``, ``n_replicates``.
    """
    out = []
    for key, group in _grouped(rows):
        n = int(group["n_causal"].sum())
        if n == 0:
            continue
        for alpha in POWER_ALPHAS:
            k = int(group[f"k_causal_{alpha:g}"].sum())
            low, high = clopper_pearson(k, n)
            out.append({
                **dict(zip(KEYS, key, strict=True)), "alpha": alpha, "power": k / n,
                "ci_low": low, "ci_high": high, "n_hits": k, "n_causal": n,
                "mean_chisq_causal": float(group["sum_chisq_causal"].sum()) / n,
                "n_replicates": int(group["replicate"].nunique()),
            })
    return pd.DataFrame(out)


def heritability_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Bias and RMSE of γ and h² per scenario × tool × mode against the truth.

    ``rows`` has one row per replicate and run with ``scenario tool mode replicate gamma h2
    gamma_true h2_true`` (NaN γ for a run that estimates none: it is left out).  Columns: the
    keys but ``statistic``, ``gamma_true``/``h2_true`` (their mean), ``gamma_mean``,
    ``gamma_bias``, ``gamma_rmse``, ``h2_mean``, ``h2_bias``, ``h2_rmse``, ``h2_sd``,
    ``n_replicates``.
    """
    out = []
    rows = rows[np.isfinite(rows["gamma"].to_numpy(dtype=np.float64))]
    for key, group in rows.groupby(list(KEYS[:3]), sort=False):
        record: dict[str, Any] = dict(zip(KEYS[:3], key, strict=True))
        for name in ("gamma", "h2"):
            est = group[name].to_numpy(dtype=np.float64)
            err = est - group[f"{name}_true"].to_numpy(dtype=np.float64)
            record[f"{name}_true"] = float(group[f"{name}_true"].mean())
            record[f"{name}_mean"] = float(est.mean())
            record[f"{name}_bias"] = float(err.mean())
            record[f"{name}_rmse"] = float(math.sqrt(np.mean(err**2)))
        h2 = group["h2"].to_numpy(dtype=np.float64)
        record["h2_sd"] = float(np.std(h2, ddof=1)) if h2.size > 1 else math.nan
        record["n_replicates"] = int(group["replicate"].nunique())
        out.append(record)
    return pd.DataFrame(out)


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


def proximal_table(power: pd.DataFrame, full: str = "fixed", loco: str = "loco") -> pd.DataFrame:
    """Proximal contamination (Listgarten et al. 2012; Yang et al. 2014, MLMi against MLMe):
    for every tool with runs in both ``full`` (the causal SNP's chromosome in the kinship) and
    ``loco`` mode, the mean χ² at causal SNPs and the power of each, and their differences
    (loco − full), per scenario, statistic and α of :func:`power_table`."""
    keys = ["scenario", "tool", "statistic", "alpha"]
    columns = ["mean_chisq_causal", "power", "n_causal", "n_replicates"]
    a = power[power["mode"] == full][keys + columns]
    b = power[power["mode"] == loco][keys + columns]
    merged = a.merge(b, on=keys, suffixes=("_full", "_loco"))
    merged["mean_chisq_diff"] = merged["mean_chisq_causal_loco"] - merged["mean_chisq_causal_full"]
    merged["power_diff"] = merged["power_loco"] - merged["power_full"]
    return merged
