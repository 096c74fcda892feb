"""Command line: ``exactlmm qc | kinship | fit | assoc | gather`` (PLINK/GEMMA-style
flags).

Each subcommand is an argparse subparser ending in ``set_defaults(runner=...)``; :func:`main`
parses and calls the runner.  Bad input prints one line, ``exactlmm: error: <file>: <problem>``,
and exits with status 2; outputs are written atomically, so a failed run leaves none behind.

No SNP makes a run fail (PLINK 2's behaviour): ``assoc`` writes a row for every SNP passing
``--extract``/``--maf``/``--geno``, an untestable one (no call, monomorphic, in the span of the
covariates) with NA statistics and its reason in ``errcode``; kinships leave untestable SNPs
out.  One stderr line gives the counts per reason, and the JSON records hold them:
``untested`` (SNPs without statistics, per reason) and ``n_tested`` in ``PREFIX.null.json`` of
``assoc``; ``kinship_untested`` (SNPs left out of the kinship, per reason) in those of ``assoc``
and ``fit``; ``untested`` in ``PREFIX.kinship.json``.  ``qc`` reports on stderr how many SNPs
each check drops.
"""

from __future__ import annotations

import argparse
import math
import re
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from . import __version__, qc
from . import kinship as kinship_mod
from .dosage import describe_counts
from .errors import InputError
from .inputs import (
    DEFAULT_BLOCK_SIZE,
    AnalysisInputs,
    InputOptions,
    load_inputs,
    load_phenotypes,
)
from .io.atomic import Terminated, exit_on_signals
from .io.grm import write_grm
from .io.kinship_txt import write_kinship
from .io.plink import open_plink
from .io.results import write_null_json, write_result_pairs, write_table_pairs
from .io.tables import match_samples, phenotype_from_fam, read_covar, read_pheno
from .pipeline import (
    LOCO_METHODS,
    AssocResult,
    LocoFit,
    ScanOptions,
    association,
    association_many,
    chunk_block_size,
    scan_parts,
)
from .provenance import provenance
from .saved import LoadedModel, association_from_model, gather_chunks, save_model

PROG = "exactlmm"


def _add_data_options(parser: argparse.ArgumentParser, *, needs_pheno: bool = True) -> None:
    parser.add_argument("--bfile", required=True, metavar="PREFIX",
                        help="PLINK binary fileset PREFIX.bed/.bim/.fam")
    if needs_pheno:
        parser.add_argument(
            "--pheno", metavar="FILE",
            help="phenotype file 'FID IID v1 v2 ...' (whitespace; NA or -9 missing; optional "
                 "header). Default: the .fam phenotype column(s)",
        )
        parser.add_argument(
            "--mpheno", type=_phenotype_columns, default=1, metavar="N",
            help="use the N-th phenotype column (1-based; with no --pheno, .fam column 5+N, "
                 "like GEMMA -n); assoc also takes several, '1-6' or '1,3' (one output pair "
                 "PREFIX.<name>.assoc.tsv/.null.json each, <name> from the phenotype file's "
                 "header, else P<N>). Default: 1",
        )
        parser.add_argument("--covar", metavar="FILE",
                            help="covariate file 'FID IID c1 c2 ...'; the intercept is added; "
                                 "a column holding text is categorical (one-hot, the most "
                                 "frequent level as reference, as PLINK 2)")
        parser.add_argument("--covar-name", nargs="+", metavar="NAME",
                            help="use only these covariate columns (by header name)")
        parser.add_argument("--covar-categorical", nargs="+", default=[], metavar="NAME",
                            help="also treat these numerically coded covariates as categorical")
    parser.add_argument("--extract", metavar="FILE",
                        help="use only the SNPs listed in FILE (one ID per line)")
    parser.add_argument("--maf", type=_bounded(0.0, 0.5), default=0.0, metavar="X",
                        help="drop SNPs with minor-allele frequency < X. Default: 0")
    parser.add_argument("--geno", type=_bounded(0.0, 1.0), default=1.0, metavar="X",
                        help="drop SNPs with missingness > X (as GEMMA and PLINK: = X is kept). "
                             "Default: 1")
    parser.add_argument("--block-size", type=_positive_int, default=DEFAULT_BLOCK_SIZE,
                        metavar="N",
                        help="SNPs read and tested per block. Default: 24 MiB of float64 per "
                             "block, 3·2^20/n SNPs for n samples (between 1024 and 8192)")
    parser.add_argument("--out", required=True, type=_out_prefix, metavar="PREFIX",
                        help="output prefix")


