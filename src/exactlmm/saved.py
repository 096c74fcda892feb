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
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .downdate import fit_downdate
from .errors import InputError
from .io.model import ModelWriter, SavedModel, file_fingerprint
from .io.plink import PlinkDataset, open_plink
from .io.results import TABLE_SHA256, check_pair, pair_paths, read_null_json
from .io.tables import SampleMatch
from .io.text import read_text
from .likelihood import RotatedPhenotype
from .null import NullModel, RecordedNull
from .pipeline import (
    AnalysisInputs,
    AssocResult,
    Headline,
    KinshipModel,
    LocoFit,
    ScanOptions,
    ScanPart,
    association_chunk,
    chromosome_downdate,
    chunk_block_size,
    chunk_ranges,
    scan_parts,
)
from .spectral import Spectrum


def save_model(
    prefix: str | os.PathLike[str],
    inputs: AnalysisInputs,
    options: ScanOptions,
    *,
    header: dict[str, Any] | None = None,
) -> tuple[ScanPart, dict[str, LocoFit] | None]:
    """Fit the scan's models (:func:`exactlmm.pipeline.scan_parts`, with the ML fits a refit
    needs) and write them to ``PREFIX.model.npz``/``.json``; returns the headline part (the
    genome-wide null) and, with ``options.loco``, each chromosome's fit.  ``header`` adds
    entries to the JSON header (the tool's provenance)."""
    ds = inputs.dataset
    with ModelWriter(prefix) as writer:
        writer.add_array("samples/fam_index", inputs.samples.fam_index.astype(np.int64))
        writer.add_array("samples/y", inputs.y)
        writer.add_array("samples/covariates", inputs.covariates)
        writer.add_array("snps/index", inputs.snp_index.astype(np.int64))
        if inputs.kinship_snps is not None:
            writer.add_array("kinship_snps/index", inputs.kinship_snps.astype(np.int64))
        parts = scan_parts([inputs], options, with_ml=True, consume_kinship=True)
        headline = next(parts)  # the genome-wide part, first (LOCO) or the only one
        writer.add_part(headline)
        for part in parts:  # a chromosome's part is let go before the next is made
            writer.add_part(part)
            del part
        samples = inputs.samples
        files = {"bed": ds.bed_path, "bim": ds.bim_path, "fam": ds.fam_path,
                 **{kind: inputs.parameters.get(kind) for kind in
                    ("pheno", "covar", "kinship", "extract", "kinship_snps")}}
        writer.header = {
            **(header or {}),
            "inputs": {kind: None if path is None else file_fingerprint(path)
                       for kind, path in files.items()},
            "analysis": {
                "likelihood": options.likelihood,
                "fixed_gamma": options.fixed_gamma,
                "loco": options.loco,
                "loco_method": options.loco_method,
                "block_size": chunk_block_size(inputs, options),
                "n_samples": int(inputs.n_samples),
                "n_snps": int(inputs.snp_index.size),
                "phenotype_label": inputs.phenotype_label,
                "pheno_source": inputs.pheno_source,
                "kinship_source": inputs.kinship_source,
                "covariate_names": inputs.covariate_names,
                "pheno_name": samples.pheno_name,
                "n_dropped_missing": samples.n_dropped_missing,
                "n_missing_covariate": samples.n_missing_covariate,
                "n_fam_without_pheno": samples.n_fam_without_pheno,
                "n_pheno_not_in_fam": samples.n_pheno_not_in_fam,
                "categorical_references": samples.categorical_references,
                "parameters": inputs.parameters,
            },
        }
    return headline, _loco_fits(writer.parts) if options.loco else None


def _loco_fits(entries: list[dict[str, Any]]) -> dict[str, LocoFit]:
    """{c: LocoFit} of the chromosome parts of a model header, γ = exp(−log δ) as
    :attr:`exactlmm.null.NullModel.gamma`."""
    return {e["label"]: LocoFit(float(np.exp(-e["null"]["log_delta"])), e["null"]["loglik"],
                                e["method"])
            for e in entries if e["label"] is not None}


