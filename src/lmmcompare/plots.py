"""Plots of the tool comparison: p-value concordance, QQ, γ against truth and each other, timing.

Every function writes a PNG at ``path`` and an SVG beside it (``path.with_suffix(".svg")``),
both atomically.  Figures are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot
state).  Bytes are reproducible: the SVG has a fixed ``svg.hashsalt`` and no date, the PNG no
``Software`` entry, and nothing is drawn at random.

Conventions: ``-log10 p`` with p clipped below at the smallest positive double (as in
``lmmcompare.compare``); λGC is :func:`lmmcompare.compare.lambda_gc`.  matplotlib and pandas are
workflow dependencies, imported here only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from exactlmm.io.atomic import atomic_write
from lmmcompare.compare import lambda_gc, minus_log10, pearson
from lmmcompare.job_metrics import BENCH_META

_RC = {
    "svg.hashsalt": "exactlmm",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
}
_DPI = 150
#: QQ plots keep every point among the smallest p values and a log-spaced subset of the rest.
_QQ_KEEP_TOP = 2000
_QQ_KEEP_REST = 2000
#: Marker and line style per mode of the registry (tests/test_plots.py checks every mode has one).
MODE_MARKERS = {"fixed": "o", "refit": "s", "loco": "D", "none": "v"}
MODE_LINES = {"fixed": "-", "refit": "--", "loco": "-.", "none": ":"}
MODE_HATCHES = {"fixed": "", "refit": "//", "loco": "..", "none": "xx"}


def _figure(n_panels: int, width: float = 4.6, height: float = 4.2) -> Figure:
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(width * n_panels, height), layout="constrained")
        fig.subplots(1, n_panels, squeeze=False)
    return fig


def _save(fig: Figure, path: str | Path) -> None:
    """Write ``fig`` to ``path`` (PNG) and ``path.with_suffix('.svg')``, atomically."""
    png = Path(path)
    with mpl.rc_context(_RC):
        with atomic_write(png, "wb") as handle:
            fig.savefig(handle, format="png", dpi=_DPI, metadata={"Software": None})
        with atomic_write(png.with_suffix(".svg"), "wb") as handle:
            fig.savefig(handle, format="svg", metadata={"Date": None, "Creator": None})


def _colours(names: Sequence[str]) -> dict[str, tuple]:
    """A fixed colour per name (tab10 in sorted order)."""
    cmap = mpl.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(sorted(set(names)))}


def _log_axes(ax, which: str = "xy") -> None:
    """Log scale with plain tick labels (1, 2, 5 × 10^k written as 0.5, 1000, …)."""
    for name in which:
        axis = ax.xaxis if name == "x" else ax.yaxis
        (ax.set_xscale if name == "x" else ax.set_yscale)("log")
        axis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(mticker.NullFormatter())


def _square_log_panel(ax, values: np.ndarray) -> None:
    """Log–log axes with equal limits covering the positive ``values``, and the y = x line."""
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size:
        low, high = positive.min() / 1.5, positive.max() * 1.5
        _identity(ax, low, high)
        _log_axes(ax)
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)


def _identity(ax, low: float, high: float) -> None:
    ax.plot([low, high], [low, high], color="0.4", lw=0.8, ls=":", label="y = x", zorder=1)


def no_statistic_note(tool: str, statistic: str, null: dict) -> str:
    """A title line for a run that gave ``statistic`` at no SNP, with the tool's own words on
    a model it did not fit when its ``null.json`` ``native`` record has them (BOLT-LMM's
    ``mixture``: "declined: …" or "not computed: …")."""
    words = [value for value in (null.get("native") or {}).values()
             if isinstance(value, str) and value.startswith(("declined", "not computed"))]
    return f"{tool} gave no {statistic} at any SNP" + (f": {words[0]}" if words else "")


def scatter_log10p(
    p_a: np.ndarray,
    p_b: np.ndarray,
    *,
    label_a: str,
    label_b: str,
    title: str,
    path: str | Path,
) -> None:
    """``-log10 p`` of tool B against tool A (left) and their difference B − A (right).

    Only SNPs where both p values are finite are drawn; the legend gives their number, the
    Pearson r of ``-log10 p`` and ``max |Δ -log10 p|``.  The difference panel makes agreement at
    the 1e-6 level visible, which a scatter cannot.
    """
    p_a = np.asarray(p_a, dtype=np.float64)
    p_b = np.asarray(p_b, dtype=np.float64)
    if p_a.shape != p_b.shape:
        raise ValueError(f"p_a has shape {p_a.shape}, p_b {p_b.shape}")
    both = np.isfinite(p_a) & np.isfinite(p_b)
    x, y = minus_log10(p_a[both]), minus_log10(p_b[both])
    diff = y - x
    r = pearson(x, y)
    max_diff = float(np.abs(diff).max()) if diff.size else math.nan
    r_text = f"Pearson r = {r:.6f}"
    if r > 0.999:
        r_text += f" (1 − r = {1.0 - r:.2g})"
    fig = _figure(2)
    left, right = fig.axes
    with mpl.rc_context(_RC):
        high = max(float(np.max(x, initial=0.0)), float(np.max(y, initial=0.0)), 1.0) * 1.05
        _identity(left, 0.0, high)
        left.scatter(x, y, s=6, alpha=0.6, color="C0", linewidths=0, rasterized=True,
                     label=f"n = {x.size}\n{r_text}\nmax |Δ| = {max_diff:.3g}")
        left.set_xlim(0, high)
        left.set_ylim(0, high)
        left.set_aspect("equal")
        left.set_xlabel(f"{label_a}: −log10 p")
        left.set_ylabel(f"{label_b}: −log10 p")
        left.legend(loc="upper left")
        right.axhline(0.0, color="0.4", lw=0.8, ls=":")
        right.scatter(x, diff, s=6, alpha=0.6, color="C1", linewidths=0, rasterized=True)
        right.set_xlabel(f"{label_a}: −log10 p")
        right.set_ylabel(f"Δ −log10 p ({label_b} − {label_a})")
        if diff.size and np.abs(diff).max() > 0:
            right.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        fig.suptitle(title)
    _save(fig, path)


def _qq_points(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Ranks kept for drawing, expected and observed ``-log10 p``, and n (finite p only)."""
    p = np.sort(p[np.isfinite(p)])
    n = p.size
    if n <= _QQ_KEEP_TOP + _QQ_KEEP_REST:
        ranks = np.arange(1, n + 1)
    else:
        rest = np.geomspace(_QQ_KEEP_TOP + 1, n, _QQ_KEEP_REST).astype(np.int64)
        ranks = np.unique(np.concatenate([np.arange(1, _QQ_KEEP_TOP + 1), rest, [n]]))
    expected = -np.log10(ranks / (n + 1.0))
    return ranks, expected, minus_log10(p[ranks - 1]), n