def _bounded(lo: float, hi: float):
    """An argparse type: a number in [lo, hi] (NaN and infinities refused)."""

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not lo <= value <= hi:  # False for NaN
            raise argparse.ArgumentTypeError(f"{text!r}: expected a number from {lo:g} to {hi:g}")
        return value

    return number


def _positive_int(text: str) -> int:
    """An argparse type: a whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return value


def _out_prefix(text: str) -> str:
    """An argparse type: an output prefix, a file name with or without folders before it
    (``results/run``), never a folder alone (``""``, ``dir/``, ``.``): the outputs would be
    hidden files such as ``dir/.assoc.tsv``."""
    name = text.rsplit("/", 1)[-1]
    if name in ("", ".", "..") or Path(text).is_dir():
        raise argparse.ArgumentTypeError(
            f"{text!r} is a folder; give a file prefix inside it, e.g. {text.rstrip('/') or '.'}"
            "/run")
    return text


def _phenotype_columns(text: str) -> int | str:
    """``--mpheno``: one column (an int, as before) or a list like ``1-6`` or ``1,3,5`` (kept
    as given; :func:`_columns` expands it)."""
    try:
        columns = _columns(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a column number, a range such as 1-6 or a list such as 1,3"
        ) from None
    return columns[0] if text.strip().isdigit() else text.strip()


def _columns(spec: int | str) -> list[int]:
    """The phenotype columns of an ``--mpheno`` value: ``2`` → [2], ``1-3,5`` → [1, 2, 3, 5]."""
    if isinstance(spec, int):
        return [spec]
    columns: list[int] = []
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-")
        lo, hi = int(first), int(last if dash else first)
        if lo < 1 or hi < lo:
            raise ValueError(spec)
        columns += range(lo, hi + 1)
    if len(set(columns)) != len(columns):
        raise ValueError(spec)
    return columns


def _chunk(text: str) -> tuple[int, int]:
    """``--chunk I/N``: chunk I (1-based) of N."""
    first, slash, last = text.partition("/")
    try:
        chunk, n_chunks = int(first), int(last)
    except ValueError:
        chunk = n_chunks = 0
    if not slash or not 1 <= chunk <= n_chunks:
        raise argparse.ArgumentTypeError(f"{text!r}: expected I/N with 1 <= I <= N, e.g. 2/8")
    return chunk, n_chunks


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kinship", metavar="FILE",
                        help="plain-text N×N kinship over all .fam samples in .fam order "
                             "(GEMMA -gk/-k, PyLMM format), or GCTA's binary PREFIX.grm.bin "
                             "(samples named in PREFIX.grm.id). Default: standardized kinship "
                             "of the analyzed SNPs that are testable")
    parser.add_argument("--kinship-snps", metavar="FILE",
                        help="build the standardized kinship from the SNPs listed in FILE (one "
                             "ID per line) instead of the analyzed ones (FaST-LMM's G0); fewer "
                             "SNPs than samples take the low-rank path (thin SVD, K never "
                             "formed). With --loco, K₋c is built from the listed SNPs off c. "
                             "Not with --kinship")
    parser.add_argument("--center-kinship", action="store_true",
                        help="double-center the kinship over the analyzed samples, as GEMMA "
                             "-lmm does (changes ML and pve; REML is invariant)")
    parser.add_argument("--ml", action="store_true",
                        help="fit the null model by maximum likelihood (default REML)")
    parser.add_argument("--h2", type=float, metavar="H2",
                        help="do not estimate: fix h² = σg²/(σg²+σe²) on K as given (0 < H2 < 1)")
    parser.add_argument("--loco-method", choices=LOCO_METHODS, default="auto",
                        help="with --loco, each chromosome's K₋c as a downdate of the "
                             "genome-wide eigenbasis (about the price of one fit) or by its "
                             "own eigendecomposition; auto chooses by cost, and --refit "
                             "always takes the eigendecomposition. Default: auto")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``exactlmm COMMAND: error: ...``, exit 2): usage
    stays with ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Exact linear mixed model association scans (FaST-LMM-style: covariates "
                    "projected out, eigendecomposition of the kinship, search over log δ).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(title="subcommands", metavar="COMMAND", required=True)

    p = sub.add_parser("qc", help="write the SNP list passing MAF/missingness filters",
                       description="Compute allele frequency and missingness over the analyzed "
                                   "samples and write PREFIX.snplist (one SNP ID per line): the "
                                   "testable SNPs passing --maf/--geno. Reports on stderr how "
                                   "many SNPs each check drops.")
    _add_data_options(p)
    p.set_defaults(runner=run_qc)

    p = sub.add_parser("kinship", help="compute a kinship matrix (GEMMA's plain-text format)",
                       description="Kinship over ALL .fam samples, written as PREFIX.kinship.txt "
                                   "(N×N, .fam order), with PREFIX.kinship.json provenance.")
    _add_data_options(p, needs_pheno=False)
    p.add_argument("--kind", choices=kinship_mod.KINDS, default="standardized",
                   help="standardized: K = ZZᵀ/M, Z the standardized SNPs (FaST-LMM); centered: "
                        "GEMMA -gk 1, (1/p)Σ(x−x̄)(x−x̄)ᵀ. Untestable SNPs (no call, monomorphic) "
                        "are left out. Default: standardized")
    p.add_argument("--loco", action="store_true",
                   help="also write PREFIX.chr<C>.kinship.txt leaving out each chromosome")
    p.add_argument("--format", choices=("text", "grm"), default="text",
                   help="text: PREFIX.kinship.txt, GEMMA's and PyLMM's N×N text (lossless); "
                        "grm: GCTA's binary PREFIX.grm.bin/.grm.N.bin/.grm.id (float32, read "
                        "back ten times faster; --kinship PREFIX.grm.bin). Default: text")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(runner=run_kinship)

    p = sub.add_parser("fit", help="fit the null model (no SNP) and write PREFIX.null.json",
                       description="Fit the null model and write PREFIX.null.json; with "
                                   "--save-model also the kinship's eigendecomposition and the "
                                   "fits, which assoc --model scans with (in chunks: --chunk).")
    _add_data_options(p)
    _add_model_options(p)
    p.add_argument("--loco", action="store_true",
                   help="also one fit per chromosome, leaving its SNPs out of the kinship "
                        "(what assoc --loco uses)")
    p.add_argument("--save-model", metavar="MODEL",
                   help="write MODEL.model.npz and MODEL.model.json: the eigendecomposition(s), "
                        "the REML/ML fits, the samples, the SNPs and checksums of the inputs "
                        "(format: exactlmm.io.model)")
    p.set_defaults(runner=run_fit)

    p = sub.add_parser("assoc", help="test every SNP: Wald, LRT and score",
                       description="Fit the null model, then test each SNP. Writes "
                                   "PREFIX.assoc.tsv and PREFIX.null.json.")
    _add_data_options(p)
    _add_model_options(p)
    p.add_argument("--refit", action="store_true",
                   help="re-estimate the variance ratio for every SNP (GEMMA -lmm 4: Wald at "
                        "the SNP's REML δ, LRT at its ML δ, score at the null ML δ)")
    p.add_argument("--loco", action="store_true",
                   help="leave-one-chromosome-out kinship from the genotypes")
    p.add_argument("--model", metavar="MODEL",
                   help="scan with the model exactlmm fit --save-model MODEL wrote (samples, "
                        "phenotype, covariates, kinship, SNPs and --loco are the model's; "
                        "--bfile must be the fileset it was fitted on)")
    p.add_argument("--chunk", type=_chunk, metavar="I/N",
                   help="with --model: scan only the I-th of N parts of the SNPs (whole blocks "
                        "of --block-size SNPs; the N tables concatenated in order are the "
                        "single run's, byte for byte; exactlmm gather joins them)")
    p.add_argument("--all-pheno", action="store_true",
                   help="test every phenotype column (of --pheno, else of the .fam), each with "
                        "its own output pair PREFIX.<name>.assoc.tsv/.null.json (PLINK's "
                        "--all-pheno); phenotypes with the same analysed samples share the "
                        "kinship, its eigendecomposition and the rotated genotypes")
    p.set_defaults(runner=run_assoc)

    p = sub.add_parser("gather", help="join the chunks of an assoc --model --chunk scan",
                       description="Join the outputs CHUNK.assoc.tsv/.null.json of assoc "
                                   "--model --chunk I/N, I = 1..N, given in any order: the "
                                   "tables in chunk order under one header, the null record of "
                                   "the chunks with their counts summed.")
    p.add_argument("chunks", nargs="+", metavar="CHUNK", help="the chunk runs' --out prefixes")
    p.add_argument("--out", required=True, type=_out_prefix, metavar="PREFIX",
                   help="output prefix")
    p.set_defaults(runner=run_gather)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; every failure the user can act on is one line on stderr.

    Exit status: 0 done; 2 bad input or options, a file that cannot be read or written, or not
    enough memory (``exactlmm: error: ...``); 128 + N when stopped by signal N (SIGTERM: 143,
    SIGINT: 130), after removing every temporary file
    (:func:`exactlmm.io.atomic.exit_on_signals`).  No output is written unless the run
    succeeded.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with exit_on_signals(), warnings.catch_warnings():
        warnings.simplefilter("default")  # each warning once per place, not once per SNP
        warnings.showwarning = _show_warning
        try:
            args.runner(args)
        except InputError as err:
            return _error(str(err))
        except OSError as err:
            where = f"{err.filename}: " if err.filename else ""
            return _error(f"{where}{err.strerror or err}")
        except MemoryError:
            return _error("not enough memory for this analysis (docs/BENCHMARKS.md gives the "
                          "memory a scan needs; --kinship-snps with fewer SNPs than samples "
                          "takes the low-rank path)")
        except Terminated as stop:
            return _error(f"{stop}; nothing written", 128 + stop.signum)
        except KeyboardInterrupt:
            return _error("interrupted; nothing written", 128 + signal.SIGINT)
    return 0


def _error(message: str, status: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _log(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _check_covar_options(args: argparse.Namespace) -> None:
    """--covar-name and --covar-categorical choose among the columns of --covar."""
    if (args.covar_name or args.covar_categorical) and not args.covar:
        raise InputError("--covar-name and --covar-categorical need a covariate file (--covar)")


def _single_column(args: argparse.Namespace) -> int:
    """The one phenotype column of a subcommand that tests one phenotype."""
    columns = _columns(args.mpheno)
    if len(columns) != 1:
        raise InputError(f"--mpheno {args.mpheno}: this subcommand takes one phenotype column")
    return columns[0]


def _input_options(args: argparse.Namespace, mpheno: int = 1) -> InputOptions:
    """The data flags of a subcommand as :class:`exactlmm.inputs.InputOptions`."""
    _check_covar_options(args)
    return InputOptions(
        bfile=args.bfile, pheno=args.pheno, mpheno=mpheno, covar=args.covar,
        kinship=getattr(args, "kinship", None), extract=args.extract,
        covar_names=args.covar_name, covar_categorical=args.covar_categorical,
        center_kinship=getattr(args, "center_kinship", False), maf=args.maf, geno=args.geno,
        block_size=args.block_size, kinship_snps=getattr(args, "kinship_snps", None),
    )


def _inputs(args: argparse.Namespace) -> AnalysisInputs:
    return load_inputs(_input_options(args, _single_column(args)))


def _scan_options(args: argparse.Namespace) -> ScanOptions:
    """The model flags of ``fit``/``assoc`` as :class:`exactlmm.pipeline.ScanOptions`."""
    return ScanOptions(
        likelihood="ML" if args.ml else "REML", fixed_gamma=_fixed_gamma(args),
        loco=args.loco, refit=getattr(args, "refit", False), block_size=args.block_size,
        progress=not args.no_progress, loco_method=args.loco_method,
    )


def _parameters(args: argparse.Namespace, **override: object) -> dict:
    """The run's options for provenance (``--all-pheno`` only when given, so a one-phenotype
    run records what it did before the option existed)."""
    values = {**vars(args), **override}
    return {k: v for k, v in sorted(values.items())
            if k != "runner" and not (k == "all_pheno" and not v)}


def _log_untested(untested: dict[str, int], total: int, what: str) -> None:
    """One stderr line with the counts per reason, when any SNP was left out."""
    if untested:
        _log(f"{sum(untested.values())} of {total} SNPs {what}: {describe_counts(untested)}")


def run_qc(args: argparse.Namespace) -> None:
    _check_covar_options(args)
    ds = open_plink(args.bfile)
    column = _single_column(args)
    table = read_pheno(args.pheno, column) if args.pheno else phenotype_from_fam(ds, column)
    covariates = (
        read_covar(args.covar, args.covar_name, args.covar_categorical) if args.covar else None
    )
    samples = match_samples(ds, table, covariates)
    stats = qc.snp_stats(ds, samples.fam_index, block_size=args.block_size)
    keep = qc.qc_mask(stats, maf_min=args.maf, missing_max=args.geno)
    listed = np.ones(ds.n_snps, dtype=bool)
    if args.extract:
        listed[:] = False
        listed[qc.snp_index_from_list(ds, qc.read_snp_list(args.extract), args.extract)] = True
        keep &= listed
    counts = qc.filter_counts(stats, args.maf, args.geno, listed)
    path = Path(f"{args.out}.snplist")
    if not keep.any():
        raise InputError(f"no SNP passes (testable, MAF >= {args.maf}, missingness <= "
                         f"{args.geno}): no SNP list written", ds.bim_path)
    shared = np.isin(ds.snp[~keep], ds.snp[keep])
    if shared.any():
        raise InputError(f"SNP ID {ds.snp[~keep][shared][0]} names several SNPs of which only "
                         "some pass, and a SNP list cannot tell them apart: give the SNPs "
                         "unique IDs (e.g. plink2 --set-all-var-ids @:#:$r:$a)", ds.bim_path)
    qc.write_snp_list(path, ds.snp[keep])
    n_selected = int(listed.sum())
    _log(f"{n_selected} {'listed ' if args.extract else ''}SNPs over "
         f"{samples.fam_index.size} samples, dropped (each under the first check it fails): "
         f"NO_CALLS {counts['NO_CALLS']}, MONOMORPHIC {counts['MONOMORPHIC']}, missingness > "
         f"{args.geno} {counts['geno']}, MAF < {args.maf} {counts['maf']}")
    _log(f"{int(keep.sum())} of {n_selected} SNPs pass (testable, MAF >= {args.maf}, "
         f"missingness <= {args.geno}) -> {path}")


def run_kinship(args: argparse.Namespace) -> None:
    import json

    from .io.atomic import write_text_atomic

    ds = open_plink(args.bfile)
    all_samples = np.arange(ds.n_samples)
    snps = (qc.snp_index_from_list(ds, qc.read_snp_list(args.extract), args.extract)
            if args.extract else np.arange(ds.n_snps))
    if args.maf > 0 or args.geno < 1:
        stats = qc.snp_stats(ds, all_samples, block_size=args.block_size)
        snps = snps[qc.filter_mask(stats, maf_min=args.maf, missing_max=args.geno)[snps]]
        if snps.size == 0:
            raise InputError("no SNP left for the kinship after --extract/--maf/--geno",
                             ds.bed_path)
    progress = not args.no_progress
    compute = (kinship_mod.kinship_standardized if args.kind == "standardized"
               else kinship_mod.kinship_centered)
    k, m, untested = compute(ds, all_samples, snps, block_size=args.block_size,
                             progress=progress)
    path = _write_kinship_file(args, args.out, ds, k, m)
    record = {"kind": args.kind, "n_samples": int(ds.n_samples), "n_snps": int(m),
              "n_selected": int(snps.size), "untested": untested,
              "mean_diag": float(np.trace(k)) / ds.n_samples,
              "provenance": provenance(PROG, __version__, _parameters(args))}
    if args.loco:
        record["loco"] = {}
        for chrom, (k_c, m_c, _) in kinship_mod.kinship_loco(
            ds, all_samples, snps, block_size=args.block_size, method=args.kind
        ).items():
            _write_kinship_file(args, f"{args.out}.chr{chrom}", ds, k_c, m_c)
            record["loco"][chrom] = int(m_c)
    write_text_atomic(Path(f"{args.out}.kinship.json"), json.dumps(record, indent=2) + "\n")
    _log_untested(untested, int(snps.size), "left out of the kinship")
    _log(f"{args.kind} kinship of {ds.n_samples} samples from {m} SNPs -> {path}")


def _write_kinship_file(args: argparse.Namespace, prefix: str, ds, k: np.ndarray, m: int
                        ) -> Path:
    """PREFIX.kinship.txt, or GCTA's PREFIX.grm.bin (+ .grm.N.bin, .grm.id) with --format grm."""
    if args.format == "grm":
        return write_grm(prefix, k, ds.fid, ds.iid, m)
    path = Path(f"{prefix}.kinship.txt")
    write_kinship(path, k)
    return path


