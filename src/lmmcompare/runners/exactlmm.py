"""Run ours, ``exactlmm assoc``, in-process with the command line a user would type.

``fixed`` mode keeps the null REML γ for every SNP; ``refit`` adds ``--refit`` (GEMMA ``-lmm 4``
semantics: Wald at each SNP's REML γ, LRT at its ML γ, score at the null ML γ); ``loco`` is
``--loco`` without ``--kinship``: for each chromosome a standardized kinship of the listed SNPs
on the other chromosomes (the model SNPs BOLT-LMM is given too).  With
``request.center_kinship`` the kinship file is double-centered over the analysed samples first
(``--center-kinship``, as GEMMA does; REML and the Wald test are invariant to it, ML and pve are
not).  The outputs are exactly those of the command: ``OUT.assoc.tsv`` and ``OUT.null.json``.

With ``scan_chunks: N`` (N > 1) the workflow runs each scan as ``exactlmm fit --save-model``,
N jobs of ``exactlmm assoc --model --chunk I/N`` and ``exactlmm gather`` (the argument lists
below), whose outputs are those of the single run.
"""

from __future__ import annotations

import os

from exactlmm.cli import main
from lmmcompare import registry
from lmmcompare.runners import RunRequest, ToolFailed

#: The saved model (``exactlmm fit --save-model``) each mode scans with when the workflow
#: splits our scans into chunks (``scan_chunks``): fixed and refit share the kinship file's,
#: loco has its own (one spectrum per chromosome).
MODEL_OF_MODE = {"fixed": "kinship", "refit": "kinship", "loco": "loco"}


def _data_options(request: RunRequest) -> list[str]:
    argv = ["--bfile", request.bfile, "--mpheno", str(request.mpheno),
            "--extract", request.extract, "--no-progress"]
    if request.pheno is not None:
        argv += ["--pheno", request.pheno]
    if request.covar is not None:
        argv += ["--covar", request.covar]
    return argv


def _kinship_options(request: RunRequest, loco: bool) -> list[str]:
    if loco:
        return ["--loco"]
    argv = ["--kinship", request.kinship]
    if request.center_kinship:
        argv.append("--center-kinship")
    return argv


def command_line(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> list[str]:
    """The ``exactlmm assoc`` arguments of one run."""
    if mode not in registry.get("exactlmm").modes:
        raise ValueError(f"exactlmm has no mode {mode!r} (lmmcompare.registry)")
    argv = ["assoc", *_data_options(request), "--out", str(out),
            *_kinship_options(request, mode == "loco")]
    return [*argv, "--refit"] if mode == "refit" else argv


def fit_command_line(request: RunRequest, model: str, prefix: str | os.PathLike[str]
                     ) -> list[str]:
    """``exactlmm fit … --save-model PREFIX``: the model (:data:`MODEL_OF_MODE`) that the
    chunks of the modes using it scan with; its null record is ``PREFIX.null.json``."""
    if model not in set(MODEL_OF_MODE.values()):
        raise ValueError(f"no saved model {model!r}: one of {sorted(set(MODEL_OF_MODE.values()))}")
    return ["fit", *_data_options(request), *_kinship_options(request, model == "loco"),
            "--save-model", str(prefix), "--out", str(prefix)]


def chunk_command_line(bfile: str, mode: str, model: str | os.PathLike[str], chunk: int,
                       n_chunks: int, out: str | os.PathLike[str]) -> list[str]:
    """``exactlmm assoc --bfile BFILE --model MODEL --chunk I/N``: chunk I of N of the scan of
    ``mode`` (the model's own data; the genotypes are read from ``bfile``)."""
    argv = ["assoc", "--bfile", str(bfile), "--model", str(model), "--chunk",
            f"{chunk}/{n_chunks}", "--no-progress", "--out", str(out)]
    return [*argv, "--refit"] if mode == "refit" else argv


def gather_command_line(chunks: list[str], out: str | os.PathLike[str]) -> list[str]:
    """``exactlmm gather``: the chunks' tables joined, as one run writes them."""
    return ["gather", *map(str, chunks), "--out", str(out)]


def run_command(argv: list[str]) -> None:
    """``exactlmm ARGV`` in this process; a non-zero exit (2: bad input, whose one-line
    message the command has printed to stderr) raises :class:`ToolFailed`."""
    status = main(argv)
    if status != 0:
        raise ToolFailed(f"'exactlmm {' '.join(argv)}' exited with status {status}")


def run(request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """``exactlmm assoc …`` on the request (:func:`run_command`)."""
    run_command(command_line(request, mode, out))
