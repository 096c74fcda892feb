"""Tools defined in the config (lmmcompare.config_tools): the placeholders and their files, the
run through the skeleton (lmmcompare.runs.execute), its table on our SNPs, and every way such a
tool fails as a skipped run with its reason: a non-zero exit, a missing output, a table of other
SNPs, alleles that contradict ours (each "failed: …", marked failed), a time-out, an unknown
placeholder, a program not installed (skipped, not failed).

The "tool" of these tests is the shell copying a table the test wrote: a GEMMA-format table on
our SNPs (numbers made up from ours), as written, with its alleles consistently swapped (β and
frequency mirrored: the table is right), or with only its allele labels swapped (wrong).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from peer_helpers import toy_request

from exactlmm.io.grm import read_grm
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.plink import open_plink, read_genotypes
from exactlmm.io.results import TESTED
from lmmcompare import config_tools, panel, registry
from lmmcompare.imported import our_snps
from lmmcompare.runners import SkipRun
from lmmcompare.runners._common import load
from lmmcompare.runs import Run, configured_time_limits, execute, read_assoc_frame
from lmmcompare.workflow_config import ConfigError, schema, validated

GEMMA_HEADER = ("chr", "rs", "ps", "n_miss", "allele1", "allele0", "af", "beta", "se", "p_wald")


def config_with(**tool: object) -> dict:
    """A validated config defining ``mine`` (defaults: a copy of ``table.txt``)."""
    spec = {"command": "cp TABLE {workdir}/out.txt", "output": "{workdir}/out.txt",
            "format": "gemma", "modes": ["fixed"], **tool}
    return validated({"datasets": {}, "tools": {"mine": spec}})


def mine(config: dict) -> config_tools.ConfigTool:
    tool = panel.of(config).tool("mine")
    assert isinstance(tool, config_tools.ConfigTool)
    return tool


@pytest.fixture
def toy(tmp_path, make_plink):
    """The toy request, ours on it, and a GEMMA-format table of our tested SNPs."""
    request = toy_request(make_plink, tmp_path)
    inputs = load(request, with_kinship=False)
    ours = our_snps(inputs)
    rows = np.flatnonzero(ours.stats["errcode"] == TESTED)
    rng = np.random.default_rng(5)
    table = {
        "chr": ours.columns["chrom"][rows], "rs": ours.columns["snp"][rows],
        "ps": ours.columns["pos"][rows], "n_miss": np.zeros(rows.size, dtype=int),
        "allele1": ours.columns["a1"][rows], "allele0": ours.columns["a2"][rows],
        "af": np.round(ours.stats["af"][rows], 3), "beta": ours.ols_beta[rows],
        "se": rng.uniform(0.1, 0.2, rows.size), "p_wald": rng.uniform(1e-6, 1.0, rows.size),
    }
    return {"dir": tmp_path, "request": request, "ours": ours, "rows": rows, "table": table}


def write_gemma(path: Path, table: dict) -> Path:
    lines = ["\t".join(GEMMA_HEADER)]
    lines += ["\t".join(str(value) for value in row)
              for row in zip(*(table[name].tolist() for name in GEMMA_HEADER), strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_mine(toy, config: dict, name: str = "out", time_limit: float | None = None):
    return execute(Run("toy", "mine", "fixed"), toy["request"], toy["dir"] / name,
                   time_limit=time_limit, tool=mine(config))


def copy_config(toy, table: dict, **tool: object) -> dict:
    path = write_gemma(toy["dir"] / "table.txt", table)
    return config_with(command=f"cp {path} {{workdir}}/out.txt", **tool)


# ------------------------------------------------------------------------- the tool entry


def test_a_config_tool_is_a_tool_of_the_panel():
    config = config_with(modes=["none", "fixed"], exact=True, time_limit=5,
                         command="OMP_NUM_THREADS=1 gemma -bfile {bfile} -lmm 1")
    tools = panel.of(config)
    assert list(tools)[:len(registry.TOOLS)] == list(registry.TOOLS)
    tool = tools.tool("mine")
    assert tools.origin("mine") == "config" and tools.runnable()[-1] == "mine"
    assert tool.modes == ("fixed", "none") and tool.exact and tool.kind == "exact"
    assert tool.statistics == ("p_wald", "p_lrt", "p_score")  # the gemma preset's
    assert tool.needs.programs == ("sh", "gemma")
    assert tools.reference_mode("mine", "none") == "fixed"  # compared with our fixed mode
    assert tool.why_not("refit").startswith("mine has no 'refit' mode: its config entry")
    assert configured_time_limits(config)["mine"] == 5
    assert "gemma_wald" not in panel.REGISTRY and "exact: exactlmm" in tools.kinds()
    assert "JAMMA, mine (config); approximate" in tools.kinds()
    # The caption names the tools that have runs only.
    assert tools.kinds(["exactlmm", "mine"]) == "exact: exactlmm, mine (config)"


@pytest.mark.parametrize(("spec", "message"), [
    ({"format": "regenei"}, "config error at tools/mine/format: unknown format preset 'regenei'"),
    ({"format": "emmax"}, "config error at tools/mine/format: preset 'emmax' names no allele"),
    ({"format": {"columns": {"snp": "ID"}}},
     "config error at tools/mine/format: give at least one p-value column"),
    ({"output": None}, "config error at tools/mine/output: None is not of type 'string'"),
    ({"modes": ["fixed", "sometimes"]}, "config error at tools/mine/modes/1: 'sometimes' is not"),
    ({"versio": "x"}, "config error at tools/mine: Additional properties are not allowed"),
])
def test_a_bad_config_tool_is_one_line_naming_the_key(spec, message):
    with pytest.raises(ConfigError) as error:
        config_with(**spec)
    assert str(error.value).startswith(message), str(error.value)


def test_a_config_tool_cannot_take_a_registry_name_and_a_registry_name_takes_no_command():
    spec = {"command": "gemma", "output": "x", "format": "gemma", "modes": ["refit"]}
    with pytest.raises(ConfigError, match="tools/gemma: the name 'gemma' is taken by the "
                                          "registry's tool"):
        validated({"datasets": {}, "tools": {"gemma": spec}})
    with pytest.raises(ConfigError, match="tools/mine: not a tool of the registry"):
        validated({"datasets": {}, "tools": {"mine": {"modes": ["fixed"]}}})
    with pytest.raises(ConfigError, match="config error at tools: 'my-tool' does not match"):
        validated({"datasets": {}, "tools": {"my-tool": spec}})


def test_placeholders_fill_and_double_braces_are_literal():
    values = {"bfile": "/w/data", "threads": "3"}.__getitem__
    assert config_tools.fill("x -b {bfile} -t {threads} awk '{{print $1}}'", values,
                             "command") == "x -b /w/data -t 3 awk '{print $1}'"
    with pytest.raises(SkipRun, match=r"unknown placeholder \{kinshp\} in the command; the "
                                      r"placeholders are \{bfile\}, \{bed\}"):
        config_tools.fill("x {kinshp}", values, "command")
    assert config_tools.program_of("OMP_NUM_THREADS=1 /usr/bin/gemma -x") == "/usr/bin/gemma"
    assert config_tools.program_of("{workdir}/run.sh") is None


def test_the_schema_documents_every_placeholder():
    config_tools.check_schema_follows_placeholders(schema())
    drifted = copy.deepcopy(schema())
    del drifted["$defs"]["placeholders"]["properties"]["grm"]
    with pytest.raises(RuntimeError, match="placeholders"):
        config_tools.check_schema_follows_placeholders(drifted)


# ------------------------------------------------------------------------- runs


def test_the_placeholder_files_are_our_inputs(toy):
    """Every file placeholder holds what its schema description says: exactly our analysed
    samples and tested SNPs, our phenotype, covariates (with and without the intercept),
    kinship (text and GCTA GRM), SNP list."""
    kept = toy["dir"] / "kept"
    command = (f"mkdir -p {kept} && cp {{bed}} {{bim}} {{fam}} {{pheno}} {{pheno_plain}} "
               f"{{covar}} {{covar_plain}} {{kinship}} {{snplist}} {{grm}}.grm.bin "
               f"{{grm}}.grm.id {kept}/ && echo {{threads}} {{seed}} {{mode}} > {kept}/values "
               f"&& cp {toy['dir'] / 'table.txt'} out.txt")
    write_gemma(toy["dir"] / "table.txt", toy["table"])
    outcome = run_mine(toy, config_with(command=command, output="out.txt", seed=7))
    assert outcome.ok, outcome.reason
    request = toy["request"]
    inputs = load(request)
    n = inputs.n_samples
    tested = inputs.snp_index[toy["rows"]]
    data = open_plink(kept / "data")
    assert data.n_samples == n == 159 and data.snp.tolist() == inputs.dataset.snp[tested].tolist()
    np.testing.assert_array_equal(
        read_genotypes(data),
        read_genotypes(inputs.dataset, inputs.samples.fam_index, tested))
    fam = [line.split() for line in (kept / "data.fam").read_text().splitlines()]
    assert [float(row[5]) for row in fam] == inputs.y.tolist()
    pheno = (kept / "pheno.txt").read_text().splitlines()
    assert pheno[0] == "FID IID pheno" and len(pheno) == n + 1
    assert [float(v) for v in (kept / "pheno_plain.txt").read_text().split()] == inputs.y.tolist()
    covar = (kept / "covar.txt").read_text().splitlines()
    assert covar[0].split()[:2] == ["FID", "IID"] and len(covar[0].split()) == 4
    plain = np.loadtxt(kept / "covar_plain.txt")
    np.testing.assert_array_equal(plain, inputs.covariates)
    assert (plain[:, 0] == 1).all()
    np.testing.assert_array_equal(read_kinship(kept / "kinship.txt", n), inputs.kinship)
    np.testing.assert_allclose(read_grm(kept / "kinship.grm.bin"), inputs.kinship, rtol=1e-6)
    assert (kept / "snps.txt").read_text().split() == inputs.dataset.snp[tested].tolist()
    assert (kept / "values").read_text().split() == ["1", "7", "fixed"]


def test_a_run_puts_the_table_on_our_snps(toy):
    outcome = run_mine(toy, copy_config(toy, toy["table"], version="echo mine 1.0"))
    assert outcome.ok, outcome.reason
    null = outcome.null
    assert null["tool"] == "mine" and null["version"] == "mine 1.0" and null["gamma"] is None
    assert null["origin"] == "config" and null["likelihood"] is None
    rows, table = toy["rows"], toy["table"]
    assert null["match"]["by_id"] == rows.size and null["match"]["flipped"] == 0
    assert null["provenance"]["parameters"]["command"].startswith("cp ")
    assoc = read_assoc_frame(toy["dir"] / "out.assoc.tsv")
    np.testing.assert_allclose(assoc["beta"].to_numpy()[rows], table["beta"], rtol=1e-9)
    np.testing.assert_allclose(assoc["p_wald"].to_numpy()[rows], table["p_wald"], rtol=1e-9)
    # (the table holds %.10g.)  n and af are ours; SNPs we cannot test keep our errcode
    np.testing.assert_allclose(assoc["af"].to_numpy(), toy["ours"].stats["af"], rtol=1e-9)
    assert (assoc["errcode"].to_numpy()[rows] == TESTED).all()
    untested = np.setdiff1d(np.arange(assoc.shape[0]), rows)
    assert assoc["errcode"].to_numpy()[untested].tolist() == ["MONOMORPHIC"]
    assert assoc["p_lrt"].isna().all()  # the table has no p_lrt column


def test_a_table_with_its_alleles_swapped_consistently_is_flipped_back(toy):
    table = dict(toy["table"], allele1=toy["table"]["allele0"], allele0=toy["table"]["allele1"],
                 beta=-toy["table"]["beta"], af=np.round(1 - toy["table"]["af"], 3))
    outcome = run_mine(toy, copy_config(toy, table))
    assert outcome.ok, outcome.reason
    assert outcome.null["match"]["flipped"] == toy["rows"].size
    beta = read_assoc_frame(toy["dir"] / "out.assoc.tsv")["beta"].to_numpy()
    np.testing.assert_allclose(beta[toy["rows"]], toy["table"]["beta"], rtol=1e-9)


@pytest.mark.parametrize("with_af", [True, False], ids=["by-frequency", "by-effect-direction"])
def test_a_table_whose_alleles_contradict_ours_is_skipped(toy, with_af):
    """Allele labels swapped but the numbers left as they were: β counts the allele the table
    calls the other one.  Caught by the effect-allele frequency when the table has one, else
    by β's direction against our least-squares effect."""
    table = dict(toy["table"], allele1=toy["table"]["allele0"], allele0=toy["table"]["allele1"])
    fmt = "gemma" if with_af else {"columns": {"snp": "rs", "effect_allele": "allele1",
                                               "other_allele": "allele0", "beta": "beta",
                                               "se": "se", "p_wald": "p_wald"}}
    outcome = run_mine(toy, copy_config(toy, table, format=fmt))
    assert not outcome.ok
    expected = ("the effect-allele frequency of 57 of 59 SNPs is our other allele's" if with_af
                else "its β correlates negatively")
    assert outcome.failed and outcome.reason.startswith(f"failed: mine: {expected}"), outcome


