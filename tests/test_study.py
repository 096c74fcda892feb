"""Tests of the study metrics (lmmcompare.study) against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lmmcompare import study
from lmmcompare.compare import lambda_gc


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (5, 100), (37, 200), (10, 10),
                                      (3, 100_000)])
def test_clopper_pearson_is_scipys_exact_interval(k, n):
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    low, high = study.clopper_pearson(k, n)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)
    assert low <= k / n <= high


def test_clopper_pearson_edges():
    assert all(math.isnan(v) for v in study.clopper_pearson(0, 0))
    with pytest.raises(ValueError, match="0 <= k <= n"):
        study.clopper_pearson(3, 2)


def test_chisq_from_p_is_the_chi2_quantile():
    p = np.array([1.0, 0.5, 0.05, 1e-8, 1e-300])
    np.testing.assert_allclose(study.chisq_from_p(p), stats.chi2.isf(p, 1), rtol=1e-10)


def test_null_snps_are_those_off_the_causal_chromosomes():
    chrom = ["1", "1", "2", "2", "3"]
    snp = ["a", "b", "c", "d", "e"]
    assert study.null_snp_mask(chrom, snp, []).tolist() == [True] * 5
    assert study.null_snp_mask(chrom, snp, ["c"]).tolist() == [True, True, False, False, True]
    assert study.null_snp_mask(chrom, snp, ["a", "e"]).tolist() == [False, False, True, True,
                                                                     False]


def test_replicate_metrics_by_hand():
    p = np.array([0.5, 0.04, 0.0005, 0.2, np.nan, 1e-9, 0.3, 2e-6])
    is_null = np.array([True, True, True, True, True, False, False, False])
    is_causal = np.array([False, False, False, False, False, True, False, True])
    m = study.replicate_metrics(p, is_null, is_causal)
    assert m["n_null"] == 4  # the NaN one was not tested
    assert (m["k_null_0.05"], m["k_null_0.001"], m["k_null_0.0001"]) == (2, 1, 0)
    assert m["lambda_gc"] == pytest.approx(lambda_gc(np.array([0.5, 0.04, 0.0005, 0.2])))
    assert m["n_causal"] == 2 and m["k_causal_5e-08"] == 1 and m["k_causal_1e-05"] == 2
    assert m["sum_chisq_causal"] == pytest.approx(stats.chi2.isf(1e-9, 1)
                                                  + stats.chi2.isf(2e-6, 1))


def _rows() -> pd.DataFrame:
    base = {"scenario": "s", "tool": "t", "mode": "fixed", "statistic": "p_wald"}
    reps = [
        {"n_null": 1000, "k_null_0.05": 60, "k_null_0.001": 2, "k_null_0.0001": 0,
         "lambda_gc": 1.02, "n_causal": 4, "k_causal_5e-08": 1, "k_causal_1e-05": 3,
         "sum_chisq_causal": 80.0},
        {"n_null": 1000, "k_null_0.05": 40, "k_null_0.001": 1, "k_null_0.0001": 1,
         "lambda_gc": 0.98, "n_causal": 4, "k_causal_5e-08": 0, "k_causal_1e-05": 2,
         "sum_chisq_causal": 40.0},
    ]
    return pd.DataFrame([{**base, "replicate": r, **m} for r, m in enumerate(reps)])


def test_calibration_pools_replicates():
    table = study.calibration_table(_rows())
    row = table[table["alpha"] == 0.05].iloc[0]
    assert row.n_hits == 100 and row.n_snps == 2000 and row.type1_error == 0.05
    assert (row.ci_low, row.ci_high) == pytest.approx(study.clopper_pearson(100, 2000))
    assert row.lambda_gc_mean == pytest.approx(1.0) and row.n_replicates == 2
    assert row.lambda_gc_sd == pytest.approx(np.std([1.02, 0.98], ddof=1))
    assert table[table["alpha"] == 1e-4].iloc[0].type1_error == pytest.approx(1 / 2000)


def test_power_pools_causal_snps():
    table = study.power_table(_rows())
    row = table[table["alpha"] == 1e-5].iloc[0]
    assert row.power == pytest.approx(5 / 8) and row.n_causal == 8
    assert row.mean_chisq_causal == pytest.approx(120 / 8)
    assert table[table["alpha"] == 5e-8].iloc[0].power == pytest.approx(1 / 8)
    null_only = _rows().assign(n_causal=0)
    assert study.power_table(null_only).empty


def test_heritability_bias_and_rmse():
    rows = pd.DataFrame({
        "scenario": "s", "tool": ["a", "a", "a", "plink2"], "mode": ["fixed"] * 3 + ["none"],
        "replicate": [0, 1, 2, 0], "gamma": [1.0, 1.5, 0.5, np.nan],
        "h2": [0.5, 0.6, 0.35, np.nan], "gamma_true": 1.0, "h2_true": 0.5,
    })
    table = study.heritability_table(rows)
    assert table["tool"].tolist() == ["a"]  # no γ without a kinship: left out
    row = table.iloc[0]
    assert row.gamma_bias == pytest.approx(0.0) and row.gamma_rmse == pytest.approx(
        math.sqrt((0 + 0.25 + 0.25) / 3))
    assert row.h2_bias == pytest.approx((0 + 0.1 - 0.15) / 3)
    assert row.h2_rmse == pytest.approx(math.sqrt((0 + 0.01 + 0.0225) / 3))
    assert row.n_replicates == 3


def test_proximal_table_pairs_full_and_loco_runs():
    power = pd.DataFrame([
        {"scenario": "s", "tool": "exactlmm", "mode": mode, "statistic": "p_wald",
         "alpha": 1e-5, "power": pw, "mean_chisq_causal": chi, "n_causal": 9,
         "n_replicates": 3}
        for mode, pw, chi in (("fixed", 0.2, 10.0), ("loco", 0.3, 12.5))
    ] + [{"scenario": "s", "tool": "plink2", "mode": "none", "statistic": "p_wald",
          "alpha": 1e-5, "power": 0.5, "mean_chisq_causal": 20.0, "n_causal": 9,
          "n_replicates": 3}])
    table = study.proximal_table(power)
    assert table["tool"].tolist() == ["exactlmm"]
    row = table.iloc[0]
    assert row.mean_chisq_diff == pytest.approx(2.5) and row.power_diff == pytest.approx(0.1)


def test_study_figures_written_and_reproducible(tmp_path):
    from lmmcompare import study_plots

    rows = []
    for scenario, h2_est in (("null", 0.45), ("causal", 0.55)):
        for tool, mode in (("exactlmm", "fixed"), ("plink2", "none")):
            for replicate in range(3):
                rows.append({
                    "scenario": scenario, "replicate": replicate, "tool": tool, "mode": mode,
                    "statistic": "p_wald", "n_null": 500, "k_null_0.05": 25 + replicate,
                    "k_null_0.001": replicate, "k_null_0.0001": 0,
                    "lambda_gc": 1.0 + 0.01 * replicate, "n_causal": 3 * (scenario == "causal"),
                    "k_causal_5e-08": 1 * (scenario == "causal"),
                    "k_causal_1e-05": 2 * (scenario == "causal"), "sum_chisq_causal": 30.0,
                    "gamma": math.nan if mode == "none" else h2_est / (1 - h2_est),
                    "h2": math.nan if mode == "none" else h2_est,
                    "gamma_true": 1.0, "h2_true": 0.5,
                })
    replicates = pd.DataFrame(rows)
    calibration = study.calibration_table(replicates)
    power = study.power_table(replicates)
    for name in ("a", "b"):
        folder = tmp_path / name
        study_plots.calibration_plot(calibration, path=folder / "calibration.png")
        study_plots.power_plot(power, {"causal": 0.1 / 3}, path=folder / "power.png")
        study_plots.heritability_plot(replicates, path=folder / "heritability.png")
        study_plots.lambda_gc_plot(replicates, path=folder / "lambda_gc.png")
    for path in sorted((tmp_path / "a").iterdir()):
        data = path.read_bytes()
        assert len(data) > 1000, path.name
        assert data == (tmp_path / "b" / path.name).read_bytes(), path.name
    assert len(list((tmp_path / "a").iterdir())) == 8  # 4 figures, PNG and SVG


def test_runtime_table_by_scenario_tool_and_mode():
    """Mean, sd and max wall time over the replicates of a scenario, per tool and mode."""
    bench = pd.DataFrame({
        "dataset": ["a-r000", "a-r001", "a-r000", "b-r000"],
        "tool": ["exactlmm", "exactlmm", "plink2", "exactlmm"],
        "mode": ["fixed", "fixed", "none", "fixed"],
        "n_samples": [100, 100, 100, 50], "n_snps": [900, 900, 900, 300],
        "repeat": 0, "seconds": [1.0, 3.0, 0.5, 2.0], "max_rss": [100.0, 120.0, 80.0, 90.0],
    })
    table = study.runtime_table(bench, {"a-r000": "a", "a-r001": "a", "b-r000": "b"})
    row = table.set_index(["scenario", "tool", "mode"]).loc[("a", "exactlmm", "fixed")]
    assert row.seconds_mean == 2.0 and row.seconds_sd == pytest.approx(np.sqrt(2.0))
    assert row.seconds_max == 3.0 and row.max_rss_mb_mean == 110.0
    assert row.n_replicates == 2 and row.n_samples == 100
    one = table.set_index(["scenario", "tool", "mode"]).loc[("b", "exactlmm", "fixed")]
    assert one.n_replicates == 1 and np.isnan(one.seconds_sd)
    assert len(table) == 3
    assert study.runtime_table(bench.iloc[:0], {}).columns.tolist() == list(table.columns)
