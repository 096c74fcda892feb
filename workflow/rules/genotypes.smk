# Genotype QC and kinship: computed once per dataset and shared by every tool.


rule qc:
    input:
        unpack(genotype_inputs),
    output:
        snplist=snplist("{dataset}"),
    log:
        "results/logs/qc/{dataset}.log",
    benchmark:
        "results/job_metrics/qc/{dataset}.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        bfile=data_prefix("{dataset}"),
        phenotype=phenotype_options,
        maf=config["qc"]["maf_min"],
        geno=config["qc"]["missing_max"],
        out="results/qc/{dataset}",
    shell:
        "exactlmm qc --bfile {params.bfile} {params.phenotype} --maf {params.maf}"
        " --geno {params.geno} --out {params.out} > {log} 2>&1"


rule kinship:
    input:
        unpack(plink_fileset),
        snplist=rules.qc.output.snplist,
    output:
        kinship="results/kinship/{dataset}.kinship.txt",
        record="results/kinship/{dataset}.kinship.json",
    log:
        "results/logs/kinship/{dataset}.log",
    benchmark:
        "results/job_metrics/kinship/{dataset}.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    threads: TOOL_THREADS
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        bfile=data_prefix("{dataset}"),
        kind=kinship_kind,
        out="results/kinship/{dataset}",
    shell:
        "exactlmm kinship --bfile {params.bfile} --extract {input.snplist} --kind {params.kind}"
        " --no-progress --out {params.out} > {log} 2>&1"
