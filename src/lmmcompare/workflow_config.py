"""The workflow's config: validated against its schema, checked, expanded into datasets.

``workflow/schemas/config.schema.yaml`` is the one home of every key, its description and its
default: :func:`validated` fills the defaults into the config from there (never re-typed here)
and checks it against the schema; :func:`check_semantics` then checks what JSON schema cannot
phrase (one source per dataset, the phenotype model's rule — the simulators' own check,
``lmmcompare.simulate.check_phenotype_model`` — the tools of the config's panel
(``lmmcompare.panel``: config-defined tools and imported results resolved, names unique) and
modes in skip lists and tolerances, a genotype format's settings (the converter's own check),
``study.imported`` patterns, a semi-synthetic scenario naming a PLINK dataset, a null scenario
with chromosomes free of effects: the study's only null SNPs, ``lmmcompare.study``).  The
schema's copies of the registry's modes, of the placeholders and of the converter's settings
are checked against their homes.  Every failure is a :class:`ConfigError`: one line naming the
key.  :func:`datasets` is every dataset the workflow builds: the configured ones, then the
study's replicates (:func:`expand_scenarios`), each with the results ``study.imported`` gives
it.

``workflow/rules/common.smk`` calls these once, when the workflow starts; the tests call them
without Snakemake.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from exactlmm.errors import InputError
from lmmcompare import panel, registry
from lmmcompare.config_tools import check_schema_follows_placeholders
from lmmcompare.simulate import check_phenotype_model

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
"""The config schema of the workflow (in the repository checkout)."""

SIMULATED_SOURCES = ("simulate", "msprime")
"""Sources that simulate genotypes and phenotype (config keys; ``lmmcompare.simulate.
simulator``): Balding–Nichols SNPs, or coalescent chromosomes with recombination."""

SOURCES = (*SIMULATED_SOURCES, "semi_synthetic")
"""How a scenario's data are made (config keys): simulated genotypes, or a phenotype simulated
on a configured dataset's real genotypes."""

DATASET_SOURCES = (*SOURCES, "plink")
"""Where a dataset's genotypes and phenotype come from (one key of its entry)."""


class ConfigError(InputError):
    """A config the workflow cannot run: one line, ``config error at <key>: <problem>``."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"config error at {where}: {problem}")


@functools.cache
def schema(path: Path = SCHEMA) -> dict[str, Any]:
    """The config schema (YAML), read once (pyyaml imported here: a tool's job imports this
    module through ``lmmcompare.panel`` in a conda env without it)."""
    import yaml

    return yaml.safe_load(Path(path).read_text())


def _with_defaults(validator_class: type) -> type:
    """``validator_class`` that also sets every ``default`` of the schema it walks (the
    jsonschema FAQ recipe, as Snakemake's ``validate`` does it)."""
    from jsonschema import validators

    check_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema_part) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, subschema["default"])
        yield from check_properties(validator, properties, instance, schema_part)

    return validators.extend(validator_class, {"properties": set_defaults})


def validated(config: dict[str, Any], schema_path: Path = SCHEMA) -> dict[str, Any]:
    """``config`` with the schema's defaults filled in (in place) and checked against the
    schema, then :func:`check_semantics`; a :class:`ConfigError` for the first problem, with
    what the key expects (its schema description)."""
    from jsonschema import Draft202012Validator

    check_schema_follows_registry(schema(schema_path))
    check_schema_follows_placeholders(schema(schema_path))
    check_schema_follows_convert(schema(schema_path))
    validator = _with_defaults(Draft202012Validator)(schema(schema_path))
    error = next(iter(validator.iter_errors(config)), None)  # the first, as Snakemake's
    if error is not None:
        parts = [str(part) for part in error.absolute_path]
        where = str(PurePosixPath(*parts)) if parts else "(top level)"
        expected = " ".join(str(error.schema.get("description", "")).split())
        raise ConfigError(where, f"{error.message}." + (f" Expected: {expected}" if expected
                                                        else ""))
    check_semantics(config)
    return config


