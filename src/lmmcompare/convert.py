"""Genotypes in the formats cohorts come in — PLINK 2, VCF, BGEN — as the PLINK 1 set every tool
reads, converted by PLINK 2 (Debian ``plink2``, v2.00a3.5).

One call, :func:`to_plink1`, writes ``OUT.bed/.bim/.fam`` from

* ``pgen``: ``PREFIX.pgen`` + ``PREFIX.pvar`` (or ``.pvar.zst``) + ``PREFIX.psam``;
* ``vcf``: ``FILE.vcf`` or ``FILE.vcf.gz`` (bgzip or gzip);
* ``bgen``: ``FILE.bgen`` (v1.2; v1.1 and v1.3 read as well) with its ``.sample`` file.

Hard calls
----------
A PLINK 1 set holds calls, not dosages.  A dosage d of the ALT allele (0–2; BGEN: computed by
PLINK 2 from the genotype probabilities, d = P(het) + 2·P(hom ALT)) becomes the call round(d)
when |d − round(d)| ≤ ``hard_call_threshold`` and a missing call otherwise (PLINK 2's
``--hard-call-threshold``, "distance from the nearest hardcall", compared in its 1/16384 dosage
units; 0 ≤ threshold < 0.5, default 0.1, PLINK 2's own).  ``dosage_certainty`` > 0
additionally sets a genotype missing when its largest probability is below it (PLINK 2's
``--import-dosage-certainty``; BGEN and VCF ``dosage=GP`` only).  A VCF is read from its GT
calls unless ``vcf_dosage`` names a FORMAT field (``DS``, ``HDS``, ``GP``): then calls are made
from those dosages by the rule above (PLINK 2 regenerates them from scratch).  A PGEN that
stores dosages gets its calls re-derived by the same rule (``--make-bed`` with
``--hard-call-threshold``); one without dosages is copied call for call.

Alleles
-------
PLINK 2 writes ALT as ``.bim`` column 5 (our ``a1``, the counted allele) and REF as column 6.
A BGEN file does not say which allele is REF: ``bgen_ref`` does (``ref-first``, the default, as
UK Biobank's files; ``ref-last`` as PLINK 2's own BGEN export; ``ref-unknown``: the last allele
is provisional REF, so the first becomes ``a1`` — the same coding as ``ref-last``).

Multi-allelic sites are dropped and counted (``--max-alleles 2``; BGEN: PLINK 2 2.00a3.5 skips
them at import with a warning).  A PLINK 1 ``.bim`` cannot hold them, and this PLINK 2 has no
split; splitting elsewhere would make several records at one position, each "one ALT against
the rest", which is not the variant any tool tests on the original.

Variant ids
-----------
A missing id (``.``) becomes ``CHROM:POS:REF:ALT`` (``--set-missing-var-ids @:#:$r:$a``).  An id
that is then still repeated is an ``InputError`` naming the source file (ids name SNPs in every
list the workflow writes).

Sample ids
----------
Two-part ids are kept: a ``.psam`` with ``#FID IID``, an Oxford ``.sample`` with ``ID_1 ID_2``
(FID = ID_1, IID = ID_2).  A source with one id per sample — a VCF, a ``.psam`` without FID,
a QCTOOL-v2 ``.sample`` with one ``ID`` column — gets FID = IID (PLINK's ``--double-id``;
PLINK 2 itself would write FID ``0``), so its phenotype and covariate files are written
``FID IID value`` with the sample id twice, the layout BOLT-LMM, GCTA and REGENIE users write.
A ``.sample`` that does not list the BGEN's samples (another count, or ids embedded in the
BGEN that are neither its IID nor ``FID_IID``) is an ``InputError`` naming the ``.sample``.
Sex and a first phenotype of a ``.psam``/``.sample`` reach ``.fam`` columns 5–6 as PLINK 2
writes them (phenotypes rounded to 6 significant digits); give phenotypes in their own file.

Output
------
PLINK 2 writes into a temporary folder beside ``OUT``; the set is then moved into place with
``.bed`` last (an old ``.bed`` is removed first), so ``OUT.bed`` beside ``.bim``/``.fam`` means
a whole set.  A failing PLINK 2 is an ``InputError`` naming the source with the error lines of
its log; nothing is left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from exactlmm.errors import InputError

KINDS = ("pgen", "vcf", "bgen")
"""Genotype formats :func:`to_plink1` converts."""

BGEN_REF_MODES = ("ref-first", "ref-last", "ref-unknown")
VCF_DOSAGE_FIELDS = ("DS", "HDS", "GP")
MISSING_ID_TEMPLATE = "@:#:$r:$a"
"""PLINK 2 template for a variant without id: CHROM:POS:REF:ALT."""

OPTIONS = MappingProxyType({
    "hard_call_threshold": (
        0.1,
        "Dosages become hard calls: a dosage d (0–2) becomes the call round(d) when "
        "|d − round(d)| ≤ this threshold and a missing call otherwise (PLINK 2 "
        "--hard-call-threshold; 0 ≤ value < 0.5). Applies to BGEN, to a VCF read with "
        "vcf_dosage and to a PGEN that stores dosages; GT calls are used as they are.",
    ),
    "dosage_certainty": (
        0.0,
        "A genotype is set missing when its largest genotype probability is below this value "
        "(PLINK 2 --import-dosage-certainty; BGEN and VCF GP only); 0 keeps every genotype.",
    ),
    "vcf_dosage": (
        None,
        "VCF only: the FORMAT field to read dosages from (DS, HDS or GP), hard calls then made "
        "by hard_call_threshold; null reads the GT calls.",
    ),
    "bgen_ref": (
        "ref-first",
        "BGEN only: which allele is REF — ref-first (UK Biobank), ref-last (PLINK 2's BGEN "
        "export) or ref-unknown. ALT becomes .bim column 5, the allele β counts.",
    ),
})
"""The conversion settings a dataset's ``format:`` may give: name → (default, description)."""

