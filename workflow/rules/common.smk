"""What the rules need: the validated config, the one list of tools (PANEL), the one table of
runs (RUNS), wildcard constraints, and input functions named for what they return.  Checks and
arithmetic live in the package, tested there: the config (lmmcompare.workflow_config, with the
defaults of workflow/schemas/config.schema.yaml), tools (lmmcompare.panel: the registry's, the
config's, the imported ones), runs and their files (lmmcompare.runs), staging
(lmmcompare.staging), jobs' resources (lmmcompare.resources).

Layout: results/data/{dataset}/genotypes.*, results/qc/{dataset}.snplist, results/kinship/,
results/assoc/{dataset}/{tool}.{mode}.*, results/{compare,plots,study}/ (tables, figures),
results/logs/{step}/ and results/job_metrics/{step}/ (Snakemake's benchmark: files).
"""

import os
import re
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError

from exactlmm.errors import InputError
from lmmcompare import panel, registry, staging, workflow_config
from lmmcompare.resources import mem_mb, runtime
from lmmcompare.runners.exactlmm import MODEL_OF_MODE
from lmmcompare.runs import (
    ASSOC_JOB_METRICS,
    ASSOC_LOG,
    ASSOC_PREFIX,
    CHUNK_JOB_METRICS,
    CHUNK_PREFIX,
    MODEL_JOB_METRICS,
    MODEL_PREFIX,
    chunk_prefixes,
    configured_time_limits,
    runs_skipped_in_config,
    scheduled_runs,
)

#: Threads of every tool run: the same for all tools so that their timings compare.
#: Change with --set-threads, e.g. --set-threads assoc=8.
TOOL_THREADS = 2

try:
    workflow_config.validated(config)
    #: Every tool of this config: the registry's, the config-defined, the imported ones.
    PANEL = panel.of(config)
    #: Every dataset the workflow builds (the configured ones, then the study's replicates),
    #: every tool run of this config, and the runs a dataset's skip list removes.
    DATASETS = workflow_config.datasets(config)
    RUNS = scheduled_runs({**config, "datasets": DATASETS})
    SKIPPED_IN_CONFIG = runs_skipped_in_config({**config, "datasets": DATASETS})
except InputError as error:
    raise WorkflowError(str(error)) from None

#: The configured datasets (per-dataset tables and figures), the simulated ones (truth tables)
#: and the study's replicates (the study's tables).
DATASET_NAMES = list(config["datasets"])
SIMULATED_DATASETS = [name for name in DATASET_NAMES if "plink" not in DATASETS[name]]
REAL_DATASETS = [name for name in DATASET_NAMES if "plink" in DATASETS[name]]
STUDY_DATASETS = [name for name in DATASETS if "study" in DATASETS[name]]
#: Runs of the configured datasets (the across-dataset figures) and of the study's replicates;
#: those made here (not imported), which have job metrics.
MAIN_RUNS = [run for run in RUNS if run.dataset in config["datasets"]]
STUDY_RUNS = [run for run in RUNS if run.dataset in STUDY_DATASETS]
MAIN_TIMED_RUNS = [run for run in MAIN_RUNS if run.tool in PANEL.runnable()]
STUDY_TIMED_RUNS = [run for run in STUDY_RUNS if run.tool in PANEL.runnable()]
#: Runs whose table a tool of the panel made outside our runners (config-defined, imported).
FOREIGN_RUNS = [run for run in RUNS if PANEL.origin(run.tool) != "registry"]
N_CHUNKS = config["scan_chunks"]


def names_pattern(names):
    """Regex matching exactly the given names (one that never matches when there are none)."""
    return "|".join(re.escape(name) for name in sorted(names)) or "(?!)"


def datasets_made_by(sources, with_covariates):
    """Wildcard regex: the datasets made by one of ``sources`` (lmmcompare.workflow_config
    DATASET_SOURCES), with or without covariates: exactly one data rule writes each."""
    return names_pattern(
        name
        for name, spec in DATASETS.items()
        if workflow_config.source_of(spec) in sources
        and workflow_config.has_covariates(spec) == with_covariates
    )


wildcard_constraints:
    dataset=names_pattern(DATASETS),
    tool=names_pattern(PANEL),
    peer=names_pattern(PANEL.peers()),
    mode=names_pattern(registry.MODES),
    statistic=names_pattern(registry.STATISTICS),
    model=names_pattern(set(MODEL_OF_MODE.values())),
    chunk="[1-9][0-9]*",
    n_chunks="[1-9][0-9]*",


# ---------------------------------------------------------------- datasets


def data_prefix(dataset):
    """Prefix of the dataset's staged or simulated files."""
    return f"results/data/{dataset}/genotypes"


def snplist(dataset):
    """The QC SNP list of a dataset: the SNPs every tool tests."""
    return f"results/qc/{dataset}.snplist"


