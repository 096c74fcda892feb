"""PLINK-style sample tables (``FID IID v1 v2 …``): phenotypes, covariates, sample matching.

Format (PLINK ``--pheno`` / ``--covar``): whitespace separated, one sample per line, an
optional header line whose first two fields are ``FID IID`` (any case; PLINK 2's ``#FID``
too).  Missing values are ``NA``, ``nan``, ``.`` or the number −9 (PLINK's and GEMMA's
missing-phenotype code; a true value of −9 is therefore read as missing).  A covariate column
holding text (or named as categorical) is categorical: one-hot coded with the most frequent level
as reference, as PLINK 2 ``--covar`` does (:func:`one_hot`); unlike PLINK 2, ``NA``/−9 are missing
there too (PLINK 2 wants ``NONE``).  Covariate tables hold the covariates only: the intercept
is added by the model code, not read from here (unlike GEMMA's ``-c`` files, which carry the
column of ones and have no ID columns).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exactlmm.errors import InputError
from exactlmm.io.plink import PlinkDataset, read_fam_fields

MISSING_TOKENS = frozenset({"NA", "na", "Na", "nan", "NaN", "NAN", "."})
"""Tokens read as a missing value (besides any number equal to −9)."""

MISSING_CODE = -9.0
MIN_SAMPLES = 3


@dataclass
class SampleTable:
    """Per-sample values read from a table.

    Attributes
    ----------
    path: the file read.
    fid, iid: sample IDs (strings), in file order.
    names: one name per value column (from the header, else ``f"{kind}{j}"``, j from 1);
        a categorical covariate ``C`` gives one column ``C=level`` per non-reference level.
    values: float64 array, samples × columns, NaN where missing.
    categorical: for each categorical covariate, its reference level (left out).
    """

    path: Path
    fid: np.ndarray
    iid: np.ndarray
    names: list[str]
    values: np.ndarray
    categorical: dict[str, str | None] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.iid.shape[0])


def _parse_value(token: str) -> float:
    """One table entry → float, NaN if missing (a missing token, NaN or −9).

    Raises ``ValueError`` when the token is not a number, ``OverflowError`` when infinite.
    """
    if token in MISSING_TOKENS:
        return math.nan
    value = float(token)
    if math.isinf(value):
        raise OverflowError(token)
    return math.nan if value == MISSING_CODE else value  # float("-nan") is NaN too: missing


def _read_rows(path: Path, kind: str) -> tuple[list[str], list[tuple[int, list[str]]], bool]:
    """Header names (or generated ones), data rows ``(line number, fields)`` and whether the
    file had a header.  Checks the shape: ≥ 3 fields, the same number on every line, no
    (FID, IID) pair twice."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{kind} file not found", path=path) from None
    except UnicodeDecodeError as err:
        raise InputError(f"not a text file ({err.reason} at byte {err.start})", path=path) from None
    rows = [(i, f) for i, line in enumerate(text.splitlines(), 1) if (f := line.split())]
    if not rows:
        raise InputError(f"the {kind} file is empty", path=path)
    first_line, first = rows[0]
    width = len(first)
    if width < 3:
        raise InputError(
            f"line {first_line}: {width} fields; expected FID IID and at least one value",
            path=path,
        )
    has_header = first[0].upper().lstrip("#") == "FID" and first[1].upper() == "IID"
    if has_header:
        names = first[2:]
        rows = rows[1:]
        if not rows:
            raise InputError(f"the {kind} file has a header but no samples", path=path)
    else:
        names = [f"{kind}{j}" for j in range(1, width - 1)]
    seen: dict[tuple[str, str], int] = {}
    for lineno, fields in rows:
        if len(fields) != width:
            raise InputError(
                f"line {lineno}: {len(fields)} fields, but line {first_line} has {width}",
                path=path,
            )
        key = (fields[0], fields[1])
        if key in seen:
            raise InputError(
                f"line {lineno}: sample FID={key[0]} IID={key[1]} appears again "
                f"(first on line {seen[key]})",
                path=path,
            )
        seen[key] = lineno
    return list(names), rows, has_header


