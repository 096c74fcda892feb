# The open panel (lmmcompare.panel): results made elsewhere put on our SNPs as runs of their own
# (datasets.<name>.results, study.imported; lmmcompare.imported), and the tables that say which
# tools took part and how the foreign tables met our SNPs.  Tools defined in the config run
# through the assoc rule like the registry's.


rule import_results:
    input:
        unpack(analysis_inputs),
        unpack(imported_table),
    output:
        assoc=f"{ASSOC_PREFIX}.assoc.tsv",
        null=f"{ASSOC_PREFIX}.null.json",
    log:
        "results/logs/import_results/{dataset}/{tool}.{mode}.log",
    benchmark:
        "results/job_metrics/import_results/{dataset}/{tool}.{mode}.tsv"
    wildcard_constraints:
        tool=names_pattern(PANEL.named("imported")),
    conda:
        "../../envs/exactlmm.yaml"
    params:
        request=run_request,
        spec=imported_spec,
    script:
        "../../scripts/import_results.py"


rule panel_tables:
    input:
        nulls=null_models(FOREIGN_RUNS),
    output:
        panel=report(
            "results/compare/panel.tsv",
            caption="../report/panel.rst",
            category="Tables",
            labels={"table": "tool panel"},
        ),
        matching=report(
            "results/compare/matching.tsv",
            caption="../report/matching.rst",
            category="Tables",
            labels={"table": "matching of foreign tables"},
        ),
    log:
        "results/logs/panel_tables/panel_tables.log",
    benchmark:
        "results/job_metrics/panel_tables/panel_tables.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        runs=run_records(FOREIGN_RUNS),
    script:
        "../../scripts/panel_tables.py"
