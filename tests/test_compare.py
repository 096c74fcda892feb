"""Tests for lmmcompare.compare: metrics on hand-made results, λGC, truth table, tolerances."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from exactlmm.errors import InputError
from exactlmm.io.results import ASSOC_COLUMNS
from lmmcompare.compare import (
    check_tolerances,
    concordance,
    lambda_gc,
    truth_table,
    write_table,
)
from lmmcompare.registry import STATISTICS
from lmmcompare.runs import Run, load


@dataclass(frozen=True)
class ToolResult:
    """An in-memory result with what the comparison reads (compare.Result)."""

    tool: str
    mode: str
    null: dict
    assoc: pd.DataFrame


def _assoc(snps: list[str], **pvalues: list[float]) -> pd.DataFrame:
    n = len(snps)
    table = {
        "chrom": ["1"] * n, "snp": snps, "pos": np.arange(1, n + 1) * 1000.0, "a1": ["A"] * n,
        "a2": ["G"] * n, "n": [100.0] * n, "af": [0.3] * n, "beta": [0.1] * n, "se": [0.05] * n,
        "delta": [0.5] * n, "delta_ml": [math.nan] * n, "errcode": ["."] * n,
    }
    for statistic in STATISTICS:
        table[statistic] = pvalues.get(statistic, [math.nan] * n)
    assert set(pvalues) <= set(STATISTICS)
    return pd.DataFrame(table)[list(ASSOC_COLUMNS)]


def _null(gamma: float, loglik: float, likelihood: str = "REML") -> dict:
    return {"tool": "t", "gamma": gamma, "h2": gamma / (1 + gamma), "pve": gamma / (1 + gamma),
            "loglik": loglik, "likelihood": likelihood}


# Tool A: s0..s9 with p_wald = 10^-(1..10).  Tool B: s1..s10, equal except s5 (0.5 smaller in
# -log10 p... i.e. more significant) and s9 (4 less significant).
EXP_A = np.arange(1.0, 11.0)
P_A = 10.0**-EXP_A
EXP_B = np.array([2, 3, 4, 5, 6.5, 7, 8, 9, 6, 3.0])
P_B = 10.0**-EXP_B
SNPS_A = [f"s{j}" for j in range(10)]
SNPS_B = [f"s{j}" for j in range(1, 11)]
SCORE_B = list(P_B)
SCORE_B[2] = math.nan  # s3 has no score p in B


def _two_tools(mode: str = "fixed") -> list[ToolResult]:
    a = ToolResult("exactlmm", mode, _null(2.0, -100.0),
                   _assoc(SNPS_A, p_wald=list(P_A), p_lrt=list(P_A), p_score=list(P_A)))
    b = ToolResult("gemma", mode, _null(2.1, -100.5),
                   _assoc(SNPS_B, p_wald=list(P_B), p_score=SCORE_B))
    return [a, b]


def test_concordance_known_differences() -> None:
    alpha = 10.0**-6.25
    other_mode = ToolResult("pylmm", "refit", _null(2.0, -99.0), _assoc(SNPS_A, p_wald=list(P_A)))
    table = concordance([*_two_tools(), other_mode], dataset="toy", alpha=alpha)
    # p_lrt is absent from gemma, and the refit result has no partner of its mode.
    assert list(table.statistic) == ["p_wald", "p_score"]
    wald = table.iloc[0]
    assert (wald.dataset, wald["mode"], wald.tool_a, wald.tool_b) == (
        "toy", "fixed", "exactlmm", "gemma")
    assert wald.n_snps == 9 and wald.n_compared == 9
    assert wald.gamma_a == 2.0 and wald.gamma_b == 2.1
    assert wald.rel_diff_gamma == pytest.approx(0.1 / 2.1)
    assert wald.abs_diff_loglik == pytest.approx(0.5)
    assert wald.max_abs_diff_log10p == pytest.approx(4.0)
    assert wald.median_abs_diff_log10p == pytest.approx(0.0, abs=1e-12)
    common_a, common_b = EXP_A[1:], EXP_B[:9]
    assert wald.pearson_r == pytest.approx(np.corrcoef(common_a, common_b)[0, 1])
    # Significant at 10^-6.25: A has s6..s9, B has s5..s8.
    assert (wald.n_sig_a, wald.n_sig_b, wald.n_sig_a_only, wald.n_sig_b_only) == (4, 4, 1, 1)
    expected_lambda = np.median(stats.chi2.isf(10.0**-common_a, 1)) / stats.chi2.ppf(0.5, 1)
    assert wald.lambda_gc_a == pytest.approx(expected_lambda)
    score = table.iloc[1]
    assert score.n_snps == 9 and score.n_compared == 8
    assert "ours_loglik_at_gamma_a" not in table.columns


def test_concordance_ours_loglik_and_edge_cases() -> None:
    results = _two_tools()
    at_gamma = {("exactlmm", "fixed"): -100.0, ("gemma", "fixed"): -100.0004}
    table = concordance(results, dataset="toy", alpha=0.01, ours_loglik_at=at_gamma)
    assert table.ours_loglik_at_gamma_b.iloc[0] == -100.0004
    assert table.abs_diff_ours_loglik.iloc[0] == pytest.approx(0.0004)
    # Swapping the order swaps the sides.
    swapped = concordance(results[::-1], dataset="toy", alpha=0.01)
    assert swapped.tool_a.iloc[0] == "gemma"
    assert swapped.n_sig_a_only.iloc[0] == table.n_sig_b_only.iloc[0]
    # p = 0 stays finite.
    snps = ["s1", "s2", "s3"]
    zero = ToolResult("x", "fixed", _null(1.0, 0.0), _assoc(snps, p_wald=[0.0, 0.1, 1]))
    one = ToolResult("y", "fixed", _null(1.0, 0.0), _assoc(snps, p_wald=[1e-300, 0.1, 1]))
    row = concordance([zero, one], dataset="z", alpha=0.05).iloc[0]
    assert np.isfinite(row.max_abs_diff_log10p) and row.max_abs_diff_log10p > 7
    # No SNP in common: the row is there, with NaN metrics, so tolerances fail loudly.
    apart = ToolResult("y", "fixed", _null(1.0, 0.0), _assoc(["t1", "t2"], p_wald=[0.1, 0.2]))
    row = concordance([zero, apart], dataset="z", alpha=0.05).iloc[0]
    assert row.n_snps == 0 and math.isnan(row.pearson_r)
    with pytest.raises(InputError, match="alpha"):
        concordance(results, dataset="toy", alpha=0.0)


def test_lambda_gc_uniform_and_inflated() -> None:
    rng = np.random.default_rng(2024)
    uniform = rng.uniform(size=200_000)
    assert lambda_gc(uniform) == pytest.approx(1.0, abs=0.02)
    inflated = stats.chi2.sf(1.5 * rng.chisquare(1, size=200_000), 1)
    assert lambda_gc(inflated) == pytest.approx(1.5, abs=0.03)
    with_nan = np.concatenate([uniform, np.full(1000, np.nan)])
    assert lambda_gc(with_nan) == lambda_gc(uniform)
    assert math.isnan(lambda_gc(np.array([np.nan])))
    assert lambda_gc(np.array([0.5])) == pytest.approx(1.0)


def test_truth_table() -> None:
    truth = {"gamma": 2.0, "h2": 2 / 3, "gamma_polygenic": 1.5, "kinship_mean_diag": 1.0,
             "causal_snps": ["s8", "s9", "s10", "s99"]}
    table = truth_table(_two_tools(), truth, dataset="sim", alpha=1e-7)
    a, b = table.iloc[0], table.iloc[1]
    assert a.gamma == 2.0 and a.abs_err_gamma == 0.0
    assert b.abs_err_gamma == pytest.approx(0.1) and b.rel_err_gamma == pytest.approx(0.05)
    assert b.abs_err_h2 == pytest.approx(abs(2.1 / 3.1 - 2 / 3))
    assert a.n_causal == 4 and a.n_causal_tested == 2 and b.n_causal_tested == 3
    # A: p < 1e-7 at s7 (10^-8), s8, s9 → causal s8, s9 detected, s7 false.
    assert (a.n_detected_p_wald, a.power_p_wald, a.n_false_pos_p_wald) == (2, 1.0, 1)
    # B: s7 (10^-8) and s8 (10^-9) → causal s8 is 1 of 3 tested causal SNPs; s7 false.
    assert (b.n_detected_p_wald, b.n_false_pos_p_wald) == (1, 1)
    assert b.power_p_wald == pytest.approx(1 / 3)
    assert math.isnan(b.power_p_lrt) and math.isnan(b.lambda_gc_p_lrt)
    # A run without a kinship estimates no γ: NaN, not an error of 100 %; its power stays.
    plink = ToolResult("plink2", "none", _null(0.0, math.nan), _two_tools()[0].assoc)
    row = truth_table([plink], truth, dataset="sim", alpha=1e-7).iloc[0]
    assert math.isnan(row.gamma) and math.isnan(row.rel_err_gamma) and math.isnan(row.h2)
    assert row.power_p_wald == 1.0


def test_check_tolerances() -> None:
    table = concordance(_two_tools(), dataset="toy", alpha=0.01)
    ok = {"tool_a": "gemma", "tool_b": "exactlmm", "mode": "fixed", "statistic": "p_wald",
          "max_abs_diff_log10p": 5.0, "rel_diff_gamma": 0.1, "dataset": "toy",
          "n_one_sided": 2}
    assert check_tolerances(table, [ok]) == []
    # By default no SNP may have a p-value from one tool only: a tool that returns NA where
    # the other tests cannot pass on the SNPs it did test.
    default = {k: v for k, v in ok.items() if k != "n_one_sided"}
    assert check_tolerances(table, [default]) == [
        "dataset=toy mode=fixed exactlmm vs gemma p_wald: n_one_sided = 2 > 0"]
    too_tight = {**ok, "max_abs_diff_log10p": 0.01, "min_pearson_r": 0.9999}
    messages = check_tolerances(table, [too_tight])
    assert len(messages) == 2
    assert "max_abs_diff_log10p = 4 > 0.01" in messages[0]
    assert "exactlmm vs gemma" in messages[0] and "dataset=toy" in messages[0]
    assert "p_wald" in messages[0] and "pearson_r" in messages[1]
    assert all("\n" not in m for m in messages)
    # A selector that matches nothing is itself a violation.
    nothing = check_tolerances(table, [{**ok, "tool_b": "fastlmm"}])
    assert nothing == ["tolerance matched nothing: tool_a=gemma tool_b=fastlmm mode=fixed "
                       "statistic=p_wald dataset=toy"]
    # Missing selectors match every row: both statistics are checked.
    assert len(check_tolerances(table, [{"abs_diff_loglik": 0.1, "n_one_sided": 10}])) == 2
    assert "unknown metric" in check_tolerances(table, [{"max_abs_diff_p": 1.0}])[0]
    assert "not a finite number" in check_tolerances(table, [{"rel_diff_gamma": "small"}])[0]
    nan_table = table.assign(pearson_r=math.nan)
    assert "is NaN" in check_tolerances(nan_table, [{"min_pearson_r": 0.5}])[0]
    truth = truth_table(_two_tools(), {"gamma": 2.0, "h2": 2 / 3}, dataset="t", alpha=0.01)
    assert check_tolerances(truth, [{"tool": "gemma", "rel_err_gamma": 0.04}]) == [
        "dataset=t mode=fixed tool=gemma: rel_err_gamma = 0.05 > 0.04"]


def _write_result(prefix: Path, text: str, null: dict) -> None:
    Path(f"{prefix}.assoc.tsv").write_text(text)
    Path(f"{prefix}.null.json").write_text(json.dumps(null))


HEADER = "\t".join(ASSOC_COLUMNS) + "\n"


def test_load_round_trip_and_errors(tmp_path: Path) -> None:
    """runs.load finds a run's files from its identity and reads them, or says what is wrong."""

    def write(tool: str, text: str, null: dict, mode: str = "refit") -> Run:
        run = Run("toy", tool, mode)
        (tmp_path / run.prefix).parent.mkdir(parents=True, exist_ok=True)
        _write_result(tmp_path / run.prefix, text, null)
        return run

    line = "1\tNA\t1000\tA\tG\t100\t0.3\t0.1\t0.05\t1e-3\tNA\t0.002\tNA\t0.5\tNA\t.\n"
    ok = write("gemma", HEADER + line + line.replace("\tNA\t1000", "\ts2\t2000"),
               {**_null(1.5, -10.0), "tool": "gemma"})
    result = load(ok, tmp_path)
    assert (result.tool, result.mode, result.null["gamma"]) == ("gemma", "refit", 1.5)
    assert result.ok and result.reason is None
    assert list(result.assoc.snp) == ["NA", "s2"]  # an id is text, never NaN
    assert result.assoc.p_wald.iloc[0] == 1e-3 and math.isnan(result.assoc.p_lrt.iloc[0])
    assert result.assoc.p_lrt.dtype == np.float64
    bad = write("hdr", HEADER.replace("p_wald", "pwald") + line, {**_null(1.0, 0.0), "tool": "hdr"})
    with pytest.raises(InputError, match=r"hdr\.refit\.assoc\.tsv: missing column p_wald"):
        _ = load(bad, tmp_path).assoc
    bad = write("num", HEADER + line.replace("1e-3", "abc"), {**_null(1.0, 0.0), "tool": "num"})
    with pytest.raises(InputError, match="line 2, column p_wald: 'abc' is not a number"):
        _ = load(bad, tmp_path).assoc
    bad = write("dup", HEADER + line + line, {**_null(1.0, 0.0), "tool": "dup"})
    with pytest.raises(InputError, match="occurs more than once"):
        _ = load(bad, tmp_path).assoc
    bad = write("json", HEADER + line, {"h2": 0.5})
    with pytest.raises(InputError, match=r"json\.refit\.null\.json: missing keys tool, gamma"):
        load(bad, tmp_path)
    with pytest.raises(InputError, match=r"holds a run of gemma, expected pylmm refit"):
        load(write("pylmm", HEADER + line, {**_null(1.0, 0.0), "tool": "gemma"}), tmp_path)
    with pytest.raises(InputError, match="not found"):
        load(Run("toy", "missing", "fixed"), tmp_path)


