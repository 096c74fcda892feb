"""Tools defined in the workflow's config: a command template, its output and its format.

A ``tools:`` entry with a ``command`` (``workflow/schemas/config.schema.yaml``, ``config_tool``)
is a tool of the panel (:mod:`lmmcompare.panel`) like a registry entry — a
:class:`ConfigTool` — and its runs go through the same path: the ``assoc`` rule,
``lmmcompare.runs.execute`` (modes, "not installed", the time limit), the runner skeleton
(``lmmcompare.runners.program``: a temporary working directory, the job's threads, the log,
keep-raw) and then every table, plot and tolerance.  What is its own is here:

1. **Inputs.**  The placeholders of the command and of the output path are filled from the
   run's inputs (:data:`PLACEHOLDERS`; their exact formats are documented in the schema,
   ``$defs/placeholders``, which :func:`check_schema_follows_placeholders` keeps in step).  Only
   the files the command names are written, into the working directory.  ``{{`` and ``}}``
   are literal braces (as in Snakemake's shell commands).
2. **Running.**  ``sh -c COMMAND`` in the working directory.
3. **Reading.**  The output through its format (:func:`lmmcompare.formats.read_table`: a
   preset or a column map), put on our SNPs by :func:`lmmcompare.imported.place` (by id, then
   chromosome:position:alleles; β mirrored when the table's effect allele is our a2; alleles
   and frequencies checked against ours; a SNP without a row ``NOT_REPORTED``).

A command the harness cannot start (an unknown placeholder) is a skipped run with the one-line
reason (:class:`~lmmcompare.runners.SkipRun`); one that fails — a non-zero exit, a missing
output, a table that does not read or that matches none of our SNPs, alleles that contradict
ours — raises :class:`~lmmcompare.runners.ToolFailed`, which ``lmmcompare.runs.execute`` writes
as a skipped run "failed: …" (``"failed": true``), never a failed workflow; a run past its
``time_limit`` is skipped as "timed out".  A config tool
reports no null model: its ``null.json`` has ``gamma: null`` (and no likelihood), so it takes
part in every p-value and effect-size comparison and in no variance-ratio one.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from exactlmm.errors import InputError
from exactlmm.io.grm import write_grm
from exactlmm.io.kinship_txt import write_kinship
from exactlmm.io.results import TESTED
from exactlmm.pipeline import AnalysisInputs
from lmmcompare import formats, registry
from lmmcompare.runners import RunRequest, SkipRun, ToolFailed
from lmmcompare.runners._common import load
from lmmcompare.runners.input_files import id_list, sample_table, write_plink_subset
from lmmcompare.runners.program import ProgramWork, program_run

SHELL = "sh"
"""The shell that runs a command (``sh -c COMMAND``)."""

KINSHIP_PLACEHOLDERS = ("kinship", "grm")
"""Placeholders that need the kinship file loaded."""

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def _no_null_model(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """A config tool's table has no null model to convert (module docstring)."""
    raise ValueError("a tool defined in the config reports no null model")


@dataclass(frozen=True)
class ConfigTool(registry.Tool):
    """A tool defined in the config (module docstring); the :class:`registry.Tool` fields
    plus its ``command`` and ``output`` templates, the ``result_format`` of its output, the
    shell command that prints its ``version`` (or ``None``) and its ``seed``."""

    origin: ClassVar[str] = "config"

    command: str = ""
    output: str = ""
    result_format: formats.Preset | None = field(default=None, compare=False)
    version_command: str | None = None
    seed: int = 0

    @property
    def env(self) -> str:
        """A config tool runs in the harness's environment (its program must be there)."""
        return "envs/exactlmm.yaml"

    def load_runner(self) -> _Runner:
        """The runner of this tool (``run(request, mode, out)``, as a runner module's)."""
        return _Runner(self)


