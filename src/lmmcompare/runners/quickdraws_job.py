"""Quickdraws 0.1.5's two steps, seeded, run by the ``quickdraws`` virtual environment's Python.

    <venv>/bin/python quickdraws_job.py SEED THREADS step1 ARGS...   (quickdraws-step-1 ARGS)
    <venv>/bin/python quickdraws_job.py SEED THREADS step2 ARGS...   (quickdraws-step-2 ARGS)

A script, not a module of the package: it imports only what that venv has (Quickdraws, torch,
numpy 2), never ``lmmcompare``.  What it adds to Quickdraws' own commands
(docs/PEERS-VERIFIED.md, "Quickdraws 0.1.5"):

* **Seeds.**  Step 1 seeds numpy and torch (with 2) but not its three other draws, and
  step 2 seeds nothing:

  - GENIE's random vectors take ``-s SEED``, which Quickdraws never passes
    (``quickdraws/runRHE.py`` 275–285): GENIE's command gets ``-s SEED`` appended.
  - GENIE fills every missing genotype call with a Hardy-Weinberg draw at the SNP's observed
    frequency from ``rand()``, seeded with the clock in seconds whatever ``-s`` says (GENIE
    ``src/ge_hetro_flexible_multi_pheno.cpp`` at sriramlab/GENIE 9b5d616, rhe 1.0.0's source:
    ``srand((unsigned int) time(0))`` l. 1250; ``simulate2_geno_from_random`` l. 870–879,
    called for every missing call by the readers, l. 965, 1073, 1170, as the global
    ``missing`` of l. 106 is never set; ``-s`` seeds only the ``mt19937`` of the random
    vectors, l. 1407–1412).  On the test's simulated set (N = 300, 2 % missing calls) GENIE
    alone on one input gave total h² 0.750–0.825 over 12 runs, the same within a second and a
    new value a second later (identical with ``time()`` pinned by ``LD_PRELOAD``); step 1's
    h² 0.818–0.836 over four runs.  GENIE's ``-g`` is pointed at ``<bed>.genie``: the same
    genotypes with the missing calls drawn the same way from numpy's generator seeded with
    SEED (:func:`fill_missing_calls`), so GENIE draws none.  Quickdraws' own reading of the
    genotypes (its HDF5 file, step 2) still sees the missing calls.
  - ``calc_ldscore_chip`` samples people with Python's ``random`` (``runRHE.py`` 54):
    ``random`` is seeded with SEED.
  - Step 2 reads the unrelated samples' phenotypes with ``preprocess_phenotypes``
    (``quickdraws_step2.py`` 277), which shuffles the table with numpy's global generator
    (``preprocess_phenotypes.py`` 65, ``Traits.sample(frac=1)``; step 1 is seeded, step 2
    not).  The order changes the float32 sums of that regression (``MyLinRegr``,
    ``custom_linear_regression.py`` 134–162): its CHISQ by up to 1e-3 relative, the
    calibration factors in their 7th digit, every calibrated p in its 7th.  numpy is seeded
    with SEED before step 2.

  With these, the same inputs give the same bytes.
* **Uncalibrated tables.**  With ``--calibrate False`` (too few unrelated samples) step 2
  writes its statistics only in HDF5; the job writes them in the calibrated run's table
  layout with Quickdraws' own writer and factors of 1 (:func:`write_uncalibrated`).
* **Threads.**  torch takes every CPU of the process's affinity (``blr.py`` 1187; it overrides
  OMP_NUM_THREADS): the affinity is cut to THREADS CPUs first.
* **Version.**  Quickdraws prints none: the first line of stdout is ``quickdraws <version>``
  of the installed distribution.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

BED_MAGIC = (0x6C, 0x1B, 0x01)
"""A SNP-major PLINK 1 ``.bed``'s first three bytes."""
MISSING_CALL = 0b01
"""PLINK's 2-bit code of a missing call."""
CALL_OF_COPIES = np.array([0b00, 0b10, 0b11], dtype=np.uint8)
"""PLINK's 2-bit code of 0, 1, 2 copies of the ``.bim`` column-6 allele (what GENIE counts)."""
COPIES_OF_CALL = np.array([0, 0, 1, 2], dtype=np.int64)
"""Copies of the column-6 allele per 2-bit code (the missing code counts 0; it is masked)."""
GENIE_SUFFIX = ".genie"
"""GENIE reads ``<prefix><suffix>.bed``: the genotypes with their missing calls filled."""
SNPS_PER_BLOCK = 4096
"""SNPs decoded at a time (the draws do not depend on it)."""


def limit_cpus(threads: int) -> None:
    """Keep the first ``threads`` CPUs of this process's affinity (torch uses them all)."""
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cpus[:max(1, threads)])


