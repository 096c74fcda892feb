"""Run ours, ``exactlmm assoc``, in-process with the command line a user would type.

``fixed`` mode keeps the null REML γ for every SNP; ``refit`` adds ``--refit`` (GEMMA ``-lmm 4``
semantics: Wald at each SNP's REML γ, LRT at its ML γ, score at the null ML γ); ``loco`` is
``--loco`` without ``--kinship``: for each chromosome a standardized kinship of the listed SNPs
on the other chromosomes (the model SNPs BOLT-LMM is given too).  With
``request.center_kinship`` the kinship file is double-centered over the analysed samples first
(``--center-kinship``, as GEMMA does; REML and the Wald test are invariant to it, ML and pve are
not).  The outputs are exactly those of the command: ``OUT.assoc.tsv`` and ``OUT.null.json``.
"""

from __future__ import annotations

import os

from exactlmm.cli import main
from lmmcompare import registry
from lmmcompare.runners import RunRequest, ToolFailed


def command_line(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> list[str]:
    """The ``exactlmm assoc`` arguments of one run."""
    if mode not in registry.get("exactlmm").modes:
        raise ValueError(f"exactlmm has no mode {mode!r} (lmmcompare.registry)")
    argv = ["assoc", "--bfile", request.bfile, "--mpheno", str(request.mpheno),
            "--extract", request.extract, "--no-progress", "--out", str(out)]
    if request.pheno is not None:
        argv += ["--pheno", request.pheno]
    if request.covar is not None:
        argv += ["--covar", request.covar]
    if mode == "loco":
        return [*argv, "--loco"]
    argv += ["--kinship", request.kinship]
    if mode == "refit":
        argv.append("--refit")
    if request.center_kinship:
        argv.append("--center-kinship")
    return argv


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """``exactlmm assoc …`` on the request.  A non-zero exit (2: bad input, whose one-line
    message the command has printed to stderr) raises :class:`ToolFailed`."""
    argv = command_line(request, mode, out)
    status = main(argv)
    if status != 0:
        raise ToolFailed(f"'exactlmm {' '.join(argv)}' exited with status {status}")
