"""Association tables the harness did not compute, put on our SNPs as runs of the panel.

Two kinds of table come from outside our runners:

* **results made elsewhere** — ``datasets.<name>.results.<tool>`` (a file, a path or an http(s)
  URL, or a member of an archive, staged like a dataset's files: sha256 checked when given) and
  ``study.imported.<tool>`` (one file per study replicate, e.g. the tables a REGENIE run on the
  benchmark kit wrote, :mod:`lmmcompare.kit`).  Each is a tool of the panel of origin
  ``imported`` (:class:`ImportedTool`) with a run on every dataset that names it, written by the
  ``import_results`` rule (:func:`import_results`);
* **the tables of tools defined in the config** — :mod:`lmmcompare.config_tools` runs the
  command, then uses :func:`our_snps`, :func:`place` and :func:`write_placed` from here.

Putting a table on our SNPs (:func:`place`)
-------------------------------------------
The table is read in its format (:func:`lmmcompare.formats.read_table`) and matched to the
SNPs our runs test — the dataset's QC list, in ``.bim`` order — by id, then by
chromosome:position:alleles (:func:`lmmcompare.formats.match_table`, which also mirrors β and
the allele frequency of a row whose effect allele is our a2: a *flipped* row).  Then the
orientation is checked against our own numbers on the same SNPs (:func:`check_orientation`):

* where the table gives the effect allele's frequency, it must be ours (the a1 frequency over
  the analysed samples), not the other allele's: a SNP whose frequency lies more than
  :data:`AF_MARGIN` from ours and nearer to 1 − ours counts against the table, and more than
  :data:`ORIENTATION_SHARE` of such SNPs means its allele labels are not the alleles its β
  counts;
* where it gives β, β must correlate positively with our covariate-adjusted least-squares
  effect of a1 (any linear estimator of the same effect on the same phenotype does; a table
  whose β counts the other allele gives a negative r), over at least
  :data:`MIN_ORIENTATION_SNPS` SNPs.

Our table then holds, per SNP of ours: ``n`` and ``af`` ours; β, se and the p-values the
table's (NA where it gives none); ``errcode`` ours where we cannot test the SNP, else the
table's (``NOT_REPORTED`` without a usable row, ``TOOL_FAILED`` for a row without a p-value, a
tool's own code mapped to ours).  Its ``null.json`` has no null model (``gamma: null``, no
likelihood), the ``origin`` (``config`` or ``imported``) and ``match``: the format, the file and
its sha256, and the counts of :class:`lmmcompare.formats.MatchCounts` (matched by id and by
position, flipped, allele mismatches, ours without a partner, rows unused), which the
``matching`` table of the workflow collects.

A results file that is not there yet (a local path: e.g. a kit replicate not run yet), a table
that does not read, matches none of our SNPs or contradicts our alleles is a skipped run with
the reason; a sha256 that differs from the configured one is an ``InputError`` (the job fails,
as for a dataset's files).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from exactlmm.errors import InputError
from exactlmm.io.results import ERRCODE_DTYPE, TESTED, write_result_pair
from exactlmm.pipeline import AnalysisInputs
from exactlmm.provenance import provenance
from lmmcompare import formats, params, registry, staging
from lmmcompare.compare import pearson
from lmmcompare.outcomes import RunOutcome, read_outcome, write_skipped
from lmmcompare.runners import RunRequest
from lmmcompare.runners._common import iter_snp_blocks, load, record_block, snp_columns
from lmmcompare.runs import Run

AF_MARGIN = 0.05
"""A table's effect-allele frequency this far from ours and nearer the other allele's counts
against its orientation (module docstring)."""

ORIENTATION_SHARE = 0.01
"""More than this share of SNPs with the other allele's frequency: the table is refused."""

MIN_ORIENTATION_SNPS = 20
"""SNPs with β from the table and from us needed for the effect-direction check."""

PATTERN_FIELDS = ("scenario", "replicate", "dataset")
"""Placeholders of a ``study.imported`` ``results`` pattern."""

RESULT_COLUMNS = ("beta", "se", *registry.STATISTICS)
"""The columns of our table that a foreign table fills."""


