"""What the peer tests share: ours run on a request (optionally at a given h²) and −log10 p."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exactlmm.cli import main as exactlmm_main
from lmmcompare.runners import RunRequest


def run_ours(request: RunRequest, out: Path, h2: float | None = None) -> None:
    """``exactlmm assoc`` (fixed mode) on ``request``; with ``h2`` the null variance ratio is
    held at h²/(1 − h²) instead of fitted (``--h2``): ours at a peer's own fit."""
    argv = ["assoc", "--bfile", request.bfile, "--kinship", request.kinship,
            "--extract", request.extract, "--no-progress", "--out", str(out)]
    for flag, value in (("--pheno", request.pheno), ("--covar", request.covar)):
        if value is not None:
            argv += [flag, value]
    if h2 is not None:
        argv += ["--h2", repr(h2)]
    assert exactlmm_main(argv) == 0


def neglog10(p: np.ndarray) -> np.ndarray:
    return -np.log10(p)
