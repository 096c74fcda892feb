"""From files to fitted models and scans: the steps the command line and the workflow share.

Sample handling follows GEMMA and PLINK: samples are matched on (FID, IID), kept in ``.fam``
order, and those with a missing phenotype or covariate are dropped.  A kinship file covers every
``.fam`` sample (GEMMA's ``-k`` format) and is cut to the analysed samples.  The intercept is
always the first covariate.

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

No SNP makes an analysis fail: every SNP passing ``--extract``/``--maf``/``--geno`` gets a row,
an untestable one with NA statistics and its reason (``errcode``), and the counts per reason
are in :attr:`AssocResult.untested` and :attr:`KinshipModel.untested`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import kinship as kinship_mod
from . import qc
from .dosage import classify, count_errcodes, describe_counts
from .errors import InputError
from .io.kinship_txt import read_kinship
from .io.plink import PlinkDataset, iter_genotype_blocks, open_plink, read_genotypes
from .io.results import ERRCODE_DTYPE, TESTED
from .io.tables import SampleMatch, match_samples, phenotype_from_fam, read_covar, read_pheno
from .likelihood import Likelihood, RotatedPhenotype, profile_loglik
from .null import DEFAULT_GRID, DEFAULT_LOG_DELTA_BOUNDS, NullModel, fit_null
from .scan import Scanner, scan
from .spectral import (
    Spectrum,
    kinship_eigenvalues,
    spectrum_from_genotypes,
    spectrum_from_kinship,
)

DEFAULT_BLOCK_SIZE = 4096


@dataclass
class AnalysisInputs:
    """Everything one analysis reads, matched and cut to the analysed samples."""

    dataset: PlinkDataset
    samples: SampleMatch
    covariates: np.ndarray
    covariate_names: list[str]
    snp_index: np.ndarray
    pheno_source: str
    kinship: np.ndarray | None = None
    kinship_source: str | None = None
    parameters: dict = field(default_factory=dict)

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
    block_size: int = DEFAULT_BLOCK_SIZE,
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
    """
    ds = open_plink(bfile)
    table = read_pheno(pheno, mpheno) if pheno is not None else phenotype_from_fam(ds, mpheno)
    covariates_table = (
        read_covar(covar, covar_names, covar_categorical) if covar is not None else None
    )
    samples = match_samples(ds, table, covariates_table)
    n = samples.y.size
    x = np.column_stack([np.ones(n), samples.covariates])
    names = ["intercept", *samples.covariate_names]
    if extract is not None:
        snp_index = qc.snp_index_from_list(ds, qc.read_snp_list(extract), extract)
    else:
        snp_index = np.arange(ds.n_snps)
    if maf > 0.0 or geno < 1.0:
        stats = qc.snp_stats(ds, samples.fam_index, block_size=block_size)
        keep = qc.filter_mask(stats, maf_min=maf, missing_max=geno)
        snp_index = snp_index[keep[snp_index]]
    if snp_index.size == 0:
        raise InputError("no SNP left to analyse after --extract/--maf/--geno", ds.bed_path)
    k = None
    if kinship is not None:
        k = read_kinship(kinship, ds.n_samples)[np.ix_(samples.fam_index, samples.fam_index)]
        if center_kinship:
            k = k - k.mean(axis=0)[None, :] - k.mean(axis=1)[:, None] + k.mean()
            k = 0.5 * (k + k.T)
    return AnalysisInputs(
        dataset=ds,
        samples=samples,
        covariates=x,
        covariate_names=names,
        snp_index=snp_index,
        pheno_source=str(pheno if pheno is not None else ds.fam_path),
        kinship=k,
        kinship_source=str(kinship) if kinship is not None else None,
        parameters={
            "bfile": str(bfile),
            "pheno": None if pheno is None else str(pheno),
            "mpheno": mpheno,
            "covar": None if covar is None else str(covar),
            "kinship": None if kinship is None else str(kinship),
            "extract": None if extract is None else str(extract),
            "center_kinship": center_kinship,
            "maf": maf,
            "geno": geno,
        },
    )


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
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: bool = False,
) -> KinshipModel:
    """Spectrum of the kinship: from the kinship file, else from the SNPs ``snp_index``.

    ``with_ml`` attaches the eigenvalues of the full K, which ML needs.
    """
    x = inputs.covariates
    source = inputs.kinship_source or inputs.dataset.bed_path
    if inputs.kinship is not None:
        return _dense_model(inputs.kinship, x, with_ml, source, "file")
    snps = inputs.snp_index if snp_index is None else snp_index
    if snps.size < inputs.n_samples:
        return _low_rank_model(inputs, snps)
    ds = inputs.dataset
    k, m, untested = kinship_mod.kinship_standardized(
        ds, inputs.samples.fam_index, snps, block_size=block_size, progress=progress
    )
    model = _dense_model(k, x, with_ml, ds.bed_path, f"standardized, {m} SNPs")
    return KinshipModel(model.spectrum, model.matvec, model.mean_diag, model.description,
                        untested, m)