class LoadedModel:
    """A saved model with the fileset it scans: its ``.fam`` and ``.bim`` checked to be the
    ones it was fitted on, its ``.bed`` in the bytes a chunk reads (:meth:`check_bed`)."""

    def __init__(self, prefix: str | os.PathLike[str], bfile: str | os.PathLike[str]) -> None:
        self.saved = SavedModel(prefix)
        ds = open_plink(bfile)
        self.saved.check_input("fam", ds.fam_path)
        self.saved.check_input("bim", ds.bim_path)
        self.dataset = ds
        self.analysis = self.saved.header["analysis"]
        self.inputs = self._inputs(ds)
        self.layout = [(entry["label"], self.saved.array(f"part{p}/positions"))
                       for p, entry in enumerate(self.saved.parts)]
        self._loaded: dict[int, ScanPart] = {}

    @property
    def loco(self) -> bool:
        return bool(self.analysis["loco"])

    @property
    def fixed_gamma(self) -> float | None:
        return self.analysis["fixed_gamma"]

    def check_bed(self, snps: np.ndarray) -> None:
        """The ``.bed`` must hold, in the bytes of the SNPs ``snps`` (``.bim`` positions) and
        its 3-byte header, what the model was fitted on (the pieces of the model's fingerprint
        that hold them are hashed: :func:`exactlmm.io.model.check_file`)."""
        width = (self.dataset.n_samples + 3) // 4
        starts = 3 + np.asarray(snps, dtype=np.int64) * width
        self.saved.check_input("bed", self.dataset.bed_path,
                               [(0, 3), *zip(starts.tolist(), (starts + width).tolist(),
                                             strict=True)])

    def _inputs(self, ds: PlinkDataset) -> AnalysisInputs:
        a, array = self.analysis, self.saved.array
        fam_index = array("samples/fam_index")
        y, covariates = array("samples/y"), array("samples/covariates")
        samples = SampleMatch(
            fam_index, y, covariates[:, 1:], a["n_dropped_missing"], a["n_fam_without_pheno"],
            a["n_pheno_not_in_fam"], a["pheno_name"], a["covariate_names"][1:],
            a["categorical_references"], a.get("n_missing_covariate", 0),
        )
        kinship_snps = (array("kinship_snps/index") if "kinship_snps/index" in self.saved.names
                        else None)
        return AnalysisInputs(
            dataset=ds, samples=samples, covariates=covariates,
            covariate_names=a["covariate_names"], snp_index=array("snps/index"),
            pheno_source=a["pheno_source"], kinship_source=a["kinship_source"],
            parameters=a["parameters"], phenotype_label=a["phenotype_label"],
            kinship_snps=kinship_snps,
        )

    def part(self, p: int) -> ScanPart:
        """Part p rebuilt.  The genome-wide part (the first) is kept: without LOCO it is the
        part scanned and gives the headline too; with LOCO it is what a downdate chromosome is
        rebuilt from.  A chromosome with its own spectrum is loaded from its arrays and let go
        after its scan, so a chunk holds one such spectrum at a time; :meth:`headline` loads
        none."""
        if p != 0:
            return self._chromosome(p)
        if p not in self._loaded:
            self._loaded[p] = self._part(p)
        return self._loaded[p]

    def _chromosome(self, p: int) -> ScanPart:
        """A LOCO chromosome's part: from its arrays, or from the genome-wide part — K itself,
        or its downdate (:func:`exactlmm.pipeline.chromosome_downdate`) from the chromosome's
        kinship SNPs, decoded in blocks of the fit's size after the ``.bed`` bytes they are
        read from are checked, and evaluated at the saved log δ (:func:`exactlmm.downdate.
        fit_downdate`: the fit's own computation at the fit's own number)."""
        entry = self.saved.parts[p]
        on = np.zeros(self.inputs.snp_index.size, dtype=bool)
        on[self.layout[p][1]] = True
        if entry["method"] not in ("downdate", "genome-wide"):
            return self._part(p)
        genome = self.part(0)
        if entry["method"] == "genome-wide":
            return replace(genome, label=entry["label"], on=on, method="genome-wide")
        inputs = self.inputs
        shared = inputs.kinship_snps is None
        kinship_snps = inputs.snp_index if shared else inputs.kinship_snps
        on_kinship = kinship_snps[self.dataset.chromosome[kinship_snps] == entry["label"]]
        self.check_bed(on_kinship)
        block_size = self.analysis["block_size"]
        downdate, rotations = chromosome_downdate(inputs, genome.model, on_kinship, block_size)
        null = entry["null"]
        fitted = fit_downdate(downdate, genome.nulls[0].phenotype, inputs.covariates,
                              likelihood=null["likelihood"],
                              log_delta_bounds=tuple(null["log_delta_bounds"]),
                              fixed_log_delta=null["log_delta"])
        return ScanPart(entry["label"], on, genome.model, [fitted], [None],
                        rotations=rotations if shared else None, method="downdate",
                        block_size=block_size)

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
        on[self.layout[p][1]] = True
        return ScanPart(entry["label"], on, model, [null], [ml_null], method=entry["method"])

    def headline(self) -> list[Headline]:
        """What the scan's record reports besides its rows: the genome-wide part's.  With
        LOCO its null is read from the model's numbers (:class:`~exactlmm.null.RecordedNull`,
        the same values), so a chunk job never loads that part's N × N eigenbasis."""
        p = 0  # the genome-wide part
        if not self.loco:
            return [Headline.of(self.part(p))]
        entry = self.saved.parts[p]
        n_covariates = self.saved.array(f"part{p}/covariate_basis").shape[1]
        null = RecordedNull(**_null_fields(entry["null"]), n_samples=self.inputs.n_samples,
                            n_covariates=n_covariates)
        return [Headline(null, None, entry["kinship"], entry["kinship_untested"])]

    def loco_fits(self) -> list[dict[str, LocoFit]]:
        """Each chromosome's REML/ML γ and logL (LOCO models), as a single run records them."""
        return [_loco_fits(self.saved.parts)]


