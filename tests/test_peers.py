"""The runners on a small simulated dataset: files, agreement between tools, skipped runs.

One seeded dataset (200 samples, 300 SNPs, 2% missing calls, one constant SNP, one causal SNP
with +0.8 per copy of a1, polygenic background) is written once; each runner is run once
per mode it has on the first 150 SNPs (less two) and the tests compare the files.  Tools
that are not installed are skipped.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from bed_reader import to_bed

from exactlmm.errors import InputError
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.results import ASSOC_COLUMNS, read_assoc_tsv, read_null_json
from lmmcompare import registry
from lmmcompare.runners import RunRequest, ToolFailed, fastlmm, gemma, pylmm
from lmmcompare.runners.tool_output import read_output
from lmmcompare.runs import Run, execute

N, M = 200, 300
M_TESTED = 150  # SNPs rs0..rs149 are listed, except LEFT_OUT
CAUSAL = 40  # .bim position of the causal SNP
CONSTANT = 3  # .bim position of a SNP that is constant in every sample
LEFT_OUT = (10, 11)  # SNPs not in the kept list
BETA_CAUSAL = 0.8
NULL_KEYS = (
    "status", "tool", "version", "mode", "likelihood", "gamma", "delta", "h2", "pve",
    "kinship_mean_diag",
    "sigma_g2", "sigma_e2", "loglik", "beta", "covariates", "n_samples", "n_covariates",
    "native", "provenance",
)  # fmt: skip


def _write_dataset(directory: Path) -> dict:
    rng = np.random.default_rng(20240611)
    freq = rng.uniform(0.1, 0.9, size=M)
    G = rng.binomial(2, freq, size=(N, M)).astype(np.float64)
    G[:, CONSTANT] = 2.0
    G[rng.random((N, M)) < 0.02] = np.nan
    chrom = np.repeat(["1", "2", "3"], M // 3)
    pos = np.tile(np.arange(1, M // 3 + 1) * 1000, 3)
    to_bed(
        directory / "data.bed",
        G,
        properties={
            "fid": [f"f{i}" for i in range(N)],
            "iid": [f"i{i}" for i in range(N)],
            "sid": [f"rs{j}" for j in range(M)],
            "chromosome": chrom,
            "bp_position": pos,
            "allele_1": ["A"] * M,
            "allele_2": ["G"] * M,
        },
        count_A1=True,
    )
    # Kinship: standardised dosages (mean-imputed), K = ZZᵀ/M over all samples.
    mean = np.nanmean(G, axis=0)
    Z = np.where(np.isnan(G), mean, G) - mean
    sd = Z.std(axis=0)
    Z = Z[:, sd > 0] / sd[sd > 0]
    K = Z @ Z.T / Z.shape[1]
    np.savetxt(directory / "kinship.txt", K, delimiter="\t")
    # Phenotype: causal SNP + polygenic background (h² ≈ 0.5) + noise; a covariate.
    g_poly = Z @ rng.normal(0, 0.8, Z.shape[1]) / math.sqrt(Z.shape[1])
    covariate = rng.normal(size=N)
    x = np.where(np.isnan(G[:, CAUSAL]), mean[CAUSAL], G[:, CAUSAL])
    y = 1.0 + BETA_CAUSAL * x + 0.5 * covariate + g_poly + rng.normal(0, 1, N)
    y_text = [repr(round(float(v), 8)) for v in y]
    for i in (2, 17, 50, 51, 99):
        y_text[i] = "NA"
    y_text[60] = "-9"
    c_text = [repr(round(float(v), 8)) for v in covariate]
    c_text[7] = "NA"
    with open(directory / "pheno.txt", "w") as handle:
        handle.write("FID IID trait other\n")
        for i in range(N):
            handle.write(f"f{i} i{i} {y_text[i]} 0.5\n")
    with open(directory / "covar.txt", "w") as handle:
        for i in range(N):
            handle.write(f"f{i} i{i} {c_text[i]}\n")
    kept = [f"rs{j}" for j in range(M_TESTED) if j not in LEFT_OUT]
    (directory / "snps.txt").write_text("\n".join(kept) + "\n")
    return {
        "bfile": str(directory / "data"),
        "pheno": str(directory / "pheno.txt"),
        "mpheno": 1,
        "covar": str(directory / "covar.txt"),
        "kinship": str(directory / "kinship.txt"),
        "extract": str(directory / "snps.txt"),
        "n_analysed": N - 7,
        "dosage": G,
        "kept": kept,
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _write_dataset(tmp_path_factory.mktemp("peers_data"))


def _available(tool: str) -> bool:
    return registry.get(tool).installed()


OWN_RUN_ONLY = ("quickdraws",)
"""Peers run only by their own test module: Quickdraws takes minutes a run on the CPU
(tests/test_peer_quickdraws.py runs it once)."""
RUNS = {
    (tool, mode): registry.get(tool).load_runner().run
    for tool in registry.peers() if tool not in OWN_RUN_ONLY
    for mode in registry.get(tool).modes
}
"""Every peer run of the registry (tests of one tool live in tests/test_peer_<tool>.py)."""
NO_LIKELIHOOD = ("bolt", "plink2", "jamma", "quickdraws", "regenie_sgkit")
"""Peers that print no REML log-likelihood (BOLT's Monte-Carlo REML, JAMMA's pve only) or fit
none."""
NO_DELTA = ("quickdraws", "regenie_sgkit")
"""Peers whose test uses no variance ratio (whole-genome regression residuals): δ is NA."""
REQUEST_KEYS = ("bfile", "pheno", "mpheno", "covar", "kinship", "extract")


def _request(dataset: dict, **changes) -> RunRequest:
    return RunRequest(**{**{k: dataset[k] for k in REQUEST_KEYS}, **changes})


@pytest.fixture(scope="module")
def results(dataset: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run every installed peer once per mode; {(tool, mode): (assoc columns, null record)}."""
    out_dir = tmp_path_factory.mktemp("peers_out")
    request = _request(dataset)
    found = {}
    for (tool, mode), run in RUNS.items():
        if not _available(tool):
            continue
        out = out_dir / f"{tool}_{mode}"
        raw = str(out_dir / "gemma_raw") if tool == "gemma" else None
        run(replace(request, keep_raw=raw), mode, out)
        found[(tool, mode)] = (
            read_assoc_tsv(f"{out}.assoc.tsv"),
            read_null_json(f"{out}.null.json"),
            out,
        )
    found["raw"] = out_dir / "gemma_raw"
    return found


