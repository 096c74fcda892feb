"""End-to-end tests of the Snakemake workflow (slow: they run Snakemake and the peer tools).

The CI configuration (config/ci.yaml) runs once, in a temporary working directory, with the
repository's Snakefile; the tests then check its tables against the acceptance bounds, that a
too-strict tolerance fails the run with one line per violation, and that the report builds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lmmcompare import registry, study
from lmmcompare.liability import liability_to_observed

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CI_CONFIG = REPO / "config" / "ci.yaml"
DEFAULT_CONFIG = REPO / "config.yaml"
STUDY_CI_CONFIG = REPO / "config" / "study-ci.yaml"


def snakemake(workdir: Path, *args: str, timeout: int = 3600) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's Snakefile in ``workdir``."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(workdir), *args],
        capture_output=True, text=True, timeout=timeout,
    )


def with_config(workdir: Path, config: Path | dict, *args: str) -> subprocess.CompletedProcess:
    """Run Snakemake with ``config`` (a file or a dict) replacing the workflow's config."""
    if isinstance(config, dict):
        path = workdir / "test-config.yaml"
        path.write_text(yaml.safe_dump(config))
        config = path
    return snakemake(workdir, *args, "--configfile", str(config), "--replace-workflow-config")


def complete_run(tmp_path_factory: pytest.TempPathFactory, config: Path) -> Path:
    """Working directory of one complete run of ``config`` (it must succeed)."""
    workdir = tmp_path_factory.mktemp(config.stem)
    done = with_config(workdir, config, "--cores", "2")
    assert done.returncode == 0, done.stderr[-5000:]
    return workdir


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Working directory of one complete run of the CI configuration."""
    return complete_run(tmp_path_factory, CI_CONFIG)


def concordance_rows(workdir: Path, **selectors: str) -> pd.DataFrame:
    table = pd.read_csv(workdir / "results/compare/all.concordance.tsv", sep="\t")
    for key, value in selectors.items():
        table = table[table[key] == value]
    assert not table.empty, f"no concordance rows for {selectors}"
    return table


CI_IN_CHUNKS = {**yaml.safe_load(CI_CONFIG.read_text()), "scan_chunks": 3}


@pytest.mark.parametrize(
    "config", [DEFAULT_CONFIG, CI_CONFIG, STUDY_CI_CONFIG, REPO / "config" / "study.yaml",
               REPO / "config" / "scaling.yaml", CI_IN_CHUNKS],
    ids=["default", "ci", "study-ci", "study", "scaling", "ci-in-chunks"],
)
def test_dry_run_and_lint_are_clean(config: Path | dict, tmp_path: Path) -> None:
    dry = with_config(tmp_path, config, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    lint = with_config(tmp_path, config, "--lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Congratulations, your workflow is in a good condition" in lint.stdout + lint.stderr
    assert not (tmp_path / "results").exists()
    if isinstance(config, dict):  # scan_chunks 3: our scans are fit, chunk and gather jobs
        for rule in ("exactlmm_fit", "exactlmm_chunk", "exactlmm_gather"):
            assert f"rule {rule}:" in dry.stdout, rule


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"kinship": "centered"}, "config error at datasets/bad: give exactly one of 'simulate'"),
        ({"simulate": {"n_samples": 50, "n_snps": 100, "h2": 1.5}},
         "config error at datasets/bad/simulate/h2: 1.5 is greater than or equal to the maximum"),
        ({"simulate": {"n_samples": 50, "n_snps": 100}, "skip": ["plink"]},
         "config error at datasets/bad/skip/0"),
    ],
    ids=["neither-simulate-nor-plink", "h2-out-of-range", "unknown-tool-in-skip"],
)
def test_bad_config_gives_one_line_error(dataset: dict, message: str, tmp_path: Path) -> None:
    done = with_config(tmp_path, {"datasets": {"bad": dataset}}, "-n")
    assert done.returncode != 0
    assert message in done.stdout + done.stderr


def test_hs1940_matches_gemma_null_fit(ci_run: Path) -> None:
    """(a) Our REML logL equals GEMMA's within 0.01, our γ its λ within 1e-3 relative."""
    rows = concordance_rows(ci_run, dataset="hs1940", mode="refit", tool_a="exactlmm",
                            tool_b="gemma")
    assert (rows["likelihood_a"] == "REML").all() and (rows["likelihood_b"] == "REML").all()
    assert rows["abs_diff_loglik"].max() <= 0.01
    assert rows["rel_diff_gamma"].max() <= 1e-3
    assert rows["gamma_a"].iloc[0] == pytest.approx(4.343368, rel=1e-5)


