"""Tool runs: one identity (dataset, tool, mode), one file layout, execution and loading.

A run is identified by :class:`Run` everywhere — the workflow's rules and scripts, the tables,
the plots — never by a "tool.mode" string split again downstream or by lists zipped by position:
a script gets the runs as records and finds each run's files through :class:`Run` itself.

File layout (relative to the workflow's working directory; the rule patterns are the constants
below, with ``{dataset}``, ``{tool}``, ``{mode}`` wildcards)::

    results/assoc/{dataset}/{tool}.{mode}.assoc.tsv   per-SNP table (docs/DESIGN.md)
    results/assoc/{dataset}/{tool}.{mode}.null.json   null model, or the skipped-run record
    results/logs/assoc/{dataset}/{tool}.{mode}.log
    results/job_metrics/assoc/{dataset}/{tool}.{mode}.tsv    Snakemake's benchmark: file

A run's outcome is ``ok`` or ``skipped(reason)`` (:class:`lmmcompare.outcomes.RunOutcome`),
written by :func:`execute` and read back by :func:`load`, which every consumer uses.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exactlmm.errors import InputError
from lmmcompare import panel, registry
from lmmcompare.outcomes import RunOutcome, read_outcome, write_skipped
from lmmcompare.runners import RunRequest, SkipRun, ToolFailed

if TYPE_CHECKING:  # pandas is a workflow dependency; imported when a table is read
    import pandas as pd

ASSOC_PREFIX = "results/assoc/{dataset}/{tool}.{mode}"
ASSOC_LOG = "results/logs/assoc/{dataset}/{tool}.{mode}.log"
ASSOC_JOB_METRICS = "results/job_metrics/assoc/{dataset}/{tool}.{mode}.tsv"
# Our scans in chunks (scan_chunks > 1): the saved model of a dataset (MODEL_OF_MODE of
# lmmcompare.runners.exactlmm: kinship or loco) and chunk I of N of a mode's scan.
MODEL_PREFIX = "results/models/{dataset}/exactlmm.{model}"
MODEL_JOB_METRICS = "results/job_metrics/exactlmm_fit/{dataset}/{model}.tsv"
CHUNK_PREFIX = "results/assoc/{dataset}/chunks/exactlmm.{mode}.{chunk}of{n_chunks}"
CHUNK_JOB_METRICS = "results/job_metrics/exactlmm_chunk/{dataset}/{mode}.{chunk}of{n_chunks}.tsv"
#: The file in a timed child's scratch directory that tells the parent how the child failed.
CHILD_ERROR = "error.txt"
#: A failed run's reason is cut to this many characters (the log holds the rest).
MAX_REASON = 500


@dataclass(frozen=True, order=True)
class Run:
    """One tool run: ``tool`` in ``mode`` on ``dataset``."""

    dataset: str
    tool: str
    mode: str

    @property
    def prefix(self) -> str:
        """Output prefix (relative to the working directory)."""
        return ASSOC_PREFIX.format(**asdict(self))

    @property
    def assoc_tsv(self) -> str:
        return f"{self.prefix}.assoc.tsv"

    @property
    def null_json(self) -> str:
        return f"{self.prefix}.null.json"

    @property
    def job_metrics(self) -> str:
        """The run's job metrics: the file of Snakemake's ``benchmark:`` directive."""
        return ASSOC_JOB_METRICS.format(**asdict(self))

    @property
    def log(self) -> str:
        return ASSOC_LOG.format(**asdict(self))

    def as_dict(self) -> dict[str, str]:
        """``{"dataset", "tool", "mode"}`` (how rules pass runs to scripts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Run:
        return cls(str(record["dataset"]), str(record["tool"]), str(record["mode"]))

    def __str__(self) -> str:
        return f"{self.dataset}: {self.tool} {self.mode}"


def chunk_prefixes(dataset: str, mode: str, n_chunks: int) -> list[str]:
    """The prefixes of chunks 1..N of our scan of ``dataset`` in ``mode`` (``scan_chunks``)."""
    return [CHUNK_PREFIX.format(dataset=dataset, mode=mode, chunk=i, n_chunks=n_chunks)
            for i in range(1, n_chunks + 1)]


def chunked_scan_job_metrics(dataset: str, mode: str, n_chunks: int) -> list[str]:
    """The job metrics files of a chunked scan's jobs: its model's fit and every chunk."""
    from lmmcompare.runners.exactlmm import MODEL_OF_MODE

    model = MODEL_JOB_METRICS.format(dataset=dataset, model=MODEL_OF_MODE[mode])
    return [model, *(CHUNK_JOB_METRICS.format(dataset=dataset, mode=mode, chunk=i,
                                            n_chunks=n_chunks) for i in range(1, n_chunks + 1))]


# ----------------------------------------------------------------------- runs of a config


def configured_modes(config: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Modes each tool run here runs in (the panel's registry and config tools,
    ``lmmcompare.panel``): a registry tool's ``tools:`` entry, else every mode it has; a config
    tool's modes.  A ``tools:`` entry that names no registry tool and defines none (no
    ``command``) is an ``InputError``."""
    given = config["tools"]
    unknown = sorted(name for name, spec in given.items()
                     if name not in registry.TOOLS and "command" not in spec)
    if unknown:
        raise InputError(
            f"config error at tools: unknown tool {unknown[0]!r}; the registry has "
            f"{', '.join(registry.TOOLS)} (a tool of your own needs a command)"
        )
    tools = panel.of(config)
    return {
        name: tuple(given[name]["modes"]) if name in given else tools[name].modes
        for name in tools.runnable()
    }


def configured_time_limits(config: Mapping[str, Any]) -> dict[str, float | None]:
    """Seconds each tool's runs may take (the validated config's ``tools: {name:
    {time_limit}}``; ``None`` for no limit, also for a tool the config leaves out): a run past it
    is stopped and recorded as timed out."""
    given = config["tools"]
    return {name: given[name]["time_limit"] if name in given else None
            for name in panel.of(config).runnable()}


def _skipped_in_config(spec: Mapping[str, Any], tool: str, mode: str) -> bool:
    entries = set(spec["skip"])
    return tool in entries or f"{tool}:{mode}" in entries


def _all_runs(config: Mapping[str, Any]) -> Iterable[tuple[Run, bool]]:
    from lmmcompare.imported import imported_runs

    modes = configured_modes(config)
    for dataset, spec in config["datasets"].items():
        for tool, tool_modes in modes.items():
            for mode in tool_modes:
                yield Run(dataset, tool, mode), _skipped_in_config(spec, tool, mode)
    for run in imported_runs(config["datasets"]):
        yield run, _skipped_in_config(config["datasets"][run.dataset], run.tool, run.mode)


def scheduled_runs(config: Mapping[str, Any]) -> list[Run]:
    """Every run the config asks for and does not skip, in config order of datasets and panel
    order of tools (the imported tables last)."""
    return [run for run, skipped in _all_runs(config) if not skipped]


def runs_skipped_in_config(config: Mapping[str, Any]) -> list[Run]:
    """Runs a dataset's ``skip:`` list removes (reported as skipped, never scheduled)."""
    return [run for run, skipped in _all_runs(config) if skipped]


