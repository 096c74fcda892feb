"""Fit once, scan anywhere: a scan's kinship models and null fits saved
(:func:`save_model`, ``exactlmm fit --save-model``) and a part of its SNPs scanned with them
(:func:`association_from_model`, ``exactlmm assoc --model --chunk I/N``).

The file format is :mod:`exactlmm.io.model`.  A chunk job rebuilds the fit job's spectra
from their saved bits and its null fits from their saved numbers (the rotated phenotype
Wᵀy recomputed by the same product), then scans its blocks exactly as a single run does
(:func:`exactlmm.pipeline.chunk_ranges`), so that the chunks' tables, concatenated in chunk
order, are the single run's byte for byte, in fixed, refit and LOCO modes.  Memory: a chunk
of a LOCO scan loads the chromosomes' spectra it scans one at a time and never the genome-wide
one: its headline null is the saved numbers (:class:`exactlmm.null.RecordedNull`), so the job
holds one N × (N − c) basis at most (N = 4,000 full rank: 331 MB peak, 456 MB with both).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import InputError
from .io.model import ModelWriter, SavedModel, file_fingerprint
from .io.plink import PlinkDataset, open_plink
from .io.tables import SampleMatch
from .likelihood import Likelihood, RotatedPhenotype
from .null import NullModel, RecordedNull
from .pipeline import (
    DEFAULT_BLOCK_SIZE,
    AnalysisInputs,
    AssocResult,
    Headline,
    KinshipModel,
    LocoFit,
    ScanPart,
    association_chunk,
    scan_parts,
)
from .spectral import Spectrum


def save_model(
    prefix: str | os.PathLike[str],
    inputs: AnalysisInputs,
    *,
    likelihood: Likelihood = "REML",
    fixed_gamma: float | None = None,
    loco: bool = False,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
    progress: bool = False,
    header: dict[str, Any] | None = None,
) -> tuple[ScanPart, dict[str, LocoFit] | None]:
    """Fit the scan's models (:func:`exactlmm.pipeline.scan_parts`) and write them to
    ``PREFIX.model.npz``/``.json``; returns the headline part (the genome-wide null) and, with
    ``loco``, each chromosome's fit.  ``header`` adds entries to the JSON header (the tool's
    provenance)."""
    ds = inputs.dataset
    with ModelWriter(prefix) as writer:
        writer.add_array("samples/fam_index", inputs.samples.fam_index.astype(np.int64))
        writer.add_array("samples/y", inputs.y)
        writer.add_array("samples/covariates", inputs.covariates)
        writer.add_array("snps/index", inputs.snp_index.astype(np.int64))
        headline = None
        for part in scan_parts(inputs, likelihood=likelihood, fixed_gamma=fixed_gamma,
                               loco=loco, block_size=block_size, progress=progress,
                               consume_kinship=True):
            writer.add_part(part)
            if part.label is None:  # the genome-wide part, the last; a chromosome's is let go
                headline = part
            del part
        assert headline is not None
        samples = inputs.samples
        files = {"bed": ds.bed_path, "bim": ds.bim_path, "fam": ds.fam_path,
                 **{kind: inputs.parameters.get(kind) for kind in
                    ("pheno", "covar", "kinship", "extract", "kinship_snps")}}
        writer.header = {
            **(header or {}),
            "inputs": {kind: None if path is None else file_fingerprint(path)
                       for kind, path in files.items()},
            "analysis": {
                "likelihood": likelihood,
                "fixed_gamma": fixed_gamma,
                "loco": loco,
                "n_samples": int(inputs.n_samples),
                "n_snps": int(inputs.snp_index.size),
                "phenotype_label": inputs.phenotype_label,
                "pheno_source": inputs.pheno_source,
                "kinship_source": inputs.kinship_source,
                "covariate_names": inputs.covariate_names,
                "pheno_name": samples.pheno_name,
                "n_dropped_missing": samples.n_dropped_missing,
                "n_fam_without_pheno": samples.n_fam_without_pheno,
                "n_pheno_not_in_fam": samples.n_pheno_not_in_fam,
                "categorical_references": samples.categorical_references,
                "parameters": inputs.parameters,
            },
        }
    return headline, _loco_fits(writer.parts) if loco else None


def _loco_fits(entries: list[dict[str, Any]]) -> dict[str, LocoFit]:
    """{c: LocoFit} of the chromosome parts of a model header, γ = exp(−log δ) as
    :attr:`exactlmm.null.NullModel.gamma`."""
    return {e["label"]: LocoFit(float(np.exp(-e["null"]["log_delta"])), e["null"]["loglik"])
            for e in entries if e["label"] is not None}


class LoadedModel:
    """A saved model with the fileset it scans (checked to be the one it was fitted on)."""

    def __init__(self, prefix: str | os.PathLike[str], bfile: str | os.PathLike[str]) -> None:
        self.saved = SavedModel(prefix)
        ds = open_plink(bfile)
        self.saved.check_inputs([("fam", ds.fam_path), ("bim", ds.bim_path),
                                 ("bed", ds.bed_path)])
        self.dataset = ds
        self.analysis = self.saved.header["analysis"]
        self.inputs = self._inputs(ds)
        self.positions = [self.saved.array(f"part{p}/positions")
                          for p in range(len(self.saved.parts))]
        self._loaded: dict[int, ScanPart] = {}

    @property
    def loco(self) -> bool:
        return bool(self.analysis["loco"])

    @property
    def fixed_gamma(self) -> float | None:
        return self.analysis["fixed_gamma"]

    def _inputs(self, ds: PlinkDataset) -> AnalysisInputs:
        a, array = self.analysis, self.saved.array
        fam_index = array("samples/fam_index")
        y, covariates = array("samples/y"), array("samples/covariates")
        samples = SampleMatch(
            fam_index, y, covariates[:, 1:], a["n_dropped_missing"], a["n_fam_without_pheno"],
            a["n_pheno_not_in_fam"], a["pheno_name"], a["covariate_names"][1:],
            a["categorical_references"],
        )
        return AnalysisInputs(
            dataset=ds, samples=samples, covariates=covariates,
            covariate_names=a["covariate_names"], snp_index=array("snps/index"),
            pheno_source=a["pheno_source"], kinship_source=a["kinship_source"],
            parameters=a["parameters"], phenotype_label=a["phenotype_label"],
        )

    def part(self, p: int) -> ScanPart:
        """Part p rebuilt from its arrays and numbers.  Only the genome-wide part (the last)
        is kept: without LOCO it is the part scanned and gives the headline too; a LOCO chunk
        holds one chromosome's spectrum at a time (:meth:`headline` does not load one)."""
        if p != len(self.positions) - 1:
            return self._part(p)
        if p not in self._loaded:
            self._loaded[p] = self._part(p)
        return self._loaded[p]

    def _part(self, p: int) -> ScanPart:
        entry, array = self.saved.parts[p], self.saved.array
        names = self.saved.names
        eigenvalues = (array(f"part{p}/kinship_eigenvalues")
                       if f"part{p}/kinship_eigenvalues" in names else None)
        spectrum = Spectrum(
            array(f"part{p}/basis"), array(f"part{p}/eigenvalues"),
            array(f"part{p}/covariate_basis"), entry["logdet_xtx"],
            kinship_eigenvalues=eigenvalues,
            kinship_blocks=(array(f"part{p}/kinship_qkq"), array(f"part{p}/kinship_wkq")),
            source=self.saved.npz_path,
        )
        model = KinshipModel(spectrum, spectrum.kinship_matvec, entry["kinship_mean_diag"],
                             entry["kinship"], entry["kinship_untested"],
                             entry["kinship_n_snps"])
        null = _null_model(entry["null"], spectrum, self.inputs.y)
        ml_null = (null if entry["ml_is_null"] else None if entry["ml_null"] is None
                   else _null_model(entry["ml_null"], spectrum, self.inputs.y))
        on = np.zeros(self.inputs.snp_index.size, dtype=bool)
        on[self.positions[p]] = True
        return ScanPart(entry["label"], on, model, null, ml_null)

    def headline(self) -> Headline:
        """What the scan's record reports besides its rows: the genome-wide part's.  With
        LOCO its null is read from the model's numbers (:class:`~exactlmm.null.RecordedNull`,
        the same values), so a chunk job never loads that part's N × N eigenbasis."""
        p = len(self.positions) - 1
        if not self.loco:
            return Headline.of(self.part(p))
        entry = self.saved.parts[p]
        n_covariates = self.saved.array(f"part{p}/covariate_basis").shape[1]
        null = RecordedNull(**_null_fields(entry["null"]), n_samples=self.inputs.n_samples,
                            n_covariates=n_covariates)
        return Headline(null, None, entry["kinship"], entry["kinship_untested"])

    def loco_fits(self) -> dict[str, LocoFit] | None:
        """Each chromosome's REML/ML γ and logL (LOCO models), as a single run records them."""
        return _loco_fits(self.saved.parts) if self.loco else None