def test_write_table_reproducible(tmp_path: Path) -> None:
    table = concordance(_two_tools(), dataset="toy", alpha=0.01)
    write_table(table, tmp_path / "a.tsv")
    write_table(table.copy(), tmp_path / "b.tsv")
    text = (tmp_path / "a.tsv").read_text()
    assert text == (tmp_path / "b.tsv").read_text()
    lines = text.splitlines()
    assert lines[0].split("\t")[:6] == [
        "dataset", "mode", "tool_a", "tool_b", "comparison", "statistic"]
    fields = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=True))
    assert fields["rel_diff_gamma"] == f"{0.1 / 2.1:.10g}"
    assert fields["n_snps"] == "9"
    back = pd.read_csv(tmp_path / "a.tsv", sep="\t")
    np.testing.assert_allclose(back.pearson_r, table.pearson_r, rtol=1e-9)
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".*tmp"))


def test_pairs_follow_the_registry_kinds_and_cross_modes() -> None:
    """Same-mode pairs are exact or approximate by the registry; PLINK 2 (mode none) is paired
    with ours in fixed mode as a cross-mode pair; β correlation and λGC difference are filled."""
    snps = [f"s{j}" for j in range(8)]
    p_ours = [1e-8, 0.01, 0.2, 0.5, 0.7, 0.9, 0.03, 0.4]
    p_lr = [1e-10, 0.001, 0.1, 0.4, 0.6, 0.8, 0.01, 0.3]
    beta = np.array([0.5, -0.2, 0.1, 0.05, -0.01, 0.02, 0.3, -0.1])

    def result(tool: str, mode: str, p: list[float], sign: float = 1.0) -> ToolResult:
        table = _assoc(snps, p_wald=p)
        table["beta"] = sign * beta
        return ToolResult(tool, mode, _null(0.0 if mode == "none" else 1.0, -50.0), table)

    results = [result("exactlmm", "fixed", p_ours), result("emmax", "fixed", p_ours),
               result("exactlmm", "loco", p_ours), result("bolt", "loco", p_ours),
               result("plink2", "none", p_lr, sign=-1.0)]
    table = concordance(results, dataset="toy", alpha=1e-5)
    got = [(r["mode"], r.tool_a, r.tool_b, r.comparison) for _, r in table.iterrows()]
    assert got == [("fixed", "exactlmm", "emmax", "exact"),
                   ("loco", "exactlmm", "bolt", "approximate"),
                   ("fixed/none", "exactlmm", "plink2", "cross-mode")]
    cross = table.iloc[2]
    assert cross.pearson_r_beta == pytest.approx(-1.0)  # PLINK 2 here counts the other allele
    assert table.iloc[0].pearson_r_beta == pytest.approx(1.0)
    assert cross.abs_diff_lambda_gc == pytest.approx(
        abs(lambda_gc(np.array(p_ours)) - lambda_gc(np.array(p_lr))))
    assert table.iloc[0].abs_diff_lambda_gc == 0.0


