"""Our REML profile log-likelihood over h² on a dataset, with every tool's estimate on it.

ℓ(h²) is :func:`exactlmm.likelihood.profile_loglik` (REML, σe² profiled out) at
γ = h²/(1 − h²), on a grid of :data:`GRID_POINTS` values of h² evenly spaced in logit(h²) over
[0.001, 0.999] (dense near both ends, where the curve bends), on the kinship the runs used:
the shared kinship file for the full-kinship modes, the standardized kinship of the SNPs for
the leave-one-chromosome-out runs (whose null fit is genome-wide on it).  Each tool's
estimate is drawn at its own h² with our ℓ there (``results/compare/{dataset}.loglik.tsv``,
the same likelihood): an exact REML tool sits at the maximum, a tool that reports another
optimum or another likelihood (ML, Monte-Carlo REML) shows how far from it.  Ours is drawn
with its Wald interval ĥ² ± 1.96·se(ĥ²) (observed information) beside the likelihood-ratio
interval {h²: ℓ(h²) ≥ max ℓ − χ²₁,₀.₉₅/2}.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from scipy import stats

from exactlmm.pipeline import AnalysisInputs, loglik_at_gamma
from lmmcompare import params
from lmmcompare.plots import _RC, MODE_MARKERS, _colours, _figure, _save

GRID_POINTS = 241
"""Points of the h² grid."""

H2_RANGE = (0.001, 0.999)
"""The grid's ends."""

COLUMNS = ("kinship", "h2", "gamma", "loglik")
"""The curve's table (``results/compare/{dataset}.reml_profile.tsv``)."""

LR_HALF_WIDTH = float(stats.chi2.ppf(0.95, 1) / 2)
"""max ℓ − ℓ at the ends of the 95 % likelihood-ratio interval (1.92)."""


def h2_grid(points: int = GRID_POINTS, ends: Sequence[float] = H2_RANGE) -> np.ndarray:
    """h² evenly spaced in logit between ``ends``."""
    low, high = (np.log(v / (1.0 - v)) for v in ends)
    return 1.0 / (1.0 + np.exp(-np.linspace(low, high, points)))


def curve(inputs: AnalysisInputs, kinship: str, points: int = GRID_POINTS) -> pd.DataFrame:
    """Our REML ℓ over the h² grid on ``inputs``' kinship (one eigendecomposition), labelled
    ``kinship`` ("file" or "genotypes")."""
    h2 = h2_grid(points)
    gamma = params.gamma_from_h2(h2)
    loglik = loglik_at_gamma(inputs, gamma.tolist(), likelihood="REML")
    return pd.DataFrame({"kinship": kinship, "h2": h2, "gamma": gamma, "loglik": loglik},
                        columns=list(COLUMNS))


def likelihood_ratio_interval(profile: pd.DataFrame) -> tuple[float, float]:
    """The h² of the grid where ℓ ≥ max ℓ − 1.92 (the 95 % likelihood-ratio interval at the
    grid's resolution)."""
    inside = profile["loglik"] >= profile["loglik"].max() - LR_HALF_WIDTH
    return float(profile["h2"][inside].min()), float(profile["h2"][inside].max())


def profile_plot(profiles: pd.DataFrame, estimates: pd.DataFrame, *, ours_h2: float | None,
                 ours_se: float | None, title: str, path: str | Path) -> None:
    """One panel per kinship of ``profiles`` (:func:`curve`'s rows): our ℓ(h²) (line), its
    95 % likelihood-ratio interval (shaded), every run of ``estimates`` (``tool mode gamma
    ours_loglik_at_gamma``, the loglik table's rows on that kinship) at its h² (markers), and
    ours ĥ² ± 1.96·se (``ours_h2``, ``ours_se``: the full-kinship fit's) as a bar."""
    from lmmcompare.registry import GENOTYPE_KINSHIP_MODES

    kinships = list(dict.fromkeys(profiles["kinship"]))
    colours = _colours(sorted(set(estimates["tool"])))
    fig = _figure(max(len(kinships), 1), width=5.2)
    with mpl.rc_context(_RC):
        for ax, kinship in zip(fig.axes, kinships, strict=False):
            rows = profiles[profiles["kinship"] == kinship]
            top = float(rows["loglik"].max())
            ax.plot(rows["h2"], rows["loglik"] - top, color="0.2", lw=1.2, label="our REML ℓ")
            low, high = likelihood_ratio_interval(rows)
            ax.axvspan(low, high, color="0.85", zorder=0,
                       label=f"LR 95 % interval [{low:.3f}, {high:.3f}]")
            on = estimates["mode"].isin(GENOTYPE_KINSHIP_MODES) == (kinship == "genotypes")
            for k, run in enumerate(estimates[on].itertuples()):
                h2 = params.h2_from_gamma(run.gamma)
                ax.plot([h2], [run.ours_loglik_at_gamma - top], ls="none",
                        marker=MODE_MARKERS.get(run.mode, "^"), ms=7 - 0.4 * k, mfc="none",
                        mew=1.4, color=colours[run.tool], label=f"{run.tool} {run.mode}")
            if kinship == "file" and ours_h2 is not None and ours_se is not None:
                ax.errorbar([ours_h2], [-LR_HALF_WIDTH - 0.5], xerr=[[1.96 * ours_se]],
                            color=colours.get("exactlmm", "k"), capsize=3, lw=1.2,
                            label="ours ĥ² ± 1.96 se")
            floor = max(-12.0, float((rows["loglik"] - top).min()))
            ax.set_ylim(floor, 0.8)
            ax.set_xlim(0.0, 1.0)
            ax.set_xlabel("h² = γ/(1 + γ)")
            ax.set_ylabel("REML log-likelihood − its maximum")
            ax.set_title({"file": "shared kinship file",
                          "genotypes": "standardized kinship of the SNPs (LOCO runs' "
                                       "genome-wide fit)"}.get(kinship, kinship), fontsize=8)
            ax.legend(loc="lower center", fontsize=6)
        fig.suptitle(title)
    _save(fig, path)
