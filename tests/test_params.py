"""Tests of lmmcompare.params: conversions, boundary errors, and the likelihood conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exactlmm.errors import InputError
from lmmcompare import params, registry

# HS1940 phenotype 1 (docs/PEERS-VERIFIED.md): the REML γ, GEMMA's pve on its re-centred
# kinship, FaST-LMM's Nullh2 on the uncentred kinship, and the two mean diagonals.
HS_GAMMA = 4.343368
HS_GEMMA_PVE = 0.609672
HS_FASTLMM_H2 = 0.6097627539368341
HS_PYLMM_H = 0.8128521133343869
HS_T = 0.3597539526993617  # tr(K)/n of the 1410 analysed mice, GEMMA -gk 1 kinship
HS_T_CENTRED = 0.3596171023781782  # tr(PKP)/n: GEMMA's trace_G after re-centring


def test_delta_gamma_round_trip():
    rng = np.random.default_rng(1)
    gamma = rng.lognormal(0.0, 2.0, size=50)
    assert np.allclose(params.gamma_from_delta(params.delta_from_gamma(gamma)), gamma, rtol=1e-14)
    assert params.delta_from_gamma(4.0) == 0.25
    assert params.gamma_from_delta(math.inf) == 0.0


def test_h2_gamma_round_trip():
    rng = np.random.default_rng(2)
    gamma = rng.lognormal(0.0, 2.0, size=50)
    h2 = params.h2_from_gamma(gamma)
    assert np.all((h2 > 0) & (h2 < 1))
    assert np.allclose(params.gamma_from_h2(h2), gamma, rtol=1e-12)
    assert params.h2_from_gamma(1.0) == 0.5
    assert params.gamma_from_h2(0.0) == 0.0


def test_pve_gamma_round_trip():
    rng = np.random.default_rng(3)
    gamma = rng.lognormal(0.0, 2.0, size=50)
    for t in (0.3, 1.0, 2.5):
        pve = params.pve_from_gamma(gamma, t)
        assert np.allclose(params.gamma_from_pve(pve, t), gamma, rtol=1e-12)
        assert np.allclose(params.gamma_from_fastlmm_h2(pve, t), gamma, rtol=1e-12)
    # With t = 1 the pve is h²: a kinship of mean diagonal 1 makes the two definitions agree.
    assert np.allclose(params.pve_from_gamma(gamma, 1.0), params.h2_from_gamma(gamma))


def test_gemma_lambda_is_gamma():
    assert params.gamma_from_gemma_lambda(HS_GAMMA) == HS_GAMMA
    lam = np.array([1e-5, 1.0, 1e5])
    assert np.array_equal(params.gamma_from_gemma_lambda(lam), lam)


def test_hs1940_numbers_are_consistent():
    """docs/PEERS-VERIFIED.md, HS1940 table: λ 4.343368 ⇒ GEMMA pve 0.609672 with t_c;
    FaST-LMM h2 with t; PyLMM h."""
    assert params.pve_from_gamma(HS_GAMMA, HS_T_CENTRED) == pytest.approx(HS_GEMMA_PVE, abs=5e-7)
    # t implied by GEMMA's printed pve and λ (6 printed digits each): t_c to ~2e-6.
    t_implied = HS_GEMMA_PVE / ((1 - HS_GEMMA_PVE) * HS_GAMMA)
    assert t_implied == pytest.approx(HS_T_CENTRED, rel=3e-6)
    assert params.gamma_from_fastlmm_h2(HS_FASTLMM_H2, HS_T) == pytest.approx(HS_GAMMA, rel=1e-6)
    assert params.gamma_from_h2(HS_PYLMM_H) == pytest.approx(HS_GAMMA, rel=1e-6)
    # The uncentred and re-centred t differ, so pve differs in the 4th digit: 0.60976 vs 0.60967.
    assert params.pve_from_gamma(HS_GAMMA, HS_T) == pytest.approx(HS_FASTLMM_H2, rel=1e-6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: params.gamma_from_h2(1.0), "h² = 1 gives σe² = 0: γ is infinite"),
        (lambda: params.delta_from_gamma(params.gamma_from_h2(0.0)), "δ = σe²/σg² is infinite"),
        (lambda: params.gamma_from_pve(1.0, 0.5), "pve = 1 gives σe² = 0"),
        (lambda: params.gamma_from_fastlmm_h2(1.0, 1.0), "γ is infinite"),
        (lambda: params.gamma_from_delta(0.0), "δ = 0 gives γ = ∞"),
        (lambda: params.gamma_from_h2(1.2), "must lie in [0, 1)"),
        (lambda: params.gamma_from_h2(-0.1), "must lie in [0, 1)"),
        (lambda: params.pve_from_gamma(1.0, 0.0), "must be positive"),
        (lambda: params.h2_from_gamma(math.nan), "not a finite number"),
        (lambda: registry.get("pylmm").to_standard({"h": 1.0}, 1.0), "γ is infinite"),
        (lambda: registry.get("plink"), "unknown tool 'plink'"),
    ],
)
def test_bad_values_give_one_line_input_errors(call, message):
    with pytest.raises(InputError) as info:
        call()
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_boundaries_allowed_when_not_strict():
    h = np.array([0.0, 0.5, 1.0])
    gamma = params.gamma_from_h2(h, strict=False)
    assert gamma.tolist() == [0.0, 1.0, math.inf]
    assert params.delta_from_gamma(np.array([0.0, 2.0]), strict=False).tolist() == [math.inf, 0.5]


def test_to_standard_keeps_a_zero_heritability_fit():
    std = registry.get("pylmm").to_standard({"h": 0.0}, 1.0)
    assert std["gamma"] == 0.0 and std["h2"] == 0.0 and std["pve"] == 0.0
    assert std["delta"] is None and std["boundary"] == "h2=0"
    assert registry.get("pylmm").to_standard({"h": 0.5}, 1.0)["boundary"] is None


def test_to_standard_agrees_across_tools():
    """One model (γ = 2, σe² = 0.5, t = 0.8) in every tool's own numbers maps to one answer."""
    gamma, sigma_e2, t = 2.0, 0.5, 0.8
    h = gamma / (1 + gamma)
    h2_fast = gamma * t / (1 + gamma * t)
    natives = {
        "pylmm": {"h": h, "sigma2": sigma_e2 / (1 - h)},
        "fastlmm": {"h2": h2_fast, "K_scaling": t, "sigma2": sigma_e2 / (1 - h2_fast)},
        "gemma": {"lambda": gamma, "vg": gamma * sigma_e2, "ve": sigma_e2},
        "exactlmm": {"delta": 1 / gamma, "sigma_e2": sigma_e2},
    }
    for tool, native in natives.items():
        std = registry.get(tool).to_standard(native, t)
        assert std["gamma"] == pytest.approx(gamma, rel=1e-12), tool
        assert std["delta"] == pytest.approx(0.5, rel=1e-12), tool
        assert std["h2"] == pytest.approx(2 / 3, rel=1e-12), tool
        assert std["pve"] == pytest.approx(1.6 / 2.6, rel=1e-12), tool
        assert std["sigma_e2"] == pytest.approx(sigma_e2, rel=1e-12), tool
        assert std["sigma_g2"] == pytest.approx(1.0, rel=1e-12), tool
    without_scale = registry.get("pylmm").to_standard({"h": h}, t)
    assert without_scale["sigma_g2"] is None and without_scale["sigma_e2"] is None