def fill_missing_calls(prefix: str, out: str, seed: int) -> None:
    """Write ``out.bed`` (with ``prefix``'s ``.bim`` and ``.fam``): ``prefix.bed`` with every
    missing call drawn as GENIE_multi_pheno draws it, but from numpy's generator seeded with
    ``seed`` instead of ``rand()`` seeded with the clock.

    GENIE's draw per missing call of SNP j: p_j = Σ c / (2·#observed) over the observed calls of
    all ``.fam`` samples (c the copies of the ``.bim`` column-6 allele), then c = 0, 1, 2 with
    probabilities (1 − p_j)², 2p_j(1 − p_j), p_j² (u uniform: u < (1 − p_j)² gives 0, else
    u < (1 − p_j)² + 2p_j(1 − p_j) gives 1, else 2; an all-missing SNP has p_j = NaN and gets
    2, as there).  The draws are taken SNP by SNP, sample by sample.
    """
    n = sum(1 for _ in open(f"{prefix}.fam"))
    m = sum(1 for _ in open(f"{prefix}.bim"))
    width = (n + 3) // 4
    raw = np.fromfile(f"{prefix}.bed", dtype=np.uint8)
    if tuple(raw[:3].tolist()) != BED_MAGIC or raw.size != 3 + m * width:
        raise SystemExit(f"{prefix}.bed: not a SNP-major .bed of {m} SNPs × {n} samples")
    body = raw[3:].reshape(m, width)
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for start in range(0, m, SNPS_PER_BLOCK):
        block = body[start:start + SNPS_PER_BLOCK]
        codes = ((block[:, :, None] >> shifts) & 3).reshape(block.shape[0], 4 * width)
        calls = codes[:, :n]
        missing = calls == MISSING_CALL
        if not missing.any():
            continue
        observed = ~missing
        with np.errstate(invalid="ignore", divide="ignore"):
            p = (COPIES_OF_CALL[calls] * observed).sum(axis=1) / (2.0 * observed.sum(axis=1))
        p = p[np.nonzero(missing)[0]]
        u = rng.random(p.size)
        copies = np.where(u < (1 - p) ** 2, 0, np.where(u < (1 - p) ** 2 + 2 * p * (1 - p), 1, 2))
        calls[missing] = CALL_OF_COPIES[copies]
        packed = codes.reshape(block.shape[0], width, 4) << shifts
        block[:] = np.bitwise_or.reduce(packed, axis=2)
    raw.tofile(f"{out}.bed")
    for extension in (".bim", ".fam"):
        shutil.copyfile(f"{prefix}{extension}", f"{out}{extension}")


def seeded_genie_command(command: str, seed: int) -> str:
    """GENIE's command with its genotypes' missing calls filled (:func:`fill_missing_calls`)
    and ``-s seed`` for its random vectors."""
    arguments = shlex.split(command)
    at = arguments.index("-g") + 1
    prefix = arguments[at]
    arguments[at] = f"{Path(prefix).name}{GENIE_SUFFIX}"
    fill_missing_calls(prefix, arguments[at], seed)
    return shlex.join([*arguments, "-s", str(seed)])


def step1(seed: int, arguments: list[str]) -> None:
    import quickdraws  # noqa: F401  (its __init__ rebinds the name quickdraws.runRHE)

    rhe = sys.modules["quickdraws.runRHE"]
    random.seed(seed)
    genie = rhe.run_genie_multi_pheno
    rhe.run_genie_multi_pheno = lambda command: genie(seeded_genie_command(command, seed))
    from quickdraws.scripts.quickdraws_step1 import main

    sys.argv = ["quickdraws-step-1", *arguments]
    main()


def step2(seed: int, arguments: list[str]) -> None:
    from quickdraws.scripts.quickdraws_step2 import main

    np.random.seed(seed)  # noqa: NPY002  (Quickdraws draws from the legacy global state)
    sys.argv = ["quickdraws-step-2", *arguments]
    main()
    if _option(arguments, "--calibrate") == "False":
        write_uncalibrated(_option(arguments, "--out"))


def _option(arguments: list[str], name: str) -> str | None:
    """The value after ``name`` in ``arguments``, or ``None``."""
    return arguments[arguments.index(name) + 1] if name in arguments else None


def write_uncalibrated(out: str) -> None:
    """Uncalibrated, step 2 leaves its statistics in HDF5 (``OUT.<pheno>.sumstats``, key
    ``sumstats``) and writes no table: only its calibration writes the tab-separated, gzipped
    ``OUT.<pheno>.sumstats.gz`` (``quickdraws_step2.py`` 321–340; ``adjust_test_stats``
    86–107).  Its own ``adjust_test_stats`` writes that table here with a factor of 1 on every
    chromosome (CHISQ × 1.0 is CHISQ: the uncalibrated statistics, in the calibrated layout)."""
    import pandas as pd
    from quickdraws.scripts.quickdraws_step2 import adjust_test_stats

    for path in sorted(Path().glob(f"{out}.*.sumstats")):
        pheno = path.name[len(out) + 1 : -len(".sumstats")]
        chromosomes = np.unique(pd.read_hdf(path, key="sumstats")["CHR"])
        adjust_test_stats(out, pheno, {str(c): 1.0 for c in chromosomes})


def main() -> None:
    seed, threads, command, *arguments = sys.argv[1:]
    print(f"quickdraws {metadata.version('quickdraws')}", flush=True)
    limit_cpus(int(threads))
    if command == "step1":
        step1(int(seed), arguments)
    elif command == "step2":
        step2(int(seed), arguments)
    else:
        raise SystemExit(f"unknown command {command!r}: step1 or step2")


if __name__ == "__main__":
    main()