def check_schema_follows_registry(config_schema: Mapping[str, Any]) -> None:
    """The schema's lists of modes, pair modes and statistics are the registry's (which is their
    one home: the schema repeats them so that a config is checked before the workflow starts);
    a ``RuntimeError`` names the one that drifted.  The schema names no tool."""
    defs = config_schema["$defs"]
    found = {
        "modes": defs["tool"]["properties"]["modes"]["items"]["enum"],
        "config tool modes": defs["config_tool"]["properties"]["modes"]["items"]["enum"],
        "imported modes": defs["imported_result"]["properties"]["mode"]["enum"],
        "study import modes": defs["study_import"]["properties"]["mode"]["enum"],
        "pair modes": defs["tolerance"]["properties"]["mode"]["enum"],
        "statistics": defs["tolerance"]["properties"]["statistic"]["enum"],
    }
    wanted = {"modes": registry.MODES, "config tool modes": registry.MODES,
              "imported modes": registry.MODES, "study import modes": registry.MODES,
              "pair modes": registry.pair_modes(), "statistics": registry.STATISTICS}
    for what, values in found.items():
        if tuple(values) != tuple(wanted[what]):
            raise RuntimeError(f"{SCHEMA.name}: the {what} {values} are not the registry's "
                               f"{list(wanted[what])}")


def check_schema_follows_convert(config_schema: Mapping[str, Any]) -> None:
    """The schema's genotype formats and conversion settings are those of
    :mod:`lmmcompare.convert` (``KINDS``; ``OPTIONS``: each setting's default and description,
    whose home it is) and the staging's (:data:`lmmcompare.staging.GENOTYPE_FILES`: a sha256
    key per source file); a ``RuntimeError`` names what drifted."""
    from lmmcompare import convert, staging

    fmt = config_schema["$defs"]["genotype_format"]["properties"]
    if fmt["kind"]["enum"] != list(staging.GENOTYPE_FILES) or \
            list(staging.GENOTYPE_FILES)[1:] != list(convert.KINDS):
        raise RuntimeError(f"{SCHEMA.name}: the genotype formats {fmt['kind']['enum']} are not "
                           f"plink1 and lmmcompare.convert.KINDS {list(convert.KINDS)}")
    for name, (default, description) in convert.OPTIONS.items():
        given = fmt.get(name, {})
        if given.get("default") != default or \
                " ".join(str(given.get("description")).split()) != " ".join(description.split()):
            raise RuntimeError(f"{SCHEMA.name}: genotype_format/{name} is not "
                               "lmmcompare.convert.OPTIONS' (its default and description)")
    files = {name for names in staging.GENOTYPE_FILES.values() for name in names}
    if set(config_schema["$defs"]["sha256"]["properties"]) != files:
        raise RuntimeError(f"{SCHEMA.name}: the sha256 keys are not the source files "
                           f"{sorted(files)}")


def source_of(spec: Mapping[str, Any], sources: tuple[str, ...] = DATASET_SOURCES) -> str:
    """The one key of ``sources`` a dataset's (or a scenario's) entry has; a ``ValueError``
    saying what was found otherwise."""
    given = [source for source in sources if source in spec]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {' or '.join(map(repr, sources))}, found "
                         f"{given or 'neither'}")
    return given[0]


def _check_phenotype_model(where: str, parameters: Mapping[str, Any]) -> None:
    try:
        check_phenotype_model(**parameters)
    except InputError as error:
        raise ConfigError(where, str(error).removeprefix("simulate: ")) from None


