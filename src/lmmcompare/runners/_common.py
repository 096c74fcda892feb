"""What the three peer runners share: inputs, sample matching, SNP summaries, outputs, CLI.

Every runner takes the same inputs as our own tool — a PLINK prefix, a phenotype table (or
the ``.fam`` phenotype column), optional covariates (no intercept column: each tool adds
it), an N × N kinship text file over *all* ``.fam`` samples in ``.fam`` order, a kept-SNP
list, and a mode — and analyses exactly the same samples: the ``.fam`` samples with a
phenotype and all covariates, in ``.fam`` order (``exactlmm.io.tables.match_samples``), with
the kinship cut to them.  Each writes ``PREFIX.assoc.tsv`` and ``PREFIX.null.json``
(docs/DESIGN.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exactlmm.errors import InputError
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.plink import PlinkDataset, iter_genotype_blocks, open_plink
from exactlmm.io.results import ASSOC_COLUMNS, TESTED, write_assoc_tsv, write_null_json
from exactlmm.io.tables import (
    SampleMatch,
    match_samples,
    phenotype_from_fam,
    read_covar,
    read_pheno,
)
from exactlmm.provenance import provenance
from lmmcompare import params

MODES = ("fixed", "refit")
"""``fixed``: the null δ is held for every SNP; ``refit``: δ is re-estimated per SNP."""


EXIT_INPUT_ERROR = 2
EXIT_NOT_INSTALLED = 3
EXIT_MODE_NOT_SUPPORTED = 4
EXIT_TOOL_FAILED = 1

GENOTYPE_BLOCK = 2048
"""SNPs per block when streaming genotypes for the per-SNP summaries."""


class ToolNotInstalled(RuntimeError):
    """The peer tool is not available (Python package missing or program not on PATH)."""


class ModeNotSupported(RuntimeError):
    """The peer tool has no equivalent of the requested mode (``fixed`` or ``refit``)."""


class ToolFailed(RuntimeError):
    """The peer tool ran but failed; the message carries the end of its output."""


@dataclass
class PeerInputs:
    """The checked inputs of one peer run, subset to the analysed samples.

    Attributes
    ----------
    ds: the PLINK fileset.
    match: analysed samples (``.fam`` order), phenotype ``y``, covariates (no intercept).
    kinship: K cut to the analysed samples (n × n), or ``None`` when not loaded.
    snp_index: int64 ``.bim`` positions of the SNPs to test, in ``.bim`` order.
    paths: the input paths as given (for provenance).
    """

    ds: PlinkDataset
    match: SampleMatch
    kinship: np.ndarray | None
    snp_index: np.ndarray
    paths: dict[str, str | None]

    @property
    def n_samples(self) -> int:
        return int(self.match.fam_index.size)

    @property
    def n_covariates(self) -> int:
        """c: the intercept plus the covariate columns."""
        return 1 + int(self.match.covariates.shape[1])

    @property
    def design(self) -> np.ndarray:
        """X = [1, covariates], n × c (the intercept first, as in ``null.json`` ``beta``)."""
        return np.column_stack([np.ones(self.n_samples), self.match.covariates])

    @property
    def covariate_names(self) -> list[str]:
        return ["intercept", *self.match.covariate_names]

    @property
    def sample_ids(self) -> np.ndarray:
        """(FID, IID) string pairs of the analysed samples, n × 2."""
        idx = self.match.fam_index
        return np.column_stack([self.ds.fid[idx], self.ds.iid[idx]])

    @property
    def kinship_mean_diag(self) -> float:
        """t = tr(K)/n of the analysed samples' kinship (``kinship_mean_diag``)."""
        if self.kinship is None:
            raise RuntimeError("kinship not loaded")
        return float(np.trace(self.kinship)) / self.n_samples


