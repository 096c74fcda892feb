"""sgkit's REGENIE on one run's inputs, run by the ``regenie_sgkit`` virtual environment's Python.

    <venv>/bin/python -I regenie_sgkit_job.py JOB.npz RESULT.tsv

A script, not a module of the package: it imports only what that venv has (sgkit 0.10.0, dask,
dask.distributed, bed-reader, numpy 2.1), never ``lmmcompare`` or ``exactlmm``.  The runner
(``lmmcompare.runners.regenie_sgkit``) writes ``JOB.npz`` — the ``.bed`` path and its sample and
SNP counts, the analysed samples' ``.fam`` rows, the tested SNPs' ``.bim`` rows and chromosome
codes, the phenotype y and the covariates X (intercept included), the variant block size — and
reads ``RESULT.tsv``: sgkit's per-variant output variables as a table (format preset
``regenie_sgkit``).  Beside it, ``loco_prediction.npy``: step 1's LOCO predictions (chromosomes
in ``.bim`` order × analysed samples), for checks.  What it computes (docs/PEERS-VERIFIED.md,
"REGENIE's method in sgkit"):

* Genotypes: bed-reader ``count_A1`` dosages of the analysed samples (our a1; sgkit's own PLINK
  reader counts ``.bim`` allele 2 and sums a missing call to −2), each missing call replaced by
  the SNP's mean over the called analysed samples.  They are read in blocks of SNPs by dask
  tasks (``dask.delayed``), so on a cluster the workers read the ``.bed`` themselves.
* The trait: y* = P_X y / s, s = √(rᵀr/(n − c)), r = P_X y (covariates projected out):
  ``regenie_loco_regression`` centres, projects and divides the trait by that s before it
  subtracts the LOCO predictions, so step 1 must predict y* on the same scale.
* Step 1 (``sgkit.stats.regenie.regenie``): stacked ridge regression of y* on the standardized
  dosages (mean 0, sd 1 over the analysed samples: its ridge penalties M/h² assume unit
  variance), X as covariates, variant blocks of ``block_size`` SNPs within chromosomes, ten
  sample folds; leave-one-chromosome-out predictions.
* Step 2 (``sgkit.stats.association.regenie_loco_regression``): per SNP least squares of
  y* − (its chromosome's prediction) on the raw a1 dosage, X projected out; t test with
  n − c − 1 degrees of freedom.  β is per a1 copy in units of y* (the runner multiplies by s).
* dask.distributed: a ``LocalCluster`` in this process with the job's threads, or the scheduler
  at ``$LMM_COMPARE_DASK_SCHEDULER`` (e.g. ``tcp://host:8786``): the same graph either way.
  No random draws (ridge solutions on fixed folds).
"""

from __future__ import annotations

import json
import os
import sys
import time

import dask
import dask.array as da
import numpy as np
import sgkit
import xarray as xr
from bed_reader import open_bed
from dask.distributed import Client, LocalCluster

SCHEDULER_VARIABLE = "LMM_COMPARE_DASK_SCHEDULER"
COLUMNS = ("variant_id", "variant_contig_name", "variant_position", "allele_counted",
           "allele_other", "variant_linreg_beta", "variant_linreg_t_value",
           "variant_linreg_p_value")


def read_block(bed: str, counts: tuple[int, int], samples: np.ndarray, snps: np.ndarray,
               standardize: bool) -> np.ndarray:
    """A block of SNPs (variants × samples): a1 dosages, missing calls at the SNP's mean, and
    standardized (mean 0, sd 1 with ddof 0) with ``standardize``."""
    with open_bed(bed, count_A1=True, iid_count=counts[0], sid_count=counts[1],
                  num_threads=1) as reader:
        g = reader.read(index=np.s_[samples, snps], dtype="float64")
    mean = np.nanmean(g, axis=0)
    missing = np.isnan(g)
    g[missing] = np.take(mean, np.nonzero(missing)[1])
    if standardize:
        g = (g - mean) / g.std(axis=0)
    return np.ascontiguousarray(g.T)


