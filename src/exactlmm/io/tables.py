"""PLINK-style sample tables (``FID IID v1 v2 …``): phenotypes, covariates, sample matching.

Format (PLINK ``--pheno`` / ``--covar``): whitespace separated, one sample per line, an
optional header line whose first two fields are ``FID IID`` (any case; PLINK 2's ``#FID``
too).  Missing values are ``NA``, ``nan``, ``.`` or the number −9 (PLINK's and GEMMA's
missing-phenotype code; a true value of −9 is therefore read as missing).  A covariate column
holding text (or named as categorical) is categorical: read as level codes, then one-hot coded
over the analysed samples by :func:`match_samples`, with the most frequent level there as
reference and empty levels dropped, as PLINK 2 ``--covar`` does (:func:`one_hot`); unlike
PLINK 2, ``NA``/−9 are missing there too (PLINK 2 wants ``NONE``).  Covariate tables hold the
covariates only: the intercept is added by the model code, not read from here (unlike GEMMA's
``-c`` files, which carry the column of ones and have no ID columns).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exactlmm.errors import InputError
from exactlmm.io.plink import PlinkDataset, read_fam_fields
from exactlmm.io.text import check_unique_samples, split_lines
from exactlmm.scan import COLLINEAR_TOLERANCE

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
    names: one name per value column (from the header, else ``f"{kind}{j}"``, j from 1).
    values: float64 array, samples × columns, NaN where missing; a categorical column holds the
        index of the sample's level in ``categorical[name]``.
    categorical: for each categorical column, its levels in natural sort order.
    header: whether ``names`` come from a header line.
    """

    path: Path
    fid: np.ndarray
    iid: np.ndarray
    names: list[str]
    values: np.ndarray
    categorical: dict[str, list[str]] = field(default_factory=dict)
    header: bool = False

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
    rows = split_lines(path, f"{kind} file")
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
    for lineno, fields in rows:
        if len(fields) != width:
            raise InputError(
                f"line {lineno}: {len(fields)} fields, but line {first_line} has {width}",
                path=path,
            )
    check_unique_samples(rows[1:] if has_header else rows, path)
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


def _level(token: str) -> str:
    """A categorical level as written, numbers in one canonical form ("1", "1.0" → "1")."""
    try:
        return format(float(token), "g")
    except ValueError:
        return token


def natural_key(text: str) -> tuple:
    """Sort key comparing runs of digits as numbers ("9" < "10"; PLINK 2's natural sort)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in re.split(r"(\d+)", text) if part)


def _level_codes(tokens: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes (NaN where missing) into the levels, sorted naturally, of a categorical column."""
    missing = np.array([_is_missing(t) for t in tokens], dtype=bool)
    labels = [_level(t) for t in tokens]
    levels = sorted({label for label, m in zip(labels, missing, strict=True) if not m},
                    key=natural_key)
    index = {level: float(i) for i, level in enumerate(levels)}
    codes = np.array([math.nan if m else index[label]
                      for label, m in zip(labels, missing, strict=True)])
    return codes, levels


def one_hot(name: str, codes: np.ndarray, levels: Sequence[str]
            ) -> tuple[list[str], np.ndarray, str | None]:
    """Indicator columns of a categorical covariate over the rows given, a reference left out.

    ``codes`` index ``levels`` (natural sort order; NaN = missing, NaN in every indicator).
    Levels no row holds are dropped; the reference is the most frequent of the others (ties:
    the first in natural sort order), as PLINK 2 ``--covar`` chooses it
    (``IdentifyRemainingCatsAndMostCommon``); every other level ``v`` gets a 0/1 column named
    ``name=v`` (PLINK 2's names).  Returns the names, a len(codes) × (levels present − 1) array
    and the reference (``None`` when every row is missing).

    >>> names, x, ref = one_hot("C", np.array([1.0, 0.0, np.nan, 1.0]), ["a", "b", "c"])
    >>> names, x.tolist(), ref
    (['C=a'], [[0.0], [1.0], [nan], [0.0]], 'b')
    """
    present = codes[~np.isnan(codes)].astype(np.int64)
    counts = np.bincount(present, minlength=len(levels))
    if not present.size:
        return [], np.empty((codes.size, 0)), None
    reference = int(np.argmax(counts))  # the first of the tied maxima, in natural order
    others = [k for k in range(len(levels)) if counts[k] > 0 and k != reference]
    x = (codes[:, None] == np.array(others, dtype=np.float64)[None, :]).astype(np.float64)
    x[np.isnan(codes)] = np.nan
    return [f"{name}={levels[k]}" for k in others], x, levels[reference]