def _numeric_column(rows: list[tuple[int, list[str]]], c: int, path: Path) -> np.ndarray:
    """Value column ``c`` (0-based after FID IID) as floats, NaN where missing."""
    values = np.empty(len(rows), dtype=np.float64)
    for r, (lineno, fields) in enumerate(rows):
        token = fields[c + 2]
        try:
            values[r] = _parse_value(token)
        except ValueError:
            raise InputError(
                f"line {lineno}, column {c + 3}: '{token}' is not a number", path=path
            ) from None
        except OverflowError:
            raise InputError(
                f"line {lineno}, column {c + 3}: '{token}' is not a finite number", path=path
            ) from None
    return values


def _is_missing(token: str) -> bool:
    try:
        return math.isnan(_parse_value(token))
    except (ValueError, OverflowError):
        return False


def _is_categorical(rows: list[tuple[int, list[str]]], c: int) -> bool:
    """True when a non-missing entry of column ``c`` is not a number (PLINK 2's rule)."""
    for _, fields in rows:
        token = fields[c + 2]
        if _is_missing(token):
            continue
        try:
            float(token)
        except ValueError:
            return True
    return False


def one_hot(name: str, tokens: list[str]) -> tuple[list[str], np.ndarray, str | None]:
    """Indicator columns of a categorical covariate, with a reference level left out.

    The reference is the most frequent level (ties: the first in sorted order), as PLINK 2
    ``--covar`` chooses it; every other level ``v`` gets a 0/1 column named ``name=v`` (PLINK 2's
    names), in sorted order.  A missing entry (``NA``, −9, …: :data:`MISSING_TOKENS`) is NaN
    in every indicator, so the sample is dropped like one with a missing number.  Returns the
    names, a len(tokens) × (levels − 1) array and the reference (``None`` when all missing).

    >>> names, x, ref = one_hot("C", ["b", "a", "NA", "b"])
    >>> names, x.tolist(), ref
    (['C=a'], [[0.0], [1.0], [nan], [0.0]], 'b')
    """
    missing = np.array([_is_missing(t) for t in tokens], dtype=bool)
    present = [t for t, m in zip(tokens, missing, strict=True) if not m]
    if not present:
        return [], np.empty((len(tokens), 0)), None
    levels, counts = np.unique(np.array(present, dtype=str), return_counts=True)
    reference = str(levels[int(np.argmax(counts))])  # argmax: first of the sorted ties
    others = [str(level) for level in levels if level != reference]
    column = np.array(tokens, dtype=str)
    x = (column[:, None] == np.array(others, dtype=str)[None, :]).astype(np.float64)
    x[missing] = np.nan
    return [f"{name}={level}" for level in others], x, reference


def read_table(
    path: str | os.PathLike[str],
    kind: str,
    columns: Sequence[int] | None = None,
    categorical: Collection[str] = (),
) -> SampleTable:
    """Read a ``FID IID v1 … vk`` table (k ≥ 1), checking every line.

    ``columns`` (0-based, default all) are the value columns converted; the others are not
    parsed.  A column named in ``categorical``, or holding a non-missing entry that is not a
    number, is categorical and becomes indicator columns (:func:`one_hot`); the levels and
    references are in ``SampleTable.categorical``.  Categorical columns are allowed only when
    ``kind`` is ``"covar"``.

    Errors (``InputError`` naming the file): empty file; a line with fewer than 3 fields or
    a different number of fields than the first line; a value that is not a number or not
    finite (``inf``) in a numeric column; a (FID, IID) pair seen twice; a ``categorical`` name
    that is not a selected column.
    """
    path = Path(path)
    names, rows, _ = _read_rows(path, kind)
    selected = list(range(len(names))) if columns is None else list(columns)
    unknown = sorted(set(categorical) - {names[c] for c in selected})
    if unknown:
        raise InputError(
            f"categorical covariate {unknown[0]!r} is not a column of the table "
            f"(columns: {', '.join(names[c] for c in selected)})",
            path=path,
        )
    out_names: list[str] = []
    blocks: list[np.ndarray] = []
    levels: dict[str, str | None] = {}
    for c in selected:
        if kind == "covar" and (names[c] in categorical or _is_categorical(rows, c)):
            indicator_names, x, reference = one_hot(names[c], [f[c + 2] for _, f in rows])
            out_names += indicator_names
            blocks.append(x)
            levels[names[c]] = reference
        else:
            out_names.append(names[c])
            blocks.append(_numeric_column(rows, c, path)[:, None])
    return SampleTable(
        path=path,
        fid=np.array([f[0] for _, f in rows], dtype=str),
        iid=np.array([f[1] for _, f in rows], dtype=str),
        names=out_names,
        values=np.hstack(blocks) if blocks else np.empty((len(rows), 0)),
        categorical=levels,
    )