def genotypes(job: dict, order: np.ndarray, standardize: bool) -> da.Array:
    """The tested SNPs (in ``order``) as a dask array (variants × samples), one task a block."""
    samples, snps = job["fam_index"], job["snp_index"][order]
    counts = (int(job["n_fam"]), int(job["n_bim"]))
    size = int(job["block_size"])
    blocks = [
        da.from_delayed(
            dask.delayed(read_block)(str(job["bed"]), counts, samples, snps[i:i + size],
                                     standardize),
            shape=(min(size, snps.size - i), samples.size), dtype=np.float64)
        for i in range(0, snps.size, size)
    ]
    return da.concatenate(blocks, axis=0)


def main(job_path: str, result_path: str) -> None:
    job = dict(np.load(job_path, allow_pickle=False))
    threads = int(job["threads"])
    chrom = job["chrom"].astype(str)
    # Contigs 0..k-1 in order of first appearance, variants grouped by them (sgkit's regenie
    # cuts blocks within contigs, regenie_loco_regression concatenates contig by contig).
    names, first, inverse = np.unique(chrom, return_index=True, return_inverse=True)
    contig = np.argsort(np.argsort(first))[inverse]
    order = np.argsort(contig, kind="stable")

    y, X = job["y"], job["covariates"]
    q, _ = np.linalg.qr(X)
    r = y - q @ (q.T @ y)
    s = float(np.sqrt(r @ r / (y.size - X.shape[1])))
    y_star = r / s

    address = os.environ.get(SCHEDULER_VARIABLE) or None
    start = time.perf_counter()
    if address is None:
        cluster = LocalCluster(n_workers=1, threads_per_worker=threads, processes=False,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        cluster, client = None, Client(address)
    try:
        from sgkit.stats.association import regenie_loco_regression
        from sgkit.stats.regenie import regenie

        ds = xr.Dataset({
            "std_dosage": (("variants", "samples"), genotypes(job, order, True)),
            "dosage": (("variants", "samples"), genotypes(job, order, False)),
            "variant_contig": (("variants",), contig[order]),
            "sample_covariate": (("samples", "covariates"), X),
            "sample_trait": (("samples", "traits"), y_star[:, None]),
        })
        step1 = regenie(ds, dosage="std_dosage", covariates="sample_covariate",
                        traits="sample_trait", variant_block_size=int(job["block_size"]),
                        add_intercept=False, merge=False).compute()
        ds["regenie_loco_prediction"] = step1["regenie_loco_prediction"]
        step2 = regenie_loco_regression(ds, dosage="dosage", covariates="sample_covariate",
                                        traits="sample_trait", add_intercept=False,
                                        merge=False).compute()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    seconds = time.perf_counter() - start

    loco = step1["regenie_loco_prediction"].values[:, :, 0]
    np.save(os.path.join(os.path.dirname(os.path.abspath(result_path)), "loco_prediction.npy"),
            loco)
    values = {name: step2[name].values[:, 0] for name in COLUMNS[5:]}
    rows = zip(job["snp"][order], chrom[order], job["pos"][order], job["a1"][order],
               job["a2"][order], *(values[name] for name in COLUMNS[5:]), strict=True)
    with open(result_path, "w") as out:
        out.write("\t".join(COLUMNS) + "\n")
        for snp, c, pos, a1, a2, *numbers in rows:
            out.write("\t".join([str(snp), str(c), str(int(pos)), str(a1), str(a2),
                                 *(repr(float(v)) for v in numbers)]) + "\n")
    print(json.dumps({"sgkit": sgkit.__version__, "trait_scale_s": s,
                      "n_contigs": int(names.size),
                      "variant_block_size": int(job["block_size"]),
                      "scheduler": address or f"LocalCluster(threads_per_worker={threads})",
                      "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