def _fixed_gamma(args: argparse.Namespace) -> float | None:
    """γ = h²/(1 − h²) for ``--h2``; the search runs over log δ, so h² must avoid 0 and 1."""
    if args.h2 is None:
        return None
    if not 0.0 < args.h2 < 1.0:
        raise InputError(
            f"--h2 {args.h2}: h² must lie strictly between 0 and 1 (h² = 0 makes "
            "δ = σe²/σg² infinite, h² = 1 makes γ = σg²/σe² infinite)"
        )
    return args.h2 / (1.0 - args.h2)  # γ = h²/(1 − h²): σg² = h², σe² = 1 − h²


def run_fit(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    inputs = _inputs(args)
    options = _scan_options(args)
    loco: dict | None = {} if args.loco else None
    if args.save_model:
        headline, loco_fits = save_model(
            args.save_model, inputs, options,
            header={"tool": PROG, "version": __version__,
                    "provenance": provenance(PROG, __version__, _parameters(args))})
        model, null = headline.model, headline.nulls[0]
        if loco_fits is not None:
            loco = {c: f.record() for c, f in loco_fits.items()}
    else:
        parts = scan_parts([inputs], options, with_ml=False)
        genome = next(parts)  # the genome-wide part, first (LOCO) or the only one
        model, null = genome.model, genome.nulls[0]
        for part in parts:
            fitted = part.nulls[0]
            loco[part.label] = LocoFit(fitted.gamma, fitted.loglik, part.method).record()
    record = _null_record(inputs, null, args, kinship=model.description,
                          kinship_untested=model.untested)
    if loco is not None:
        record["loco"] = loco
    write_null_json(Path(f"{args.out}.null.json"), record)
    _log_untested(model.untested, int(inputs.snp_index.size), "left out of the kinship")
    saved = f" -> {args.save_model}.model.npz/.json" if args.save_model else ""
    se = null.standard_errors()["se_h2"]
    _log(f"{options.likelihood} fit on {inputs.n_samples} samples: γ = {null.gamma:.6g}, h² = "
         f"{null.h2:.6g}{'' if se is None else f' (se {se:.3g})'}, logL = {null.loglik:.6f} "
         f"({time.perf_counter() - started:.2f} s){saved}")


#: assoc options a saved model fixes: (name, its flag); --model with any of them is an error.
_MODEL_FIXES = (
    ("pheno", "--pheno"), ("mpheno", "--mpheno"), ("covar", "--covar"),
    ("covar_name", "--covar-name"), ("covar_categorical", "--covar-categorical"),
    ("kinship", "--kinship"), ("kinship_snps", "--kinship-snps"),
    ("center_kinship", "--center-kinship"),
    ("extract", "--extract"), ("maf", "--maf"), ("geno", "--geno"), ("ml", "--ml"),
    ("h2", "--h2"), ("all_pheno", "--all-pheno"), ("loco_method", "--loco-method"),
)


def _run_assoc_model(args: argparse.Namespace, started: float) -> None:
    """assoc --model [--chunk I/N]: the scan of a saved model, or a chunk of it."""
    defaults = build_parser().parse_args(["assoc", "--bfile", "B", "--out", "O"])
    given = [flag for name, flag in _MODEL_FIXES
             if getattr(args, name) != getattr(defaults, name)]
    if given:
        raise InputError(f"{' '.join(given)}: the model ({args.model}.model.json) fixes the "
                         "samples, phenotype, covariates, kinship, SNPs and likelihood; give "
                         "them to exactlmm fit --save-model")
    model = LoadedModel(args.model, args.bfile)
    if args.loco and not model.loco:
        raise InputError("--loco: this model was fitted without --loco",
                         model.saved.json_path)
    args.loco = model.loco
    chunk, n_chunks = args.chunk or (1, 1)
    options = ScanOptions(refit=args.refit, block_size=args.block_size,
                          progress=not args.no_progress)
    result = association_from_model(model, options, chunk=chunk, n_chunks=n_chunks)
    parameters = _parameters(args, chunk=None if args.chunk is None else f"{chunk}/{n_chunks}")
    extra = {"model": {"path": str(model.saved.json_path),
                       "npz_sha256": model.saved.header["npz_sha256"],
                       "header_sha256": model.saved.identity,
                       "n_snps": int(model.inputs.snp_index.size)},
             "chunk": [chunk, n_chunks],
             "block_size": chunk_block_size(model.inputs, options)}
    _write_assoc(args, args.out, model.inputs, result, parameters, started, extra)


def run_assoc(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    if args.model:
        return _run_assoc_model(args, started)
    if args.chunk:
        raise InputError("--chunk scans a part of a saved model's SNPs: give --model too")
    columns = _columns(args.mpheno)
    if args.all_pheno or len(columns) > 1:
        return _run_assoc_many(args, None if args.all_pheno else columns, started)
    options = _scan_options(args)
    inputs = _inputs(args)
    result = association(inputs, options, consume_kinship=True)
    _write_assoc(args, args.out, inputs, result, _parameters(args), started)


def _run_assoc_many(args: argparse.Namespace, columns: list[int] | None, started: float
                    ) -> None:
    """Several phenotypes in one run (--mpheno 1-6, --all-pheno): one output pair each, named
    by the phenotype (PREFIX.<name>.assoc.tsv/.null.json); nothing is written unless every
    phenotype's analysis succeeded."""
    if args.all_pheno and _columns(args.mpheno) != [1]:
        raise InputError("--all-pheno tests every phenotype column; do not also give --mpheno")
    options = _scan_options(args)
    analyses = load_phenotypes(_input_options(args), columns)
    names = _output_names(analyses, args.pheno)
    results = association_many(analyses, options, consume_kinship=True)
    pairs = [_assoc_pair(args, f"{args.out}.{name}", inputs, result,
                         _parameters(args, mpheno=inputs.parameters["mpheno"]))
             for inputs, result, name in zip(analyses, results, names, strict=True)]
    write_result_pairs(pairs)  # every pair, or none
    for inputs, result, name in zip(analyses, results, names, strict=True):
        _log_assoc(args, f"{args.out}.{name}", inputs, result, started)


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def _output_names(analyses: list[AnalysisInputs], pheno: str | None) -> list[str]:
    """Each phenotype's part of its output names: its label with every character outside
    ``A-Z a-z 0-9 . _ + -`` replaced by ``_``; two phenotypes may not share one."""
    names = [_UNSAFE.sub("_", inputs.phenotype_label) for inputs in analyses]
    seen: dict[str, str] = {}
    for inputs, name in zip(analyses, names, strict=True):
        if name in seen:
            raise InputError(f"phenotypes {seen[name]!r} and {inputs.phenotype_label!r} would "
                             f"both write PREFIX.{name}.assoc.tsv; rename one in the header",
                             pheno)
        seen[name] = inputs.phenotype_label
    return names


def _assoc_pair(args: argparse.Namespace, prefix: str, inputs: AnalysisInputs,
                result: AssocResult, parameters: dict, extra: dict | None = None
                ) -> tuple[str, dict, dict]:
    """``(prefix, columns, record)`` of one output pair (:func:`write_result_pairs`)."""
    record = {**_assoc_record(inputs, result, args, parameters), **(extra or {})}
    return prefix, result.columns(inputs.dataset), record


def _mode(args: argparse.Namespace) -> str:
    """The scan's mode: fixed, refit, loco (δ fixed per chromosome) or loco-refit."""
    return "-".join(
        name for name, on in (("loco", args.loco), ("refit", args.refit)) if on) or "fixed"


def _log_assoc(args: argparse.Namespace, prefix: str, inputs: AnalysisInputs,
               result: AssocResult, started: float) -> None:
    idx = result.snp_index
    _log_untested(result.untested, int(idx.size), "not tested")
    elapsed = time.perf_counter() - started
    _log(f"{idx.size} SNPs x {inputs.n_samples} samples ({_mode(args)}): null γ = "
         f"{result.null.gamma:.6g}, logL = {result.null.loglik:.6f}; "
         f"{elapsed:.2f} s -> {prefix}.assoc.tsv")


def _write_assoc(args: argparse.Namespace, prefix: str, inputs: AnalysisInputs,
                 result: AssocResult, parameters: dict, started: float,
                 extra: dict | None = None) -> None:
    """One output pair, written as one unit."""
    write_result_pairs([_assoc_pair(args, prefix, inputs, result, parameters, extra)])
    _log_assoc(args, prefix, inputs, result, started)


def _null_record(
    inputs: AnalysisInputs,
    null,
    args: argparse.Namespace,
    *,
    kinship: str,
    kinship_untested: dict[str, int],
    parameters: dict | None = None,
) -> dict:
    record = {"tool": PROG, "version": __version__}
    record.update(null.summary())
    record["covariates"] = inputs.covariate_names
    samples = inputs.samples
    record["samples_dropped"] = {
        "missing_phenotype": samples.n_dropped_missing - samples.n_missing_covariate,
        "missing_covariate": samples.n_missing_covariate,
        "not_in_phenotype_file": samples.n_fam_without_pheno,
    }
    record["kinship"] = kinship
    record["kinship_untested"] = kinship_untested
    record["native"] = {"delta": null.delta, "log_delta": null.log_delta,
                        "log_delta_bounds": list(null.log_delta_bounds)}
    record["provenance"] = provenance(
        PROG, __version__, _parameters(args) if parameters is None else parameters)
    return record


def _assoc_record(inputs: AnalysisInputs, result: AssocResult, args: argparse.Namespace,
                  parameters: dict) -> dict:
    record = _null_record(inputs, result.null, args, kinship=result.kinship,
                          kinship_untested=result.kinship_untested, parameters=parameters)
    # The harness's modes (lmmcompare.registry): fixed, refit, loco; --loco --refit is
    # "loco-refit", a mode of this command only.
    record["mode"] = _mode(args)
    record["n_snps"] = int(result.snp_index.size)
    untested = result.untested
    record["n_tested"] = int(result.snp_index.size) - sum(untested.values())
    record["untested"] = untested
    if result.ml_null is not None and result.ml_null is not result.null:
        record["ml_null"] = {k: v for k, v in result.ml_null.summary().items()
                             if k in ("gamma", "delta", "h2", "pve", "loglik", "sigma_e2")}
    if result.loco is not None:
        record["loco"] = {c: fit.record() for c, fit in result.loco.items()}
    return record


def run_gather(args: argparse.Namespace) -> None:
    """exactlmm gather: the chunks 1..N of one model's scan joined
    (:func:`exactlmm.saved.gather_chunks`, which checks they belong together)."""
    table, record = gather_chunks(args.chunks)
    record["gathered"] = provenance(PROG, __version__, _parameters(args))
    write_table_pairs([(args.out, table, record)])
    _log(f"{record['n_snps']} SNPs from {record['chunks']} chunks -> {args.out}.assoc.tsv")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
