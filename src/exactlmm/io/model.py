"""Saved null models: ``exactlmm fit --save-model PREFIX`` writes one, ``exactlmm assoc --model
PREFIX --chunk I/N`` scans a part of the SNPs with it, anywhere the genotypes are.

Format version 1: two files.

``PREFIX.model.npz``
    A zip archive (members stored uncompressed, each dated 1980-01-01, so the same inputs give
    the same bytes) of arrays in numpy's ``.npy`` format (no pickles; ``numpy.load`` reads it):

    =============================  =======================================================
    ``samples/fam_index``           int64 (n): ``.fam`` positions of the analysed samples
    ``samples/y``                   float64 (n): their phenotype
    ``samples/covariates``          float64 (n × c): X, the intercept first
    ``snps/index``                  int64 (M): ``.bim`` positions of the scanned SNPs
    ``part<p>/positions``           int64: positions into ``snps/index`` scanned with part p
    ``part<p>/basis``               W (n × k), orthonormal, orthogonal to col(X)
    ``part<p>/eigenvalues``         s (k): eigenvalues of Q₂ᵀKQ₂ on W
    ``part<p>/covariate_basis``     Q (n × c): orthonormal basis of col(X)
    ``part<p>/kinship_qkq``         A = QᵀKQ (c × c)
    ``part<p>/kinship_wkq``         B = WᵀKQ (k × c)
    ``part<p>/kinship_eigenvalues`` d (n), the eigenvalues of K, when they were computed
    =============================  =======================================================

    (:class:`exactlmm.spectral.Spectrum` holds the same; W's memory order is kept.)  A scan
    without LOCO has one part; a LOCO scan one per chromosome (K₋c) and last the genome-wide
    one, which scans no SNP and gives the headline null.

``PREFIX.model.json``
    The header: ``format`` (``"exactlmm-model"``), ``format_version``, ``tool``, ``version``;
    ``npz_sha256``, the archive's SHA-256 (checked when the model is opened); ``inputs``, a
    fingerprint of every input file — ``{path, bytes, sha256}`` for files up to 64 MiB, for
    larger ones ``sampled_sha256``, the SHA-256 of the size and 16 evenly spaced MiB (reading
    a biobank ``.bed`` whole in every chunk job would cost more than its scan); ``analysis``:
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
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .atomic import atomic_write, write_text_atomic

FORMAT = "exactlmm-model"
FORMAT_VERSION = 1
#: Files up to this size are hashed whole; larger ones by :data:`SAMPLED_PIECES` pieces.
FULL_HASH_BYTES = 64 * 2**20
SAMPLED_PIECES = 16
PIECE_BYTES = 2**20
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_NULL_FIELDS = ("likelihood", "log_delta", "loglik", "sigma_e2", "beta", "kinship_mean_diag",
                "boundary", "log_delta_bounds")


def model_paths(prefix: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(PREFIX.model.npz, PREFIX.model.json)``."""
    return Path(f"{prefix}.model.npz"), Path(f"{prefix}.model.json")