def read_pheno(path: str | os.PathLike[str], column: int = 1) -> SampleTable:
    """Phenotype ``column`` (1-based among the value columns, like PLINK ``--mpheno``); the
    other columns are not parsed (they may hold text, e.g. a categorical covariate)."""
    path = Path(path)
    names, _, _ = _read_rows(path, "pheno")
    k = len(names)
    if not 1 <= column <= k:
        raise InputError(
            f"phenotype column {column} asked for, but the file has {k} "
            f"value column{'s' if k != 1 else ''} (columns are numbered from 1 after FID IID)",
            path=path,
        )
    return read_table(path, "pheno", columns=[column - 1])


def read_covar(
    path: str | os.PathLike[str],
    names: Sequence[str] | None = None,
    categorical: Collection[str] = (),
) -> SampleTable:
    """Covariates of a ``FID IID c1 … ck`` file (no intercept column): the columns ``names``
    (PLINK ``--covar-name``; they need a header line), default all, with ``categorical`` ones
    and those holding text one-hot coded (:func:`one_hot`)."""
    path = Path(path)
    if names is None:
        return read_table(path, "covar", categorical=categorical)
    header, _, has_header = _read_rows(path, "covar")
    if not has_header:
        raise InputError("covariates chosen by name need a header line 'FID IID names…'",
                         path=path)
    missing = [name for name in names if name not in header]
    if missing:
        raise InputError(
            f"covariate {missing[0]!r} is not in the header ({' '.join(header)})", path=path
        )
    return read_table(path, "covar", [header.index(name) for name in names], categorical)


def phenotype_from_fam(ds: PlinkDataset, column: int = 1) -> SampleTable:
    """Phenotype ``column`` from the ``.fam`` file: column k is ``.fam`` field 5 + k.

    Field 6 is PLINK's phenotype; GEMMA's example ``mouse_hs1940.fam`` carries six phenotypes
    in fields 6–11, selected with ``gemma -n k``.  Missing: ``NA`` (etc.) or −9, as GEMMA's
    ``ReadFile_fam`` reads them.
    """
    path = ds.fam_path
    rows = read_fam_fields(path)
    k = len(rows[0][1]) - 5
    if not 1 <= column <= k:
        raise InputError(
            f"phenotype column {column} asked for, but the .fam file has {k} "
            f"phenotype column{'s' if k != 1 else ''} (fields 6..{5 + k})",
            path=path,
        )
    field = 4 + column
    values = np.empty((len(rows), 1), dtype=np.float64)
    for r, (lineno, fields) in enumerate(rows):
        try:
            values[r, 0] = _parse_value(fields[field])
        except (ValueError, OverflowError):
            raise InputError(
                f"line {lineno}, column {field + 1}: phenotype '{fields[field]}' is not a "
                "finite number",
                path=path,
            ) from None
    return SampleTable(
        path=path,
        fid=np.array([f[0] for _, f in rows], dtype=str),
        iid=np.array([f[1] for _, f in rows], dtype=str),
        names=[f"fam_pheno{column}"],
        values=values,
    )


