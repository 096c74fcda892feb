"""Quickdraws' runner: the conventions of ``lmmcompare.runners.quickdraws`` checked independently.

* Fast: relatives from our kinship as Quickdraws' KING cutoff sees them, the unrelated samples
  its calibration gets, the chromosome layout its step 2 needs, h² → γ, GENIE's missing calls
  filled (seeded) the way GENIE draws them.
* With its venv (.ci/venvs; minutes on the CPU, so once): on a simulated dataset with sibs,
  covariates and missing calls — the private sample names, β on our a1 and on the phenotype's
  scale, calibration on the unrelated samples, agreement with ours ``--loco``, the same bytes
  from a second run (its unseeded draws seeded).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from peer_helpers import simulated_request, toy_request
from scipy import stats

from exactlmm.io.results import read_assoc_tsv, read_null_json
from lmmcompare import registry
from lmmcompare.compare import minus_log10, pearson
from lmmcompare.runners import SkipRun, quickdraws, quickdraws_job
from lmmcompare.runners.program import CONSOLE
from lmmcompare.runs import Run, execute

TOOL = registry.get("quickdraws")
needs_quickdraws = pytest.mark.skipif(not TOOL.installed(), reason=str(TOOL.unavailable()))


def test_relatives_use_kings_cutoff_on_our_kinship_scaled_to_mean_diagonal_one():
    k = np.eye(6)
    for (a, b), value in {(0, 1): 0.5, (1, 2): 0.5, (3, 4): 0.1, (4, 5): 0.08}.items():
        k[a, b] = k[b, a] = value
    for scale in (1.0, 0.35):  # a centered kinship's mean diagonal is below 1
        i, j, phi = quickdraws.relatives(scale * k)
        assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (1, 2), (3, 4)]
        np.testing.assert_allclose(phi, [0.25, 0.25, 0.05])  # 0.08/2 = 0.04 < 2^-4.5
    kept = quickdraws.unrelated(6, *quickdraws.relatives(k)[:2])
    # 5 has no relative; 0 comes first, so 1 goes, then 2 stays; 3 stays, 4 goes.
    assert kept.tolist() == [True, False, True, True, False, True]


def test_chromosome_layout_step_2_needs():
    quickdraws.check_chromosomes(np.array(["1", "1", "2", "10"]))
    with pytest.raises(SkipRun, match="sorted by chromosome"):
        quickdraws.check_chromosomes(np.array(["1", "2", "1"]))
    with pytest.raises(SkipRun, match="integer chromosome codes"):
        quickdraws.check_chromosomes(np.array(["1", "X"]))


def test_fewer_samples_than_one_training_batch_is_a_skip():
    """Step 1 trains on ⌊⌊0.8 N⌋/128⌋·128 samples: none below N = 160."""
    quickdraws.check_sample_size(160)
    with pytest.raises(SkipRun, match=r"159 analysed samples give none \(it needs at least 160\)"):
        quickdraws.check_sample_size(159)


@needs_quickdraws
def test_a_dataset_too_small_is_a_skipped_run_with_its_reason(make_plink, tmp_path):
    request = toy_request(make_plink, tmp_path)  # 159 of its 160 samples analysed
    outcome = execute(Run("toy", "quickdraws", "loco"), request, tmp_path / "qd")
    assert not outcome.ok and "it needs at least 160" in outcome.reason


def test_genie_h2_is_on_the_standardized_kinship():
    std = TOOL.to_standard({"h2": 0.6}, 1.0)
    assert std["gamma"] == pytest.approx(1.5) and std["h2"] == pytest.approx(0.6)


def test_genie_gets_its_missing_calls_filled_as_it_draws_them_but_seeded(tmp_path, monkeypatch):
    """GENIE draws each missing call from Hardy-Weinberg proportions at the SNP's observed
    frequency of the .bim column-6 allele, with rand() seeded by the clock; the job script
    fills them the same way from a seeded generator, so GENIE draws none."""
    from bed_reader import open_bed, to_bed

    rng = np.random.default_rng(5)
    n, freqs = 4001, np.array([0.1, 0.5, 0.8])  # n not a multiple of 4
    copies = rng.binomial(2, freqs, size=(n, freqs.size)).astype(float)  # of column 6's allele
    copies[rng.random(copies.shape) < 0.3] = np.nan
    copies = np.column_stack([copies, np.full(n, np.nan)])  # a SNP without calls
    to_bed(tmp_path / "g.bed", copies, count_A1=False)
    monkeypatch.chdir(tmp_path)
    command = quickdraws_job.seeded_genie_command(" -g g -p s1.rhe -k 50 -o s1.rhe.log", 7)
    assert command == "-g g.genie -p s1.rhe -k 50 -o s1.rhe.log -s 7"
    with open_bed("g.genie.bed", count_A1=False) as bed:
        filled = bed.read()
    observed = ~np.isnan(copies)
    np.testing.assert_array_equal(filled[observed], copies[observed])
    assert not np.isnan(filled).any()
    for j in range(freqs.size):  # 0, 1, 2 copies in (1 − p)², 2p(1 − p), p²: χ²(2) < 13.8
        p = np.nanmean(copies[:, j]) / 2
        drawn = np.bincount(filled[~observed[:, j], j].astype(int), minlength=3)
        expected = drawn.sum() * np.array([(1 - p) ** 2, 2 * p * (1 - p), p**2])
        assert ((drawn - expected) ** 2 / expected).sum() < 13.8
    assert np.all(filled[:, -1] == 2)  # GENIE's frequency 0/0 = NaN gives 2 copies
    first = Path("g.genie.bed").read_bytes()
    quickdraws_job.seeded_genie_command("-g g -o s1.rhe.log", 7)
    assert Path("g.genie.bed").read_bytes() == first


# ------------------------------------------------------------------ with Quickdraws


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """N = 300, M = 900 on 3 chromosomes, 2 covariates, 2 % missing calls, 30 % of the samples
    in sib pairs; our QC list, kinship and loco scan; Quickdraws run once (kept raw)."""
    work = tmp_path_factory.mktemp("quickdraws")
    prefix = work / "sim"
    request = simulated_request(work, [
        "--n-samples", "300", "--n-snps", "900", "--n-chromosomes", "3", "--seed", "37", "--h2",
        "0.6", "--n-causal", "3", "--causal-h2", "0.2", "--sib-fraction", "0.3", "--missing-rate",
        "0.02", "--n-covariates", "2"], keep_raw=True)
    assert execute(Run("sim", "exactlmm", "loco"), request, work / "ours").ok
    found = {"work": work, "prefix": prefix, "request": request}
    if TOOL.installed():
        outcome = execute(Run("sim", "quickdraws", "loco"), request, work / "qd")
        assert outcome.ok, outcome.reason
    return found


@pytest.mark.slow
@needs_quickdraws
def test_one_run_on_our_conventions(simulated):
    work = simulated["work"]
    assoc = read_assoc_tsv(work / "qd.assoc.tsv")
    null = read_null_json(work / "qd.null.json")
    ours = read_assoc_tsv(work / "ours.assoc.tsv")
    assert np.array_equal(assoc["snp"], ours["snp"])
    ok = np.isfinite(assoc["p_wald"]) & np.isfinite(ours["p_wald"])
    assert ok.sum() == np.isfinite(ours["p_wald"]).sum()
    # β per a1 copy on the phenotype's scale (BETA counts .bim column 6 on the standardized
    # trait): the same direction and size as ours.
    assert pearson(assoc["beta"][ok], ours["beta"][ok]) > 0.9
    # −log10 p: 0.883 measured (seeded, so fixed); an approximate LOCO at N = 300, where its
    # variational fit has 240 training samples.  A sample or allele mix-up gives r near 0.
    assert pearson(minus_log10(assoc["p_wald"][ok]), minus_log10(ours["p_wald"][ok])) > 0.85
    truth = json.loads(Path(f"{simulated['prefix']}.truth.json").read_text())
    strong = np.isin(assoc["snp"], truth["causal_snps"]) & (ours["p_wald"] < 1e-6)
    assert strong.any()
    assert np.all(assoc["p_wald"][strong] < 1e-4)
    np.testing.assert_allclose(assoc["beta"][strong], ours["beta"][strong], rtol=0.3)
    native = null["native"]
    assert 0.01 <= native["h2"] <= 0.99 and null["h2"] == pytest.approx(native["h2"])
    # Sibs are relatives: listed for step 1, left out of step 2's calibration.
    assert native["n_relative_pairs"] >= 40 and native["n_unrelated"] < 300
    assert set(native["calibration"]) == {"1", "2", "3"}
    assert null["likelihood"] is None and np.all(np.isnan(assoc["delta"]))
    raw = Path(simulated["request"].keep_raw)
    console = (raw / CONSOLE).read_text()
    assert "Will calibrate the summary statistics using the unrelated" in console


@pytest.mark.slow
@needs_quickdraws
def test_too_few_unrelated_samples_give_the_uncalibrated_statistics(simulated, tmp_path,
                                                                   monkeypatch):
    """Fewer unrelated samples than MIN_UNRELATED (HS1940's mice): step 2 runs with
    ``--calibrate False``, which leaves its statistics in HDF5 only; the job writes them in
    the calibrated table's layout (factors of 1), so the run is ok, its p the uncalibrated
    ones: the calibrated run's χ² divided by its chromosome's factor."""
    monkeypatch.setattr(quickdraws, "MIN_UNRELATED", 10_000)
    outcome = execute(Run("sim", "quickdraws", "loco"), simulated["request"], tmp_path / "u")
    assert outcome.ok, outcome.reason
    native = outcome.null["native"]
    assert native["calibration"].startswith("none: ")
    calibrated = read_null_json(simulated["work"] / "qd.null.json")["native"]["calibration"]
    mine, theirs = read_assoc_tsv(tmp_path / "u.assoc.tsv"), read_assoc_tsv(
        simulated["work"] / "qd.assoc.tsv")
    chrom = np.asarray(mine["chrom"]).astype(str)
    ok = np.isfinite(mine["p_wald"])
    assert ok.sum() == np.isfinite(theirs["p_wald"]).sum() > 800
    # Calibration multiplies each SNP's χ² by a factor through its own OBS_CT
    # (quickdraws_step2.py 168–172); the record keeps each chromosome's mean factor.
    ratio = stats.chi2.isf(theirs["p_wald"][ok], 1) / stats.chi2.isf(mine["p_wald"][ok], 1)
    for c, factor in calibrated.items():
        here = ratio[chrom[ok] == c]
        assert np.median(here) == pytest.approx(factor, rel=2e-3)
    assert max(abs(f - 1.0) for f in calibrated.values()) > 0.02  # the two can be told apart


@pytest.mark.slow
@needs_quickdraws
def test_a_second_run_gives_the_same_bytes(simulated, tmp_path):
    """GENIE's random vectors, its missing calls and the LD-score sample are seeded
    (quickdraws_job.py)."""
    outcome = execute(Run("sim", "quickdraws", "loco"), simulated["request"], tmp_path / "again")
    assert outcome.ok, outcome.reason
    for ext in (".assoc.tsv", ".null.json"):
        assert (tmp_path / f"again{ext}").read_bytes() == (
            simulated["work"] / f"qd{ext}").read_bytes()
