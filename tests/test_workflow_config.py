"""Tests for lmmcompare.workflow_config, without Snakemake: the schema's defaults filled in (never
re-typed), one-line config errors naming the key, the phenotype model checked by the simulator's
own rule, and the study's scenarios expanded into seeded replicate datasets."""

from __future__ import annotations

import copy

import pytest
import yaml

from exactlmm.errors import InputError
from lmmcompare import workflow_config
from lmmcompare.simulate import check_phenotype_model
from lmmcompare.workflow_config import (
    SCHEMA,
    ConfigError,
    datasets,
    expand_scenarios,
    replicate_seed,
    source_of,
    validated,
)

SIM = {"simulate": {"n_samples": 50, "n_snps": 100}}
NULL_SCENARIO = {"simulate": {"n_samples": 50, "n_snps": 100, "n_chromosomes": 2,
                              "null_chromosomes": 1}}


def _error(config: dict) -> str:
    with pytest.raises(InputError) as caught:
        validated(config)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults_come_from_the_schema():
    config = validated({"datasets": {"a": copy.deepcopy(SIM), "hs": {"plink": {"source": "x"}}},
                        "study": {"scenarios": {"s": {"semi_synthetic": {"genotypes": "hs",
                                                                       "null_chromosomes": 1}}}},
                        "tools": {"gemma": {"modes": ["refit"]}}})
    phenotype_model = yaml.safe_load(SCHEMA.read_text())["$defs"]["phenotype_model"]
    h2_default = phenotype_model["properties"]["h2"]["default"]
    assert config["datasets"]["a"]["simulate"]["h2"] == h2_default
    assert config["study"]["scenarios"]["s"]["semi_synthetic"]["h2"] == h2_default
    assert config["study"]["scenarios"]["s"]["replicates"] == 20 and config["study"]["seed"] == 1
    assert config["tools"]["gemma"]["time_limit"] is None and config["scan_chunks"] == 1
    assert config["datasets"]["a"]["skip"] == [] and config["datasets"]["a"]["kinship"] is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"datasets": {"bad": {"kinship": "centered"}}},
         "config error at datasets/bad: give exactly one of 'simulate' or 'msprime' or 'plink', "
         "found neither"),
        ({"datasets": {"bad": {"simulate": {"n_samples": 50, "n_snps": 100, "h2": 1.5}}}},
         "config error at datasets/bad/simulate/h2: 1.5 is greater than or equal to the maximum "
         "of 1. Expected: Total heritability"),
        ({"datasets": {"bad": {**SIM, "skip": ["plink"]}}},
         "config error at datasets/bad/skip/0: 'plink' is not a tool"),
        ({"datasets": {"bad": {"simulate": {"n_samples": 50, "n_snps": 100, "h2": 0.2,
                                            "n_causal": 2, "causal_h2": 0.3}}}},
         "config error at datasets/bad/simulate: causal_h2 must satisfy 0 <= causal_h2 < h2 = "
         "0.2 (got 0.3)"),
        ({"datasets": {"a": SIM}, "study": {"scenarios": {"s": {"msprime": {
            "n_samples": 50, "n_snps": 100, "n_causal": 3}}}}},
         "config error at study/scenarios/s/msprime: n_causal = 3 and causal_h2 = 0.0 disagree"),
        ({"datasets": {"a": SIM}, "study": {"scenarios": {"s": {"semi_synthetic": {
            "genotypes": "a", "n_causal": 1, "causal_h2": 0.1}}}}},
         "config error at study/scenarios/s/semi_synthetic/genotypes: 'a' is not a dataset with "
         "plink genotypes"),
        ({"datasets": {"a": SIM}, "tolerances": [{"tool_a": "exactlmm", "tool_b": "gemma9"}]},
         "config error at tolerances/0/tool_b: 'gemma9' is not a tool of the panel"),
        ({"datasets": {"a": SIM}, "tolerances": [{"tool_a": "exactlmm", "tool_b": "gemma",
                                                 "dataset": "b"}]},
         "config error at tolerances/0: dataset 'b' is not one of the datasets (a)"),
        ({"datasets": {"a": {"plink": {"source": "x", "phenotype": {"fam_column": None}}}}},
         "config error at datasets/a/plink/phenotype: give a phenotype file or a fam_column"),
        ({"datasets": {"a": SIM}, "tolerances": [{"tool_a": "exactlmm", "tool_b": "gemma",
                                                 "max_abs_dif_log10p": 1e-4}]},
         "config error at tolerances/0/max_abs_dif_log10p: not a metric of the concordance "
         "table"),
        ({"datasets": {"a": SIM}, "tolerances": [{"tool_a": "exactlmm", "tool_b": "gemma",
                                                 "min_pearson_r": float("nan")}]},
         "config error at tolerances/0/min_pearson_r: nan is not a finite number"),
        ({"datasets": {}, "study": {"scenarios": {"null": {"simulate": {
            "n_samples": 50, "n_snps": 100, "n_chromosomes": 2}}}}},
         "config error at study/scenarios/null/simulate: n_causal is 0 and no chromosome is "
         "left without effects (null_chromosomes: 0): the scenario has neither causal SNPs "
         "(power) nor truly null SNPs (calibration); give null_chromosomes >= 1"),
        ({"datasets": {}, "study": {"scenarios": {"s": {"skip": ["regenie"], "simulate": {
            "n_samples": 50, "n_snps": 100, "n_chromosomes": 2, "null_chromosomes": 1}}}}},
         "config error at study/scenarios/s/skip/0: 'regenie' is not a tool"),
        ({"datasets": {"a": {**SIM, "skip": ["gemma"]}},
          "tolerances": [{"tool_a": "exactlmm", "tool_b": "gemma", "dataset": "a"}]},
         "config error at tolerances/0: gemma is skipped on dataset 'a' (datasets/a/skip): the "
         "bound could never be checked"),
    ],
    ids=["no-source", "h2-out-of-range", "unknown-tool-in-skip", "causal-h2-above-h2",
         "n-causal-without-causal-h2", "semi-synthetic-without-plink", "unknown-tolerance-tool",
         "unknown-tolerance-dataset", "no-phenotype", "misspelt-bound", "nan-bound",
         "null-scenario-without-null-snps", "misspelt-scenario-skip",
         "tolerance-on-a-skipped-tool"],
)
def test_a_bad_config_is_one_line_naming_the_key(config: dict, message: str):
    assert _error(copy.deepcopy(config)).startswith(message)