def _get(results: dict, tool: str, mode: str):
    if (tool, mode) not in results:
        pytest.skip(f"{tool} is not installed")
    return results[(tool, mode)]


def _neglog10(p: np.ndarray) -> np.ndarray:
    return -np.log10(p)


@pytest.mark.slow
@pytest.mark.parametrize(("tool", "mode"), list(RUNS))
def test_result_files_follow_the_design(results, dataset, tool, mode):
    assoc, null, out = _get(results, tool, mode)
    header = Path(f"{out}.assoc.tsv").read_text().splitlines()[0].split("\t")
    assert tuple(header) == ASSOC_COLUMNS
    assert assoc["snp"].tolist() == dataset["kept"]
    assert list(null)[: len(NULL_KEYS)] == list(NULL_KEYS)
    assert null["tool"] == tool
    # A tool that prints a log-likelihood prints the REML one; the others none.
    assert null["likelihood"] == (None if tool in NO_LIKELIHOOD else "REML")
    assert (null["loglik"] is None) == (null["likelihood"] is None)
    assert null["n_samples"] == dataset["n_analysed"]
    assert null["n_covariates"] == 2 and null["covariates"] == ["intercept", "covar1"]
    assert null["provenance"]["parameters"]["mode"] == mode

    # n and af are the called count and a1 frequency over the analysed samples.
    G = dataset["dosage"]
    keep = np.ones(N, dtype=bool)
    keep[[2, 17, 50, 51, 99, 60, 7]] = False
    kept_idx = [int(s[2:]) for s in dataset["kept"]]
    g = G[keep][:, kept_idx]
    assert np.array_equal(assoc["n"], (~np.isnan(g)).sum(axis=0))
    assert np.allclose(assoc["af"], np.nanmean(g, axis=0) / 2, rtol=1e-9)

    # The constant SNP has no statistics, and says why; every other SNP has a Wald p-value and δ
    # (no δ without a kinship: checked below).
    const = dataset["kept"].index(f"rs{CONSTANT}")
    assert assoc["errcode"][const] == "MONOMORPHIC"
    assert set(np.delete(assoc["errcode"], const)) == {"."}
    for name in ("beta", "se", "p_wald",
                 *(("delta",) if mode != "none" and tool not in NO_DELTA else ())):
        assert np.isnan(assoc[name][const])
        others = np.delete(assoc[name], const)
        assert np.all(np.isfinite(others)), name
    p = np.delete(assoc["p_wald"], const)
    assert np.all((p > 0) & (p <= 1))
    # Only the tools whose registry entry says so have LRT and score tests (and an ML δ).
    statistics = registry.get(tool).statistics
    for name in ("p_lrt", "p_score"):
        assert np.all(np.isnan(assoc[name])) == (name not in statistics), name
    assert np.all(np.isnan(assoc["delta_ml"])) == ("p_lrt" not in statistics)
    # Held δ in fixed mode, per-SNP δ in refit mode (and in JAMMA's -loco, which refits), one
    # per chromosome in loco mode, none without a kinship or variance ratio.
    finite_delta = np.delete(assoc["delta"], const)
    if mode == "fixed":
        assert np.allclose(finite_delta, null["delta"], rtol=1e-9)
    elif mode == "refit" or (tool, mode) == ("jamma", "loco"):
        assert np.ptp(finite_delta) > 0
    elif mode == "loco" and tool not in NO_DELTA:
        chrom = np.delete(assoc["chrom"], const)
        for c in np.unique(chrom):
            assert np.ptp(finite_delta[chrom == c]) == 0
    if mode == "none" or tool in NO_DELTA:
        assert np.all(np.isnan(finite_delta))


