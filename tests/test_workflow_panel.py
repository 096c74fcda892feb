"""The open panel end to end (slow: they run Snakemake): the benchmark kit's round trip (PLINK 2
run by hand on the kit, imported back through study.imported, equal to the harness's own PLINK 2
run), and genotypes in the formats cohorts come in (PLINK 2, VCF, BGEN: staged by conversion,
scanned to the same bytes as the PLINK 1 original).
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_workflow import with_config

from lmmcompare import registry
from lmmcompare.simulate import simulate_dataset

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed"),
]

NO_PEERS = {name: {"modes": []} for name in registry.peers() if name != "plink2"}
KIT_RESULT = "kit_results/{scenario}/{replicate}/plink2.pheno.glm.linear"


def plink2(*args: str, cwd: Path) -> None:
    subprocess.run(["plink2", "--threads", "1", "--memory", "1024", *args], cwd=cwd,
                   check=True, capture_output=True)


def test_the_kit_round_trip(tmp_path: Path) -> None:
    """`snakemake kit`, PLINK 2 run by hand on every replicate's kit (its pgen, phenotype and
    covariate files) with the options of our PLINK 2 runner, the tables imported back: they
    equal the harness's own PLINK 2 runs SNP for SNP, and the study's tables give the imported
    tool the rows of ours."""
    config = {
        "datasets": {},
        "study": {
            "seed": 7,
            "scenarios": {"small": {"replicates": 2, "simulate": {
                "n_samples": 150, "n_snps": 400, "n_chromosomes": 2, "h2": 0.5, "n_causal": 2,
                "causal_h2": 0.1, "n_covariates": 1, "null_chromosomes": 1}}},
            "imported": {"plink2_kit": {"results": KIT_RESULT, "format": "plink2",
                                        "mode": "none", "version": "PLINK 2 by hand"}},
        },
        "tools": {"exactlmm": {"modes": ["fixed"]}, **NO_PEERS},
    }
    done = with_config(tmp_path, config, "kit", "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    kit = tmp_path / "results" / "kit"
    manifest = list(csv.DictReader((kit / "manifest.tsv").open(), delimiter="\t"))
    assert {row["replicate"] for row in manifest} == {"r000", "r001"}
    for row in manifest:
        assert hashlib.sha256((kit / row["file"]).read_bytes()).hexdigest() == row["sha256"]
    assert "regenie --step 2" in (kit / "README.md").read_text()
    assert not list(kit.rglob("*truth*")) and not (tmp_path / "results" / "assoc").exists()

    for replicate in ("r000", "r001"):
        folder = kit / "small" / replicate
        out = tmp_path / "kit_results" / "small" / replicate
        out.mkdir(parents=True)
        plink2("--pfile", "genotypes", "--pheno", "pheno.txt", "--pheno-name", "pheno",
               "--covar", "covar.txt", "--covar-name", "c1", "--covar-variance-standardize",
               "--glm", "hide-covar", "omit-ref", "--max-corr", "1", "--vif", "1e300",
               "--out", str(out / "plink2"), cwd=folder)
    targets = ["results/study/calibration.tsv", "results/compare/matching.tsv"]
    done = with_config(tmp_path, config, "--cores", "2", *targets)
    assert done.returncode == 0, done.stderr[-3000:]

    for replicate in ("r000", "r001"):
        prefix = tmp_path / "results" / "assoc" / f"small-{replicate}"
        ours = pd.read_csv(prefix / "plink2.none.assoc.tsv", sep="\t")
        theirs = pd.read_csv(prefix / "plink2_kit.none.assoc.tsv", sep="\t")
        assert theirs["errcode"].eq(".").all() and len(theirs) == len(ours) > 390
        for column in ("snp", "a1", "n", "beta", "se", "p_wald", "errcode"):
            pd.testing.assert_series_equal(theirs[column], ours[column], check_exact=True)
    matching = pd.read_csv(tmp_path / "results/compare/matching.tsv", sep="\t")
    assert (matching["by_id"] == matching["ours"]).all() and (matching["flipped"] == 0).all()
    study = tmp_path / "results" / "study"
    for table in ("calibration.tsv", "power.tsv"):
        rows = pd.read_csv(study / table, sep="\t")
        kit_rows = rows[rows["tool"] == "plink2_kit"].drop(columns="tool")
        our_rows = rows[rows["tool"] == "plink2"].drop(columns="tool")
        assert len(kit_rows) > 0, table
        pd.testing.assert_frame_equal(kit_rows.reset_index(drop=True),
                                      our_rows.reset_index(drop=True))


EXPORTS = {
    # dataset name: (plink2 arguments, the plink: entry)
    "as_pgen": (["--make-pgen"], {"source": "x", "format": {"kind": "pgen"}}),
    "as_vcf": (["--export", "vcf", "bgz", "id-paste=iid"],
               {"source": "x.vcf.gz", "format": {"kind": "vcf"}}),
    "as_bgen": (["--export", "bgen-1.2", "id-paste=iid"],
                {"source": "x.bgen", "format": {"kind": "bgen", "bgen_ref": "ref-last"}}),
}


def test_converted_genotypes_give_the_scans_of_the_original(tmp_path: Path) -> None:
    """One simulated set (FID = IID, 2 % missing calls, random alleles) as PLINK 1 and as plink2
    wrote it in PLINK 2, VCF and BGEN: every dataset staged (converted), QC'd and scanned by the
    workflow gives the original's tables byte for byte."""
    data = tmp_path / "data"
    data.mkdir()
    simulate_dataset(data / "orig", n_samples=150, n_snps=300, n_chromosomes=3, seed=21,
                     h2=0.5, n_causal=2, causal_h2=0.1, missing_rate=0.02)
    rng = np.random.default_rng(21)
    bim = [line.split("\t") for line in (data / "orig.bim").read_text().splitlines()]
    alleles = rng.permuted(np.tile(list("ACGT"), (len(bim), 1)), axis=1)[:, :2]
    for fields, (a, b) in zip(bim, alleles, strict=True):
        fields[4], fields[5] = a, b
    (data / "orig.bim").write_text("".join("\t".join(f) + "\n" for f in bim))
    for name in ("orig.fam", "orig.pheno"):
        lines = (data / name).read_text().splitlines()
        start = 1 if name.endswith("pheno") else 0
        (data / name).write_text("".join(f"{line}\n" for line in lines[:start]) + "".join(
            " ".join([row.split()[1], *row.split()[1:]]) + "\n" for row in lines[start:]))
    pheno = {"file": str(data / "orig.pheno"), "column": 1}
    datasets = {"original": {"plink": {"source": str(data / "orig"), "phenotype": pheno}}}
    for name, (arguments, entry) in EXPORTS.items():
        (data / name).mkdir()
        plink2("--bfile", str(data / "orig"), *arguments, "--out", "x", cwd=data / name)
        datasets[name] = {"plink": {**entry, "source": str(data / name / entry["source"]),
                                    "phenotype": pheno}}
    config = {"datasets": datasets, "tools": {"exactlmm": {"modes": ["fixed"]},
                                              "plink2": {"modes": []}, **NO_PEERS}}
    compared = ("qc/{}.snplist", "kinship/{}.kinship.txt", "assoc/{}/exactlmm.fixed.assoc.tsv")
    targets = [f"results/{path.format(name)}" for name in datasets for path in compared]
    done = with_config(tmp_path, config, "--cores", "2", *targets)
    assert done.returncode == 0, done.stderr[-3000:]
    results = tmp_path / "results"
    for name in EXPORTS:
        log = (results / "logs" / "stage_plink" / f"{name}.log").read_text()
        assert "150 samples, 300 variants, 0 multi-allelic site(s) dropped" in log, name
        for path in compared:
            assert (results / path.format(name)).read_bytes() == \
                (results / path.format("original")).read_bytes(), (name, path)