# ----------------------------------------------------------------------- execution


def execute(
    run: Run, request: RunRequest, out: str | os.PathLike[str] | None = None,
    time_limit: float | None = None, tool: registry.Tool | None = None,
) -> RunOutcome:
    """Run ``run.tool`` in ``run.mode`` on ``request``; return its outcome.

    ``tool`` is the tool's entry (default: the registry's; a config-defined tool's comes from
    the config's panel, ``lmmcompare.panel``).  The outputs go to ``out`` (default
    ``run.prefix``).  A mode the tool does not have and a
    tool that is not installed here (both from its registry entry: ``Tool.modes``,
    ``Tool.needs``) and a :class:`~lmmcompare.runners.SkipRun` raised by the runner (a dataset
    it cannot take) are written as a skipped run with the reason.  A peer that fails — its
    runner raises anything but ``SkipRun`` and ``InputError``, or its child process dies — is a
    skipped run too, reason "failed: …" and ``"failed": true`` in its record
    (``RunOutcome.failed``; the traceback is on stderr, the job's log): one peer's crash does
    not stop the workflow, and a CI tolerance on it fails loudly ("matched nothing").  Bad
    input (``InputError``) and a failure of ours (:data:`lmmcompare.registry.REFERENCE`, the
    centre of every comparison) propagate: the job fails.

    Without ``time_limit`` the tool runs in this process.  With one (seconds), it runs in a
    forked child process in a session of its own, so that a tool's own programs are stopped
    with it: a run still going after ``time_limit`` seconds is killed (the whole session) and
    written as skipped, "timed out", with the limit in its record (``RunOutcome.timed_out``);
    its temporary files live in a directory removed afterwards.  The child's error comes back
    as the same exception kind: ``InputError`` as itself, any other as
    :class:`~lmmcompare.runners.ToolFailed`.
    """
    tool = registry.get(run.tool) if tool is None else tool
    prefix = Path(run.prefix if out is None else out)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    if run.mode not in tool.modes:
        write_skipped(prefix, tool.name, run.mode, tool.why_not(run.mode))
    elif (missing := tool.unavailable()) is not None:
        write_skipped(prefix, tool.name, run.mode, missing)
    elif time_limit is None:
        _run_tool(tool, request, run.mode, prefix)
    else:
        _run_tool_within(time_limit, tool, request, run.mode, prefix)
    return read_outcome(prefix)


