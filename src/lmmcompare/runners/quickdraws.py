"""Run Quickdraws 0.1.5 (its own virtual environment, CPU torch) and write our two result files.

What Quickdraws does with the input set written here, and the source lines that say so, is in
``docs/PEERS-VERIFIED.md`` ("Quickdraws 0.1.5"); both steps run through
:mod:`lmmcompare.runners.quickdraws_job` (seeded with :data:`SEED`, cut to the job's threads):

* Samples: Quickdraws keys samples on FID alone, gives GENIE a phenotype file with IID := FID
  and splits LOCO files' ``FID_IID`` names on ``_`` — so the ``.fam`` here is private, every
  row ``s<i> s<i>`` (FID = IID, no ``_``), and the phenotype and covariate tables (with the
  ``FID IID …`` header it needs) use the same names.  Covariates without the intercept (it adds
  one).  ``--modelSnps``: the SNPs ours can test (with a header line: its reader takes the
  first line as one).  Step 2 tests every ``.bed`` SNP; the others' rows are not used.
* Chromosomes: step 2 walks the ``.bed`` with a running offset over the sorted integer
  chromosome codes, so a ``.bim`` whose codes are not integers, contiguous and ascending would
  pair SNPs with other SNPs' statistics (exit status 0): such a dataset is a skipped run.
* Relatives (step 1 ``--kinship``, a KING table ``ID1 ID2 Kinship`` of pairs above 2^-4.5):
  from our kinship of the analysed samples, φ_ij = K_ij/(2t), t its mean diagonal (φ = K/2 for
  the standardized kinship).  Step 2's calibration needs "unrelated homogeneous" samples: here
  those without a relative (φ > 2^-4.5) plus a greedy independent set of the others in sample
  order (Quickdraws' ``get_unrelated_list`` rule; its own function cannot take a table with the
  Kinship column).  With fewer than :data:`MIN_UNRELATED` the statistics are uncalibrated
  (``--calibrate False``), recorded in ``native``.
* Output (format preset ``quickdraws``): BETA and ALT_FREQS count ``.bim`` column 6 (flipped to
  our a1 by the matcher; every row must be), on the standardized trait (the registry entry's
  ``effect_unit``: × sd(y)); p from the calibrated CHISQ.  h² from GENIE (``S1.h2``).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from exactlmm.io.results import TESTED
from lmmcompare import formats, params
from lmmcompare.runners import RunRequest, SkipRun, ToolFailed
from lmmcompare.runners._common import load, summarized_snps, write_run
from lmmcompare.runners.input_files import id_list, link_genotypes, sample_table
from lmmcompare.runners.program import program_run
from lmmcompare.runners.tool_output import check_agrees, read_output

TOOL = "quickdraws"
JOB_SCRIPT = Path(__file__).with_name("quickdraws_job.py")
"""The script the venv's Python runs."""
SEED = 1
"""The seed of GENIE's random vectors, of the missing calls it is given filled, of the
LD-score sample (step 1; Quickdraws seeds numpy and torch with 2 itself) and of numpy in
step 2 (its shuffle of the unrelated samples): ``quickdraws_job.py``."""
KING_RELATIVES = 2.0**-4.5
"""Quickdraws' relatedness cutoff on KING kinship (third degree; ``correct_for_relatives.py``)."""
MIN_UNRELATED = 100
"""Fewer unrelated samples than this: no calibration (its mean χ² over them would be noise)."""
BATCH_SIZE, TRAIN_SPLIT = 128, 0.8
"""Quickdraws' defaults (``--batch_size``, ``--train_split``): step 1 trains on
⌊⌊0.8 N⌋/128⌋·128 samples (``blr.py`` ``HDF5Dataset``, l. 288), none below N = 160; it then
fails or, in step 2, writes no table with exit status 0 (seen at N = 80 and 150): such a
dataset is a skipped run (:func:`check_sample_size`)."""
PHENOTYPE = "y"
"""The phenotype's column name: step 2 writes ``s2.<name>.sumstats.gz``."""
PROGRESS = ("it/s]", "s/it]", "Epoch", "%|")
"""Marks of its progress-bar lines (left out of the log)."""


def relatives(kinship: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j) of analysed samples with φ_ij = K_ij/(2t) > 2^-4.5, and their φ."""
    phi = kinship / (2.0 * np.trace(kinship) / kinship.shape[0])
    i, j = np.nonzero(np.triu(phi > KING_RELATIVES, 1))
    return i, j, phi[i, j]


def unrelated(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Samples kept for calibration: those without a relative, and of the others each one none
    of whose relatives was kept before it (sample order)."""
    neighbours: dict[int, list[int]] = {}
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    kept = np.ones(n, dtype=bool)
    kept[list(neighbours)] = False
    for sample in sorted(neighbours):
        if not kept[neighbours[sample]].any():
            kept[sample] = True
    return kept


def check_chromosomes(codes: np.ndarray) -> None:
    """``SkipRun`` unless the ``.bim``'s chromosome codes are integers, each in one contiguous
    run, ascending (what step 2's walk over the ``.bed`` assumes)."""
    if not all(re.fullmatch(r"\d+", code) for code in np.unique(codes).tolist()):
        raise SkipRun("Quickdraws needs integer chromosome codes in the .bim (step 2 maps them "
                      "as integers)")
    numbers = codes.astype(np.int64)
    if np.any(np.diff(numbers) < 0):
        raise SkipRun("Quickdraws' step 2 needs the .bim sorted by chromosome (contiguous, "
                      "ascending); this one is not")