def test_a_statistic_only_a_peer_gives_is_compared_with_its_reference_statistic() -> None:
    """BOLT-LMM's p_bolt_mix has no column of ours: its row compares it with ours' p_wald (the
    registry's reference_statistics); two tools without it get no such row; an exact tool's
    mode listed in approximate_modes (JAMMA's loco: another kinship) is compared as approximate.
    """
    snps = [f"s{j}" for j in range(6)]
    p_ours = [1e-8, 0.01, 0.2, 0.5, 0.7, 0.9]
    p_mix = [1e-9, 0.02, 0.1, 0.6, 0.7, 0.8]
    ours = ToolResult("exactlmm", "loco", _null(1.0, -5.0), _assoc(snps, p_wald=p_ours))
    bolt = ToolResult("bolt", "loco", _null(1.0, -5.0),
                      _assoc(snps, p_wald=p_ours, p_bolt_mix=p_mix))
    jamma = ToolResult("jamma", "loco", _null(1.0, -5.0),
                       _assoc(snps, p_wald=p_ours, p_lrt=p_ours, p_score=p_ours))
    table = concordance([ours, bolt, jamma], dataset="toy", alpha=1e-5)
    got = [(r.tool_a, r.tool_b, r.statistic, r.comparison) for _, r in table.iterrows()]
    assert got == [("exactlmm", "bolt", "p_wald", "approximate"),
                   ("exactlmm", "bolt", "p_bolt_mix", "approximate"),
                   ("exactlmm", "jamma", "p_wald", "approximate"),
                   ("bolt", "jamma", "p_wald", "approximate"),
                   ("bolt", "jamma", "p_bolt_mix", "approximate")]
    mix = table.iloc[1]
    assert mix.max_abs_diff_log10p == pytest.approx(1.0)
    assert mix.lambda_gc_b == pytest.approx(lambda_gc(np.array(p_mix)))
    assert mix.lambda_gc_a == pytest.approx(lambda_gc(np.array(p_ours)))
    assert math.isnan(mix.pearson_r_beta)  # β (the infinitesimal model's) is on the Wald row
    # In refit mode JAMMA is an exact peer.
    refit = [ToolResult(r.tool, "refit", r.null, r.assoc) for r in (ours, jamma)]
    assert set(concordance(refit, dataset="toy", alpha=1e-5).comparison) == {"exact"}


