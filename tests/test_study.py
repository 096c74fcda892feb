"""Tests of the study metrics (lmmcompare.study) against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lmmcompare import liability, study
from lmmcompare import study_intervals as si
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


def test_null_snps_are_those_of_the_null_chromosomes_only():
    chrom = ["1", "1", "2", "2", "3"]
    assert study.null_snp_mask(chrom, ["3"]).tolist() == [False] * 4 + [True]
    assert study.null_snp_mask(chrom, [2, "3"]).tolist() == [False, False, True, True, True]
    # Without chromosomes free of effects there is no null SNP (none is counted as one).
    assert not study.null_snp_mask(chrom, []).any()


def test_replicate_metrics_by_hand():
    p = np.array([0.5, 0.04, 0.0005, 0.2, np.nan, 1e-9, 0.3, 2e-6])
    is_null = np.array([True, True, True, True, True, False, False, False])
    is_causal = np.array([False, False, False, False, False, True, False, True])
    af = np.array([0.995, 0.015, 0.3, 0.7, 0.5, 0.2, 0.2, 0.2])
    m = study.replicate_metrics(p, is_null, is_causal, af)
    assert m["n_null"] == 4  # the NaN one was not tested
    assert (m["k_null_0.05"], m["k_null_0.001"], m["k_null_0.0001"]) == (2, 1, 0)
    assert m["lambda_gc"] == pytest.approx(lambda_gc(np.array([0.5, 0.04, 0.0005, 0.2])))
    # MAF = min(af, 1 - af): 0.005 (bin 0-0.01), 0.015, 0.3 and 0.3 (bin 0.05-0.5)
    assert [m[f"n_null_maf{label}"] for label in study.MAF_BIN_LABELS] == [1, 1, 0, 2]
    assert m["k_null_0.05_maf0.01-0.02"] == 1 and m["k_null_0.001_maf0.05-0.5"] == 1
    assert m["k_null_0.05_maf0-0.01"] == 0
    assert m["n_causal"] == 2 and m["k_causal_5e-08"] == 1 and m["k_causal_1e-05"] == 2
    assert m["sum_chisq_causal"] == pytest.approx(stats.chi2.isf(1e-9, 1)
                                                  + stats.chi2.isf(2e-6, 1))
    assert set(m) | set(study.run_record({}, {"gamma": 1.0}, estimated=True)) == set(
        study.replicate_columns()[5:])


def _rows(n_reps: int = 2) -> pd.DataFrame:
    """Replicate rows of one run: counts through replicate_metrics, so every column is there."""
    rng = np.random.default_rng(7)
    rows = []
    for replicate in range(n_reps):
        p = np.concatenate([rng.uniform(size=1000), [1e-9, 2e-6, 0.3, 1e-3]])
        is_null = np.arange(p.size) < 1000
        af = np.concatenate([np.linspace(0.005, 0.5, 1000), [0.3] * 4])
        rows.append({"scenario": "s", "replicate": replicate, "tool": "t", "mode": "fixed",
                     "statistic": "p_wald",
                     **study.replicate_metrics(p, is_null, ~is_null, af),
                     **study.run_record({"gamma": 1.0 + 0.1 * replicate, "se_h2": 0.05},
                                        {"gamma": 1.0}, estimated=True)})
    return pd.DataFrame(rows)


def test_calibration_pools_replicates_with_replicate_level_intervals():
    rows = _rows()
    table = study.calibration_table(rows)
    row = table[table["alpha"] == 0.05].iloc[0]
    k = int(rows["k_null_0.05"].sum())
    assert row.n_hits == k and row.n_snps == 2000 and row.type1_error == k / 2000
    assert (row.ci_low, row.ci_high) == pytest.approx(
        si.rate_interval(rows["k_null_0.05"], rows["n_null"]))
    assert row.ci == "korn-graubard"
    assert (row.snp_binomial_ci_low, row.snp_binomial_ci_high) == pytest.approx(
        study.clopper_pearson(k, 2000))
    lam = rows["lambda_gc"].to_numpy()
    assert row.lambda_gc_mean == pytest.approx(lam.mean()) and row.n_replicates == 2
    assert row.lambda_gc_sd == pytest.approx(np.std(lam, ddof=1))
    assert (row.lambda_gc_ci_low, row.lambda_gc_ci_high) == pytest.approx(si.mean_interval(lam))
    assert list(table.columns) == list(study.CALIBRATION_COLUMNS)


def test_calibration_by_maf_bin():
    rows = _rows()
    table = study.calibration_maf_table(rows)
    assert set(table["maf_bin"]) == set(study.MAF_BIN_LABELS)
    row = table[(table["maf_bin"] == "0.05-0.5") & (table["alpha"] == 0.05)].iloc[0]
    assert row.n_snps == rows["n_null_maf0.05-0.5"].sum()
    assert row.n_hits == rows["k_null_0.05_maf0.05-0.5"].sum()
    assert np.isnan(row.case_fraction)  # a quantitative scenario
    assert table.groupby("alpha")["n_snps"].sum().eq(2000).all()  # every null SNP in a bin


def test_power_pools_causal_snps():
    table = study.power_table(_rows())
    row = table[table["alpha"] == 1e-5].iloc[0]
    assert row.power == pytest.approx(4 / 8) and row.n_causal == 8
    assert row.mean_chisq_causal == pytest.approx(
        (stats.chi2.isf([1e-9, 2e-6, 0.3, 1e-3], 1).sum()) / 4)
    assert table[table["alpha"] == 5e-8].iloc[0].power == pytest.approx(2 / 8)
    assert row.ci == "korn-graubard" and row.ci_low <= row.power <= row.ci_high


def test_a_null_only_study_has_tables_with_their_headers_and_no_rows():
    null_only = _rows().assign(n_causal=0, sum_chisq_causal=0.0, **{"k_causal_5e-08": 0,
                                                                     "k_causal_1e-05": 0})
    for table, columns in ((study.power_table(null_only), study.POWER_COLUMNS),
                           (study.proximal_table(null_only), study.PROXIMAL_COLUMNS)):
        assert table.empty and list(table.columns) == list(columns)
    no_null = _rows().assign(n_null=0)
    assert study.calibration_table(no_null).empty
    assert list(study.calibration_table(no_null).columns) == list(study.CALIBRATION_COLUMNS)


def test_heritability_bias_rmse_and_se_coverage():
    rows = pd.DataFrame({
        "scenario": "s", "tool": ["a", "a", "a", "plink2"], "mode": ["fixed"] * 3 + ["none"],
        "replicate": [0, 1, 2, 0], "gamma": [1.0, 1.5, 0.5, np.nan],
        "h2": [0.5, 0.6, 0.35, np.nan], "gamma_true": 1.0, "h2_true": 0.5,
        "se_h2": [0.01, 0.01, 0.1, np.nan],
    })
    table = study.heritability_table(rows)
    assert table["tool"].tolist() == ["a"]  # no γ without a kinship: left out
    row = table.iloc[0]
    assert row.scale == "observed"
    assert row.gamma_bias == pytest.approx(0.0) and row.gamma_rmse == pytest.approx(
        math.sqrt((0 + 0.25 + 0.25) / 3))
    assert row.h2_bias == pytest.approx((0 + 0.1 - 0.15) / 3)
    assert (row.ci_low, row.ci_high) == pytest.approx(si.mean_interval([0, 0.1, -0.15]))
    assert row.h2_rmse == pytest.approx(math.sqrt((0 + 0.01 + 0.0225) / 3))
    # |0| <= 0.0196 yes, |0.1| <= 0.0196 no, |0.15| <= 0.196 yes
    assert row.se_coverage == pytest.approx(2 / 3) and row.n_with_se == 3
    assert (row.se_coverage_ci_low, row.se_coverage_ci_high) == pytest.approx(
        study.clopper_pearson(2, 3))
    assert row.n_replicates == 3


def test_heritability_of_a_binary_trait_on_both_scales():
    k, p, h2_l = 0.1, 0.5, 0.5
    h2_o = float(liability.liability_to_observed(h2_l, k, p))
    rows = pd.DataFrame({
        "scenario": "b", "tool": "a", "mode": "fixed", "replicate": [0, 1],
        "gamma": [h2_o / (1 - h2_o)] * 2, "h2": [h2_o] * 2, "se_h2": [0.01, 0.02],
        "gamma_true": h2_o / (1 - h2_o), "h2_true": h2_o, "prevalence": k,
        "case_fraction": p, "h2_liability_true": h2_l,
    })
    table = study.heritability_table(rows).set_index("scale")
    assert table.loc["observed", "h2_bias"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["liability", "h2_mean"] == pytest.approx(h2_l)
    assert table.loc["liability", "h2_true"] == pytest.approx(h2_l)
    assert table.loc["liability", "se_coverage"] == 1.0


def test_proximal_table_pairs_full_and_loco_runs_per_replicate():
    base = {"scenario": "s", "tool": "exactlmm", "statistic": "p_wald", "n_causal": 3,
            "k_causal_5e-08": 0}
    rows = pd.DataFrame(
        [{**base, "mode": "fixed", "replicate": r, "k_causal_1e-05": k, "sum_chisq_causal": c}
         for r, k, c in ((0, 1, 30.0), (1, 0, 24.0), (2, 1, 27.0))]
        + [{**base, "mode": "loco", "replicate": r, "k_causal_1e-05": k, "sum_chisq_causal": c}
           for r, k, c in ((0, 2, 36.0), (1, 1, 27.0), (2, 1, 33.0))]
        + [{**base, "tool": "plink2", "mode": "none", "replicate": 0, "k_causal_1e-05": 3,
            "sum_chisq_causal": 60.0}])
    table = study.proximal_table(rows)
    assert table["tool"].unique().tolist() == ["exactlmm"]
    row = table[table["alpha"] == 1e-5].iloc[0]
    assert row.power_full == pytest.approx(2 / 9) and row.power_loco == pytest.approx(4 / 9)
    assert row.power_diff == pytest.approx(2 / 9)
    assert row.mean_chisq_diff == pytest.approx(15 / 9)
    assert (row.mean_chisq_diff_ci_low, row.mean_chisq_diff_ci_high) == pytest.approx(
        si.ratio_interval([6.0, 3.0, 6.0], [3, 3, 3]))
    assert row.n_replicates == 3 and row.n_causal == 9


def test_study_figures_written_and_reproducible(tmp_path):
    from lmmcompare import study_plots

    rows = []
    for scenario, h2_est in (("null", 0.45), ("causal", 0.55)):
        for tool, mode in (("exactlmm", "fixed"), ("plink2", "none")):
            one = _rows(3).assign(scenario=scenario, tool=tool, mode=mode,
                                  h2=math.nan if mode == "none" else h2_est,
                                  gamma=math.nan if mode == "none" else h2_est / (1 - h2_est))
            if scenario == "null":
                one = one.assign(n_causal=0)
            rows.append(one)
    replicates = pd.concat(rows, ignore_index=True)
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
    # Empty tables (a null-only study has no power row) still give a figure.
    study_plots.power_plot(study.power_table(replicates.iloc[:0]), {}, path=tmp_path / "e.png")
    assert (tmp_path / "e.png").stat().st_size > 1000


def test_figures_draw_one_test_per_run_wald_first():
    """BOLT-LMM gives p_wald and p_bolt_mix: drawn with p_wald; an imported REGENIE table gives
    only p_score: drawn with it, labelled."""
    from lmmcompare import study_plots

    table = pd.DataFrame({
        "scenario": "s", "tool": ["bolt", "bolt", "regenie", "exactlmm", "exactlmm"],
        "mode": ["loco", "loco", "loco", "fixed", "fixed"],
        "statistic": ["p_bolt_mix", "p_wald", "p_score", "p_lrt", "p_wald"],
        "value": [1, 2, 3, 4, 5]})
    kept = study_plots.one_test_per_run(table)
    assert kept[["tool", "statistic", "value"]].values.tolist() == [
        ["bolt", "p_wald", 2], ["regenie (p_score)", "p_score", 3], ["exactlmm", "p_wald", 5]]
    assert study_plots.one_test_per_run(table.iloc[:0]).empty


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
