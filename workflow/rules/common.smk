"""Helpers of the lmm-compare workflow: config validation, lookups and input functions.

Every helper returns what its name says; rules call them by name (no lambdas in rules).
File layout (all under the working directory, git-ignored):

    results/data/{dataset}/genotypes.{bed,bim,fam,pheno[,covar][,truth.json]}
    results/qc/{dataset}.snplist                    SNPs kept by QC, read by every tool
    results/kinship/{dataset}.kinship.txt           N x N kinship shared by every tool
    results/assoc/{dataset}/{tool}.{mode}.{assoc.tsv,null.json}   (lmmcompare.runs)
    results/compare/...                             tables;  results/plots/...  figures
    results/logs/{step}/...  results/benchmarks/{step}/...

The tools, their modes and statistics come from one registry, lmmcompare.registry; the runs
of this config form one table of (dataset, tool, mode) records, lmmcompare.runs.Run, which
every input function below filters (the catalog workflows' samples/units table, for runs).
"""

import re
from pathlib import PurePosixPath

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from exactlmm.errors import InputError
from lmmcompare import registry, resources, staging
from lmmcompare.study import (
    SIMULATED_SOURCES,
    SOURCES,
    expand_scenarios,
    scenario_source,
)
from lmmcompare.runners.exactlmm import MODEL_OF_MODE
from lmmcompare.runs import (
    ASSOC_BENCHMARK,
    ASSOC_LOG,
    ASSOC_PREFIX,
    CHUNK_BENCHMARK,
    CHUNK_PREFIX,
    MODEL_BENCHMARK,
    MODEL_PREFIX,
    configured_time_limits,
    runs_skipped_in_config,
    scheduled_runs,
)

#: Threads of every tool run: the same for all tools so that their timings compare.
#: Change with --set-threads, e.g. --set-threads assoc=8.
TOOL_THREADS = 2


def _schema_error_line(error):
    """One line for a failed config validation: where, what, and what the key expects."""
    for cause in (error.__cause__, error.__context__, *error.args):
        if hasattr(cause, "absolute_path") and hasattr(cause, "message"):
            parts = [str(part) for part in cause.absolute_path]
            where = str(PurePosixPath(*parts)) if parts else "(top level)"
            expected = " ".join(str(cause.schema.get("description", "")).split())
            hint = f" Expected: {expected}" if expected else ""
            return f"config error at {where}: {cause.message}.{hint}"
    return str(error)


try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as error:
    raise WorkflowError(_schema_error_line(error)) from None


def _check_config_semantics():
    """Checks JSON schema cannot phrase well; each failure is one line naming the key."""
    for name, spec in config["datasets"].items():
        kinds = [kind for kind in (*SIMULATED_SOURCES, "plink") if kind in spec]
        if len(kinds) != 1:
            raise WorkflowError(
                f"config error at datasets/{name}: give exactly one of 'simulate' or 'msprime' "
                f"(simulated data) or 'plink' (real PLINK data), found {kinds or 'neither'}"
            )
        if kinds[0] in SIMULATED_SOURCES:
            sim = spec[kinds[0]]
            if not 0 <= sim["causal_h2"] < sim["h2"]:
                raise WorkflowError(
                    f"config error at datasets/{name}/{kinds[0]}: causal_h2 = "
                    f"{sim['causal_h2']} must satisfy 0 <= causal_h2 < h2 = {sim['h2']}"
                )
            if (sim["n_causal"] > 0) != (sim["causal_h2"] > 0):
                raise WorkflowError(
                    f"config error at datasets/{name}/{kinds[0]}: n_causal = "
                    f"{sim['n_causal']} and causal_h2 = {sim['causal_h2']} must both be "
                    "positive or both zero"
                )
        else:
            phenotype = spec["plink"]["phenotype"]
            if phenotype["file"] is None and phenotype["fam_column"] is None:
                raise WorkflowError(
                    f"config error at datasets/{name}/plink/phenotype: give a phenotype file "
                    "or a fam_column (6 = the standard .fam phenotype)"
                )
        for index, entry in enumerate(spec["skip"]):
            tool, _, mode = entry.partition(":")
            if tool not in registry.TOOLS or (mode and mode not in registry.MODES):
                raise WorkflowError(
                    f"config error at datasets/{name}/skip/{index}: {entry!r} is not a tool "
                    f"({', '.join(registry.TOOLS)}) or tool:mode ({', '.join(registry.MODES)})"
                )
    for index, tolerance in enumerate(config["tolerances"]):
        for key in ("tool_a", "tool_b"):
            if tolerance[key] not in registry.TOOLS:
                raise WorkflowError(
                    f"config error at tolerances/{index}/{key}: {tolerance[key]!r} is not a "
                    f"tool of the registry ({', '.join(registry.TOOLS)})"
                )
        dataset = tolerance.get("dataset")
        if dataset is not None and dataset not in config["datasets"]:
            raise WorkflowError(
                f"config error at tolerances/{index}: dataset '{dataset}' is not one of "
                f"the datasets ({', '.join(config['datasets'])})"
            )