def read_table(
    path: str | os.PathLike[str],
    kind: str,
    columns: Sequence[int] | None = None,
    categorical: Collection[str] = (),
) -> SampleTable:
    """Read a ``FID IID v1 … vk`` table (k ≥ 1), checking every line.

    ``columns`` (0-based, default all) are the value columns converted; the others are not
    parsed.  A column named in ``categorical``, or holding a non-missing entry that is not a
    number, is categorical: its values are level codes and its levels are in
    ``SampleTable.categorical`` (:func:`match_samples` one-hot codes it over the analysed
    samples).  Categorical columns are allowed only when ``kind`` is ``"covar"``.

    Errors (``InputError`` naming the file): empty file; a line with fewer than 3 fields or
    a different number of fields than the first line; a value that is not a number or not
    finite (``inf``) in a numeric column; a (FID, IID) pair seen twice; a ``categorical`` name
    that is not a selected column.
    """
    path = Path(path)
    names, rows, header = _read_rows(path, kind)
    selected = list(range(len(names))) if columns is None else list(columns)
    unknown = sorted(set(categorical) - {names[c] for c in selected})
    if unknown:
        raise InputError(
            f"categorical covariate {unknown[0]!r} is not a column of the table "
            f"(columns: {', '.join(names[c] for c in selected)})",
            path=path,
        )
    values = np.empty((len(rows), len(selected)), dtype=np.float64)
    levels: dict[str, list[str]] = {}
    for j, c in enumerate(selected):
        if kind == "covar" and (names[c] in categorical or _is_categorical(rows, c)):
            values[:, j], levels[names[c]] = _level_codes([f[c + 2] for _, f in rows])
        else:
            values[:, j] = _numeric_column(rows, c, path)
    return SampleTable(
        path=path,
        fid=np.array([f[0] for _, f in rows], dtype=str),
        iid=np.array([f[1] for _, f in rows], dtype=str),
        names=[names[c] for c in selected],
        values=values,
        categorical=levels,
        header=header,
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
    return plink_case_control(read_table(path, "pheno", columns=[column - 1]))


def read_phenotypes(path: str | os.PathLike[str], columns: Sequence[int] | None = None
                    ) -> list[SampleTable]:
    """Several phenotype columns (1-based, like ``--mpheno``; ``None``: all of them), read in
    one pass: one single-column :class:`SampleTable` per column, in the order given."""
    path = Path(path)
    names, _, _ = _read_rows(path, "pheno")
    k = len(names)
    chosen = list(range(1, k + 1)) if columns is None else list(columns)
    bad = next((c for c in chosen if not 1 <= c <= k), None)
    if bad is not None:
        raise InputError(
            f"phenotype column {bad} asked for, but the file has {k} "
            f"value column{'s' if k != 1 else ''} (columns are numbered from 1 after FID IID)",
            path=path,
        )
    table = read_table(path, "pheno", columns=[c - 1 for c in chosen])
    return [plink_case_control(SampleTable(table.path, table.fid, table.iid, [table.names[j]],
                                           table.values[:, j : j + 1], header=table.header))
            for j in range(len(chosen))]


def n_phenotype_columns(path: str | os.PathLike[str]) -> int:
    """How many value columns (after FID IID) a phenotype file has."""
    return len(_read_rows(Path(path), "pheno")[0])


def read_covar(
    path: str | os.PathLike[str],
    names: Sequence[str] | None = None,
    categorical: Collection[str] = (),
) -> SampleTable:
    """Covariates of a ``FID IID c1 … ck`` file (no intercept column): the columns ``names``
    (PLINK ``--covar-name``; they need a header line), default all; ``categorical`` ones and
    those holding text are read as level codes (one-hot coded by :func:`match_samples`)."""
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


def n_fam_phenotypes(ds: PlinkDataset) -> int:
    """How many phenotype columns (fields 6, 7, …) the ``.fam`` file has."""
    return len(read_fam_fields(ds.fam_path)[0][1]) - 5


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
    return plink_case_control(SampleTable(
        path=path,
        fid=np.array([f[0] for _, f in rows], dtype=str),
        iid=np.array([f[1] for _, f in rows], dtype=str),
        names=[f"fam_pheno{column}"],
        values=values,
    ))


def plink_case_control(table: SampleTable) -> SampleTable:
    """A one-column phenotype table with PLINK's case/control coding applied, and a warning
    for a binary trait.

    PLINK 1.9 and 2 read a phenotype whose values are all 0, 1, 2 or missing as case/control
    (1 = control, 2 = case) with 0 a missing value (``--1`` switches to 0/1 coding); GEMMA
    reads 0 as a value.  Here a column holding both 1 and 2 and nothing but 0, 1 and 2 is
    1/2 coded as PLINK says: its 0s become missing.  A column of only 0s and 1s is analysed
    as it is, 0/1 (what PLINK's ``--1`` means).  Either way the trait is binary and the LMM
    treats it as quantitative (a linear probability model), which the warning says.
    """
    y = table.values[:, 0]
    levels = set(np.unique(y[~np.isnan(y)]).tolist())
    name = table.names[0]
    if levels <= {0.0, 1.0, 2.0} and {1.0, 2.0} <= levels:
        zeros = y == 0.0
        if zeros.any():
            warnings.warn(f"{table.path}: phenotype '{name}' is 1/2 coded (PLINK's case/control "
                          f"coding): its {int(zeros.sum())} zeros are read as missing, as PLINK "
                          "does", stacklevel=2)
            table.values[zeros, 0] = np.nan
        levels.discard(0.0)
    if len(levels) == 2 and levels in ({0.0, 1.0}, {1.0, 2.0}):
        warnings.warn(f"{table.path}: phenotype '{name}' is binary "
                      f"({'/'.join(f'{v:g}' for v in sorted(levels))}); the linear mixed model "
                      "analyses it as a quantitative trait (a linear probability model)",
                      stacklevel=2)
    return table


#: A phenotype whose values or spread pass these bounds is refused: its squares and the
#: likelihood's sums of squares would leave float64's range (about 1e±308) or its precision.
PHENOTYPE_SCALE_BOUNDS = (1e-100, 1e100)


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
    n_missing_covariate: of those, the samples with a phenotype that were dropped for a
        missing covariate (or for not being in the covariate file).
    n_fam_without_pheno: ``.fam`` samples that have no line in the phenotype file.
    n_pheno_not_in_fam: phenotype-file samples absent from the ``.fam`` file (ignored).
    pheno_name, covariate_names: column names (``C=level`` for a categorical covariate's
        indicators).
    categorical_references: each categorical covariate's reference level over these samples.
    """

    fam_index: np.ndarray
    y: np.ndarray
    covariates: np.ndarray
    n_dropped_missing: int
    n_fam_without_pheno: int
    n_pheno_not_in_fam: int
    pheno_name: str
    covariate_names: list[str]
    categorical_references: dict[str, str | None] = field(default_factory=dict)
    n_missing_covariate: int = 0


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
    Categorical covariates are one-hot coded over the kept samples (:func:`one_hot`).
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
        covariates, covariate_names, references = _expand_categorical(covar, c_all[keep])
    else:
        covariates = np.empty((int(keep.sum()), 0), dtype=np.float64)
        covariate_names, references = [], {}
    fam_index = np.flatnonzero(keep).astype(np.int64)
    y = y_all[keep]
    if fam_index.size < MIN_SAMPLES:
        raise InputError(
            f"only {fam_index.size} samples with a phenotype"
            f"{' and all covariates' if covar is not None else ''} are in {ds.fam_path}; "
            f"at least {MIN_SAMPLES} are needed",
            path=pheno.path,
        )
    _check_phenotype(y, covariates, pheno, covar)
    has_y = has_pheno & ~np.isnan(y_all)
    return SampleMatch(
        fam_index=fam_index,
        y=y,
        covariates=covariates,
        n_dropped_missing=int(np.count_nonzero(has_pheno & ~keep)),
        n_missing_covariate=int(np.count_nonzero(has_y & ~keep)),
        n_fam_without_pheno=int(np.count_nonzero(~has_pheno)),
        n_pheno_not_in_fam=n_pheno_foreign,
        pheno_name=pheno.names[0],
        covariate_names=covariate_names,
        categorical_references=references,
    )


def _check_phenotype(y: np.ndarray, covariates: np.ndarray, pheno: SampleTable,
                     covar: SampleTable | None) -> None:
    """Refuse a phenotype the model cannot analyse (``InputError`` naming the file): constant;
    of a scale beyond :data:`PHENOTYPE_SCALE_BOUNDS`; or in the span of the intercept and the
    covariates, ‖(I − QQᵀ)y‖² ≤ ``COLLINEAR_TOLERANCE`` · ‖y − ȳ‖² with Q an orthonormal
    basis of X (the rule that makes a SNP ``COLLINEAR``): nothing would be left for the
    variance components (σe² would be rounding noise and every p-value meaningless)."""
    name = pheno.names[0]
    if np.ptp(y) == 0:
        raise InputError(f"phenotype '{name}' is constant ({y[0]!r}) over the {y.size} "
                         "analysed samples", path=pheno.path)
    lo, hi = PHENOTYPE_SCALE_BOUNDS
    largest = float(np.max(np.abs(y)))
    scaled = y / largest  # the standard deviation without overflow or underflow
    spread = largest * float(np.sqrt(np.mean((scaled - scaled.mean()) ** 2)))
    if not lo <= spread <= hi:
        raise InputError(f"phenotype '{name}' has values up to {largest:.3g} and a standard "
                         f"deviation of {spread:.3g}: outside {lo:g} to {hi:g}, where its "
                         "squares leave double precision; rescale it (e.g. to standard units)",
                         path=pheno.path)
    x = np.column_stack([np.ones(y.size), covariates])
    q, _ = np.linalg.qr(x)
    residual = y - q @ (q.T @ y)
    if residual @ residual <= COLLINEAR_TOLERANCE * float(np.sum((y - y.mean()) ** 2)):
        raise InputError(
            f"phenotype '{name}' lies in the span of the intercept and the covariates"
            f"{' of ' + str(covar.path) if covar is not None else ''} (is it one of them?): "
            "nothing is left for the variance components", path=pheno.path)


def _expand_categorical(
    covar: SampleTable, values: np.ndarray
) -> tuple[np.ndarray, list[str], dict[str, str | None]]:
    """The covariate columns of the kept samples with each categorical one one-hot coded."""
    blocks, names, references = [], [], {}
    for j, name in enumerate(covar.names):
        if name in covar.categorical:
            indicator_names, x, references[name] = one_hot(
                name, values[:, j], covar.categorical[name])
            blocks.append(x)
            names += indicator_names
        else:
            blocks.append(values[:, j : j + 1])
            names.append(name)
    matrix = np.hstack(blocks) if blocks else np.empty((values.shape[0], 0))
    return matrix, names, references
