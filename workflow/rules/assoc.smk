# Association scans: ours and the three peers, each on the same QC'd SNPs, phenotype,
# covariates and kinship.  Every run writes {prefix}.assoc.tsv and {prefix}.null.json
# (docs/DESIGN.md).  A peer that is not installed (exit status 3) or does not support the mode
# (exit status 4) does not stop the workflow: scripts/run_peer.py writes a header-only
# .assoc.tsv and a .null.json {"tool", "mode", "skipped": reason, "exit_status"} instead, and
# every downstream step lists the run as skipped.


rule exactlmm_assoc:
    input:
        unpack(analysis_inputs),
    output:
        assoc="results/assoc/{dataset}/exactlmm.{mode}.assoc.tsv",
        null="results/assoc/{dataset}/exactlmm.{mode}.null.json",
    params:
        bfile=data_prefix("{dataset}"),
        phenotype=phenotype_options,
        options=ours_mode_options,
        out="results/assoc/{dataset}/exactlmm.{mode}",
    log:
        "results/logs/exactlmm/{dataset}.{mode}.log",
    benchmark:
        "results/benchmarks/exactlmm/{dataset}.{mode}.tsv"
    threads: TOOL_THREADS
    conda:
        "../../envs/exactlmm.yaml"
    shell:
        "exactlmm assoc --bfile {params.bfile} {params.phenotype} --kinship {input.kinship}"
        " --extract {input.snplist} {params.options} --no-progress --out {params.out} > {log} 2>&1"


rule pylmm_assoc:
    input:
        unpack(analysis_inputs),
    output:
        assoc="results/assoc/{dataset}/pylmm.{mode}.assoc.tsv",
        null="results/assoc/{dataset}/pylmm.{mode}.null.json",
    params:
        tool="pylmm",
        bfile=data_prefix("{dataset}"),
        mpheno=phenotype_column_of_run,
        out="results/assoc/{dataset}/pylmm.{mode}",
    log:
        "results/logs/pylmm/{dataset}.{mode}.log",
    benchmark:
        "results/benchmarks/pylmm/{dataset}.{mode}.tsv"
    threads: TOOL_THREADS
    conda:
        "../../envs/pylmm.yaml"
    script:
        "../../scripts/run_peer.py"


use rule pylmm_assoc as fastlmm_assoc with:
    output:
        assoc="results/assoc/{dataset}/fastlmm.{mode}.assoc.tsv",
        null="results/assoc/{dataset}/fastlmm.{mode}.null.json",
    params:
        tool="fastlmm",
        bfile=data_prefix("{dataset}"),
        mpheno=phenotype_column_of_run,
        out="results/assoc/{dataset}/fastlmm.{mode}",
    log:
        "results/logs/fastlmm/{dataset}.{mode}.log",
    benchmark:
        "results/benchmarks/fastlmm/{dataset}.{mode}.tsv"
    conda:
        "../../envs/fastlmm.yaml"


use rule pylmm_assoc as gemma_assoc with:
    output:
        assoc="results/assoc/{dataset}/gemma.{mode}.assoc.tsv",
        null="results/assoc/{dataset}/gemma.{mode}.null.json",
    params:
        tool="gemma",
        bfile=data_prefix("{dataset}"),
        mpheno=phenotype_column_of_run,
        out="results/assoc/{dataset}/gemma.{mode}",
    log:
        "results/logs/gemma/{dataset}.{mode}.log",
    benchmark:
        "results/benchmarks/gemma/{dataset}.{mode}.tsv"
    conda:
        "../../envs/gemma.yaml"
