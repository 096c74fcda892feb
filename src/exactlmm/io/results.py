"""The two result files every tool run writes (docs/DESIGN.md): ``.assoc.tsv`` and ``.null.json``.

``PREFIX.assoc.tsv``: tab separated, one header line with exactly :data:`ASSOC_COLUMNS`,
``NA`` for a statistic a tool does not give.  Floats are written with 10 significant
digits (``%.10g``; ample for comparing tools, whose agreement is judged at ~1e-6), integers
as integers, ``inf`` as ``inf``.  The last column, ``errcode``, is ``.`` for a SNP that was
tested and otherwise one of :data:`ERRCODES` saying why its statistics are NA (PLINK 2's
``ERRCODE`` column).

``PREFIX.null.json``: the null model, ``json.dumps(indent=2)`` in the key order given.  numpy
scalars and arrays become Python numbers and lists; Python floats are written by ``json``
with ``repr`` (exact round trip).  A NaN becomes ``null`` (the JSON spelling of "not given",
like ``NA`` in the TSV); ±inf raises ``ValueError`` since JSON cannot hold it.

Both writers are atomic and byte-reproducible (no timestamps).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from exactlmm.errors import InputError
from exactlmm.io.atomic import FileGroup, atomic_write, write_text_atomic
from exactlmm.io.digest import sha256_file
from exactlmm.io.text import read_text

PEER_STATISTIC_COLUMNS = ("p_bolt_mix",)
"""p-value columns only a peer fills, NA in every other tool's table and always in ours:
``p_bolt_mix``, BOLT-LMM's mixture-model (non-infinitesimal) test ``P_BOLT_LMM``, which the same
BOLT-LMM run gives beside its infinitesimal one (``p_wald``)."""
STATISTIC_COLUMNS = ("beta", "se", "p_wald", "p_lrt", "p_score", *PEER_STATISTIC_COLUMNS,
                     "delta", "delta_ml")
"""The columns a tool's test fills (NA for a SNP with an errcode other than ``.``)."""
SNP_COLUMNS = ("chrom", "snp", "pos", "a1", "a2")
"""The columns that name a SNP (from the ``.bim``)."""
ROW_COLUMNS = ("n", "af", *STATISTIC_COLUMNS, "errcode")
"""The columns a scan computes for each SNP."""
ASSOC_COLUMNS = (*SNP_COLUMNS, *ROW_COLUMNS)
"""Every column of an ``.assoc.tsv``, in order."""
HEADER_LINE = "\t".join(ASSOC_COLUMNS) + "\n"
"""The header line of an ``.assoc.tsv`` (all of a skipped run's table)."""
STRING_COLUMNS = frozenset({"chrom", "snp", "a1", "a2", "errcode"})

TESTED = "."
"""``errcode`` of a SNP that was tested."""

ERRCODES = {
    "NO_CALLS": "no called genotype among the analysed samples",
    "MONOMORPHIC": "one genotype class among the called genotypes of the analysed samples "
                   "(PLINK 2: CONST_ALLELE)",
    "COLLINEAR": "the SNP lies in the span of the covariates (PLINK 2: VIF_INFINITE)",
    "TOOL_FAILED": "the tool's own fit failed for this SNP (e.g. PyLMM's per-SNP optimiser)",
    "NOT_REPORTED": "the tool did not report the SNP",
}
"""Why a SNP's statistics are NA: ``errcode`` values other than :data:`TESTED`."""

ERRCODE_DTYPE = np.dtype(f"<U{max(len(code) for code in ERRCODES)}")
"""A numpy string type wide enough for every errcode (arrays of errcodes use it)."""
INTEGER_COLUMNS = frozenset({"pos", "n"})
FLOAT_FORMAT = "%.10g"
NA = "NA"

NULL_REQUIRED_KEYS = ("tool", "gamma", "loglik", "likelihood")
LIKELIHOODS = ("REML", "ML", None)
"""What ``likelihood`` can be: ``None`` for a tool that fits no likelihood (``loglik`` is then
``None`` too: BOLT-LMM's Monte-Carlo REML prints none, PLINK 2's regression has no kinship).
``gamma`` is a number ≥ 0, or ``None`` for a run that reports no variance ratio (a table the
harness did not make: a tool defined in the workflow's config, results imported from
elsewhere; a method without a variance-component model: REGENIE's ridge regressions)."""
TABLE_SHA256 = "assoc_sha256"
"""The ``null.json`` key holding the SHA-256 of the ``.assoc.tsv`` written with it."""


