"""Staging a configured real dataset: sha256 checks, archive members, gunzip, conversion of
PLINK 2 / VCF / BGEN genotypes, phenotype and covariates.

A dataset's ``plink:`` entry (``workflow/schemas/config.schema.yaml``) names its files: a path or
http(s) URL prefix (``source``) of ``.bed/.bim/.fam`` (with ``.gz`` when ``gzipped``), or member
names inside a tar ``archive``; a phenotype file or a ``.fam`` column; an optional covariate file.
Its ``format`` says what the genotypes are (:data:`GENOTYPE_FILES`): a PLINK 1 set (``plink1``),
a PLINK 2 set (``pgen``: ``source.pgen/.pvar/.psam``), a VCF (``vcf``: ``source`` is the
``.vcf`` or ``.vcf.gz``) or a BGEN v1.2 file (``bgen``: ``source`` is the ``.bgen``, its
``.sample`` beside it or named by ``format.sample``); the last three are converted to the PLINK 1
set every tool reads by :func:`lmmcompare.convert.to_plink1` (Debian ``plink2``; hard calls,
multi-allelic sites dropped and counted in the log, duplicate ids and samples that do not match
one-line errors: that module's docstring) with the ``format`` entry's settings.
:func:`plan` turns that entry into what the staging job needs (a JSON-able record the workflow
passes as a parameter), :func:`input_sources` into the files it reads, and :func:`stage_plink`
writes the staged set:

* ``genotypes.{bed,bim,fam}``: each source checked against its configured sha256 (a file without
  one is not checked; the archive's own sha256 first), decompressed when gzipped, taken out of
  the archive when there is one, converted when it is not PLINK 1;
* ``genotypes.pheno``: the configured phenotype file verbatim, or ``FID IID pheno`` from a
  ``.fam`` column (values verbatim: ``NA`` and −9 stay missing), read by the one ``.fam`` reader
  (``exactlmm.io.plink.read_fam_fields``);
* ``genotypes.covar`` (only with covariates): the chosen columns of the analysed samples (in the
  ``.fam``, with a phenotype and every covariate) as numbers, categorical ones one-hot coded over
  those samples by the one reader and matcher (``exactlmm.io.tables.read_covar``,
  ``match_samples``), so every tool is given the same numeric covariates.

Every output is written atomically; bad input (a checksum mismatch, a missing archive member, a
corrupt gzip or tar file, a ``.fam`` without the phenotype column) is a one-line ``InputError``
naming the source as configured (``archive:member`` for a member).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exactlmm.errors import InputError
from exactlmm.io.atomic import atomic_write, write_text_atomic
from exactlmm.io.plink import open_plink, read_fam_fields
from exactlmm.io.tables import SampleTable, match_samples, read_covar, read_pheno
from lmmcompare import convert

CHUNK = 1 << 20
"""Bytes read at a time (hashing, copying)."""

PLINK1_FILES = ("bed", "bim", "fam")
"""The staged set (and a PLINK 1 source's files)."""

GENOTYPE_FILES = {
    "plink1": PLINK1_FILES,
    "pgen": ("pgen", "pvar", "psam"),
    "vcf": ("vcf",),
    "bgen": ("bgen", "sample"),
}
"""The source files of each genotype ``format.kind`` (the keys of ``sha256:``)."""

CONVERT_THREADS = 1
CONVERT_MEMORY_MB = 1024
"""PLINK 2's threads and memory (MiB) when it converts a dataset."""


def covariate_spec(given: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A ``covariates:`` entry as ``{file, columns, categorical}`` (a plain string is a file whose
    columns are all used), or ``None`` for none."""
    if given is None:
        return None
    if isinstance(given, str):
        given = {"file": given}
    return {"file": given["file"], "columns": given.get("columns"),
            "categorical": list(given.get("categorical") or [])}


def phenotype_column(plink: Mapping[str, Any]) -> int:
    """1-based phenotype column (PLINK ``--mpheno``) of the staged ``.pheno`` file: a phenotype
    file is staged verbatim, so its configured column applies; a ``.fam`` phenotype is staged as
    ``FID IID pheno`` (column 1)."""
    phenotype = plink["phenotype"]
    return phenotype["column"] if phenotype["file"] else 1


def source_names(plink: Mapping[str, Any]) -> dict[str, str]:
    """The genotype files as the config names them (paths or URLs, or archive members), by
    the names of :data:`GENOTYPE_FILES`: ``{bed, bim, fam}`` of a PLINK 1 set (with ``.gz`` when
    ``gzipped``), ``{pgen, pvar, psam}`` of a PLINK 2 set, ``{vcf}``, ``{bgen, sample}`` (the
    ``.sample`` is ``format.sample``, else the ``.bgen``'s name with ``.sample``)."""
    kind, source = plink["format"]["kind"], plink["source"]
    if kind == "plink1":
        suffix = ".gz" if plink["gzipped"] else ""
        return {ext: f"{source}.{ext}{suffix}" for ext in PLINK1_FILES}
    if kind == "pgen":
        return {ext: f"{source}.{ext}" for ext in GENOTYPE_FILES["pgen"]}
    if kind == "vcf":
        return {"vcf": source}
    sample = plink["format"].get("sample") or f"{source.removesuffix('.bgen')}.sample"
    return {"bgen": source, "sample": sample}


def conversion_options(plink: Mapping[str, Any]) -> dict[str, Any]:
    """The ``format`` settings :func:`lmmcompare.convert.to_plink1` takes
    (:data:`lmmcompare.convert.OPTIONS`)."""
    return {key: value for key, value in plink["format"].items() if key in convert.OPTIONS}


def input_sources(plink: Mapping[str, Any]) -> dict[str, str]:
    """What the staging job reads, by input name: ``archive``, or ``bed``, ``bim``, ``fam`` and
    ``pheno_file``/``covar_file`` when configured (paths or URLs as written)."""
    if plink["archive"]:
        return {"archive": plink["archive"]}
    sources = source_names(plink)
    if plink["phenotype"]["file"]:
        sources["pheno_file"] = plink["phenotype"]["file"]
    covariates = covariate_spec(plink["covariates"])
    if covariates:
        sources["covar_file"] = covariates["file"]
    return sources


def plan(plink: Mapping[str, Any]) -> dict[str, Any]:
    """Everything :func:`stage_plink` needs from a ``plink:`` entry (JSON-able)."""
    return {
        "kind": plink["format"]["kind"],
        "conversion": conversion_options(plink),
        "sources": source_names(plink),
        "archive": plink["archive"],
        "archive_sha256": plink["archive_sha256"],
        "gzipped": plink["gzipped"],
        "sha256": dict(plink["sha256"]),
        "phenotype": dict(plink["phenotype"]),
        "phenotype_column": phenotype_column(plink),
        "covariates": covariate_spec(plink["covariates"]),
    }


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read :data:`CHUNK` bytes at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(functools.partial(handle.read, CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | Path, expected: str | None, name: str) -> None:
    """``InputError`` naming ``name`` when the file's sha256 is not ``expected`` (``None``: not
    checked, and the log says so)."""
    if expected is None:
        print(f"{name}: no sha256 configured, not verified", file=sys.stderr)
        return
    actual = sha256_of(path)
    if actual != expected.lower():
        raise InputError(f"sha256 mismatch: expected {expected.lower()}, got {actual}", path=name)
    print(f"{name}: sha256 {actual} verified", file=sys.stderr)


def copy_file(source: str | Path, target: str | Path, gzipped: bool, name: str) -> None:
    """Copy ``source`` to ``target`` atomically, decompressing it when ``gzipped``; a file that
    cannot be read (or is not gzip data) is an ``InputError`` naming ``name``."""
    opener = gzip.open if gzipped else open
    try:
        with opener(source, "rb") as src, atomic_write(target, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except (OSError, EOFError) as err:
        raise InputError(f"cannot read ({err})", path=name) from None


def unpack(archive: str | Path, members: list[str], directory: str | Path,
           name: str) -> dict[str, Path]:
    """Extract the regular-file ``members`` of a tar archive (any compression ``tarfile``
    reads) into ``directory``, flat; return ``{member: path}``.  A member may be stored with or
    without a leading ``./``.  A missing member or an unreadable archive is an ``InputError``
    naming ``name``."""
    try:
        with tarfile.open(archive) as tar:
            found = {info.name.removeprefix("./"): info for info in tar.getmembers()
                     if info.isfile()}
            paths = {}
            for member in members:
                info = found.get(member)
                if info is None:
                    raise InputError(f"the archive has no member {member!r}", path=name)
                path = Path(directory) / f"member{len(paths)}"
                with tar.extractfile(info) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                paths[member] = path
            return paths
    except (OSError, EOFError, tarfile.TarError) as err:
        raise InputError(f"cannot read the archive ({err})", path=name) from None


def fam_phenotype(fam_path: str | Path, column: int, name: str) -> str:
    """``FID IID pheno`` text from 1-based ``column`` of a ``.fam`` file (values verbatim)."""
    lines = ["FID IID pheno"]
    try:
        rows = read_fam_fields(fam_path)
    except InputError as err:
        raise InputError(str(err).replace(str(fam_path), name, 1)) from None
    for lineno, fields in rows:
        if len(fields) < column:
            raise InputError(f"line {lineno}: has {len(fields)} columns, phenotype column "
                             f"{column} is missing", path=name)
        lines.append(f"{fields[0]} {fields[1]} {fields[column - 1]}")
    return "\n".join(lines) + "\n"


def read_covariates(path: str | Path, covariates: Mapping[str, Any], name: str) -> SampleTable:
    """The configured covariate columns of ``path`` (errors name the source as configured)."""
    try:
        return read_covar(path, covariates["columns"], covariates["categorical"])
    except InputError as err:
        raise InputError(str(err).replace(str(path), name, 1)) from None


def covariate_text(prefix: str | Path, pheno_path: str | Path, pheno_column: int,
                   table: SampleTable, name: str) -> str:
    """``FID IID c1 …`` of the analysed samples of the staged fileset ``prefix``: numbers,
    categorical covariates as indicator columns ``C=level`` coded over those samples (the
    reference levels are logged)."""
    ds = open_plink(prefix)
    samples = match_samples(ds, read_pheno(pheno_path, pheno_column), table)
    for column, reference in samples.categorical_references.items():
        print(f"{name}: covariate {column} is categorical, reference level {reference} "
              "(the most frequent among the analysed samples)", file=sys.stderr)
    lines = [" ".join(["FID", "IID", *samples.covariate_names])]
    for i, row in zip(samples.fam_index, samples.covariates, strict=True):
        lines.append(" ".join([ds.fid[i], ds.iid[i], *(repr(float(v)) for v in row)]))
    return "\n".join(lines) + "\n"


def stage_plink(plan: Mapping[str, Any], inputs: Mapping[str, str | Path],
                outputs: Mapping[str, str | Path]) -> None:
    """Stage one dataset (module docstring): ``plan`` from :func:`plan`, ``inputs`` the files of
    :func:`input_sources` as the job has them (local paths), ``outputs`` the paths of ``bed``,
    ``bim``, ``fam``, ``pheno`` and, with covariates, ``covar``.  The covariate spec is checked
    before anything is written."""
    sources, phenotype, covariates = plan["sources"], plan["phenotype"], plan["covariates"]
    with contextlib.ExitStack() as stack:
        directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="stage-"))
        if plan["archive"]:
            archive = plan["archive"]
            verify(inputs["archive"], plan["archive_sha256"], archive)
            members = list(sources.values())
            members += [f for f in (phenotype["file"], covariates and covariates["file"]) if f]
            files = unpack(inputs["archive"], list(dict.fromkeys(members)), directory, archive)
            named = {member: f"{archive}:{member}" for member in files}
        else:
            files = {source: Path(inputs[name]) for name, source in sources.items()}
            if phenotype["file"]:
                files[phenotype["file"]] = Path(inputs["pheno_file"])
            if covariates:
                files[covariates["file"]] = Path(inputs["covar_file"])
            named = {member: member for member in files}
        table = (read_covariates(files[covariates["file"]], covariates,
                                 named[covariates["file"]]) if covariates else None)
        for name, source in sources.items():
            verify(files[source], plan["sha256"].get(name), named[source])
        if plan["kind"] == "plink1":
            for ext in PLINK1_FILES:
                copy_file(files[sources[ext]], outputs[ext], plan["gzipped"], named[sources[ext]])
        else:
            convert_genotypes(plan, {name: files[source] for name, source in sources.items()},
                              Path(directory), outputs)
        if phenotype["file"]:
            text = files[phenotype["file"]].read_text()
        else:
            text = fam_phenotype(outputs["fam"], phenotype["fam_column"], sources["fam"])
        write_text_atomic(outputs["pheno"], text)
        if table is not None:
            prefix = str(outputs["bed"]).removesuffix(".bed")
            write_text_atomic(outputs["covar"], covariate_text(
                prefix, outputs["pheno"], plan["phenotype_column"], table,
                named[covariates["file"]]))


def convert_genotypes(plan: Mapping[str, Any], files: Mapping[str, Path], directory: Path,
                      outputs: Mapping[str, str | Path]) -> None:
    """PLINK 2 / VCF / BGEN ``files`` (by the names of :data:`GENOTYPE_FILES`) converted to the
    staged ``.bed/.bim/.fam`` (:func:`lmmcompare.convert.to_plink1`, ``.bed`` written last).
    PLINK 2 reads them under the names it expects, linked in ``directory``; its errors name the
    sources as configured; what it did (the multi-allelic sites dropped) goes to the log."""
    kind, sources = plan["kind"], plan["sources"]
    if kind == "pgen":
        suffixes = {ext: f".{ext}" for ext in GENOTYPE_FILES["pgen"]}
    elif kind == "vcf":
        suffixes = {"vcf": ".vcf.gz" if sources["vcf"].endswith(".gz") else ".vcf"}
    else:
        suffixes = {"bgen": ".bgen", "sample": ".sample"}
    links = {name: directory / f"source{suffix}" for name, suffix in suffixes.items()}
    shown = {str(link): sources[name] for name, link in links.items()}
    for name, link in links.items():
        link.symlink_to(Path(files[name]).resolve())
    if kind == "pgen":  # PLINK 2 takes (and its errors name) the prefix
        shown[str(directory / "source")] = sources["pgen"].removesuffix(".pgen")
    prefix = Path(str(outputs["bed"]).removesuffix(".bed"))
    try:
        conversion = convert.to_plink1(
            directory / "source" if kind == "pgen" else links[kind], kind, prefix,
            sample=links.get("sample"), threads=CONVERT_THREADS, memory_mb=CONVERT_MEMORY_MB,
            **plan["conversion"])
    except InputError as error:
        message = str(error)
        for path in sorted(shown, key=len, reverse=True):
            message = message.replace(path, shown[path])
        raise InputError(message) from None
    described = conversion.describe()
    for path in sorted(shown, key=len, reverse=True):
        described = described.replace(path, shown[path])
    print(f"converted {described}", file=sys.stderr)
