# Datasets: simulated with a known truth (Balding-Nichols SNPs or msprime coalescent
# chromosomes: one rule, the source decides), or staged from (possibly remote, gzipped, archived)
# PLINK files, or real genotypes with a simulated phenotype.  Six rules can write
# results/data/{dataset}/genotypes.*; disjoint wildcard constraints built from the config choose
# exactly one per dataset.


rule simulate:
    output:
        bed="results/data/{dataset}/genotypes.bed",
        bim="results/data/{dataset}/genotypes.bim",
        fam="results/data/{dataset}/genotypes.fam",
        pheno="results/data/{dataset}/genotypes.pheno",
        truth="results/data/{dataset}/genotypes.truth.json",
    log:
        "results/logs/simulate/{dataset}.log",
    benchmark:
        "results/benchmarks/simulate/{dataset}.tsv"
    wildcard_constraints:
        dataset=simulated_without_covariates_pattern(),
    conda:
        "../../envs/exactlmm.yaml"
    params:
        simulation=simulation_parameters,
    script:
        "../../scripts/simulate.py"


use rule simulate as simulate_with_covariates with:
    output:
        bed="results/data/{dataset}/genotypes.bed",
        bim="results/data/{dataset}/genotypes.bim",
        fam="results/data/{dataset}/genotypes.fam",
        pheno="results/data/{dataset}/genotypes.pheno",
        covar="results/data/{dataset}/genotypes.covar",
        truth="results/data/{dataset}/genotypes.truth.json",
    wildcard_constraints:
        dataset=simulated_with_covariates_pattern(),


rule stage_plink:
    input:
        unpack(plink_source_files),
    output:
        bed="results/data/{dataset}/genotypes.bed",
        bim="results/data/{dataset}/genotypes.bim",
        fam="results/data/{dataset}/genotypes.fam",
        pheno="results/data/{dataset}/genotypes.pheno",
    log:
        "results/logs/stage_plink/{dataset}.log",
    benchmark:
        "results/benchmarks/stage_plink/{dataset}.tsv"
    wildcard_constraints:
        dataset=plink_without_covariates_pattern(),
    conda:
        "../../envs/exactlmm.yaml"
    params:
        plan=staging_plan,
    script:
        "../../scripts/stage_plink.py"


use rule stage_plink as stage_plink_with_covariates with:
    output:
        bed="results/data/{dataset}/genotypes.bed",
        bim="results/data/{dataset}/genotypes.bim",
        fam="results/data/{dataset}/genotypes.fam",
        pheno="results/data/{dataset}/genotypes.pheno",
        covar="results/data/{dataset}/genotypes.covar",
    wildcard_constraints:
        dataset=plink_with_covariates_pattern(),


rule simulate_phenotype:
    input:
        unpack(semi_synthetic_genotypes),
    output:
        bed="results/data/{dataset}/genotypes.bed",
        bim="results/data/{dataset}/genotypes.bim",
        fam="results/data/{dataset}/genotypes.fam",
        pheno="results/data/{dataset}/genotypes.pheno",
        truth="results/data/{dataset}/genotypes.truth.json",
    log:
        "results/logs/simulate_phenotype/{dataset}.log",
    benchmark:
        "results/benchmarks/simulate_phenotype/{dataset}.tsv"
    wildcard_constraints:
        dataset=semi_synthetic_without_covariates_pattern(),
    conda:
        "../../envs/exactlmm.yaml"
    params:
        simulation=semi_synthetic_parameters,
    script:
        "../../scripts/simulate_phenotype.py"


use rule simulate_phenotype as simulate_phenotype_with_covariates with:
    output:
        bed="results/data/{dataset}/genotypes.bed",
        bim="results/data/{dataset}/genotypes.bim",
        fam="results/data/{dataset}/genotypes.fam",
        pheno="results/data/{dataset}/genotypes.pheno",
        covar="results/data/{dataset}/genotypes.covar",
        truth="results/data/{dataset}/genotypes.truth.json",
    wildcard_constraints:
        dataset=semi_synthetic_with_covariates_pattern(),
