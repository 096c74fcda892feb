# Cross-tool comparison: our REML log-likelihood at every tool's gamma, concordance tables,
# distance to the simulated truth, and the acceptance check on the configured tolerances.


rule loglik_at_gamma:
    input:
        unpack(analysis_inputs),
        unpack(run_files),
    output:
        table="results/compare/{dataset}.loglik.tsv",
    log:
        "results/logs/loglik_at_gamma/{dataset}.log",
    benchmark:
        "results/job_metrics/loglik_at_gamma/{dataset}.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        request=run_request,
        runs=selected_run_records,
    script:
        "../../scripts/loglik_at_gamma.py"


rule concordance:
    input:
        unpack(truth_file),
        unpack(run_files),
        loglik=rules.loglik_at_gamma.output.table,
    output:
        concordance="results/compare/{dataset}.concordance.tsv",
    log:
        "results/logs/concordance/{dataset}.log",
    benchmark:
        "results/job_metrics/concordance/{dataset}.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=selected_run_records,
        alpha=config["alpha"],
    script:
        "../../scripts/concordance.py"


rule truth_distance:
    input:
        unpack(truth_file),
        unpack(run_files),
    output:
        table="results/compare/{dataset}.truth.tsv",
    log:
        "results/logs/truth_distance/{dataset}.log",
    benchmark:
        "results/job_metrics/truth_distance/{dataset}.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=selected_run_records,
        alpha=config["alpha"],
    script:
        "../../scripts/truth_distance.py"


rule combine_concordance:
    input:
        expand(rules.concordance.output.concordance, dataset=DATASET_NAMES),
    output:
        report(
            "results/compare/all.concordance.tsv",
            caption="../report/concordance.rst",
            category="Tables",
            labels={"table": "concordance"},
        ),
    log:
        "results/logs/combine/concordance.log",
    benchmark:
        "results/job_metrics/combine/concordance.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        tool_kinds=PANEL.kinds(run.tool for run in MAIN_RUNS),
    script:
        "../../scripts/combine_tables.py"


use rule combine_concordance as combine_truth with:
    input:
        expand(rules.truth_distance.output.table, dataset=SIMULATED_DATASETS),
    output:
        report(
            "results/compare/all.truth.tsv",
            caption="../report/truth.rst",
            category="Tables",
            labels={"table": "distance to truth"},
        ),
    log:
        "results/logs/combine/truth.log",
    benchmark:
        "results/job_metrics/combine/truth.tsv"


rule skipped_runs:
    input:
        nulls=null_models(RUNS),
    output:
        report(
            "results/compare/skipped.tsv",
            caption="../report/skipped.rst",
            category="Warnings",
            labels={"table": "skipped tool runs"},
        ),
    log:
        "results/logs/skipped_runs/skipped_runs.log",
    benchmark:
        "results/job_metrics/skipped_runs/skipped_runs.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=run_records(RUNS),
        skipped_in_config=run_records(SKIPPED_IN_CONFIG),
    script:
        "../../scripts/skipped_runs.py"


rule check_tolerances:
    input:
        concordance=rules.combine_concordance.output[0],
    output:
        report(
            "results/compare/check.txt",
            caption="../report/check.rst",
            category="Tables",
            labels={"table": "tolerance check"},
        ),
    log:
        "results/logs/check_tolerances/check.log",
    benchmark:
        "results/job_metrics/check_tolerances/check.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        tolerances=config["tolerances"],
    script:
        "../../scripts/check_tolerances.py"
