"""Saved null models: ``exactlmm fit --save-model PREFIX`` writes one, ``exactlmm assoc --model
PREFIX --chunk I/N`` scans a part of the SNPs with it, anywhere the genotypes are.

Format version 2: two files (version 1, without ``header_sha256``, pieces and LOCO downdates,
is refused with a one-line error: fit the model again).

``PREFIX.model.npz``
    A zip archive (members stored uncompressed, each dated 1980-01-01, so the same inputs give
    the same bytes) of arrays in numpy's ``.npy`` format (no pickles; ``numpy.load`` reads it):

    =============================  =======================================================
    ``samples/fam_index``           int64 (n): ``.fam`` positions of the analysed samples
    ``samples/y``                   float64 (n): their phenotype
    ``samples/covariates``          float64 (n × c): X, the intercept first
    ``snps/index``                  int64 (M): ``.bim`` positions of the scanned SNPs
    ``kinship_snps/index``          int64: ``.bim`` positions of ``--kinship-snps``, if given
    ``part<p>/positions``           int64: positions into ``snps/index`` scanned with part p
    ``part<p>/basis``               W (n × k), orthonormal, orthogonal to col(X)
    ``part<p>/eigenvalues``         s (k): eigenvalues of Q₂ᵀKQ₂ on W
    ``part<p>/covariate_basis``     Q (n × c): orthonormal basis of col(X)
    ``part<p>/kinship_qkq``         A = QᵀKQ (c × c)
    ``part<p>/kinship_wkq``         B = WᵀKQ (k × c)
    ``part<p>/kinship_eigenvalues`` d (n), the eigenvalues of K, when they were computed
    =============================  =======================================================

    (:class:`exactlmm.spectral.Spectrum` holds the same; W's memory order is kept.)  A scan
    without LOCO has one part; a LOCO scan first the genome-wide one, which scans no SNP and
    gives the headline null, then one per chromosome (K₋c).  A chromosome whose K₋c is a
    downdate of the genome-wide eigenbasis (:mod:`exactlmm.downdate`; ``method`` in its
    header entry) stores only its positions: a chunk job decodes its kinship SNPs in blocks of
    the fit's ``block_size`` and evaluates the downdate at the saved log δ, the same
    computation as the fit's, so its statistics are the single run's bit for bit.

``PREFIX.model.json``
    The header: ``format`` (``"exactlmm-model"``), ``format_version``, ``tool``, ``version``;
    ``npz_sha256``, the archive's SHA-256 (checked when the model is opened); ``inputs``, a
    fingerprint of every input file — ``{path, bytes, piece_bytes, pieces}``, the SHA-256 of
    each 64 MiB piece (:func:`file_fingerprint`: a chunk job checks the pieces it reads);
    ``header_sha256``, the SHA-256 of the rest of the header (:func:`header_digest`), the
    model's identity; ``analysis``:
    the options the model was fitted with, the sample counts, the phenotype's and covariates'
    names; ``parts``: per part its label (chromosome, or null), kinship description, SNPs and
    untested counts, tr(K)/n, log|XᵀX|, and the null fits (REML or ML as asked, and ML), each
    with every number of :class:`exactlmm.null.NullModel` as JSON floats (``repr``: they
    round-trip exactly); ``provenance``.

A chunk job checks the ``.bed``/``.bim``/``.fam`` it is given against the fingerprints (the
paths may differ: a cluster node mounts them elsewhere) and rebuilds exactly the spectra and
null fits of the fit job, so its statistics are bit for bit those of a single run.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .atomic import FileGroup
from .digest import sha256_file
from .text import read_text

FORMAT = "exactlmm-model"
FORMAT_VERSION = 2
#: Input files are hashed in pieces of this many bytes (the last one shorter), so that a chunk
#: job checks exactly the pieces holding what it reads.
PIECE_BYTES = 64 * 2**20
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_NULL_FIELDS = ("likelihood", "log_delta", "loglik", "sigma_e2", "beta", "kinship_mean_diag",
                "boundary", "log_delta_bounds")


def model_paths(prefix: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(PREFIX.model.npz, PREFIX.model.json)``."""
    return Path(f"{prefix}.model.npz"), Path(f"{prefix}.model.json")


