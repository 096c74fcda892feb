"""Stage a PLINK dataset: verify sha256s, unpack or decompress, write phenotype and covariates.

Writes ``genotypes.{bed,bim,fam}`` (decompressed when the sources are gzipped; taken out of the
tar archive when one is configured), ``genotypes.pheno`` (the configured phenotype file
verbatim, or ``FID IID pheno`` from a ``.fam`` column: NA and -9 stay missing) and, when
covariates are configured, ``genotypes.covar``: the chosen columns of the analysed samples (in
the .fam, with a phenotype and every covariate) as numbers, categorical ones one-hot coded over
those samples by the one reader and matcher (``exactlmm.io.tables.read_covar`` and
``match_samples``), so every tool is given the same numeric covariates.  Every output is
written atomically; a checksum mismatch or a missing archive member is a one-line error naming
the source.
"""

import contextlib
import functools
import gzip
import hashlib
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from glue import run_script

from exactlmm.errors import InputError
from exactlmm.io.atomic import atomic_write, write_text_atomic
from exactlmm.io.plink import open_plink
from exactlmm.io.tables import match_samples, read_covar, read_pheno

CHUNK = 1 << 20


def sha256_of(path):
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(functools.partial(handle.read, CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path, expected, name):
    """Raise InputError naming ``name`` when the file's sha256 is not ``expected``."""
    if expected is None:
        print(f"{name}: no sha256 configured, not verified", file=sys.stderr)
        return
    actual = sha256_of(path)
    if actual != expected.lower():
        raise InputError(f"sha256 mismatch: expected {expected.lower()}, got {actual}", path=name)
    print(f"{name}: sha256 {actual} verified", file=sys.stderr)


def stage(source, target, gzipped, name):
    """Copy ``source`` to ``target`` atomically, decompressing when ``gzipped``."""
    opener = gzip.open if gzipped else open
    try:
        with opener(source, "rb") as src, atomic_write(target, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except (OSError, EOFError) as err:
        raise InputError(f"cannot read ({err})", path=name) from None


def unpack(archive, members, directory, name):
    """Extract the regular-file ``members`` of a tar archive (any compression tarfile reads)
    into ``directory``, flat; returns {member: path}.  A member may be written with or without
    a leading ``./``."""
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


def fam_phenotype(fam_path, column, name):
    """``FID IID pheno`` text from 1-based ``column`` of a .fam file."""
    lines = ["FID IID pheno"]
    with open(fam_path) as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < column:
                raise InputError(
                    f"line {lineno}: has {len(fields)} columns, phenotype column {column} "
                    "is missing",
                    path=name,
                )
            lines.append(f"{fields[0]} {fields[1]} {fields[column - 1]}")
    return "\n".join(lines) + "\n"


def read_covariates(path, covariates, name):
    """The configured covariate columns of ``path`` (errors name the source as configured)."""
    try:
        return read_covar(path, covariates["columns"], covariates["categorical"])
    except InputError as err:
        raise InputError(str(err).replace(str(path), name, 1)) from None


def covariate_text(prefix, pheno_path, pheno_column, table, name):
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


def main(snakemake):
    settings = snakemake.params.settings
    sources = snakemake.params.sources
    phenotype = settings["phenotype"]
    covariates = settings["covariates"]
    pheno_column = phenotype["column"] if phenotype["file"] else 1
    with contextlib.ExitStack() as stack:
        if settings["archive"]:
            archive_name = settings["archive_name"]
            verify(snakemake.input.archive, settings["archive_sha256"], archive_name)
            members = [sources[ext] for ext in ("bed", "bim", "fam")]
            members += [f for f in (phenotype["file"], covariates and covariates["file"]) if f]
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="stage-"))
            files = unpack(snakemake.input.archive, dict.fromkeys(members), directory,
                           archive_name)
            named = {member: f"{archive_name}:{member}" for member in files}
        else:
            files = {sources[ext]: snakemake.input[ext] for ext in ("bed", "bim", "fam")}
            if phenotype["file"]:
                files[phenotype["file"]] = snakemake.input.pheno_file
            if covariates:
                files[covariates["file"]] = snakemake.input.covar_file
            named = {member: member for member in files}
        # The covariate spec is checked before anything is written.
        table = (
            read_covariates(files[covariates["file"]], covariates, named[covariates["file"]])
            if covariates else None
        )
        for ext in ("bed", "bim", "fam"):
            source = sources[ext]
            verify(files[source], settings["sha256"].get(ext), named[source])
            stage(files[source], snakemake.output[ext], settings["gzipped"], named[source])
        if phenotype["file"]:
            text = Path(files[phenotype["file"]]).read_text()
        else:
            text = fam_phenotype(snakemake.output.fam, phenotype["fam_column"], sources["fam"])
        write_text_atomic(snakemake.output.pheno, text)
        if table is not None:
            prefix = str(snakemake.output.bed).removesuffix(".bed")
            text = covariate_text(prefix, snakemake.output.pheno, pheno_column, table,
                                  named[covariates["file"]])
            write_text_atomic(snakemake.output.covar, text)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
