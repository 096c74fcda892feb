"""Quickdraws 0.1.5's two steps, seeded, run by the ``quickdraws`` virtual environment's Python.

    <venv>/bin/python quickdraws_job.py SEED THREADS step1 ARGS...   (quickdraws-step-1 ARGS)
    <venv>/bin/python quickdraws_job.py SEED THREADS step2 ARGS...   (quickdraws-step-2 ARGS)

A script, not a module of the package: it imports only what that venv has (Quickdraws, torch,
numpy 2), never ``lmmcompare``.  What it adds to Quickdraws' own commands
(docs/PEERS-VERIFIED.md, "Quickdraws 0.1.5"):

* **Seeds.**  Step 1 seeds numpy and torch (with 2) but not its two other draws: GENIE's
  randomized HE regression takes ``-s SEED``, which Quickdraws never passes
  (``quickdraws/runRHE.py`` 275–285), and ``calc_ldscore_chip`` samples people with Python's
  ``random`` (``runRHE.py`` 54).  Here GENIE's command gets ``-s SEED`` appended and ``random``
  is seeded with SEED, so the same inputs give the same bytes.
* **Threads.**  torch takes every CPU of the process's affinity (``blr.py`` 1187; it overrides
  OMP_NUM_THREADS): the affinity is cut to THREADS CPUs first.
* **Version.**  Quickdraws prints none: the first line of stdout is ``quickdraws <version>``
  of the installed distribution.
"""

from __future__ import annotations

import os
import random
import sys
from importlib import metadata


def limit_cpus(threads: int) -> None:
    """Keep the first ``threads`` CPUs of this process's affinity (torch uses them all)."""
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cpus[:max(1, threads)])


def step1(seed: int, arguments: list[str]) -> None:
    import quickdraws  # noqa: F401  (its __init__ rebinds the name quickdraws.runRHE)

    rhe = sys.modules["quickdraws.runRHE"]
    random.seed(seed)
    genie = rhe.run_genie_multi_pheno
    rhe.run_genie_multi_pheno = lambda command: genie(f"{command} -s {seed}")
    from quickdraws.scripts.quickdraws_step1 import main

    sys.argv = ["quickdraws-step-1", *arguments]
    main()


def step2(arguments: list[str]) -> None:
    from quickdraws.scripts.quickdraws_step2 import main

    sys.argv = ["quickdraws-step-2", *arguments]
    main()


def main() -> None:
    seed, threads, command, *arguments = sys.argv[1:]
    print(f"quickdraws {metadata.version('quickdraws')}", flush=True)
    limit_cpus(int(threads))
    if command == "step1":
        step1(int(seed), arguments)
    elif command == "step2":
        step2(arguments)
    else:
        raise SystemExit(f"unknown command {command!r}: step1 or step2")


if __name__ == "__main__":
    main()