@pytest.mark.slow
def test_causal_snp_found_with_positive_per_a1_effect(results, dataset):
    row = dataset["kept"].index(f"rs{CAUSAL}")
    for (tool, mode), (assoc, _, _) in ((k, v) for k, v in results.items() if k != "raw"):
        assert assoc["p_wald"][row] < 1e-4, (tool, mode)
        assert assoc["beta"][row] == pytest.approx(BETA_CAUSAL, abs=4 * assoc["se"][row])
        assert np.nanargmin(assoc["p_wald"]) == row, (tool, mode)


@pytest.mark.slow
def test_fixed_pylmm_and_fastlmm_agree(results):
    py, py_null, _ = _get(results, "pylmm", "fixed")
    fa, fa_null, _ = _get(results, "fastlmm", "fixed")
    ok = np.isfinite(py["p_wald"])
    assert np.array_equal(ok, np.isfinite(fa["p_wald"]))
    # 1e-5 relative on −log10 p (plus 1e-8 absolute for p ≈ 1, where −log10 p ≈ 0).
    assert np.allclose(
        _neglog10(fa["p_wald"][ok]), _neglog10(py["p_wald"][ok]), rtol=1e-5, atol=1e-8
    )
    assert np.allclose(fa["beta"][ok], py["beta"][ok], rtol=1e-5, atol=1e-9)
    assert np.allclose(fa["se"][ok], py["se"][ok], rtol=1e-5)
    # Same exact REML at the optimum once PyLMM's constant is removed.
    assert fa_null["loglik"] == pytest.approx(py_null["loglik"], abs=1e-6)
    assert fa_null["sigma_e2"] == pytest.approx(py_null["sigma_e2"], rel=1e-5)