def _check_study_semantics():
    """Each scenario names one source; a semi-synthetic one names a PLINK dataset."""
    for name, spec in config["study"]["scenarios"].items():
        try:
            source = scenario_source(spec)
        except ValueError as error:
            raise WorkflowError(
                f"config error at study/scenarios/{name}: {error}"
            ) from None
        params = spec[source]
        if not 0 <= params.get("causal_h2", 0.0) < params.get("h2", 0.5) or (
            params.get("n_causal", 0) > 0
        ) != (params.get("causal_h2", 0.0) > 0):
            raise WorkflowError(
                f"config error at study/scenarios/{name}/{source}: need 0 <= causal_h2 < h2, "
                "and n_causal and causal_h2 both positive or both zero"
            )
        if source == "semi_synthetic":
            genotypes = params["genotypes"]
            if "plink" not in config["datasets"].get(genotypes, {}):
                raise WorkflowError(
                    f"config error at study/scenarios/{name}/semi_synthetic/genotypes: "
                    f"{genotypes!r} is not a dataset with plink genotypes"
                )


_check_config_semantics()
_check_study_semantics()

#: The study's replicate datasets (lmmcompare.study.expand_scenarios), and every dataset the
#: workflow builds: the configured ones, then the study's.
STUDY_DATASETS = expand_scenarios(config["study"])
_clash = sorted(set(STUDY_DATASETS) & set(config["datasets"]))
if _clash:
    raise WorkflowError(
        f"config error at datasets/{_clash[0]}: the name is taken by a study replicate"
    )
if not config["datasets"] and not STUDY_DATASETS:
    raise WorkflowError("config error: give at least one dataset or one study scenario")
DATASETS = {**config["datasets"], **STUDY_DATASETS}
try:
    #: Every tool run of this config, and the runs a dataset's skip list removes.
    RUNS = scheduled_runs({**config, "datasets": DATASETS})
    SKIPPED_IN_CONFIG = runs_skipped_in_config({**config, "datasets": DATASETS})
except InputError as error:
    raise WorkflowError(str(error)) from None
#: The runs of the configured datasets: the across-dataset figures show these (the study's
#: replicates have their own tables).
MAIN_RUNS = [run for run in RUNS if run.dataset in config["datasets"]]


def _names_pattern(names):
    """Regex matching exactly the given names (one that never matches when there are none)."""
    return "|".join(re.escape(name) for name in sorted(names)) or "(?!)"


wildcard_constraints:
    dataset=_names_pattern(DATASETS),
    tool=_names_pattern(registry.TOOLS),
    peer=_names_pattern(registry.peers()),
    mode=_names_pattern(registry.MODES),
    statistic=_names_pattern(registry.STATISTICS),
    model=_names_pattern(set(MODEL_OF_MODE.values())),
    chunk="[1-9][0-9]*",
    n_chunks="[1-9][0-9]*",


