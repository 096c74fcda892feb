"""A tool's output against ours: its table read (by its format's one reader,
:mod:`lmmcompare.formats`), its rows matched to our SNPs, its alleles, frequencies and counts
checked, the SNPs it left out marked.

Every runner of a tool that writes a table goes through these, so that a tool counting the
other allele (β's sign flipped), analysing other samples or reporting other SNPs fails the run
(:class:`~lmmcompare.runners.ToolFailed`) instead of giving wrong numbers, and a SNP it did not
report is ``NOT_REPORTED`` in our table.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from exactlmm.errors import InputError
from exactlmm.io.results import TESTED
from lmmcompare import formats
from lmmcompare.runners import ToolFailed


def read_output(path: str | os.PathLike[str], fmt: formats.Preset | str,
                label: str) -> formats.ResultTable:
    """A tool's association table, read by the one reader of its format
    (:func:`lmmcompare.formats.read_table`: a preset of :data:`lmmcompare.formats.PRESETS`);
    a table that does not read is a :class:`ToolFailed` of ``label`` naming the file and the
    problem (the tool wrote something other than its documented layout)."""
    try:
        return formats.read_table(path, fmt)
    except InputError as error:
        raise ToolFailed(f"{label}: {error}") from None


def reported_rows(
    snp_ids: np.ndarray, given: np.ndarray, reported: np.ndarray, label: str
) -> np.ndarray:
    """Positions into our SNP columns (IDs ``snp_ids``) of the SNPs a tool reported, in its
    order.  ``given`` are the positions of the SNPs handed to it; a reported ID that is not one
    of them, or one reported twice, is a :class:`ToolFailed` (vectorised: sort and search)."""
    given = np.asarray(given, dtype=np.int64)
    reported = np.asarray(reported).astype(str)
    ids = np.asarray(snp_ids).astype(str)[given]
    order = np.argsort(ids, kind="stable")
    pos = np.minimum(np.searchsorted(ids[order], reported), max(ids.size - 1, 0))
    if reported.size and (ids.size == 0 or not np.array_equal(ids[order][pos], reported)):
        raise ToolFailed(f"{label} reported SNPs that are not in the list it was given")
    rows = given[order][pos]
    if np.unique(rows).size != rows.size:
        raise ToolFailed(f"{label} reported a SNP twice")
    return rows


def check_agrees(label: str, column: str, theirs: np.ndarray, ours: np.ndarray, what: str,
                 rtol: float = 0.0, atol: float = 0.0) -> None:
    """A :class:`ToolFailed` unless a tool's output ``column`` equals ours at the SNPs it
    reported: exactly (text, counts), or within ``rtol``/``atol`` (printed numbers).  Alleles,
    allele frequencies and call counts checked this way catch a tool that counts the other
    allele (β's sign flipped) or analyses other samples; ``what`` says which."""
    theirs, ours = np.asarray(theirs), np.asarray(ours)
    if rtol or atol:
        same = theirs.shape == ours.shape and np.allclose(theirs, ours, rtol=rtol, atol=atol)
    else:
        same = np.array_equal(theirs, ours)
    if not same:
        raise ToolFailed(f"{label}'s {column} differ from {what}")


def check_counts(label: str, found: Mapping[str, int], expected: Sequence[int]) -> None:
    """A :class:`ToolFailed` unless the counts a tool logged (samples, covariates, …: ``found``,
    by what they count) are ours (``expected``, in the same order): it analysed other samples
    or covariates."""
    if tuple(found.values()) != tuple(expected):
        said = ", ".join(f"{value} {what}" for what, value in found.items())
        raise ToolFailed(f"{label} analysed {said}; expected {', '.join(map(str, expected))}")


def mark_not_reported(stats: dict[str, np.ndarray], rows: np.ndarray, label: str) -> None:
    """A SNP ours can test (errcode ``.``) that is not among the ``rows`` a tool reported is
    ``NOT_REPORTED`` (said on stderr, the job's log)."""
    reported = np.zeros(stats["errcode"].size, dtype=bool)
    reported[rows] = True
    missing = ~reported & (stats["errcode"] == TESTED)
    stats["errcode"][missing] = "NOT_REPORTED"
    if missing.any():
        print(f"{label}: {int(missing.sum())} SNPs were not reported by {label}; their rows are "
              "NA", file=sys.stderr)


def log_values(text: str, patterns: Mapping[str, str], source: str) -> dict[str, tuple[str, ...]]:
    """The groups of each regular expression of ``patterns`` (``^``/``$`` match at line ends)
    in a tool's log ``text``; a pattern that matches nothing is a :class:`ToolFailed` naming
    ``source``."""
    found = {}
    for key, pattern in patterns.items():
        match = re.search(pattern, text, flags=re.MULTILINE)
        if match is None:
            raise ToolFailed(f"{source}: no line matching '{pattern}'")
        found[key] = match.groups()
    return found