def check_semantics(config: Mapping[str, Any]) -> None:
    """What the schema cannot say, on a :func:`validated` config (module docstring)."""
    for name, spec in config["tools"].items():
        if "command" not in spec and name not in registry.TOOLS:
            raise ConfigError(f"tools/{name}", f"not a tool of the registry "
                              f"({', '.join(registry.TOOLS)}); a tool of your own needs a "
                              "command, an output and a format")
    for name, spec in config["study"].get("imported", {}).items():
        from lmmcompare.imported import check_pattern

        check_pattern(spec["results"], f"study/imported/{name}/results")
    tools = panel.of(config)  # the config's and the imported tools checked, names unique
    for name, spec in config["datasets"].items():
        try:
            source = source_of(spec, (*SIMULATED_SOURCES, "plink"))
        except ValueError as error:
            raise ConfigError(f"datasets/{name}", f"{error} (simulate, msprime: simulated "
                              "data; plink: real PLINK data)") from None
        if source in SIMULATED_SOURCES:
            _check_phenotype_model(f"datasets/{name}/{source}", spec[source])
        elif spec["plink"]["phenotype"]["file"] is None and \
                spec["plink"]["phenotype"]["fam_column"] is None:
            raise ConfigError(f"datasets/{name}/plink/phenotype", "give a phenotype file or a "
                              "fam_column (6 = the standard .fam phenotype)")
        if "plink" in spec:
            _check_genotype_format(f"datasets/{name}/plink", spec["plink"])
        _check_skip(f"datasets/{name}/skip", spec["skip"], tools)
    for index, tolerance in enumerate(config["tolerances"]):
        for key in ("tool_a", "tool_b"):
            if tolerance[key] not in tools:
                raise ConfigError(f"tolerances/{index}/{key}", f"{tolerance[key]!r} is not a "
                                  f"tool of the panel ({', '.join(tools)})")
        dataset = tolerance.get("dataset")  # a selector: absent matches every dataset
        if dataset is not None and dataset not in config["datasets"]:
            raise ConfigError(f"tolerances/{index}", f"dataset '{dataset}' is not one of the "
                              f"datasets ({', '.join(config['datasets'])})")
        if dataset is not None:
            skipped = set(config["datasets"][dataset]["skip"])
            for key in ("tool_a", "tool_b"):
                tool = tolerance[key]
                if tool in skipped or f"{tool}:{tolerance.get('mode')}" in skipped:
                    raise ConfigError(f"tolerances/{index}", f"{tool} is skipped on dataset "
                                      f"'{dataset}' (datasets/{dataset}/skip): the bound could "
                                      "never be checked")
        from lmmcompare import compare  # pandas and SciPy: only for a config with tolerances

        for key, bound in tolerance.items():
            if key in compare.SELECTORS:
                continue
            if compare.bound_metric(key) is None:
                raise ConfigError(f"tolerances/{index}/{key}", "not a metric of the concordance "
                                  f"table; a bound is one of {', '.join(compare.BOUNDABLE)}, or "
                                  "min_ and one of them for a lower bound")
            if not math.isfinite(bound):
                raise ConfigError(f"tolerances/{index}/{key}", f"{bound} is not a finite number "
                                  "(a NaN bound could never fail)")
    for name, spec in config["study"]["scenarios"].items():
        try:
            source = source_of(spec, SOURCES)
        except ValueError as error:
            raise ConfigError(f"study/scenarios/{name}", str(error)) from None
        _check_phenotype_model(f"study/scenarios/{name}/{source}", spec[source])
        _check_skip(f"study/scenarios/{name}/skip", spec.get("skip", []), tools)
        if spec[source]["n_causal"] == 0 and spec[source]["null_chromosomes"] == 0:
            raise ConfigError(f"study/scenarios/{name}/{source}", "n_causal is 0 and no "
                              "chromosome is left without effects (null_chromosomes: 0): the "
                              "scenario has neither causal SNPs (power) nor truly null SNPs "
                              "(calibration); give null_chromosomes >= 1")
        if source == "semi_synthetic":
            genotypes = spec[source]["genotypes"]
            if "plink" not in config["datasets"].get(genotypes, {}):
                raise ConfigError(f"study/scenarios/{name}/semi_synthetic/genotypes",
                                  f"{genotypes!r} is not a dataset with plink genotypes")


def _check_skip(where: str, entries: Sequence[str], tools: Iterable[str]) -> None:
    """Each skip-list entry is a tool of the panel, or ``tool:mode`` with one of the modes."""
    tools = list(tools)
    for index, entry in enumerate(entries):
        tool, _, mode = entry.partition(":")
        if tool not in tools or (mode and mode not in registry.MODES):
            raise ConfigError(f"{where}/{index}", f"{entry!r} is not a tool "
                              f"({', '.join(tools)}) or tool:mode ({', '.join(registry.MODES)})")


def _check_genotype_format(where: str, plink: Mapping[str, Any]) -> None:
    """What a ``plink:`` entry's ``format`` allows besides the schema: ``gzipped`` only for a
    PLINK 1 set, sha256 keys of its own files, conversion settings only for the kinds they
    apply to (``lmmcompare.convert.check_options``, the converter's own check)."""
    from lmmcompare import convert, staging

    fmt, kind = plink["format"], plink["format"]["kind"]
    if plink["gzipped"] and kind != "plink1":
        raise ConfigError(f"{where}/gzipped", f"applies to PLINK 1 files only, not {kind} (a "
                          "gzipped VCF is read as it is)")
    given = {key for key, value in plink["sha256"].items() if value is not None}
    other = sorted(given - set(staging.GENOTYPE_FILES[kind]))
    if other:
        raise ConfigError(f"{where}/sha256/{other[0]}", f"not a file of a {kind} dataset "
                          f"({', '.join(staging.GENOTYPE_FILES[kind])})")
    if fmt["sample"] is not None and kind != "bgen":
        raise ConfigError(f"{where}/format/sample", f"applies to bgen only, not {kind}")
    options = {key: fmt[key] for key in convert.OPTIONS}
    if kind == "plink1":
        changed = [key for key, (default, _) in convert.OPTIONS.items() if fmt[key] != default]
        if changed:
            raise ConfigError(f"{where}/format/{changed[0]}", "a conversion setting: applies "
                              f"to {', '.join(convert.KINDS)}, not plink1")
        return
    try:
        convert.check_options(kind, **options)
    except ValueError as error:
        raise ConfigError(f"{where}/format", str(error)) from None


