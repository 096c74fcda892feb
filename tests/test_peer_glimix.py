"""glimix-core's runner: its null fit is the exact REML, its scan converts to our Wald test.

The conventions of ``lmmcompare.runners.glimix`` (module docstring) are checked against a dense
numpy computation written here (REML and GLS Wald with σ̂² = r/(n − c − 1)) for one and for
several covariate columns (glimix-core's two ``effsizes1_se`` conventions), and the runner
against ours: at glimix-core's own γ (``exactlmm assoc --h2``) the files agree to their printed
digits; with each tool's own REML fit, to glimix-core's Brent tolerance (1e-6 on log δ).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from peer_helpers import dense_wald, neglog10, run_ours, toy_request

from exactlmm.io.results import read_assoc_tsv, read_null_json
from lmmcompare import registry
from lmmcompare.runners import RunRequest, ToolFailed, glimix
from lmmcompare.runs import Run, execute

pytestmark = pytest.mark.filterwarnings(
    # glimix-core 3.1.12 _multicovariate_loop under numpy ≥ 1.25 (the runner filters it too)
    "ignore:Conversion of an array with ndim > 0 to a scalar:DeprecationWarning"
)

needs_glimix = pytest.mark.skipif(not registry.get("glimix").installed(),
                                  reason=str(registry.get("glimix").unavailable()))


def _simulate(c: int, n: int = 200, m_kin: int = 400, seed: int = 7):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, m_kin))
    K = Z @ Z.T / m_kin
    X = np.column_stack([np.ones(n), rng.standard_normal((n, c - 1))])
    G = rng.binomial(2, rng.uniform(0.05, 0.5, 6), size=(n, 6)).astype(np.float64)
    y = (X @ rng.standard_normal(c) + Z @ rng.standard_normal(m_kin) * 1.2 / np.sqrt(m_kin)
         + 1.0 * G[:, 0] + rng.standard_normal(n))
    return y, X, K, G


def _glimix_fit(y, X, K):
    from glimix_core.lmm import LMM
    from numpy_sugar.linalg import economic_qs

    lmm = LMM(y, X, economic_qs(K), restricted=True)
    lmm.fit(verbose=False)
    return lmm


def _dense_reml(gamma, y, X, K):
    """Exact REML (with +½log|XᵀX|) at γ and its σ̂² = r/(n − c), by dense algebra."""
    n, c = X.shape
    H = gamma * K + np.eye(n)
    Hi = np.linalg.inv(H)
    XHX = X.T @ Hi @ X
    r = y - X @ np.linalg.solve(XHX, X.T @ Hi @ y)
    s2 = r @ Hi @ r / (n - c)
    loglik = -0.5 * ((n - c) * np.log(2 * np.pi * s2) + np.linalg.slogdet(H)[1]
                     + np.linalg.slogdet(XHX)[1] - np.linalg.slogdet(X.T @ X)[1] + (n - c))
    return loglik, s2


@needs_glimix
@pytest.mark.parametrize("c", [1, 3])
def test_null_fit_is_exact_reml_on_the_standard_form(c):
    y, X, K, _ = _simulate(c)
    lmm = _glimix_fit(y, X, K)
    n = y.size
    std = registry.get("glimix").to_standard({"delta": lmm.delta, "scale": lmm.scale}, 1.0)
    # γ = v0/v1 = (1 − δ_g)/δ_g; σg² = v0, σe² = v1 on K as given.
    assert std["gamma"] == pytest.approx(lmm.v0 / lmm.v1, rel=1e-12)
    assert std["sigma_g2"] == pytest.approx(lmm.v0, rel=1e-12)
    assert std["sigma_e2"] == pytest.approx(lmm.v1, rel=1e-12)
    assert 0.05 < std["gamma"] < 20  # an interior fit
    loglik, s2 = _dense_reml(std["gamma"], y, X, K)
    assert lmm.lml() == pytest.approx(loglik, abs=1e-9)  # no constant to convert
    assert lmm.v1 == pytest.approx(s2, rel=1e-9)  # REML σ̂e², denominator n − c
    # It is the maximum: the dense REML is lower a little away from glimix-core's γ.
    for factor in (0.97, 1.03):
        assert _dense_reml(factor * std["gamma"], y, X, K)[0] < lmm.lml()
    # FastScanner keeps the null variances: its ML null scale is (n − c)/n of them.
    assert lmm.get_fast_scanner().null_scale == pytest.approx((n - c) / n, rel=1e-10)


@needs_glimix
@pytest.mark.parametrize("c", [1, 3])
def test_scan_converts_to_our_wald_test(c):
    """Both effsizes1_se conventions (c = 1: ML scale applied; c > 1: not) give the GLS Wald
    test with σ̂² = r/(n − c − 1) at the null γ."""
    y, X, K, G = _simulate(c)
    lmm = _glimix_fit(y, X, K)
    scanner = lmm.get_fast_scanner()
    result = scanner.fast_scan(G, verbose=False)
    wald = glimix.wald_from_scan(result, scanner.null_scale, y.size, c)
    dense = dense_wald(lmm.v0 / lmm.v1 * K + np.eye(y.size), y, X, G)
    for name in ("beta", "se"):
        assert np.allclose(wald[name], dense[name], rtol=1e-9, atol=0), name
    assert np.allclose(-np.log10(wald["p_wald"]), -np.log10(dense["p_wald"]), rtol=1e-8)
    assert wald["p_wald"][0] < 1e-3  # the simulated effect is found


@needs_glimix
def test_a_different_se_convention_fails_instead_of_giving_wrong_p_values():
    y, X, K, G = _simulate(3)
    scanner = _glimix_fit(y, X, K).get_fast_scanner()
    result = scanner.fast_scan(G, verbose=False)
    # As if a glimix-core applied the ML scale for several covariates too.
    rescaled = {**result, "effsizes1_se": result["effsizes1_se"] * np.sqrt(result["scale"])}
    with pytest.raises(ToolFailed, match="effsizes1_se convention"):
        glimix.wald_from_scan(rescaled, scanner.null_scale, y.size, 3)


@needs_glimix
def test_one_snp_without_finite_numbers_is_na_and_the_rest_stand():
    """One bad SNP is not a failed run: its β, se, p are NaN (TOOL_FAILED when written)."""
    y, X, K, G = _simulate(3)
    scanner = _glimix_fit(y, X, K).get_fast_scanner()
    result = scanner.fast_scan(G, verbose=False)
    broken = {key: np.array(value, dtype=np.float64) for key, value in result.items()
              if key in ("effsizes1", "effsizes1_se", "scale")}
    broken["effsizes1_se"][1] = np.nan
    wald = glimix.wald_from_scan(broken, scanner.null_scale, y.size, 3)
    good = glimix.wald_from_scan(result, scanner.null_scale, y.size, 3)
    for name in ("beta", "se", "p_wald"):
        assert np.isnan(wald[name][1]), name
        others = np.delete(np.arange(G.shape[1]), 1)
        np.testing.assert_array_equal(wald[name][others], good[name][others])


def test_missing_glimix_is_skipped_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "glimix_core.lmm", None)  # import now fails
    request = RunRequest(bfile="x", pheno=None, mpheno=1, covar=None, kinship="k", extract="e")
    outcome = execute(Run("toy", "glimix", "fixed"), request, tmp_path / "g")
    assert not outcome.ok and "not installed" in outcome.reason
    assert "pip install glimix-core==3.1.12" in outcome.reason and "\n" not in outcome.reason


@needs_glimix
def test_runner_agrees_with_ours(make_plink, tmp_path):
    request = toy_request(make_plink, tmp_path)
    for tool in ("glimix", "exactlmm"):
        assert execute(Run("toy", tool, "fixed"), request, tmp_path / tool).ok, tool
    ours, theirs = (read_assoc_tsv(tmp_path / f"{t}.assoc.tsv") for t in ("exactlmm", "glimix"))
    ours_null, null = (read_null_json(tmp_path / f"{t}.null.json") for t in ("exactlmm", "glimix"))
    assert theirs["snp"].tolist() == ours["snp"].tolist()
    assert theirs["errcode"].tolist() == ours["errcode"].tolist()
    assert "MONOMORPHIC" in theirs["errcode"].tolist()
    ok = ours["errcode"] == "."
    assert null["n_covariates"] == 3 and null["n_samples"] == ours_null["n_samples"]
    # Each tool's own REML fit: glimix-core's Brent stops at 1e-6 on log δ.
    assert null["gamma"] == pytest.approx(ours_null["gamma"], rel=1e-5)
    assert null["loglik"] == pytest.approx(ours_null["loglik"], abs=1e-8)
    assert np.allclose(neglog10(theirs["p_wald"][ok]), neglog10(ours["p_wald"][ok]),
                       rtol=1e-5, atol=1e-8)
    assert np.allclose(theirs["delta"][ok], 1 / null["gamma"], rtol=1e-9)
    # At glimix-core's γ, ours gives the same numbers to the printed digits.
    run_ours(request, tmp_path / "ours_at", h2=null["h2"])
    at = read_assoc_tsv(tmp_path / "ours_at.assoc.tsv")
    assert read_null_json(tmp_path / "ours_at.null.json")["loglik"] == pytest.approx(
        null["loglik"], abs=1e-9
    )
    for name in ("beta", "se", "p_wald"):
        assert np.allclose(theirs[name][ok], at[name][ok], rtol=1e-8, atol=0), name
    assert np.nanmin(theirs["p_wald"]) < 1e-4


@pytest.mark.slow
@needs_glimix
def test_hs1940_agrees_with_ours(hs1940_request, tmp_path):
    """GEMMA's mouse example, centered kinship, intercept only (c = 1): every SNP ours tests."""
    request = hs1940_request
    for tool in ("glimix", "exactlmm"):
        assert execute(Run("hs1940", tool, "fixed"), request, tmp_path / tool).ok, tool
    ours, theirs = (read_assoc_tsv(tmp_path / f"{t}.assoc.tsv") for t in ("exactlmm", "glimix"))
    ours_null, null = (read_null_json(tmp_path / f"{t}.null.json") for t in ("exactlmm", "glimix"))
    assert theirs["errcode"].tolist() == ours["errcode"].tolist()
    ok = ours["errcode"] == "."
    assert ok.sum() > 10_000 and null["n_samples"] == 1410 and null["n_covariates"] == 1
    assert null["gamma"] == pytest.approx(ours_null["gamma"], rel=1e-5)
    assert null["loglik"] == pytest.approx(ours_null["loglik"], abs=1e-8)
    diff = np.abs(neglog10(theirs["p_wald"][ok]) - neglog10(ours["p_wald"][ok]))
    assert diff.max() < 1e-5
    assert np.max(np.abs(theirs["beta"][ok] - ours["beta"][ok]) / ours["se"][ok]) < 1e-5
