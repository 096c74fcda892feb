"""The N/M law of a full-kinship test at null SNPs (lmmcompare.deflation): the exact expectation
against simulated phenotypes, the law 1 − df/M against the exact expectation, the
Marchenko–Pastur form against a measured spectrum, LD between its bounds, our df_genetic, and
the deflation table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from exactlmm.null import fit_null
from exactlmm.spectral import spectrum_from_kinship
from lmmcompare import deflation


def standardized(genotypes: np.ndarray) -> np.ndarray:
    return (genotypes - genotypes.mean(axis=0)) / genotypes.std(axis=0)


def unlinked(n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return standardized(rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(n, m)).astype(float))


def with_ld(n: int, m: int, rho: float, seed: int) -> np.ndarray:
    """Genotypes of two haplotypes, each a threshold of an AR(1) Gaussian chain along the SNPs
    (latent correlation rho between neighbours): LD decaying with distance."""
    rng = np.random.default_rng(seed)
    thresholds = rng.uniform(-1.5, 0.0, m)
    genotypes = np.zeros((n, m))
    for _ in range(2):
        latent = np.empty((n, m))
        latent[:, 0] = rng.standard_normal(n)
        for j in range(1, m):
            latent[:, j] = rho * latent[:, j - 1] + math.sqrt(1 - rho**2) * rng.standard_normal(n)
        genotypes += latent < thresholds
    return standardized(genotypes)


def null_design(m: int) -> np.ndarray:
    """The simulator's design: the last quarter of the SNPs (a null chromosome) has no effect."""
    return np.arange(m) < m - m // 4


def test_exact_expectation_is_the_simulated_mean_chisq():
    n, m, h2, phenotypes = 200, 1000, 0.5, 300
    z = unlinked(n, m, 1)
    effect = null_design(m)
    gamma = h2 / (1 - h2)
    expected = deflation.expected_chisq(z, effect, gamma)
    # phenotypes from the truth: polygenic effects on the effect SNPs only
    rng = np.random.default_rng(2)
    y = (z[:, effect] @ rng.normal(0, math.sqrt(gamma / effect.sum()), (effect.sum(), phenotypes))
         + rng.standard_normal((n, phenotypes)))
    p, _ = deflation._projection(z, np.ones((n, 1)), gamma)
    py = p @ y
    x = z[:, ~effect]
    px = p @ x
    scale = np.einsum("ij,ij->j", y, py) / (n - 1)  # σ̂e² at the fixed γ
    t = (x.T @ py) ** 2 / np.einsum("ij,ij->j", x, px)[:, None] / scale
    assert expected.mean() == pytest.approx(0.90, abs=0.02)  # 1 − h²N/M: visibly deflated
    assert t.mean() == pytest.approx(expected.mean(), abs=0.02)


@pytest.mark.parametrize("ratio", [1, 10])
def test_the_law_is_the_exact_expectation_for_unlinked_snps(ratio):
    n, h2 = 200, 0.5
    m = ratio * n
    z = unlinked(n, m, 3)
    gamma = h2 / (1 - h2)
    exact = deflation.expected_chisq(z, null_design(m), gamma).mean()
    df = deflation.degrees_of_freedom(z, gamma)
    assert float(deflation.expected_lambda(df, m)) == pytest.approx(exact, abs=0.005)
    theory = float(deflation.theory_lambda(n, m, h2))
    assert theory == pytest.approx(exact, abs=0.01)
    nominal = float(deflation.nominal_lambda(n, m, h2))
    if ratio == 1:  # the M >> N form exaggerates the deflation at M = N
        assert exact - nominal > 0.08
    else:
        assert nominal == pytest.approx(exact, abs=0.005)


@pytest.mark.parametrize(("ratio", "gamma"), [(1.0, 1.0), (0.5, 0.25), (0.1, 4.0)])
def test_marchenko_pastur_share_is_the_integral_of_its_density(ratio, gamma):
    a, b = (1 - math.sqrt(ratio)) ** 2, (1 + math.sqrt(ratio)) ** 2

    def density(s):
        return math.sqrt(max((b - s) * (s - a), 0.0)) / (2 * math.pi * ratio * s)

    share = integrate.quad(lambda s: density(s) * gamma * s / (1 + gamma * s), a, b,
                           limit=200)[0]
    assert float(deflation.marchenko_pastur_share(ratio, gamma)) == pytest.approx(share,
                                                                                  rel=1e-6)


