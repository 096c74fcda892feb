"""The tool registry is the one list of tools: schema, envs, runners and runs table follow it."""

from __future__ import annotations

import copy
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from import_blocker import BLOCKED, SOURCE

from exactlmm.errors import InputError
from lmmcompare import registry
from lmmcompare.runners import RunRequest
from lmmcompare.runs import (
    ASSOC_JOB_METRICS,
    ASSOC_LOG,
    ASSOC_PREFIX,
    Run,
    configured_modes,
    runs_skipped_in_config,
    scheduled_runs,
)
from lmmcompare.workflow_config import check_schema_follows_registry, validated

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


def test_schema_follows_the_registry():
    """The schema names no tool (a tool added to the registry needs no schema edit): an entry
    without a command is a registry tool's, one with a command a config tool's; its modes,
    pair modes and statistics are the registry's (checked whenever a config is validated, and
    a drifted copy is an error); the configs name registry tools or define their own."""
    tools = SCHEMA["properties"]["tools"]
    assert "properties" not in tools and tools["additionalProperties"] == {
        "if": {"required": ["command"]}, "then": {"$ref": "#/$defs/config_tool"},
        "else": {"$ref": "#/$defs/tool"}}
    tolerance = SCHEMA["$defs"]["tolerance"]["properties"]
    assert "enum" not in tolerance["tool_a"] and "enum" not in tolerance["tool_b"]
    check_schema_follows_registry(SCHEMA)
    drifted = copy.deepcopy(SCHEMA)
    drifted["$defs"]["tool"]["properties"]["modes"]["items"]["enum"].remove("none")
    with pytest.raises(RuntimeError, match="the modes"):
        check_schema_follows_registry(drifted)
    for config in (ROOT / "config.yaml", ROOT / "config/ci.yaml"):
        given = yaml.safe_load(config.read_text()).get("tools") or {}
        assert {name for name, spec in given.items() if "command" not in spec} <= set(
            registry.TOOLS), config


@pytest.mark.parametrize("name", list(registry.TOOLS))
def test_every_tool_has_a_runner_and_an_env(name):
    tool = registry.get(name)
    assert callable(tool.load_runner().run)
    env = yaml.safe_load((ROOT / tool.env).read_text())
    assert "${LMM_COMPARE_ROOT}" in str(env["dependencies"]), tool.env
    assert tool.modes and set(tool.statistics) >= {"p_wald"}
    for mode in set(registry.MODES) - set(tool.modes):
        assert tool.why_not(mode).startswith(f"{tool.label} has no '{mode}' mode: ")


def test_registry_rejects_an_inconsistent_entry():
    base = registry.get("fastlmm")
    with pytest.raises(ValueError, match="mode_gaps must explain exactly"):
        registry.Tool(base.name, base.label, base.modes, base.statistics, True, base.runner,
                      base.to_standard, base.summary)
    with pytest.raises(ValueError, match="unknown modes or statistics"):
        registry.Tool("x", "X", ("fixed", "lmm9"), ("p_wald",), True, "m", base.to_standard, "")
    with pytest.raises(ValueError, match="reference_modes must be modes it has"):
        registry.Tool("x", "X", registry.MODES, ("p_wald",), True, "m", base.to_standard, "",
                      reference_modes={"lmm9": "fixed"})
    with pytest.raises(InputError, match="unknown tool 'plink'; the registry has exactlmm"):
        registry.get("plink")


def test_reference_is_ours_and_first():
    assert next(iter(registry.TOOLS)) == registry.REFERENCE == "exactlmm"
    assert registry.REFERENCE not in registry.peers()


def test_runs_table_from_a_config():
    sim = {"simulate": {"n_samples": 50, "n_snps": 100}}
    config = validated({
        "datasets": {"a": {**sim, "skip": ["pylmm:refit"]}, "b": {**sim, "skip": ["gemma"]}},
        "tools": {"fastlmm": {"modes": []}, "gemma": {"modes": ["fixed", "refit"]}},
    })
    modes = configured_modes(config)
    assert modes["exactlmm"] == registry.get("exactlmm").modes  # left out: all its modes
    assert modes["fastlmm"] == () and modes["gemma"] == ("fixed", "refit")
    runs = [run for run in scheduled_runs(config) if run.tool in ("exactlmm", "pylmm", "gemma")]
    assert runs == [
        Run("a", "exactlmm", "fixed"), Run("a", "exactlmm", "refit"), Run("a", "exactlmm", "loco"),
        Run("a", "pylmm", "fixed"), Run("a", "gemma", "fixed"), Run("a", "gemma", "refit"),
        Run("b", "exactlmm", "fixed"), Run("b", "exactlmm", "refit"), Run("b", "exactlmm", "loco"),
        Run("b", "pylmm", "fixed"), Run("b", "pylmm", "refit"),
    ]
    assert Run("a", "plink2", "none") in scheduled_runs(config)
    assert runs_skipped_in_config(config) == [
        Run("a", "pylmm", "refit"), Run("b", "gemma", "fixed"), Run("b", "gemma", "refit")
    ]
    with pytest.raises(InputError, match="config error at tools/bolt9: not a tool of the registry"):
        validated({"datasets": {}, "tools": {"bolt9": {"modes": []}}})
    with pytest.raises(InputError, match="config error at tools: unknown tool 'bolt9'"):
        configured_modes({"datasets": {}, "tools": {"bolt9": {"modes": []}}})


