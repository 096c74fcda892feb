# The benchmark kit (lmmcompare.kit): `snakemake kit` writes every study replicate as the inputs
# every tool is given, in the layouts other tools read (PLINK 1 and 2, phenotype and covariate
# files, the kinship as a GCTA GRM), under results/kit/{scenario}/{replicate}/, with a manifest
# (sha256 of every file) and a README; the truth stays out.  Results made on it come back
# through study.imported (workflow/rules/panel.smk).


rule kit_replicate:
    input:
        unpack(kit_inputs),
    output:
        kit=directory("results/kit/{scenario}/{replicate}"),
        manifest="results/kit_manifest/{scenario}/{replicate}.tsv",
    log:
        "results/logs/kit/{scenario}/{replicate}.log",
    benchmark:
        "results/job_metrics/kit/{scenario}/{replicate}.tsv"
    wildcard_constraints:
        scenario=names_pattern(config["study"]["scenarios"]),
        replicate="r[0-9]{3}",
    conda:
        "../../envs/plink2.yaml"
    params:
        request=kit_request,
    script:
        "../../scripts/kit_replicate.py"


rule kit_manifest:
    input:
        parts=kit_manifest_parts(),
    output:
        manifest="results/kit/manifest.tsv",
        readme="results/kit/README.md",
    log:
        "results/logs/kit/manifest.log",
    benchmark:
        "results/job_metrics/kit/manifest.tsv"
    conda:
        "../../envs/exactlmm.yaml"
    params:
        scenarios={
            name: spec["replicates"]
            for name, spec in config["study"]["scenarios"].items()
        },
        covariates=kit_scenario_covariates(),
    script:
        "../../scripts/kit_manifest.py"


# The target: `snakemake kit` (results/kit/README.md, manifest.tsv and every replicate's folder).
rule kit:
    input:
        rules.kit_manifest.output,