def _piece_digests(path: Path, pieces: Iterable[int]) -> dict[int, str]:
    """SHA-256 of the given pieces of ``path`` (:data:`PIECE_BYTES` each), two at a time
    (``hashlib`` lets go of the GIL on large buffers)."""

    def digest(index: int) -> tuple[int, str]:
        with open(path, "rb") as handle:
            handle.seek(index * PIECE_BYTES)
            return index, hashlib.sha256(handle.read(PIECE_BYTES)).hexdigest()

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(digest, sorted(set(pieces))))


def file_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{path, bytes, piece_bytes, pieces}``: the file's size and the SHA-256 of each of its
    pieces of :data:`PIECE_BYTES` (one piece, the whole file's SHA-256, up to that size).
    Every byte is hashed (about 1.7 s per GB on this project's 2-core machines)."""
    path = Path(path)
    size = path.stat().st_size
    count = max(1, -(-size // PIECE_BYTES))
    digests = _piece_digests(path, range(count))
    return {"path": str(path), "bytes": size, "piece_bytes": PIECE_BYTES,
            "pieces": [digests[i] for i in range(count)]}


def check_file(recorded: dict[str, Any], path: str | os.PathLike[str],
               byte_ranges: Iterable[tuple[int, int]] | None = None) -> str | None:
    """Why ``path`` is not the file ``recorded`` (a :func:`file_fingerprint`) describes, or
    ``None`` when it is: its size, and the pieces holding ``byte_ranges`` (``[start, stop)``
    pairs; ``None``: every piece)."""
    path = Path(path)
    size = path.stat().st_size
    if size != recorded["bytes"]:
        return f"{path} has {size} bytes, the model's {recorded['path']} had {recorded['bytes']}"
    piece = recorded["piece_bytes"]
    if byte_ranges is None:
        wanted: Iterable[int] = range(len(recorded["pieces"]))
    else:
        wanted = {i for start, stop in byte_ranges if stop > start
                  for i in range(start // piece, (stop - 1) // piece + 1)}
    if piece != PIECE_BYTES:
        raise ValueError(f"pieces of {piece} bytes; this exactlmm hashes {PIECE_BYTES}")
    for index, digest in sorted(_piece_digests(path, wanted).items()):
        if digest != recorded["pieces"][index]:
            return (f"{path} differs from the {recorded['path']} it was fitted on (bytes "
                    f"{index * piece} to {min((index + 1) * piece, size)})")
    return None


def null_record(null: Any) -> dict[str, Any]:
    """The numbers of a :class:`exactlmm.null.NullModel` (its phenotype aside), for JSON."""
    record = {name: getattr(null, name) for name in _NULL_FIELDS}
    record["beta"] = [float(b) for b in null.beta]
    record["log_delta_bounds"] = [float(b) for b in null.log_delta_bounds]
    for name in ("log_delta", "loglik", "sigma_e2", "kinship_mean_diag"):
        record[name] = float(record[name])
    record["se_log_delta"] = null.se_log_delta
    record["df_genetic"] = null.df_genetic
    return record


def header_digest(header: dict[str, Any]) -> str:
    """SHA-256 of a header's canonical JSON (sorted keys, no spaces), ``header_sha256`` left
    out: the model's identity — it covers the archive (``npz_sha256``), the inputs, the
    options and every null fit."""
    body = {k: v for k, v in header.items() if k != "header_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


class ModelWriter:
    """Writes ``PREFIX.model.npz`` a part at a time (:meth:`add_part`), then the header; a
    context manager: the header (``header``, set before the block ends) is written when the
    block ends without an error, the two files put in place together
    (:class:`exactlmm.io.atomic.FileGroup`, the header as the seal), and nothing appears under
    the final names otherwise.

    >>> with ModelWriter(prefix) as writer:  # doctest: +SKIP
    ...     writer.add_array("samples/y", y)
    ...     writer.header = {...}
    """

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        self.npz_path, self.json_path = model_paths(prefix)
        self.parts: list[dict[str, Any]] = []
        self.header: dict[str, Any] | None = None

    def __enter__(self) -> ModelWriter:
        self._group = FileGroup()
        self._context = self._group.open(self.npz_path, "wb")
        self._zip = zipfile.ZipFile(self._context.__enter__(), "w", zipfile.ZIP_STORED,
                                    allowZip64=True)
        return self

    def __exit__(self, kind, error, traceback) -> None:
        with self._group:  # temporaries removed unless committed
            try:
                self._zip.close()
            finally:
                self._context.__exit__(kind, error, traceback)
            if error is not None:
                return
            if self.header is None:
                raise ValueError("the model's header was not set")
            record = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.header,
                      "npz_sha256": sha256_file(self._group.temporary(self.npz_path)),
                      "parts": self.parts}
            record["header_sha256"] = header_digest(record)
            self._group.write_text(self.json_path,
                                   json.dumps(record, indent=2, allow_nan=False) + "\n",
                                   seal=True)
            self._group.commit()

    def add_array(self, name: str, values: np.ndarray) -> None:
        info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_STORED
        with self._zip.open(info, "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.asanyarray(values), allow_pickle=False)
    def add_part(self, part: Any) -> None:
        """One :class:`exactlmm.pipeline.ScanPart` of one analysis: its arrays, and its header
        entry.  A LOCO chromosome whose K₋c is a downdate of the genome-wide part (or is K)
        stores only its SNPs' positions: a chunk job rebuilds it from the genome-wide part."""
        (null,), (ml_null,) = part.nulls, part.ml_nulls
        p = len(self.parts)
        spectrum = part.model.spectrum
        self.add_array(f"part{p}/positions", np.flatnonzero(part.on).astype(np.int64))
        entry = {
            "label": part.label,
            "method": part.method,
            "kinship": part.model.description,
            "kinship_n_snps": int(part.model.n_snps),
            "kinship_untested": part.model.untested,
            "kinship_mean_diag": float(part.model.mean_diag),
            "logdet_xtx": float(spectrum.logdet_xtx),
            "rank": int(spectrum.rank),
            "n_snps": int(np.count_nonzero(part.on)),
            "null": null_record(null),
            "ml_null": None if ml_null is None else null_record(ml_null),
            "ml_is_null": ml_null is null,
        }
        if part.method in ("downdate", "genome-wide"):
            if part.method == "downdate":
                downdate = null.downdate
                m_rest = downdate.n_snps - downdate.n_removed
                entry.update(kinship=f"standardized, {m_rest} SNPs off chromosome "
                                     f"{part.label}, downdate", kinship_n_snps=m_rest,
                             kinship_untested={}, kinship_mean_diag=float(downdate.mean_diag),
                             n_removed=int(downdate.n_removed))
            self.parts.append(entry)
            return
        if spectrum.kinship_blocks is None:
            raise ValueError("a saved model needs the kinship blocks of its spectra")
        qkq, wkq = spectrum.kinship_blocks
        self.add_array(f"part{p}/basis", spectrum.basis)
        self.add_array(f"part{p}/eigenvalues", spectrum.eigenvalues)
        self.add_array(f"part{p}/covariate_basis", spectrum.covariate_basis)
        self.add_array(f"part{p}/kinship_qkq", qkq)
        self.add_array(f"part{p}/kinship_wkq", wkq)
        if spectrum.kinship_eigenvalues is not None:
            self.add_array(f"part{p}/kinship_eigenvalues", spectrum.kinship_eigenvalues)
        self.parts.append(entry)


_NUMBER = (int, float)
_FINGERPRINT = {"path": str, "bytes": int, "piece_bytes": int, "pieces": [str]}
_NULL = {"likelihood": str, "log_delta": _NUMBER, "loglik": _NUMBER, "sigma_e2": _NUMBER,
         "beta": [_NUMBER], "kinship_mean_diag": _NUMBER, "boundary": (str, None),
         "log_delta_bounds": [_NUMBER]}
#: The header's structure: a dict spec lists required keys (others may be present), a list
#: spec the type of every element, a tuple the alternatives (``None``: JSON null).
HEADER_STRUCTURE = {
    "format": str, "format_version": int, "tool": str, "version": str,
    "npz_sha256": str, "header_sha256": str,
    "inputs": {"bed": _FINGERPRINT, "bim": _FINGERPRINT, "fam": _FINGERPRINT},
    "analysis": {
        "likelihood": str, "fixed_gamma": (_NUMBER, None), "loco": bool, "n_samples": int,
        "n_snps": int, "phenotype_label": str, "pheno_source": str,
        "kinship_source": (str, None), "covariate_names": [str], "pheno_name": str,
        "n_dropped_missing": int, "n_fam_without_pheno": int, "n_pheno_not_in_fam": int,
        "categorical_references": dict, "parameters": dict,
    },
    "parts": [{
        "label": (str, None), "method": (str, None), "kinship": str, "kinship_n_snps": int,
        "kinship_untested": dict,
        "kinship_mean_diag": _NUMBER, "logdet_xtx": _NUMBER, "rank": int, "n_snps": int,
        "null": _NULL, "ml_null": (_NULL, None), "ml_is_null": bool,
    }],
}


def structure_error(value: Any, spec: Any, where: str = "") -> str | None:
    """Where ``value`` departs from ``spec`` (:data:`HEADER_STRUCTURE`'s form), or ``None``."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{where or 'the header'} is not an object"
        for key, inner in spec.items():
            if key not in value:
                return f"{where + '.' if where else ''}{key} is missing"
            problem = structure_error(value[key], inner, f"{where + '.' if where else ''}{key}")
            if problem:
                return problem
        return None
    if isinstance(spec, list):
        if not isinstance(value, list):
            return f"{where} is not a list"
        for i, item in enumerate(value):
            problem = structure_error(item, spec[0], f"{where}[{i}]")
            if problem:
                return problem
        return None
    alternatives = spec if isinstance(spec, tuple) else (spec,)
    for alternative in alternatives:
        if alternative is None:
            if value is None:
                return None
        elif isinstance(alternative, (dict, list, tuple)):
            if structure_error(value, alternative, where) is None:
                return None
        elif isinstance(value, alternative) and not (
                isinstance(value, bool) and alternative in (int, float)):
            return None
    return f"{where} is {json.dumps(value)[:40]}, not of the expected type"


class SavedModel:
    """A model written by :class:`ModelWriter`, opened and checked: the header (``header``;
    its format version, its own checksum ``header_sha256``, its structure, the archive's
    ``npz_sha256``), the arrays read when asked (:meth:`array`).  Any mismatch is a one-line
    ``InputError`` naming the file."""

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        self.npz_path, self.json_path = model_paths(prefix)
        for path in (self.json_path, self.npz_path):
            if not path.is_file():
                raise InputError("no such model file (write it with exactlmm fit "
                                 "--save-model)", path)
        try:
            header = json.loads(read_text(self.json_path, "model header"))
        except ValueError as err:
            raise InputError(f"not a model header ({err})", self.json_path) from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise InputError(f"not an {FORMAT} header", self.json_path)
        if header.get("format_version") != FORMAT_VERSION:
            raise InputError(f"model format version {header.get('format_version')}; this "
                             f"exactlmm reads version {FORMAT_VERSION} (fit the model again "
                             "with exactlmm fit --save-model)", self.json_path)
        if header.get("header_sha256") != header_digest(header):
            raise InputError("its content does not match its header_sha256: the header was "
                             "edited or damaged (fit the model again)", self.json_path)
        problem = structure_error(header, HEADER_STRUCTURE)
        if problem:
            raise InputError(f"not a valid model header: {problem}", self.json_path)
        if sha256_file(self.npz_path) != header["npz_sha256"]:
            raise InputError(f"its SHA-256 is not the one {self.json_path.name} records (a "
                             "changed, truncated or mismatched model file)", self.npz_path)
        self.header = header
        self._npz = np.load(self.npz_path, allow_pickle=False)

    @property
    def identity(self) -> str:
        """The model's ``header_sha256`` (:func:`header_digest`): equal for two files only
        when they hold the same fits of the same data with the same options."""
        return self.header["header_sha256"]

    @property
    def parts(self) -> list[dict[str, Any]]:
        return self.header["parts"]

    @property
    def names(self) -> set[str]:
        """The arrays the archive holds."""
        return set(self._npz.files)

    def array(self, name: str) -> np.ndarray:
        return self._npz[name]

    def check_input(self, kind: str, path: str | os.PathLike[str],
                    byte_ranges: Iterable[tuple[int, int]] | None = None) -> None:
        """``path`` (``kind``: ``bed``, ``bim`` or ``fam``) must hold what the model was
        fitted on, in the bytes ``byte_ranges`` (``None``: all of it; :func:`check_file`);
        otherwise a one-line error naming the model."""
        problem = check_file(self.header["inputs"][kind], path, byte_ranges)
        if problem:
            raise InputError(f"the model was fitted on other data: {problem}", self.json_path)