def plink_fileset(wildcards):
    """Named inputs bed, bim, fam of a dataset's staged or simulated PLINK fileset."""
    prefix = data_prefix(wildcards.dataset)
    return {ext: f"{prefix}.{ext}" for ext in ("bed", "bim", "fam")}


def genotype_inputs(wildcards):
    """Named inputs bed, bim, fam, pheno (and covar when there is one) of a dataset."""
    files = {
        **plink_fileset(wildcards),
        "pheno": f"{data_prefix(wildcards.dataset)}.pheno",
    }
    if workflow_config.has_covariates(DATASETS[wildcards.dataset]):
        files["covar"] = f"{data_prefix(wildcards.dataset)}.covar"
    return files


def analysis_inputs(wildcards):
    """genotype_inputs plus the QC SNP list and the kinship: everything a tool run reads."""
    return {
        **genotype_inputs(wildcards),
        "snplist": snplist(wildcards.dataset),
        "kinship": f"results/kinship/{wildcards.dataset}.kinship.txt",
    }


def truth_file(wildcards):
    """The truth record of a simulated dataset ({} for real data)."""
    if "plink" in DATASETS[wildcards.dataset]:
        return {}
    return {"truth": f"{data_prefix(wildcards.dataset)}.truth.json"}


def plink_source_files(wildcards):
    """Inputs of the staging job, lmmcompare.staging.input_sources; local paths, or http
    storage objects for http(s) URLs."""
    sources = staging.input_sources(DATASETS[wildcards.dataset]["plink"])
    for name, source in sources.items():
        if source.startswith(("http://", "https://")):
            sources[name] = storage.http(source)
    return sources


def staging_plan(wildcards):
    """What the staging job does (lmmcompare.staging.plan of the dataset's plink entry)."""
    return workflow_config.canonical(staging.plan(DATASETS[wildcards.dataset]["plink"]))


def semi_synthetic_genotypes(wildcards):
    """The staged .bed/.bim/.fam of the dataset whose genotypes a semi-synthetic one uses."""
    source = DATASETS[wildcards.dataset]["semi_synthetic"]["genotypes"]
    return {ext: f"{data_prefix(source)}.{ext}" for ext in ("bed", "bim", "fam")}


def simulation(wildcards):
    """{source, parameters} of a simulated dataset (lmmcompare.workflow_config.simulation)."""
    return workflow_config.canonical(
        workflow_config.simulation(DATASETS[wildcards.dataset])
    )


def phenotype_options(wildcards, input):
    """Command-line options --pheno F --mpheno K [--covar C] of a dataset's QC."""
    column = workflow_config.phenotype_column(DATASETS[wildcards.dataset])
    options = f"--pheno {input.pheno} --mpheno {column}"
    return options + (f" --covar {input.covar}" if "covar" in input.keys() else "")


def kinship_kind(wildcards):
    """standardized or centered: the dataset's override, else the top-level kinship key."""
    return DATASETS[wildcards.dataset]["kinship"] or config["kinship"]


# ---------------------------------------------------------------- tool runs


def run_request(wildcards, input):
    """The inputs of one tool run (lmmcompare.runners.RunRequest fields)."""
    return {
        "bfile": data_prefix(wildcards.dataset),
        "pheno": input.pheno,
        "mpheno": workflow_config.phenotype_column(DATASETS[wildcards.dataset]),
        "covar": input.get("covar"),
        "kinship": input.kinship,
        "extract": input.snplist,
        "center_kinship": config["center_kinship"],
    }


def run_time_limit(wildcards):
    """Seconds the tool of these wildcards may run (tools: {name: {time_limit}}), or None."""
    return configured_time_limits(config)[wildcards.tool]


def tool_env(wildcards):
    """The conda environment file of the tool of these wildcards (its panel entry)."""
    return f"../../{PANEL.tool(wildcards.tool).env}"


def imported_spec(wildcards):
    """The results entry of an imported run (datasets.<name>.results, or study.imported with
    the replicate's file)."""
    return DATASETS[wildcards.dataset]["results"][wildcards.tool]


def imported_table(wildcards):
    """Named input table (or archive) of an imported run: a local path, nothing when that path
    is not there (the run is then skipped: "results file not found"), or an http storage
    object for a URL."""
    spec = imported_spec(wildcards)
    name, source = (
        ("archive", spec["archive"]) if spec["archive"] else ("table", spec["file"])
    )
    if source.startswith(("http://", "https://")):
        return {name: storage.http(source)}
    return {name: source} if os.path.exists(source) else {}


def runs_of(dataset, mode=None):
    """The scheduled runs of a dataset, optionally of one mode (RUNS order)."""
    return [r for r in RUNS if r.dataset == dataset and mode in (None, r.mode)]


def selected_runs(wildcards):
    """The runs a per-dataset step reads. Every run of its dataset, or of its dataset and mode
    plus ours in the reference mode of a tool of that mode (our fixed beside PLINK 2's none).
    """
    if "mode" not in wildcards.keys():
        return runs_of(wildcards.dataset)
    runs = runs_of(wildcards.dataset, wildcards.mode)
    references = {PANEL.reference_mode(r.tool, r.mode) for r in runs}
    extra = [r for r in runs_of(wildcards.dataset, None) if r.mode in references]
    return runs + [r for r in extra if r.tool == registry.REFERENCE]


