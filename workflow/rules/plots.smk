# Figures for the report (lmmcompare.plots writes each PNG with an SVG beside it).  Skipped runs
# are drawn as a labelled placeholder, so the report always shows why a comparison is missing.


rule scatter_log10p:
    input:
        unpack(run_files),
    output:
        report(
            directory("results/plots/{dataset}/scatter.{mode}"),
            patterns=["{peer}.{statistic}.png"],
            caption="../report/scatter.rst",
            category="Concordance",
            subcategory="{dataset}",
            labels={"peer": "{peer}", "mode": "{mode}", "statistic": "{statistic}"},
        ),
    log:
        "results/logs/scatter_log10p/{dataset}.{mode}.log",
    benchmark:
        "results/job_metrics/scatter_log10p/{dataset}.{mode}.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        runs=selected_run_records,
    script:
        "../../scripts/plot_scatter.py"


rule qq_plot:
    input:
        unpack(run_files),
    output:
        png=report(
            "results/plots/{dataset}/qq.{mode}.png",
            caption="../report/qq.rst",
            category="QQ plots",
            subcategory="{dataset}",
            labels={"mode": "{mode}"},
        ),
        svg="results/plots/{dataset}/qq.{mode}.svg",
    log:
        "results/logs/qq_plot/{dataset}.{mode}.log",
    benchmark:
        "results/job_metrics/qq_plot/{dataset}.{mode}.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        runs=selected_run_records,
    script:
        "../../scripts/plot_qq.py"


rule gamma_agreement:
    input:
        nulls=null_models(MAIN_RUNS),
    output:
        png=report(
            "results/plots/gamma_agreement.png",
            caption="../report/gamma_agreement.rst",
            category="Variance ratio",
            labels={"figure": "gamma agreement"},
        ),
        svg="results/plots/gamma_agreement.svg",
    log:
        "results/logs/gamma_agreement/gamma_agreement.log",
    benchmark:
        "results/job_metrics/gamma_agreement/gamma_agreement.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        runs=run_records(MAIN_RUNS),
    script:
        "../../scripts/plot_gamma_agreement.py"


rule gamma_vs_truth:
    input:
        truth=rules.combine_truth.output[0],
    output:
        png=report(
            "results/plots/gamma_vs_truth.png",
            caption="../report/gamma_vs_truth.rst",
            category="Variance ratio",
            labels={"figure": "gamma vs truth"},
        ),
        svg="results/plots/gamma_vs_truth.svg",
    log:
        "results/logs/gamma_vs_truth/gamma_vs_truth.log",
    benchmark:
        "results/job_metrics/gamma_vs_truth/gamma_vs_truth.tsv"
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/plot_gamma_vs_truth.py"


rule runtime_plot:
    input:
        job_metrics=[run.job_metrics for run in MAIN_TIMED_RUNS],
        nulls=null_models(MAIN_TIMED_RUNS),
        snplists=[snplist(dataset) for dataset in DATASET_NAMES],
    output:
        png=report(
            "results/plots/runtime.png",
            caption="../report/runtime.rst",
            category="Runtime",
            labels={"figure": "runtime vs N and M"},
        ),
        svg="results/plots/runtime.svg",
        by_dataset=report(
            "results/plots/runtime_by_dataset.png",
            caption="../report/runtime_by_dataset.rst",
            category="Runtime",
            labels={"figure": "runtime of every run, by dataset"},
        ),
        by_dataset_svg="results/plots/runtime_by_dataset.svg",
        table=report(
            "results/compare/runtime.tsv",
            caption="../report/runtime_table.rst",
            category="Runtime",
            labels={"figure": "runtime table: N, M, seconds, peak memory"},
        ),
    log:
        "results/logs/runtime_plot/runtime.log",
    benchmark:
        "results/job_metrics/runtime_plot/runtime.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        runs=run_records(MAIN_TIMED_RUNS),
        snplists={dataset: snplist(dataset) for dataset in DATASET_NAMES},
        time_limits=configured_time_limits(config),
    script:
        "../../scripts/plot_runtime.py"
