# Our REML profile log-likelihood over h2 on each real dataset, every tool's estimate marked on
# it (lmmcompare.reml_profile).


rule reml_profile:
    input:
        unpack(analysis_inputs),
        unpack(run_files),
        loglik=rules.loglik_at_gamma.output.table,
    output:
        table="results/compare/{dataset}.reml_profile.tsv",
        figure=report(
            "results/plots/{dataset}/reml_profile.png",
            caption="../report/reml_profile.rst",
            category="REML profile",
            labels={"dataset": "{dataset}"},
        ),
        svg="results/plots/{dataset}/reml_profile.svg",
    log:
        "results/logs/reml_profile/{dataset}.log",
    benchmark:
        "results/job_metrics/reml_profile/{dataset}.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        request=run_request,
        runs=selected_run_records,
    script:
        "../../scripts/plot_reml_profile.py"