def test_an_imported_bolt_tables_mixture_test_is_compared_with_ours_wald() -> None:
    """A BOLT-LMM table imported (or a config-defined BOLT-LMM) gives p_bolt_mix too: its panel
    entry compares it with ours' p_wald, as the registry's BOLT-LMM entry does."""
    from lmmcompare import panel, registry
    from lmmcompare.imported import ImportedTool

    imported = ImportedTool(
        name="bolt_elsewhere", label="bolt_elsewhere", modes=("loco",),
        statistics=("p_wald", "p_bolt_mix"), exact=False, runner="", to_standard=None, summary="",
        mode_gaps={mode: "imported as loco" for mode in ("fixed", "refit", "none")},
        reference_statistics=registry.peer_statistic_references(("p_wald", "p_bolt_mix")))
    tools = panel.Panel([*registry.TOOLS.values(), imported])
    snps = [f"s{j}" for j in range(6)]
    p_ours = [1e-8, 0.01, 0.2, 0.5, 0.7, 0.9]
    ours = ToolResult("exactlmm", "loco", _null(1.0, -5.0), _assoc(snps, p_wald=p_ours))
    theirs = ToolResult("bolt_elsewhere", "loco", _null(1.0, -5.0),
                        _assoc(snps, p_wald=p_ours, p_bolt_mix=[1e-9, 0.02, 0.1, 0.6, 0.7, 0.8]))
    table = concordance([ours, theirs], dataset="toy", alpha=1e-5, tools=tools)
    assert list(table.statistic) == ["p_wald", "p_bolt_mix"]
    assert table.iloc[1].max_abs_diff_log10p == pytest.approx(1.0)
    # Without the panel (the registry alone), the imported tool's mixture test has no partner.
    alone = concordance([ours, theirs], dataset="toy", alpha=1e-5)
    assert list(alone.statistic) == ["p_wald"]