def test_a_failing_command_is_a_skipped_run_with_its_output(toy):
    outcome = run_mine(toy, config_with(command="echo 'bad input' >&2; exit 3"))
    assert not outcome.ok
    assert outcome.failed and outcome.reason == "failed: mine: sh exited with status 3: bad input"


def test_a_missing_output_is_a_skipped_run(toy):
    outcome = run_mine(toy, config_with(command="true", output="{workdir}/nothing.txt"))
    assert outcome.failed and outcome.reason == (
        "failed: mine: the command exited with status 0 but wrote no {workdir}/nothing.txt")


def test_a_run_past_its_time_limit_is_skipped_as_timed_out(toy):
    outcome = run_mine(toy, config_with(command="sleep 60", time_limit=1), time_limit=1.0)
    assert not outcome.ok and outcome.timed_out and not outcome.failed
    assert outcome.reason == "timed out: stopped at the time limit of 1 s"


def test_an_unknown_placeholder_or_program_is_a_skipped_run(toy):
    outcome = run_mine(toy, config_with(command="cp {kinshp} out.txt"))
    assert outcome.reason.startswith("unknown placeholder {kinshp} in the command")
    assert not outcome.failed
    outcome = run_mine(toy, config_with(command="no_such_program_xyz {bfile}"))
    assert outcome.reason == ("mine is not installed ('no_such_program_xyz' not found on "
                              "PATH); install it, or change tools/mine/command")