def _run_tool(tool: registry.Tool, request: RunRequest, mode: str, prefix: Path) -> None:
    """The runner on ``request``; a ``SkipRun`` becomes a skipped run with its reason, and so
    does a peer's failure (:func:`execute`)."""
    try:
        tool.load_runner().run(request, mode, prefix)
    except SkipRun as reason:
        write_skipped(prefix, tool.name, mode, str(reason))
    except InputError:
        raise
    except Exception as error:
        if tool.name == registry.REFERENCE:
            raise
        traceback.print_exc()
        _write_failed(prefix, tool.name, mode, _one_line(error))


def _one_line(error: BaseException) -> str:
    """An exception as one line: its message (a ``ToolFailed`` carries the tool's own words),
    or its type when the message is empty."""
    text = " ".join(str(error).split())
    if isinstance(error, ToolFailed):
        return text or "the tool failed"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _write_failed(prefix: Path, tool: str, mode: str, why: str) -> None:
    """A peer's failed run, written as skipped with ``"failed": true``; the log says so."""
    reason = f"failed: {why}"
    print(f"{tool} {mode}: {reason} (written as a skipped run)", file=sys.stderr)
    write_skipped(prefix, tool, mode, reason[:MAX_REASON], failed=True)


def _run_tool_within(
    time_limit: float, tool: registry.Tool, request: RunRequest, mode: str, prefix: Path
) -> None:
    """:func:`_run_tool` in a forked child of its own session, killed after ``time_limit`` s."""
    if not time_limit > 0:
        raise ValueError(f"time_limit must be positive seconds, got {time_limit!r}")
    scratch = tempfile.mkdtemp(prefix=f".{prefix.name}.", suffix=".tmp", dir=prefix.parent)
    child = multiprocessing.get_context("fork").Process(
        target=_child_run, args=(scratch, tool, request, mode, prefix), daemon=False
    )
    try:
        child.start()
        child.join(time_limit)
        if child.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)  # the child and all it started
            child.kill()  # in case the limit came before the child's setsid
            child.join()
            write_skipped(prefix, tool.name, mode,
                          f"timed out: stopped at the time limit of {time_limit:g} s",
                          time_limit=time_limit)
        elif child.exitcode != 0:
            _child_failed(Path(scratch) / CHILD_ERROR, child.exitcode, tool, mode, prefix)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _child_failed(
    error_file: Path, exitcode: int, tool: registry.Tool, mode: str, prefix: Path
) -> None:
    """A child of :func:`_run_tool_within` that did not finish: its ``InputError`` raised again
    here, a peer written as a failed run, ours raised as :class:`ToolFailed`."""
    kind, _, message = (error_file.read_text() if error_file.exists() else "").partition("\n")
    if kind == "InputError":
        raise InputError(message)
    how = (f"exit status {exitcode}" if exitcode > 0
           else f"killed by signal {-exitcode} ({signal.Signals(-exitcode).name})")
    why = f"{message} ({how})" if message else f"the run died ({how})"
    if tool.name == registry.REFERENCE:
        raise ToolFailed(f"{tool.name} {mode}: {why}; its error is in the log above")
    _write_failed(prefix, tool.name, mode, why)


