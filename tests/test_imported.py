"""Results made elsewhere (lmmcompare.imported): the config's entries as tools of the panel and
runs, a table staged (sha256, archive member) and put on our SNPs as a run, the matching table,
and the patterns of study.imported.

The tables are the format fixtures on their dataset (tests/data/formats: README.md lists their
deliberate oddities, which set the counts expected here).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from exactlmm.errors import InputError
from exactlmm.io.results import TESTED
from lmmcompare import formats, panel
from lmmcompare.imported import (
    check_pattern,
    import_results,
    imported_runs,
    matching_table,
    study_results,
)
from lmmcompare.runners import RunRequest
from lmmcompare.runners._common import load as load_inputs
from lmmcompare.runs import Run, load, read_assoc_frame, scheduled_runs
from lmmcompare.workflow_config import ConfigError, datasets, validated

FIXTURES = Path(__file__).resolve().parent / "data" / "formats"
SIM = {"simulate": {"n_samples": 50, "n_snps": 100}}


def result_spec(**given: object) -> dict:
    return {"file": str(FIXTURES / "tiny.regenie.gz"), "archive": None, "archive_sha256": None,
            "sha256": None, "format": "regenie", "mode": "loco", "exact": False,
            "version": "REGENIE v3.4 (hand-written fixture)", **given}


@pytest.fixture
def request_(tmp_path) -> RunRequest:
    """Every SNP of the fixture dataset tested (its kinship is not read by an import)."""
    (tmp_path / "all.snplist").write_text(
        "".join(line.split("\t")[1] + "\n"
                for line in (FIXTURES / "tiny.bim").read_text().splitlines()))
    return RunRequest(bfile=str(FIXTURES / "tiny"), pheno=str(FIXTURES / "tiny.pheno"),
                      mpheno=1, covar=None, kinship="unused", extract=str(tmp_path / "all.snplist"))


def test_imported_tables_are_tools_of_the_panel_and_runs_of_their_datasets():
    config = validated({
        "datasets": {"a": {**SIM, "results": {"regenie_v3": {"file": "a.regenie",
                                                             "format": "regenie",
                                                             "mode": "loco"}}},
                     "b": {**SIM, "results": {"regenie_v3": {"file": "b.regenie.gz",
                                                             "format": "regenie",
                                                             "mode": "none"},
                                              "saige": {"file": "b.saige", "format": "saige",
                                                        "mode": "loco"}}}},
        "tools": {"pylmm": {"modes": []}},
    })
    tools = panel.of(config)
    assert tools.named("imported") == ("regenie_v3", "saige")
    regenie = tools.tool("regenie_v3")
    assert regenie.modes == ("loco", "none") and regenie.statistics == ("p_score",)
    assert not regenie.exact and tools.reference_mode("regenie_v3", "none") == "fixed"
    assert "regenie_v3" not in tools.runnable()
    assert tools.kinds().endswith("regenie_v3 (imported), saige (imported)")
    runs = scheduled_runs(config)
    assert runs[-3:] == [Run("a", "regenie_v3", "loco"), Run("b", "regenie_v3", "none"),
                         Run("b", "saige", "loco")]
    assert not any(run.tool == "regenie_v3" and run.mode == "fixed" for run in runs)


@pytest.mark.parametrize(("results", "tools", "message"), [
    ({"x": {"file": "f", "format": "regenie", "mode": "loco"},
      "gemma": {"file": "f", "format": "gemma", "mode": "refit"}}, {},
     "config error at datasets/a/results/gemma: the name 'gemma' is taken by the registry's "
     "tool"),
    ({"mine": {"file": "f", "format": "regenie", "mode": "loco"}},
     {"mine": {"command": "x", "output": "o", "format": "gemma", "modes": ["refit"]}},
     "config error at datasets/a/results/mine: the name 'mine' is taken by a config tool"),
    ({"x": {"file": "f", "format": "regenei", "mode": "loco"}}, {},
     "config error at datasets/a/results/x/format: unknown format preset 'regenei'"),
    ({"x": {"file": "f", "format": "regenie", "mode": "sometimes"}}, {},
     "config error at datasets/a/results/x/mode: 'sometimes' is not one of"),
    ({"x": {"file": "f", "format": "regenie", "mode": "loco", "sha256": "abc"}}, {},
     "config error at datasets/a/results/x/sha256: 'abc' does not match"),
])
def test_a_bad_results_entry_is_one_line_naming_the_key(results, tools, message):
    with pytest.raises(ConfigError) as error:
        validated({"datasets": {"a": {**SIM, "results": results}}, "tools": tools})
    assert str(error.value).startswith(message), str(error.value)


def test_one_name_on_several_datasets_is_one_tool_of_one_kind():
    entry = {"file": "f", "format": "regenie", "mode": "loco"}
    with pytest.raises(ConfigError, match="datasets/b/results/r/exact: differs from "
                                          "datasets/a/results/r/exact"):
        validated({"datasets": {"a": {**SIM, "results": {"r": {**entry, "exact": True}}},
                                "b": {**SIM, "results": {"r": entry}}}})


def test_study_imports_are_results_of_every_replicate():
    config = validated({"datasets": {}, "study": {
        "scenarios": {"null": {"replicates": 2, "simulate": {
            **SIM["simulate"], "n_chromosomes": 2, "null_chromosomes": 1}}},
        "imported": {"regenie": {"results": "kit_results/{scenario}/{replicate}/y.regenie",
                                 "format": "regenie", "mode": "loco"}}}})
    every = datasets(config)
    assert every["null-r001"]["results"]["regenie"]["file"] == \
        "kit_results/null/r001/y.regenie"
    assert imported_runs(every) == [Run("null-r000", "regenie", "loco"),
                                    Run("null-r001", "regenie", "loco")]
    assert study_results({}, "null", "r000", "null-r000") == {}
    check_pattern("x/{dataset}.txt", "k")
    with pytest.raises(ConfigError, match=r"k: unknown field \{rep\}"):
        check_pattern("x/{scenario}/{rep}.txt", "k")
    with pytest.raises(ConfigError, match=r"k: the pattern must name \{scenario\} and "
                                          r"\{replicate\}"):
        check_pattern("x/{scenario}.txt", "k")
    with pytest.raises(ConfigError, match="study/imported/regenie/results: unknown field"):
        validated({"datasets": {}, "study": {"imported": {"regenie": {
            "results": "{sample}.txt", "format": "regenie", "mode": "loco"}}}})


def test_a_table_is_put_on_our_snps_as_a_run(tmp_path, request_):
    """tiny.regenie.gz (hand-written: our scan in REGENIE's layout) — 5 rows with the alleles
    swapped, one found by position, one on the other strand, one left out, one extra."""
    run = Run("tiny", "regenie_v3", "loco")
    outcome = import_results(run, result_spec(), {"table": result_spec()["file"]}, request_,
                             tmp_path / "r")
    assert outcome.ok, outcome.reason
    null = outcome.null
    sha256 = hashlib.sha256((FIXTURES / "tiny.regenie.gz").read_bytes()).hexdigest()
    assert null["origin"] == "imported" and null["gamma"] is None
    assert null["version"] == "REGENIE v3.4 (hand-written fixture)"
    assert null["match"] == {"format": "regenie", "file": result_spec()["file"],
                             "sha256": sha256, "ours": 60, "theirs": 60, "by_id": 57,
                             "by_position": 1, "flipped": 5, "allele_mismatch": 1,
                             "complement_strand": 1, "strand_ambiguous": 4,
                             "ours_unmatched": 2, "theirs_unused": 2}
    assert null["provenance"]["parameters"]["sha256"] == sha256
    table = read_assoc_frame(tmp_path / "r.assoc.tsv")
    errcode = dict(zip(table["snp"], table["errcode"], strict=True))
    assert errcode["snp13"] == errcode["snp23"] == "NOT_REPORTED"
    assert errcode["snp17"] == "TOOL_FAILED" and errcode["snp7"] == TESTED
    assert table["p_wald"].isna().all() and table["p_score"].notna().sum() == 57
    # a swapped row is back on our a1: its β and frequency mirrored
    rows = {line.split()[2]: line.split() for line in gzip.open(FIXTURES / "tiny.regenie.gz",
                                                                "rt").read().splitlines()[1:]}
    assert rows["snp3"][4] == table.set_index("snp").loc["snp3", "a2"]  # ALLELE1 = our a2
    assert table.set_index("snp").loc["snp3", "beta"] == -float(rows["snp3"][8])


def test_beta_on_a_standardized_trait_is_put_back_on_the_phenotype(tmp_path, request_):
    """Quickdraws' BETA and SE are per sd(y) (its preset's effect_unit): imported, they are
    × sd(y), ddof 1, as its runner does; a column map says the same with ``effect_unit``, and
    without it takes β as given."""
    quickdraws = str(FIXTURES / "tiny.quickdraws.sumstats.gz")
    columns = {"snp": "SNP", "chrom": "CHR", "pos": "POS", "effect_allele": "A2",
               "other_allele": "A1", "beta": "BETA", "se": "SE", "p_wald": "P"}
    tables = {}
    for name, fmt in [("preset", "quickdraws"), ("as_given", {"columns": columns}),
                      ("said", {"columns": columns, "effect_unit": "standardized"})]:
        spec = result_spec(file=quickdraws, format=fmt)
        outcome = import_results(Run("tiny", "qd", "loco"), spec, {"table": quickdraws},
                                 request_, tmp_path / name)
        assert outcome.ok, outcome.reason
        tables[name] = read_assoc_frame(tmp_path / f"{name}.assoc.tsv")
    y = load_inputs(request_, with_kinship=False).y
    sd = np.std(y, ddof=1)
    assert abs(sd - 1.0) > 0.01  # the test can tell the units apart
    for column in ("beta", "se"):
        np.testing.assert_allclose(tables["preset"][column], tables["as_given"][column] * sd,
                                   rtol=1e-8)  # as the table prints them
        np.testing.assert_array_equal(tables["said"][column], tables["preset"][column])
    with pytest.raises(InputError, match="effect_unit must be one of phenotype, standardized, "
                                         "residual, not 'logit'"):
        formats.column_map({"columns": columns, "effect_unit": "logit"})


def test_the_table_may_come_from_an_archive_with_checksums(tmp_path, request_):
    archive = tmp_path / "results.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(FIXTURES / "tiny.regenie.gz", arcname="out/tiny.regenie.gz")
    member_sha = hashlib.sha256((FIXTURES / "tiny.regenie.gz").read_bytes()).hexdigest()
    archive_sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    spec = result_spec(file="out/tiny.regenie.gz", archive=str(archive),
                       archive_sha256=archive_sha, sha256=member_sha)
    run = Run("tiny", "regenie_v3", "loco")
    outcome = import_results(run, spec, {"archive": str(archive)}, request_, tmp_path / "a")
    assert outcome.ok and outcome.null["match"]["file"] == f"{archive}:out/tiny.regenie.gz"
    with pytest.raises(InputError, match="sha256 mismatch"):
        import_results(run, {**spec, "sha256": "0" * 64}, {"archive": str(archive)}, request_,
                       tmp_path / "b")


def test_a_missing_file_or_a_table_of_other_snps_is_a_skipped_run(tmp_path, request_):
    run = Run("tiny", "regenie_v3", "loco")
    outcome = import_results(run, result_spec(file="kit_results/x.regenie"), {}, request_,
                             tmp_path / "m")
    assert outcome.reason == "results file not found: kit_results/x.regenie"
    other = tmp_path / "other.regenie"
    with gzip.open(FIXTURES / "tiny.regenie.gz", "rt") as src:
        other.write_text(src.read().replace(" snp", " xsnp").replace("\n1 ", "\n7 ")
                         .replace("\n2 ", "\n8 "))
    outcome = import_results(run, result_spec(file=str(other)), {"table": str(other)},
                             request_, tmp_path / "o")
    assert outcome.reason.startswith(f"regenie_v3: {other}: none of the 60 rows matches")
    with pytest.raises(InputError, match="sha256 mismatch"):
        import_results(run, result_spec(sha256="1" * 64), {"table": result_spec()["file"]},
                       request_, tmp_path / "s")


def test_the_matching_table_counts_every_foreign_run(tmp_path, request_):
    run = Run("tiny", "regenie_v3", "loco")
    shutil.copytree(FIXTURES, tmp_path / "data")
    spec = result_spec()
    import_results(run, spec, {"table": spec["file"]}, request_, tmp_path / run.prefix)
    missing = Run("tiny", "saige_v1", "loco")
    import_results(missing, result_spec(file="nowhere.txt", format="saige"), {}, request_,
                   tmp_path / missing.prefix)
    table = matching_table([load(run, tmp_path), load(missing, tmp_path)])
    first, second = table.to_dict("records")
    assert first["origin"] == "imported" and first["flipped"] == 5 and first["by_position"] == 1
    assert first["ours_unmatched"] == 2 and first["status"] == "ok"
    assert second["status"] == "skipped" and second["reason"] == \
        "results file not found: nowhere.txt"
    assert np.isnan(second["ours"])