def test_ld_deflates_more_than_the_unlinked_law_and_less_than_its_ld_score_bound():
    n, m, h2 = 400, 4000, 0.5
    z = with_ld(n, m, 0.9, 4)
    effect = null_design(m)
    gamma = h2 / (1 - h2)
    exact = deflation.expected_chisq(z, effect, gamma).mean()
    df = deflation.degrees_of_freedom(z, gamma)
    r2 = np.corrcoef(z[:, ~effect].T) ** 2
    ld_score = float((r2 - (1 - r2) / (n - 2)).sum(axis=1).mean())  # unbiased in-sample r²
    assert 3.0 < ld_score < 5.0
    unlinked_law = float(deflation.expected_lambda(df, m))
    ld_bound = float(deflation.expected_lambda(df * ld_score, m))
    assert ld_bound + 0.02 < exact < unlinked_law - 0.05


def test_our_df_genetic_is_the_trace_of_the_blup_hat_matrix():
    n, m = 150, 600
    z = unlinked(n, m, 5)
    k = z @ z.T / m
    x = np.ones((n, 1))
    y = np.random.default_rng(6).standard_normal(n) + z[:, :300] @ np.full(300, 0.05)
    null = fit_null(spectrum_from_kinship(k.copy(), x), y, x, lambda v: k @ v, 1.0)
    gamma = null.gamma
    # tr(γK·P) with P dense
    h = gamma * k + np.eye(n)
    hinv = np.linalg.inv(h)
    p = hinv - hinv @ x @ np.linalg.solve(x.T @ hinv @ x, x.T @ hinv)
    assert null.df_genetic == pytest.approx(gamma * np.trace(k @ p), rel=1e-9)
    assert null.summary()["df_genetic"] == null.df_genetic
    assert null.df_genetic == pytest.approx(deflation.degrees_of_freedom(z, gamma), rel=1e-9)


def test_deflation_table_per_scenario():
    rows = pd.DataFrame([
        {"scenario": s, "tool": "exactlmm", "mode": mode, "statistic": "p_wald",
         "replicate": r, "n_null": 100, "lambda_gc": lam + 0.01 * r,
         "n_samples": 400, "n_snps": m, "h2_true": 0.5, "df_genetic": 190.0 + r}
        for s, m in (("a", 4000), ("b", 40_000))
        for mode, lam in (("fixed", 0.95), ("loco", 1.0))
        for r in range(3)
    ] + [{"scenario": "a", "tool": "plink2", "mode": "none", "statistic": "p_wald",
          "replicate": 0, "n_null": 100, "lambda_gc": 1.5, "n_samples": 400, "n_snps": 4000,
          "h2_true": 0.5, "df_genetic": math.nan}])
    table = deflation.deflation_table(rows).set_index("scenario")
    assert list(table.index) == ["a", "b"]
    a = table.loc["a"]
    assert a.m_over_n == 10 and a.lambda_fixed == pytest.approx(0.96)
    assert a.lambda_loco == pytest.approx(1.01) and a.ci == "t"
    assert a.lambda_fixed_ci_low < 0.96 < a.lambda_fixed_ci_high
    assert a.lambda_expected == pytest.approx(np.mean(1 - np.array([190, 191, 192]) / 4000))
    assert a.lambda_nominal == pytest.approx(1 - 0.5 * 399 / 4000)
    assert a.m_effective == pytest.approx(191 / 0.04)
    assert list(table.reset_index().columns) == list(deflation.COLUMNS)
    inflated = deflation.deflation_table(rows.assign(lambda_gc=1.02))
    assert inflated["m_effective"].isna().all()  # no deflation: no effective M
    assert deflation.deflation_table(rows.iloc[:0]).empty


def test_deflation_figure_is_written_and_reproducible(tmp_path):
    from lmmcompare.study_plots import deflation_plot

    rows = []
    for scenario, m in (("mn1", 400), ("mn10", 4000), ("mn50", 20_000)):
        expected = float(deflation.theory_lambda(400, m, 0.5))
        rows.append({"scenario": scenario, "n_samples": 400.0, "n_snps": float(m), "h2": 0.5,
                     "lambda_fixed": expected, "lambda_fixed_ci_low": expected - 0.02,
                     "lambda_fixed_ci_high": expected + 0.02, "lambda_loco": 1.0,
                     "lambda_loco_ci_low": 0.98, "lambda_loco_ci_high": 1.02,
                     "lambda_expected": expected})
    table = pd.DataFrame(rows)
    for name in ("a", "b"):
        deflation_plot(table, path=tmp_path / f"{name}.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
    for suffix in (".png", ".svg"):
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
