"""The one skeleton every runner of an external program goes through.

A runner of a command-line tool keeps only what is its own — the input files it writes, its
command line, the parsing of its outputs and its spot checks — and hands the rest to
:func:`program_run`::

    with program_run(request, "gemma") as work:          # a temporary working directory
        options = write_input_set(inputs, work.directory, ...)
        work.run([*options, "-lmm", "4", "-o", "result"],  # the program, in that directory
                 outputs=["output/result.assoc.txt", "output/result.log.txt"])
        table = parse_assoc(work.path("output/result.assoc.txt"))

What the skeleton does, the same for every program:

* **Which program.**  The tool's registry entry says what it needs (``registry.Needs``): its
  program is the first of ``needs.programs``, a name on PATH or a path, or a path inside the
  tool's own virtual environment (``needs.venv``: its ``bin/python`` with a script or
  ``-m package`` as the first arguments works the same way).  Absent, the run is skipped
  (``ToolNotInstalled``, with the entry's install hint).
* **Working directory.**  A temporary directory, removed afterwards; the program runs in it, so
  its arguments name files by their bare names (and the provenance records no temporary path).
* **Threads.**  The job's threads (``request.threads``) in the variables Snakemake sets for a
  job (:data:`THREAD_VARIABLES`), then the runner's own ``env`` (e.g. one BLAS thread for a tool
  whose bytes depend on it).
* **Time limit.**  The program runs in the run's process session: a run past its time limit
  (``lmmcompare.runs.execute``) is stopped with every program it started.
* **Log.**  stdout and stderr go to files in the working directory, then into the job's log
  (this process's stderr), progress-bar lines left out; :class:`Console` holds both.
* **Keep-raw.**  With ``request.keep_raw``, the expected outputs that exist and the console
  (``console.txt``) are copied there, before anything is checked (so a failed run keeps them).
* **Exit status.**  A non-zero status or a missing output is a :class:`ToolFailed` carrying the
  end of the output; a ``refusals`` message on stderr (the tool declining this dataset, e.g.
  BOLT-LMM's "Heritability estimate is close to 0") makes it a :class:`SkipRun` with the tool's
  words instead; a ``fatal_marks`` line is a failure even with status 0.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lmmcompare import registry
from lmmcompare.runners import RunRequest, SkipRun, ToolFailed, ToolNotInstalled

THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
"""The thread counts Snakemake sets to a job's threads (``snakemake.shell``): a program run
outside a job gets the request's threads the same way."""

CONSOLE = "console.txt"
"""Name of the program's console output (stdout, then stderr) in a keep-raw directory."""


def output_tail(text: str, lines: int = 8, progress_marks: Sequence[str] = ()) -> str:
    """The last ``lines`` non-empty lines of a program's output, lines holding one of
    ``progress_marks`` (progress bars) left out, joined with ' | ': a one-line reason."""
    kept = [line.strip() for line in text.splitlines()
            if line.strip() and not any(mark in line for mark in progress_marks)]
    return " | ".join(kept[-lines:])


@dataclass(frozen=True)
class Console:
    """What a program printed, and its exit status."""

    stdout: str
    stderr: str
    returncode: int

    @property
    def text(self) -> str:
        """stdout then stderr."""
        return self.stdout + self.stderr


@dataclass(frozen=True)
class ProgramWork:
    """One run of a program in its temporary working directory (:func:`program_run`)."""

    request: RunRequest
    tool: registry.Tool
    program: str
    directory: Path
    env: Mapping[str, str]

    def path(self, name: str) -> Path:
        """A file of the working directory."""
        return self.directory / name

    def run(self, arguments: Sequence[str], outputs: Sequence[str], *,
            progress_marks: Sequence[str] = (), refusals: Sequence[str] = (),
            fatal_marks: Sequence[str] = (), tail_lines: int = 8) -> Console:
        """Run the program with ``arguments`` in the working directory; return its console.

        ``outputs`` are the files (relative to the directory) it must write; ``progress_marks``
        mark console lines left out of the log and of a failure's reason; ``refusals`` and
        ``fatal_marks`` as in the module docstring; ``tail_lines`` lines of output make a
        failure's reason."""
        name = Path(self.program).name
        with open(self.path(".stdout"), "w") as out, open(self.path(".stderr"), "w") as err:
            status = subprocess.run([self.program, *arguments], cwd=self.directory,
                                    stdout=out, stderr=err, env=dict(self.env)).returncode
        console = Console(self.path(".stdout").read_text(errors="replace"),
                          self.path(".stderr").read_text(errors="replace"), status)
        print(f"{name} {' '.join(arguments)}: exit status {status}", file=sys.stderr)
        for line in console.text.splitlines():
            if line.strip() and not any(mark in line for mark in progress_marks):
                print(f"  {line.rstrip()}", file=sys.stderr)
        self._keep_raw(outputs, console)
        if status != 0 or not all(self.path(output).is_file() for output in outputs):
            refusal = next((line for line in console.stderr.splitlines()
                            if any(message in line for message in refusals)), None)
            if refusal is not None:
                raise SkipRun(f"{self.tool.label}: {refusal.replace('ERROR:', '').strip()}")
            tail = output_tail(console.text, tail_lines, progress_marks)
            raise ToolFailed(f"{name} exited with status {status}: {tail}")
        fatal = next((line for line in console.text.splitlines()
                      if any(mark in line for mark in fatal_marks)), None)
        if fatal is not None:
            raise ToolFailed(f"{name} reported: {fatal.strip()}")
        return console

    def debian_version(self, package: str) -> str | None:
        """The version of the Debian ``package`` when the program is the packaged one
        (``/usr/bin/NAME``), else ``None``: the version of a tool that prints none."""
        if Path(self.program).resolve() != Path("/usr/bin") / Path(self.program).name:
            return None
        try:
            query = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                                   capture_output=True, text=True)
        except OSError:
            return None
        return (query.stdout.strip() or None) if query.returncode == 0 else None

    def _keep_raw(self, outputs: Sequence[str], console: Console) -> None:
        if self.request.keep_raw is None:
            return
        raw = Path(self.request.keep_raw)
        raw.mkdir(parents=True, exist_ok=True)
        for output in outputs:
            if self.path(output).is_file():
                shutil.copyfile(self.path(output), raw / Path(output).name)
        (raw / CONSOLE).write_text(console.text)


def find_program(tool: registry.Tool) -> str:
    """Path of the tool's program (the first of its ``needs.programs``), or
    ``ToolNotInstalled`` with the registry's reason."""
    if not tool.needs.programs:
        raise ValueError(f"{tool.name}: its registry entry needs no program")
    reason = tool.unavailable()
    if reason is not None:
        raise ToolNotInstalled(reason)
    return str(tool.needs.program())


@contextlib.contextmanager
def program_run(request: RunRequest, tool: str | registry.Tool,
                env: Mapping[str, str] | None = None) -> Iterator[ProgramWork]:
    """A temporary working directory for one run of ``tool``'s program (``tool``: a registry
    name, or an entry); ``env`` is added to the environment after the job's threads (module
    docstring)."""
    entry = registry.get(tool) if isinstance(tool, str) else tool
    program = find_program(entry)
    threads = str(max(1, int(request.threads)))
    environment = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, threads), **(env or {})}
    with tempfile.TemporaryDirectory(prefix=f"{entry.name}-") as directory:
        yield ProgramWork(request, entry, program, Path(directory), environment)
