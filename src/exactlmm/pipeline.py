"""From files to fitted models and scans: the steps the command line and the workflow share.

Sample handling follows GEMMA and PLINK: samples are matched on (FID, IID), kept in ``.fam``
order, and those with a missing phenotype or covariate are dropped.  A kinship file covers every
``.fam`` sample (GEMMA's ``-k`` format; a GCTA ``.grm.bin`` names its samples in ``.grm.id``)
and is cut to the analysed samples.  The intercept is always the first covariate.

Kinship choices:

* ``--kinship FILE``: that matrix (cut to the analysed samples), full-rank eigh path;
  with ``center_kinship`` it is double-centred over the analysed samples, K ← CKC with
  C = I − 11ᵀ/n, as GEMMA ``-lmm`` does after subsetting.  With an intercept, centring leaves
  REML unchanged (Q₂ᵀCKCQ₂ = Q₂ᵀKQ₂ since Q₂ᵀ1 = 0) but changes ML and the pve.
* no file: the standardised kinship K = ZZᵀ/M of the scanned SNPs over the analysed samples,
  leaving out those that are untestable there (no call, monomorphic: :mod:`exactlmm.dosage`),
  so M counts only the others; when fewer SNPs than samples are selected the low-rank SVD path
  is used and K is never formed.
* LOCO (``loco=True``): for the SNPs of chromosome c, K₋c from the SNPs of all other
  chromosomes (FaST-LMM's answer to proximal contamination); one null fit per chromosome.

Several phenotypes (:func:`load_phenotypes`, :func:`association_many`) share the genotype
reads and the kinship file; those with the same analysed samples (the same missingness
pattern) share the kinship, its eigendecomposition and every block's rotation WᵀG, and each
gets exactly the statistics a run of its own would give.

No SNP makes an analysis fail: every SNP passing ``--extract``/``--maf``/``--geno`` gets a row,
an untestable one with NA statistics and its reason (``errcode``), and the counts per reason
are in :attr:`AssocResult.untested` and :attr:`KinshipModel.untested`.

Memory: the genotypes are read a block of SNPs at a time from the memory-mapped ``.bed``
(:mod:`exactlmm.io.bed`; a second pass reads the page cache, not the disk), and the n × n
matrices are transformed in place (:func:`exactlmm.spectral.spectrum_from_kinship`), so a scan
holds at most 3 n² doubles (during the eigendecomposition) plus one block.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import kinship as kinship_mod
from . import qc
from .dosage import (
    code_values,
    count_calls,
    count_errcodes,
    decode,
    describe_counts,
    imputed,
)
from .errors import InputError
from .io.grm import is_grm, read_grm, read_grm_ids
from .io.kinship_txt import read_kinship
from .io.plink import PlinkDataset, auto_block_size, bed_codes, open_plink
from .io.results import ERRCODE_DTYPE, TESTED
from .io.tables import (
    SampleMatch,
    SampleTable,
    match_samples,
    phenotype_from_fam,
    read_covar,
    read_pheno,
    read_phenotypes,
)
from .likelihood import Likelihood, RotatedPhenotype, profile_loglik
from .null import DEFAULT_GRID, DEFAULT_LOG_DELTA_BOUNDS, NullFitSummary, NullModel, fit_null
from .parallel import Workspace
from .scan import RefitTables, Scanner, empty_statistics, scan_imputed
from .spectral import Spectrum, spectrum_from_genotypes, spectrum_from_kinship

#: SNPs per block: ``None`` chooses by the number of samples
#: (:func:`exactlmm.io.plink.auto_block_size`).
DEFAULT_BLOCK_SIZE: int | None = None


@dataclass
class AnalysisInputs:
    """Everything one analysis reads, matched and cut to the analysed samples.

    ``phenotype_label`` names the phenotype: its header name in the phenotype file, else
    ``P<column>`` (the ``--mpheno`` column; GEMMA's ``-n`` for ``.fam`` phenotypes).
    ``kinship_snps``: ``.bim`` positions of the SNPs the kinship is built from when they are
    not the scanned ones (``--kinship-snps``); ``None``: the scanned SNPs.
    """

    dataset: PlinkDataset
    samples: SampleMatch
    covariates: np.ndarray
    covariate_names: list[str]
    snp_index: np.ndarray
    pheno_source: str
    kinship: np.ndarray | None = None
    kinship_source: str | None = None
    parameters: dict = field(default_factory=dict)
    phenotype_label: str = ""
    kinship_snps: np.ndarray | None = None

    @property
    def y(self) -> np.ndarray:
        return self.samples.y

    @property
    def n_samples(self) -> int:
        return self.samples.y.size

    @property
    def n_covariates(self) -> int:
        """c: columns of X, the intercept included."""
        return int(self.covariates.shape[1])

    @property
    def sample_ids(self) -> np.ndarray:
        """(FID, IID) string pairs of the analysed samples, n × 2, in ``.fam`` order."""
        idx = self.samples.fam_index
        return np.column_stack([self.dataset.fid[idx], self.dataset.iid[idx]])

    @property
    def kinship_mean_diag(self) -> float:
        """t = tr(K)/n of the analysed samples' kinship (the file's, cut and maybe centered)."""
        if self.kinship is None:
            raise ValueError("no kinship file was loaded")
        return float(np.trace(self.kinship)) / self.n_samples


def load_inputs(
    bfile: str | Path,
    pheno: str | Path | None = None,
    mpheno: int = 1,
    covar: str | Path | None = None,
    kinship: str | Path | None = None,
    extract: str | Path | None = None,
    *,
    covar_names: Sequence[str] | None = None,
    covar_categorical: Collection[str] = (),
    center_kinship: bool = False,
    maf: float = 0.0,
    geno: float = 1.0,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
    kinship_snps: str | Path | None = None,
) -> AnalysisInputs:
    """Open and check every input of an analysis.

    ``pheno=None`` takes the phenotype from the ``.fam`` (column ``5 + mpheno``, GEMMA's ``-n``).
    ``covar_names`` chooses covariate columns by name (PLINK ``--covar-name``), and
    ``covar_categorical`` names categorical ones besides those holding text (one-hot coded,
    :func:`exactlmm.io.tables.one_hot`).
    ``extract`` is a SNP list (one ID per line); ``maf``/``geno`` drop SNPs with minor-allele
    frequency below ``maf`` or missingness above ``geno`` among the analysed samples
    (PLINK's flags, GEMMA's inclusive bounds, :func:`exactlmm.qc.filter_mask`; the defaults
    keep every SNP).  Untestable SNPs that pass them stay: they get a row with a reason.
    ``kinship`` is a plain-text matrix (:mod:`exactlmm.io.kinship_txt`) or a GCTA
    ``PREFIX.grm.bin`` (:mod:`exactlmm.io.grm`).  Without it, ``kinship_snps`` (a SNP list
    like ``extract``) names the SNPs the standardized kinship is built from instead of the
    scanned ones (FaST-LMM's ``G0``): fewer than the samples take the low-rank path.
    """
    ds = open_plink(bfile)
    table = read_pheno(pheno, mpheno) if pheno is not None else phenotype_from_fam(ds, mpheno)
    return _load(bfile, ds, [(mpheno, table)], pheno, covar, kinship, extract, covar_names,
                 covar_categorical, center_kinship, maf, geno, block_size, kinship_snps)[0]


def load_phenotypes(
    bfile: str | Path,
    pheno: str | Path | None = None,
    mpheno: Sequence[int] | None = None,
    covar: str | Path | None = None,
    kinship: str | Path | None = None,
    extract: str | Path | None = None,
    *,
    covar_names: Sequence[str] | None = None,
    covar_categorical: Collection[str] = (),
    center_kinship: bool = False,
    maf: float = 0.0,
    geno: float = 1.0,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
    kinship_snps: str | Path | None = None,
) -> list[AnalysisInputs]:
    """:func:`load_inputs` for several phenotype columns (``None``: every column of the file,
    or of the ``.fam``), opening the fileset, the covariates and the kinship file once; each
    analysis gets the samples, SNPs and kinship cut its own :func:`load_inputs` would."""
    ds = open_plink(bfile)
    if pheno is not None:
        tables = read_phenotypes(pheno, mpheno)
        columns = list(mpheno) if mpheno is not None else list(range(1, len(tables) + 1))
    else:
        from .io.tables import n_fam_phenotypes

        columns = (list(mpheno) if mpheno is not None
                   else list(range(1, n_fam_phenotypes(ds) + 1)))
        tables = [phenotype_from_fam(ds, column) for column in columns]
    return _load(bfile, ds, list(zip(columns, tables, strict=True)), pheno, covar, kinship, extract,
                 covar_names, covar_categorical, center_kinship, maf, geno, block_size,
                 kinship_snps)


def _load(
    bfile: str | Path,
    ds: PlinkDataset,
    phenotypes: list[tuple[int, SampleTable]],
    pheno: str | Path | None,
    covar: str | Path | None,
    kinship: str | Path | None,
    extract: str | Path | None,
    covar_names: Sequence[str] | None,
    covar_categorical: Collection[str],
    center_kinship: bool,
    maf: float,
    geno: float,
    block_size: int | None,
    kinship_snps: str | Path | None = None,
) -> list[AnalysisInputs]:
    if kinship is not None and kinship_snps is not None:
        raise InputError("--kinship-snps chooses the SNPs of a kinship built from the "
                         "genotypes; do not also pass --kinship", kinship_snps)
    kinship_snp_index = (qc.snp_index_from_list(ds, qc.read_snp_list(kinship_snps), kinship_snps)
                         if kinship_snps is not None else None)
    covariates_table = (
        read_covar(covar, covar_names, covar_categorical) if covar is not None else None
    )
    matches = [match_samples(ds, table, covariates_table) for _, table in phenotypes]
    listed = (qc.snp_index_from_list(ds, qc.read_snp_list(extract), extract)
              if extract is not None else np.arange(ds.n_snps))
    full_kinship = _kinship_file(kinship, ds) if kinship is not None else None
    by_samples: dict[bytes, tuple[np.ndarray, np.ndarray | None]] = {}
    out = []
    for (column, table), samples in zip(phenotypes, matches, strict=True):
        key = samples.fam_index.tobytes()
        if key not in by_samples:  # one SNP filter and one kinship cut per sample set
            snp_index = listed
            if maf > 0.0 or geno < 1.0:
                stats = qc.snp_stats(ds, samples.fam_index, block_size=block_size)
                snp_index = listed[qc.filter_mask(stats, maf_min=maf, missing_max=geno)[listed]]
            if snp_index.size == 0:
                raise InputError("no SNP left to analyse after --extract/--maf/--geno",
                                 ds.bed_path)
            k = None
            if full_kinship is not None:
                k = _cut(full_kinship, samples.fam_index, center_kinship)
            by_samples[key] = (snp_index, k)
        snp_index, k = by_samples[key]
        n = samples.y.size
        out.append(AnalysisInputs(
            dataset=ds,
            samples=samples,
            covariates=np.column_stack([np.ones(n), samples.covariates]),
            covariate_names=["intercept", *samples.covariate_names],
            snp_index=snp_index,
            pheno_source=str(pheno if pheno is not None else ds.fam_path),
            kinship=k,
            kinship_source=str(kinship) if kinship is not None else None,
            parameters={
                "bfile": str(bfile),
                "pheno": None if pheno is None else str(pheno),
                "mpheno": column,
                "covar": None if covar is None else str(covar),
                "kinship": None if kinship is None else str(kinship),
                "extract": None if extract is None else str(extract),
                "center_kinship": center_kinship,
                "maf": maf,
                "geno": geno,
                **({} if kinship_snps is None else {"kinship_snps": str(kinship_snps)}),
            },
            phenotype_label=table.names[0] if table.header else f"P{column}",
            kinship_snps=kinship_snp_index,
        ))
    return out


def _kinship_file(path: str | Path, ds: PlinkDataset) -> np.ndarray:
    """The kinship over every ``.fam`` sample, in ``.fam`` order: a text matrix as it is, a
    GCTA GRM reordered by its ``.grm.id`` (every ``.fam`` sample must be in it)."""
    if not is_grm(path):
        return read_kinship(path, ds.n_samples)
    ids = read_grm_ids(path)
    k = read_grm(path, len(ids))
    position = {(f, i): p for p, (f, i) in enumerate(ids.tolist())}
    order = np.array([position.get((f, i), -1) for f, i in zip(ds.fid, ds.iid, strict=True)])
    if np.any(order < 0):
        j = int(np.argmax(order < 0))
        raise InputError(f"sample FID={ds.fid[j]} IID={ds.iid[j]} of {ds.fam_path} is not in "
                         "the GRM's .grm.id", path)
    if np.array_equal(order, np.arange(len(ids))):
        return k
    return k[np.ix_(order, order)]


def _cut(k: np.ndarray, fam_index: np.ndarray, center: bool) -> np.ndarray:
    """K over the analysed samples (a copy unless they are all of them, in order), double
    centred in place with ``center``."""
    if fam_index.size == k.shape[0] and np.array_equal(fam_index, np.arange(k.shape[0])):
        cut = k.copy() if center else k
    else:
        cut = k[np.ix_(fam_index, fam_index)]
    if center:
        from .symmetric import symmetrize

        columns, rows, total = cut.mean(axis=0), cut.mean(axis=1), cut.mean()
        cut -= columns[None, :]
        cut -= rows[:, None]
        cut += total
        symmetrize(cut)
    return cut


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
    snp_index: np.ndarray | None = None,
    *,
    with_ml: bool = False,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
    progress: bool = False,
    consume: bool = False,
) -> KinshipModel:
    """Spectrum of the kinship: from the kinship file, else from the SNPs ``snp_index``.

    The spectrum always carries what ML needs (``with_ml`` is kept for compatibility).  With
    ``consume`` the kinship file's matrix (``inputs.kinship``) is decomposed in place and
    dropped from ``inputs`` (and from every analysis sharing it), saving one n × n copy.
    """
    x = inputs.covariates
    source = inputs.kinship_source or inputs.dataset.bed_path
    if inputs.kinship is not None:
        k = inputs.kinship
        model = _dense_model(k, x, source, "file", overwrite=consume)
        if consume:
            inputs.kinship = None
        return model
    if snp_index is not None:
        snps = snp_index
    else:
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
        fixed_log_delta=None if fixed_gamma is None else -float(np.log(fixed_gamma)),
        source=inputs.pheno_source if label is None else f"{inputs.pheno_source} ({label})",
    )


def loglik_at_gamma(
    inputs: AnalysisInputs, gammas: list[float], likelihood: Likelihood = "REML"
) -> list[float]:
    """Our profile log-likelihood at each γ — to put every tool's estimate on one convention."""
    model = kinship_model(inputs, with_ml=likelihood == "ML")
    phenotype = RotatedPhenotype.from_phenotype(model.spectrum, inputs.y)
    log_delta = -np.log(np.asarray(gammas, dtype=float))
    return [float(v) for v in profile_loglik(phenotype, log_delta, likelihood)]


@dataclass(frozen=True)
class LocoFit:
    """γ and log-likelihood of one chromosome's null fit (what a LOCO record lists); the fit
    itself, which holds its chromosome's spectrum, is not kept."""

    gamma: float
    loglik: float


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


def association(
    inputs: AnalysisInputs,
    *,
    refit: bool = False,
    likelihood: Likelihood = "REML",
    loco: bool = False,
    fixed_gamma: float | None = None,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
    progress: bool = False,
    consume_kinship: bool = False,
) -> AssocResult:
    """Fit the null model and scan every selected SNP (see :mod:`exactlmm.scan`).

    Every SNP of ``inputs.snp_index`` gets a row; untestable ones are NA with a reason in
    ``errcode`` and are left out of a kinship built from the genotypes.  ``refit`` re-estimates
    γ per SNP; ``loco`` uses, for the SNPs of each chromosome, the kinship of the others.
    ``consume_kinship``: see :func:`kinship_model` (``consume``).

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
    ...     inputs = load_inputs(Path(tmp) / "d")
    ...     fixed = association(inputs)
    ...     loco = association(inputs, loco=True, refit=True)
    >>> fixed.untested, fixed.kinship_untested, sorted(loco.loco)
    ({'NO_CALLS': 1}, {'NO_CALLS': 1}, ['1', '2', '3'])
    >>> fixed.statistics["errcode"][10], int(fixed.statistics["n"][10]), loco.kinship
    ('NO_CALLS', 0, 'standardized, leave one chromosome out')
    """
    return association_many(
        [inputs], refit=refit, likelihood=likelihood, loco=loco, fixed_gamma=fixed_gamma,
        block_size=block_size, progress=progress, consume_kinship=consume_kinship,
    )[0]


def association_many(
    analyses: Sequence[AnalysisInputs],
    *,
    refit: bool = False,
    likelihood: Likelihood = "REML",
    loco: bool = False,
    fixed_gamma: float | None = None,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
    progress: bool = False,
    consume_kinship: bool = False,
) -> list[AssocResult]:
    """:func:`association` of several analyses of one fileset (e.g. the phenotypes of
    :func:`load_phenotypes`), in their order.  Those with the same analysed samples, SNPs,
    covariates and kinship form a group that shares the kinship model and every block's
    rotation (module notes); the results are those of separate runs."""
    if refit and fixed_gamma is not None:
        raise InputError(
            "a fixed h² (--h2) and a per-SNP refit (--refit) exclude each other: the refit "
            "re-estimates the variance ratio for every SNP"
        )
    results: list[AssocResult | None] = [None] * len(analyses)
    for group in _groups(analyses):
        members = [analyses[i] for i in group]
        run = _association_loco if loco else _association_group
        for i, result in zip(group, run(
            members, refit=refit, likelihood=likelihood, fixed_gamma=fixed_gamma,
            block_size=block_size, progress=progress, consume=consume_kinship,
        ), strict=True):
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


def _association_group(
    members: list[AnalysisInputs],
    *,
    refit: bool,
    likelihood: Likelihood,
    fixed_gamma: float | None,
    block_size: int | None,
    progress: bool,
    consume: bool,
) -> list[AssocResult]:
    first = members[0]
    model = kinship_model(first, block_size=block_size, progress=progress, consume=consume)
    if consume:
        for member in members:
            member.kinship = None
    fits = [_null_fits(member, model, refit, likelihood, fixed_gamma) for member in members]
    tables = None
    if refit:  # every phenotype of the group searches the same range of log γ = −log δ
        lo, hi = fits[0][0].log_delta_bounds
        tables = RefitTables(model.spectrum, (-hi, -lo))
    scanners = [Scanner(null, refit=refit, ml_null=ml_null, tables=tables)
                for null, ml_null in fits]
    statistics = _scan(first, scanners, first.snp_index, block_size, progress)
    return [AssocResult(first.snp_index, stats, null, ml_null, model.description,
                        kinship_untested=model.untested)
            for stats, (null, ml_null) in zip(statistics, fits, strict=True)]


def _null_fits(
    inputs: AnalysisInputs,
    model: KinshipModel,
    refit: bool,
    likelihood: Likelihood,
    fixed_gamma: float | None,
    label: str | None = None,
) -> tuple[NullModel, NullModel | None]:
    """The null fit of the scan and, in refit mode, the ML null the LRT and score need."""
    null = fit(inputs, model, likelihood, fixed_gamma=fixed_gamma, label=label)
    ml_null = None
    if refit:
        ml_null = null if likelihood == "ML" else fit(inputs, model, "ML", label=label)
    return null, ml_null


def _scan(
    inputs: AnalysisInputs,
    scanners: list[Scanner],
    snp_index: np.ndarray,
    block_size: int | None,
    progress: bool,
) -> list[dict[str, np.ndarray]]:
    """Statistics of every scanner (one spectrum) over the SNPs, from blocks of ``.bed``
    codes imputed by :func:`exactlmm.dosage.impute_codes`."""
    codes = bed_codes(inputs.dataset, inputs.samples.fam_index)
    size = auto_block_size(codes.n_samples) if block_size is None else block_size
    workspace = Workspace()
    blocks: Iterator = (
        imputed(*decode(codes, snp_index[start : start + size], workspace=workspace))
        for start in range(0, snp_index.size, size))
    return scan_imputed(scanners, blocks, progress=progress, total=int(snp_index.size),
                        workspace=workspace)


def _loco_models(
    inputs: AnalysisInputs, block_size: int | None, progress: bool
) -> Iterator[tuple[str, np.ndarray, KinshipModel]]:
    """``(c, on_c, model of K₋c)`` for every chromosome c of the SNPs, in order of first
    appearance; ``on_c`` marks the SNPs of ``inputs.snp_index`` on c.

    K₋c is built from the kinship SNPs off c: the scanned SNPs, or those of
    ``--kinship-snps`` (FaST-LMM's G0 with its test chromosome left out).  When they are fewer
    than the samples for every c, each K₋c takes the low-rank path and no n × n matrix is made;
    otherwise the K₋c come from one pass over the genotypes
    (:func:`exactlmm.kinship.kinship_loco`), each decomposed in place and dropped once its
    model is made, and one with fewer testable SNPs off c than samples is low rank instead.
    """
    if inputs.kinship is not None:
        raise InputError(
            "LOCO builds one kinship per chromosome from the genotypes; do not also pass "
            "--kinship",
            inputs.kinship_source,
        )
    ds = inputs.dataset
    chrom = ds.chrom[inputs.snp_index].astype(str)
    chromosomes = list(dict.fromkeys(chrom.tolist()))
    if len(chromosomes) < 2:
        raise InputError("LOCO needs SNPs on at least two chromosomes", ds.bim_path)
    kinship_snps = inputs.snp_index if inputs.kinship_snps is None else inputs.kinship_snps
    kinship_chrom = ds.chrom[kinship_snps].astype(str)
    off = {c: kinship_snps[kinship_chrom != c] for c in chromosomes}
    n = inputs.n_samples
    for c in chromosomes:
        if off[c].size == 0:
            raise InputError(f"LOCO: no kinship SNP is off chromosome {c}",
                             inputs.parameters.get("kinship_snps", ds.bim_path))
    dense = None
    if any(off[c].size >= n for c in chromosomes):
        dense = kinship_mod.kinship_loco(
            ds, inputs.samples.fam_index, kinship_snps, block_size, progress,
            chromosomes=chromosomes,
        )
    for c in chromosomes:
        on_c = chrom == c
        k_c, m_c, _ = dense.pop(c) if dense is not None else (None, off[c].size, None)
        if m_c < n:
            model = _low_rank_model(inputs, off[c], f" off chromosome {c}")
        else:
            model = _dense_model(k_c, inputs.covariates, ds.bed_path,
                                 f"standardized, {m_c} SNPs off chromosome {c}",
                                 overwrite=True)
        del k_c
        yield c, on_c, model
        del model  # before the next chromosome's is made


#: The kinship description of a LOCO scan's records.
LOCO_KINSHIP = "standardized, leave one chromosome out"


def _association_loco(
    members: list[AnalysisInputs],
    *,
    refit: bool,
    likelihood: Likelihood,
    fixed_gamma: float | None,
    block_size: int | None,
    progress: bool,
    consume: bool,
) -> list[AssocResult]:
    """One null fit and scan per chromosome c, with K₋c from the SNPs off c
    (:func:`_loco_models`).  Untestable SNPs are in no K₋c and get NA rows."""
    inputs = members[0]
    n_snps = inputs.snp_index.size
    statistics: list[dict[str, np.ndarray]] = [{} for _ in members]
    nulls: list[dict[str, LocoFit]] = [{} for _ in members]
    for c, on_c, model in _loco_models(inputs, block_size, progress):
        fits = [_null_fits(member, model, refit, likelihood, fixed_gamma,
                           label=f"leaving out chromosome {c}") for member in members]
        scanners = [Scanner(null, refit=refit, ml_null=ml_null) for null, ml_null in fits]
        for j, stats in enumerate(_scan(inputs, scanners, inputs.snp_index[on_c], block_size,
                                        progress)):
            nulls[j][c] = LocoFit(fits[j][0].gamma, fits[j][0].loglik)
            place(statistics[j], stats, on_c, n_snps)
        # memory: chromosome c's spectrum goes before the next one is made
        del model, fits, scanners
    # The genome-wide null (all chromosomes) is the headline null model of the JSON.
    model = kinship_model(inputs, block_size=block_size)
    out = []
    for j, member in enumerate(members):
        null = fit(member, model, likelihood, fixed_gamma=fixed_gamma)
        # Per-chromosome nulls are in ``loco``; there is no single ML null to report.
        out.append(AssocResult(member.snp_index, statistics[j], null, None, LOCO_KINSHIP,
                               nulls[j], kinship_untested=model.untested))
    return out


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
    """One kinship model with its null fits and the SNPs scanned with it.

    ``label`` is ``None`` for the genome-wide model, else the chromosome c whose SNPs are
    scanned with K₋c (LOCO); ``on`` marks the SNPs of ``inputs.snp_index`` it scans (none for
    LOCO's genome-wide part, which gives the record's headline null).  ``ml_null`` is the ML
    fit the refit's LRT and score need (``null`` itself when that is ML; ``None`` for LOCO's
    genome-wide part).
    """

    label: str | None
    on: np.ndarray
    model: KinshipModel
    null: NullModel
    ml_null: NullModel | None


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
    def of(cls, part: ScanPart) -> Headline:
        return cls(part.null, part.ml_null, part.model.description, part.model.untested)


def scan_parts(
    inputs: AnalysisInputs,
    *,
    likelihood: Likelihood = "REML",
    fixed_gamma: float | None = None,
    loco: bool = False,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
    progress: bool = False,
    consume_kinship: bool = False,
) -> Iterator[ScanPart]:
    """The kinship models and null fits a scan of ``inputs`` uses, one at a time: exactly
    those of :func:`association` (the same functions on the same data), with the ML fit
    always made, so that a saved model serves fixed and refit scans alike.  Without LOCO, one
    part scanning every SNP; with LOCO, one per chromosome (:func:`_loco_models`), then the
    genome-wide one."""
    size = inputs.snp_index.size
    if not loco:
        model = kinship_model(inputs, block_size=block_size, progress=progress,
                              consume=consume_kinship)
        null, ml_null = _null_fits(inputs, model, True, likelihood, fixed_gamma)
        yield ScanPart(None, np.ones(size, dtype=bool), model, null, ml_null)
        return
    for c, on_c, model in _loco_models(inputs, block_size, progress):
        null, ml_null = _null_fits(inputs, model, True, likelihood, fixed_gamma,
                                   label=f"leaving out chromosome {c}")
        yield ScanPart(c, on_c, model, null, ml_null)
        del model, null, ml_null  # before the next chromosome's is made
    model = kinship_model(inputs, block_size=block_size)
    null = fit(inputs, model, likelihood, fixed_gamma=fixed_gamma)
    yield ScanPart(None, np.zeros(size, dtype=bool), model, null, None)


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


def association_chunk(
    inputs: AnalysisInputs,
    parts: Sequence[np.ndarray],
    load_part: Callable[[int], ScanPart],
    headline: Headline,
    *,
    refit: bool = False,
    chunk: int = 1,
    n_chunks: int = 1,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
    progress: bool = False,
    loco_fits: dict | None = None,
) -> AssocResult:
    """The rows of chunk ``chunk`` of ``n_chunks`` (:func:`chunk_ranges`) of a scan whose
    parts are known: ``parts[p]`` the positions (into ``inputs.snp_index``, increasing) that
    part p scans, ``load_part(p)`` its :class:`ScanPart` (called only for the parts the chunk
    touches), ``headline`` what the record reports besides the rows.  The rows come in
    ``snp_index`` order; concatenated in chunk order they are the single run's rows, which
    needs the parts' SNPs one after the other in ``snp_index`` (LOCO: each chromosome's SNPs
    together, chromosomes in order of first appearance) when ``n_chunks`` > 1.
    ``loco_fits`` is the record's per-chromosome fits ({c: object with gamma and loglik}).
    """
    order = np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]) if parts else []
    if n_chunks > 1 and np.any(np.diff(order) <= 0):
        raise InputError(
            f"--chunk {chunk}/{n_chunks}: the chunks of a leave-one-chromosome-out scan need "
            "each chromosome's SNPs together in the .bim (sort it by chromosome)",
            inputs.dataset.bim_path,
        )
    size = auto_block_size(inputs.n_samples) if block_size is None else block_size
    ranges = chunk_ranges([len(p) for p in parts], size, chunk, n_chunks)
    positions = (np.concatenate([parts[p][a:b] for p, a, b in ranges]) if ranges
                 else np.empty(0, dtype=np.int64))
    rank = np.empty(positions.size, dtype=np.int64)
    rank[np.argsort(positions, kind="stable")] = np.arange(positions.size)
    statistics: dict[str, np.ndarray] = {}
    done = 0
    for p, start, stop in ranges:
        part = load_part(p)
        if refit and part.ml_null is None:
            raise ValueError("a refit needs the ML null of the part")
        scanner = Scanner(part.null, refit=refit, ml_null=part.ml_null if refit else None)
        snps = inputs.snp_index[parts[p][start:stop]]
        (stats,) = _scan(inputs, [scanner], snps, size, progress)
        place(statistics, stats, rank[done : done + stop - start], positions.size)
        done += stop - start
    if not ranges:
        statistics = empty_statistics()
    sorted_positions = np.sort(positions)
    # As association: the ML null is reported in refit mode, and LOCO has no single one.
    ml_null = headline.ml_null if refit and loco_fits is None else None
    return AssocResult(
        inputs.snp_index[sorted_positions], statistics, headline.null, ml_null,
        LOCO_KINSHIP if loco_fits is not None else headline.kinship,
        loco_fits, kinship_untested=headline.kinship_untested,
    )


def _dense_model(
    k: np.ndarray, covariates: np.ndarray, source: object, description: str,
    *, overwrite: bool = False,
) -> KinshipModel:
    """The full-rank model of K; with ``overwrite`` K's buffer is used up by the
    eigendecomposition (K v then comes from the spectrum)."""
    mean_diag = float(np.trace(k)) / k.shape[0]
    spectrum = spectrum_from_kinship(k, covariates, source, overwrite=overwrite)
    return KinshipModel(spectrum, spectrum.kinship_matvec, mean_diag, description)