@dataclass(frozen=True)
class _Runner:
    tool: ConfigTool

    def run(self, request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
        run(self.tool, request, mode, out)


def program_of(command: str) -> str | None:
    """The program a command starts (its first word after ``VAR=value`` assignments), or
    ``None`` when that is not a plain name or path (a placeholder, a shell construct)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for word in words:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
            continue
        return word if re.fullmatch(r"[A-Za-z0-9_./+-]+", word) else None
    return None


def tools_in_config(config: Mapping[str, Any]) -> list[tuple[str, ConfigTool]]:
    """The tools a (validated) config defines, each with its key (``tools/<name>``); a format
    that does not resolve is a ``ConfigError`` naming the key."""
    from lmmcompare.workflow_config import ConfigError

    out = []
    for name, spec in config["tools"].items():
        if "command" not in spec:
            continue
        where = f"tools/{name}"
        try:
            fmt = formats.resolve(spec["format"], where=f"{where}/format")
        except InputError as error:
            raise ConfigError(f"{where}/format",
                              str(error).removeprefix(f"{where}/format: ")) from None
        modes = tuple(mode for mode in registry.MODES if mode in spec["modes"])
        program = program_of(spec["command"])
        out.append((where, ConfigTool(
            name=name, label=name, modes=modes,
            statistics=tuple(s for s in registry.STATISTICS if s in fmt.statistics),
            reference_statistics=registry.peer_statistic_references(fmt.statistics),
            exact=bool(spec["exact"]), runner=__name__, to_standard=_no_null_model,
            summary=f"defined in the config: {spec['command']} (output {spec['output']}, "
                    f"format {fmt.name})",
            mode_gaps={mode: f"its config entry ({where}/modes) does not list it"
                       for mode in registry.MODES if mode not in modes},
            reference_modes=({registry.NO_KINSHIP_MODE: "fixed"}
                             if registry.NO_KINSHIP_MODE in modes else {}),
            needs=registry.Needs(programs=(SHELL, *([program] if program else [])),
                                 install=f"install it, or change {where}/command"),
            command=spec["command"], output=spec["output"], result_format=fmt,
            version_command=spec["version"], seed=int(spec["seed"]),
        )))
    return out


# ----------------------------------------------------------------------- placeholders


class InputFiles:
    """The values of the placeholders of one run, each file written into the working
    directory when first asked for (:data:`PLACEHOLDERS`)."""

    def __init__(self, work: ProgramWork, inputs: AnalysisInputs, tested: np.ndarray,
                 seed: int, mode: str) -> None:
        self.work = work
        self.directory = work.directory.resolve()
        self.inputs = inputs
        self.tested = tested
        self.seed = seed
        self.mode = mode
        self.values: dict[str, str] = {}

    def value(self, name: str) -> str:
        """The value of placeholder ``name`` (``KeyError`` for an unknown one)."""
        if name not in self.values:
            self.values[name] = PLACEHOLDERS[name](self)
        return self.values[name]

    def path(self, name: str) -> str:
        return str(self.directory / name)

    # the writers (one per placeholder; PLACEHOLDERS maps names to them)

    def bfile(self) -> str:
        ds, samples = self.inputs.dataset, self.inputs.samples.fam_index
        fields = np.column_stack([ds.fid[samples], ds.iid[samples]])
        lines = [f"{f} {i} 0 0 0 {y!r}" for (f, i), y in zip(fields.tolist(),
                                                             self.inputs.y.tolist(), strict=True)]
        write_plink_subset(ds, samples, self.inputs.snp_index[self.tested], self.path("data"),
                           lines)
        return self.path("data")

    def plink_file(self, ext: str) -> str:
        return f"{self.value('bfile')}.{ext}"

    def pheno(self) -> str:
        fid, iid = self.inputs.sample_ids.T.tolist()
        Path(self.path("pheno.txt")).write_text(
            sample_table(fid, iid, self.inputs.y, ("FID", "IID", "pheno")))
        return self.path("pheno.txt")

    def pheno_plain(self) -> str:
        Path(self.path("pheno_plain.txt")).write_text(
            "".join(f"{value!r}\n" for value in self.inputs.y.tolist()))
        return self.path("pheno_plain.txt")

    def covar(self) -> str:
        fid, iid = self.inputs.sample_ids.T.tolist()
        names = [re.sub(r"[^A-Za-z0-9_]", "_", name)
                 for name in self.inputs.covariate_names[1:]]
        Path(self.path("covar.txt")).write_text(sample_table(
            fid, iid, self.inputs.samples.covariates, ("FID", "IID", *names)))
        return self.path("covar.txt")

    def covar_plain(self) -> str:
        rows = self.inputs.covariates.tolist()  # the intercept column first
        Path(self.path("covar_plain.txt")).write_text(
            "".join(" ".join(map(repr, row)) + "\n" for row in rows))
        return self.path("covar_plain.txt")

    def kinship(self) -> str:
        write_kinship(self.path("kinship.txt"), self.inputs.kinship)
        return self.path("kinship.txt")

    def grm(self) -> str:
        fid, iid = self.inputs.sample_ids.T
        write_grm(self.path("kinship"), self.inputs.kinship, fid, iid, int(self.tested.size))
        return self.path("kinship")

    def snplist(self) -> str:
        ids = self.inputs.dataset.snp[self.inputs.snp_index[self.tested]]
        Path(self.path("snps.txt")).write_text(id_list(ids))
        return self.path("snps.txt")


PLACEHOLDERS: Mapping[str, Callable[[InputFiles], str]] = {
    "bfile": InputFiles.bfile,
    "bed": lambda files: files.plink_file("bed"),
    "bim": lambda files: files.plink_file("bim"),
    "fam": lambda files: files.plink_file("fam"),
    "pheno": InputFiles.pheno,
    "pheno_plain": InputFiles.pheno_plain,
    "covar": InputFiles.covar,
    "covar_plain": InputFiles.covar_plain,
    "kinship": InputFiles.kinship,
    "grm": InputFiles.grm,
    "snplist": InputFiles.snplist,
    "threads": lambda files: str(max(1, int(files.work.request.threads))),
    "workdir": lambda files: str(files.directory),
    "seed": lambda files: str(files.seed),
    "mode": lambda files: files.mode,
}
"""Placeholder → how its value is made; what each holds, exactly, is its description in the
schema (``$defs/placeholders``)."""


def placeholders_in(template: str) -> list[str]:
    """The placeholder names of a template, in order (``{{``/``}}`` are literal braces)."""
    return [match.group(1) for match in _PLACEHOLDER.finditer(template)
            if match.group(1) is not None]


def fill(template: str, value: Callable[[str], str], what: str) -> str:
    """``template`` with each ``{name}`` replaced by ``value(name)`` and ``{{``/``}}`` by one
    brace; an unknown name is a :class:`SkipRun` naming it and the known ones."""
    unknown = [name for name in placeholders_in(template) if name not in PLACEHOLDERS]
    if unknown:
        raise SkipRun(f"unknown placeholder {{{unknown[0]}}} in the {what}; the placeholders "
                      f"are {', '.join('{' + name + '}' for name in PLACEHOLDERS)}")

    def replace(match: re.Match) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        return value(match.group(1))

    return _PLACEHOLDER.sub(replace, template)


def check_schema_follows_placeholders(config_schema: Mapping[str, Any]) -> None:
    """The schema documents exactly the placeholders this module fills, in its order
    (``$defs/placeholders``, the one home of their descriptions); a ``RuntimeError`` names the
    difference."""
    documented = tuple(config_schema["$defs"]["placeholders"]["properties"])
    if documented != tuple(PLACEHOLDERS):
        raise RuntimeError(f"the schema's placeholders {list(documented)} are not "
                           f"lmmcompare.config_tools.PLACEHOLDERS {list(PLACEHOLDERS)}")


# ----------------------------------------------------------------------- a run


def version_of(command: str | None, work: ProgramWork) -> str | None:
    """What ``command`` (run by the shell in the working directory) prints, on one line, or
    ``None`` without a command or when it prints nothing."""
    if not command:
        return None
    done = subprocess.run([SHELL, "-c", command], cwd=work.directory, env=dict(work.env),
                          capture_output=True, text=True, errors="replace")
    text = " | ".join(line.strip() for line in (done.stdout + done.stderr).splitlines()
                      if line.strip())
    return text or None


def run(tool: ConfigTool, request: RunRequest, mode: str, out: str | os.PathLike[str]) -> None:
    """One run of a config tool (module docstring); writes ``out.assoc.tsv`` and
    ``out.null.json``."""
    from lmmcompare.imported import our_snps, place, write_placed

    used = set(placeholders_in(tool.command) + placeholders_in(tool.output))
    inputs = load(request, with_kinship=bool(used & set(KINSHIP_PLACEHOLDERS)))
    ours = our_snps(inputs)
    with program_run(request, tool) as work:
        files = InputFiles(work, inputs, np.flatnonzero(ours.stats["errcode"] == TESTED),
                           tool.seed, mode)
        command = fill(tool.command, files.value, "command")
        output = fill(tool.output, files.value, "output")
        version = version_of(tool.version_command, work)
        try:
            work.run(["-c", command], [output])
        except ToolFailed as failure:
            reason = str(failure)
            if re.match(r"\S+ exited with status 0:", reason):
                reason = f"the command exited with status 0 but wrote no {tool.output}"
            raise ToolFailed(f"{tool.name}: {reason}") from None
        try:
            table = formats.read_table(work.path(output), tool.result_format)
        except InputError as error:
            raise ToolFailed(f"{tool.name}: "
                             f"{str(error).replace(str(files.directory), '{workdir}')}") from None
        output_sha256 = hashlib.sha256(work.path(output).read_bytes()).hexdigest()
    try:
        placed = place(table, ours, inputs)
    except InputError as error:
        raise ToolFailed(f"{tool.name}: {str(error).replace(str(files.directory), '{workdir}')}"
                         ) from None
    print(f"{tool.name}: {placed.counts.describe()}", file=sys.stderr)
    parameters = {**request.as_dict(), "mode": mode, "command": tool.command,
                  "output": tool.output, "format": tool.result_format.name, "seed": tool.seed,
                  "placeholders": sorted(used)}
    write_placed(out, tool.name, mode, version, inputs, ours, placed, parameters,
                 origin=tool.origin, source={"file": tool.output, "sha256": output_sha256})