def _child_run(
    scratch: str, tool: registry.Tool, request: RunRequest, mode: str, prefix: Path
) -> None:
    """The body of the child of :func:`_run_tool_within`: a session of its own (so the parent
    can kill it with everything it started), temporary files under ``scratch``."""
    os.setsid()
    os.environ["TMPDIR"] = scratch
    tempfile.tempdir = scratch
    try:
        _run_tool(tool, request, mode, prefix)
    except BaseException as error:  # told to the parent: the kind and one line
        told = (f"InputError\n{' '.join(str(error).split())}" if isinstance(error, InputError)
                else f"failed\n{_one_line(error)}")
        Path(scratch, CHILD_ERROR).write_text(told)
        raise


# ----------------------------------------------------------------------- loading


@dataclass(frozen=True, eq=False)
class RunResult:
    """A run and its outcome; the association table is read when first used."""

    run: Run
    outcome: RunOutcome
    directory: Path

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    @property
    def reason(self) -> str | None:
        """Why the run was skipped (``None`` when it ran)."""
        return self.outcome.reason

    @property
    def null(self) -> dict[str, Any]:
        """The null-model record (an ``InputError`` for a skipped run)."""
        if self.outcome.null is None:
            raise InputError(f"{self.run} was skipped ({self.reason}): no null model")
        return self.outcome.null

    @property
    def gamma(self) -> float:
        """The null fit's γ, NaN for a method that estimates no variance ratio (``null``)."""
        value = self.null["gamma"]
        return math.nan if value is None else float(value)

    @property
    def dataset(self) -> str:
        return self.run.dataset

    @property
    def tool(self) -> str:
        return self.run.tool

    @property
    def mode(self) -> str:
        return self.run.mode

    @cached_property
    def assoc(self) -> pd.DataFrame:
        """The ``.assoc.tsv`` table (``exactlmm.io.results.read_assoc_tsv``; SNP ids unique)."""
        return read_assoc_frame(self.directory / self.run.assoc_tsv)


def read_assoc_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """An ``.assoc.tsv`` file as a DataFrame; SNP ids must be unique (they match tools)."""
    import pandas as pd

    from exactlmm.io.results import read_assoc_tsv

    table = pd.DataFrame(read_assoc_tsv(path))
    duplicated = table["snp"].duplicated()
    if duplicated.any():
        snp = table["snp"][duplicated].iloc[0]
        raise InputError(f"SNP id {snp!r} occurs more than once", path=path)
    return table


def load(run: Run, directory: str | os.PathLike[str] = ".") -> RunResult:
    """The outcome of ``run`` from its files under ``directory`` (the working directory)."""
    directory = Path(directory)
    outcome = read_outcome(directory / run.prefix)
    if outcome.tool != run.tool or (outcome.mode is not None and outcome.mode != run.mode):
        held = " ".join(str(part) for part in (outcome.tool, outcome.mode) if part is not None)
        raise InputError(
            f"holds a run of {held}, expected {run.tool} {run.mode}",
            path=directory / run.null_json,
        )
    return RunResult(run, outcome, directory)


def load_all(runs: Iterable[Run | Mapping[str, Any]], directory: str | os.PathLike[str] = "."
             ) -> list[RunResult]:
    """:func:`load` for every run (records ``{"dataset", "tool", "mode"}`` are accepted)."""
    return [load(run if isinstance(run, Run) else Run.from_dict(run), directory) for run in runs]
