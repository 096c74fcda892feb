"""Figures of the simulation study (the report's "Study" category), from its tables.

* :func:`calibration_plot` — observed type-I error against the nominal α with its
  replicate-level interval, per scenario, log axes (calibrated runs lie on y = x);
* :func:`power_plot` — power against the variance explained per causal SNP, per α;
* :func:`heritability_plot` — the replicates' ĥ² per tool and mode, one box each, beside the
  true h², per scenario;
* :func:`lambda_gc_plot` — the replicates' λGC per tool and mode, one box each, per scenario;
* :func:`deflation_plot` — λGC at null SNPs against N/M, full kinship and LOCO, with the N/M
  law (:mod:`lmmcompare.deflation`).

Every figure draws one test per tool and mode (:func:`one_test_per_run`): the Wald test
(``p_wald``) where the run has it — every tool we run gives it — else the first statistic it
gives (an imported REGENIE table's score test, labelled "regenie (p_score)").  Each figure is
written as PNG and SVG with the byte-reproducible settings of :mod:`lmmcompare.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd

from lmmcompare.plots import _RC, MODE_MARKERS, _colours, _figure, _log_axes, _save
from lmmcompare.registry import STATISTICS

PREFERRED = STATISTICS[0]
"""The test a figure draws for a run that has it (``p_wald``)."""


def one_test_per_run(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of each tool × mode's first statistic in :data:`registry.STATISTICS` order
    (``p_wald`` first); a run drawn with another test than ``p_wald`` has it in its tool
    label, "tool (statistic)"."""
    if table.empty:
        return table
    rank = table["statistic"].map({name: k for k, name in enumerate(STATISTICS)})
    best = rank.groupby([table["tool"], table["mode"]]).transform("min")
    kept = table[rank == best].copy()
    other = kept["statistic"] != PREFERRED
    kept.loc[other, "tool"] = kept.loc[other, "tool"] + " (" + kept.loc[other, "statistic"] + ")"
    return kept


def _runs(table: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted({(str(t), str(m)) for t, m in zip(table["tool"], table["mode"], strict=True)})


def _scenarios(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table["scenario"].astype(str)))


def calibration_plot(calibration: pd.DataFrame, *, path: str | Path) -> None:
    """Observed against nominal α (log–log) with 95 % intervals, one panel per scenario."""
    table = one_test_per_run(calibration)
    scenarios = _scenarios(table)
    runs = _runs(table)
    colours = _colours([tool for tool, _ in runs])
    fig = _figure(max(len(scenarios), 1), width=4.2)
    with mpl.rc_context(_RC):
        for ax, scenario in zip(fig.axes, scenarios, strict=False):
            rows = table[table["scenario"] == scenario]
            alphas = np.sort(rows["alpha"].unique())
            ax.plot([alphas.min() / 2, alphas.max() * 2], [alphas.min() / 2, alphas.max() * 2],
                    color="0.4", lw=0.8, ls=":", label="y = x")
            for k, (tool, mode) in enumerate(runs):
                run = rows[(rows["tool"] == tool) & (rows["mode"] == mode)].sort_values("alpha")
                if run.empty:
                    continue
                shift = 1.0 + 0.06 * (k - (len(runs) - 1) / 2)  # side by side at each α
                x = run["alpha"].to_numpy(dtype=np.float64) * shift
                y = run["type1_error"].to_numpy(dtype=np.float64)
                low = y - run["ci_low"].to_numpy(dtype=np.float64)
                high = run["ci_high"].to_numpy(dtype=np.float64) - y
                floor = alphas.min() / 20  # a zero count is drawn at the floor of the axis
                ax.errorbar(x, np.maximum(y, floor), yerr=np.vstack([np.minimum(low, y), high]),
                            marker=MODE_MARKERS.get(mode, "^"), ms=4, lw=0, elinewidth=1,
                            color=colours[tool], label=f"{tool} {mode}")
            _log_axes(ax)
            ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
            ax.set_title(f"{scenario} (n = {int(rows['n_replicates'].max())} replicates)")
            ax.set_xlabel("nominal α")
            ax.set_ylabel("observed type-I error")
        if runs and fig.axes:
            fig.axes[0].legend(loc="upper left")
        fig.suptitle("Calibration at null SNPs (Wald test unless labelled; replicate-level 95 % "
                     "intervals, Korn–Graubard)")
    _save(fig, path)


def power_plot(
    power: pd.DataFrame, per_causal_h2: Mapping[str, float], *, path: str | Path
) -> None:
    """Power against the variance explained per causal SNP (``per_causal_h2``: scenario →
    causal_h2 / n_causal), one panel per α, a line per tool and mode."""
    table = one_test_per_run(power)
    table["effect"] = table["scenario"].map(per_causal_h2).astype(np.float64)
    alphas = sorted(table["alpha"].unique())
    runs = _runs(table)
    colours = _colours([tool for tool, _ in runs])
    fig = _figure(max(len(alphas), 1), width=4.4)
    with mpl.rc_context(_RC):
        for ax, alpha in zip(fig.axes, alphas, strict=False):
            rows = table[table["alpha"] == alpha]
            for tool, mode in runs:
                run = rows[(rows["tool"] == tool) & (rows["mode"] == mode)].sort_values("effect")
                if run.empty:
                    continue
                power = run["power"].to_numpy(dtype=np.float64)
                ax.errorbar(run["effect"].to_numpy(dtype=np.float64), power,
                            yerr=np.vstack([power - run["ci_low"].to_numpy(dtype=np.float64),
                                            run["ci_high"].to_numpy(dtype=np.float64) - power]),
                            marker=MODE_MARKERS.get(mode, "^"), ms=4, capsize=2,
                            color=colours[tool], label=f"{tool} {mode}")
            _log_axes(ax, "x")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"α = {alpha:g}")
            ax.set_xlabel("variance explained per causal SNP")
            ax.set_ylabel("power (causal SNPs)")
        if runs and fig.axes:
            fig.axes[0].legend(loc="upper left")
        fig.suptitle("Power at the causal SNPs (Wald test unless labelled; replicate-level 95 % "
                     "intervals, Korn–Graubard)")
    _save(fig, path)


