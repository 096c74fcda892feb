"""From files to the matched inputs of an analysis: samples, phenotype, covariates, SNPs and
the kinship file, cut to the analysed samples.

Sample handling follows GEMMA and PLINK: samples are matched on (FID, IID), kept in ``.fam``
order, and those with a missing phenotype or covariate are dropped.  A kinship file covers every
``.fam`` sample (GEMMA's ``-k`` format; a GCTA ``.grm.bin`` names its samples in ``.grm.id``)
and is cut to the analysed samples; with ``center_kinship`` it is double-centred over them,
K ← CKC with C = I − 11ᵀ/n, as GEMMA ``-lmm`` does after subsetting (with an intercept,
centring leaves REML unchanged, Q₂ᵀCKCQ₂ = Q₂ᵀKQ₂ since Q₂ᵀ1 = 0, but changes ML and the pve).
The intercept is always the first covariate.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import qc
from .errors import InputError
from .io.grm import is_grm, read_grm, read_grm_ids
from .io.kinship_txt import read_kinship
from .io.plink import PlinkDataset, open_plink
from .io.tables import (
    SampleMatch,
    SampleTable,
    match_samples,
    n_fam_phenotypes,
    phenotype_from_fam,
    read_covar,
    read_pheno,
    read_phenotypes,
)

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


@dataclass(frozen=True)
class InputOptions:
    """What an analysis reads: the command line's data flags, with their defaults.

    Parameters
    ----------
    bfile:
        PLINK fileset prefix (``.bed``/``.bim``/``.fam``).
    pheno:
        Phenotype file (``FID IID v1 v2 …``); ``None`` takes the phenotype from the ``.fam``
        (column ``5 + mpheno``, GEMMA's ``-n``).
    mpheno:
        The phenotype column, 1-based (``--mpheno``); :func:`load_phenotypes` takes several.
    covar:
        Covariate file (``FID IID c1 …``); the intercept is always added.
    kinship:
        A plain-text N × N matrix (:mod:`exactlmm.io.kinship_txt`) or a GCTA
        ``PREFIX.grm.bin`` (:mod:`exactlmm.io.grm`) over every ``.fam`` sample.
    extract:
        A SNP list (one ID per line): only these SNPs.
    covar_names:
        Covariate columns chosen by name (PLINK ``--covar-name``); default all.
    covar_categorical:
        Numerically coded covariates to treat as categorical besides those holding text
        (one-hot coded, :func:`exactlmm.io.tables.one_hot`).
    center_kinship:
        Double-centre the kinship file's matrix over the analysed samples (GEMMA ``-lmm``).
    maf, geno:
        Drop SNPs with minor-allele frequency below ``maf`` or missingness above ``geno``
        among the analysed samples (PLINK's flags, GEMMA's inclusive bounds,
        :func:`exactlmm.qc.filter_mask`; the defaults keep every SNP).  Untestable SNPs that
        pass them stay: they get a row with a reason.
    block_size:
        SNPs read per block (``None``: :func:`exactlmm.io.plink.auto_block_size`).
    kinship_snps:
        Without ``kinship``: a SNP list naming the SNPs the standardized kinship is built from
        instead of the scanned ones (FaST-LMM's ``G0``): fewer than the samples take the
        low-rank path.
    """

    bfile: str | Path
    pheno: str | Path | None = None
    mpheno: int = 1
    covar: str | Path | None = None
    kinship: str | Path | None = None
    extract: str | Path | None = None
    covar_names: Sequence[str] | None = None
    covar_categorical: Collection[str] = ()
    center_kinship: bool = False
    maf: float = 0.0
    geno: float = 1.0
    block_size: int | None = DEFAULT_BLOCK_SIZE
    kinship_snps: str | Path | None = None


def load_inputs(options: InputOptions) -> AnalysisInputs:
    """Open and check every input of one analysis (:class:`InputOptions`; phenotype column
    ``options.mpheno``)."""
    ds = open_plink(options.bfile)
    table = (read_pheno(options.pheno, options.mpheno) if options.pheno is not None
             else phenotype_from_fam(ds, options.mpheno))
    return _load(ds, [(options.mpheno, table)], options)[0]


def load_phenotypes(options: InputOptions, columns: Sequence[int] | None = None
                    ) -> list[AnalysisInputs]:
    """:func:`load_inputs` for several phenotype columns (``None``: every column of the file,
    or of the ``.fam``), opening the fileset, the covariates and the kinship file once; each
    analysis gets the samples, SNPs and kinship cut its own :func:`load_inputs` would."""
    ds = open_plink(options.bfile)
    if options.pheno is not None:
        tables = read_phenotypes(options.pheno, columns)
        chosen = list(columns) if columns is not None else list(range(1, len(tables) + 1))
    else:
        chosen = (list(columns) if columns is not None
                  else list(range(1, n_fam_phenotypes(ds) + 1)))
        tables = [phenotype_from_fam(ds, column) for column in chosen]
    return _load(ds, list(zip(chosen, tables, strict=True)), options)


def _load(ds: PlinkDataset, phenotypes: list[tuple[int, SampleTable]], options: InputOptions
          ) -> list[AnalysisInputs]:
    o = options
    if o.kinship is not None and o.kinship_snps is not None:
        raise InputError("--kinship-snps chooses the SNPs of a kinship built from the "
                         "genotypes; do not also pass --kinship", o.kinship_snps)
    kinship_snp_index = (
        qc.snp_index_from_list(ds, qc.read_snp_list(o.kinship_snps), o.kinship_snps)
        if o.kinship_snps is not None else None)
    covariates_table = (read_covar(o.covar, o.covar_names, o.covar_categorical)
                        if o.covar is not None else None)
    matches = [match_samples(ds, table, covariates_table) for _, table in phenotypes]
    listed = (qc.snp_index_from_list(ds, qc.read_snp_list(o.extract), o.extract)
              if o.extract is not None else np.arange(ds.n_snps))
    full_kinship = _kinship_file(o.kinship, ds) if o.kinship is not None else None
    by_samples: dict[bytes, tuple[np.ndarray, np.ndarray | None]] = {}
    out = []
    for (column, table), samples in zip(phenotypes, matches, strict=True):
        key = samples.fam_index.tobytes()
        if key not in by_samples:  # one SNP filter and one kinship cut per sample set
            snp_index = listed
            if o.maf > 0.0 or o.geno < 1.0:
                stats = qc.snp_stats(ds, samples.fam_index, block_size=o.block_size)
                keep = qc.filter_mask(stats, maf_min=o.maf, missing_max=o.geno)
                snp_index = listed[keep[listed]]
            if snp_index.size == 0:
                raise InputError("no SNP left to analyse after --extract/--maf/--geno",
                                 ds.bed_path)
            k = None
            if full_kinship is not None:
                k = _cut(full_kinship, samples.fam_index, o.center_kinship)
            by_samples[key] = (snp_index, k)
        snp_index, k = by_samples[key]
        n = samples.y.size
        out.append(AnalysisInputs(
            dataset=ds,
            samples=samples,
            covariates=np.column_stack([np.ones(n), samples.covariates]),
            covariate_names=["intercept", *samples.covariate_names],
            snp_index=snp_index,
            pheno_source=str(o.pheno if o.pheno is not None else ds.fam_path),
            kinship=k,
            kinship_source=str(o.kinship) if o.kinship is not None else None,
            parameters={
                "bfile": str(o.bfile),
                "pheno": None if o.pheno is None else str(o.pheno),
                "mpheno": column,
                "covar": None if o.covar is None else str(o.covar),
                "kinship": None if o.kinship is None else str(o.kinship),
                "extract": None if o.extract is None else str(o.extract),
                "center_kinship": o.center_kinship,
                "maf": o.maf,
                "geno": o.geno,
                **({} if o.kinship_snps is None else {"kinship_snps": str(o.kinship_snps)}),
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