def qq_plot(pvalues: dict[str, np.ndarray], *, title: str, path: str | Path) -> None:
    """QQ plot: expected against observed ``-log10 p``, one series per label, λGC in the legend.

    The expected value of the i-th smallest of n uniform p values is i/(n + 1); under the null
    it follows Beta(i, n − i + 1), whose 2.5 % and 97.5 % quantiles give the grey 95 % band
    (pointwise, for the largest n among the series).  Large series are thinned to all of the
    smallest 2000 p values plus 2000 log-spaced ranks, which leaves the picture unchanged.
    """
    fig = _figure(1, width=5.2, height=4.8)
    (ax,) = fig.axes
    colours = _colours(list(pvalues))
    largest = 0
    top = 1.0
    right = 1.0
    with mpl.rc_context(_RC):
        for label, p in pvalues.items():
            p = np.asarray(p, dtype=np.float64)
            ranks, expected, observed, n = _qq_points(p)
            if n > largest:
                largest, band_ranks = n, ranks
            if n:
                top = max(top, float(expected.max()), float(observed.max()))
                right = max(right, float(expected.max()))
            ax.plot(expected, observed, ls="none", marker="o", ms=2.5, alpha=0.7, rasterized=True,
                    color=colours[label], label=f"{label} (λGC = {lambda_gc(p):.3f}, n = {n})")
        if largest:
            n = largest
            lower = stats.beta.ppf(0.975, band_ranks, n - band_ranks + 1)
            upper = stats.beta.ppf(0.025, band_ranks, n - band_ranks + 1)
            ax.fill_between(-np.log10(band_ranks / (n + 1.0)), -np.log10(lower), -np.log10(upper),
                            color="0.85", zorder=0, label="95 % band (Beta order statistics)")
        _identity(ax, 0.0, right * 1.05)
        ax.set_xlim(0, right * 1.05)
        ax.set_ylim(0, top * 1.05)
        ax.set_xlabel("expected −log10 p")
        ax.set_ylabel("observed −log10 p")
        ax.set_title(title)
        ax.legend(loc="upper left")
    _save(fig, path)


