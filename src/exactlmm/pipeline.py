"""From matched inputs (:mod:`exactlmm.inputs`) to fitted models and scans: the steps the
command line and the workflow share.

Kinship choices:

* a kinship file: that matrix (cut to the analysed samples, maybe centred:
  :mod:`exactlmm.inputs`), full-rank eigh path;
* no file: the standardised kinship K = ZZᵀ/M of the scanned SNPs (or of ``--kinship-snps``)
  over the analysed samples, leaving out those that are untestable there (no call,
  monomorphic: :mod:`exactlmm.dosage`), so M counts only the others; when fewer SNPs than
  samples are selected the low-rank SVD path is used and K is never formed.
* LOCO (``loco=True``): for the SNPs of chromosome c, K₋c from the SNPs of all other
  chromosomes (FaST-LMM's answer to proximal contamination); one null fit per chromosome.

One path for every scan.  A scan is a list of *parts* (:func:`scan_layout`): one kinship model
with its null fits and the SNPs it scans — one part without LOCO; with LOCO one per chromosome
and last the genome-wide fit the record reports.  :func:`scan_parts` makes the parts, one at a
time; :func:`association_chunk` scans chunk I of N of the SNPs with parts it is handed.  A
single run (:func:`association`) is chunk 1 of 1 with the parts as :func:`scan_parts` makes
them; a saved model's chunk (:mod:`exactlmm.saved`) is the same call with the parts rebuilt
from the model file, so the two give the same rows bit for bit.

Several phenotypes (:func:`exactlmm.inputs.load_phenotypes`, :func:`association_many`) share
the genotype reads and the kinship file; those with the same analysed samples (the same
missingness pattern) share the kinship, its eigendecomposition and every block's rotation WᵀG,
and each gets exactly the statistics a run of its own would give.

No SNP makes an analysis fail: every SNP passing ``--extract``/``--maf``/``--geno`` gets a row,
an untestable one with NA statistics and its reason (``errcode``), and the counts per reason
are in :attr:`AssocResult.untested` and :attr:`KinshipModel.untested`.

Memory: the genotypes are read a block of SNPs at a time from the memory-mapped ``.bed``
(:mod:`exactlmm.io.bed`; a second pass reads the page cache, not the disk), and the n × n
matrices are transformed in place (:func:`exactlmm.spectral.spectrum_from_kinship`), so a scan
holds at most 3 n² doubles (during the eigendecomposition) plus one block; a LOCO scan lets
each chromosome's model go before the next is made.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from . import kinship as kinship_mod
from .dosage import (
    code_values,
    count_calls,
    count_errcodes,
    decode,
    describe_counts,
    imputed,
)
from .downdate import (
    ChromosomeDowndate,
    DowndateScanner,
    fit_downdate,
    kinship_rows,
    plan_chromosome,
)
from .errors import InputError
from .inputs import (
    DEFAULT_BLOCK_SIZE,
    AnalysisInputs,
    InputOptions,
    load_inputs,
    load_phenotypes,
)
from .io.plink import SEX_AND_MITOCHONDRIAL, PlinkDataset, auto_block_size, bed_codes
from .io.results import ERRCODE_DTYPE, TESTED
from .likelihood import Likelihood, RotatedPhenotype, profile_loglik
from .null import DEFAULT_GRID, DEFAULT_LOG_DELTA_BOUNDS, NullFitSummary, NullModel, fit_null
from .parallel import Workspace
from .scan import RefitTables, Scanner, empty_statistics, scan_imputed
from .spectral import Spectrum, spectrum_from_genotypes, spectrum_from_kinship

__all__ = [
    "DEFAULT_BLOCK_SIZE", "AnalysisInputs", "InputOptions", "load_inputs", "load_phenotypes",
]  # fmt: skip
"""Re-exported from :mod:`exactlmm.inputs`, where they live (the rest is this module's)."""


#: How a LOCO scan handles each chromosome (:attr:`ScanOptions.loco_method`).
LOCO_METHODS = ("auto", "downdate", "eigendecomposition")


@dataclass(frozen=True)
class ScanOptions:
    """How a scan is fitted and run: the command line's model flags.

    Parameters
    ----------
    likelihood:
        ``"REML"`` (default) or ``"ML"`` for the null fit.
    fixed_gamma:
        Evaluate the null at this γ = σg²/σe² instead of fitting it (``--h2``).
    loco:
        Leave one chromosome out: each chromosome's SNPs scanned with the kinship of the
        others (:func:`_loco_models`).
    refit:
        Re-estimate γ for every SNP (GEMMA ``-lmm 4``: Wald at the SNP's REML γ, LRT at its
        ML γ); not with ``fixed_gamma``.
    loco_method:
        How each chromosome's K₋c is handled with ``loco``: ``"auto"`` (by cost,
        :func:`exactlmm.downdate.plan_chromosome`), ``"downdate"`` (of the genome-wide
        eigenbasis, :mod:`exactlmm.downdate`; not with ``refit``) or
        ``"eigendecomposition"`` (K₋c's own).
    block_size:
        SNPs read and tested per block (``None``: :func:`exactlmm.io.plink.auto_block_size`);
        chunks of a saved model's scan are whole blocks.
    progress:
        Show progress bars.
    """

    likelihood: Likelihood = "REML"
    fixed_gamma: float | None = None
    loco: bool = False
    refit: bool = False
    block_size: int | None = DEFAULT_BLOCK_SIZE
    progress: bool = False
    loco_method: str = "auto"

    def __post_init__(self) -> None:
        if self.refit and self.fixed_gamma is not None:
            raise InputError(
                "a fixed h² (--h2) and a per-SNP refit (--refit) exclude each other: the "
                "refit re-estimates the variance ratio for every SNP"
            )
        if self.loco_method not in LOCO_METHODS:
            raise ValueError(f"loco_method must be one of {LOCO_METHODS}")
        if self.refit and self.loco and self.loco_method == "downdate":
            raise InputError("--loco-method downdate has no per-SNP refit (its grids need each "
                             "K₋c's own eigenvalues); use auto or eigendecomposition")


@dataclass(frozen=True)
class KinshipModel:
    """A spectrum with what the null fit needs besides it.

    ``untested`` counts, per reason, the selected SNPs left out of a kinship built from the
    genotypes (empty for a kinship file); ``n_snps`` is M, the SNPs it was built from (0 for
    a file).
    """

    spectrum: Spectrum
    matvec: Callable[[np.ndarray], np.ndarray]
    mean_diag: float
    description: str
    untested: dict[str, int] = field(default_factory=dict)
    n_snps: int = 0


def kinship_model(
    inputs: AnalysisInputs,
    *,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
    progress: bool = False,
    consume: bool = False,
) -> KinshipModel:
    """Spectrum of the kinship (with what ML needs): from the kinship file, else from the
    kinship SNPs (the scanned ones, or ``inputs.kinship_snps``).  With ``consume`` the kinship
    file's matrix (``inputs.kinship``) is decomposed in place and dropped from ``inputs``,
    saving one n × n copy."""
    x = inputs.covariates
    source = inputs.kinship_source or inputs.dataset.bed_path
    if inputs.kinship is not None:
        k = inputs.kinship
        model = _dense_model(k, x, source, "file", overwrite=consume)
        if consume:
            inputs.kinship = None
        return model
    snps = inputs.snp_index if inputs.kinship_snps is None else inputs.kinship_snps
    if snps.size < inputs.n_samples:
        return _low_rank_model(inputs, snps)
    ds = inputs.dataset
    k, m, untested = kinship_mod.kinship_standardized(
        ds, inputs.samples.fam_index, snps, block_size=block_size, progress=progress
    )
    model = _dense_model(k, x, ds.bed_path, f"standardized, {m} SNPs", overwrite=True)
    return KinshipModel(model.spectrum, model.matvec, model.mean_diag, model.description,
                        untested, m)


#: SNPs decoded at a time into the low-rank Z (its scratch is this many rows of n ``intp``).
LOW_RANK_DECODE_ROWS = 256


def _low_rank_model(inputs: AnalysisInputs, snps: np.ndarray, label: str = "") -> KinshipModel:
    """K = ZZᵀ/M from the testable SNPs among ``snps`` (fewer than the samples), never formed:
    the thin SVD of the projected Z (:func:`exactlmm.spectral.spectrum_from_genotypes`)."""
    ds = inputs.dataset
    codes = bed_codes(ds, inputs.samples.fam_index).codes(snps)
    counts = count_calls(codes)
    errcode = counts.errcode
    keep = errcode == TESTED
    if not keep.any():
        raise InputError(
            f"none of the {snps.size} SNPs selected for the kinship{label} is testable among "
            f"the analysed samples ({describe_counts(count_errcodes(errcode))})",
            ds.bed_path,
        )
    kept = np.flatnonzero(keep)
    values = np.empty((kept.size, codes.shape[1]))  # C order: its transpose Z is n × k Fortran
    for start in range(0, kept.size, LOW_RANK_DECODE_ROWS):  # bounded scratch per piece
        rows = kept[start : start + LOW_RANK_DECODE_ROWS]
        code_values(codes[rows], counts[rows], standardized=True,
                    out=values[start : start + LOW_RANK_DECODE_ROWS])
    del codes
    m = kept.size
    # memory: Z becomes S Z, then the SVD's U in the same buffer (spectrum_from_genotypes)
    spectrum = spectrum_from_genotypes(values.T, m, inputs.covariates, ds.bed_path,
                                       overwrite=True)
    del values
    return KinshipModel(
        spectrum, spectrum.kinship_matvec, 1.0, f"standardized, {m} SNPs{label}, low rank",
        count_errcodes(errcode), m,
    )


def fit(
    inputs: AnalysisInputs,
    model: KinshipModel,
    likelihood: Likelihood = "REML",
    *,
    fixed_gamma: float | None = None,
    log_delta_bounds: tuple[float, float] = DEFAULT_LOG_DELTA_BOUNDS,
    n_grid: int = DEFAULT_GRID,
    label: str | None = None,
) -> NullModel:
    """Null-model fit (or evaluation at ``fixed_gamma``) by REML or ML.

    ``label`` is added to the source named in warnings (e.g. the LOCO chromosome).
    """
    return fit_null(
        model.spectrum,
        inputs.y,
        inputs.covariates,
        model.matvec,
        model.mean_diag,
        likelihood=likelihood,
        log_delta_bounds=log_delta_bounds,
        n_grid=n_grid,
        fixed_log_delta=_fixed_log_delta(fixed_gamma),
        source=inputs.pheno_source if label is None else f"{inputs.pheno_source} ({label})",
    )


def loglik_at_gamma(
    inputs: AnalysisInputs, gammas: list[float], likelihood: Likelihood = "REML"
) -> list[float]:
    """Our profile log-likelihood at each γ — to put every tool's estimate on one convention."""
    model = kinship_model(inputs)
    phenotype = RotatedPhenotype.from_phenotype(model.spectrum, inputs.y)
    log_delta = -np.log(np.asarray(gammas, dtype=float))
    return [float(v) for v in profile_loglik(phenotype, log_delta, likelihood)]


@dataclass(frozen=True)
class LocoFit:
    """γ and log-likelihood of one chromosome's null fit (what a LOCO record lists), and how
    its K₋c was handled (``method``: ``"downdate"``, ``"eigendecomposition"``, or
    ``"genome-wide"`` when no kinship SNP is on the chromosome); the fit itself, which holds
    a spectrum, is not kept."""

    gamma: float
    loglik: float
    method: str = "eigendecomposition"

    def record(self) -> dict:
        return {"gamma": self.gamma, "loglik": self.loglik, "method": self.method}


@dataclass
class AssocResult:
    """Per-SNP statistics (in ``snp_index`` order) and the null fit(s) they used.

    ``statistics`` has a row for every SNP of ``snp_index``; ``errcode`` says which were not
    tested and why.  ``kinship_untested`` counts per reason the SNPs left out of the kinship
    (LOCO: of the genome-wide one).
    """

    snp_index: np.ndarray
    statistics: dict[str, np.ndarray]
    null: NullFitSummary
    ml_null: NullFitSummary | None
    kinship: str
    loco: dict[str, LocoFit] | None = None
    kinship_untested: dict[str, int] = field(default_factory=dict)

    @property
    def untested(self) -> dict[str, int]:
        """{reason: number of SNPs} without statistics (NO_CALLS, MONOMORPHIC, COLLINEAR)."""
        return count_errcodes(self.statistics["errcode"])

    def columns(self, dataset: PlinkDataset) -> dict[str, np.ndarray]:
        """The columns of ``PREFIX.assoc.tsv`` (:data:`exactlmm.io.results.ASSOC_COLUMNS`, in
        order): the SNPs' ``.bim`` fields from ``dataset``, then the statistics."""
        idx = self.snp_index
        return {"chrom": dataset.chrom[idx], "snp": dataset.snp[idx], "pos": dataset.pos[idx],
                "a1": dataset.a1[idx], "a2": dataset.a2[idx], **self.statistics}


def association(inputs: AnalysisInputs, options: ScanOptions = ScanOptions(), *,
                consume_kinship: bool = False) -> AssocResult:
    """Fit the null model and scan every selected SNP (see :mod:`exactlmm.scan`).

    Every SNP of ``inputs.snp_index`` gets a row; untestable ones are NA with a reason in
    ``errcode`` and are left out of a kinship built from the genotypes.  ``options.refit``
    re-estimates γ per SNP; ``options.loco`` uses, for the SNPs of each chromosome, the
    kinship of the others.  ``consume_kinship``: see :func:`kinship_model` (``consume``).

    >>> import tempfile
    >>> from pathlib import Path
    >>> from bed_reader import to_bed
    >>> rng = np.random.default_rng(4)
    >>> G = rng.binomial(2, 0.3, size=(50, 90)).astype(float)
    >>> y = (G - G.mean(axis=0)) @ rng.normal(0.0, 0.15, 90) + rng.standard_normal(50)
    >>> G[:, 10] = np.nan  # no call at all
    >>> chromosome = np.repeat(["1", "2", "3"], 30)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     to_bed(Path(tmp) / "d.bed", G, count_A1=True,
    ...            properties={"pheno": y, "chromosome": chromosome})
    ...     inputs = load_inputs(InputOptions(Path(tmp) / "d"))
    ...     fixed = association(inputs)
    ...     loco = association(inputs, ScanOptions(loco=True, refit=True))
    >>> fixed.untested, fixed.kinship_untested, sorted(loco.loco)
    ({'NO_CALLS': 1}, {'NO_CALLS': 1}, ['1', '2', '3'])
    >>> fixed.statistics["errcode"][10], int(fixed.statistics["n"][10]), loco.kinship
    ('NO_CALLS', 0, 'standardized, leave one chromosome out')
    """
    return association_many([inputs], options, consume_kinship=consume_kinship)[0]


def association_many(analyses: Sequence[AnalysisInputs], options: ScanOptions = ScanOptions(),
                     *, consume_kinship: bool = False) -> list[AssocResult]:
    """:func:`association` of several analyses of one fileset (e.g. the phenotypes of
    :func:`exactlmm.inputs.load_phenotypes`), in their order.  Those with the same analysed
    samples, SNPs, covariates and kinship form a group that shares the kinship model and every
    block's rotation (module notes); the results are those of separate runs."""
    results: list[AssocResult | None] = [None] * len(analyses)
    for group in _groups(analyses):
        members = [analyses[i] for i in group]
        for i, result in zip(group, _single_run(members, options, consume_kinship),
                             strict=True):
            results[i] = result
    return results  # type: ignore[return-value]


def _groups(analyses: Sequence[AnalysisInputs]) -> list[list[int]]:
    """Positions of the analyses that can share a kinship model and the rotations: same
    dataset, samples, SNPs, covariates and kinship matrix."""
    groups: dict[tuple, list[int]] = {}
    for i, a in enumerate(analyses):
        key = (id(a.dataset), a.samples.fam_index.tobytes(), a.snp_index.tobytes(),
               a.covariates.tobytes(), a.covariates.shape, id(a.kinship))
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _single_run(members: list[AnalysisInputs], options: ScanOptions, consume_kinship: bool
                ) -> list[AssocResult]:
    """The scan of a group in one process: chunk 1 of 1 (:func:`association_chunk`) with the
    parts as :func:`scan_parts` makes them, one at a time (a LOCO scan's genome-wide part comes
    first and stays, each chromosome's part is let go before the next is made)."""
    parts = scan_parts(members, options, with_ml=options.refit,
                       consume_kinship=consume_kinship)
    layout = scan_layout(members[0], options.loco)
    genome = next(parts) if options.loco else None  # the headline, made first
    kept: list[ScanPart] = []  # without LOCO the scanned part gives the headline too
    loco_fits: list[dict[str, LocoFit]] = [{} for _ in members]

    def load_part(p: int) -> ScanPart:
        part = next(parts)
        if part.label != layout[p][0]:
            raise AssertionError(f"part {p} is {part.label!r}, expected {layout[p][0]!r}")
        if part.label is not None:
            for fits, null in zip(loco_fits, part.nulls, strict=True):
                fits[part.label] = LocoFit(null.gamma, null.loglik, part.method)
        else:
            kept.append(part)
        return part

    def headline() -> list[Headline]:
        part = genome if genome is not None else kept[0]
        return [Headline.of(part, j) for j in range(len(members))]

    return association_chunk(members, [positions for _, positions in layout], load_part,
                             headline, options,
                             loco_fits=(lambda: loco_fits) if options.loco else None)


def _scan(
    inputs: AnalysisInputs,
    scanners: list,
    snp_index: np.ndarray,
    block_size: int | None,
    progress: bool,
    rotations: Sequence[np.ndarray] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Statistics of every scanner (one spectrum) over the SNPs, from blocks of ``.bed``
    codes imputed by :func:`exactlmm.dosage.impute_codes`; ``rotations``: each block's GᵀW
    when it was computed already (a LOCO downdate's kinship rows)."""
    workspace = Workspace()
    blocks = _blocks(inputs, snp_index, block_size, workspace)
    return scan_imputed(scanners, blocks, progress=progress, total=int(snp_index.size),
                        workspace=workspace, rotations=rotations)


def _blocks(inputs: AnalysisInputs, snp_index: np.ndarray, block_size: int | None,
            workspace: Workspace) -> Iterator:
    """The SNPs ``snp_index`` as blocks of ``block_size`` imputed, centered dosages of the
    analysed samples (:func:`exactlmm.dosage.imputed`), decoded one at a time into
    ``workspace``'s arrays."""
    codes = bed_codes(inputs.dataset, inputs.samples.fam_index)
    size = auto_block_size(codes.n_samples) if block_size is None else block_size
    return (imputed(*decode(codes, snp_index[start : start + size], workspace=workspace))
            for start in range(0, snp_index.size, size))


def _loco_parts(
    members: Sequence[AnalysisInputs],
    genome: ScanPart,
    options: ScanOptions,
    with_ml: bool,
) -> Iterator[ScanPart]:
    """One part per chromosome c of the scanned SNPs (in order of first appearance), its SNPs
    scanned with K₋c, the standardized kinship of the kinship SNPs off c (the scanned SNPs, or
    those of ``--kinship-snps``: FaST-LMM's G0 with its test chromosome left out).

    K₋c is handled as :func:`exactlmm.downdate.plan_chromosome` chooses (or as
    ``options.loco_method`` says): as a downdate of the genome-wide part's eigenbasis — the
    chromosome's kinship SNPs decoded and rotated once, in the scan's blocks, so that the scan
    reuses their rotation when they are its SNPs — or by its own spectrum, built from the SNPs
    off c alone (low rank when they are fewer than the samples).  A chromosome without a
    testable kinship SNP has K₋c = K: the genome-wide part's fits.  Each part is let go before
    the next is made.
    """
    inputs = members[0]
    ds = inputs.dataset
    chrom, chromosomes = _chromosomes(inputs, warn=True)
    shared = inputs.kinship_snps is None  # the kinship SNPs of c are the SNPs c scans
    kinship_snps = inputs.snp_index if shared else inputs.kinship_snps
    kinship_chrom = ds.chromosome[kinship_snps]
    for c in chromosomes:
        if np.all(kinship_chrom == c):
            raise InputError(f"LOCO: no kinship SNP is off chromosome {c}",
                             inputs.parameters.get("kinship_snps", ds.bim_path))
    spectrum = genome.model.spectrum
    n_snps = genome.model.n_snps
    fits = 1 + (with_ml and options.likelihood != "ML")
    for c in chromosomes:
        on_c = chrom == c
        on_kinship = kinship_snps[kinship_chrom == c]
        where = f"leaving out chromosome {c}"
        plan = plan_chromosome(inputs.n_samples, spectrum.rank, n_snps, on_kinship.size,
                               int(on_c.sum()), refit=options.refit, fits=fits,
                               rotation_shared=shared)
        method = plan.method if options.loco_method == "auto" else options.loco_method
        if on_kinship.size == 0:
            yield replace(genome, label=c, on=on_c, method="genome-wide")
        elif method == "downdate":
            size = chunk_block_size(inputs, options)
            downdate, rotations = chromosome_downdate(inputs, genome.model, on_kinship, size)
            if downdate is None:  # no testable kinship SNP on c: K₋c = K
                yield replace(genome, label=c, on=on_c, method="genome-wide")
                continue
            nulls = [fit_downdate(downdate, null.phenotype, member.covariates,
                                  likelihood=options.likelihood,
                                  fixed_log_delta=_fixed_log_delta(options.fixed_gamma),
                                  start_log_delta=null.log_delta,
                                  source=f"{member.pheno_source} ({where})")
                     for member, null in zip(members, genome.nulls, strict=True)]
            yield ScanPart(c, on_c, genome.model, nulls, [None] * len(members),
                           rotations=rotations if shared else None, method="downdate",
                           block_size=size)
            del downdate, rotations, nulls
        else:
            model = _chromosome_model(inputs, kinship_snps[kinship_chrom != c], c,
                                      options.block_size)
            yield _fitted_part(c, on_c, model, members, options, with_ml, where,
                               method="eigendecomposition")
            del model  # before the next chromosome's is made


def chromosome_downdate(inputs: AnalysisInputs, genome: KinshipModel, kinship_snps: np.ndarray,
                        block_size: int | None
                        ) -> tuple[ChromosomeDowndate | None, list[np.ndarray]]:
    """K₋c as a downdate of the genome-wide ``genome`` (:class:`exactlmm.downdate.
    ChromosomeDowndate`): the chromosome's kinship SNPs decoded in blocks of ``block_size``
    (those a single run scans, when they are its SNPs) and rotated once; returns it (``None``
    when none of them is testable, K₋c = K) and each block's rotation."""
    workspace = Workspace()
    rows = kinship_rows(genome.spectrum, _blocks(inputs, kinship_snps, block_size, workspace))
    if rows.rotated.shape[0] == 0:
        return None, rows.rotations
    if rows.rotated.shape[0] >= genome.n_snps:
        raise InputError("LOCO: no testable kinship SNP is off a chromosome",
                         inputs.parameters.get("kinship_snps", inputs.dataset.bed_path))
    downdate = ChromosomeDowndate(genome.spectrum, rows.rotated, rows.covariate_part,
                                  genome.n_snps, genome.mean_diag, scale=rows.scale)
    return downdate, rows.rotations


def _chromosome_model(inputs: AnalysisInputs, off: np.ndarray, c: str,
                      block_size: int | None) -> KinshipModel:
    """K₋c's own spectrum from the kinship SNPs ``off`` chromosome c: a thin SVD when they are
    fewer than the samples, else the standardized kinship (one pass over them) decomposed in
    place."""
    if off.size < inputs.n_samples:
        return _low_rank_model(inputs, off, f" off chromosome {c}")
    ds = inputs.dataset
    k, m, untested = kinship_mod.kinship_standardized(ds, inputs.samples.fam_index, off,
                                                      block_size=block_size)
    model = _dense_model(k, inputs.covariates, ds.bed_path,
                         f"standardized, {m} SNPs off chromosome {c}", overwrite=True)
    return replace(model, untested=untested, n_snps=m)


def _fixed_log_delta(fixed_gamma: float | None) -> float | None:
    return None if fixed_gamma is None else -float(np.log(fixed_gamma))


#: The kinship description of a LOCO scan's records.
LOCO_KINSHIP = "standardized, leave one chromosome out"


def place(columns: dict[str, np.ndarray], stats: dict[str, np.ndarray], where: np.ndarray,
          size: int) -> None:
    """Put a part's statistics into the rows ``where`` (a mask or positions) of ``columns``
    (created with ``size`` rows at first use; text, the errcode, gets a width that holds
    every code, whatever this part had)."""
    for name, values in stats.items():
        dtype = ERRCODE_DTYPE if values.dtype.kind == "U" else values.dtype
        column = columns.setdefault(name, np.empty(size, dtype=dtype))
        column[where] = values


@dataclass
class ScanPart:
    """One kinship model with the null fits of each analysis of a group, and the SNPs it
    scans.

    ``label`` is ``None`` for the genome-wide model, else the chromosome c whose SNPs are
    scanned with K₋c (LOCO); ``on`` marks the SNPs of ``inputs.snp_index`` it scans (none for
    LOCO's genome-wide part, which gives the record's headline null).  ``nulls[j]`` is the
    null fit of analysis j; ``ml_nulls[j]`` the ML fit the refit's LRT and score need (the
    null fit itself when that is ML; ``None`` when not asked for, and for LOCO's genome-wide
    part).  A chromosome's ``method`` says how K₋c was handled (:class:`LocoFit`); with
    ``"downdate"``, ``model`` is the genome-wide one (its basis rotates the SNPs), the nulls
    are :class:`exactlmm.downdate.DowndateNull`, and ``rotations`` hold the rotation of each
    of the part's blocks of ``block_size`` SNPs when its kinship SNPs are its scanned SNPs.
    """

    label: str | None
    on: np.ndarray
    model: KinshipModel
    nulls: list
    ml_nulls: list
    rotations: list[np.ndarray] | None = None
    method: str | None = None
    block_size: int | None = None


@dataclass(frozen=True)
class Headline:
    """What a scan's record reports besides its rows (:class:`AssocResult`): the genome-wide
    null fit, its ML fit (refit), the kinship's description and its untested SNPs.  A part's
    own (:meth:`of`), or, for a saved LOCO model's chunks, read back from the model's
    numbers (:class:`exactlmm.null.RecordedNull`), with no eigenbasis behind it."""

    null: NullFitSummary
    ml_null: NullFitSummary | None
    kinship: str
    kinship_untested: dict[str, int]

    @classmethod
    def of(cls, part: ScanPart, j: int = 0) -> Headline:
        """Analysis j's headline from a genome-wide part."""
        return cls(part.nulls[j], part.ml_nulls[j], part.model.description,
                   part.model.untested)


def _chromosomes(inputs: AnalysisInputs, *, warn: bool = False
                 ) -> tuple[np.ndarray, list[str]]:
    """Each scanned SNP's chromosome (:func:`exactlmm.io.plink.chromosome_codes`: ``chr1`` =
    ``1``, ``23`` = ``X``), and the chromosomes in order of first appearance (at least two:
    what LOCO leaves out, one at a time).  With ``warn``, a warning says when sex or
    mitochondrial chromosomes are among them: they are analysed as autosomes are."""
    ds = inputs.dataset
    chrom = ds.chromosome[inputs.snp_index]
    chromosomes = list(dict.fromkeys(chrom.tolist()))
    if len(chromosomes) < 2:
        raise InputError("LOCO needs SNPs on at least two chromosomes", ds.bim_path)
    special = [c for c in chromosomes if c in SEX_AND_MITOCHONDRIAL]
    if special and warn:
        warnings.warn(f"{ds.bim_path}: chromosome{'s' if len(special) > 1 else ''} "
                      f"{', '.join(special)} left out and tested like the autosomes (no "
                      "dosage compensation or sex covariate); leave them out with --extract "
                      "if that is not wanted", stacklevel=2)
    return chrom, chromosomes


def scan_layout(inputs: AnalysisInputs, loco: bool) -> list[tuple[str | None, np.ndarray]]:
    """``(label, positions)`` of each part of the scan, in the order :func:`scan_parts` makes
    them: the positions (into ``inputs.snp_index``, increasing) of the SNPs the part scans.
    Without LOCO one part, every SNP; with LOCO first the genome-wide part, which scans none
    (its fits are the headline, its basis what a downdate of it needs), then one part per
    chromosome (in order of first appearance)."""
    size = inputs.snp_index.size
    if not loco:
        return [(None, np.arange(size))]
    chrom, chromosomes = _chromosomes(inputs)
    return [(None, np.empty(0, dtype=np.int64)),
            *((c, np.flatnonzero(chrom == c)) for c in chromosomes)]


def scan_parts(
    members: Sequence[AnalysisInputs],
    options: ScanOptions,
    *,
    with_ml: bool,
    consume_kinship: bool = False,
) -> Iterator[ScanPart]:
    """The kinship models and null fits of a scan of ``members`` (analyses sharing samples,
    SNPs, covariates and kinship), one part at a time in :func:`scan_layout`'s order.
    ``with_ml``: also the ML fit of each chromosome part or of the one part (what a refit
    needs; a saved model always has it)."""
    first = members[0]
    size = first.snp_index.size
    if not options.loco:
        model = kinship_model(first, block_size=options.block_size, progress=options.progress,
                              consume=consume_kinship)
        if consume_kinship:
            for member in members:
                member.kinship = None
        yield _fitted_part(None, np.ones(size, dtype=bool), model, members, options, with_ml)
        return
    if first.kinship is not None:
        raise InputError(
            "LOCO builds one kinship per chromosome from the genotypes; do not also pass "
            "--kinship",
            first.kinship_source,
        )
    model = kinship_model(first, block_size=options.block_size, progress=options.progress)
    nulls = [fit(member, model, options.likelihood, fixed_gamma=options.fixed_gamma)
             for member in members]
    genome = ScanPart(None, np.zeros(size, dtype=bool), model, nulls, [None] * len(members))
    yield genome
    yield from _loco_parts(members, genome, options, with_ml)


def _fitted_part(label: str | None, on: np.ndarray, model: KinshipModel,
                 members: Sequence[AnalysisInputs], options: ScanOptions, with_ml: bool,
                 where: str | None = None, *, method: str | None = None) -> ScanPart:
    """A part with each analysis's null fit and, ``with_ml``, its ML fit (the null fit
    itself when that is ML); ``where`` is added to the source named in warnings."""
    nulls, ml_nulls = [], []
    for member in members:
        null = fit(member, model, options.likelihood, fixed_gamma=options.fixed_gamma,
                   label=where)
        nulls.append(null)
        ml_nulls.append(None if not with_ml else null if options.likelihood == "ML"
                        else fit(member, model, "ML", label=where))
    return ScanPart(label, on, model, nulls, ml_nulls, method=method)


def chunk_ranges(part_sizes: Sequence[int], block_size: int, chunk: int, n_chunks: int
                 ) -> list[tuple[int, int, int]]:
    """``(part, start, stop)``: the SNPs of chunk ``chunk`` of ``n_chunks`` (1-based), as
    ranges of positions among each part's SNPs.

    The scan's blocks — ``block_size`` SNPs of a part at a time, from its first SNP, exactly
    as a single run reads them — are dealt out in order: chunk i gets blocks ⌊(i−1)B/N⌋ to
    ⌊iB/N⌋ − 1 of the B, so every block is the same set of SNPs in a chunk as in a single run
    and gets the same statistics to the last bit; a chunk gets no SNP when N > B.
    Consecutive blocks of one part are merged into one range.

    >>> chunk_ranges([10, 3], 4, 1, 2), chunk_ranges([10, 3], 4, 2, 2)
    ([(0, 0, 8)], [(0, 8, 10), (1, 0, 3)])
    """
    if not 1 <= chunk <= n_chunks:
        raise ValueError(f"chunk {chunk} of {n_chunks}: expected 1 <= chunk <= {n_chunks}")
    blocks = [(p, start, min(start + block_size, n)) for p, n in enumerate(part_sizes)
              for start in range(0, n, block_size)]
    lo, hi = (chunk - 1) * len(blocks) // n_chunks, chunk * len(blocks) // n_chunks
    ranges: list[tuple[int, int, int]] = []
    for p, start, stop in blocks[lo:hi]:
        if ranges and ranges[-1][0] == p and ranges[-1][2] == start:
            ranges[-1] = (p, ranges[-1][1], stop)
        else:
            ranges.append((p, start, stop))
    return ranges


def _scanners(part: ScanPart, refit: bool) -> list:
    """One scanner per analysis of the part: :class:`exactlmm.scan.Scanner` (refit: with the
    ML fit, every phenotype of the group searching the same range of log γ on one set of
    tables) or, for a downdate's nulls, :class:`exactlmm.downdate.DowndateScanner`."""
    if part.method == "downdate":
        if refit:
            raise InputError(f"chromosome {part.label}'s K₋c is a downdate, which has no "
                             "per-SNP refit; fit with --loco-method eigendecomposition to "
                             "scan with --refit")
        return [DowndateScanner(null) for null in part.nulls]
    if not refit:
        return [Scanner(null) for null in part.nulls]
    if any(ml is None for ml in part.ml_nulls):
        raise ValueError("a refit needs the ML null fits of the part")
    lo, hi = part.nulls[0].log_delta_bounds
    tables = RefitTables(part.model.spectrum, (-hi, -lo))
    return [Scanner(null, refit=True, ml_null=ml_null, tables=tables)
            for null, ml_null in zip(part.nulls, part.ml_nulls, strict=True)]


def chunk_block_size(inputs: AnalysisInputs, options: ScanOptions) -> int:
    """The SNPs of a block: ``options.block_size``, or chosen by the number of samples
    (:func:`exactlmm.io.plink.auto_block_size`).  Chunks are whole blocks, so chunks of one
    scan must share it."""
    if options.block_size is None:
        return auto_block_size(inputs.n_samples)
    return options.block_size


def association_chunk(
    members: Sequence[AnalysisInputs],
    parts: Sequence[np.ndarray],
    load_part: Callable[[int], ScanPart],
    headline: Callable[[], list[Headline]],
    options: ScanOptions,
    *,
    chunk: int = 1,
    n_chunks: int = 1,
    loco_fits: Callable[[], list[dict[str, LocoFit]]] | None = None,
) -> list[AssocResult]:
    """The rows of chunk ``chunk`` of ``n_chunks`` (:func:`chunk_ranges`) of the scan of
    ``members`` (analyses of one group), one result each.

    ``parts[p]`` are the positions (into ``snp_index``, increasing) that part p scans
    (:func:`scan_layout`), ``load_part(p)`` its :class:`ScanPart` (called once for each part
    the chunk touches, in order), ``headline()`` what each record reports besides its rows
    (called last).  The rows come in ``snp_index`` order; concatenated in chunk order they are
    the single run's rows, which needs the parts' SNPs one after the other in ``snp_index``
    (LOCO: each chromosome's SNPs together, chromosomes in order of first appearance) when
    ``n_chunks`` > 1.  ``loco_fits()``: each analysis's per-chromosome fits, for a LOCO scan.
    """
    first = members[0]
    order = np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]) if parts else []
    if n_chunks > 1 and np.any(np.diff(order) <= 0):
        raise InputError(
            f"--chunk {chunk}/{n_chunks}: the chunks of a leave-one-chromosome-out scan need "
            "each chromosome's SNPs together in the .bim (sort it by chromosome)",
            first.dataset.bim_path,
        )
    size = chunk_block_size(first, options)
    ranges = chunk_ranges([len(p) for p in parts], size, chunk, n_chunks)
    positions = (np.concatenate([parts[p][a:b] for p, a, b in ranges]) if ranges
                 else np.empty(0, dtype=np.int64))
    rank = np.empty(positions.size, dtype=np.int64)
    rank[np.argsort(positions, kind="stable")] = np.arange(positions.size)
    statistics: list[dict[str, np.ndarray]] = [{} for _ in members]
    done = 0
    for p, start, stop in ranges:
        part = load_part(p)
        scanners = _scanners(part, options.refit)
        rotations = (part.rotations[start // size : -(-stop // size)]
                     if part.rotations is not None and part.block_size == size else None)
        snps = first.snp_index[parts[p][start:stop]]
        for j, stats in enumerate(_scan(first, scanners, snps, size, options.progress,
                                        rotations)):
            place(statistics[j], stats, rank[done : done + stop - start], positions.size)
        done += stop - start
        del part, scanners, rotations  # memory: a LOCO part goes before the next is loaded
    if not ranges:
        statistics = [empty_statistics() for _ in members]
    snp_index = first.snp_index[np.sort(positions)]
    fits = loco_fits() if loco_fits is not None else [None] * len(members)
    out = []
    for stats, head, member_fits in zip(statistics, headline(), fits, strict=True):
        # the ML null is reported in refit mode; LOCO has no single one
        ml_null = head.ml_null if options.refit and loco_fits is None else None
        out.append(AssocResult(
            snp_index, stats, head.null, ml_null,
            LOCO_KINSHIP if loco_fits is not None else head.kinship, member_fits,
            kinship_untested=head.kinship_untested))
    return out


def _dense_model(
    k: np.ndarray, covariates: np.ndarray, source: object, description: str,
    *, overwrite: bool = False,
) -> KinshipModel:
    """The full-rank model of K; with ``overwrite`` K's buffer is used up by the
    eigendecomposition (K v then comes from the spectrum)."""
    mean_diag = float(np.trace(k)) / k.shape[0]
    spectrum = spectrum_from_kinship(k, covariates, source, overwrite=overwrite)
    return KinshipModel(spectrum, spectrum.kinship_matvec, mean_diag, description)