def _no_null_model(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    raise ValueError("an imported table reports no null model")


@dataclass(frozen=True)
class ImportedTool(registry.Tool):
    """Results made elsewhere, as a tool of the panel (module docstring): its name is the
    config's key, its modes those of its tables, its statistics those their formats give."""

    origin: ClassVar[str] = "imported"

    def load_runner(self) -> Any:
        raise ValueError(f"{self.name}: imported results are not run here")


def _resolve(spec: Mapping[str, Any], where: str) -> formats.Preset:
    from lmmcompare.workflow_config import ConfigError

    try:
        return formats.resolve(spec["format"], where=f"{where}/format")
    except InputError as error:
        raise ConfigError(f"{where}/format",
                          str(error).removeprefix(f"{where}/format: ")) from None


def _entries(config: Mapping[str, Any]) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    """Every imported table of a config by tool name: ``(key, entry)`` pairs."""
    entries: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for dataset, spec in config["datasets"].items():
        for name, result in (spec.get("results") or {}).items():
            entries.setdefault(name, []).append((f"datasets/{dataset}/results/{name}", result))
    for name, result in (config.get("study", {}).get("imported") or {}).items():
        entries.setdefault(name, []).append((f"study/imported/{name}", result))
    return entries


def imported_tools(config: Mapping[str, Any]) -> list[tuple[str, ImportedTool]]:
    """The imported tools of a (validated) config, each with its first key: one per name (a
    name given on several datasets and in ``study.imported`` is one tool, whose modes are all
    theirs; they must agree on ``exact``).  Formats that do not resolve and disagreeing
    ``exact`` values are ``ConfigError``\\ s naming the key."""
    from lmmcompare.workflow_config import ConfigError

    out = []
    for name, entries in _entries(config).items():
        where, first = entries[0]
        statistics: set[str] = set()
        for key, entry in entries:
            statistics |= set(_resolve(entry, key).statistics)
            if bool(entry["exact"]) != bool(first["exact"]):
                raise ConfigError(f"{key}/exact", f"differs from {where}/exact: one tool, "
                                  "one kind (exact or approximate)")
        modes = tuple(mode for mode in registry.MODES
                      if any(entry["mode"] == mode for _, entry in entries))
        source = first.get("file") or first.get("results")
        out.append((where, ImportedTool(
            name=name, label=name, modes=modes,
            statistics=tuple(s for s in registry.STATISTICS if s in statistics),
            reference_statistics=registry.peer_statistic_references(statistics),
            exact=bool(first["exact"]), runner="", to_standard=_no_null_model,
            summary=f"imported: {source} (format {_resolve(first, where).name})",
            mode_gaps={mode: "its imported tables are of other modes"
                       for mode in registry.MODES if mode not in modes},
            reference_modes=({registry.NO_KINSHIP_MODE: "fixed"}
                             if registry.NO_KINSHIP_MODE in modes else {}),
        )))
    return out


def study_results(imported: Mapping[str, Any], scenario: str, replicate: str,
                  dataset: str) -> dict[str, dict[str, Any]]:
    """The ``results`` entries of one study replicate from ``study.imported``: each pattern
    with ``{scenario}``, ``{replicate}`` (``r000``, …) and ``{dataset}`` filled in."""
    values = {"scenario": scenario, "replicate": replicate, "dataset": dataset}
    out = {}
    for name, entry in imported.items():
        out[name] = {"file": entry["results"].format(**values), "archive": None,
                     "archive_sha256": None, "sha256": None, "format": entry["format"],
                     "mode": entry["mode"], "exact": entry["exact"],
                     "version": entry.get("version")}
    return out


def check_pattern(pattern: str, where: str) -> None:
    """A ``ConfigError`` unless ``pattern`` uses only :data:`PATTERN_FIELDS` (and names
    ``{scenario}`` and ``{replicate}``, so that replicates get files of their own)."""
    from string import Formatter

    from lmmcompare.workflow_config import ConfigError

    try:
        fields = [name for _, name, _, _ in Formatter().parse(pattern) if name is not None]
    except ValueError as error:
        raise ConfigError(where, f"not a pattern: {error}") from None
    unknown = sorted(set(fields) - set(PATTERN_FIELDS))
    if unknown:
        raise ConfigError(where, f"unknown field {{{unknown[0]}}}; a pattern may use "
                          f"{', '.join('{' + f + '}' for f in PATTERN_FIELDS)}")
    if not ({"scenario", "replicate"} <= set(fields) or "dataset" in fields):
        raise ConfigError(where, "the pattern must name {scenario} and {replicate} (or "
                          "{dataset}): every replicate has a file of its own")


def imported_runs(datasets: Mapping[str, Mapping[str, Any]]) -> list[Run]:
    """One run per dataset and imported table it names (``results``), in config order."""
    return [Run(dataset, name, entry["mode"]) for dataset, spec in datasets.items()
            for name, entry in (spec.get("results") or {}).items()]


# --------------------------------------------------------------------------- our SNPs


@dataclass(frozen=True, eq=False)
class OurSnps:
    """Our view of the SNPs a run tests: the SNP ``columns`` (chrom snp pos a1 a2), ``stats``
    (``n``, ``af``, ``errcode`` filled, statistics NA), the genotype ``sd`` (ddof 0, for a
    format whose β is per sd) and ``ols_beta``, the least-squares effect of one copy of a1 with
    the covariates (the orientation check)."""

    columns: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    sd: np.ndarray
    ols_beta: np.ndarray


def our_snps(inputs: AnalysisInputs) -> OurSnps:
    """:class:`OurSnps` from one pass over the genotypes (mean-imputed, ``exactlmm.dosage``):
    β_OLS = g̃ᵀỹ / g̃ᵀg̃ with g̃, ỹ the genotype and phenotype with the covariates projected
    out (NaN for a SNP ours cannot test)."""
    from lmmcompare.runners._common import empty_stat_columns

    m = inputs.snp_index.size
    stats = empty_stat_columns(m)
    sd = np.full(m, np.nan)
    ols = np.full(m, np.nan)
    q, _ = np.linalg.qr(inputs.covariates)
    y = inputs.y - q @ (q.T @ inputs.y)
    for block in iter_snp_blocks(inputs):
        record_block(stats, block)
        sd[block.rows] = block.sd
        g = block.dosage - q @ (q.T @ block.dosage)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = (g.T @ y) / np.einsum("ij,ij->j", g, g)
        ols[block.rows] = np.where(block.testable, beta, np.nan)
    return OurSnps(snp_columns(inputs), stats, sd, ols)


@dataclass(frozen=True, eq=False)
class Placed:
    """A table on our SNPs: the ``stats`` columns of our table and the ``counts`` of the
    match."""

    stats: dict[str, np.ndarray]
    counts: formats.MatchCounts


def check_orientation(matched: formats.MatchedTable, ours: OurSnps) -> None:
    """An ``InputError`` when the table's alleles contradict ours (module docstring): by the
    effect-allele frequency where it gives one, by the direction of β where it gives one."""
    usable = (matched.partner >= 0) & (ours.stats["errcode"] == TESTED)
    af = np.asarray(matched.columns["af"], dtype=np.float64)
    compared = usable & np.isfinite(af)
    if compared.any():
        theirs, mine = af[compared], ours.stats["af"][compared]
        off = np.abs(theirs - mine)
        other = (off > AF_MARGIN) & (np.abs(theirs - (1.0 - mine)) < off)
        if other.sum() > ORIENTATION_SHARE * compared.sum():
            first = ours.columns["snp"][compared][other][0]
            raise InputError(f"the effect-allele frequency of {int(other.sum())} of "
                             f"{int(compared.sum())} SNPs is our other allele's (first: {first}):"
                             " its allele columns do not name the allele its β counts")
    beta = np.asarray(matched.columns["beta"], dtype=np.float64)
    compared = usable & np.isfinite(beta) & np.isfinite(ours.ols_beta)
    if compared.sum() >= MIN_ORIENTATION_SNPS:
        r = pearson(beta[compared], ours.ols_beta[compared])
        if r < 0:
            raise InputError(f"its β correlates negatively (r = {r:.3f}, "
                             f"{int(compared.sum())} SNPs) with our least-squares effect of a1: "
                             "it counts the other allele")


def place(table: formats.ResultTable, ours: OurSnps, inputs: AnalysisInputs) -> Placed:
    """``table`` on our SNPs (module docstring); an ``InputError`` when it matches none of
    them or contradicts our alleles."""
    matched = formats.match_table(table, inputs.dataset, snp_index=inputs.snp_index,
                                  snp_sd=ours.sd)
    check_orientation(matched, ours)
    stats = {name: values.copy() for name, values in ours.stats.items()}
    testable = stats["errcode"] == TESTED
    for name in RESULT_COLUMNS:
        stats[name] = np.where(testable, matched.columns[name], np.nan)
    unit = params.trait_unit(table.format.effect_unit, inputs.y, inputs.covariates)
    stats["beta"] *= unit  # β and se per unit of the phenotype as given
    stats["se"] *= unit
    stats["errcode"] = np.where(testable, matched.columns["errcode"],
                                stats["errcode"]).astype(ERRCODE_DTYPE)
    untested = stats["errcode"] != TESTED
    for name in RESULT_COLUMNS:
        stats[name][untested] = np.nan
    return Placed(stats, matched.counts)


def write_placed(out: str | os.PathLike[str], tool: str, mode: str, version: str | None,
                 inputs: AnalysisInputs, ours: OurSnps, placed: Placed,
                 parameters: Mapping[str, Any], *, origin: str, source: Mapping[str, Any]
                 ) -> None:
    """Write ``OUT.assoc.tsv`` and ``OUT.null.json`` of a placed table (module docstring):
    ``source`` describes where the table came from (file, sha256), ``parameters`` go to the
    provenance."""
    fmt_name = parameters.get("format")
    record = {
        "tool": tool, "version": version, "mode": mode, "likelihood": None,
        "gamma": None, "delta": None, "h2": None, "pve": None,
        "kinship_mean_diag": None if inputs.kinship is None else inputs.kinship_mean_diag,
        "sigma_g2": None, "sigma_e2": None, "loglik": None, "beta": None,
        "covariates": inputs.covariate_names, "n_samples": inputs.n_samples,
        "n_covariates": inputs.n_covariates, "native": {},
        "origin": origin,
        "match": {"format": fmt_name, **source, **asdict(placed.counts)},
        "provenance": provenance(tool, version, dict(parameters)),
    }
    write_result_pair(out, {**ours.columns, **placed.stats}, record)


# --------------------------------------------------------------------------- the rule's job


def staged_table(spec: Mapping[str, Any], files: Mapping[str, str | os.PathLike[str]],
                 directory: str | os.PathLike[str]) -> Path | None:
    """The local file of a results entry (``files``: the job's inputs, ``table`` or
    ``archive``), sha256-checked (``staging.verify``), taken out of its archive into
    ``directory``; ``None`` when the job has no such input (a local file not there)."""
    if spec.get("archive"):
        if "archive" not in files:
            return None
        staging.verify(files["archive"], spec.get("archive_sha256"), spec["archive"])
        path = staging.unpack(files["archive"], [spec["file"]], directory,
                              spec["archive"])[spec["file"]]
    elif "table" in files:
        path = Path(files["table"])
    else:
        return None
    staging.verify(path, spec.get("sha256"), spec["file"])
    return path


def source_name(spec: Mapping[str, Any]) -> str:
    """The file of a results entry as the config names it (``archive:member`` inside one)."""
    return f"{spec['archive']}:{spec['file']}" if spec.get("archive") else str(spec["file"])


def import_results(run: Run, spec: Mapping[str, Any], files: Mapping[str, str],
                   request: RunRequest, out: str | os.PathLike[str] | None = None
                   ) -> RunOutcome:
    """The ``import_results`` rule's job: the table of ``spec`` (a ``results`` entry) on our
    SNPs as the run ``run`` (module docstring), written to ``out`` (default ``run.prefix``)."""
    prefix = Path(run.prefix if out is None else out)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    name = source_name(spec)
    fmt = formats.resolve(spec["format"], where=f"results/{run.tool}/format")
    with tempfile.TemporaryDirectory(prefix="import-") as scratch:
        path = staged_table(spec, files, scratch)
        if path is None:
            write_skipped(prefix, run.tool, run.mode, f"results file not found: {name}")
            return read_outcome(prefix)
        sha256 = staging.sha256_of(path)
        inputs = load(request, with_kinship=False)
        ours = our_snps(inputs)
        try:
            placed = place(formats.read_table(path, fmt), ours, inputs)
        except InputError as error:
            reason = str(error).replace(str(path), name)
            write_skipped(prefix, run.tool, run.mode, f"{run.tool}: {reason}")
            return read_outcome(prefix)
    print(f"{run}: {name} (sha256 {sha256}): {placed.counts.describe()}", file=sys.stderr)
    parameters = {**request.as_dict(), "mode": run.mode, "file": name, "sha256": sha256,
                  "format": fmt.name}
    write_placed(prefix, run.tool, run.mode, spec.get("version"), inputs, ours, placed,
                 parameters, origin=ImportedTool.origin, source={"file": name,
                                                                 "sha256": sha256})
    return read_outcome(prefix)


# --------------------------------------------------------------------------- the table


MATCHING_COLUMNS = ("dataset", "tool", "mode", "origin", "status", "format", "file", "sha256",
                    *(name for name in formats.MatchCounts.__dataclass_fields__), "reason")
"""Columns of the workflow's ``matching`` table (:func:`matching_table`)."""


def matching_table(results: list[Any]) -> Any:
    """One row per run of a config-defined tool or of imported results (``lmmcompare.runs.
    RunResult``\\ s): how its table met our SNPs (``ours``: our SNPs; ``theirs``: its rows;
    ``by_id``/``by_position``: ours matched; ``flipped``: of those, rows whose effect allele is
    our a2; ``allele_mismatch``, ``complement_strand``, ``strand_ambiguous``;
    ``ours_unmatched``: ours without a partner, ``NOT_REPORTED``; ``theirs_unused``), the
    format, the file and its sha256 (a config tool's: its output, as the template names it), or
    the reason a skipped run has none."""
    import pandas as pd

    rows = []
    for result in results:
        row: dict[str, Any] = {**result.run.as_dict(), "status": result.outcome.status}
        if result.ok:
            match = result.null.get("match", {})
            row.update({key: match.get(key) for key in MATCHING_COLUMNS if key in match})
            row["origin"] = result.null.get("origin")
        else:
            row["reason"] = result.reason
        rows.append(row)
    return pd.DataFrame(rows, columns=list(MATCHING_COLUMNS))
