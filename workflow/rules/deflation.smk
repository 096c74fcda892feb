# The N/M law of the full-kinship test (lmmcompare.deflation): λGC of ours at the truly null
# SNPs of every study scenario, full kinship and LOCO, against the expected 1 - df/M.


rule study_deflation:
    input:
        expand(rules.study_replicate.output.table, dataset=STUDY_DATASETS),
    output:
        table=report(
            "results/study/deflation.tsv",
            caption="../report/study_deflation.rst",
            category="Study",
            labels={"table": "deflation (N/M law)"},
        ),
        figure=report(
            "results/plots/study/deflation.png",
            caption="../report/study_deflation.rst",
            category="Study",
            labels={"figure": "deflation (N/M law)"},
        ),
        svg="results/plots/study/deflation.svg",
    log:
        "results/logs/study_deflation/study_deflation.log",
    benchmark:
        "results/job_metrics/study_deflation/study_deflation.tsv"
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/study_deflation.py"