def test_hs1940_refit_matches_gemma_tests(ci_run: Path) -> None:
    """(b) Ours refit vs GEMMA -lmm 4: max |Δ −log10 p| ≤ 0.01 for Wald, LRT and score."""
    rows = concordance_rows(ci_run, dataset="hs1940", mode="refit", tool_a="exactlmm",
                            tool_b="gemma")
    assert sorted(rows["statistic"]) == ["p_lrt", "p_score", "p_wald"]
    assert (rows["n_compared"] == 10768).all()
    assert rows["max_abs_diff_log10p"].max() <= 0.01


@pytest.mark.parametrize(
    ("peer", "bound"), [("fastlmm", 1e-3), ("pylmm", 1e-3), ("glimix", 1e-5), ("emmax", 2e-3)]
)
def test_fixed_mode_matches_fixed_peers(ci_run: Path, peer: str, bound: float) -> None:
    """(c) Ours fixed vs the exact fixed-mode peers: Wald p within their precision in −log10 p
    (EMMAX's REML search stops at 1e-4 in log δ), on every dataset, every SNP compared."""
    rows = concordance_rows(ci_run, mode="fixed", tool_a="exactlmm", tool_b=peer,
                            statistic="p_wald")
    assert sorted(rows["dataset"]) == ["eur_subset", "hs1940", "tiny", "tiny_cov"]
    assert (rows["comparison"] == "exact").all()
    assert rows["max_abs_diff_log10p"].max() <= bound
    assert (rows["n_one_sided"] == 0).all()


def test_eur_subset_staged_from_the_archive_with_a_categorical_covariate(ci_run: Path) -> None:
    """EUR_subset comes out of bolt-lmm-example's tarball; CAT_COV is one indicator (B, the more
    frequent level, is the reference) and every tool analysed the same 366 people."""
    covar = (ci_run / "results/data/eur_subset/genotypes.covar").read_text().splitlines()
    assert covar[0].split() == ["FID", "IID", "QCOV1", "QCOV2", "CAT_COV=A"]
    assert len(covar) == 367  # header + the 366 analysed people (coded over them)
    log = (ci_run / "results/logs/stage_plink/eur_subset.log").read_text()
    assert "covariate CAT_COV is categorical, reference level B" in log
    for tool, mode in (("exactlmm", "fixed"), ("bolt", "loco"), ("plink2", "none"),
                       ("emmax", "fixed"), ("glimix", "fixed"), ("gemma", "refit")):
        null = json.loads((ci_run / f"results/assoc/eur_subset/{tool}.{mode}.null.json")
                          .read_text())
        assert null["status"] == "ok" and null["n_samples"] == 366, tool
        assert null["covariates"] == ["intercept", "QCOV1", "QCOV2", "CAT_COV=A"], tool


def test_bolt_is_compared_with_our_loco_as_an_approximate_tool(ci_run: Path) -> None:
    rows = concordance_rows(ci_run, mode="loco", tool_a="exactlmm", tool_b="bolt")
    assert (rows["comparison"] == "approximate").all()
    rows = rows[rows["statistic"] == "p_wald"]  # its infinitesimal test (p_bolt_mix: below)
    assert sorted(rows["dataset"]) == ["eur_subset", "hs1940", "tiny", "tiny_cov"]
    assert rows["pearson_r"].min() > 0.98 and rows["pearson_r_beta"].min() > 0.98


def test_linear_regression_shows_what_the_mixed_model_buys(ci_run: Path) -> None:
    """PLINK 2 without a kinship against our fixed mode: on the related HS1940 mice its λGC is
    inflated many times over (ours stays below 1); its effects point the same way as ours."""
    rows = concordance_rows(ci_run, mode="fixed/none", tool_a="exactlmm", tool_b="plink2")
    assert (rows["comparison"] == "cross-mode").all()
    hs = rows[rows["dataset"] == "hs1940"].iloc[0]
    assert hs["lambda_gc_b"] > 5 and hs["lambda_gc_a"] < 1.0
    eur = rows[rows["dataset"] == "eur_subset"].iloc[0]
    assert eur["pearson_r_beta"] > 0.95


