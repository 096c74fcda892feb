# Association scans: every tool run here (lmmcompare.panel: the registry's, ours and the peers,
# and those defined in the config), on the same QC'd SNPs, phenotype, covariates and kinship,
# through one rule.  Each run writes
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
        ASSOC_JOB_METRICS
    wildcard_constraints:
        tool=names_pattern(PANEL.runnable()),
    conda:
        tool_env
    threads: TOOL_THREADS
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    params:
        request=run_request,
        time_limit=run_time_limit,
    script:
        "../../scripts/run_tool.py"


# Our scans in chunks (scan_chunks: N > 1): per dataset one fit job per saved model (fixed and
# refit share the kinship file's; loco has its own), N chunk jobs per scan, and a gather job
# that writes the scan's usual outputs, the single run's byte for byte (the table), and its
# benchmark: the fit's and the chunks' seconds summed (lmmcompare.job_metrics.sum_job_metrics).
# A time limit (tools: {exactlmm: {time_limit}}) does not apply to chunked scans.
if N_CHUNKS > 1:

    ruleorder: exactlmm_gather > assoc

    rule exactlmm_fit:
        input:
            unpack(analysis_inputs),
        output:
            multiext(MODEL_PREFIX, ".model.npz", ".model.json", ".null.json"),
        log:
            "results/logs/exactlmm_fit/{dataset}/{model}.log",
        benchmark:
            MODEL_JOB_METRICS
        conda:
            "../../envs/exactlmm.yaml"
        threads: TOOL_THREADS
        resources:
            mem_mb=mem_mb,
            runtime=runtime,
        params:
            request=run_request,
            prefix=MODEL_PREFIX,
        script:
            "../../scripts/scan_chunks.py"

    rule exactlmm_chunk:
        input:
            unpack(chunk_inputs),
        output:
            multiext(CHUNK_PREFIX, ".assoc.tsv", ".null.json"),
        log:
            "results/logs/exactlmm_chunk/{dataset}/{mode}.{chunk}of{n_chunks}.log",
        benchmark:
            CHUNK_JOB_METRICS
        conda:
            "../../envs/exactlmm.yaml"
        threads: TOOL_THREADS
        resources:
            mem_mb=mem_mb,
            runtime=runtime,
        params:
            prefix=CHUNK_PREFIX,
        script:
            "../../scripts/scan_chunks.py"

    rule exactlmm_gather:
        input:
            unpack(chunk_outputs),
        output:
            assoc=ASSOC_PREFIX.replace("{tool}", registry.REFERENCE) + ".assoc.tsv",
            null=ASSOC_PREFIX.replace("{tool}", registry.REFERENCE) + ".null.json",
            job_metrics=ASSOC_JOB_METRICS.replace("{tool}", registry.REFERENCE),
        log:
            ASSOC_LOG.replace("{tool}", registry.REFERENCE),
        localrule: True
        conda:
            "../../envs/exactlmm.yaml"
        params:
            n_chunks=N_CHUNKS,
        script:
            "../../scripts/scan_chunks.py"