def check_sample_size(n_samples: int) -> None:
    """``SkipRun`` when step 1 would train on no sample (:data:`BATCH_SIZE`)."""
    if int(TRAIN_SPLIT * n_samples) // BATCH_SIZE == 0:
        minimum = math.ceil(BATCH_SIZE / TRAIN_SPLIT)
        raise SkipRun(f"Quickdraws trains on whole batches of {BATCH_SIZE} of {TRAIN_SPLIT:g} of "
                      f"the samples: {n_samples} analysed samples give none (it needs at least "
                      f"{minimum})")


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """Run Quickdraws' steps 1 and 2 (loco mode, its registry entry); write ``out.assoc.tsv``
    and ``out.null.json``."""
    inputs = load(request)  # the kinship only for the relatives (its LOCO is its own)
    check_sample_size(inputs.n_samples)
    columns, stats = summarized_snps(inputs)
    given = np.flatnonzero(stats["errcode"] == TESTED)
    ds = inputs.dataset
    check_chromosomes(np.asarray(ds.chrom).astype(str))
    names = np.array([f"s{k}" for k in range(ds.n_samples)])
    ours = names[inputs.samples.fam_index]
    pair_i, pair_j, phi = relatives(inputs.kinship)
    kept = unrelated(ours.size, pair_i, pair_j)
    calibrated = int(kept.sum()) >= MIN_UNRELATED
    threads = str(max(1, int(request.threads)))
    with program_run(request, TOOL) as work:
        link_genotypes(inputs, work.directory)
        work.path("data.fam").write_text("".join(f"{s} {s} 0 0 0 -9\n" for s in names))
        work.path("pheno.txt").write_text(sample_table(ours, ours, inputs.y,
                                                       ("FID", "IID", PHENOTYPE)))
        step1 = ["--out", "s1", "--bed", "data", "--phenoFile", "pheno.txt",
                 "--modelSnps", "model_snps.txt"]
        work.path("model_snps.txt").write_text("SNP\n" + id_list(columns["snp"][given]))
        covariates = inputs.samples.covariates
        covar = []
        if covariates.shape[1]:
            header = ("FID", "IID", *(f"c{k + 1}" for k in range(covariates.shape[1])))
            work.path("covar.txt").write_text(sample_table(ours, ours, covariates, header))
            covar = ["--covarFile", "covar.txt"]
        if phi.size:
            work.path("king.txt").write_text("ID1 ID2 Kinship\n" + "".join(
                f"{ours[a]} {ours[b]} {v!r}\n"
                for a, b, v in zip(pair_i, pair_j, phi.tolist(), strict=True)))
            step1 += ["--kinship", "king.txt"]
        step2 = ["--out", "s2", "--bed", "data", "--out_step1", "s1"]
        if calibrated:
            work.path("unrel.txt").write_text("FID IID\n" + "".join(
                f"{s} {s}\n" for s in ours[kept]))
            step2 += ["--unrel_sample_list", "unrel.txt"]
        else:
            step2 += ["--calibrate", "False"]
        job = ["-I", str(JOB_SCRIPT), str(SEED), threads]  # -I: not our modules, nor $PYTHON*
        console = work.run([*job, "step1", *step1, *covar, "--num_workers", threads],
                           ["s1.h2", "s1_1.loco"], progress_marks=PROGRESS)
        sumstats = f"s2.{PHENOTYPE}.sumstats.gz"
        work.run([*job, "step2", *step2, *covar, "--num_threads", threads], [sumstats],
                 progress_marks=PROGRESS)
        table = read_output(work.path(sumstats), TOOL, "Quickdraws")
        h2 = float(np.loadtxt(work.path("s1.h2")))
        factors = (work.path("s2.calibration").read_text().splitlines()
                   if calibrated else None)

    matched = formats.match_table(table, ds, snp_index=inputs.snp_index[given], label=TOOL)
    if matched.counts.flipped != matched.counts.ours - matched.counts.ours_unmatched:
        raise ToolFailed("Quickdraws' BETA no longer counts .bim column 6 on every row "
                         f"({matched.counts.describe()})")
    found = matched.columns
    reported = found["errcode"] != "NOT_REPORTED"
    rows = given[reported]
    check_agrees("Quickdraws", "OBS_CT", found["n"][reported], stats["n"][rows],
                 "our called counts (OBS_CT counts the non-missing calls of the analysed samples)")
    check_agrees("Quickdraws", "1 - ALT_FREQS", found["af"][reported], stats["af"][rows],
                 "our a1 frequencies (allele coding or samples)", atol=1e-6)
    unit = params.trait_unit(table.format.effect_unit, inputs.y, inputs.covariates)
    stats["beta"][given] = found["beta"] * unit
    stats["se"][given] = found["se"] * unit
    stats["p_wald"][given] = found["p_wald"]
    stats["errcode"][given[~reported]] = "NOT_REPORTED"
    native = {"h2": h2, "seed": SEED, "n_relative_pairs": int(phi.size),
              "n_unrelated": int(kept.sum()), "trait_sd": unit,
              "calibration": _factors(factors) if calibrated else
              f"none: {int(kept.sum())} unrelated samples (fewer than {MIN_UNRELATED})"}
    version = console.stdout.splitlines()[0].split()[-1] if console.stdout else None
    # The commands without their thread counts: the provenance must not depend on the job's.
    command = ["quickdraws-step-1", *step1, *covar, "&&", "quickdraws-step-2", *step2, *covar]
    write_run(out, TOOL, version, request, mode, inputs, stats, native, loglik=None,
              beta=None, mean_diag=1.0, command=command)


def _factors(lines: list[str]) -> dict[str, float]:
    """The per-chromosome calibration factors of step 2's ``s2.calibration``."""
    header, values = (line.split("\t") for line in lines[:2])
    return {c: float(v) for c, v in zip(header, values, strict=True) if c != "pheno"}