# --------------------------------------------------------------------------- assoc.tsv


def _format(form: str, values: np.ndarray, missing: np.ndarray) -> list[str]:
    """``form % v`` for every value (C-level ``%`` through ``map``), ``NA`` where missing; a
    column of one value (or only NA, e.g. ``delta`` and ``delta_ml`` in fixed mode) is
    formatted once."""
    n = values.size
    if n and missing.all():
        return [NA] * n
    if n and not missing.any() and values[0] == values[-1] and np.all(values == values[0]):
        return [form % values[0].item()] * n
    present = values if not missing.any() else values[~missing]
    if present.size > 16384 and np.unique(present[:4096]).size < 2048:
        # few distinct values (allele frequencies, call counts): each is formatted once
        distinct, where = np.unique(present, return_inverse=True)
        if distinct.size < present.size // 8:
            texts = np.array(list(map(form.__mod__, distinct.tolist())), dtype=object)[where]
            if not missing.any():
                return texts.tolist()
            text = np.full(n, NA, dtype=object)
            text[~missing] = texts
            return text.tolist()
    if not missing.any():
        return list(map(form.__mod__, values.tolist()))
    text = np.full(n, NA, dtype=object)
    text[~missing] = list(map(form.__mod__, present.tolist()))
    return text.tolist()


def _format_strings(name: str, values: np.ndarray) -> list[str]:
    strings = values.astype(str)
    if strings.size == 0:  # no row (e.g. a chunk of a scan that got no SNP)
        return []
    codes = np.ascontiguousarray(strings).reshape(-1).view(np.uint32).reshape(strings.size, -1)
    bad = (codes[:, 0] == 0) | (codes == 9).any(axis=1) | (codes == 10).any(axis=1)
    if bad.any():
        value = strings.reshape(-1)[int(np.argmax(bad))]
        raise ValueError(f"column {name!r}: value {value!r} is empty or holds a tab or newline")
    return strings.tolist()


def _format_integers(name: str, values: np.ndarray) -> list[str]:
    if np.issubdtype(values.dtype, np.integer):
        return _format("%d", values, np.zeros(values.shape, dtype=bool))
    floats = values.astype(np.float64)
    missing = np.isnan(floats)
    whole = np.where(missing, 0.0, floats)
    if not np.all(np.isfinite(whole)) or np.any(whole != np.round(whole)):
        raise ValueError(f"column {name!r} must hold integers (or NaN for NA)")
    return _format("%d", whole.astype(np.int64), missing)


def _format_floats(name: str, values: np.ndarray) -> list[str]:
    try:
        floats = values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"column {name!r} must hold numbers") from None
    return _format(FLOAT_FORMAT, floats, np.isnan(floats))


def format_assoc_tsv(columns: Mapping[str, np.ndarray | Sequence[Any]]) -> bytes:
    """The bytes of an ``.assoc.tsv`` with one array per column of :data:`ASSOC_COLUMNS`.

    Every column must be given and all must have the same length; ``None`` or NaN in a
    numeric column is written ``NA``.  ``pos`` and ``n`` must hold whole numbers.
    """
    missing = [name for name in ASSOC_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in ASSOC_COLUMNS]
    if missing or unknown:
        raise ValueError(f"assoc columns: missing {missing}, unknown {unknown}")
    formatted = []
    length = None
    for name in ASSOC_COLUMNS:
        values = np.asarray(columns[name])
        if values.dtype == object and name not in STRING_COLUMNS:
            values = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"column {name!r} must be one-dimensional, got shape {values.shape}")
        if length is None:
            length = values.size
        elif values.size != length:
            raise ValueError(f"column {name!r} has {values.size} values, 'chrom' has {length}")
        if name in STRING_COLUMNS:
            formatted.append(_format_strings(name, values))
        elif name in INTEGER_COLUMNS:
            formatted.append(_format_integers(name, values))
        else:
            formatted.append(_format_floats(name, values))
    lines = "\n".join(map("\t".join, zip(*formatted, strict=True)))
    return (HEADER_LINE + (lines + "\n" if lines else "")).encode()


