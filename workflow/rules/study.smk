# The replicated simulation study (config key study): every replicate is a simulated dataset
# scanned by every tool through the same rules as any dataset (scatter); one job per replicate
# reduces its runs to metric counts, and one job pools the replicates (gather).


rule study_replicate:
    input:
        unpack(study_replicate_inputs),
    output:
        table="results/study/replicates/{dataset}.tsv",
    log:
        "results/logs/study_replicate/{dataset}.log",
    benchmark:
        "results/benchmarks/study_replicate/{dataset}.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=dataset_runs,
        labels=study_replicate_labels,
    script:
        "../../scripts/study_replicate.py"


rule study_tables:
    input:
        study_replicate_tables(),
    output:
        calibration=report(
            "results/study/calibration.tsv",
            caption="../report/study_calibration.rst",
            category="Study",
            labels={"table": "calibration"},
        ),
        power=report(
            "results/study/power.tsv",
            caption="../report/study_power.rst",
            category="Study",
            labels={"table": "power"},
        ),
        heritability=report(
            "results/study/heritability.tsv",
            caption="../report/study_heritability.rst",
            category="Study",
            labels={"table": "heritability"},
        ),
        proximal=report(
            "results/study/proximal.tsv",
            caption="../report/study_proximal.rst",
            category="Study",
            labels={"table": "proximal contamination"},
        ),
    log:
        "results/logs/study_tables/study_tables.log",
    benchmark:
        "results/benchmarks/study_tables/study_tables.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    script:
        "../../scripts/study_tables.py"


rule study_runtime:
    input:
        benchmarks=[run.benchmark for run in study_runs()],
        nulls=null_models(study_runs()),
        snplists=list(study_snplists().values()),
    output:
        runtime=report(
            "results/study/runtime.tsv",
            caption="../report/study_runtime.rst",
            category="Study",
            labels={"table": "runtime"},
        ),
    log:
        "results/logs/study_runtime/study_runtime.log",
    benchmark:
        "results/benchmarks/study_runtime/study_runtime.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=run_records(study_runs()),
        snplists=study_snplists(),
        scenarios=study_scenarios(),
    script:
        "../../scripts/study_runtime.py"


rule study_plots:
    input:
        replicates=study_replicate_tables(),
        calibration="results/study/calibration.tsv",
        power="results/study/power.tsv",
    output:
        calibration=report(
            "results/plots/study/calibration.png",
            caption="../report/study_plots.rst",
            category="Study",
            labels={"figure": "calibration"},
        ),
        power=report(
            "results/plots/study/power.png",
            caption="../report/study_plots.rst",
            category="Study",
            labels={"figure": "power"},
        ),
        heritability=report(
            "results/plots/study/heritability.png",
            caption="../report/study_plots.rst",
            category="Study",
            labels={"figure": "heritability"},
        ),
        lambda_gc=report(
            "results/plots/study/lambda_gc.png",
            caption="../report/study_plots.rst",
            category="Study",
            labels={"figure": "lambda GC"},
        ),
        svgs=multiext(
            "results/plots/study/",
            "calibration.svg",
            "power.svg",
            "heritability.svg",
            "lambda_gc.svg",
        ),
    log:
        "results/logs/study_plots/study_plots.log",
    benchmark:
        "results/benchmarks/study_plots/study_plots.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        per_causal_h2=study_per_causal_h2(),
    script:
        "../../scripts/plot_study.py"
