"""The benchmark kit: every study replicate written as files a user takes to a cluster.

``snakemake kit`` writes, for every replicate of the config's study (``{scenario}/{replicate}``,
``replicate`` = ``r000``, ``r001``, …: :func:`lmmcompare.workflow_config.replicate_label`), the
inputs every tool of the harness is given, in the layouts the common tools read
(:func:`write_replicate`):

* ``genotypes.bed/.bim/.fam`` — PLINK 1: every sample, the SNPs of the replicate's QC list (the
  SNPs every tool tests), calls copied code for code; ``.bim`` column 5 is the allele our tables
  count (a1);
* ``genotypes.pgen/.pvar/.psam`` — the same set as PLINK 2 (``plink2 --make-pgen``: ALT = a1);
* ``pheno.txt`` (``FID IID pheno``, header: PLINK 2, REGENIE, BOLT-LMM, SAIGE),
  ``pheno.gcta.txt`` (no header: GCTA ``--pheno``, fastGWA), ``pheno.gemma.txt`` (one value a
  line in ``.fam`` order: GEMMA ``-p``); a sample our runs do not analyse has ``NA``;
* with covariates: ``covar.txt`` (``FID IID c1 …``, header, no intercept), ``covar.gcta.txt``
  (no header: ``--qcovar``), ``covar.gemma.txt`` (``1 c1 …``: GEMMA ``-c``);
* ``kinship.grm.bin/.grm.N.bin/.grm.id`` — the kinship every tool of the harness is given, as a
  GCTA binary GRM (float32; ``.grm.N.bin`` the number of SNPs).

Numbers are written exactly (``repr``).  What the simulation knows — the truth record (causal
SNPs, heritability) — stays out of the kit (blind).  :func:`manifest_rows` lists every file
with its sha256 (``manifest.tsv``: scenario, replicate, file, sha256); :func:`readme` is the
kit's README, with example REGENIE, SAIGE, fastGWA and PLINK 2 command lines and how results are
brought back (``study.imported``, :mod:`lmmcompare.imported`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from exactlmm.errors import InputError
from exactlmm.inputs import InputOptions, load_inputs
from exactlmm.io.atomic import write_text_atomic
from exactlmm.io.grm import write_grm
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.plink import read_fam_fields
from lmmcompare.runners.input_files import write_plink_subset
from lmmcompare.staging import sha256_of

GENOTYPES = "genotypes"
"""Stem of the kit's genotype files."""

MANIFEST_COLUMNS = ("scenario", "replicate", "file", "sha256")

PLINK2_THREADS = 1
PLINK2_MEMORY_MB = 1024


def _values(values: np.ndarray) -> list[str]:
    return ["NA" if np.isnan(v) else repr(float(v)) for v in values.tolist()]