def _boxes(replicates: pd.DataFrame, column: str, *, title: str, ylabel: str,
           truth_column: str | None, path: str | Path) -> None:
    table = one_test_per_run(replicates)
    table = table[np.isfinite(table[column].to_numpy(dtype=np.float64))]
    scenarios = _scenarios(table)
    runs = _runs(table)
    colours = _colours([tool for tool, _ in runs])
    fig = _figure(max(len(scenarios), 1), width=max(3.6, 0.7 * len(runs) + 1.5))
    with mpl.rc_context(_RC):
        for ax, scenario in zip(fig.axes, scenarios, strict=False):
            rows = table[table["scenario"] == scenario]
            data, labels, positions = [], [], []
            for k, (tool, mode) in enumerate(runs):
                values = rows[(rows["tool"] == tool) & (rows["mode"] == mode)][column]
                if values.empty:
                    continue
                data.append(values.to_numpy(dtype=np.float64))
                labels.append(f"{tool}\n{mode}")
                positions.append(k)
            if data:
                parts = ax.boxplot(data, positions=positions, widths=0.6, patch_artist=True)
                for patch, (tool, _) in zip(parts["boxes"],
                                            [runs[p] for p in positions], strict=True):
                    patch.set_facecolor(colours[tool])
                    patch.set_alpha(0.6)
                ax.set_xticks(positions, labels, rotation=45, ha="right", fontsize=7)
            if truth_column is not None and not rows.empty:
                ax.axhline(float(rows[truth_column].iloc[0]), color="0.3", ls="--", lw=1,
                           label="truth")
                ax.legend(loc="upper right")
            ax.set_title(scenario)
            ax.set_ylabel(ylabel)
        fig.suptitle(title)
    _save(fig, path)


def heritability_plot(replicates: pd.DataFrame, *, path: str | Path) -> None:
    """The replicates' ĥ² = γ̂/(1 + γ̂) per tool and mode (boxes), the true h² (dashed), per
    scenario; runs without a kinship (no γ) are left out."""
    _boxes(replicates, "h2", title="Heritability estimates against the truth",
           ylabel="estimated h² = γ/(1+γ)", truth_column="h2_true", path=path)


def lambda_gc_plot(replicates: pd.DataFrame, *, path: str | Path) -> None:
    """The replicates' λGC at null SNPs per tool and mode (boxes), per scenario."""
    _boxes(replicates, "lambda_gc",
           title="λGC at null SNPs across replicates (Wald test unless labelled)",
           ylabel="λGC", truth_column=None, path=path)


def deflation_plot(table: pd.DataFrame, *, path: str | Path) -> None:
    """λGC of ours at the truly null SNPs against N/M (log axis): the full-kinship (fixed) and
    LOCO means over replicates with their t intervals, each scenario's expectation 1 − df/M
    (open circles), and the Marchenko–Pastur law (:func:`lmmcompare.deflation.theory_lambda`)
    as a curve for every N and h² shared by two or more scenarios (``table``: the deflation
    table)."""
    from lmmcompare.deflation import theory_lambda

    fig = _figure(1, width=6.0)
    ax = fig.axes[0]
    with mpl.rc_context(_RC):
        x = (table["n_samples"] / table["n_snps"]).to_numpy(dtype=np.float64)
        for mode, colour, marker in (("fixed", "tab:blue", "o"), ("loco", "tab:orange", "s")):
            y = table[f"lambda_{mode}"].to_numpy(dtype=np.float64)
            err = np.vstack([y - table[f"lambda_{mode}_ci_low"].to_numpy(dtype=np.float64),
                             table[f"lambda_{mode}_ci_high"].to_numpy(dtype=np.float64) - y])
            ax.errorbar(x, y, yerr=np.nan_to_num(err), marker=marker, ms=5, lw=0,
                        elinewidth=1, capsize=2, color=colour,
                        label=f"λGC, {'full kinship' if mode == 'fixed' else 'LOCO'}")
        ax.plot(x, table["lambda_expected"].to_numpy(dtype=np.float64), "o", mfc="none",
                mec="0.2", ms=8, label="expected 1 − df/M (per scenario)")
        groups = table.groupby([table["n_samples"].round(), table["h2"].round(6)], sort=True)
        for (n, h2), group in groups:
            if len(group) < 2:
                continue
            ratio = group["n_samples"] / group["n_snps"]
            grid = np.geomspace(ratio.min() / 1.3, min(ratio.max() * 1.3, 1.0), 200)
            ax.plot(grid, theory_lambda(n, n / grid, h2), color="0.3", lw=1, ls="--",
                    label=f"law, N = {n:g}, h² = {h2:g}")
        for scenario, xi, yi in zip(table["scenario"], x, table["lambda_fixed"], strict=True):
            ax.annotate(str(scenario), (xi, yi), textcoords="offset points", xytext=(4, -10),
                        fontsize=6, color="0.35")
        ax.axhline(1.0, color="0.6", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("N / M (samples per SNP in the kinship)")
        ax.set_ylabel("λGC at truly null SNPs (Wald test)")
        ax.legend(loc="lower left", fontsize=7)
        fig.suptitle("Deflation of the full-kinship test: the N/M law")
    _save(fig, path)