def test_check_passes_and_skips_are_listed(ci_run: Path) -> None:
    check = (ci_run / "results/compare/check.txt").read_text().splitlines()
    n_tolerances = len(yaml.safe_load(CI_CONFIG.read_text())["tolerances"])
    assert check[0].startswith(f"all {n_tolerances} tolerances hold")
    skipped = pd.read_csv(ci_run / "results/compare/skipped.tsv", sep="\t")
    pheno2 = [["eur_pheno2", tool, mode] for tool, mode in (
        ("exactlmm", "fixed"), ("exactlmm", "refit"), ("pylmm", "fixed"), ("pylmm", "refit"),
        ("fastlmm", "fixed"), ("gemma", "refit"), ("emmax", "fixed"), ("bolt", "loco"),
        ("glimix", "fixed"), ("plink2", "none"), ("jamma", "refit"), ("jamma", "loco"),
        ("regenie_sgkit", "loco"), ("gemma_wald", "refit"))]
    assert skipped[["dataset", "tool", "mode"]].values.tolist() == [
        ["hs1940", "pylmm", "refit"], ["hs1940", "regenie_sgkit", "loco"],
        ["eur_subset", "pylmm", "refit"], ["eur_subset", "regenie_sgkit", "loco"], *pheno2]
    truth = pd.read_csv(ci_run / "results/compare/all.truth.tsv", sep="\t")
    assert set(truth["dataset"]) == {"tiny", "tiny_cov"}


def test_every_figure_has_png_and_svg(ci_run: Path) -> None:
    pngs = sorted((ci_run / "results/plots").rglob("*.png"))
    # 17 QQ (4 datasets x 4 modes, eur_pheno2 loco) + 70 scatters (JAMMA's three tests in refit
    # and loco, sgkit's REGENIE on the simulated sets, BOLT-LMM's p_bolt_mix where BOLT fits its
    # mixture, gemma_wald's p_wald on 4 datasets and bolt_example's) + 4 summaries + 3 REML
    # profiles (real data)
    assert len(pngs) == 94
    assert {png.parent.name for png in pngs if png.name == "reml_profile.png"} == {
        "hs1940", "eur_subset", "eur_pheno2"}
    for png in pngs:
        assert png.stat().st_size > 0 and png.with_suffix(".svg").is_file(), png


def test_report_builds(ci_run: Path) -> None:
    done = with_config(ci_run, CI_CONFIG, "--report", "report.html")
    assert done.returncode == 0, done.stderr[-3000:]
    html = (ci_run / "report.html").read_text()
    for text in ("Concordance", "Warnings", "Runtime", "scatter.refit/gemma.p_lrt.png",
                 "runtime_by_dataset.png", "qq.none.png",
                 "exact: exactlmm, PyLMM, FaST-LMM, GEMMA, EMMAX, glimix-core, JAMMA, "
                 "gemma_wald (config); approximate: BOLT-LMM, PLINK 2, REGENIE (sgkit), "
                 "bolt_example (imported)",  # the tools with runs: Quickdraws has none in CI
                 "panel.tsv", "matching.tsv", "scatter.refit/gemma_wald.p_wald.png"):
        assert text in html, text