def run_files(wildcards):
    """Named inputs assoc and nulls: the two files of each of the selected_runs."""
    runs = selected_runs(wildcards)
    return {"assoc": [r.assoc_tsv for r in runs], "nulls": null_models(runs)}


def selected_run_records(wildcards):
    """run_records of the selected_runs."""
    return run_records(selected_runs(wildcards))


def run_records(runs):
    """Runs as {dataset, tool, mode} records: how rules hand runs to scripts."""
    return [run.as_dict() for run in runs]


def null_models(runs):
    """The null.json of each run (a skipped run's record lives here too)."""
    return [run.null_json for run in runs]


# ------------------------------------------------- our scans in chunks (scan_chunks > 1)


def chunk_inputs(wildcards):
    """A chunk job reads the genotypes and the saved model (the SNP list sizes the job)."""
    prefix = MODEL_PREFIX.format(
        dataset=wildcards.dataset, model=MODEL_OF_MODE[wildcards.mode]
    )
    return {
        **plink_fileset(wildcards),
        "snplist": snplist(wildcards.dataset),
        "model": f"{prefix}.model.json",
        "arrays": f"{prefix}.model.npz",
    }


def chunk_outputs(wildcards):
    """The tables and null records of every chunk of a scan (the gather job's inputs)."""
    prefixes = chunk_prefixes(wildcards.dataset, wildcards.mode, N_CHUNKS)
    return {
        "tables": [f"{p}.assoc.tsv" for p in prefixes],
        "nulls": [f"{p}.null.json" for p in prefixes],
    }


# ---------------------------------------------------------------- the benchmark kit


def kit_dataset(wildcards):
    """The study replicate dataset of a kit folder ({scenario}/{replicate})."""
    return f"{wildcards.scenario}-{wildcards.replicate}"


def kit_inputs(wildcards):
    """A kit replicate's inputs: its dataset's genotypes, phenotype (covariates), QC list and
    kinship (analysis_inputs of the replicate's dataset)."""
    return analysis_inputs(SimpleNamespace(dataset=kit_dataset(wildcards)))


def kit_request(wildcards, input):
    """The dataset of a kit replicate as a run request (the prefix, the phenotype column)."""
    return run_request(SimpleNamespace(dataset=kit_dataset(wildcards)), input)


def kit_manifest_parts():
    """The manifest part of every study replicate (each written with its kit folder)."""
    return [
        "results/kit_manifest/{scenario}/{replicate}.tsv".format(
            scenario=DATASETS[name]["study"]["scenario"],
            replicate=workflow_config.replicate_label(
                DATASETS[name]["study"]["replicate"]
            ),
        )
        for name in STUDY_DATASETS
    ]


def kit_scenario_covariates():
    """{scenario: whether its replicates have covariates} (the kit's README)."""
    return {
        DATASETS[name]["study"]["scenario"]: workflow_config.has_covariates(
            DATASETS[name]
        )
        for name in STUDY_DATASETS
    }


# ---------------------------------------------------------------- targets


def study_replicate_labels(wildcards):
    """{scenario, replicate} of a study replicate dataset."""
    return DATASETS[wildcards.dataset]["study"]


def per_mode_plots():
    """One QQ plot per dataset and mode with a scheduled run, and one folder of -log10 p
    scatters (ours against each peer) where ours and at least one peer run in that mode.
    """
    plots = []
    for dataset in DATASET_NAMES:
        for mode in registry.MODES:
            tools = [run.tool for run in runs_of(dataset, mode)]
            if tools:
                plots += expand(rules.qq_plot.output.png, dataset=dataset, mode=mode)
            if registry.REFERENCE in tools and len(tools) > 1:
                plots += expand(
                    rules.scatter_log10p.output[0], dataset=dataset, mode=mode
                )
    return plots


def all_outputs():
    """Everything `snakemake` builds by default: the skipped-run list, the checks, tables and
    figures of the configured datasets, and the study's when the config has scenarios.
    """
    outputs = [*rules.skipped_runs.output, *rules.panel_tables.output]
    if STUDY_DATASETS:
        outputs += [*rules.study_tables.output, *rules.study_runtime.output]
        outputs += [*rules.study_plots.output, *rules.study_deflation.output]
    if DATASET_NAMES:
        outputs += [*rules.check_tolerances.output, *rules.combine_concordance.output]
        outputs += [*rules.gamma_agreement.output, *rules.runtime_plot.output]
        outputs += per_mode_plots()
        outputs += expand(rules.reml_profile.output.figure, dataset=REAL_DATASETS)
    if SIMULATED_DATASETS:
        outputs += [*rules.combine_truth.output, *rules.gamma_vs_truth.output]
    return outputs
