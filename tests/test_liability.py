"""Binary traits (lmmcompare.liability and simulate_dataset's prevalence, case_fraction and
null_maf_min): the threshold gives the prevalence, ascertainment the case fraction, Lee et al.'s
transformation the observed-scale h² an LMM estimates, and low-frequency null SNPs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from exactlmm.errors import InputError
from exactlmm.null import fit_null
from exactlmm.spectral import spectrum_from_kinship
from lmmcompare import liability
from lmmcompare.simulate import simulate_dataset, standardize


def test_the_threshold_gives_the_prevalence():
    rng = np.random.default_rng(1)
    pool = rng.standard_normal(400_000)
    for prevalence in (0.01, 0.1, 0.5):
        share = np.mean(pool > liability.threshold(prevalence))
        assert share == pytest.approx(prevalence, abs=4 * math.sqrt(prevalence / 400_000))


def test_ascertainment_takes_the_wanted_cases_and_controls():
    rng = np.random.default_rng(2)
    n_cases, n_controls, prevalence = 300, 700, 0.05
    size = liability.pool_size(n_cases, n_controls, prevalence)
    assert size * prevalence - 6 * math.sqrt(size * prevalence * 0.95) >= n_cases
    pool = rng.standard_normal(size)
    chosen, phenotype = liability.ascertain(pool, prevalence, n_cases, n_controls, rng)
    assert chosen.size == 1000 and np.all(np.diff(chosen) > 0)
    assert phenotype.sum() == n_cases
    assert np.all((pool[chosen] > liability.threshold(prevalence)) == (phenotype == 1))
    with pytest.raises(InputError, match="fewer than"):
        liability.ascertain(pool[:100], prevalence, n_cases, n_controls, rng)


def test_lee_transformation_round_trip_and_its_population_form():
    k, p = 0.1, 0.5
    assert liability.observed_to_liability(liability.liability_to_observed(0.4, k, p), k, p) \
        == pytest.approx(0.4)
    # P = K: Dempster–Lerner, h²_ℓ = h²_o K(1 − K)/z²
    z = stats.norm.pdf(stats.norm.isf(k))
    assert liability.scale_factor(k, k) == pytest.approx(k * (1 - k) / z**2)
    with pytest.raises(InputError, match="case_fraction"):
        liability.case_count(10, 0.01)


def binary(tmp_path, **changes):
    arguments = {"n_samples": 600, "n_snps": 1200, "n_chromosomes": 4, "seed": 3, "h2": 0.4,
                 "n_causal": 2, "causal_h2": 0.05, "null_chromosomes": 1, "prevalence": 0.1,
                 "case_fraction": 0.5, **changes}
    truth = simulate_dataset(tmp_path / "b", **arguments)
    pheno = np.loadtxt(tmp_path / "b.pheno", skiprows=1, usecols=2)
    return truth, pheno


def test_simulated_case_control_sample(tmp_path):
    truth, pheno = binary(tmp_path)
    assert set(np.unique(pheno)) == {0.0, 1.0} and pheno.sum() == 300
    assert truth["trait"] == "binary" and truth["case_fraction"] == 0.5
    assert truth["n_cases"] == 300 and truth["pool_size"] > 3000
    assert truth["h2_liability"] == 0.4
    expected = float(liability.liability_to_observed(0.4, 0.1, 0.5))
    assert truth["h2_observed"] == pytest.approx(expected)
    assert truth["gamma"] == pytest.approx(expected / (1 - expected))
    assert len(truth["population"]) == 600 and truth["kinship_mean_diag"] <= 1.0
    fam = (tmp_path / "b.fam").read_text().split("\n")[0].split()
    assert fam[:2] == ["fam0", "ind0"]
    again, _ = binary(tmp_path / "again")
    assert again["causal_snps"] == truth["causal_snps"]
    assert (tmp_path / "b.bed").read_bytes() == (tmp_path / "again" / "b.bed").read_bytes()
    # A population sample: the prevalence is the case fraction.
    population, pheno = binary(tmp_path / "pop", case_fraction=None)
    assert pheno.sum() == 60 and population["case_fraction"] == pytest.approx(0.1)


def test_an_lmm_on_the_cases_and_controls_estimates_the_observed_scale_h2(tmp_path):
    """Lee et al. (2011): ĥ² of an LMM on the 0/1 phenotype of a case-control sample is the
    liability h² times z²P(1 − P)/(K²(1 − K)²) (K = 0.3, P = 0.5: 0.5 → 0.34)."""
    truth, pheno = binary(tmp_path, n_samples=1500, n_snps=3000, n_chromosomes=2,
                          null_chromosomes=0, n_causal=0, causal_h2=0.0, h2=0.5,
                          prevalence=0.3)
    from bed_reader import open_bed

    with open_bed(tmp_path / "b.bed", count_A1=True) as bed:
        z = standardize(bed.read(dtype="int8", num_threads=1))[0]
    keep = z.std(axis=0) > 0
    k = z[:, keep] @ z[:, keep].T / keep.sum()
    x = np.ones((pheno.size, 1))
    null = fit_null(spectrum_from_kinship(k.copy(), x), pheno, x, lambda v: k @ v, 1.0)
    se = null.standard_errors()["se_h2"]
    # ĥ² 0.316 (se 0.053) against 0.343 on the observed scale; the liability h² 0.5 is not
    # what the LMM on 0/1 estimates
    assert abs(null.h2 - truth["h2_observed"]) < 2 * se
    assert abs(null.h2 - truth["h2_liability"]) > 3 * se


def test_low_frequency_null_snps(tmp_path):
    truth = simulate_dataset(tmp_path / "r", n_samples=1000, n_snps=2000, n_chromosomes=2,
                             seed=4, h2=0.5, n_causal=0, causal_h2=0.0, null_chromosomes=1,
                             null_maf_min=0.005)
    from bed_reader import open_bed

    with open_bed(tmp_path / "r.bed", count_A1=True) as bed:
        af = bed.read(dtype="float32", num_threads=1).mean(axis=0) / 2
    maf = np.minimum(af, 1 - af)
    null = np.array(truth["null_chromosomes"] == ["2"]) & (np.arange(2000) >= 1000)
    assert np.mean(maf[null] < 0.05) > 0.35  # log-uniform on [0.005, 0.5]: half below 0.05
    assert np.mean(maf[null] < 0.01) > 0.08
    assert np.mean(maf[~null] < 0.03) < 0.01  # the others: Uniform(0.05, 0.5)
    assert json.loads((tmp_path / "r.truth.json").read_text())["parameters"][
        "null_maf_min"] == 0.005


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"sib_fraction": 0.2}, "give sib_fraction 0 with prevalence"),
     ({"n_covariates": 1}, "give n_covariates 0 with prevalence"),
     ({"prevalence": None}, "case_fraction needs a prevalence"),
     ({"prevalence": 1.5}, "prevalence must lie strictly between 0 and 1"),
     ({"case_fraction": 0.0001}, "need at least one case and one control"),
     ({"null_maf_min": 0.001, "null_chromosomes": 0}, "give null_chromosomes >= 1"),
     ({"null_maf_min": 0.2}, "null_maf_min must satisfy")],
)
def test_bad_binary_options_are_one_line_errors(tmp_path, changes, message):
    with pytest.raises(InputError, match=message):
        binary(tmp_path, **changes)