def _null_fields(record: dict[str, Any]) -> dict[str, Any]:
    """A saved null fit's numbers, as the fields of a null model."""
    return dict(
        likelihood=record["likelihood"], log_delta=record["log_delta"],
        loglik=record["loglik"], sigma_e2=record["sigma_e2"],
        beta=np.asarray(record["beta"], dtype=float),
        kinship_mean_diag=record["kinship_mean_diag"], boundary=record["boundary"],
        log_delta_bounds=tuple(record["log_delta_bounds"]),
        se_log_delta=record.get("se_log_delta"),
        df_genetic=record.get("df_genetic"),
    )


def _null_model(record: dict[str, Any], spectrum: Spectrum, y: np.ndarray) -> NullModel:
    return NullModel(**_null_fields(record),
                     phenotype=RotatedPhenotype.from_phenotype(spectrum, y))


def association_from_model(
    model: LoadedModel,
    options: ScanOptions,
    *,
    chunk: int = 1,
    n_chunks: int = 1,
) -> AssocResult:
    """Chunk ``chunk`` of ``n_chunks`` of the saved model's scan: the single run's
    :func:`exactlmm.pipeline.association_chunk` with the parts rebuilt from the model, after
    checking the ``.bed`` bytes the chunk reads (:meth:`LoadedModel.check_bed`).
    ``options``: ``refit``, ``block_size`` and ``progress`` are the chunk's own; the rest
    are the model's."""
    if options.refit and model.fixed_gamma is not None:
        raise InputError(
            "a fixed h² (--h2 when the model was fitted) and a per-SNP refit (--refit) "
            "exclude each other", model.saved.json_path)
    options = replace(options, likelihood=model.analysis["likelihood"], loco=model.loco,
                      fixed_gamma=model.fixed_gamma)
    parts = [positions for _, positions in model.layout]
    size = chunk_block_size(model.inputs, options)
    ranges = chunk_ranges([len(p) for p in parts], size, chunk, n_chunks)
    snp_index = model.inputs.snp_index
    model.check_bed(np.concatenate([snp_index[parts[p][a:b]] for p, a, b in ranges])
                    if ranges else np.empty(0, dtype=np.int64))
    (result,) = association_chunk(
        [model.inputs], parts, model.part, model.headline, options, chunk=chunk,
        n_chunks=n_chunks, loco_fits=model.loco_fits if model.loco else None)
    return result