def write_replicate(bfile: str, pheno: str, mpheno: int, covar: str | None, kinship: str,
                    snplist: str, out: str | os.PathLike[str], plink2: str = "plink2"
                    ) -> list[str]:
    """Write one replicate's kit into the folder ``out`` (module docstring) from its dataset
    (``bfile``, ``pheno`` column ``mpheno``, ``covar``), its kinship file and its QC list;
    return the names of the files written, in a fixed order."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    inputs = load_inputs(InputOptions(bfile, pheno, mpheno, covar, None, snplist))
    ds = inputs.dataset
    fam = [" ".join(fields) for _, fields in read_fam_fields(ds.fam_path)]
    write_plink_subset(ds, np.arange(ds.n_samples), inputs.snp_index, out / GENOTYPES, fam)
    done = subprocess.run([plink2, "--bfile", GENOTYPES, "--make-pgen", "--out", GENOTYPES,
                           "--threads", str(PLINK2_THREADS), "--memory", str(PLINK2_MEMORY_MB)],
                          cwd=out, capture_output=True, text=True)
    if done.returncode != 0:
        raise InputError(f"plink2 --make-pgen failed: {' '.join(done.stdout.split()[-30:])}",
                         path=out / GENOTYPES)
    (out / f"{GENOTYPES}.log").unlink(missing_ok=True)
    files = [f"{GENOTYPES}.{ext}" for ext in ("bed", "bim", "fam", "pgen", "pvar", "psam")]

    n, analysed = ds.n_samples, inputs.samples.fam_index
    y = np.full(n, np.nan)
    y[analysed] = inputs.y
    fid, iid = ds.fid.tolist(), ds.iid.tolist()
    rows = [f"{f} {i} {v}" for f, i, v in zip(fid, iid, _values(y), strict=True)]
    tables = {
        "pheno.txt": "FID IID pheno\n" + "".join(f"{row}\n" for row in rows),
        "pheno.gcta.txt": "".join(f"{row}\n" for row in rows),
        "pheno.gemma.txt": "".join(f"{v}\n" for v in _values(y)),
    }
    k = inputs.samples.covariates.shape[1]
    if k:
        c = np.full((n, k), np.nan)
        c[analysed] = inputs.samples.covariates
        names = [f"c{j + 1}" for j in range(k)]
        lines = [" ".join([f, i, *_values(row)]) for f, i, row in zip(fid, iid, c, strict=True)]
        tables["covar.txt"] = " ".join(["FID", "IID", *names]) + "\n" + "".join(
            f"{line}\n" for line in lines)
        tables["covar.gcta.txt"] = "".join(f"{line}\n" for line in lines)
        tables["covar.gemma.txt"] = "".join(
            " ".join(["1" if np.isfinite(row).all() else "NA", *_values(row)]) + "\n"
            for row in c)
    for name, text in tables.items():
        write_text_atomic(out / name, text)
    files += list(tables)

    grm = write_grm(out / "kinship", read_kinship(kinship, n), ds.fid, ds.iid,
                    int(inputs.snp_index.size))
    files += [grm.name, "kinship.grm.N.bin", "kinship.grm.id"]
    return files


def manifest_rows(scenario: str, replicate: str, folder: str | os.PathLike[str],
                  files: Sequence[str]) -> list[dict[str, str]]:
    """``{scenario, replicate, file, sha256}`` of each kit file of one replicate (``file``
    relative to the kit's root: ``{scenario}/{replicate}/NAME``)."""
    return [{"scenario": scenario, "replicate": replicate,
             "file": f"{scenario}/{replicate}/{name}", "sha256": sha256_of(Path(folder) / name)}
            for name in files]


def write_manifest(rows: Sequence[Mapping[str, str]], path: str | os.PathLike[str]) -> None:
    """``manifest.tsv``: a header and one tab-separated row per file, sorted by file."""
    lines = ["\t".join(MANIFEST_COLUMNS)]
    lines += ["\t".join(row[key] for key in MANIFEST_COLUMNS)
              for row in sorted(rows, key=lambda row: row["file"])]
    write_text_atomic(path, "\n".join(lines) + "\n")


def readme(scenarios: Mapping[str, int], covariates: Mapping[str, bool]) -> str:
    """The kit's README: what each file is, and how to run a tool on the kit and bring its
    results back (``scenarios``: replicates per scenario; ``covariates``: whether a scenario
    has covariates)."""
    listing = "\n".join(
        f"- `{name}/r000` … `{name}/r{count - 1:03d}` ({count} replicates"
        f"{', with covariates' if covariates.get(name) else ''})"
        for name, count in scenarios.items())
    return f"""# lmm-compare benchmark kit

Every replicate of the study, as the inputs every tool of lmm-compare is given.  Run your
tool on each replicate, put its tables under `kit_results/{{scenario}}/{{replicate}}/`, and the
study's calibration, power and heritability tables will include it.

{listing}

## Files of one replicate (`{{scenario}}/{{replicate}}/`)

* `genotypes.bed/.bim/.fam`: PLINK 1, every sample, the SNPs every tool tests (the QC'd
  list); `.bim` column 5 is the allele whose effect the tables report (a1).
* `genotypes.pgen/.pvar/.psam`: the same set as PLINK 2 (ALT = `.bim` column 5).
* `pheno.txt`: `FID IID pheno` with a header (PLINK 2, REGENIE, BOLT-LMM, SAIGE); `NA` = a
  sample the comparison does not analyse.
* `pheno.gcta.txt`: `FID IID pheno` without a header (GCTA `--pheno`, fastGWA).
* `pheno.gemma.txt`: one value a line in `.fam` order (GEMMA `-p`).
* `covar.txt`, `covar.gcta.txt`, `covar.gemma.txt` (where the scenario has covariates): with a
  header and no intercept; without a header (`--qcovar`); with the intercept column (GEMMA
  `-c`).
* `kinship.grm.bin/.grm.N.bin/.grm.id`: the kinship every tool of lmm-compare is given, as a
  GCTA binary GRM.

`manifest.tsv` lists every file with its sha256 (`sha256sum -c` after `awk 'NR > 1 {{print $4
"  " $3}}' manifest.tsv > sums`).  The truth of the simulation (causal SNPs, heritability) is
not in the kit.

## Running a tool (from a replicate's folder; `R=../../kit_results/$scenario/$replicate`)

REGENIE (leave-one-chromosome-out; `mode: loco`, `format: regenie`):

    regenie --step 1 --bed genotypes --phenoFile pheno.txt --bsize 1000 --lowmem --out step1
    regenie --step 2 --bed genotypes --phenoFile pheno.txt --pred step1_pred.list \\
            --bsize 400 --out $R/regenie          # writes $R/regenie_pheno.regenie

(add `--covarFile covar.txt` to both steps where the scenario has covariates).

SAIGE (`mode: loco`, `format: saige`):

    step1_fitNULLGLMM.R --plinkFile=genotypes --phenoFile=pheno.txt --phenoCol=pheno \\
        --sampleIDColinphenoFile=IID --traitType=quantitative --invNormalize=FALSE \\
        --outputPrefix=saige_null --nThreads=2
    step2_SPAtests.R --bedFile=genotypes.bed --bimFile=genotypes.bim --famFile=genotypes.fam \\
        --AlleleOrder=alt-first --GMMATmodelFile=saige_null.rda \\
        --varianceRatioFile=saige_null.varianceRatio.txt --LOCO=TRUE \\
        --SAIGEOutputFile=$R/saige.txt

(`--AlleleOrder=alt-first`: Allele2, whose effect SAIGE reports, is `.bim` column 5; with
covariates, join `pheno.txt` and `covar.txt` by IID and give `--covarColList=c1,c2,...`).

GCTA fastGWA (`mode: fixed`, `format: fastgwa`), on a sparse GRM made from the kit's:

    gcta64 --grm kinship --make-bK-sparse 0.05 --out sparse
    gcta64 --bfile genotypes --grm-sparse sparse --fastGWA-mlm --pheno pheno.gcta.txt \\
        --out $R/fastgwa                           # writes $R/fastgwa.fastGWA

(add `--qcovar covar.gcta.txt` where the scenario has covariates).

PLINK 2 linear regression, the no-kinship baseline (`mode: none`, `format: plink2`):

    plink2 --pfile genotypes --pheno pheno.txt --pheno-name pheno \\
        --glm hide-covar omit-ref allow-no-covars --out $R/plink2   # $R/plink2.pheno.glm.linear

## Bringing the results back

In the study's config (the patterns' `{{scenario}}` and `{{replicate}}` are the folders above):

    study:
      imported:
        regenie: {{results: "kit_results/{{scenario}}/{{replicate}}/regenie_pheno.regenie",
                  format: regenie, mode: loco}}

then `snakemake --cores 2 --configfile config/study.yaml`: the tables are matched to our SNPs
by id (then chromosome:position:alleles), their alleles checked against ours, and the tool
joins `results/study/calibration.tsv`, `power.tsv` (and `heritability.tsv` when its table gives
a variance ratio, which none of these does).  A replicate without its file is listed as skipped.
"""