def _low_rank_model(inputs: AnalysisInputs, snps: np.ndarray, label: str = "") -> KinshipModel:
    """K = ZZᵀ/M from the testable SNPs among ``snps`` (fewer than the samples), never formed:
    the thin SVD of the projected Z (:func:`exactlmm.spectral.spectrum_from_genotypes`)."""
    ds = inputs.dataset
    genotypes = read_genotypes(ds, inputs.samples.fam_index, snps)
    errcode = classify(genotypes)
    keep = errcode == TESTED
    if not keep.any():
        raise InputError(
            f"none of the {snps.size} SNPs selected for the kinship{label} is testable among "
            f"the analysed samples ({describe_counts(count_errcodes(errcode))})",
            ds.bed_path,
        )
    z = kinship_mod.standardize(genotypes[:, keep])
    m = z.shape[1]
    spectrum = spectrum_from_genotypes(z, m, inputs.covariates, ds.bed_path)
    return KinshipModel(
        spectrum, lambda v: z @ (z.T @ v) / m, 1.0, f"standardized, {m} SNPs{label}, low rank",
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


@dataclass
class AssocResult:
    """Per-SNP statistics (in ``snp_index`` order) and the null fit(s) they used.

    ``statistics`` has a row for every SNP of ``snp_index``; ``errcode`` says which were not
    tested and why.  ``kinship_untested`` counts per reason the SNPs left out of the kinship
    (LOCO: of the genome-wide one).
    """

    snp_index: np.ndarray
    statistics: dict[str, np.ndarray]
    null: NullModel
    ml_null: NullModel | None
    kinship: str
    loco: dict[str, NullModel] | None = None
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
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: bool = False,
) -> AssocResult:
    """Fit the null model and scan every selected SNP (see :mod:`exactlmm.scan`).

    Every SNP of ``inputs.snp_index`` gets a row; untestable ones are NA with a reason in
    ``errcode`` and are left out of a kinship built from the genotypes.  ``refit`` re-estimates
    γ per SNP; ``loco`` uses, for the SNPs of each chromosome, the kinship of the others.

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
    if refit and fixed_gamma is not None:
        raise InputError(
            "a fixed h² (--h2) and a per-SNP refit (--refit) exclude each other: the refit "
            "re-estimates the variance ratio for every SNP"
        )
    if loco:
        return _association_loco(
            inputs, refit=refit, likelihood=likelihood, fixed_gamma=fixed_gamma,
            block_size=block_size, progress=progress,
        )
    model = kinship_model(
        inputs, with_ml=refit or likelihood == "ML", block_size=block_size, progress=progress
    )
    null, ml_null = _null_fits(inputs, model, refit, likelihood, fixed_gamma)
    stats = _scan(inputs, Scanner(null, refit=refit, ml_null=ml_null), inputs.snp_index,
                  block_size, progress)
    return AssocResult(inputs.snp_index, stats, null, ml_null, model.description,
                       kinship_untested=model.untested)


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
    scanner: Scanner,
    snp_index: np.ndarray,
    block_size: int,
    progress: bool,
) -> dict[str, np.ndarray]:
    ds = inputs.dataset
    blocks: Iterator = iter_genotype_blocks(ds, inputs.samples.fam_index, snp_index, block_size)
    return scan(scanner, blocks, progress=progress, total=int(snp_index.size))


def _association_loco(
    inputs: AnalysisInputs,
    *,
    refit: bool,
    likelihood: Likelihood,
    fixed_gamma: float | None,
    block_size: int,
    progress: bool,
) -> AssocResult:
    """One null fit and scan per chromosome c, with K₋c from the SNPs off c.

    The K₋c come from one pass over the genotypes (:func:`exactlmm.kinship.kinship_loco`);
    when the testable SNPs off c are fewer than the samples, the low-rank path is used instead.
    Untestable SNPs are in no K₋c and get NA rows.
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
    with_ml = refit or likelihood == "ML"
    dense = kinship_mod.kinship_loco(
        ds, inputs.samples.fam_index, inputs.snp_index, block_size, progress
    )
    n = inputs.n_samples
    statistics: dict[str, np.ndarray] = {}
    nulls: dict[str, NullModel] = {}
    for c in chromosomes:
        on_c = chrom == c
        k_c, m_c, _ = dense.pop(c)
        if m_c < n:
            model = _low_rank_model(inputs, inputs.snp_index[~on_c],
                                    f" off chromosome {c}")
        else:
            model = _dense_model(k_c, inputs.covariates, with_ml, ds.bed_path,
                                 f"standardized, {m_c} SNPs off chromosome {c}")
        del k_c
        null, ml_null = _null_fits(inputs, model, refit, likelihood, fixed_gamma,
                                   label=f"leaving out chromosome {c}")
        nulls[c] = null
        stats = _scan(inputs, Scanner(null, refit=refit, ml_null=ml_null),
                      inputs.snp_index[on_c], block_size, progress)
        for name, values in stats.items():
            # Text (errcode) gets a width that holds every code, whatever this chromosome had.
            dtype = ERRCODE_DTYPE if values.dtype.kind == "U" else values.dtype
            column = statistics.setdefault(name, np.empty(chrom.size, dtype=dtype))
            column[on_c] = values
    # The genome-wide null (all chromosomes) is the headline null model of the JSON.
    model = kinship_model(inputs, with_ml=likelihood == "ML", block_size=block_size)
    null = fit(inputs, model, likelihood, fixed_gamma=fixed_gamma)
    # Per-chromosome nulls are in ``loco``; there is no single ML null to report.
    return AssocResult(inputs.snp_index, statistics, null, None,
                       "standardized, leave one chromosome out", nulls,
                       kinship_untested=model.untested)


def _dense_model(
    k: np.ndarray, covariates: np.ndarray, with_ml: bool, source: object, description: str
) -> KinshipModel:
    spectrum = spectrum_from_kinship(k, covariates, source)
    if with_ml:
        spectrum = spectrum.with_kinship_eigenvalues(kinship_eigenvalues(k))
    return KinshipModel(spectrum, k.__matmul__, float(np.trace(k)) / k.shape[0], description)