def test_fastlmm_scaling_must_match_mean_diag():
    with pytest.raises(InputError, match="K_scaling"):
        registry.get("fastlmm").to_standard({"h2": 0.5, "K_scaling": 0.9}, 0.8)


def test_pylmm_offset_value():
    # n = 1410, c = 1: docs/PEERS-VERIFIED.md, "PyLMM's +0.000177" (PyLMM −1584.073828 vs
    # FaST-LMM −1584.074005).
    assert params.pylmm_reml_offset(1410, 1) == pytest.approx(0.000177389, abs=1e-9)
    assert params.pylmm_reml_offset(1410, 1) == pytest.approx(1 / (4 * 1410), rel=2e-3)
    assert params.reml_from_pylmm(-1584.073828, 1410, 1) == pytest.approx(-1584.074005, abs=1e-6)
    with pytest.raises(InputError):
        params.pylmm_reml_offset(3, 3)


# ------------------------------------------------------------------ likelihood conventions


def _problem(n: int = 40, c: int = 2, seed: int = 7):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, 2 * n))
    K = A @ A.T / (2 * n) + 0.05 * np.eye(n)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, c - 1))])
    y = X @ rng.standard_normal(c) + rng.multivariate_normal(np.zeros(n), 1.5 * K + np.eye(n))
    return y, X, K


