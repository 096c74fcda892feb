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
