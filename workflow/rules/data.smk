# Datasets: simulated with a known truth (Balding-Nichols SNPs or msprime coalescent
# chromosomes: one rule, the source decides), or staged from (possibly remote, gzipped, archived)
# PLINK files (or PLINK 2, VCF, BGEN files converted to them), or real genotypes with a simulated
# phenotype.  Six rules can write
# results/data/{dataset}/genotypes.*; disjoint wildcard constraints built from the config choose
# exactly one per dataset.


rule simulate:
    output:
        multiext(
            data_prefix("{dataset}"),
            bed=".bed",
            bim=".bim",
            fam=".fam",
            pheno=".pheno",
            truth=".truth.json",
        ),
    log:
        "results/logs/simulate/{dataset}.log",
    benchmark:
        "results/job_metrics/simulate/{dataset}.tsv"
    wildcard_constraints:
        dataset=datasets_made_by(
            workflow_config.SIMULATED_SOURCES, with_covariates=False
        ),
    conda:
        "../../envs/exactlmm.yaml"
    params:
        simulation=simulation,
    script:
        "../../scripts/simulate.py"


use rule simulate as simulate_with_covariates with:
    output:
        multiext(
            data_prefix("{dataset}"),
            bed=".bed",
            bim=".bim",
            fam=".fam",
            pheno=".pheno",
            covar=".covar",
            truth=".truth.json",
        ),
    wildcard_constraints:
        dataset=datasets_made_by(
            workflow_config.SIMULATED_SOURCES, with_covariates=True
        ),


rule stage_plink:
    input:
        unpack(plink_source_files),
    output:
        multiext(
            data_prefix("{dataset}"),
            bed=".bed",
            bim=".bim",
            fam=".fam",
            pheno=".pheno",
        ),
    log:
        "results/logs/stage_plink/{dataset}.log",
    benchmark:
        "results/job_metrics/stage_plink/{dataset}.tsv"
    wildcard_constraints:
        dataset=datasets_made_by(["plink"], with_covariates=False),
    conda:
        "../../envs/plink2.yaml"  # PLINK 2 converts PLINK 2 / VCF / BGEN genotypes
    params:
        plan=staging_plan,
    script:
        "../../scripts/stage_plink.py"


use rule stage_plink as stage_plink_with_covariates with:
    output:
        multiext(
            data_prefix("{dataset}"),
            bed=".bed",
            bim=".bim",
            fam=".fam",
            pheno=".pheno",
            covar=".covar",
        ),
    wildcard_constraints:
        dataset=datasets_made_by(["plink"], with_covariates=True),


rule simulate_phenotype:
    input:
        unpack(semi_synthetic_genotypes),
    output:
        multiext(
            data_prefix("{dataset}"),
            bed=".bed",
            bim=".bim",
            fam=".fam",
            pheno=".pheno",
            truth=".truth.json",
        ),
    log:
        "results/logs/simulate_phenotype/{dataset}.log",
    benchmark:
        "results/job_metrics/simulate_phenotype/{dataset}.tsv"
    wildcard_constraints:
        dataset=datasets_made_by(["semi_synthetic"], with_covariates=False),
    conda:
        "../../envs/exactlmm.yaml"
    params:
        simulation=simulation,
    script:
        "../../scripts/simulate_phenotype.py"


use rule simulate_phenotype as simulate_phenotype_with_covariates with:
    output:
        multiext(
            data_prefix("{dataset}"),
            bed=".bed",
            bim=".bim",
            fam=".fam",
            pheno=".pheno",
            covar=".covar",
            truth=".truth.json",
        ),
    wildcard_constraints:
        dataset=datasets_made_by(["semi_synthetic"], with_covariates=True),