@pytest.mark.slow
def test_gamma_agrees_across_tools(results):
    """The exact tools on the shared kinship (fixed and refit modes) find the same REML fit."""
    shared_kinship = [
        key for key in results
        if key != "raw" and registry.get(key[0]).exact and key[1] in ("fixed", "refit")
    ]
    gammas = {k: results[k][1]["gamma"] for k in shared_kinship}
    if len(gammas) < 2:
        pytest.skip("fewer than two peers installed")
    reference = next(iter(gammas.values()))
    assert 0.05 < reference < 20  # an interior fit, not a boundary
    for key, gamma in gammas.items():
        assert gamma == pytest.approx(reference, rel=1e-3), key
    loglik = {k: results[k][1]["loglik"] for k in shared_kinship
              if results[k][1]["loglik"] is not None}
    for key, value in loglik.items():  # GEMMA prints 6 significant digits
        assert value == pytest.approx(next(iter(loglik.values())), abs=0.01), key


@pytest.mark.slow
def test_refit_pylmm_and_gemma_agree(results):
    py, _, _ = _get(results, "pylmm", "refit")
    ge, _, _ = _get(results, "gemma", "refit")
    ok = np.isfinite(ge["p_wald"])
    assert np.array_equal(ok, np.isfinite(py["p_wald"]))
    # GEMMA prints p, β and λ with 7 significant digits; PyLMM's Brent stops at ~1e-8 in h.
    assert np.allclose(
        _neglog10(py["p_wald"][ok]), _neglog10(ge["p_wald"][ok]), rtol=1e-4, atol=1e-6
    )
    assert np.allclose(py["beta"][ok], ge["beta"][ok], rtol=1e-4, atol=1e-6)
    assert np.allclose(py["delta"][ok], ge["delta"][ok], rtol=1e-3)


@pytest.mark.slow
def test_gemma_parsing_recovers_what_gemma_wrote(results):
    assoc, null, _ = _get(results, "gemma", "refit")
    raw = results["raw"]
    table = read_output(raw / "result.assoc.txt", gemma.FORMAT, "GEMMA")
    log = gemma.parse_log(raw / "result.log.txt")
    rows = [assoc["snp"].tolist().index(rs) for rs in table.snp]
    assert len(rows) == len(assoc["snp"]) - 1  # GEMMA skips the constant SNP
    for name, theirs in (("beta", table.beta), ("se", table.se),
                         *((p, table.pvalues[p]) for p in ("p_wald", "p_lrt", "p_score"))):
        assert np.allclose(assoc[name][rows], theirs, rtol=1e-9), name
    assert np.allclose(assoc["delta"][rows], 1 / table.extra["l_remle"], rtol=1e-9)
    assert np.allclose(assoc["delta_ml"][rows], 1 / table.extra["l_mle"], rtol=1e-9)
    assert np.array_equal(assoc["a1"][rows], table.effect_allele)
    # The raw log, read independently of parse_log.
    text = (raw / "result.log.txt").read_text()
    assert f"## REMLE log-likelihood in the null model = {null['native']['logl_remle']:g}" in text
    assert f"## pve estimate in the null model = {null['native']['pve']:g}" in text
    assert null["loglik"] == log["logl_remle"]
    assert null["gamma"] == pytest.approx(log["vg"] / log["ve"], rel=1e-12)
    assert null["beta"] == log["beta"] and len(log["beta"]) == 2
    # GEMMA's own pve uses its re-centred kinship: t_c = tr(PKP)/n.
    t_c = null["native"]["K_centered_mean_diag"]
    gt = null["gamma"] * t_c
    assert gt / (1 + gt) == pytest.approx(log["pve"], abs=2e-6)


def test_modes_a_tool_lacks_are_skipped_with_the_reason(dataset, tmp_path):
    """The registry decides: the runner is never called, the run is recorded as skipped."""
    for tool, mode in (("fastlmm", "refit"), ("gemma", "fixed")):
        outcome = execute(Run("toy", tool, mode), _request(dataset), tmp_path / tool)
        assert not outcome.ok
        assert outcome.reason == registry.get(tool).why_not(mode)
        assert f"has no '{mode}' mode" in outcome.reason
        header = (tmp_path / f"{tool}.assoc.tsv").read_text()
        assert header == "\t".join(ASSOC_COLUMNS) + "\n"


