"""The configs' bounds on the approximate leave-one-chromosome-out tools catch a broken run.

An approximate tool (BOLT-LMM inf and mixture, sgkit's REGENIE, Quickdraws, JAMMA's ``-loco``)
is bounded against ours ``--loco`` loosely enough to pass its approximation, tightly enough to
fail a run that counts the other allele (β flipped: r(β) about −1) or analyses the samples out
of order (its p-values unrelated to ours: r(−log10 p) about 0).  Each tool's bounds, as written
in ``config.yaml`` and ``config/ci.yaml``, are applied to such broken runs on tiny simulated
data: a copy of our own loco scan plays the tool (so the bounds, not a tool, are tested) and
must pass; the same copy with β negated, and our scan of the phenotype with its samples
shuffled, must fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from exactlmm.io.results import read_null_json
from lmmcompare import panel, registry
from lmmcompare.cli import main as simulate_main
from lmmcompare.compare import check_tolerances, concordance
from lmmcompare.runners import RunRequest
from lmmcompare.runs import Run, execute, read_assoc_frame

REPO = Path(__file__).resolve().parents[1]
CONFIGS = (REPO / "config.yaml", REPO / "config" / "ci.yaml")
APPROXIMATE_LOCO = tuple(
    name for name, tool in registry.TOOLS.items()
    if "loco" in tool.modes and not tool.exact_in("loco")
)
"""The tools whose loco runs are compared with ours as approximate."""


@dataclass(frozen=True)
class Result:
    tool: str
    mode: str
    null: dict
    assoc: pd.DataFrame


def bounds_of(tool: str) -> list[dict]:
    """The configs' tolerances on ``tool`` against ours in loco mode, each once."""
    found = []
    for config in CONFIGS:
        for entry in yaml.safe_load(config.read_text()).get("tolerances") or []:
            pair = {entry.get("tool_a"), entry.get("tool_b")}
            if pair == {registry.REFERENCE, tool} and entry.get("mode") == "loco" \
                    and entry not in found:
                found.append(entry)
    return found


def test_every_approximate_loco_tool_has_bounds_on_p_and_beta():
    for tool in APPROXIMATE_LOCO:
        entries = bounds_of(tool)
        assert entries, f"no tolerance on {tool} in {', '.join(c.name for c in CONFIGS)}"
        for entry in entries:
            if entry.get("statistic", "p_wald") == "p_wald":
                assert {"min_pearson_r", "min_pearson_r_beta"} <= set(entry), entry
            else:  # β belongs to the p_wald row; the other statistic's p must correlate
                assert "min_pearson_r" in entry and "min_pearson_r_beta" not in entry, entry


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Our loco scan of a tiny simulated set, and of its phenotype with the samples shuffled."""
    work = tmp_path_factory.mktemp("bounds")
    prefix = work / "tiny"
    assert simulate_main(["simulate", "--out", str(prefix), "--n-samples", "300",
                          "--n-snps", "1200", "--n-chromosomes", "3", "--seed", "41",
                          "--h2", "0.6", "--n-causal", "5", "--causal-h2", "0.3"]) == 0
    header, *lines = Path(f"{prefix}.pheno").read_text().splitlines()
    values = [line.split()[2:] for line in lines]
    order = np.random.default_rng(5).permutation(len(lines))
    Path(f"{prefix}.shuffled").write_text(header + "\n" + "".join(
        " ".join([*lines[i].split()[:2], *values[j]]) + "\n" for i, j in enumerate(order)))
    (work / "snps.txt").write_text(
        "".join(line.split()[1] + "\n" for line in Path(f"{prefix}.bim").read_text().splitlines()))
    found = {}
    for name, pheno in (("ours", f"{prefix}.pheno"), ("shuffled", f"{prefix}.shuffled")):
        request = RunRequest(bfile=str(prefix), pheno=pheno, mpheno=1, covar=None,
                             kinship=str(work / "unused"), extract=str(work / "snps.txt"))
        assert execute(Run("tiny", "exactlmm", "loco"), request, work / name).ok
        found[name] = Result("exactlmm", "loco", read_null_json(work / f"{name}.null.json"),
                             read_assoc_frame(work / f"{name}.assoc.tsv"))
    return found


def _as_tool(scan: Result, tool: str, *, flip: bool = False) -> Result:
    """Our scan dressed as ``tool``'s run: its statistics filled from our p_wald, β negated with
    ``flip``."""
    assoc = scan.assoc.copy()
    for statistic in registry.statistics_of(tool):
        assoc[statistic] = scan.assoc[panel.REGISTRY.reference_statistic(tool, statistic)
                                      or statistic]
    for statistic in set(registry.STATISTICS) - set(registry.statistics_of(tool)):
        assoc[statistic] = math.nan
    if flip:
        assoc["beta"] = -assoc["beta"]
    return Result(tool, "loco", {**scan.null, "tool": tool}, assoc)


def _violations(ours: Result, peer: Result, entries: list[dict]) -> list[str]:
    table = concordance([ours, peer], dataset="tiny", alpha=1e-5)
    return check_tolerances(table, [{**entry, "dataset": "tiny"} for entry in entries])


@pytest.mark.parametrize("tool", APPROXIMATE_LOCO)
def test_bounds_pass_a_faithful_run_and_fail_a_flipped_or_shuffled_one(scans, tool):
    entries = bounds_of(tool)
    ours = scans["ours"]
    assert _violations(ours, _as_tool(ours, tool), entries) == []
    flipped = _violations(ours, _as_tool(ours, tool, flip=True), entries)
    assert any("pearson_r_beta" in message for message in flipped), flipped
    shuffled = _violations(ours, _as_tool(scans["shuffled"], tool), entries)
    for statistic in {entry.get("statistic", "p_wald") for entry in entries}:
        assert any(f"{statistic}: pearson_r = " in message for message in shuffled), (
            statistic, shuffled)