def _null_fields(record: dict[str, Any]) -> dict[str, Any]:
    """A saved null fit's numbers, as the fields of a null model."""
    return dict(
        likelihood=record["likelihood"], log_delta=record["log_delta"],
        loglik=record["loglik"], sigma_e2=record["sigma_e2"],
        beta=np.asarray(record["beta"], dtype=float),
        kinship_mean_diag=record["kinship_mean_diag"], boundary=record["boundary"],
        log_delta_bounds=tuple(record["log_delta_bounds"]),
    )


def _null_model(record: dict[str, Any], spectrum: Spectrum, y: np.ndarray) -> NullModel:
    return NullModel(**_null_fields(record),
                     phenotype=RotatedPhenotype.from_phenotype(spectrum, y))


def association_from_model(
    model: LoadedModel,
    *,
    refit: bool = False,
    chunk: int = 1,
    n_chunks: int = 1,
    block_size: int | None = DEFAULT_BLOCK_SIZE,
    progress: bool = False,
) -> AssocResult:
    """Chunk ``chunk`` of ``n_chunks`` of the saved model's scan
    (:func:`exactlmm.pipeline.association_chunk`)."""
    if refit and model.fixed_gamma is not None:
        raise InputError(
            "a fixed h² (--h2 when the model was fitted) and a per-SNP refit (--refit) "
            "exclude each other", model.saved.json_path)
    parts = model.positions
    genome_wide = len(parts) - 1  # the last part (the only one without LOCO)
    scanned = [p for p in range(len(parts)) if model.saved.parts[p]["label"] is not None]
    if not model.loco:
        scanned = [genome_wide]
    positions = [parts[p] for p in scanned]
    return association_chunk(
        model.inputs, positions, lambda i: model.part(scanned[i]), model.headline(),
        refit=refit, chunk=chunk, n_chunks=n_chunks, block_size=block_size,
        progress=progress, loco_fits=model.loco_fits(),
    )
