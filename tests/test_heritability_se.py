"""Standard errors of the variance ratio: the observed information of the profile likelihood
(``exactlmm.likelihood.profile_curvature``) against a numerical second derivative of the same
likelihood, against the full 2 × 2 observed information of (σg², σe²) computed densely, and
against GEMMA's se(pve) on HS1940."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from exactlmm.cli import main
from exactlmm.likelihood import RotatedPhenotype, profile_curvature, profile_loglik
from exactlmm.null import fit_null
from exactlmm.spectral import spectrum_from_genotypes, spectrum_from_kinship


def _problem(n: int, m: int, seed: int, n_covariates: int = 2):
    """Genotypes Z (n × m) standardized with the population frequencies (so that K1 ≠ 0 and
    ML has a maximum: the notes of exactlmm.likelihood), K = ZZᵀ/m, X with an intercept, y
    from the model."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.1, 0.9, m)
    g = rng.binomial(2, freq, size=(n, m)).astype(float)
    z = (g - 2 * freq) / np.sqrt(2 * freq * (1 - freq))
    x = np.column_stack([np.ones(n), rng.standard_normal((n, n_covariates - 1))])
    y = x @ rng.normal(size=n_covariates) + z @ rng.normal(0, np.sqrt(0.6 / m), m) \
        + rng.normal(0, np.sqrt(0.4), n)
    return z, z @ z.T / m, x, y


def _fit(z, k, x, y, likelihood, low_rank):
    m = z.shape[1]
    if low_rank:
        spectrum = spectrum_from_genotypes(z.copy(), m, x)
    else:
        spectrum = spectrum_from_kinship(k.copy(), x)
    return fit_null(spectrum, y, x, lambda v: k @ v, float(np.trace(k)) / k.shape[0],
                    likelihood=likelihood)


def _dense_information(k, x, y, sg2, se2, likelihood):
    """−∂²ℓ/∂θ∂θᵀ of the REML (or β-profiled ML) log-likelihood in θ = (σg², σe²), dense:
    I_ij = yᵀPVᵢPVⱼPy − ½ tr(AVᵢAVⱼ) with A = P (REML) or V⁻¹ (ML), V₁ = K, V₂ = I."""
    n = k.shape[0]
    v = sg2 * k + se2 * np.eye(n)
    vi = np.linalg.inv(v)
    p = vi - vi @ x @ np.linalg.solve(x.T @ vi @ x, x.T @ vi)
    a = p if likelihood == "REML" else vi
    derivatives = (k, np.eye(n))
    py = p @ y
    info = np.empty((2, 2))
    for i, vi_ in enumerate(derivatives):
        for j, vj in enumerate(derivatives):
            info[i, j] = py @ vi_ @ p @ vj @ py - 0.5 * np.trace(a @ vi_ @ a @ vj)
    return info


@pytest.mark.parametrize("likelihood", ["REML", "ML"])
@pytest.mark.parametrize("low_rank", [False, True])
def test_se_equals_the_full_observed_information(likelihood, low_rank):
    """The profile likelihood's curvature in t = log δ gives t's entry of the inverse full
    information; by the delta method, se(h²) equals √(gᵀI⁻¹g) with g = ∂h²/∂(σg², σe²)."""
    z, k, x, y = _problem(n=90, m=60 if low_rank else 300, seed=4)
    null = _fit(z, k, x, y, likelihood, low_rank)
    assert null.boundary is None and null.se_log_delta is not None
    sg2, se2 = null.sigma_g2, null.sigma_e2
    covariance = np.linalg.inv(_dense_information(k, x, y, sg2, se2, likelihood))
    total = sg2 + se2
    gradient = np.array([se2, -sg2]) / total**2  # h² = σg²/(σg² + σe²)
    se_h2 = float(np.sqrt(gradient @ covariance @ gradient))
    gradient_gamma = np.array([1.0 / se2, -sg2 / se2**2])  # γ = σg²/σe²
    se_gamma = float(np.sqrt(gradient_gamma @ covariance @ gradient_gamma))
    errors = null.standard_errors()
    assert errors["se_h2"] == pytest.approx(se_h2, rel=1e-6)
    assert errors["se_gamma"] == pytest.approx(se_gamma, rel=1e-6)


@pytest.mark.parametrize("likelihood", ["REML", "ML"])
def test_curvature_equals_a_numerical_second_derivative(likelihood):
    _, k, x, y = _problem(n=120, m=400, seed=9, n_covariates=3)
    spectrum = spectrum_from_kinship(k.copy(), x)
    phenotype = RotatedPhenotype.from_phenotype(spectrum, y)
    for t in (-2.0, -0.3, 0.4, 1.7):  # not only at the maximum
        h = 2e-3  # the five-point stencil: error O(h⁴) + round-off O(ε|ℓ|/h²), both ~1e-9
        f = profile_loglik(phenotype, t + h * np.arange(-2.0, 3.0), likelihood)
        numeric = (-f[0] + 16 * f[1] - 30 * f[2] + 16 * f[3] - f[4]) / (12 * h**2)
        assert profile_curvature(phenotype, t, likelihood) == pytest.approx(numeric, rel=1e-6)


def test_no_se_without_an_estimate(tmp_path, make_plink, capsys):
    """A fixed h² (--h2) estimates nothing, and a fit on a bound has no curvature to read."""
    prefix = make_plink(tmp_path, n=60, m=200, seed=2)
    assert main(["fit", "--bfile", str(prefix), "--h2", "0.4", "--no-progress", "--out",
                 str(tmp_path / "fixed")]) == 0
    record = json.loads((tmp_path / "fixed.null.json").read_text())
    assert record["se_h2"] is None and record["se_gamma"] is None and record["se_pve"] is None
    z, k, x, _ = _problem(n=60, m=200, seed=1)
    noise = np.random.default_rng(0).standard_normal(60)  # h² = 0: δ on its upper bound
    null = _fit(z, k, x, noise, "REML", low_rank=False)
    if null.boundary is not None:
        assert null.se_log_delta is None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gemma") is None, reason="GEMMA (Debian gemma) not installed")
def test_se_pve_equals_gemmas_on_hs1940(hs1940, tmp_path, capsys):
    """GEMMA's se(pve) is the delta-method se of its pve = λt/(1+λt) from the REML
    curvature in λ (t = tr(K)/n of its re-centred K): ours on the same K, centred the same
    way (--center-kinship), agrees to GEMMA's six printed digits."""
    out = tmp_path / "k"
    assert main(["kinship", "--bfile", str(hs1940), "--kind", "centered", "--no-progress",
                 "--out", str(out)]) == 0
    kinship = f"{out}.kinship.txt"
    assert main(["fit", "--bfile", str(hs1940), "--kinship", kinship, "--center-kinship",
                 "--no-progress", "--out", str(tmp_path / "fit")]) == 0
    ours = json.loads((tmp_path / "fit.null.json").read_text())
    subprocess.run(["gemma", "-bfile", str(hs1940), "-k", kinship, "-lmm", "1", "-o", "g",
                    "-outdir", str(tmp_path)], check=True, capture_output=True)
    log = (tmp_path / "g.log.txt").read_text()
    gemma_pve = float(log.split("pve estimate in the null model = ")[1].split()[0])
    gemma_se = float(log.split("se(pve) in the null model = ")[1].split()[0])
    assert ours["pve"] == pytest.approx(gemma_pve, abs=1e-6)
    assert ours["se_pve"] == pytest.approx(gemma_se, abs=1e-6)
