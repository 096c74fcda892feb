# The replicated simulation study (config key study): every replicate is a simulated dataset
# scanned by every tool through the same rules as any dataset (scatter); one job per replicate
# reduces its runs to metric counts, and one job pools the replicates (gather).


rule study_replicate:
    input:
        unpack(truth_file),
        unpack(run_files),
    output:
        table="results/study/replicates/{dataset}.tsv",
    log:
        "results/logs/study_replicate/{dataset}.log",
    benchmark:
        "results/job_metrics/study_replicate/{dataset}.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=selected_run_records,
        labels=study_replicate_labels,
    script:
        "../../scripts/study_replicate.py"


rule study_tables:
    input:
        expand(rules.study_replicate.output.table, dataset=STUDY_DATASETS),
    output:
        calibration=report(
            "results/study/calibration.tsv",
            caption="../report/study_calibration.rst",
            category="Study",
            labels={"table": "calibration"},
        ),
        calibration_maf=report(
            "results/study/calibration_maf.tsv",
            caption="../report/study_calibration_maf.rst",
            category="Study",
            labels={"table": "calibration by MAF"},
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
        "results/job_metrics/study_tables/study_tables.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    script:
        "../../scripts/study_tables.py"


rule study_runtime:
    input:
        job_metrics=[run.job_metrics for run in STUDY_TIMED_RUNS],
        nulls=null_models(STUDY_TIMED_RUNS),
        snplists=[snplist(dataset) for dataset in STUDY_DATASETS],
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
        "results/job_metrics/study_runtime/study_runtime.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=run_records(STUDY_TIMED_RUNS),
        snplists={dataset: snplist(dataset) for dataset in STUDY_DATASETS},
        scenarios={name: DATASETS[name]["study"]["scenario"] for name in STUDY_DATASETS},
    script:
        "../../scripts/study_runtime.py"


rule study_plots:
    input:
        replicates=expand(rules.study_replicate.output.table, dataset=STUDY_DATASETS),
        calibration=rules.study_tables.output.calibration,
        power=rules.study_tables.output.power,
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
        "results/job_metrics/study_plots/study_plots.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        per_causal_h2=workflow_config.per_causal_h2(config["study"]),
    script:
        "../../scripts/plot_study.py"