PLINK1_EXTENSIONS = (".bim", ".fam", ".bed")
"""Moved into place in this order: the ``.bed`` last seals the set."""

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Conversion:
    """What :func:`to_plink1` did: the counts for the log and PLINK 2's own log."""

    source: Path
    kind: str
    out_prefix: Path
    n_samples: int
    n_variants: int
    multiallelic_dropped: int
    fid_from_iid: bool
    plink2_log: str

    def describe(self) -> str:
        """One log line."""
        return (f"{self.source} ({self.kind}) -> {self.out_prefix}.bed/.bim/.fam: "
                f"{self.n_samples} samples, {self.n_variants} variants, "
                f"{self.multiallelic_dropped} multi-allelic site(s) dropped"
                f"{', FID set to IID' if self.fid_from_iid else ''}")


# ---------------------------------------------------------------------------------- inputs


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise InputError(f"{what} not found", path=path)
    return path


def _pgen_files(prefix: Path) -> tuple[list[str], Path]:
    """PLINK 2 options naming the fileset, and its ``.psam``."""
    _existing(prefix.with_name(prefix.name + ".pgen"), ".pgen file")
    psam = _existing(prefix.with_name(prefix.name + ".psam"), ".psam file")
    pvar = prefix.with_name(prefix.name + ".pvar")
    if pvar.is_file():
        return ["--pfile", str(prefix)], psam
    _existing(prefix.with_name(prefix.name + ".pvar.zst"), ".pvar (or .pvar.zst) file")
    return ["--pfile", "vzs", str(prefix)], psam


def _psam_has_fid(psam: Path) -> bool:
    """Whether a ``.psam`` names a family id (a ``#FID`` header, or a headerless .fam-like
    file); one starting ``#IID`` does not."""
    with open(psam) as handle:
        for line in handle:
            if line.startswith("##"):
                continue
            return not line.startswith("#IID")
    return True