# ---------------------------------------------------------------- datasets


def dataset_names():
    """Names of the configured datasets (not the study's replicates), in config order: the
    per-dataset tables and figures are made for these."""
    return list(config["datasets"])


def simulation_source(dataset):
    """How a dataset is simulated (lmmcompare.study.SOURCES: simulate, msprime,
    semi_synthetic), or None for real PLINK data."""
    spec = DATASETS[dataset]
    return next((source for source in SOURCES if source in spec), None)


def simulated_datasets():
    """Names of the configured datasets whose genotypes are simulated (simulate or msprime):
    the per-dataset truth tables are made for these."""
    return [
        name for name in dataset_names() if simulation_source(name) in SIMULATED_SOURCES
    ]


def plink_datasets():
    """Names of the datasets read from real PLINK files."""
    return [name for name in dataset_names() if "plink" in DATASETS[name]]


def _simulated_pattern(with_covariates):
    """Wildcard regex: every dataset with simulated genotypes (simulate or msprime; study
    replicates too) with or without covariates (with them, the rule also writes .covar).
    """
    return _names_pattern(
        name
        for name, spec in DATASETS.items()
        if simulation_source(name) in SIMULATED_SOURCES
        and (spec[simulation_source(name)]["n_covariates"] > 0) == with_covariates
    )


def _semi_synthetic_pattern(with_covariates):
    """Wildcard regex: the semi-synthetic datasets (real genotypes, simulated phenotype) with or
    without covariates."""
    return _names_pattern(
        name
        for name, spec in DATASETS.items()
        if "semi_synthetic" in spec
        and (spec["semi_synthetic"]["n_covariates"] > 0) == with_covariates
    )


def semi_synthetic_with_covariates_pattern():
    """Wildcard regex: semi-synthetic datasets with covariates."""
    return _semi_synthetic_pattern(True)


def semi_synthetic_without_covariates_pattern():
    """Wildcard regex: semi-synthetic datasets without covariates."""
    return _semi_synthetic_pattern(False)


def semi_synthetic_genotypes(wildcards):
    """The staged .bed/.bim/.fam of the dataset whose genotypes a semi-synthetic one uses."""
    source = DATASETS[wildcards.dataset]["semi_synthetic"]["genotypes"]
    prefix = data_prefix(source)
    return {ext: f"{prefix}.{ext}" for ext in ("bed", "bim", "fam")}


def semi_synthetic_parameters(wildcards):
    """Keyword arguments of lmmcompare.simulate.simulate_phenotype but bfile."""
    spec = dict(DATASETS[wildcards.dataset]["semi_synthetic"])
    del spec["genotypes"]
    return spec


def simulated_with_covariates_pattern():
    """Wildcard regex: simulated datasets with covariates."""
    return _simulated_pattern(True)


def simulated_without_covariates_pattern():
    """Wildcard regex: simulated datasets without covariates."""
    return _simulated_pattern(False)


def plink_covariates(dataset):
    """The covariate spec of a PLINK dataset (lmmcompare.staging.covariate_spec), or None."""
    return staging.covariate_spec(DATASETS[dataset]["plink"]["covariates"])


def plink_with_covariates_pattern():
    """Wildcard regex: PLINK datasets with covariates (their staging also writes .covar)."""
    return _names_pattern(name for name in plink_datasets() if plink_covariates(name))


def plink_without_covariates_pattern():
    """Wildcard regex: PLINK datasets without covariates."""
    return _names_pattern(
        name for name in plink_datasets() if not plink_covariates(name)
    )


def simulation_parameters(wildcards):
    """{source, parameters}: how this dataset is simulated (simulate or msprime) and the
    keyword arguments of that source's function (lmmcompare.simulate.simulator)."""
    source = simulation_source(wildcards.dataset)
    return {"source": source, "parameters": dict(DATASETS[wildcards.dataset][source])}