def test_the_phenotype_model_rule_is_the_simulators():
    """The config check and the simulator give the same words: one rule, one place."""
    parameters = {"n_samples": 50, "n_snps": 100, "h2": 0.4, "n_causal": 0, "causal_h2": 0.1}
    with pytest.raises(InputError) as simulator:
        check_phenotype_model(**parameters)
    config_message = _error({"datasets": {"x": {"simulate": parameters}}})
    assert config_message == ("config error at datasets/x/simulate: "
                              + str(simulator.value).removeprefix("simulate: "))


def test_replicate_seeds_depend_on_scenario_and_replicate_only():
    seeds = {replicate_seed(7, s, r) for s in ("null", "h2_0.5") for r in range(50)}
    assert len(seeds) == 100 and all(0 <= s < 2**63 for s in seeds)
    assert replicate_seed(7, "null", 3) == replicate_seed(7, "null", 3)
    assert replicate_seed(8, "null", 3) != replicate_seed(7, "null", 3)


def test_scenarios_expand_to_seeded_replicate_datasets():
    config = validated({"datasets": {}, "study": {"seed": 5, "scenarios": {
        "null": {"replicates": 2, "simulate": {**NULL_SCENARIO["simulate"], "seed": 99},
                 "skip": ["pylmm:refit"]},
        "h2_high": {"replicates": 1, **copy.deepcopy(NULL_SCENARIO)},
    }}})
    replicates = expand_scenarios(config["study"])
    assert list(replicates) == ["null-r000", "null-r001", "h2_high-r000"]
    first = replicates["null-r000"]
    assert first["simulate"]["seed"] == replicate_seed(5, "null", 0)  # not the 99 given
    assert first["study"] == {"scenario": "null", "replicate": 0}
    assert first["skip"] == ["pylmm:refit"] and first["kinship"] is None
    assert replicates["null-r001"]["simulate"]["seed"] != first["simulate"]["seed"]
    assert list(datasets(config)) == list(replicates)
    assert workflow_config.per_causal_h2(config["study"]) == {}


def test_every_dataset_once_and_at_least_one():
    config = validated({"datasets": {"s-r000": copy.deepcopy(SIM)},
                        "study": {"scenarios": {"s": {"replicates": 1,
                                                      **copy.deepcopy(NULL_SCENARIO)}}}})
    with pytest.raises(ConfigError, match="datasets/s-r000: the name is taken by a study"):
        datasets(config)
    with pytest.raises(InputError, match="give at least one dataset or one study scenario"):
        datasets(validated({"datasets": {}}))
    assert source_of({"plink": {}}) == "plink"
    with pytest.raises(ValueError, match="found \\['simulate', 'plink'\\]"):
        source_of({"simulate": {}, "plink": {}})
