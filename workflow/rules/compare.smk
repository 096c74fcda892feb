# Cross-tool comparison: our REML log-likelihood at every tool's gamma, concordance tables,
# distance to the simulated truth, and the acceptance check on the configured tolerances.


rule loglik_at_gamma:
    input:
        unpack(analysis_inputs),
        nulls=dataset_null_models,
    output:
        table="results/compare/{dataset}.loglik.tsv",
    log:
        "results/logs/loglik_at_gamma/{dataset}.log",
    benchmark:
        "results/benchmarks/loglik_at_gamma/{dataset}.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        mpheno=phenotype_column_of_run,
        center_kinship=config["center_kinship"],
        runs=dataset_runs,
    script:
        "../../scripts/loglik_at_gamma.py"


rule concordance:
    input:
        unpack(truth_file),
        assoc=dataset_assoc_tables,
        nulls=dataset_null_models,
        loglik="results/compare/{dataset}.loglik.tsv",
    output:
        concordance="results/compare/{dataset}.concordance.tsv",
    log:
        "results/logs/concordance/{dataset}.log",
    benchmark:
        "results/benchmarks/concordance/{dataset}.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=dataset_runs,
        alpha=config["alpha"],
    script:
        "../../scripts/concordance.py"


rule truth_distance:
    input:
        truth="results/data/{dataset}/genotypes.truth.json",
        assoc=dataset_assoc_tables,
        nulls=dataset_null_models,
    output:
        table="results/compare/{dataset}.truth.tsv",
    log:
        "results/logs/truth_distance/{dataset}.log",
    benchmark:
        "results/benchmarks/truth_distance/{dataset}.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=dataset_runs,
        alpha=config["alpha"],
    script:
        "../../scripts/truth_distance.py"


rule combine_concordance:
    input:
        all_concordance_tables(),
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
        "results/benchmarks/combine/concordance.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        tool_kinds=tool_kinds(),
    script:
        "../../scripts/combine_tables.py"


use rule combine_concordance as combine_truth with:
    input:
        all_truth_tables(),
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
        "results/benchmarks/combine/truth.tsv"


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
        "results/benchmarks/skipped_runs/skipped_runs.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=run_records(RUNS),
        skipped_in_config=run_records(SKIPPED_IN_CONFIG),
    script:
        "../../scripts/skipped_runs.py"


rule check_tolerances:
    input:
        concordance="results/compare/all.concordance.tsv",
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
        "results/benchmarks/check_tolerances/check.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        tolerances=config["tolerances"],
    script:
        "../../scripts/check_tolerances.py"
