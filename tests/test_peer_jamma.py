"""JAMMA's runner: the conventions of ``lmmcompare.runners.jamma`` checked independently.

* Fast: its console (colour codes and all) parsed; pve → γ with the re-centred kinship's t_c is
  GEMMA's algebra backwards.
* With JAMMA installed (its venv, .ci/venvs; seconds): on a simulated dataset with covariates
  and missing calls, refit mode is ours refit to numerical precision; ``-loco`` is ours refit
  with GEMMA's centered kinship of the other chromosomes, chromosome by chromosome — the
  kinship its docstring says JAMMA builds — and only approximately ours ``--loco``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from peer_helpers import simulated_request

from exactlmm.cli import main as exactlmm_main
from exactlmm.io.results import read_assoc_tsv, read_null_json
from lmmcompare import registry
from lmmcompare.compare import minus_log10
from lmmcompare.runners import jamma
from lmmcompare.runs import Run, execute

needs_jamma = pytest.mark.skipif(not registry.get("jamma").installed(),
                                 reason=str(registry.get("jamma").unavailable()))

CONSOLE = """\
12:21:21 | \x1b[1mINFO    \x1b[0m | JAMMA v8.2.4 (dev)
12:21:21 | \x1b[1mINFO    \x1b[0m | ## number of total individuals = 1,940
12:21:21 | \x1b[1mINFO    \x1b[0m | ## number of analyzed individuals = 1,410
12:21:21 | \x1b[1mINFO    \x1b[0m | ## number of covariates = 1
11:21:23 | \x1b[1mINFO    \x1b[0m | Null model MLE: lambda=4.355032, logl_H0=-1584.453983
11:21:23 | \x1b[1mINFO    \x1b[0m | pve estimate in the null model = 0.609669
11:21:23 | \x1b[1mINFO    \x1b[0m | se(pve) in the null model = 0.0327788
"""


def test_console_numbers_are_read_through_the_colour_codes():
    log = jamma.parse_console(CONSOLE)
    assert log == {"n_analysed": 1410, "n_covariates": 1, "pve": 0.609669,
                   "se_pve": 0.0327788, "lambda_ml": 4.355032, "logl_ml": -1584.453983}
    loco = jamma.parse_console(CONSOLE.replace("Null model MLE", "Other"))
    assert "lambda_ml" not in loco  # -loco prints no ML line


def test_gamma_from_pve_on_the_recentred_kinship():
    """pve = λt_c/(1 + λt_c) (JAMMA's, GEMMA's) backwards: γ = λ, whatever t_c is; the record's
    pve is JAMMA's again on t_c, and its h² is γ/(1 + γ)."""
    for lam, t_c in ((4.343368, 0.3597), (0.1905, 0.9998)):
        pve = lam * t_c / (1 + lam * t_c)
        std = registry.get("jamma").to_standard({"pve": pve, "K_centered_mean_diag": t_c}, t_c)
        assert std["gamma"] == pytest.approx(lam, rel=1e-12)
        assert std["pve"] == pytest.approx(pve, rel=1e-12)
        assert std["h2"] == pytest.approx(lam / (1 + lam), rel=1e-12)
    # Loco: no t_c printed; the pve is taken on t = 1.
    std = registry.get("jamma").to_standard({"pve": 0.6}, 1.0)
    assert std["gamma"] == pytest.approx(1.5) and std["h2"] == pytest.approx(0.6)


# ----------------------------------------------------------------------- with JAMMA


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """N = 300, M = 900 on 3 chromosomes, 2 covariates, 2 % missing calls, sib pairs; our QC
    list, standardized kinship and scans (refit, loco)."""
    work = tmp_path_factory.mktemp("jamma")
    prefix = work / "sim"
    request = simulated_request(work, [
        "--n-samples", "300", "--n-snps", "900", "--n-chromosomes", "3", "--seed", "23", "--h2",
        "0.5", "--n-causal", "3", "--causal-h2", "0.1", "--sib-fraction", "0.3", "--missing-rate",
        "0.02", "--n-covariates", "2"])
    for mode in ("refit", "loco"):
        assert execute(Run("sim", "exactlmm", mode), request, work / f"ours.{mode}").ok
    return {"work": work, "prefix": prefix, "request": request}


def _run(simulated: dict, mode: str) -> tuple[dict, dict]:
    out = simulated["work"] / f"jamma.{mode}"
    if not Path(f"{out}.null.json").exists():
        outcome = execute(Run("sim", "jamma", mode), simulated["request"], out)
        assert outcome.ok, outcome.reason
    return read_assoc_tsv(f"{out}.assoc.tsv"), read_null_json(f"{out}.null.json")


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    assert ok.sum() > 800
    return float(np.max(np.abs(minus_log10(a[ok]) - minus_log10(b[ok]))))


@pytest.mark.slow
@needs_jamma
def test_refit_is_ours_to_numerical_precision(simulated):
    theirs, null = _run(simulated, "refit")
    ours = read_assoc_tsv(simulated["work"] / "ours.refit.assoc.tsv")
    ours_null = read_null_json(simulated["work"] / "ours.refit.null.json")
    assert np.array_equal(theirs["snp"], ours["snp"])
    for statistic in ("p_wald", "p_lrt", "p_score"):
        assert _max_diff(theirs[statistic], ours[statistic]) < 1e-4, statistic
    ok = np.isfinite(ours["beta"])
    np.testing.assert_allclose(theirs["beta"][ok], ours["beta"][ok], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(theirs["delta"][ok], ours["delta"][ok], rtol=1e-3)
    # pve has 6 digits and JAMMA's search stops near 1e-5 relative.
    assert null["gamma"] == pytest.approx(ours_null["gamma"], rel=1e-4)
    assert null["likelihood"] is None and null["native"]["pve"] == pytest.approx(
        null["pve"], abs=1e-6)
    command = null["provenance"]["parameters"]["command"]
    assert command[command.index("-k") + 1] == simulated["request"].kinship


@pytest.mark.slow
@needs_jamma
def test_loco_is_ours_refit_with_gemmas_centered_kinship_of_the_other_chromosomes(simulated):
    theirs, null = _run(simulated, "loco")
    work, prefix = simulated["work"], simulated["prefix"]
    listed = (work / "qc.snplist").read_text().split()
    bim = np.loadtxt(f"{prefix}.bim", dtype=str, ndmin=2)
    chrom = dict(zip(bim[:, 1], bim[:, 0], strict=True))
    for c in sorted({chrom[s] for s in listed}):
        off = work / f"off{c}.txt"
        on = work / f"on{c}.txt"
        off.write_text("".join(f"{s}\n" for s in listed if chrom[s] != c))
        on.write_text("".join(f"{s}\n" for s in listed if chrom[s] == c))
        assert exactlmm_main(["kinship", "--bfile", str(prefix), "--extract", str(off),
                              "--kind", "centered", "--out", str(work / f"kc{c}"),
                              "--no-progress"]) == 0
        assert exactlmm_main(["assoc", "--bfile", str(prefix), "--pheno", f"{prefix}.pheno",
                              "--covar", f"{prefix}.covar", "--extract", str(on),
                              "--kinship", str(work / f"kc{c}.kinship.txt"),
                              "--center-kinship", "--refit", "--no-progress",
                              "--out", str(work / f"centered{c}")]) == 0
        ours = read_assoc_tsv(work / f"centered{c}.assoc.tsv")
        rows = np.isin(theirs["snp"], ours["snp"])
        assert np.array_equal(theirs["snp"][rows], ours["snp"])
        for statistic in ("p_wald", "p_score"):
            ok = np.isfinite(ours[statistic])
            diff = np.abs(minus_log10(theirs[statistic][rows][ok]) - minus_log10(
                ours[statistic][ok]))
            assert diff.max() < 1e-4, (c, statistic)
        if c == chrom[listed[0]]:  # its printed pve is the first chromosome's fit
            fit = read_null_json(work / f"centered{c}.null.json")
            assert null["native"]["pve"] == pytest.approx(fit["pve"], abs=2e-5)
    # Against ours --loco (standardized K₋c, γ held): close, not equal.
    loco = read_assoc_tsv(work / "ours.loco.assoc.tsv")
    ok = np.isfinite(loco["p_wald"]) & np.isfinite(theirs["p_wald"])
    r = np.corrcoef(minus_log10(loco["p_wald"][ok]), minus_log10(theirs["p_wald"][ok]))[0, 1]
    assert 0.98 < r < 1.0 - 1e-9
    assert registry.get("jamma").exact_in("refit") and not registry.get("jamma").exact_in("loco")


@pytest.mark.slow
@needs_jamma
def test_outputs_do_not_depend_on_the_threads(simulated, tmp_path):
    request = replace(simulated["request"], threads=1)
    jamma.run(request, "refit", tmp_path / "one")
    _run(simulated, "refit")
    for ext in (".assoc.tsv", ".null.json"):
        assert (tmp_path / f"one{ext}").read_bytes() == (
            simulated["work"] / f"jamma.refit{ext}").read_bytes()
