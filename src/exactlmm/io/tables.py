"""PLINK-style sample tables (``FID IID v1 v2 …``): phenotypes, covariates, sample matching.

Format (PLINK ``--pheno`` / ``--covar``): whitespace separated, one sample per line, an
optional header line whose first two fields are ``FID IID`` (any case; PLINK 2's ``#FID``
too).  Missing values are ``NA``, ``nan``, ``.`` or the number −9 (PLINK's and GEMMA's
missing-phenotype code; a true value of −9 is therefore read as missing).  Covariate tables
hold the covariates only: the intercept is added by the model code, not read from here
(unlike GEMMA's ``-c`` files, which carry the column of ones and have no ID columns).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
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
    names: one name per value column (from the header, else ``f"{kind}{j}"``, j from 1).
    values: float64 array, samples × columns, NaN where missing.
    """

    path: Path
    fid: np.ndarray
    iid: np.ndarray
    names: list[str]
    values: np.ndarray

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


def read_table(path: str | os.PathLike[str], kind: str) -> SampleTable:
    """Read a ``FID IID v1 … vk`` table (k ≥ 1), checking every line.

    Errors (``InputError`` naming the file): empty file; a line with fewer than 3 fields or
    a different number of fields than the first line; a value that is not a number or not
    finite (``inf``); a (FID, IID) pair seen twice.
    """
    path = Path(path)
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

    fid: list[str] = []
    iid: list[str] = []
    values = np.empty((len(rows), width - 2), dtype=np.float64)
    seen: dict[tuple[str, str], int] = {}
    for r, (lineno, fields) in enumerate(rows):
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
        fid.append(fields[0])
        iid.append(fields[1])
        for c, token in enumerate(fields[2:]):
            try:
                values[r, c] = _parse_value(token)
            except ValueError:
                raise InputError(
                    f"line {lineno}, column {c + 3}: '{token}' is not a number", path=path
                ) from None
            except OverflowError:
                raise InputError(
                    f"line {lineno}, column {c + 3}: '{token}' is not a finite number", path=path
                ) from None
    return SampleTable(
        path=path,
        fid=np.array(fid, dtype=str),
        iid=np.array(iid, dtype=str),
        names=list(names),
        values=values,
    )


def _select_column(table: SampleTable, column: int, what: str) -> SampleTable:
    k = table.values.shape[1]
    if not 1 <= column <= k:
        raise InputError(
            f"{what} column {column} asked for, but the file has {k} "
            f"value column{'s' if k != 1 else ''} (columns are numbered from 1 after FID IID)",
            path=table.path,
        )
    return SampleTable(
        path=table.path,
        fid=table.fid,
        iid=table.iid,
        names=[table.names[column - 1]],
        values=table.values[:, column - 1 : column].copy(),
    )


def read_pheno(path: str | os.PathLike[str], column: int = 1) -> SampleTable:
    """Phenotype ``column`` (1-based among the value columns, like PLINK ``--mpheno``)."""
    return _select_column(read_table(path, "pheno"), column, "phenotype")


def read_covar(path: str | os.PathLike[str]) -> SampleTable:
    """All covariate columns of a ``FID IID c1 … ck`` file (no intercept column)."""
    return read_table(path, "covar")


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
