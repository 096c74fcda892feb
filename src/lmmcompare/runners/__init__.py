"""Runners: each puts one LMM tool on our inputs and writes our two result files.

A runner is a module ``lmmcompare.runners.<tool>`` named by the tool's registry entry
(:mod:`lmmcompare.registry`) with one function::

    run(request: RunRequest, mode: str, out: Path) -> None

``run`` analyses exactly the samples our tool analyses (the ``.fam`` samples with a phenotype and
every covariate, in ``.fam`` order; ``exactlmm.pipeline.load_inputs``), tests exactly the SNPs of
``request.extract``, uses the kinship file as given (in ``loco`` mode the tool builds its own from
the genotypes, in ``none`` mode it uses none; neither loads the file), and writes
``OUT.assoc.tsv`` and ``OUT.null.json`` (docs/DESIGN.md).  It is called in-process by
:func:`lmmcompare.runs.execute`, which first checks the mode and that the tool is installed,
both against the registry entry (``Tool.modes``, ``Tool.needs``): a runner checks neither.  A
runner of an external program runs it through :mod:`lmmcompare.runners.program`.

A run that cannot happen here raises a :class:`SkipRun` (the tool cannot take this dataset)
whose one-line message is the reason recorded in the skipped-run record; a tool that ran and
failed raises :class:`ToolFailed`; bad input raises ``InputError``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RunRequest:
    """The inputs every tool of one comparison is given (paths as the user wrote them).

    Attributes
    ----------
    bfile: PLINK prefix (.bed/.bim/.fam).
    pheno: phenotype table ``FID IID v1 …``, or ``None`` for the ``.fam`` phenotype columns.
    mpheno: 1-based phenotype column (PLINK ``--mpheno``).
    covar: covariate table ``FID IID c1 …`` without an intercept column (each tool adds it), or
        ``None``.
    kinship: N × N kinship text file over all ``.fam`` samples in ``.fam`` order.
    extract: the SNPs to test, one ID per line (PLINK ``--extract``).
    center_kinship: double-center K over the analysed samples first (ours only; GEMMA always
        does, the others never).
    threads: threads the tool may use (Snakemake's for the job; the BLAS libraries of an
        in-process run are limited by the job's environment).
    keep_raw: a directory for the program's own output files and console, or ``None``
        (:mod:`lmmcompare.runners.program`).
    """

    bfile: str
    pheno: str | None
    mpheno: int
    covar: str | None
    kinship: str
    extract: str
    center_kinship: bool = False
    threads: int = 1
    keep_raw: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameters for provenance: everything but ``threads`` and ``keep_raw``,
        so that the same config gives the same bytes whatever ``--cores`` Snakemake was given
        and wherever raw outputs are kept."""
        record = asdict(self)
        del record["threads"], record["keep_raw"]
        return record


class SkipRun(RuntimeError):
    """This run cannot happen here; the message (one line) says why.  Not a failure."""


class ToolNotInstalled(SkipRun):
    """The tool is not available (Python package missing or program not on PATH)."""


class ToolFailed(RuntimeError):
    """The tool ran but failed; the message carries the end of its output."""


__all__ = ["RunRequest", "SkipRun", "ToolFailed", "ToolNotInstalled"]