def test_one_layout_for_a_run():
    run = Run("hs1940", "gemma", "refit")
    assert run.prefix == ASSOC_PREFIX.format(dataset="hs1940", tool="gemma", mode="refit")
    assert run.null_json == "results/assoc/hs1940/gemma.refit.null.json"
    assert run.assoc_tsv == "results/assoc/hs1940/gemma.refit.assoc.tsv"
    assert run.log == ASSOC_LOG.format(**run.as_dict())
    assert run.job_metrics == ASSOC_JOB_METRICS.format(**run.as_dict())
    assert Run.from_dict(run.as_dict()) == run
    assert str(run) == "hs1940: gemma refit"


def test_a_tool_run_needs_neither_pandas_nor_matplotlib(make_plink, tmp_path):
    """What a tool's conda env runs (scripts/run_tool.py → lmmcompare.runs.execute) imports no
    matplotlib or snakemake, and our own run (or a skipped one) no pandas either: a peer's
    runner reads the peer's table with pandas (the one reader of every result format,
    lmmcompare.formats), which its env installs."""
    prefix = make_plink(tmp_path, n=50, m=120, seed=3)
    body = f"""
from exactlmm.cli import main
from lmmcompare.runners import RunRequest
from lmmcompare.runs import Run, execute
assert main(["kinship", "--bfile", "{prefix}", "--no-progress", "--out", "{tmp_path}/k"]) == 0
(open("{tmp_path}/snps.txt", "w")).write("rs1\\nrs2\\nrs3\\n")
request = RunRequest(bfile="{prefix}", pheno=None, mpheno=1, covar=None,
                     kinship="{tmp_path}/k.kinship.txt", extract="{tmp_path}/snps.txt")
for tool, mode in RUNS:
    outcome = execute(Run("toy", tool, mode), request, "{tmp_path}/" + tool + mode)
    print(tool, mode, outcome.status)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
"""
    runs = (("exactlmm", "fixed"), ("gemma", "fixed"))
    done = subprocess.run([sys.executable, "-c", SOURCE + f"RUNS = {runs!r}" + body],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["exactlmm fixed ok", "gemma fixed skipped"]
    no_plots = SOURCE.replace(repr(BLOCKED), repr(("matplotlib", "snakemake")))
    done = subprocess.run([sys.executable, "-c", no_plots + "RUNS = [('gemma', 'refit')]" + body],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() in ("gemma refit ok", "gemma refit skipped")  # without GEMMA


def test_comparison_modules_import_lazily():
    """lmmcompare's registry and runs can be imported where pandas is missing (common.smk and
    the tool envs); the table and plot modules are the ones that need it."""
    for name in ("lmmcompare", "lmmcompare.registry", "lmmcompare.runs", "lmmcompare.params"):
        importlib.import_module(name)
    done = subprocess.run(
        [sys.executable, "-c", SOURCE + "import lmmcompare.registry, lmmcompare.runs"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr


def test_provenance_does_not_depend_on_the_cores():
    """threads reach the tool but not the recorded parameters: same config, same bytes."""
    one = RunRequest("b", None, 1, None, "k.txt", "s.txt", threads=1).as_dict()
    four = RunRequest("b", None, 1, None, "k.txt", "s.txt", threads=4).as_dict()
    assert one == four and "threads" not in one


def test_a_tool_jobs_panel_needs_no_pyyaml():
    """A tool's job (scripts/run_tool.py, in the tool's conda env: no pyyaml) resolves the
    config's panel: ``lmmcompare.panel.of`` imports the config module, which reads YAML only
    when it reads the schema."""
    no_yaml = SOURCE.replace(repr(BLOCKED), repr(("yaml",)))
    body = """
from lmmcompare import panel
tools = panel.of({"tools": {}, "datasets": {}})
assert "exactlmm" in tools.runnable(), tools.runnable()
assert "yaml" not in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", no_yaml + body], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