def _require(rows: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise ValueError(f"{what}: table lacks column(s) {', '.join(missing)}")


def _mode_style(mode: str, colour: tuple) -> dict:
    """Scatter style: fixed as small filled markers inside refit's larger open ones."""
    if mode == "fixed":
        return {"marker": "o", "s": 22, "color": colour, "linewidths": 0, "zorder": 4}
    return {"marker": MODE_MARKERS.get(mode, "^"), "s": 70, "facecolors": "none",
            "edgecolors": colour, "linewidths": 1.2, "zorder": 3}


def _tool_mode_legend(ax, rows: pd.DataFrame, colours: dict) -> None:
    """Legend with one entry per tool (colour) and per mode (marker)."""
    handles = [ax.scatter([], [], color=colours[t], marker="o", label=t) for t in colours]
    handles += [
        ax.scatter([], [], **{**_mode_style(m, "0.3"), "zorder": None}, label=f"mode {m}")
        for m in sorted(rows["mode"].unique())
    ]
    ax.legend(handles=handles, loc="upper left")


def gamma_vs_truth(rows: pd.DataFrame, *, path: str | Path) -> None:
    """Estimated γ (left, log axes) and h² = γ/(1 + γ) (right) per tool against the truth.

    ``rows`` has columns ``dataset, tool, mode, gamma, gamma_true`` (e.g. from
    :func:`lmmcompare.compare.truth_table`): one point per row, colour by tool, marker by mode
    (filled for fixed, open for refit), and the line y = x.
    """
    _require(rows, ("dataset", "tool", "mode", "gamma", "gamma_true"), "gamma_vs_truth")
    rows = rows[np.isfinite(rows["gamma"].to_numpy(dtype=np.float64))]  # no γ without a kinship
    rows = rows.sort_values(["dataset", "tool", "mode"], kind="stable")
    fig = _figure(2)
    left, right = fig.axes
    colours = _colours(rows["tool"].astype(str).tolist())
    with mpl.rc_context(_RC):
        for (tool, mode), group in rows.groupby(["tool", "mode"], sort=True):
            gamma = group["gamma"].to_numpy(dtype=np.float64)
            truth = group["gamma_true"].to_numpy(dtype=np.float64)
            style = _mode_style(mode, colours[tool])
            for ax, xs, ys in ((left, truth, gamma), (right, truth / (1 + truth),
                                                      gamma / (1 + gamma))):
                ax.scatter(xs, ys, **style)
        _square_log_panel(left, rows[["gamma", "gamma_true"]].to_numpy(dtype=np.float64))
        left.set_xlabel("simulated γ = σg²/σe²")
        left.set_ylabel("estimated γ")
        _identity(right, 0.0, 1.0)
        right.set_xlim(0, 1)
        right.set_ylim(0, 1)
        right.set_xlabel("simulated h² = γ/(1+γ)")
        right.set_ylabel("estimated h²")
        _tool_mode_legend(left, rows, colours)
        fig.suptitle(f"Null-model fit against the simulated truth ({rows['dataset'].nunique()} "
                     "datasets)")
    _save(fig, path)


def gamma_agreement(
    rows: pd.DataFrame, *, path: str | Path, reference: str = "exactlmm"
) -> None:
    """γ of each tool against ours (``reference``), per dataset and mode.

    Left: γ_tool against γ_ours (log axes, y = x).  Right: relative difference
    (γ_tool − γ_ours)/γ_ours per dataset on a symmetric-log axis (linear within ±1e-8), so
    agreement to 1e-6 and disagreement of 10 % are both readable.  ``rows`` has columns
    ``dataset, tool, mode, gamma``.
    """
    _require(rows, ("dataset", "tool", "mode", "gamma"), "gamma_agreement")
    ours = rows[rows["tool"] == reference][["dataset", "mode", "gamma"]]
    if ours.empty:
        raise ValueError(f"gamma_agreement: no rows of the reference tool {reference!r}")
    merged = rows[rows["tool"] != reference].merge(
        ours.drop_duplicates(["dataset", "mode"]), on=["dataset", "mode"], suffixes=("", "_ours")
    )
    merged = merged.sort_values(["dataset", "tool", "mode"], kind="stable")
    merged["rel_diff"] = (merged["gamma"] - merged["gamma_ours"]) / merged["gamma_ours"]
    datasets = sorted(merged["dataset"].astype(str).unique())
    position = {d: i for i, d in enumerate(datasets)}
    tools = sorted(merged["tool"].astype(str).unique())
    colours = _colours(tools)
    offsets = {t: (i - (len(tools) - 1) / 2) * 0.12 for i, t in enumerate(tools)}
    fig = _figure(2, width=5.0)
    left, right = fig.axes
    with mpl.rc_context(_RC):
        for (tool, mode), group in merged.groupby(["tool", "mode"], sort=True):
            style = _mode_style(mode, colours[tool])
            left.scatter(group["gamma_ours"], group["gamma"], **style)
            xs = [position[str(d)] + offsets[tool] for d in group["dataset"]]
            right.scatter(xs, group["rel_diff"], **style)
        _square_log_panel(left, merged[["gamma", "gamma_ours"]].to_numpy(dtype=np.float64))
        left.set_xlabel(f"γ ({reference})")
        left.set_ylabel("γ (other tool)")
        right.axhline(0.0, color="0.4", lw=0.8, ls=":")
        right.set_yscale("symlog", linthresh=1e-8)
        spread = np.abs(merged["rel_diff"].to_numpy(dtype=np.float64))
        spread = spread[np.isfinite(spread)]
        limit = max(float(spread.max(initial=0.0)) * 5.0, 1e-7)
        right.set_ylim(-limit, limit)
        right.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right")
        right.set_xlim(-0.6, len(datasets) - 0.4)
        right.set_ylabel(f"(γ_tool − γ_{reference}) / γ_{reference}")
        _tool_mode_legend(left, merged, colours)
        fig.suptitle(f"Variance ratio γ of each tool against {reference}")
    _save(fig, path)


def _slice(bench: pd.DataFrame, vary: str, fixed: str) -> tuple[pd.DataFrame, str]:
    """Rows where ``fixed`` takes the value with the most distinct ``vary`` values (ties: the
    largest); all rows when no value of ``fixed`` has two.  Returns rows and a caption."""
    counts = bench.groupby(fixed)[vary].nunique()
    if counts.empty or counts.max() < 2:
        return bench, "all datasets"
    value = max(counts[counts == counts.max()].index)
    return bench[bench[fixed] == value], f"{fixed} = {value:,}"


def _timed_out(bench: pd.DataFrame) -> np.ndarray:
    """Boolean per row: a run stopped at its time limit (column ``timed_out``; none without)."""
    if "timed_out" not in bench.columns:
        return np.zeros(len(bench), dtype=bool)
    return bench["timed_out"].fillna(False).to_numpy(dtype=bool)


def _timed_out_marks(ax, bench: pd.DataFrame, x: str, colours: dict) -> None:
    """Runs stopped at their time limit: a cross at (x, limit) per tool × mode, the limit as a
    dotted line, labelled "timed out"."""
    stopped = bench[_timed_out(bench)]
    if stopped.empty:
        return
    for (tool, mode), group in stopped.groupby(["tool", "mode"], sort=True):
        ax.scatter(group[x].to_numpy(dtype=np.float64),
                   group["time_limit"].to_numpy(dtype=np.float64), marker="x", s=40,
                   color=colours[tool], label=f"{tool} {mode}: timed out", zorder=3)
    for limit in sorted(set(stopped["time_limit"].to_numpy(dtype=np.float64))):
        ax.axhline(limit, color="0.4", lw=0.8, ls=":")
        ax.annotate(f"time limit {limit:g} s", (0.01, limit), xycoords=("axes fraction", "data"),
                    va="bottom", fontsize=7, color="0.3")


def _lines(ax, bench: pd.DataFrame, x: str, y: str, colours: dict) -> None:
    """One line per tool × mode through the median ``y`` at each ``x`` (runs that timed out
    are left out of the lines)."""
    bench = bench[~_timed_out(bench)]
    data = bench[np.isfinite(bench[y].to_numpy(dtype=np.float64))]
    data = data[data[y] > 0]
    if data.empty:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")
        return
    for (tool, mode), group in data.groupby(["tool", "mode"], sort=True):
        median = group.groupby(x)[y].median().sort_index()
        ax.plot(median.index.to_numpy(dtype=np.float64), median.to_numpy(), marker="o", ms=4,
                ls=MODE_LINES.get(mode, "-."), color=colours[tool], label=f"{tool} {mode}")
    _log_axes(ax)


def runtime_plot(bench: pd.DataFrame, *, path: str | Path) -> None:
    """Wall time against N and against M, and peak memory against N; log axes.

    ``bench`` has columns ``tool, mode, dataset, n_samples, n_snps, seconds, max_rss`` (MB), e.g.
    from :func:`lmmcompare.job_metrics.read_job_metrics`.  One line per tool × mode (colour by
    tool, dashed for refit) through the median over repeats.  The N panels use the SNP count
    with the most distinct N (the M panel likewise the sample count with the most distinct M),
    named in the panel title.  Rows with ``timed_out`` (and their ``time_limit``) are runs
    stopped at their limit: a cross at the limit on the time panels, nothing on the memory one.
    """
    _require(bench, (*BENCH_META, "seconds", "max_rss"), "runtime_plot")
    bench = bench.sort_values([*BENCH_META], kind="stable")
    colours = _colours(bench["tool"].astype(str).tolist())
    fig = _figure(3, width=4.4)
    by_n, by_m, memory = fig.axes
    with mpl.rc_context(_RC):
        rows, caption = _slice(bench, "n_samples", "n_snps")
        _lines(by_n, rows, "n_samples", "seconds", colours)
        _timed_out_marks(by_n, rows, "n_samples", colours)
        by_n.set_title(f"run time vs N ({caption})")
        by_n.set_xlabel("samples N")
        by_n.set_ylabel("wall time (s)")
        rows, caption = _slice(bench, "n_snps", "n_samples")
        _lines(by_m, rows, "n_snps", "seconds", colours)
        _timed_out_marks(by_m, rows, "n_snps", colours)
        by_m.set_title(f"run time vs M ({caption})")
        by_m.set_xlabel("SNPs M")
        by_m.set_ylabel("wall time (s)")
        rows, caption = _slice(bench, "n_samples", "n_snps")
        _lines(memory, rows, "n_samples", "max_rss", colours)
        memory.set_title(f"peak memory vs N ({caption})")
        memory.set_xlabel("samples N")
        memory.set_ylabel("max RSS (MB)")
        labelled = by_n if by_n.get_legend_handles_labels()[0] else by_m
        handles, labels = labelled.get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside right upper")
    _save(fig, path)


def runtime_by_dataset(bench: pd.DataFrame, *, path: str | Path) -> None:
    """Wall time of every tool run, grouped by dataset: one bar per tool × mode (median over
    repeats; colour by tool, hatch by mode), log axis, the datasets in the order given.

    ``bench`` has the columns of :func:`runtime_plot`.  This is where runs that are not on the
    N or M series of :func:`runtime_plot` — the real datasets — show every tool.  A run stopped
    at its time limit is a pale bar up to the limit with a cross on top ("timed out").
    """
    _require(bench, (*BENCH_META, "seconds"), "runtime_by_dataset")
    datasets = list(dict.fromkeys(bench["dataset"].astype(str)))
    runs = sorted({(str(t), str(m)) for t, m in zip(bench["tool"], bench["mode"], strict=True)})
    colours = _colours([tool for tool, _ in runs])
    stopped = (bench[_timed_out(bench)].groupby(["dataset", "tool", "mode"])["time_limit"].max()
               if _timed_out(bench).any() else pd.Series(dtype=np.float64))
    median = bench[~_timed_out(bench)].groupby(["dataset", "tool", "mode"])["seconds"].median()
    width = 0.8 / max(len(runs), 1)
    timed_out_labelled = False
    fig = _figure(1, width=max(6.0, 0.9 * len(datasets) * max(len(runs), 4) / 4), height=4.2)
    ax = fig.axes[0]
    with mpl.rc_context(_RC):
        for k, (tool, mode) in enumerate(runs):
            xs, ys, out_x, out_y = [], [], [], []
            for i, dataset in enumerate(datasets):
                value = median.get((dataset, tool, mode))
                limit = stopped.get((dataset, tool, mode))
                if value is not None and np.isfinite(value) and value > 0:
                    xs.append(i - 0.4 + (k + 0.5) * width)
                    ys.append(float(value))
                elif limit is not None:
                    out_x.append(i - 0.4 + (k + 0.5) * width)
                    out_y.append(float(limit))
            ax.bar(xs, ys, width=width, color=colours[tool], hatch=MODE_HATCHES.get(mode, ""),
                   edgecolor="0.2", linewidth=0.4, label=f"{tool} {mode}")
            if out_x:
                ax.bar(out_x, out_y, width=width, color=colours[tool], alpha=0.3,
                       edgecolor="0.2", linewidth=0.4)
                ax.scatter(out_x, out_y, marker="x", s=30, color="0.1", zorder=3,
                           label="timed out (at its limit)" if not timed_out_labelled else None)
                timed_out_labelled = True
        ax.set_yscale("log")
        ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right")
        ax.set_ylabel("wall time (s)")
        ax.set_title("run time of every tool run, by dataset")
        if runs:
            fig.legend(loc="outside right upper")
    _save(fig, path)
