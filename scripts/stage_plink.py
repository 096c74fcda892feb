"""Stage a PLINK dataset: verify each source file's sha256, decompress, extract the phenotype.

Writes ``genotypes.{bed,bim,fam}`` (decompressed when the sources are gzipped) and
``genotypes.pheno``: the configured phenotype file verbatim, or ``FID IID pheno`` taken from
the configured ``.fam`` column (tokens copied as written: NA and -9 stay missing).  Every
output is written atomically; a checksum mismatch is a one-line error naming the source.
"""

import functools
import gzip
import hashlib
import shutil
import sys

from glue import run_script

from exactlmm.errors import InputError
from exactlmm.io.atomic import atomic_write, write_text_atomic

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


def main(snakemake):
    settings = snakemake.params.settings
    sources = snakemake.params.sources
    for ext in ("bed", "bim", "fam"):
        verify(snakemake.input[ext], settings["sha256"].get(ext), sources[ext])
        stage(snakemake.input[ext], snakemake.output[ext], settings["gzipped"], sources[ext])
    phenotype = settings["phenotype"]
    if phenotype["file"]:
        with open(phenotype["file"]) as handle:
            write_text_atomic(snakemake.output.pheno, handle.read())
    else:
        text = fam_phenotype(snakemake.output.fam, phenotype["fam_column"], sources["fam"])
        write_text_atomic(snakemake.output.pheno, text)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