def write_assoc_tsv(
    path: str | os.PathLike[str], columns: Mapping[str, np.ndarray | Sequence[Any]]
) -> None:
    """Write an ``.assoc.tsv`` alone, atomically (:func:`format_assoc_tsv`); a run's output
    pair is written by :func:`write_result_pair`."""
    data = format_assoc_tsv(columns)
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def read_assoc_tsv(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read an ``.assoc.tsv`` file into one numpy array per column.

    ``chrom``, ``snp``, ``a1``, ``a2`` are strings; ``pos`` and ``n`` are int64, or float64
    with NaN when any value is ``NA``; the other columns are float64 with NaN for ``NA``.
    Extra columns are kept (as strings).  Errors (``InputError`` naming the file): missing
    file, missing columns, a line with the wrong number of fields, a value that is not a
    number in a numeric column.
    """
    path = Path(path)
    lines = read_text(path, "association file").splitlines()
    if not lines:
        raise InputError("the association file is empty (no header line)", path=path)
    header = lines[0].split("\t")
    absent = [name for name in ASSOC_COLUMNS if name not in header]
    if absent:
        raise InputError(f"missing column{'s' if len(absent) > 1 else ''} "
                         f"{', '.join(absent)} in the header line", path=path)
    rows = [line.split("\t") for line in lines[1:] if line]
    for lineno, fields in enumerate(rows, 2):
        if len(fields) != len(header):
            raise InputError(
                f"line {lineno}: {len(fields)} fields, the header has {len(header)}", path=path
            )
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    out: dict[str, np.ndarray] = {}
    for name, text in zip(header, columns, strict=True):
        if name in STRING_COLUMNS or name not in ASSOC_COLUMNS:
            out[name] = np.array(text, dtype=str)
            continue
        try:
            values = np.array([math.nan if t == NA else float(t) for t in text], dtype=np.float64)
        except ValueError:
            bad = next(i for i, t in enumerate(text) if t != NA and not _is_float(t))
            raise InputError(
                f"line {bad + 2}, column {name}: '{text[bad]}' is not a number", path=path
            ) from None
        if name in INTEGER_COLUMNS and not np.isnan(values).any():
            values = values.astype(np.int64)
        out[name] = values
    return out


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- null.json


def _to_json(value: Any, where: str) -> Any:
    """numpy → Python types, recursively; NaN → None; ±inf → ValueError."""
    if isinstance(value, Mapping):
        return {str(k): _to_json(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value.tolist())]
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise ValueError(f"null model entry {where} is {value}; JSON cannot hold infinity")
    return value


def format_null_json(record: Mapping[str, Any]) -> str:
    """The text of ``PREFIX.null.json`` of an ``ok`` run (``indent=2``, ``"status": "ok"``
    first, then the keys in the order given)."""
    missing = [key for key in NULL_REQUIRED_KEYS if key not in record]
    if missing:
        raise ValueError(f"null model record lacks {missing}")
    clean = _to_json({"status": "ok", **{k: v for k, v in record.items() if k != "status"}},
                     "record")
    return json.dumps(clean, indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_null_json(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Write a ``null.json`` alone, atomically (:func:`format_null_json`); a run's output pair
    is written by :func:`write_result_pair`."""
    write_text_atomic(path, format_null_json(record))


def _prefix_path(prefix: str | os.PathLike[str], suffix: str) -> Path:
    prefix = Path(prefix)
    return prefix.with_name(prefix.name + suffix)


def pair_paths(prefix: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(PREFIX.assoc.tsv, PREFIX.null.json)``."""
    return _prefix_path(prefix, ".assoc.tsv"), _prefix_path(prefix, ".null.json")


def sealed_record(table: bytes, record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with :data:`TABLE_SHA256` = the SHA-256 of ``table`` as its last key."""
    return {**{k: v for k, v in record.items() if k != TABLE_SHA256},
            TABLE_SHA256: hashlib.sha256(table).hexdigest()}


def stage_result_pair(group: FileGroup, prefix: str | os.PathLike[str], table: bytes,
                      null_text: str) -> None:
    """Add a run's output pair to ``group``: the table, and its ``null.json`` text (which
    should carry the table's SHA-256: :func:`sealed_record`) as the seal."""
    table_path, null_path = pair_paths(prefix)
    group.write_bytes(table_path, table)
    group.write_text(null_path, null_text, seal=True)


def write_result_pairs(
    pairs: Sequence[tuple[str | os.PathLike[str], Mapping[str, Any], Mapping[str, Any]]],
) -> None:
    """Write the output pairs ``(prefix, columns, record)`` of one run (several phenotypes:
    one pair each) as one unit (:class:`exactlmm.io.atomic.FileGroup`).

    Every table and ``null.json`` is formatted and written to temporary files first; only when
    all are complete are the old ``null.json`` files removed, the tables renamed into place and
    the new ``null.json`` files last.  Each ``null.json`` carries the SHA-256 of its table
    (:data:`TABLE_SHA256`), so a reader can tell a pair from a table beside another run's
    record (:func:`check_pair`).
    """
    write_table_pairs([(prefix, format_assoc_tsv(columns), record)
                       for prefix, columns, record in pairs])


def write_table_pairs(
    pairs: Sequence[tuple[str | os.PathLike[str], bytes, Mapping[str, Any]]],
) -> None:
    """:func:`write_result_pairs` for tables already formatted: ``(prefix, table bytes,
    record)``."""
    with FileGroup() as group:
        for prefix, table, record in pairs:
            stage_result_pair(group, prefix, table, format_null_json(sealed_record(table, record)))
        group.commit()


def write_result_pair(prefix: str | os.PathLike[str],
                      columns: Mapping[str, np.ndarray | Sequence[Any]],
                      record: Mapping[str, Any]) -> None:
    """Write ``PREFIX.assoc.tsv`` and ``PREFIX.null.json`` of an ``ok`` run as one unit
    (:func:`write_result_pairs`)."""
    write_result_pairs([(prefix, columns, record)])


def check_pair(prefix: str | os.PathLike[str], record: Mapping[str, Any] | None = None
               ) -> None:
    """Check that ``PREFIX.assoc.tsv`` is the table ``PREFIX.null.json`` was written with: its
    SHA-256 equals the record's :data:`TABLE_SHA256` (a record without one, from an older
    version, is not checked).  ``record``: the ``null.json`` already read.

    Errors (``InputError`` naming the table): the table is missing, or is not the one sealed.
    """
    table_path, null_path = pair_paths(prefix)
    if record is None:
        record = _load_json_object(null_path)
    expected = record.get(TABLE_SHA256)
    if expected is None:
        return
    try:
        actual = sha256_file(table_path)
    except FileNotFoundError:
        raise InputError(f"missing: {null_path.name} names a table that is not there",
                         path=table_path) from None
    except OSError as err:
        raise InputError(f"cannot read it ({err.strerror})", path=table_path) from None
    if actual != expected:
        raise InputError(f"not the table {null_path.name} was written with (SHA-256 "
                         f"{actual[:12]}…, the record says {str(expected)[:12]}…): altered, "
                         "or left by another run", path=table_path)




def read_null_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``PREFIX.null.json``; ``null`` values stay ``None``.

    Errors (``InputError`` naming the file): missing file, invalid JSON, not an object,
    missing ``tool``/``gamma``/``loglik``/``likelihood``, ``likelihood`` not REML, ML or null,
    ``gamma`` neither a number ≥ 0 nor null (:data:`LIKELIHOODS`).
    """
    path = Path(path)
    record = _load_json_object(path)
    if record.get("status") == "skipped":
        raise InputError(f"the run was skipped ({record.get('reason')}): no null model",
                         path=path)
    _check_null_record(record, path)
    return record


def _load_json_object(path: Path) -> dict[str, Any]:
    text = read_text(path, "null-model file")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})", path=path
        ) from None
    if not isinstance(record, dict):
        raise InputError("a null-model file must hold a JSON object", path=path)
    return record


def _check_null_record(record: dict[str, Any], path: Path) -> None:
    missing = [key for key in NULL_REQUIRED_KEYS if key not in record]
    if missing:
        raise InputError(f"missing key{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}", path=path)
    if record["likelihood"] not in LIKELIHOODS:
        raise InputError(
            f"likelihood is {record['likelihood']!r}, expected 'REML', 'ML' or null", path=path
        )
    gamma = record["gamma"]
    if gamma is not None and (isinstance(gamma, bool) or not isinstance(gamma, (int, float))
                              or gamma < 0):
        raise InputError(f"gamma is {gamma!r}, expected a number >= 0 or null", path=path)