def replicate_seed(base_seed: int, scenario: str, replicate: int) -> int:
    """The seed of one replicate, from the study's seed, the scenario name and the replicate
    number only (so adding a scenario or replicates changes no other replicate's draws):
    the first 8 bytes of sha256("{base_seed}/{scenario}/{replicate}"), as an integer < 2⁶³.

    >>> replicate_seed(1, "null", 0) == replicate_seed(1, "null", 0) != replicate_seed(1, "null", 1)
    True
    """
    digest = hashlib.sha256(f"{base_seed}/{scenario}/{replicate}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def replicate_label(replicate: int) -> str:
    """``r000``, ``r001``, …: how a replicate is named (its dataset ``{scenario}-r000``, its
    folder of the benchmark kit, the ``{replicate}`` of a ``study.imported`` pattern)."""
    return f"r{replicate:03d}"


def expand_scenarios(study: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The datasets of a (validated) study config: for every scenario and replicate r
    (0-based), a dataset ``{scenario}-r{r:03d}`` made by the scenario's source with its
    parameters and the seed :func:`replicate_seed` (``study.seed``, scenario, r); each entry
    also holds ``"study": {"scenario", "replicate"}``."""
    datasets = {}
    for scenario, spec in study["scenarios"].items():
        source = source_of(spec, SOURCES)
        for replicate in range(int(spec["replicates"])):
            seed = replicate_seed(int(study["seed"]), scenario, replicate)
            datasets[f"{scenario}-{replicate_label(replicate)}"] = {
                source: {**spec[source], "seed": seed},
                "kinship": spec["kinship"],
                "skip": list(spec["skip"]),
                "study": {"scenario": scenario, "replicate": replicate},
            }
    return datasets


def datasets(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every dataset the workflow builds, by name: the configured ones, then the study's
    replicates; a name taken twice, or no dataset at all, is a :class:`ConfigError`."""
    from lmmcompare.imported import study_results

    replicates = expand_scenarios(config["study"])
    for dataset, spec in replicates.items():
        labels = spec["study"]
        results = study_results(config["study"].get("imported", {}), labels["scenario"],
                                replicate_label(labels["replicate"]), dataset)
        if results:
            spec["results"] = results
    clash = sorted(set(replicates) & set(config["datasets"]))
    if clash:
        raise ConfigError(f"datasets/{clash[0]}", "the name is taken by a study replicate")
    if not config["datasets"] and not replicates:
        raise InputError("config error: give at least one dataset or one study scenario")
    return {**config["datasets"], **replicates}


def has_covariates(spec: Mapping[str, Any]) -> bool:
    """Whether a dataset has covariates besides the intercept (simulated, or configured)."""
    source = source_of(spec)
    if source == "plink":
        return spec["plink"]["covariates"] is not None
    return spec[source]["n_covariates"] > 0


def phenotype_column(spec: Mapping[str, Any]) -> int:
    """1-based phenotype column (PLINK ``--mpheno``) of a dataset's staged or simulated
    ``.pheno`` file: a PLINK dataset's (``lmmcompare.staging.phenotype_column``), else 1."""
    from lmmcompare.staging import phenotype_column as staged_column

    return staged_column(spec["plink"]) if "plink" in spec else 1


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted, recursively: a rule's params built from the
    config compare equal however the YAML ordered its keys (Snakemake reruns a job whose
    params changed, and a reordered mapping counts as changed)."""
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


def simulation(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``{source, parameters}``: how a simulated dataset is made — its source (``simulate``,
    ``msprime``, ``semi_synthetic``) and the keyword arguments of that source's function
    (``lmmcompare.simulate.simulator`` or ``simulate_phenotype``; a semi-synthetic dataset's
    genotypes are its input file, not a parameter)."""
    source = source_of(spec, SOURCES)
    return {"source": source,
            "parameters": {k: v for k, v in spec[source].items() if k != "genotypes"}}


def per_causal_h2(study: Mapping[str, Any]) -> dict[str, float]:
    """{scenario: causal_h2 / n_causal} of the scenarios with causal SNPs (the power plot's x)."""
    out = {}
    for name, spec in study["scenarios"].items():
        parameters = spec[source_of(spec, SOURCES)]
        if parameters["n_causal"] > 0:
            out[name] = parameters["causal_h2"] / parameters["n_causal"]
    return out
