# Association scans: every tool of the registry (lmmcompare.registry), ours and the peers, on
# the same QC'd SNPs, phenotype, covariates and kinship, through one rule.  Each run writes
# {prefix}.assoc.tsv and {prefix}.null.json (docs/DESIGN.md).  A run that cannot happen - the
# tool is not installed, lacks the mode, or cannot take the dataset - is not a failure: its
# null.json records "skipped" with the reason, its table is header-only, and every downstream
# step lists it as skipped.


rule assoc:
    input:
        unpack(analysis_inputs),
    output:
        assoc=f"{ASSOC_PREFIX}.assoc.tsv",
        null=f"{ASSOC_PREFIX}.null.json",
    log:
        ASSOC_LOG,
    benchmark:
        ASSOC_BENCHMARK
    conda:
        tool_env
    threads: TOOL_THREADS
    resources:
        mem_mb=assoc_mem_mb,
        runtime=assoc_runtime,
    params:
        request=run_request,
        time_limit=run_time_limit,
    script:
        "../../scripts/run_tool.py"