def data_prefix(dataset):
    """Prefix of the dataset's staged or simulated files."""
    return f"results/data/{dataset}/genotypes"


def is_url(source):
    """True for an http:// or https:// source."""
    return source.startswith(("http://", "https://"))


def _input_file(source):
    """A local path as it is, an http(s) URL as an http storage object."""
    return storage.http(source) if is_url(source) else source


def plink_source_files(wildcards):
    """Inputs of the staging rule (lmmcompare.staging.input_sources): the archive, or the
    source .bed/.bim/.fam and the phenotype and covariate files (local paths, or http storage
    objects for URLs)."""
    sources = staging.input_sources(DATASETS[wildcards.dataset]["plink"])
    return {name: _input_file(source) for name, source in sources.items()}


def staging_plan(wildcards):
    """What the staging job does (lmmcompare.staging.plan of the dataset's plink entry)."""
    return staging.plan(DATASETS[wildcards.dataset]["plink"])


def phenotype_column(dataset):
    """1-based phenotype column (PLINK --mpheno) of the staged .pheno file.

    Simulated data and .fam phenotypes are staged as ``FID IID pheno`` (column 1); a phenotype
    file from the config is staged verbatim, so its configured column applies.
    """
    spec = DATASETS[dataset]
    if "plink" in spec and spec["plink"]["phenotype"]["file"]:
        return spec["plink"]["phenotype"]["column"]
    return 1


def phenotype_column_of_run(wildcards):
    """phenotype_column of the dataset of these wildcards."""
    return phenotype_column(wildcards.dataset)


def covariates_file(dataset):
    """The dataset's (simulated or staged, numeric) covariate file, or None for intercept
    only."""
    spec = DATASETS[dataset]
    if simulation_source(dataset):
        has_covariates = spec[simulation_source(dataset)]["n_covariates"] > 0
    else:
        has_covariates = plink_covariates(dataset) is not None
    return f"{data_prefix(dataset)}.covar" if has_covariates else None


def kinship_kind(wildcards):
    """standardized or centered: the dataset's override, else the top-level kinship key."""
    return DATASETS[wildcards.dataset]["kinship"] or config["kinship"]


def plink_fileset(wildcards):
    """Named inputs bed, bim, fam of a dataset's staged or simulated PLINK fileset."""
    prefix = data_prefix(wildcards.dataset)
    return {ext: f"{prefix}.{ext}" for ext in ("bed", "bim", "fam")}


def genotype_inputs(wildcards):
    """Named inputs bed, bim, fam, pheno (and covar when there is one) of a dataset."""
    files = plink_fileset(wildcards)
    files["pheno"] = f"{data_prefix(wildcards.dataset)}.pheno"
    covar = covariates_file(wildcards.dataset)
    if covar:
        files["covar"] = covar
    return files


def analysis_inputs(wildcards):
    """genotype_inputs plus the QC SNP list and the kinship: everything a tool run reads."""
    files = genotype_inputs(wildcards)
    files["snplist"] = snplist(wildcards.dataset)
    files["kinship"] = f"results/kinship/{wildcards.dataset}.kinship.txt"
    return files


def phenotype_options(wildcards, input):
    """Command-line options --pheno F --mpheno K [--covar C] of a tool run."""
    options = f"--pheno {input.pheno} --mpheno {phenotype_column(wildcards.dataset)}"
    if "covar" in input.keys():
        options += f" --covar {input.covar}"
    return options


def truth_file(wildcards):
    """The truth record of a simulated dataset ({} for real data)."""
    if simulation_source(wildcards.dataset):
        return {"truth": f"{data_prefix(wildcards.dataset)}.truth.json"}
    return {}


# ---------------------------------------------------------------- tool runs


def runs_of(dataset=None, mode=None):
    """The scheduled runs, optionally of one dataset and/or one mode (RUNS order)."""
    return [
        run
        for run in RUNS
        if (dataset is None or run.dataset == dataset)
        and (mode is None or run.mode == mode)
    ]