def test_a_table_of_other_snps_is_a_skipped_run(toy):
    table = dict(toy["table"], rs=np.char.add("other", toy["table"]["rs"]),
                 ps=toy["table"]["ps"] + 1)
    outcome = run_mine(toy, copy_config(toy, table))
    assert outcome.failed and outcome.reason == (
        "failed: mine: {workdir}/out.txt: none of the 59 rows matches one of 60 SNPs of the "
        "dataset (by id, or by chromosome:position:alleles; 0 paired rows had other alleles)")


def test_rows_it_leaves_out_are_not_reported_and_keep_raw_keeps_its_output(toy):
    """Three of our tested SNPs missing from its table are NOT_REPORTED; with keep_raw the
    output and the console are kept (the skeleton's)."""
    table = {name: values[3:] for name, values in toy["table"].items()}
    config = copy_config(toy, table)
    raw = toy["dir"] / "raw"
    request = dataclasses.replace(toy["request"], keep_raw=str(raw))
    outcome = execute(Run("toy", "mine", "fixed"), request, toy["dir"] / "kept",
                      tool=mine(config))
    assert outcome.ok and outcome.null["match"]["ours_unmatched"] == 4  # 3 + the constant SNP
    errcode = read_assoc_frame(toy["dir"] / "kept.assoc.tsv")["errcode"].to_numpy()
    assert errcode[toy["rows"][:3]].tolist() == ["NOT_REPORTED"] * 3
    assert sorted(p.name for p in raw.iterdir()) == ["console.txt", "out.txt"]