def read_snp_list(path: str | os.PathLike[str], ds: PlinkDataset) -> np.ndarray:
    """``.bim`` positions (int64, increasing) of the SNP IDs listed one per line in ``path``.

    Blank lines are skipped; only the first field of a line is read.  Errors (``InputError``
    naming the file): missing or empty file, an ID that is not in the ``.bim`` file, an ID
    listed twice, an ID that names more than one ``.bim`` line.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputError("SNP list file not found", path=path) from None
    position: dict[str, int] = {}
    duplicated: set[str] = set()
    for j, snp in enumerate(ds.snp.tolist()):
        if snp in position:
            duplicated.add(snp)
        position[snp] = j
    chosen: dict[str, int] = {}
    for lineno, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        snp = fields[0]
        if snp not in position:
            raise InputError(f"line {lineno}: SNP '{snp}' is not in {ds.bim_path}", path=path)
        if snp in duplicated:
            raise InputError(
                f"line {lineno}: SNP '{snp}' names more than one line of {ds.bim_path}",
                path=path,
            )
        if snp in chosen:
            raise InputError(f"line {lineno}: SNP '{snp}' is listed twice", path=path)
        chosen[snp] = position[snp]
    if not chosen:
        raise InputError("the SNP list is empty", path=path)
    return np.array(sorted(chosen.values()), dtype=np.int64)


def load_inputs(
    bfile: str | os.PathLike[str],
    pheno: str | os.PathLike[str] | None,
    mpheno: int,
    covar: str | os.PathLike[str] | None,
    kinship: str | os.PathLike[str],
    snps: str | os.PathLike[str],
    *,
    load_kinship: bool = True,
) -> PeerInputs:
    """Read and match every input as our own tool does (``exactlmm.io``).

    ``pheno=None`` takes phenotype ``mpheno`` from the ``.fam`` file (field 5 + mpheno).
    With ``load_kinship=False`` only the kinship file's existence is checked (GEMMA reads
    and cuts the kinship itself).
    """
    ds = open_plink(bfile)
    table = read_pheno(pheno, mpheno) if pheno is not None else phenotype_from_fam(ds, mpheno)
    covariates = read_covar(covar) if covar is not None else None
    match = match_samples(ds, table, covariates)
    snp_index = read_snp_list(snps, ds)
    K = None
    if load_kinship:
        full = read_kinship(kinship, ds.n_samples)
        K = np.ascontiguousarray(full[np.ix_(match.fam_index, match.fam_index)])
    elif not Path(kinship).is_file():
        raise InputError("kinship file not found", path=kinship)
    paths = {
        "bfile": str(bfile),
        "pheno": None if pheno is None else str(pheno),
        "covar": None if covar is None else str(covar),
        "kinship": str(kinship),
        "snps": str(snps),
    }
    return PeerInputs(ds=ds, match=match, kinship=K, snp_index=snp_index, paths=paths)


@dataclass(frozen=True)
class GenotypeBlock:
    """One block of tested SNPs for the analysed samples.

    ``rows`` are positions into ``PeerInputs.snp_index``; ``dosage`` holds copies of ``a1``
    with missing calls replaced by the SNP's mean over called samples (n × block);
    ``n_called``, ``af`` (a1 frequency among called samples) and ``sd`` (ddof-0 standard
    deviation over called samples, as pysnptools' ``Unit`` standardiser computes it) are per
    SNP.
    """

    rows: np.ndarray
    dosage: np.ndarray
    n_called: np.ndarray
    af: np.ndarray
    sd: np.ndarray


def iter_snp_blocks(
    inputs: PeerInputs, block_size: int = GENOTYPE_BLOCK
) -> Iterator[GenotypeBlock]:
    """Stream the tested SNPs, mean-imputed, in ``.bim`` order."""
    offset = 0
    for _, g in iter_genotype_blocks(
        inputs.ds, inputs.match.fam_index, inputs.snp_index, block_size=block_size
    ):
        missing = np.isnan(g)
        n_called = (~missing).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nansum(g, axis=0) / n_called
            sd = np.sqrt(np.nansum((g - mean) ** 2, axis=0) / n_called)
        dosage = np.where(missing, mean, g)
        rows = np.arange(offset, offset + g.shape[1])
        offset += g.shape[1]
        yield GenotypeBlock(rows=rows, dosage=dosage, n_called=n_called, af=mean / 2.0, sd=sd)


def snp_columns(inputs: PeerInputs) -> dict[str, np.ndarray]:
    """The SNP-description columns (chrom snp pos a1 a2) of the tested SNPs."""
    idx = inputs.snp_index
    ds = inputs.ds
    return {
        "chrom": ds.chrom[idx],
        "snp": ds.snp[idx],
        "pos": ds.pos[idx],
        "a1": ds.a1[idx],
        "a2": ds.a2[idx],
    }


def empty_stat_columns(m: int) -> dict[str, np.ndarray]:
    """``n``, ``af`` and the statistics columns for ``m`` SNPs: ``n`` 0, the rest NaN (NA)."""
    out: dict[str, np.ndarray] = {"n": np.zeros(m, dtype=np.int64)}
    for name in ASSOC_COLUMNS[6:-1]:
        out[name] = np.full(m, np.nan)
    out["errcode"] = np.full(m, TESTED, dtype=object)
    return out


def write_results(out: str | os.PathLike[str], columns: dict[str, Any], record: dict) -> None:
    """Write ``OUT.assoc.tsv`` and ``OUT.null.json`` with ``exactlmm.io.results`` (NaN → NA)."""
    out = Path(out)
    write_assoc_tsv(out.with_name(out.name + ".assoc.tsv"), columns)
    write_null_json(out.with_name(out.name + ".null.json"), record)


def null_record(
    tool: str,
    version: str | None,
    inputs: PeerInputs,
    native: dict[str, Any],
    loglik: float | None,
    beta: Sequence[float] | None,
    parameters: dict[str, Any],
    mean_diag: float | None = None,
) -> dict[str, Any]:
    """The ``null.json`` record: standard fields via ``params.to_standard`` plus ``native``.

    ``mean_diag`` is t = tr(K)/n of the kinship the tool actually used, when that is not the
    analysed samples' K as given (GEMMA re-centres K after subsetting); pve is on that K.
    """
    t = inputs.kinship_mean_diag if mean_diag is None else float(mean_diag)
    std = params.to_standard(tool, native, t)
    return {
        "tool": tool,
        "version": version,
        "likelihood": "REML",
        "gamma": std["gamma"],
        "delta": std["delta"],
        "h2": std["h2"],
        "pve": std["pve"],
        "kinship_mean_diag": t,
        "sigma_g2": std["sigma_g2"],
        "sigma_e2": std["sigma_e2"],
        "loglik": None if loglik is None else float(loglik),
        "beta": None if beta is None else [float(b) for b in beta],
        "covariates": inputs.covariate_names,
        "n_samples": inputs.n_samples,
        "n_covariates": inputs.n_covariates,
        "native": native,
        "provenance": provenance(tool, version, parameters),
    }


def run_parameters(inputs: PeerInputs, mpheno: int, mode: str, **extra: Any) -> dict[str, Any]:
    """Provenance parameters: the input paths as given, the phenotype column, the mode."""
    return {**inputs.paths, "mpheno": mpheno, "mode": mode, **extra}


# ---------------------------------------------------------------------------------------
# Command line (the same flags for every peer)
# ---------------------------------------------------------------------------------------


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--bfile", required=True, help="PLINK prefix (.bed/.bim/.fam)")
    parser.add_argument(
        "--pheno", help="phenotype table FID IID v1 ... (default: the .fam phenotype columns)"
    )
    parser.add_argument(
        "--mpheno", type=int, default=1, help="phenotype column, 1-based (default 1)"
    )
    parser.add_argument("--covar", help="covariate table FID IID c1 ... (no intercept column)")
    parser.add_argument(
        "--kinship", required=True, help="N x N kinship text file over all .fam samples"
    )
    parser.add_argument("--snps", required=True, help="SNP IDs to test, one per line")
    parser.add_argument("--mode", choices=MODES, default="fixed", help="fixed or refit δ")
    parser.add_argument("--out", required=True, help="output prefix")
    return parser


def run_main(
    argv: Sequence[str] | None,
    prog: str,
    description: str,
    run: Callable[..., None],
) -> int:
    """Parse ``argv``, call ``run``; map failures to one stderr line and an exit status.

    Exit status: 0 done; 2 bad input (``InputError``); 3 tool not installed; 4 mode not
    supported by the tool; 1 the tool failed.
    """
    args = build_parser(prog, description).parse_args(argv)
    try:
        run(
            bfile=args.bfile,
            pheno=args.pheno,
            mpheno=args.mpheno,
            covar=args.covar,
            kinship=args.kinship,
            snps=args.snps,
            mode=args.mode,
            out=args.out,
        )
    except InputError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except ToolNotInstalled as err:
        print(f"{prog}: skipped: {err}", file=sys.stderr)
        return EXIT_NOT_INSTALLED
    except ModeNotSupported as err:
        print(f"{prog}: skipped: {err}", file=sys.stderr)
        return EXIT_MODE_NOT_SUPPORTED
    except ToolFailed as err:
        print(f"{prog}: failed: {err}", file=sys.stderr)
        return EXIT_TOOL_FAILED
    return 0


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise InputError(f"mode '{mode}' is not one of {', '.join(MODES)}")