def read_sample_file(path: Path) -> tuple[np.ndarray | None, np.ndarray]:
    """FID and IID of an Oxford ``.sample`` file (``ID_1 ID_2 …`` header and a type line);
    FID is ``None`` for a QCTOOL-v2 file with one ``ID`` column."""
    lines = [line.split() for line in _existing(path, ".sample file").read_text().splitlines()
             if line.strip()]
    if len(lines) < 2 or not lines[0]:
        raise InputError("not a .sample file (needs a header line and a type line)", path=path)
    header = lines[0]
    rows = lines[2:]
    if any(not row for row in rows):
        raise InputError("a sample line is empty", path=path)
    if header[:2] == ["ID_1", "ID_2"]:
        short = next((k for k, row in enumerate(rows) if len(row) < 2), None)
        if short is not None:
            raise InputError(f"line {short + 3}: fewer than the two ids ID_1 ID_2", path=path)
        return (np.array([r[0] for r in rows], dtype=str),
                np.array([r[1] for r in rows], dtype=str))
    if header[0] == "ID":
        return None, np.array([r[0] for r in rows], dtype=str)
    raise InputError(f"the header starts {' '.join(header[:2])!r}, not 'ID_1 ID_2' or 'ID'",
                     path=path)


def read_bgen_samples(path: Path) -> tuple[int, list[str] | None]:
    """The sample count of a BGEN file and the sample ids it embeds (``None`` without a
    sample identifier block), from its header (BGEN spec: offset, header block LH M N magic
    … flags, bit 31 = sample ids stored)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise InputError("not a BGEN file (too short)", path=path)
            offset, header_length = struct.unpack("<II", head)
            block = handle.read(header_length - 4)
            if len(block) < 16 or block[8:12] not in (b"bgen", b"\0\0\0\0"):
                raise InputError("not a BGEN file (no 'bgen' magic number)", path=path)
            n_samples = struct.unpack("<I", block[4:8])[0]
            flags = struct.unpack("<I", block[-4:])[0]
            if not flags >> 31:
                return n_samples, None
            block_length, count = struct.unpack("<II", handle.read(8))
            data = handle.read(block_length - 8)
    except FileNotFoundError:
        raise InputError("BGEN file not found", path=path) from None
    except struct.error:
        raise InputError("not a BGEN file (truncated header)", path=path) from None
    ids, at = [], 0
    try:
        for _ in range(count):
            (length,) = struct.unpack_from("<H", data, at)
            ids.append(data[at + 2:at + 2 + length].decode())
            at += 2 + length
    except (struct.error, UnicodeDecodeError):
        raise InputError("the BGEN sample identifier block is truncated or not text",
                         path=path) from None
    if count != n_samples or offset < header_length:
        raise InputError(f"the BGEN header says {n_samples} samples, its id block {count}",
                         path=path)
    return n_samples, ids


def check_bgen_samples(bgen: Path, sample: Path) -> bool:
    """An ``InputError`` naming ``sample`` unless it lists the BGEN's samples in its order;
    returns whether the ``.sample`` has one id per sample (no FID)."""
    fid, iid = read_sample_file(sample)
    n_samples, embedded = read_bgen_samples(bgen)
    if iid.size != n_samples:
        raise InputError(f"lists {iid.size} samples, {bgen.name} holds {n_samples}", path=sample)
    if embedded is not None:
        ids = np.array(embedded, dtype=str)
        pasted = iid if fid is None else np.char.add(np.char.add(fid, "_"), iid)
        bad = (ids != iid) & (ids != pasted)
        if bad.any():
            k = int(np.argmax(bad))
            named = iid[k] if fid is None else f"{fid[k]} {iid[k]}"
            raise InputError(f"sample {k + 1} is {named!r} here but {ids[k]!r} in {bgen.name} "
                             "(the .sample must list the .bgen's samples in its order)",
                             path=sample)
    return fid is None


# ---------------------------------------------------------------------------------- plink2


def _error_lines(log: str) -> str:
    """PLINK 2's error message (from its first ``Error`` line to the next blank line), or the
    last lines of the log, as one line."""
    lines = log.splitlines()
    start = next((k for k, line in enumerate(lines) if line.startswith("Error")), None)
    if start is None:
        kept = [line for line in lines if line.strip()][-3:]
    else:
        kept = []
        for line in lines[start:]:
            if not line.strip():
                break
            kept.append(line.strip())
    return " ".join(" ".join(kept).split())[:500]


def _loaded_counts(log: str) -> tuple[int, int]:
    """(variants loaded, variants in the file) from PLINK 2's 'N out of M variants loaded' or
    'N variants loaded' line."""
    text = " ".join(log.split())
    match = re.search(r"(\d+) out of (\d+) variants? loaded", text)
    if match:
        return int(match.group(1)), int(match.group(2))
    match = re.search(r"(\d+) variants? loaded", text)
    if match:
        return int(match.group(1)), int(match.group(1))
    raise ValueError("PLINK 2's log names no loaded variant count")


def _skipped_multiallelic(log: str) -> int:
    match = re.search(r"(\d+) multiallelic variants? skipped", " ".join(log.split()))
    return int(match.group(1)) if match else 0


def _command(kind: str, source: Path, sample: Path | None, *, threads: int, memory_mb: int,
             hard_call_threshold: float, dosage_certainty: float, vcf_dosage: str | None,
             bgen_ref: str) -> list[str]:
    if kind == "pgen":
        inputs, _ = _pgen_files(source)
    elif kind == "vcf":
        _existing(source, "VCF file")
        inputs = ["--vcf", str(source), *([f"dosage={vcf_dosage}"] if vcf_dosage else []),
                  "--double-id"]
    else:
        inputs = ["--bgen", str(source), bgen_ref, "--sample", str(sample)]
    command = [
        *inputs,
        "--threads", str(threads), "--memory", str(memory_mb),
        "--max-alleles", "2",
        "--set-missing-var-ids", MISSING_ID_TEMPLATE,
        "--new-id-max-allele-len", "1000", "truncate",
        "--hard-call-threshold", repr(float(hard_call_threshold)),
    ]
    if dosage_certainty > 0:
        command += ["--import-dosage-certainty", repr(float(dosage_certainty))]
    return command


def check_options(kind: str, hard_call_threshold: float, dosage_certainty: float,
                  vcf_dosage: str | None, bgen_ref: str, threads: int = 1,
                  memory_mb: int = 1024) -> None:
    """A ``ValueError`` naming every setting out of range or given for a kind it does not
    apply to (:data:`OPTIONS`; the workflow's config check calls it too)."""
    problems = []
    if kind not in KINDS:
        problems.append(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not 0.0 <= hard_call_threshold < 0.5:
        problems.append(f"hard_call_threshold must be in [0, 0.5), not {hard_call_threshold}")
    if not 0.0 <= dosage_certainty <= 1.0:
        problems.append(f"dosage_certainty must be in [0, 1], not {dosage_certainty}")
    if dosage_certainty > 0 and not (kind == "bgen" or (kind == "vcf" and vcf_dosage == "GP")):
        problems.append("dosage_certainty applies to BGEN and to VCF GP dosages only")
    if vcf_dosage is not None and (kind != "vcf" or vcf_dosage not in VCF_DOSAGE_FIELDS):
        problems.append(f"vcf_dosage is for VCF files and one of {', '.join(VCF_DOSAGE_FIELDS)}")
    if bgen_ref not in BGEN_REF_MODES:
        problems.append(f"bgen_ref must be one of {', '.join(BGEN_REF_MODES)}")
    if threads < 1 or memory_mb < 1:
        problems.append("threads and memory_mb must be positive")
    if problems:
        raise ValueError("; ".join(problems))


def _duplicate_id_error(bim: Path, source: Path) -> None:
    ids = pd.read_csv(bim, sep="\t", header=None, usecols=[1], dtype=str,
                      keep_default_na=False).iloc[:, 0]
    repeated = ids.duplicated(keep=False).to_numpy()
    if repeated.any():
        where = np.flatnonzero(repeated)[:2]
        raise InputError(f"variant id {ids.iloc[where[0]]!r} appears more than once (variants "
                         f"{where[0] + 1} and {where[1] + 1} of the biallelic ones); ids must "
                         "be unique", path=source)


def _set_fid_to_iid(fam: Path) -> None:
    rows = [line.split() for line in fam.read_text().splitlines() if line.strip()]
    fam.write_text("".join("\t".join([row[1], *row[1:]]) + "\n" for row in rows))


def _move_into_place(folder: Path, name: str, out_prefix: Path) -> None:
    """``folder/name.{bim,fam,bed}`` renamed to ``out_prefix.*``: the old ``.bed`` removed
    first, the new ``.bed`` last (same file system: the folder is beside ``out_prefix``)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(out_prefix.with_name(out_prefix.name + ".bed"))
    for ext in PLINK1_EXTENSIONS:
        os.replace(folder / f"{name}{ext}", out_prefix.with_name(out_prefix.name + ext))


def to_plink1(
    source: str | os.PathLike[str],
    kind: str,
    out_prefix: str | os.PathLike[str],
    *,
    sample: str | os.PathLike[str] | None = None,
    threads: int = 1,
    memory_mb: int = 1024,
    hard_call_threshold: float = OPTIONS["hard_call_threshold"][0],
    dosage_certainty: float = OPTIONS["dosage_certainty"][0],
    vcf_dosage: str | None = OPTIONS["vcf_dosage"][0],
    bgen_ref: str = OPTIONS["bgen_ref"][0],
    plink2: str = "plink2",
) -> Conversion:
    """Convert a PLINK 2, VCF or BGEN dataset to ``out_prefix.bed/.bim/.fam`` (module
    docstring: hard calls, alleles, multi-allelic sites, ids, atomic output).

    Parameters
    ----------
    source:
        ``pgen``: the fileset prefix; ``vcf``: the ``.vcf``/``.vcf.gz`` file; ``bgen``: the
        ``.bgen`` file.
    kind:
        One of :data:`KINDS`.
    out_prefix:
        Output prefix of the PLINK 1 set.
    sample:
        BGEN only: the ``.sample`` file (default: ``source`` with ``.sample`` for ``.bgen``).
    threads, memory_mb:
        PLINK 2's ``--threads`` and ``--memory`` (MiB; it otherwise reserves half the RAM).
    hard_call_threshold, dosage_certainty, vcf_dosage, bgen_ref:
        :data:`OPTIONS` (defaults and meaning).
    plink2:
        The PLINK 2 executable.

    Raises ``InputError`` (naming the offending file) for a missing input, a ``.sample`` that
    does not match the BGEN, repeated variant ids and a failing PLINK 2; ``ValueError`` for
    options out of range.
    """
    source = Path(source)
    out_prefix = Path(out_prefix)
    check_options(kind, hard_call_threshold, dosage_certainty, vcf_dosage, bgen_ref, threads,
                   memory_mb)
    executable = shutil.which(plink2)
    if executable is None:
        raise InputError(f"PLINK 2 ('{plink2}') is not on PATH; apt-get install plink2",
                         path=source)
    sample_path = None
    if kind == "pgen":
        single_id = not _psam_has_fid(_pgen_files(source)[1])
    elif kind == "vcf":
        single_id = False  # --double-id writes FID = IID itself
    else:
        sample_path = Path(sample) if sample is not None else source.with_suffix(".sample")
        single_id = check_bgen_samples(_existing(source, "BGEN file"), sample_path)
    command = [executable, *_command(
        kind, source, sample_path, threads=threads, memory_mb=memory_mb,
        hard_call_threshold=hard_call_threshold, dosage_certainty=dosage_certainty,
        vcf_dosage=vcf_dosage, bgen_ref=bgen_ref)]

    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{out_prefix.name}.convert.", dir=out_prefix.parent))
    try:
        result = subprocess.run([*command, "--make-bed", "--out", str(folder / "out")],
                                capture_output=True, text=True, check=False)
        log_path = folder / "out.log"
        log = log_path.read_text() if log_path.is_file() else result.stdout + result.stderr
        if result.returncode != 0:
            raise InputError(f"plink2 failed (exit {result.returncode}): {_error_lines(log)}",
                             path=source)
        _duplicate_id_error(folder / "out.bim", source)
        if single_id:
            _set_fid_to_iid(folder / "out.fam")
        loaded, total = _loaded_counts(log)
        n_samples = sum(1 for line in (folder / "out.fam").read_text().splitlines()
                        if line.strip())
        conversion = Conversion(
            source=source, kind=kind, out_prefix=out_prefix, n_samples=n_samples,
            n_variants=loaded, multiallelic_dropped=total - loaded + _skipped_multiallelic(log),
            fid_from_iid=single_id or kind == "vcf", plink2_log=log,
        )
        _move_into_place(folder, "out", out_prefix)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    LOG.info(conversion.describe())
    return conversion


__all__ = ["KINDS", "OPTIONS", "Conversion", "check_bgen_samples", "check_options",
           "read_bgen_samples", "read_sample_file", "to_plink1"]