def test_unsupported_modes_are_skipped_not_fatal(tmp_path: Path) -> None:
    """FaST-LMM has no refit and GEMMA no fixed mode (their registry entries): the run goes
    on, the skipped runs are listed with the reason, left out of the tables and drawn as
    labelled placeholders."""
    config = {
        "datasets": {"small": {"simulate": {"n_samples": 80, "n_snps": 150, "seed": 5}}},
        "tools": {name: {"modes": []} for name in registry.peers()}
        | {"exactlmm": {"modes": ["fixed", "refit"]}, "fastlmm": {"modes": ["fixed", "refit"]},
           "gemma": {"modes": ["fixed"]}},
        "tolerances": [{"tool_a": "exactlmm", "tool_b": "fastlmm", "mode": "fixed",
                        "statistic": "p_wald", "max_abs_diff_log10p": 1e-3}],
    }
    done = with_config(tmp_path, config, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    skipped = pd.read_csv(tmp_path / "results/compare/skipped.tsv", sep="\t")
    assert skipped[["tool", "mode"]].values.tolist() == [["fastlmm", "refit"], ["gemma", "fixed"]]
    assert skipped["reason"].tolist() == [
        "FaST-LMM has no 'refit' mode: single_snp fits h2 once on the null model, never per SNP",
        "GEMMA has no 'fixed' mode: -lmm re-fits λ per SNP for its Wald and LRT tests; it has "
        "no Wald test at the null λ",
    ]
    table = pd.read_csv(tmp_path / "results/compare/all.concordance.tsv", sep="\t")
    assert table[["mode", "tool_a", "tool_b"]].values.tolist() == [
        ["fixed", "exactlmm", "fastlmm"]
    ]
    assert (tmp_path / "results/plots/small/scatter.refit/fastlmm.p_wald.png").is_file()
    assert (tmp_path / "results/plots/small/scatter.fixed/gemma.p_score.png").is_file()
    assert (tmp_path / "results/compare/check.txt").is_file()


def test_too_strict_tolerance_fails_with_one_line_per_violation(
    ci_run: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "strict"
    shutil.copytree(ci_run, workdir, symlinks=True)
    config = yaml.safe_load(CI_CONFIG.read_text())
    config["tolerances"] = [
        {"tool_a": "exactlmm", "tool_b": "gemma", "mode": "refit", "statistic": "p_wald",
         "max_abs_diff_log10p": 1e-12},
        {"tool_a": "exactlmm", "tool_b": "fastlmm", "mode": "fixed", "statistic": "p_wald",
         "max_abs_diff_log10p": 1.0},
    ]
    (workdir / "results/compare/check.txt").unlink()
    done = with_config(workdir, config, "--cores", "1", "results/compare/check.txt")
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).splitlines()
    assert "4 tolerance violation(s) in results/compare/all.concordance.tsv:" in lines
    for dataset in ("tiny", "tiny_cov", "hs1940", "eur_subset"):
        assert any(
            line.startswith(f"  dataset={dataset} mode=refit exactlmm vs gemma p_wald: "
                            "max_abs_diff_log10p = ") and line.endswith(" > 1e-12")
            for line in lines
        ), dataset
    assert not (workdir / "results/compare/check.txt").exists()


@pytest.fixture(scope="module")
def study_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Working directory of one run of the study's CI configuration."""
    return complete_run(tmp_path_factory, STUDY_CI_CONFIG)


def test_study_tables_have_every_scenario_tool_and_replicate(study_run: Path) -> None:
    config = yaml.safe_load(STUDY_CI_CONFIG.read_text())
    scenarios = config["study"]["scenarios"]
    calibration = pd.read_csv(study_run / "results/study/calibration.tsv", sep="\t")
    assert set(calibration["scenario"]) == set(scenarios)
    assert set(zip(calibration["tool"], calibration["mode"], strict=True)) == {
        ("exactlmm", "fixed"), ("exactlmm", "loco"), ("fastlmm", "fixed"), ("plink2", "none")}
    replicates = calibration["scenario"].map({k: v["replicates"] for k, v in scenarios.items()})
    assert (calibration["n_replicates"] == replicates).all()
    assert sorted(calibration["alpha"].unique()) == [1e-4, 1e-3, 0.05]
    # The null SNPs are those of the chromosome without effects: 3 replicates x ~300 SNPs.
    null = calibration[calibration["scenario"] == "null_structured"]
    assert (null["n_snps"] > 0.9 * 3 * 300).all() and (null["n_snps"] <= 3 * 300).all()
    assert (calibration["ci"] == "korn-graubard").all()
    power = pd.read_csv(study_run / "results/study/power.tsv", sep="\t")
    with_causal = {"causal", "msprime_structured", "semi_hs1940", "binary"}
    assert set(power["scenario"]) == with_causal
    assert (power[power["scenario"] == "causal"]["n_causal"] == 9).all()
    assert (power[power["scenario"] == "msprime_structured"]["n_causal"] == 6).all()
    assert (power[power["scenario"].isin(["semi_hs1940", "binary"])]["n_causal"] == 4).all()
    heritability = pd.read_csv(study_run / "results/study/heritability.tsv", sep="\t")
    assert "plink2" not in set(heritability["tool"])  # no γ without a kinship
    observed = heritability[heritability["scale"] == "observed"]
    truth = dict(zip(observed["scenario"], observed["h2_true"], strict=False))
    assert truth == {"null_structured": 0.5, "causal": 0.5, "msprime_structured": 0.5,
                     "semi_hs1940": 0.4, "deflation_m2n": 0.5, "deflation_m20n": 0.5,
                     "binary": pytest.approx(float(liability_to_observed(0.5, 0.05, 0.2)))}
    on_liability = heritability[heritability["scale"] == "liability"]
    assert set(on_liability["scenario"]) == {"binary"} and (on_liability["h2_true"] == 0.5).all()
    ours = observed[observed["tool"] == "exactlmm"]
    assert (ours["n_with_se"] == ours["n_replicates"]).all()  # ours reports se(ĥ²)
    proximal = pd.read_csv(study_run / "results/study/proximal.tsv", sep="\t")
    assert set(proximal["tool"]) == {"exactlmm"}
    assert set(proximal["scenario"]) == with_causal
    # Low-frequency null SNPs of the binary scenario, by MAF bin; PLINK 2 ran logistic.
    by_maf = pd.read_csv(study_run / "results/study/calibration_maf.tsv", sep="\t")
    binary = by_maf[by_maf["scenario"] == "binary"]
    assert set(binary["maf_bin"]) == {"0-0.01", "0.01-0.02", "0.02-0.05", "0.05-0.5"}
    assert (binary["case_fraction"] == 0.2).all() and (binary["prevalence"] == 0.05).all()
    plink = json.loads((study_run / "results/assoc/binary-r000/plink2.none.null.json")
                       .read_text())
    assert plink["native"]["model"] == "logistic, Firth fallback"
    assert plink["native"]["n_cases"] == 80
    # The N/M law: every scenario with its expectation; the two M/N points ordered.
    deflation = pd.read_csv(study_run / "results/study/deflation.tsv", sep="\t")
    assert set(deflation["scenario"]) == set(scenarios)
    assert deflation["lambda_expected"].between(0.5, 1.0).all()
    law = deflation.set_index("scenario")
    assert law.loc["deflation_m2n", "lambda_expected"] < law.loc["deflation_m20n",
                                                                   "lambda_expected"]
    # Runtime of every run of every scenario, from the job metrics (Snakemake's benchmark files).
    runtime = pd.read_csv(study_run / "results/study/runtime.tsv", sep="\t")
    assert len(runtime) == len(calibration[["scenario", "tool", "mode"]].drop_duplicates())
    assert (runtime["seconds_mean"] > 0).all() and (runtime["max_rss_mb_mean"] > 0).all()
    assert (runtime["n_replicates"] == runtime["scenario"].map(
        {k: v["replicates"] for k, v in scenarios.items()})).all()
    # The msprime replicates: coalescent chromosomes with LD, two populations near F_ST 0.05.
    record = json.loads((study_run / "results/data/msprime_structured-r000/genotypes.truth.json")
                        .read_text())["genotypes"]
    assert record["source"] == "msprime" and record["ld_r2_adjacent_mean"] > 0.1
    assert 0.02 < record["fst_hudson_realised"] < 0.1
    # The semi-synthetic replicates are HS1940's 1940 mice with the simulated phenotype.
    truth_record = json.loads(
        (study_run / "results/data/semi_hs1940-r000/genotypes.truth.json").read_text())
    assert truth_record["gamma"] == pytest.approx(0.4 / 0.6) and truth_record["n_causal"] == 2
    # The per-dataset tables are made for the configured datasets only (hs1940, whose
    # genotypes the semi-synthetic scenario uses), not for the study's replicates.
    concordance = pd.read_csv(study_run / "results/compare/all.concordance.tsv", sep="\t")
    assert set(concordance["dataset"]) == {"hs1940"}
    for name in ("calibration", "power", "heritability", "lambda_gc", "deflation"):
        png = study_run / f"results/plots/study/{name}.png"
        assert png.stat().st_size > 1000 and png.with_suffix(".svg").is_file(), name


def test_study_sanity_exact_lmm_calibrated_regression_inflated(study_run: Path) -> None:
    """Seeded, generous bounds, on the truly null SNPs (a chromosome without any effect) of the
    structured null scenario: ours is calibrated at α = 0.05 with the full kinship and with
    LOCO; the full kinship, which holds the tested SNP, deflates λGC (proximal contamination)
    where LOCO does not; linear regression without a kinship is inflated."""
    table = pd.read_csv(study_run / "results/study/calibration.tsv", sep="\t")
    rows = table[(table["scenario"] == "null_structured") & (table["statistic"] == "p_wald")
                 & (table["alpha"] == 0.05)].set_index(["tool", "mode"])
    fixed, loco = rows.loc[("exactlmm", "fixed")], rows.loc[("exactlmm", "loco")]
    for ours in (fixed, loco):
        assert ours.ci_low <= 0.05 <= ours.ci_high
    assert fixed.lambda_gc_mean < loco.lambda_gc_mean
    assert 0.85 < loco.lambda_gc_mean < 1.15
    plink = rows.loc[("plink2", "none")]
    assert plink.lambda_gc_mean > loco.lambda_gc_mean + 0.15


NULL_ONLY_STUDY = {
    "datasets": {},
    "study": {"seed": 3, "scenarios": {
        name: {"replicates": 2, "simulate": {"n_samples": 100, "n_snps": 300, "n_chromosomes": 3,
                                             "h2": 0.5, "null_chromosomes": 1, **extra}}
        for name, extra in (("null_plain", {}), ("null_structure", {"n_populations": 2,
                                                                   "fst": 0.05}))}},
    "tools": {**{name: {"modes": []} for name in registry.peers() if name != "plink2"},
              "exactlmm": {"modes": ["fixed", "loco"]}},
}
"""Every scenario without causal SNPs (once this crashed at the end: KeyError 'mode')."""


def test_a_null_only_study_writes_every_table_with_its_header(tmp_path: Path) -> None:
    done = with_config(tmp_path, NULL_ONLY_STUDY, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    tables = tmp_path / "results/study"
    for name, columns in (("power", study.POWER_COLUMNS), ("proximal", study.PROXIMAL_COLUMNS)):
        table = pd.read_csv(tables / f"{name}.tsv", sep="\t")
        assert table.empty and list(table.columns) == list(columns), name
    calibration = pd.read_csv(tables / "calibration.tsv", sep="\t")
    assert set(calibration["scenario"]) == {"null_plain", "null_structure"}
    assert set(zip(calibration["tool"], calibration["mode"], strict=True)) == {
        ("exactlmm", "fixed"), ("exactlmm", "loco"), ("plink2", "none")}
    assert len(pd.read_csv(tables / "deflation.tsv", sep="\t")) == 2
    assert not pd.read_csv(tables / "heritability.tsv", sep="\t").empty
    assert (tmp_path / "results/plots/study/power.png").stat().st_size > 1000


def test_study_is_byte_reproducible(study_run: Path, tmp_path: Path) -> None:
    """Same config, same bytes: the replicate seeds come from the config alone.  A copy of the
    study's run loses a quantitative and a binary replicate (everything of theirs: genotypes,
    phenotypes, every tool's run, the replicate table) and every study table; made again, in
    another order than the first time, they are the same bytes.  (The whole study run twice
    took 224 s more; a replicate is made by the same rules as every other.)"""
    work = tmp_path / "again"
    shutil.copytree(study_run, work, symlinks=True)  # copy2 keeps the times: nothing is stale
    names = sorted(path.stem for path in (work / "results/study/replicates").glob("*.tsv"))
    lost = [next(name for name in names if "binary" in name),
            next(name for name in names if "msprime" in name)]
    gone = [path for path in (work / "results").rglob("*")
            if path.is_file() and any(part in lost or part.split(".")[0] in lost
                                      for part in path.relative_to(work).parts)]
    gone += list((work / "results/study").glob("*.tsv"))
    assert any("assoc" in path.parts for path in gone) and len(gone) > 10
    for path in gone:
        path.unlink()
    done = with_config(work, STUDY_CI_CONFIG, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    # What was made again but runtime.tsv (what the machine measured) and the job metrics.
    remade = sorted(path.relative_to(work) for path in gone if path.suffix == ".tsv"
                    and path.name != "runtime.tsv" and "job_metrics" not in path.parts)
    assert len(remade) > 6 and all((work / path).exists() for path in remade)
    for path in remade:
        assert (work / path).read_bytes() == (study_run / path).read_bytes(), path


@pytest.mark.slow
def test_a_tool_past_its_time_limit_is_listed_and_drawn_as_timed_out(tmp_path: Path) -> None:
    """tools: {gemma: {time_limit}} shorter than any GEMMA run: the run is recorded as timed
    out (listed with the reason under the skipped runs) and the workflow completes."""
    config = {
        "datasets": {"small": {"simulate": {"n_samples": 120, "n_snps": 300,
                                            "n_chromosomes": 2, "seed": 4}}},
        "tools": {name: {"modes": []} for name in registry.peers()}
        | {"exactlmm": {"modes": ["refit"]}, "gemma": {"modes": ["refit"], "time_limit": 0.01}},
    }
    done = with_config(tmp_path, config, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    skipped = pd.read_csv(tmp_path / "results/compare/skipped.tsv", sep="\t")
    row = skipped[(skipped["tool"] == "gemma") & (skipped["mode"] == "refit")]
    assert row["reason"].tolist() == ["timed out: stopped at the time limit of 0.01 s"]
    record = json.loads((tmp_path / "results/assoc/small/gemma.refit.null.json").read_text())
    assert record["status"] == "skipped" and record["time_limit"] == 0.01
    assert (tmp_path / "results/plots/runtime_by_dataset.png").stat().st_size > 1000
    runtime = pd.read_csv(tmp_path / "results/compare/runtime.tsv", sep="\t")
    assert runtime[["tool", "mode", "timed_out", "time_limit"]].fillna(-1).values.tolist() == [
        ["exactlmm", "refit", False, -1], ["gemma", "refit", True, 0.01]]
    ours = json.loads((tmp_path / "results/assoc/small/exactlmm.refit.null.json").read_text())
    assert (runtime["n_samples"] == ours["n_samples"]).all()
    assert (runtime["seconds"] > 0).all() and (runtime["max_rss_mb"] > 0).all()


def test_a_config_tool_and_an_imported_file_join_the_comparison(ci_run: Path) -> None:
    """gemma_wald (GEMMA -lmm 1, defined in ci.yaml by its command) on every dataset in refit
    mode; bolt-lmm-example's own BOLT-LMM run imported onto eur_pheno2: both in the concordance
    table within their tolerances, both in the matching table, the imported file's sha256 in
    its run's provenance."""
    config_rows = concordance_rows(ci_run, mode="refit", tool_a="exactlmm", tool_b="gemma_wald")
    assert sorted(config_rows["dataset"]) == ["eur_subset", "hs1940", "tiny", "tiny_cov"]
    assert (config_rows["statistic"] == "p_wald").all()
    assert (config_rows["comparison"] == "exact").all() and config_rows["gamma_b"].isna().all()
    assert config_rows["max_abs_diff_log10p"].max() <= 0.01
    imported = concordance_rows(ci_run, tool_b="bolt_example").iloc[0]
    assert imported["dataset"] == "eur_pheno2" and imported["comparison"] == "approximate"
    assert imported["n_compared"] == 5434 and imported["pearson_r"] > 0.95
    matching = pd.read_csv(ci_run / "results/compare/matching.tsv", sep="\t")
    rows = {(row.dataset, row.tool): row for row in matching.itertuples()}
    bolt = rows[("eur_pheno2", "bolt_example")]
    assert bolt.origin == "imported" and bolt.by_id == 5434 and bolt.flipped == 0
    assert bolt.sha256 == "82e071874da3dcb86832101623d8e83bc8d0f82b2d049f48586f0ae1af251c8c"
    assert rows[("hs1940", "gemma_wald")].origin == "config"
    null = json.loads((ci_run / "results/assoc/eur_pheno2/bolt_example.loco.null.json")
                      .read_text())
    assert null["provenance"]["parameters"]["sha256"] == bolt.sha256
    assert null["version"].startswith("BOLT-LMM v2.4")