def run_records(runs):
    """Runs as {dataset, tool, mode} records: how rules hand runs to scripts."""
    return [run.as_dict() for run in runs]


def tool_kinds():
    """'exact: A, B; approximate: C' from the registry (the concordance table's caption)."""
    kinds = {}
    for tool in registry.TOOLS.values():
        kinds.setdefault(tool.kind, []).append(tool.label)
    return "; ".join(f"{kind}: {', '.join(labels)}" for kind, labels in kinds.items())


def tool_env(wildcards):
    """The conda environment file of the tool of these wildcards (its registry entry)."""
    return f"../../{registry.get(wildcards.tool).env}"


def _job_size(input):
    """(N, M) of a job: samples in its .fam, SNPs in its QC list."""
    return resources.count_lines(input.fam), resources.count_lines(input.snplist)


def assoc_mem_mb(wildcards, input, attempt):
    """mem_mb of a tool run (lmmcompare.resources), from N and M of its inputs."""
    return resources.tool_memory_mb(wildcards.tool, *_job_size(input), attempt)


def assoc_runtime(wildcards, input, attempt):
    """runtime (minutes) of a tool run (lmmcompare.resources), from N and M of its inputs."""
    return resources.tool_runtime_minutes(
        wildcards.tool, wildcards.mode, *_job_size(input), attempt
    )


def kinship_mem_mb(wildcards, input, attempt):
    """mem_mb of the kinship job (lmmcompare.resources), from N of its .fam."""
    return resources.kinship_memory_mb(_job_size(input)[0], attempt)


def kinship_runtime(wildcards, input, attempt):
    """runtime (minutes) of the kinship job (lmmcompare.resources), from N and M."""
    return resources.kinship_runtime_minutes(*_job_size(input), attempt)


def run_time_limit(wildcards):
    """Seconds the tool of these wildcards may run (tools: {name: {time_limit}}), or None."""
    return configured_time_limits(config)[wildcards.tool]


# ------------------------------------------------- our scans in chunks (scan_chunks > 1)


def chunk_count():
    """N of scan_chunks: our scans run as one fit job, N chunk jobs and a gather."""
    return config["scan_chunks"]


def model_prefix(dataset, mode):
    """The saved model (exactlmm fit --save-model) the chunks of a mode's scan use."""
    return MODEL_PREFIX.format(dataset=dataset, model=MODEL_OF_MODE[mode])


def chunk_prefixes(wildcards):
    """The --out prefixes of chunks 1..N of our scan of a dataset in a mode."""
    return [
        CHUNK_PREFIX.format(
            dataset=wildcards.dataset,
            mode=wildcards.mode,
            chunk=i,
            n_chunks=chunk_count(),
        )
        for i in range(1, chunk_count() + 1)
    ]


def chunk_inputs(wildcards):
    """A chunk job reads the genotypes and the saved model (the SNP list sizes the job)."""
    files = plink_fileset(wildcards)
    files["snplist"] = snplist(wildcards.dataset)
    prefix = model_prefix(wildcards.dataset, wildcards.mode)
    files["model"] = f"{prefix}.model.json"
    files["arrays"] = f"{prefix}.model.npz"
    return files


def gather_inputs(wildcards):
    """The tables and null records of every chunk of a scan."""
    prefixes = chunk_prefixes(wildcards)
    return {
        "tables": [f"{p}.assoc.tsv" for p in prefixes],
        "nulls": [f"{p}.null.json" for p in prefixes],
    }


def gather_benchmarks(wildcards):
    """The benchmark files of a chunked scan's jobs: its model's fit and every chunk."""
    model = MODEL_OF_MODE[wildcards.mode]
    return [MODEL_BENCHMARK.format(dataset=wildcards.dataset, model=model)] + [
        CHUNK_BENCHMARK.format(
            dataset=wildcards.dataset,
            mode=wildcards.mode,
            chunk=i,
            n_chunks=chunk_count(),
        )
        for i in range(1, chunk_count() + 1)
    ]


