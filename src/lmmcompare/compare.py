"""Compare tool results with each other and with the simulated truth; check tolerances.

Every tool run (ours and each peer's) is converted to the two files of ``docs/DESIGN.md``:
``PREFIX.assoc.tsv`` and ``PREFIX.null.json``.  By then every variance parameter is in the one
standard form (γ = σg²/σe² on the K that was passed in, converted by each tool's entry in
``lmmcompare.registry``), so this module compares numbers directly and converts nothing.

Definitions used throughout
---------------------------
* ``-log10 p`` with p clipped below at the smallest positive double (so p = 0 stays finite).
* ``λGC = median(χ²₁ quantile of p) / median(χ²₁) = median(F⁻¹(1 − p)) / 0.4549364…``.
* SNPs are matched between tools by ``snp`` id; metrics on a statistic use the SNPs where both
  p values are finite.  ``n_snps`` counts the SNP ids the two results have in common.
* ``rel_diff_gamma = |γa − γb| / max(|γa|, |γb|)`` (0 when both are 0).

pandas is a workflow dependency.
"""

from __future__ import annotations

import io
import math
from itertools import combinations
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import special, stats

from exactlmm.errors import InputError
from exactlmm.io.atomic import write_text_atomic
from lmmcompare import panel, registry
from lmmcompare.registry import STATISTICS

#: Median of the χ² distribution with one degree of freedom.
CHI2_1_MEDIAN = float(stats.chi2.ppf(0.5, 1))
_SMALLEST_P = np.finfo(np.float64).tiny

CONCORDANCE_COLUMNS = (
    "dataset", "mode", "tool_a", "tool_b", "comparison", "statistic", "n_snps", "n_compared",
    "n_one_sided",
    "gamma_a", "gamma_b", "rel_diff_gamma",
    "likelihood_a", "likelihood_b", "loglik_a", "loglik_b", "abs_diff_loglik",
    "pearson_r", "max_abs_diff_log10p", "median_abs_diff_log10p", "max_abs_diff_beta_over_se",
    "pearson_r_beta",
    "n_sig_a", "n_sig_b", "n_sig_a_only", "n_sig_b_only", "lambda_gc_a", "lambda_gc_b",
    "abs_diff_lambda_gc",
)
_OURS_COLUMNS = ("ours_loglik_at_gamma_a", "ours_loglik_at_gamma_b", "abs_diff_ours_loglik")
#: Columns of a tolerance entry that select rows; every other key is a metric bound.
SELECTORS = ("dataset", "mode", "tool", "tool_a", "tool_b", "statistic")
#: The concordance table's numbers a tolerance may bound: ``metric`` (an upper bound) or
#: ``min_metric`` (a lower one).
BOUNDABLE = tuple(
    name for name in (*CONCORDANCE_COLUMNS, *_OURS_COLUMNS)
    if name not in ("dataset", "mode", "tool_a", "tool_b", "comparison", "statistic",
                    "likelihood_a", "likelihood_b"))


def bound_metric(key: str) -> tuple[str, str] | None:
    """``(metric, "max" | "min")`` of a tolerance's bound key, or ``None`` when it names no
    boundable metric (:data:`BOUNDABLE`)."""
    if key in BOUNDABLE:
        return key, "max"
    if key.startswith("min_") and key[4:] in BOUNDABLE:
        return key[4:], "min"
    return None


