# lmm-compare: our exact LMM scan (exactlmm) against PyLMM, FaST-LMM, GEMMA, EMMAX, glimix-core,
# BOLT-LMM and PLINK 2 on simulated and real PLINK data, and a replicated simulation study.
# Run:     snakemake --cores 2            (default config.yaml)
#          snakemake --cores 2 --configfile config/ci.yaml --replace-workflow-config
#          snakemake --cores 2 --configfile config/study.yaml --replace-workflow-config
#          snakemake kit --cores 2 --configfile config/study.yaml   (the benchmark kit)
# Report:  snakemake --report report.html


from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/genotypes.smk"
include: "workflow/rules/assoc.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/deflation.smk"
include: "workflow/rules/profile.smk"
include: "workflow/rules/panel.smk"
include: "workflow/rules/kit.smk"


rule all:
    input:
        all_outputs(),
