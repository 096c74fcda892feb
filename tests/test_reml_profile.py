"""Our REML profile over h² with every tool's estimate (lmmcompare.reml_profile): the curve
peaks at our fit, its likelihood-ratio interval matches the Wald interval of se(ĥ²) on a
well-behaved dataset, and the figure is written the same twice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exactlmm import kinship
from exactlmm.io.kinship_txt import write_kinship
from exactlmm.io.plink import open_plink
from exactlmm.pipeline import fit, kinship_model
from lmmcompare import reml_profile
from lmmcompare.runners import RunRequest
from lmmcompare.runners._common import load
from lmmcompare.simulate import simulate_dataset


@pytest.fixture
def inputs(tmp_path):
    simulate_dataset(tmp_path / "d", n_samples=400, n_snps=1500, n_chromosomes=3, seed=8,
                     h2=0.6, n_causal=0, causal_h2=0.0)
    ds = open_plink(tmp_path / "d")
    k, _, _ = kinship.kinship_standardized(ds, np.arange(ds.n_samples), np.arange(ds.n_snps))
    write_kinship(tmp_path / "k.txt", k)
    return load(RunRequest(bfile=str(tmp_path / "d"), pheno=str(tmp_path / "d.pheno"),
                           mpheno=1, covar=None, kinship=str(tmp_path / "k.txt"), extract=None))


def test_the_profile_peaks_at_our_fit_and_its_interval_matches_se(inputs):
    profile = reml_profile.curve(inputs, "file")
    null = fit(inputs, kinship_model(inputs))
    grid = profile["h2"].to_numpy()
    best = grid[int(np.argmax(profile["loglik"]))]
    spacing = np.max(np.diff(grid[(grid > null.h2 - 0.05) & (grid < null.h2 + 0.05)]))
    assert abs(best - null.h2) <= spacing
    assert profile["loglik"].max() <= null.loglik + 1e-9
    low, high = reml_profile.likelihood_ratio_interval(profile)
    assert low < null.h2 < high
    se = null.standard_errors()["se_h2"]
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.25)
    assert list(profile.columns) == list(reml_profile.COLUMNS)


def test_profile_figure(inputs, tmp_path):
    profile = reml_profile.curve(inputs, "file", points=81)
    null = fit(inputs, kinship_model(inputs))
    estimates = pd.DataFrame({
        "tool": ["exactlmm", "gemma", "bolt"], "mode": ["fixed", "refit", "loco"],
        "gamma": [null.gamma, null.gamma * 1.0001, 1.0],
        "ours_loglik_at_gamma": [null.loglik, null.loglik, null.loglik - 3.0]})
    for name in ("a", "b"):
        reml_profile.profile_plot(profile, estimates, ours_h2=null.h2,
                                  ours_se=null.standard_errors()["se_h2"], title="t",
                                  path=tmp_path / f"{name}.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