def exact_reml(gamma: float, y: np.ndarray, X: np.ndarray, K: np.ndarray) -> float:
    """−½[(n−c)log(2πσ̂²) + log|H| + log|XᵀH⁻¹X| − log|XᵀX| + (n−c)], by dense algebra."""
    n, c = X.shape
    H = gamma * K + np.eye(n)
    Hi = np.linalg.inv(H)
    XHX = X.T @ Hi @ X
    P = Hi - Hi @ X @ np.linalg.solve(XHX, X.T @ Hi)
    sigma2 = y @ P @ y / (n - c)
    logdet = np.linalg.slogdet
    return -0.5 * (
        (n - c) * np.log(2 * np.pi * sigma2)
        + logdet(H)[1]
        + logdet(XHX)[1]
        - logdet(X.T @ X)[1]
        + (n - c)
    )


def exact_ml(gamma: float, y: np.ndarray, X: np.ndarray, K: np.ndarray) -> float:
    n = X.shape[0]
    H = gamma * K + np.eye(n)
    Hi = np.linalg.inv(H)
    P = Hi - Hi @ X @ np.linalg.solve(X.T @ Hi @ X, X.T @ Hi)
    sigma2 = y @ P @ y / n
    return -0.5 * (n * np.log(2 * np.pi * sigma2) + np.linalg.slogdet(H)[1] + n)


def test_reml_invariant_to_centring_but_ml_is_not():
    """GEMMA re-centres K; with an intercept in X its REML (not its ML) is that of K."""
    y, X, K = _problem()
    n = K.shape[0]
    P = np.eye(n) - np.ones((n, n)) / n
    Kc = P @ K @ P
    for gamma in (0.3, 2.0):
        assert exact_reml(gamma, y, X, Kc) == pytest.approx(exact_reml(gamma, y, X, K), abs=1e-9)
        assert abs(exact_ml(gamma, y, X, Kc) - exact_ml(gamma, y, X, K)) > 1e-3


def test_pylmm_reml_is_exact_plus_constant():
    lmm_module = pytest.importorskip("pylmm3.lmm")
    y, X, K = _problem()
    n, c = X.shape
    lmm = lmm_module.LMM(y.copy(), K.copy(), X0=X)
    for gamma in (0.2, 1.0, 5.0):
        h = float(params.h2_from_gamma(gamma))
        pylmm_ll = float(lmm.LL(h, REML=True)[0])
        assert pylmm_ll - exact_reml(gamma, y, X, K) == pytest.approx(
            params.pylmm_reml_offset(n, c), abs=1e-9
        )


def test_fastlmm_nll_is_minus_exact_reml_on_scaled_kinship():
    lmm_cov = pytest.importorskip("fastlmm.inference.lmm_cov")
    y, X, K = _problem()
    t = float(np.trace(K)) / K.shape[0]
    lmm = lmm_cov.LMM(X=X, Y=y.reshape(-1, 1), K=K / t)
    for gamma in (0.2, 1.0, 5.0):
        h2 = float(params.pve_from_gamma(gamma, t))
        nll = float(np.ravel(lmm.nLLeval(h2=h2)["nLL"])[0])
        assert params.reml_from_fastlmm_nll(nll) == pytest.approx(
            exact_reml(gamma, y, X, K), abs=1e-9
        )
