"""sgkit's REGENIE runner: the conventions of ``lmmcompare.runners.regenie_sgkit`` checked
independently.

* Fast: the trait units (the scale of β) and the skip of a one-chromosome dataset.
* With its venv (.ci/venvs; tens of seconds): on a simulated dataset with covariates and missing
  calls, step 2 recomputed here with numpy from sgkit's own LOCO predictions (allele, sample
  order, trait scale, t test: docs/PEERS-VERIFIED.md); agreement with ours ``--loco``; the same
  bytes from a dask scheduler and worker started as separate processes (the path a real
  cluster takes) as from the in-process LocalCluster.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from peer_helpers import simulated_request
from scipy import stats

from exactlmm.dosage import impute_center
from exactlmm.io.plink import read_genotypes
from exactlmm.io.results import read_assoc_tsv, read_null_json
from lmmcompare import formats, params, registry
from lmmcompare.compare import minus_log10, pearson
from lmmcompare.runners import RunRequest, SkipRun, regenie_sgkit
from lmmcompare.runners._common import load
from lmmcompare.runs import Run, execute

TOOL = registry.get("regenie_sgkit")
needs_sgkit = pytest.mark.skipif(not TOOL.installed(), reason=str(TOOL.unavailable()))


def test_trait_units_are_the_scales_the_tools_fit():
    rng = np.random.default_rng(3)
    n = 50
    x = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = x @ [1.0, 0.5, -0.2] + rng.normal(size=n)
    assert params.trait_unit("phenotype", y, x) == 1.0
    assert params.trait_unit("standardized", y, x) == pytest.approx(np.std(y, ddof=1))
    fitted = x @ np.linalg.lstsq(x, y, rcond=None)[0]
    s = np.sqrt(np.sum((y - fitted) ** 2) / (n - 3))
    assert params.trait_unit("residual", y, x) == pytest.approx(s, rel=1e-12)
    with pytest.raises(ValueError, match="trait unit"):
        params.trait_unit("logit", y, x)
    assert formats.PRESETS["regenie_sgkit"].effect_unit == "residual"
    assert formats.PRESETS["quickdraws"].effect_unit == "standardized"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """N = 400, M = 1,200 on 3 chromosomes, 2 covariates, 2 % missing calls, three causal SNPs;
    our QC list, kinship (unused by sgkit) and loco scan."""
    work = tmp_path_factory.mktemp("regenie")
    prefix = work / "sim"
    request = simulated_request(work, [
        "--n-samples", "400", "--n-snps", "1200", "--n-chromosomes", "3", "--seed", "31", "--h2",
        "0.5", "--n-causal", "3", "--causal-h2", "0.15", "--missing-rate", "0.02",
        "--n-covariates", "2"], keep_raw=True)
    assert execute(Run("sim", "exactlmm", "loco"), request, work / "ours").ok
    return {"work": work, "prefix": prefix, "request": request}


def _run(simulated: dict) -> tuple[dict, dict]:
    out = simulated["work"] / "regenie"
    if not Path(f"{out}.null.json").exists():
        outcome = execute(Run("sim", "regenie_sgkit", "loco"), simulated["request"], out)
        assert outcome.ok, outcome.reason
    return read_assoc_tsv(f"{out}.assoc.tsv"), read_null_json(f"{out}.null.json")


@pytest.mark.slow
@needs_sgkit
def test_step_2_recomputed_from_sgkits_loco_predictions(simulated):
    """β, se and p at a few SNPs from sgkit's LOCO predictions by the formulas of
    ``regenie_loco_regression`` (association.py 40–110, 384–404): y* = P_X y/s, x the a1
    dosage (missing at the mean) with X projected out, β = xᵀ(y* − ŷ_c)/xᵀx, RSS of
    y* − ŷ_c − xβ, t = β/√(RSS/(n − c − 1)/xᵀx); β on y is β·s."""
    assoc, null = _run(simulated)
    inputs = load(simulated["request"], with_kinship=False)
    loco = np.load(Path(simulated["request"].keep_raw) / "loco_prediction.npy")
    tested = np.flatnonzero(assoc["errcode"] == ".")
    chromosomes = list(dict.fromkeys(assoc["chrom"][tested].tolist()))
    assert loco.shape == (len(chromosomes), inputs.n_samples)
    strongest = tested[np.argsort(assoc["p_wald"][tested])[:3]]
    picks = np.unique(np.concatenate([tested[:3], strongest]))
    g = read_genotypes(inputs.dataset, inputs.samples.fam_index, inputs.snp_index[picks])
    imputed = impute_center(g)
    x_cov = inputs.covariates
    q, _ = np.linalg.qr(x_cov)
    n, c = x_cov.shape
    r = inputs.y - q @ (q.T @ inputs.y)
    s = np.sqrt(r @ r / (n - c))
    assert null["native"]["trait_scale_s"] == pytest.approx(s, rel=1e-12)
    for k, row in enumerate(picks):
        x = imputed.centered[:, k] - q @ (q.T @ imputed.centered[:, k])
        e = r / s - loco[chromosomes.index(assoc["chrom"][row])]
        beta = x @ e / (x @ x)
        rss = np.sum((e - x * beta) ** 2)
        t = beta / np.sqrt(rss / (n - c - 1) / (x @ x))
        assert assoc["beta"][row] == pytest.approx(beta * s, rel=1e-8)
        assert assoc["se"][row] == pytest.approx(abs(beta / t) * s, rel=1e-8)
        assert assoc["p_wald"][row] == pytest.approx(2 * stats.t.sf(abs(t), n - c - 1),
                                                     rel=1e-6)
    assert null["gamma"] is None and null["h2"] is None and null["likelihood"] is None
    assert np.all(np.isnan(assoc["delta"]))


@pytest.mark.slow
@needs_sgkit
def test_agrees_with_our_loco_and_finds_the_causal_snps(simulated):
    assoc, _ = _run(simulated)
    ours = read_assoc_tsv(simulated["work"] / "ours.assoc.tsv")
    assert np.array_equal(assoc["snp"], ours["snp"])
    ok = np.isfinite(assoc["p_wald"]) & np.isfinite(ours["p_wald"])
    assert ok.sum() > 1100
    # N = 400 unrelated: the ridge predictions and our LOCO fit remove similar backgrounds.
    assert pearson(minus_log10(assoc["p_wald"][ok]), minus_log10(ours["p_wald"][ok])) > 0.95
    assert pearson(assoc["beta"][ok], ours["beta"][ok]) > 0.95
    truth = json.loads(Path(f"{simulated['prefix']}.truth.json").read_text())
    found = np.isin(assoc["snp"], truth["causal_snps"]) & (ours["p_wald"] < 1e-5)
    assert found.sum() >= 2  # the causal SNPs ours finds, sgkit finds, same direction
    assert np.all(assoc["p_wald"][found] < 1e-5)
    assert np.all(np.sign(assoc["beta"][found]) == np.sign(ours["beta"][found]))


@pytest.mark.slow
@needs_sgkit
def test_a_dask_scheduler_elsewhere_gives_the_same_bytes(simulated, tmp_path, monkeypatch):
    """The graph run by a scheduler and a worker in processes of their own (what a cluster
    runs: LMM_COMPARE_DASK_SCHEDULER) gives the bytes of the in-process LocalCluster."""
    _run(simulated)
    bin_dir = Path(registry.venv_directory("regenie_sgkit")) / "bin"
    address_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(address_file)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(120):
            if address_file.exists() and address_file.stat().st_size:
                break
            time.sleep(0.5)
        address = json.loads(address_file.read_text())["address"]
        worker = subprocess.Popen([str(bin_dir / "dask"), "worker", "--scheduler-file",
                                   str(address_file), "--nthreads", "2", "--no-dashboard",
                                   "--local-directory", str(tmp_path)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                                       "PATH": "/usr/bin:/bin"})
        monkeypatch.setenv(regenie_sgkit.SCHEDULER_VARIABLE, address)
        assert execute(Run("sim", "regenie_sgkit", "loco"), simulated["request"],
                       tmp_path / "remote").ok
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)
    for ext in (".assoc.tsv", ".null.json"):
        assert (tmp_path / f"remote{ext}").read_bytes() == (
            simulated["work"] / f"regenie{ext}").read_bytes()


def test_one_chromosome_is_a_skip(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=40, m=30, seed=4, chroms=1)
    (tmp_path / "snps.txt").write_text("".join(f"rs{j}\n" for j in range(30)))
    request = RunRequest(bfile=str(prefix), pheno=None, mpheno=1, covar=None,
                         kinship=str(tmp_path / "none"), extract=str(tmp_path / "snps.txt"))
    with pytest.raises(SkipRun, match="two chromosomes or more"):
        regenie_sgkit.run(request, "loco", tmp_path / "out")