def gather_chunks(prefixes: Sequence[str | os.PathLike[str]]) -> tuple[bytes, dict[str, Any]]:
    """The table and record of a saved model's scan from its chunks' output pairs (``assoc
    --model --chunk I/N``, I = 1..N, given in any order): the tables in chunk order under one
    header, the record of the chunks with their counts summed.

    Every chunk must be an intact pair (its table the one its ``null.json`` was written with,
    :func:`exactlmm.io.results.check_pair`) of the same model (its ``header_sha256``: the
    same data, options and null fits), the same mode and block size and the same N; every I
    once; and the rows must add up to the model's SNPs.  Otherwise a one-line ``InputError``
    naming the chunk.
    """
    chunks = []
    for prefix in prefixes:
        table_path, null_path = pair_paths(prefix)
        record = read_null_json(null_path)
        if "chunk" not in record or "model" not in record:
            raise InputError("not the record of an exactlmm assoc --model --chunk run",
                             null_path)
        check_pair(prefix, record)
        chunks.append((tuple(record["chunk"]), prefix, record))
    chunks.sort(key=lambda item: item[0][0])
    first_prefix, first = chunks[0][1], chunks[0][2]
    n_chunks = int(first["chunk"][1])
    same = ("mode", "block_size")
    for (chunk, total), prefix, record in chunks:
        null_path = pair_paths(prefix)[1]
        if record["model"].get("header_sha256") != first["model"].get("header_sha256"):
            raise InputError(f"a chunk of another model than {first_prefix}'s (its "
                             f"{record['model']['path']}: other data, options or null fit)",
                             null_path)
        if total != n_chunks or any(record.get(key) != first.get(key) for key in same):
            raise InputError(
                f"chunk {chunk}/{total} ({record['mode']}, blocks of {record.get('block_size')}"
                f" SNPs) does not belong with {first_prefix}'s ({n_chunks} chunks, "
                f"{first['mode']}, blocks of {first.get('block_size')})", null_path)
    found = [chunk for (chunk, _), _, _ in chunks]
    if found != list(range(1, n_chunks + 1)):
        missing = sorted(set(range(1, n_chunks + 1)) - set(found))
        repeated = sorted({c for c in found if found.count(c) > 1})
        raise InputError(f"chunks of {n_chunks}: missing {missing}, given twice {repeated}",
                         pair_paths(first_prefix)[1])
    header, bodies = None, []
    for _, prefix, record in chunks:
        table_path = pair_paths(prefix)[0]
        line, _, body = read_text(table_path, "association file").partition("\n")
        if header is None:
            header = line
        elif line != header:
            raise InputError(f"its header differs from {first_prefix}.assoc.tsv's", table_path)
        if body.count("\n") != record["n_snps"]:
            raise InputError(f"{body.count(chr(10))} rows, its record says {record['n_snps']}",
                             table_path)
        bodies.append(body)
    n_snps = sum(record["n_snps"] for _, _, record in chunks)
    if n_snps != first["model"]["n_snps"]:
        raise InputError(f"the chunks hold {n_snps} SNPs, the model scans "
                         f"{first['model']['n_snps']}", pair_paths(first_prefix)[1])
    untested: dict[str, int] = {}
    for _, _, record in chunks:
        for reason, count in record["untested"].items():
            untested[reason] = untested.get(reason, 0) + count
    merged = {k: v for k, v in first.items()
              if k not in ("status", "chunk", "block_size", TABLE_SHA256)}
    merged["n_snps"] = n_snps
    merged["n_tested"] = sum(record["n_tested"] for _, _, record in chunks)
    merged["untested"] = dict(sorted(untested.items()))
    merged["chunks"] = n_chunks
    return (f"{header}\n" + "".join(bodies)).encode(), merged