def model_mem_mb(wildcards, input, attempt):
    """mem_mb of our fit job: ours on N and M (the eigendecomposition's n x n matrices)."""
    return resources.tool_memory_mb("exactlmm", *_job_size(input), attempt)


def model_runtime(wildcards, input, attempt):
    """runtime (minutes) of the fit job: ours on N and M."""
    return resources.tool_runtime_minutes(
        "exactlmm", "fixed", *_job_size(input), attempt
    )


def chunk_mem_mb(wildcards, input, attempt):
    """mem_mb of one chunk job: one saved eigenbasis of N and a block of SNPs."""
    return resources.chunk_memory_mb(*_job_size(input), attempt)


def chunk_runtime(wildcards, input, attempt):
    """runtime (minutes) of one chunk job: ours on N and M / N_chunks SNPs."""
    n, m = _job_size(input)
    return resources.tool_runtime_minutes(
        "exactlmm", wildcards.mode, n, -(-m // int(wildcards.n_chunks)), attempt
    )


def run_request(wildcards, input):
    """The inputs of one tool run (lmmcompare.runners.RunRequest fields)."""
    return {
        "bfile": data_prefix(wildcards.dataset),
        "pheno": input.pheno,
        "mpheno": phenotype_column(wildcards.dataset),
        "covar": input.get("covar"),
        "kinship": input.kinship,
        "extract": input.snplist,
        "center_kinship": config["center_kinship"],
    }


def null_models(runs):
    """The null.json of each run (a skipped run's record lives here too)."""
    return [run.null_json for run in runs]


def dataset_null_models(wildcards):
    """The null.json of every scheduled run of a dataset."""
    return null_models(runs_of(wildcards.dataset))


def dataset_assoc_tables(wildcards):
    """The assoc.tsv of every scheduled run of a dataset."""
    return [run.assoc_tsv for run in runs_of(wildcards.dataset)]


def dataset_runs(wildcards):
    """run_records of the scheduled runs of a dataset."""
    return run_records(runs_of(wildcards.dataset))


def mode_null_models(wildcards):
    """null.json of every scheduled run of a dataset in one mode."""
    return null_models(runs_of(wildcards.dataset, wildcards.mode))


def mode_assoc_tables(wildcards):
    """assoc.tsv of every scheduled run of a dataset in one mode."""
    return [run.assoc_tsv for run in runs_of(wildcards.dataset, wildcards.mode)]


def mode_runs(wildcards):
    """run_records of the scheduled runs of a dataset in one mode."""
    return run_records(runs_of(wildcards.dataset, wildcards.mode))


def qq_runs(wildcards):
    """The runs drawn in a dataset's QQ plot of one mode: that mode's runs, plus ours in the
    reference mode of a tool of that mode (PLINK 2's none is drawn beside our fixed)."""
    runs = runs_of(wildcards.dataset, wildcards.mode)
    references = {registry.reference_mode(run.tool, run.mode) for run in runs} - {None}
    extra = [
        run
        for run in runs_of(wildcards.dataset)
        if run.tool == registry.REFERENCE and run.mode in references
    ]
    return runs + extra


def qq_assoc_tables(wildcards):
    """assoc.tsv of the qq_runs."""
    return [run.assoc_tsv for run in qq_runs(wildcards)]


def qq_null_models(wildcards):
    """null.json of the qq_runs."""
    return null_models(qq_runs(wildcards))


def qq_run_records(wildcards):
    """run_records of the qq_runs."""
    return run_records(qq_runs(wildcards))


def snplist(dataset):
    """The QC SNP list of a dataset: the SNPs every tool tests."""
    return f"results/qc/{dataset}.snplist"


def all_snplists():
    """{dataset: QC SNP list} of every dataset."""
    return {dataset: snplist(dataset) for dataset in dataset_names()}


def all_concordance_tables():
    """Per-dataset concordance tables."""
    return [f"results/compare/{dataset}.concordance.tsv" for dataset in dataset_names()]


def all_truth_tables():
    """Per-dataset distance-to-truth tables (simulated datasets only)."""
    return [f"results/compare/{dataset}.truth.tsv" for dataset in simulated_datasets()]


# ---------------------------------------------------------------- targets


def scatter_plots():
    """Ours vs the peers: one folder of -log10 p scatters (one per peer and statistic both give)
    per dataset and mode where ours and at least one peer are scheduled."""
    folders = []
    for dataset in dataset_names():
        for mode in registry.MODES:
            tools = [run.tool for run in runs_of(dataset, mode)]
            if registry.REFERENCE in tools and len(tools) > 1:
                folders.append(f"results/plots/{dataset}/scatter.{mode}")
    return folders


def qq_plots():
    """One QQ plot per dataset and mode with at least one scheduled run."""
    return [
        f"results/plots/{dataset}/qq.{mode}.png"
        for dataset in dataset_names()
        for mode in registry.MODES
        if runs_of(dataset, mode)
    ]


def summary_plots():
    """Across-dataset figures: gamma agreement, runtime, and gamma vs truth when simulated."""
    plots = ["results/plots/gamma_agreement.png", "results/plots/runtime.png"]
    if simulated_datasets():
        plots.append("results/plots/gamma_vs_truth.png")
    return plots


# ---------------------------------------------------------------- the study


def study_replicate_inputs(wildcards):
    """Truth, tables and null models of every scheduled run of one study replicate."""
    runs = runs_of(wildcards.dataset)
    return {
        "truth": f"{data_prefix(wildcards.dataset)}.truth.json",
        "assoc": [run.assoc_tsv for run in runs],
        "nulls": null_models(runs),
    }


def study_replicate_labels(wildcards):
    """{scenario, replicate} of a study replicate dataset."""
    return STUDY_DATASETS[wildcards.dataset]["study"]


def study_replicate_tables():
    """The per-replicate metric tables of the study."""
    return [f"results/study/replicates/{name}.tsv" for name in STUDY_DATASETS]


def study_runs():
    """The tool runs of the study's replicate datasets."""
    return [run for run in RUNS if run.dataset in STUDY_DATASETS]


def study_snplists():
    """{replicate dataset: QC SNP list} of the study."""
    return {dataset: snplist(dataset) for dataset in STUDY_DATASETS}


def study_scenarios():
    """{replicate dataset: its scenario}."""
    return {name: spec["study"]["scenario"] for name, spec in STUDY_DATASETS.items()}


def study_per_causal_h2():
    """{scenario: causal_h2 / n_causal} of the scenarios with causal SNPs (the power plot's x)."""
    per_causal = {}
    for name, spec in config["study"]["scenarios"].items():
        params = spec[scenario_source(spec)]
        if params["n_causal"] > 0:
            per_causal[name] = params["causal_h2"] / params["n_causal"]
    return per_causal


def study_outputs():
    """The study's tables and figures (none without scenarios)."""
    if not STUDY_DATASETS:
        return []
    return [f"results/study/{name}.tsv" for name in STUDY_TABLES] + [
        f"results/plots/study/{name}.png" for name in STUDY_FIGURES
    ]


#: The study tables (results/study/{name}.tsv), the path other steps and checks read.
STUDY_TABLES = ("calibration", "power", "heritability", "proximal", "runtime")
#: The study figures (results/plots/study/{name}.png).
STUDY_FIGURES = ("calibration", "power", "heritability", "lambda_gc")


def all_outputs():
    """Everything `snakemake` builds by default: checks, tables and report figures, and the
    study's tables when the config has scenarios."""
    outputs = ["results/compare/skipped.tsv", *study_outputs()]
    if not dataset_names():
        return outputs
    outputs += ["results/compare/check.txt", "results/compare/all.concordance.tsv"]
    if simulated_datasets():
        outputs.append("results/compare/all.truth.tsv")
    return outputs + scatter_plots() + qq_plots() + summary_plots()
