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


# Our scans in chunks (scan_chunks: N > 1): per dataset one fit job per saved model (fixed and
# refit share the kinship file's; loco has its own), N chunk jobs per scan, and a gather job
# that writes the scan's usual outputs, the single run's byte for byte (the table), and its
# benchmark: the fit's and the chunks' seconds summed (lmmcompare.benchmarks.sum_benchmarks).
# A time limit (tools: {exactlmm: {time_limit}}) does not apply to chunked scans.
if chunk_count() > 1:

    ruleorder: exactlmm_gather > assoc

    rule exactlmm_fit:
        input:
            unpack(analysis_inputs),
        output:
            multiext(MODEL_PREFIX, ".model.npz", ".model.json", ".null.json"),
        log:
            "results/logs/exactlmm_fit/{dataset}/{model}.log",
        benchmark:
            MODEL_BENCHMARK
        conda:
            "../../envs/exactlmm.yaml"
        threads: TOOL_THREADS
        resources:
            mem_mb=model_mem_mb,
            runtime=model_runtime,
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
            CHUNK_BENCHMARK
        conda:
            "../../envs/exactlmm.yaml"
        threads: TOOL_THREADS
        resources:
            mem_mb=chunk_mem_mb,
            runtime=chunk_runtime,
        params:
            prefix=CHUNK_PREFIX,
        script:
            "../../scripts/scan_chunks.py"

    rule exactlmm_gather:
        input:
            unpack(gather_inputs),
        output:
            assoc=ASSOC_PREFIX.replace("{tool}", "exactlmm") + ".assoc.tsv",
            null=ASSOC_PREFIX.replace("{tool}", "exactlmm") + ".null.json",
            benchmark=ASSOC_BENCHMARK.replace("{tool}", "exactlmm"),
        log:
            ASSOC_LOG.replace("{tool}", "exactlmm"),
        localrule: True
        conda:
            "../../envs/exactlmm.yaml"
        params:
            chunks=chunk_prefixes,
            benchmarks=gather_benchmarks,
        script:
            "../../scripts/scan_chunks.py"