def file_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{path, bytes, sha256}`` of a file up to :data:`FULL_HASH_BYTES`, else ``{path, bytes,
    sampled_sha256}``: SHA-256 of the size and :data:`SAMPLED_PIECES` pieces of
    :data:`PIECE_BYTES` spread evenly from the first byte to the last."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= FULL_HASH_BYTES:
            for piece in iter(lambda: handle.read(2**22), b""):
                digest.update(piece)
            return {"path": str(path), "bytes": size, "sha256": digest.hexdigest()}
        digest.update(str(size).encode())
        last = size - PIECE_BYTES
        for i in range(SAMPLED_PIECES):
            handle.seek(last * i // (SAMPLED_PIECES - 1))
            digest.update(handle.read(PIECE_BYTES))
    return {"path": str(path), "bytes": size, "sampled_sha256": digest.hexdigest()}


def same_file(recorded: dict[str, Any], path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has the content ``recorded`` (a :func:`file_fingerprint`), its path
    aside."""
    now = file_fingerprint(path)
    return {k: v for k, v in now.items() if k != "path"} == {
        k: v for k, v in recorded.items() if k != "path"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(2**22), b""):
            digest.update(piece)
    return digest.hexdigest()


def null_record(null: Any) -> dict[str, Any]:
    """The numbers of a :class:`exactlmm.null.NullModel` (its phenotype aside), for JSON."""
    record = {name: getattr(null, name) for name in _NULL_FIELDS}
    record["beta"] = [float(b) for b in null.beta]
    record["log_delta_bounds"] = [float(b) for b in null.log_delta_bounds]
    for name in ("log_delta", "loglik", "sigma_e2", "kinship_mean_diag"):
        record[name] = float(record[name])
    return record


class ModelWriter:
    """Writes ``PREFIX.model.npz`` a part at a time (:meth:`add_part`), then the header; a
    context manager: the header (``header``, set before the block ends) is written when the
    block ends without an error, and nothing appears under the final names otherwise.

    >>> with ModelWriter(prefix) as writer:  # doctest: +SKIP
    ...     writer.add_array("samples/y", y)
    ...     writer.header = {...}
    """

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        self.npz_path, self.json_path = model_paths(prefix)
        self.parts: list[dict[str, Any]] = []
        self.header: dict[str, Any] | None = None

    def __enter__(self) -> ModelWriter:
        self._context = atomic_write(self.npz_path, "wb")
        self._zip = zipfile.ZipFile(self._context.__enter__(), "w", zipfile.ZIP_STORED,
                                    allowZip64=True)
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self._zip.close()
        if error is not None:
            self._context.__exit__(kind, error, traceback)  # removes the temporary archive
            return
        self._context.__exit__(None, None, None)
        if self.header is None:
            raise ValueError("the model's header was not set")
        record = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.header,
                  "npz_sha256": _sha256(self.npz_path), "parts": self.parts}
        write_text_atomic(self.json_path, json.dumps(record, indent=2, allow_nan=False) + "\n")

    def add_array(self, name: str, values: np.ndarray) -> None:
        info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_STORED
        with self._zip.open(info, "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.asanyarray(values), allow_pickle=False)

    def add_part(self, part: Any) -> None:
        """One :class:`exactlmm.pipeline.ScanPart`: its arrays, and its header entry."""
        p = len(self.parts)
        spectrum = part.model.spectrum
        if spectrum.kinship_blocks is None:
            raise ValueError("a saved model needs the kinship blocks of its spectra")
        qkq, wkq = spectrum.kinship_blocks
        self.add_array(f"part{p}/positions", np.flatnonzero(part.on).astype(np.int64))
        self.add_array(f"part{p}/basis", spectrum.basis)
        self.add_array(f"part{p}/eigenvalues", spectrum.eigenvalues)
        self.add_array(f"part{p}/covariate_basis", spectrum.covariate_basis)
        self.add_array(f"part{p}/kinship_qkq", qkq)
        self.add_array(f"part{p}/kinship_wkq", wkq)
        if spectrum.kinship_eigenvalues is not None:
            self.add_array(f"part{p}/kinship_eigenvalues", spectrum.kinship_eigenvalues)
        self.parts.append({
            "label": part.label,
            "kinship": part.model.description,
            "kinship_n_snps": int(part.model.n_snps),
            "kinship_untested": part.model.untested,
            "kinship_mean_diag": float(part.model.mean_diag),
            "logdet_xtx": float(spectrum.logdet_xtx),
            "rank": int(spectrum.rank),
            "n_snps": int(np.count_nonzero(part.on)),
            "null": null_record(part.null),
            "ml_null": None if part.ml_null is None else null_record(part.ml_null),
            "ml_is_null": part.ml_null is part.null,
        })


class SavedModel:
    """A model written by :class:`ModelWriter`, opened and checked: the header
    (``header``), the arrays read when asked (:meth:`array`)."""

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        self.npz_path, self.json_path = model_paths(prefix)
        for path in (self.json_path, self.npz_path):
            if not path.is_file():
                raise InputError("no such model file (write it with exactlmm fit "
                                 "--save-model)", path)
        try:
            header = json.loads(self.json_path.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(f"not a model header ({err})", self.json_path) from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise InputError(f"not an {FORMAT} header", self.json_path)
        if header.get("format_version") != FORMAT_VERSION:
            raise InputError(f"model format version {header.get('format_version')}; this "
                             f"exactlmm reads version {FORMAT_VERSION}", self.json_path)
        if _sha256(self.npz_path) != header.get("npz_sha256"):
            raise InputError(f"its SHA-256 is not the one {self.json_path.name} records (a "
                             "changed, truncated or mismatched model file)", self.npz_path)
        self.header = header
        self._npz = np.load(self.npz_path, allow_pickle=False)

    @property
    def parts(self) -> list[dict[str, Any]]:
        return self.header["parts"]

    @property
    def names(self) -> set[str]:
        """The arrays the archive holds."""
        return set(self._npz.files)

    def array(self, name: str) -> np.ndarray:
        return self._npz[name]

    def check_inputs(self, files: Iterable[tuple[str, str | os.PathLike[str]]]) -> None:
        """Each ``(kind, path)`` (``bed``, ``bim``, ``fam``) must have the content the model
        was fitted on; the first that does not is a one-line error naming the model."""
        recorded = self.header["inputs"]
        for kind, path in files:
            if not same_file(recorded[kind], path):
                raise InputError(
                    f"the model was fitted on other data: {path} differs from the "
                    f"{recorded[kind]['path']} it records ({recorded[kind]['bytes']} bytes)",
                    self.json_path)