class Result(Protocol):
    """What the comparison functions read of a run: ``tool``, ``mode``, the ``null.json`` record
    and the ``assoc.tsv`` table (columns of ``exactlmm.io.results.ASSOC_COLUMNS``; ``chrom snp
    a1 a2 errcode`` text, the statistics float with NA → NaN).  A loaded run
    (:class:`lmmcompare.runs.RunResult`) is one."""

    @property
    def tool(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def null(self) -> dict: ...

    @property
    def assoc(self) -> pd.DataFrame: ...


def minus_log10(p: np.ndarray) -> np.ndarray:
    """``-log10 p`` with p clipped below at the smallest positive double."""
    return -np.log10(np.maximum(np.asarray(p, dtype=np.float64), _SMALLEST_P))


def lambda_gc(p: np.ndarray) -> float:
    """Genomic-control λ: median χ²₁ quantile of the p values over the χ²₁ median.

    ``λ = median(F⁻¹_{χ²₁}(1 − p)) / 0.4549364…``, the χ²₁ quantile computed as ``Φ⁻¹(p/2)²``
    (a hundred times faster than ``chi2.isf``, same values).  NaN p values are ignored; NaN when
    none is left.
    """
    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    if p.size == 0:
        return math.nan
    return float(np.median(special.ndtri(p / 2.0) ** 2) / CHI2_1_MEDIAN)


def _number(record: dict, key: str) -> float:
    value = record.get(key)
    return float(value) if isinstance(value, (int, float)) else math.nan


def _relative_difference(a: float, b: float) -> float:
    """|a − b| / max(|a|, |b|); NaN when either is NaN (so a missing γ fails a bound)."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    scale = max(abs(a), abs(b))
    if scale == 0.0:
        return 0.0
    return abs(a - b) / scale


def _beta_difference(merged: pd.DataFrame) -> float:
    """max over SNPs of |β_a − β_b| / max(se_a, se_b): effect sizes on one scale (a flipped
    allele coding shows up here even when p-values agree)."""
    beta_a, beta_b = merged["beta_a"].to_numpy(np.float64), merged["beta_b"].to_numpy(np.float64)
    se = np.fmax(merged["se_a"].to_numpy(np.float64), merged["se_b"].to_numpy(np.float64))
    ok = np.isfinite(beta_a) & np.isfinite(beta_b) & np.isfinite(se) & (se > 0)
    return float(np.max(np.abs(beta_a - beta_b)[ok] / se[ok])) if ok.any() else math.nan


def _beta_correlation(merged: pd.DataFrame) -> float:
    """Pearson r of β_a and β_b over the SNPs where both are finite: about +1 for two models of
    the same coding, about −1 when one tool counts the other allele."""
    beta_a, beta_b = merged["beta_a"].to_numpy(np.float64), merged["beta_b"].to_numpy(np.float64)
    ok = np.isfinite(beta_a) & np.isfinite(beta_b)
    return pearson(beta_a[ok], beta_b[ok])


def _has_values(result: Result, statistic: str) -> bool:
    return bool(np.isfinite(result.assoc[statistic].to_numpy(dtype=np.float64)).any())


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two equal-length vectors; NaN for fewer than two points or a
    constant vector."""
    if x.size < 2 or np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _pair_metrics(p_a: np.ndarray, p_b: np.ndarray, alpha: float) -> dict[str, Any]:
    """Agreement of two p-value vectors over the same SNPs (NaN where a tool gives none)."""
    both = np.isfinite(p_a) & np.isfinite(p_b)
    log_a, log_b = minus_log10(p_a[both]), minus_log10(p_b[both])
    diff = np.abs(log_a - log_b)
    sig_a, sig_b = p_a < alpha, p_b < alpha  # NaN compares False: not significant
    return {
        "n_compared": int(both.sum()),
        "pearson_r": pearson(log_a, log_b),
        "max_abs_diff_log10p": float(diff.max()) if diff.size else math.nan,
        "median_abs_diff_log10p": float(np.median(diff)) if diff.size else math.nan,
        "n_sig_a": int(sig_a.sum()),
        "n_sig_b": int(sig_b.sum()),
        "n_sig_a_only": int((sig_a & ~sig_b).sum()),
        "n_sig_b_only": int((sig_b & ~sig_a).sum()),
        "lambda_gc_a": lambda_gc(p_a),
        "lambda_gc_b": lambda_gc(p_b),
        "abs_diff_lambda_gc": abs(lambda_gc(p_a) - lambda_gc(p_b)),
    }


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must lie strictly between 0 and 1 (got {alpha})")


def compared_columns(a: Result, b: Result, statistic: str,
                     tools: panel.Panel = panel.REGISTRY) -> tuple[str, str] | None:
    """The columns of ``a`` and ``b`` a row of ``statistic`` compares, or ``None``.

    Both give it: that column of each.  Only one gives it (a statistic only a peer has,
    BOLT-LMM's ``p_bolt_mix``): the other's column is the one the giver's panel entry names
    (``Panel.reference_statistic``: ours' ``p_wald``).  Each column must hold a value."""
    columns = []
    for this, other in ((a, b), (b, a)):
        if _has_values(this, statistic):
            columns.append(statistic)
        else:
            columns.append(tools.reference_statistic(other.tool, statistic))
    if statistic not in columns or None in columns:
        return None
    col_a, col_b = columns
    if not (_has_values(a, col_a) and _has_values(b, col_b)):
        return None
    return col_a, col_b


def comparison_pairs(results: list[Result], tools: panel.Panel = panel.REGISTRY
                     ) -> list[tuple[Result, Result, str, str]]:
    """The pairs a concordance table compares, as ``(a, b, mode label, comparison)``; the tools
    are those of the panel ``tools`` (default: the registry's; a tool it does not know counts
    as exact).

    * Every unordered pair of results of the same mode, in the order of ``results``; the
      comparison is ``"exact"`` when the panel marks both tools exact in that mode
      (``Panel.is_exact``: ``Tool.exact_in``), else ``"approximate"``.
    * Every cross-mode pair the panel declares (``Tool.reference_modes``): ours
      (:data:`registry.REFERENCE`) in the reference mode as ``a``, the tool as ``b``, labelled
      ``registry.cross_mode(mode_a, mode_b)`` (e.g. ``"fixed/none"``), comparison
      ``"cross-mode"`` (meant for λGC and the direction of effects: two different models).
    """
    pairs = []
    for a, b in combinations(results, 2):
        if a.mode == b.mode:
            exact = tools.is_exact(a.tool, a.mode) and tools.is_exact(b.tool, b.mode)
            kind = "exact" if exact else "approximate"
            pairs.append((a, b, a.mode, kind))
    for b in results:
        mode = tools.reference_mode(b.tool, b.mode)
        for a in results:
            if mode is not None and a.tool == registry.REFERENCE and a.mode == mode:
                pairs.append((a, b, registry.cross_mode(a.mode, b.mode), "cross-mode"))
    return pairs


def concordance(
    results: list[Result],
    *,
    dataset: str,
    alpha: float,
    ours_loglik_at: dict[tuple[str, str], float] | None = None,
    tools: panel.Panel = panel.REGISTRY,
) -> pd.DataFrame:
    """Tidy agreement table: one row per (pair of results, statistic).

    The pairs are those of :func:`comparison_pairs` over the panel ``tools`` (same mode, plus
    the panel's cross-mode pairs); a statistic is compared when both results give it for at
    least one SNP, or one gives it and the other the statistic it is compared with
    (:func:`compared_columns`: the row of BOLT-LMM's ``p_bolt_mix`` against ours compares it
    with ours' ``p_wald``).  ``alpha`` is the significance threshold as given (e.g.
    0.05 / n_snps).  Columns are :data:`CONCORDANCE_COLUMNS`; λGC is computed over the SNPs the
    two results share.
    ``loglik`` values are each tool's own (see ``likelihood_a/_b``: REML or ML, possibly with
    different constants); when ``ours_loglik_at`` maps a run's ``(tool, mode)`` to our REML
    log-likelihood evaluated at that run's γ, the columns ``ours_loglik_at_gamma_a/_b`` and
    their absolute difference compare the fits on one convention.
    """
    _check_alpha(alpha)
    columns = list(CONCORDANCE_COLUMNS)
    if ours_loglik_at is not None:
        columns += _OURS_COLUMNS
    rows = []
    for a, b, mode, kind in comparison_pairs(results, tools):
        # Outer join: a SNP in one table only counts as one-sided (n_one_sided), not as absent.
        wanted = ["snp", "beta", "se", *STATISTICS]
        merged = a.assoc[wanted].merge(
            b.assoc[wanted], on="snp", how="outer", suffixes=("_a", "_b"),
            validate="one_to_one", indicator=True,
        )
        common = merged[merged["_merge"] == "both"]
        gamma_a, gamma_b = _number(a.null, "gamma"), _number(b.null, "gamma")
        loglik_a, loglik_b = _number(a.null, "loglik"), _number(b.null, "loglik")
        for statistic in STATISTICS:
            compared = compared_columns(a, b, statistic, tools)
            if compared is None:
                continue
            col_a, col_b = compared
            row: dict[str, Any] = {
                "dataset": dataset,
                "mode": mode,
                "tool_a": a.tool,
                "tool_b": b.tool,
                "comparison": kind,
                "statistic": statistic,
                "n_snps": len(common),
                "gamma_a": gamma_a,
                "gamma_b": gamma_b,
                "rel_diff_gamma": _relative_difference(gamma_a, gamma_b),
                "likelihood_a": a.null.get("likelihood", "NA"),
                "likelihood_b": b.null.get("likelihood", "NA"),
                "loglik_a": loglik_a,
                "loglik_b": loglik_b,
                "abs_diff_loglik": abs(loglik_a - loglik_b),
            }
            row.update(
                _pair_metrics(
                    common[f"{col_a}_a"].to_numpy(dtype=np.float64),
                    common[f"{col_b}_b"].to_numpy(dtype=np.float64),
                    alpha,
                )
            )
            finite_a = np.isfinite(merged[f"{col_a}_a"].to_numpy(dtype=np.float64))
            finite_b = np.isfinite(merged[f"{col_b}_b"].to_numpy(dtype=np.float64))
            row["n_one_sided"] = int((finite_a ^ finite_b).sum())
            wald = statistic == "p_wald"
            row["max_abs_diff_beta_over_se"] = _beta_difference(common) if wald else math.nan
            row["pearson_r_beta"] = _beta_correlation(common) if wald else math.nan
            if ours_loglik_at is not None:
                at_a = float(ours_loglik_at.get((a.tool, a.mode), math.nan))
                at_b = float(ours_loglik_at.get((b.tool, b.mode), math.nan))
                row["ours_loglik_at_gamma_a"] = at_a
                row["ours_loglik_at_gamma_b"] = at_b
                row["abs_diff_ours_loglik"] = abs(at_a - at_b)
            rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def truth_table(
    results: list[Result], truth: dict, *, dataset: str, alpha: float
) -> pd.DataFrame:
    """One row per result: distance of the null fit to the simulated truth, power, false hits.

    ``truth`` is the record of :func:`lmmcompare.simulate.simulate_dataset`: ``gamma`` (the γ an
    LMM on K estimates, ``gamma_total``), ``h2``, ``causal_snps`` and ``kinship_mean_diag`` t
    (the truth's pve is γt/(1 + γt)).  Per statistic ``s``: ``n_detected_s`` causal SNPs with
    p < alpha, ``power_s`` = that over the causal SNPs the result tested, ``n_false_pos_s``
    non-causal SNPs with p < alpha, ``lambda_gc_s`` over all tested SNPs (NaN when the tool does
    not give ``s``).  A run without a kinship (mode :data:`registry.NO_KINSHIP_MODE`) estimates
    no γ: its γ, h² and pve columns are NaN (its power and λGC are kept).
    """
    _check_alpha(alpha)
    gamma_true = float(truth["gamma"])
    h2_true = float(truth["h2"])
    t = float(truth.get("kinship_mean_diag", 1.0))
    pve_true = gamma_true * t / (1.0 + gamma_true * t)
    causal = set(truth.get("causal_snps", []))
    rows = []
    for result in results:
        estimated = result.mode != registry.NO_KINSHIP_MODE
        gamma = _number(result.null, "gamma") if estimated else math.nan
        h2 = _number(result.null, "h2") if estimated else math.nan
        pve = _number(result.null, "pve") if estimated else math.nan
        is_causal = result.assoc["snp"].isin(causal).to_numpy()
        row: dict[str, Any] = {
            "dataset": dataset,
            "tool": result.tool,
            "mode": result.mode,
            "gamma": gamma,
            "gamma_true": gamma_true,
            "gamma_polygenic_true": float(truth.get("gamma_polygenic", math.nan)),
            "abs_err_gamma": abs(gamma - gamma_true),
            "rel_err_gamma": abs(gamma - gamma_true) / gamma_true,
            "h2": h2,
            "h2_true": h2_true,
            "abs_err_h2": abs(h2 - h2_true),
            "pve": pve,
            "pve_true": pve_true,
            "abs_err_pve": abs(pve - pve_true),
            "n_causal": len(causal),
            "n_causal_tested": int(is_causal.sum()),
        }
        for statistic in STATISTICS:
            p = result.assoc[statistic].to_numpy(dtype=np.float64)
            given = bool(np.isfinite(p).any())
            hit = p < alpha
            detected = int((hit & is_causal).sum())
            tested = int((np.isfinite(p) & is_causal).sum())
            row[f"n_detected_{statistic}"] = detected if given else math.nan
            row[f"power_{statistic}"] = detected / tested if given and tested else math.nan
            row[f"n_false_pos_{statistic}"] = int((hit & ~is_causal).sum()) if given else math.nan
            row[f"lambda_gc_{statistic}"] = lambda_gc(p)
        rows.append(row)
    return pd.DataFrame(rows)


def _describe(row: pd.Series) -> str:
    """Short row description for messages: dataset, mode, tools and statistic where present."""
    parts = []
    for key in ("dataset", "mode"):
        if key in row.index:
            parts.append(f"{key}={row[key]}")
    if "tool_a" in row.index and "tool_b" in row.index:
        parts.append(f"{row['tool_a']} vs {row['tool_b']}")
    elif "tool" in row.index:
        parts.append(f"tool={row['tool']}")
    if "statistic" in row.index:
        parts.append(str(row["statistic"]))
    return " ".join(parts)


def _selected(table: pd.DataFrame, tolerance: dict) -> pd.Series | str:
    """Boolean row mask for a tolerance's selectors, or an error text."""
    mask = pd.Series(True, index=table.index)
    for key in ("dataset", "mode", "statistic"):
        if key in tolerance:
            if key not in table.columns:
                return f"selector {key!r} is not a column of the table"
            mask &= table[key].astype(str) == str(tolerance[key])
    pair = [str(tolerance[key]) for key in ("tool_a", "tool_b") if key in tolerance]
    if "tool_a" in table.columns and "tool_b" in table.columns:
        side_a, side_b = table["tool_a"].astype(str), table["tool_b"].astype(str)
        if len(pair) == 2:
            mask &= ((side_a == pair[0]) & (side_b == pair[1])) | (
                (side_a == pair[1]) & (side_b == pair[0])
            )
        for tool in pair[:1] if len(pair) == 1 else []:
            mask &= (side_a == tool) | (side_b == tool)
        if "tool" in tolerance:
            mask &= (side_a == str(tolerance["tool"])) | (side_b == str(tolerance["tool"]))
    elif pair:
        return "selectors tool_a/tool_b need a table with tool_a and tool_b columns"
    elif "tool" in tolerance:
        if "tool" not in table.columns:
            return "selector 'tool' is not a column of the table"
        mask &= table["tool"].astype(str) == str(tolerance["tool"])
    return mask


def _bound(table: pd.DataFrame, key: str) -> tuple[str, str] | None:
    """Metric and direction of a bound key: ``metric`` (upper) or ``min_metric`` (lower)."""
    if key in table.columns:
        return key, "max"
    if key.startswith("min_") and key[4:] in table.columns:
        return key[4:], "min"
    return None


def check_tolerances(table: pd.DataFrame, tolerances: list[dict]) -> list[str]:
    """One-line violation messages for ``tolerances`` applied to a concordance or truth table.

    Each tolerance is a dict of selectors (:data:`SELECTORS`; a missing selector matches any
    value; ``tool_a``/``tool_b`` match a pair in either order, ``tool`` a row of either tool or
    the ``tool`` column of a truth table) and metric bounds: ``metric: bound`` requires
    ``value <= bound``; ``min_metric: bound`` requires ``value >= bound``.  A NaN value, an
    unknown metric and a tolerance that matches no row are violations too, so a misconfigured
    check cannot pass silently.  On a concordance table every tolerance also bounds
    ``n_one_sided`` (SNPs with a p-value from one tool only) by 0 unless it sets its own bound,
    so a tool that returns NA for most SNPs cannot pass on the few it did test.
    Returns ``[]`` when everything holds.
    """
    messages = []
    for tolerance in tolerances:
        if "n_one_sided" in table.columns and not {"n_one_sided", "min_n_one_sided"} & set(
            tolerance
        ):
            tolerance = {**tolerance, "n_one_sided": 0}
        selectors = {k: v for k, v in tolerance.items() if k in SELECTORS}
        described = " ".join(f"{k}={v}" for k, v in selectors.items()) or "(all rows)"
        mask = _selected(table, tolerance)
        if isinstance(mask, str):
            messages.append(f"tolerance {described}: {mask}")
            continue
        matched = table[mask]
        if matched.empty:
            messages.append(f"tolerance matched nothing: {described}")
            continue
        for key, bound in tolerance.items():
            if key in SELECTORS:
                continue
            metric = _bound(table, key)
            if (isinstance(bound, bool) or not isinstance(bound, (int, float))
                    or not math.isfinite(bound)):
                messages.append(f"tolerance {described}: bound {key} = {bound!r} is not a "
                                "finite number")
                continue
            if metric is None:
                messages.append(f"tolerance {described}: unknown metric {key!r}")
                continue
            name, direction = metric
            for _, row in matched.iterrows():
                value = float(row[name])
                where = _describe(row)
                if math.isnan(value):
                    messages.append(f"{where}: {name} is NaN (bound {direction} {bound:g})")
                elif direction == "max" and value > bound:
                    messages.append(f"{where}: {name} = {value:.6g} > {bound:g}")
                elif direction == "min" and value < bound:
                    messages.append(f"{where}: {name} = {value:.6g} < {bound:g}")
    return messages


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as a TSV atomically: header, ``NA`` for missing, floats to 10 significant
    digits (``%.10g``), ``\\n`` line ends, no index; the same table gives the same bytes."""
    buffer = io.StringIO()
    df.to_csv(buffer, sep="\t", index=False, na_rep="NA", float_format="%.10g", lineterminator="\n")
    write_text_atomic(path, buffer.getvalue())