@dataclass
class SampleMatch:
    """Samples used in an analysis, in ``.fam`` order.

    Attributes
    ----------
    fam_index: int64 positions into the ``.fam`` file of the kept samples (increasing).
    y: phenotype of the kept samples, shape (n,).
    covariates: covariates of the kept samples, shape (n, k) (k = 0 without a covariate file).
    n_dropped_missing: ``.fam`` samples with a phenotype-file line that were dropped because
        the phenotype or any covariate is missing (or the sample is not in the covariate file).
    n_fam_without_pheno: ``.fam`` samples that have no line in the phenotype file.
    n_pheno_not_in_fam: phenotype-file samples absent from the ``.fam`` file (ignored).
    pheno_name, covariate_names: column names.
    """

    fam_index: np.ndarray
    y: np.ndarray
    covariates: np.ndarray
    n_dropped_missing: int
    n_fam_without_pheno: int
    n_pheno_not_in_fam: int
    pheno_name: str
    covariate_names: list[str]


def _rows_in_fam(
    ds: PlinkDataset, table: SampleTable, what: str
) -> tuple[np.ndarray, int]:
    """For each ``.fam`` sample, its row in ``table`` (−1 if absent); count of foreign IDs."""
    rows = {(f, i): r for r, (f, i) in enumerate(zip(table.fid, table.iid, strict=True))}
    index = np.array(
        [rows.get((f, i), -1) for f, i in zip(ds.fid, ds.iid, strict=True)], dtype=np.int64
    )
    n_found = int(np.count_nonzero(index >= 0))
    if n_found == 0:
        raise InputError(
            f"none of its {table.n_samples} sample IDs (FID IID) is in {ds.fam_path}",
            path=table.path,
        )
    n_foreign = table.n_samples - n_found
    if n_foreign:
        warnings.warn(
            f"{table.path}: {n_foreign} of its {table.n_samples} {what} samples are not in "
            f"{ds.fam_path} and are ignored",
            stacklevel=3,
        )
    return index, n_foreign


def match_samples(
    ds: PlinkDataset, pheno: SampleTable, covar: SampleTable | None = None
) -> SampleMatch:
    """Keep the ``.fam`` samples with a non-missing phenotype and all covariates present.

    Samples are matched on the (FID, IID) pair and kept in ``.fam`` order.  The phenotype
    table must have exactly one value column (``read_pheno`` / ``phenotype_from_fam``).
    Errors (``InputError`` naming the table): no ID in common with the ``.fam`` file; fewer
    than 3 samples left; a constant phenotype among the samples left.
    """
    if pheno.values.shape[1] != 1:
        raise ValueError("match_samples needs a single phenotype column (use read_pheno)")
    pheno_rows, n_pheno_foreign = _rows_in_fam(ds, pheno, "phenotype")
    has_pheno = pheno_rows >= 0
    y_all = np.where(has_pheno, pheno.values[np.maximum(pheno_rows, 0), 0], np.nan)
    keep = has_pheno & ~np.isnan(y_all)
    if covar is not None:
        covar_rows, _ = _rows_in_fam(ds, covar, "covariate")
        c_all = covar.values[np.maximum(covar_rows, 0)]
        keep &= (covar_rows >= 0) & ~np.isnan(c_all).any(axis=1)
        covariates = c_all[keep]
        covariate_names = list(covar.names)
    else:
        covariates = np.empty((int(keep.sum()), 0), dtype=np.float64)
        covariate_names = []
    fam_index = np.flatnonzero(keep).astype(np.int64)
    y = y_all[keep]
    if fam_index.size < MIN_SAMPLES:
        raise InputError(
            f"only {fam_index.size} samples with a phenotype"
            f"{' and all covariates' if covar is not None else ''} are in {ds.fam_path}; "
            f"at least {MIN_SAMPLES} are needed",
            path=pheno.path,
        )
    if np.ptp(y) == 0:
        raise InputError(
            f"phenotype '{pheno.names[0]}' is constant ({y[0]!r}) over the "
            f"{fam_index.size} analysed samples",
            path=pheno.path,
        )
    return SampleMatch(
        fam_index=fam_index,
        y=y,
        covariates=covariates,
        n_dropped_missing=int(np.count_nonzero(has_pheno & ~keep)),
        n_fam_without_pheno=int(np.count_nonzero(~has_pheno)),
        n_pheno_not_in_fam=n_pheno_foreign,
        pheno_name=pheno.names[0],
        covariate_names=covariate_names,
    )