def test_missing_tools_are_skipped_with_the_reason(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no gemma here
    monkeypatch.setitem(sys.modules, "pylmm3.lmm", None)  # import now fails
    monkeypatch.setitem(sys.modules, "fastlmm.association", None)
    for tool, mode, hint in (("gemma", "refit", "apt-get install gemma"),
                             ("pylmm", "fixed", "pip install pylmm3"),
                             ("fastlmm", "fixed", "pip install fastlmm")):
        outcome = execute(Run("toy", tool, mode), _request(dataset), tmp_path / tool)
        assert not outcome.ok and "not installed" in outcome.reason and hint in outcome.reason
        assert "\n" not in outcome.reason


def test_unknown_snp_in_list_is_an_input_error(dataset, tmp_path):
    pytest.importorskip("pylmm3.lmm")
    bad = tmp_path / "snps.txt"
    bad.write_text("rs1\nrs_nope\n")
    with pytest.raises(InputError) as info:
        pylmm.run(_request(dataset, extract=str(bad)), "fixed", tmp_path / "p")
    assert "\n" not in str(info.value) and "rs_nope" in str(info.value)
    assert str(info.value).startswith(str(bad))
    assert not list(tmp_path.glob("p.*"))


def test_our_runner_is_the_command(dataset, tmp_path):
    """The exactlmm runner writes what `exactlmm assoc` writes; a failing command is a
    ToolFailed, not a skip."""
    from exactlmm.cli import main
    from lmmcompare.runners import exactlmm as ours

    small = tmp_path / "snps.txt"
    small.write_text("rs40\nrs41\nrs42\n")
    request = _request(dataset, extract=str(small))
    outcome = execute(Run("toy", "exactlmm", "refit"), request, tmp_path / "runner")
    assert outcome.ok and outcome.null["mode"] == "refit"
    assert main([*ours.command_line(request, "refit", tmp_path / "cli")]) == 0
    for ext in (".assoc.tsv", ".null.json"):
        runner = (tmp_path / f"runner{ext}").read_text()
        cli = (tmp_path / f"cli{ext}").read_text().replace(str(tmp_path / "cli"), "X")
        assert runner.replace(str(tmp_path / "runner"), "X") == cli
    with pytest.raises(ToolFailed, match="exited with status 2"):
        ours.run(_request(dataset, kinship=str(tmp_path / "nope.txt")), "fixed", tmp_path / "x")


def test_outputs_are_byte_reproducible(dataset, tmp_path):
    pytest.importorskip("pylmm3.lmm")
    small = tmp_path / "snps.txt"
    small.write_text("rs40\nrs41\nrs42\n")
    for name in ("a", "b"):
        pylmm.run(_request(dataset, extract=str(small)), "fixed", tmp_path / name)
    for ext in (".assoc.tsv", ".null.json"):
        assert (tmp_path / f"a{ext}").read_bytes() == (tmp_path / f"b{ext}").read_bytes()
    record = json.loads((tmp_path / "a.null.json").read_text())
    assert record["native"]["h"] == pytest.approx(record["h2"], rel=1e-12)


def test_pylmm_refit_failure_on_a_snp_gives_na(dataset, tmp_path, monkeypatch, capsys):
    """PyLMM's unbounded Brent step can raise (scipy BracketError) on a SNP: that SNP is NA,
    the run completes, and the null record counts the failures."""
    lmm_module = pytest.importorskip("pylmm3.lmm")
    original = lmm_module.LMM.fit
    calls = {"n": 0}

    def flaky_fit(self, *args, **kwargs):
        if kwargs.get("X") is not None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("The algorithm terminated without finding a valid bracket.")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(lmm_module.LMM, "fit", flaky_fit)
    small = tmp_path / "snps.txt"
    small.write_text("rs40\nrs41\nrs42\n")
    pylmm.run(_request(dataset, extract=str(small)), "refit", tmp_path / "p")
    table = read_assoc_tsv(tmp_path / "p.assoc.tsv")
    assert np.isnan(table["p_wald"][1]) and np.all(np.isfinite(table["p_wald"][[0, 2]]))
    assert table["errcode"].tolist() == [".", "TOOL_FAILED", "."]
    record = read_null_json(tmp_path / "p.null.json")
    assert record["native"]["failures"] == 1
    assert record["native"]["failed_snps"] == ["rs41"]
    assert "PyLMM failed for 1 SNP(s) (first: rs41)" in capsys.readouterr().err


def test_fastlmm_h2_conversion_holds_on_a_kinship_not_of_mean_diagonal_one(dataset, tmp_path):
    """FaST-LMM fits h2 on K·n/tr(K): with K scaled by 3 (t ≈ 3) its γ on K as given must be a
    third of the γ on the original K, and equal PyLMM's, which uses K as given.  On the
    fixture's K (t ≈ 1) a wrong scaling convention would go unnoticed."""
    pytest.importorskip("fastlmm.association")
    pytest.importorskip("pylmm3.lmm")
    k = read_kinship(dataset["kinship"])
    scaled = tmp_path / "k3.txt"
    np.savetxt(scaled, 3.0 * k)
    gammas = {}
    for name, run, kinship in (("fast1", fastlmm.run, dataset["kinship"]),
                               ("fast3", fastlmm.run, scaled),
                               ("pylmm3", pylmm.run, scaled)):
        run(_request(dataset, kinship=str(kinship)), "fixed", tmp_path / name)
        gammas[name] = read_null_json(tmp_path / f"{name}.null.json")["gamma"]
    assert gammas["fast3"] == pytest.approx(gammas["fast1"] / 3.0, rel=1e-4)
    assert gammas["fast3"] == pytest.approx(gammas["pylmm3"], rel=1e-3)


def test_a_snp_in_the_covariate_span_is_collinear_for_every_tool(dataset, tmp_path):
    """A covariate equal to a SNP's dosage leaves that SNP nothing to test: every tool gives it
    NA with errcode COLLINEAR (ours' rule), none a p-value, and the run goes on."""
    j = 41
    analysed = np.ones(N, dtype=bool)
    analysed[[2, 17, 50, 51, 99, 60]] = False  # phenotype NA or -9 (the covariates are complete)
    g = dataset["dosage"][:, j]
    x = np.where(np.isnan(g), np.nanmean(g[analysed]), g)  # imputed as every tool imputes it
    covar = tmp_path / "covar.txt"
    covar.write_text("".join(f"f{i} i{i} {x[i]!r}\n" for i in range(N)))
    small = tmp_path / "snps.txt"
    small.write_text(f"rs{j - 1}\nrs{j}\nrs{j + 1}\n")
    request = _request(dataset, covar=str(covar), extract=str(small))
    for tool in registry.TOOLS:
        # loco needs SNPs on two chromosomes to build its kinships from: not these three.
        for mode in set(registry.get(tool).modes) - {"loco"}:
            if tool != "exactlmm" and not _available(tool):
                continue
            outcome = execute(Run("toy", tool, mode), request, tmp_path / f"{tool}.{mode}")
            assert outcome.ok, (tool, mode)
            table = read_assoc_tsv(tmp_path / f"{tool}.{mode}.assoc.tsv")
            assert table["errcode"].tolist() == [".", "COLLINEAR", "."], (tool, mode)
            assert np.isnan(table["p_wald"][1]) and np.isnan(table["beta"][1]), (tool, mode)
            assert np.all(np.isfinite(table["p_wald"][[0, 2]])), (tool, mode)


def test_reported_rows_match_ids_among_the_snps_given():
    """The one matcher of a tool's output rows to ours (every subprocess runner uses it)."""
    from lmmcompare.runners.tool_output import reported_rows

    ids = np.array(["rs5", "rs1", "rs9", "rs3"])
    given = np.array([0, 2, 3])
    assert reported_rows(ids, given, np.array(["rs3", "rs5"]), "T").tolist() == [3, 0]
    assert reported_rows(ids, given, np.array([], dtype=str), "T").tolist() == []
    with pytest.raises(ToolFailed, match="T reported SNPs that are not in the list"):
        reported_rows(ids, given, np.array(["rs1"]), "T")  # in our table, not given
    with pytest.raises(ToolFailed, match="T reported a SNP twice"):
        reported_rows(ids, given, np.array(["rs9", "rs9"]), "T")
