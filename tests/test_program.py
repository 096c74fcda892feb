"""The runner skeleton (lmmcompare.runners.program) on fake programs: what any command-line tool
gets — its working directory, the job's threads, the log, keep-raw, exit status to a typed
failure or skip, and a skipped run when the program is not installed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lmmcompare import registry
from lmmcompare.runners import RunRequest, SkipRun, ToolFailed, ToolNotInstalled
from lmmcompare.runners.program import CONSOLE, THREAD_VARIABLES, program_run

REQUEST = RunRequest("b", None, 1, None, "k", "s", threads=3)


def _tool(tmp_path: Path, script: str, name: str = "fakeprog") -> registry.Tool:
    """A registry entry (GEMMA's, renamed) whose program is a shell script."""
    program = tmp_path / "bin" / name
    program.parent.mkdir(exist_ok=True)
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(0o755)
    return dataclasses.replace(registry.get("gemma"), name=name, label="Fake",
                               needs=registry.Needs(programs=(str(program),), install="get it"))


def test_a_run_writes_in_its_directory_with_the_jobs_threads(tmp_path, capsys):
    tool = _tool(tmp_path, 'echo "$1 $OMP_NUM_THREADS $OPENBLAS_NUM_THREADS $X" > out.txt\n'
                           'echo "progress 10%"\necho working >&2\n')
    with program_run(REQUEST, tool, env={"OPENBLAS_NUM_THREADS": "1", "X": "x"}) as work:
        console = work.run(["hello"], ["out.txt"], progress_marks=("%",))
        assert work.path("out.txt").read_text() == "hello 3 1 x\n"
        directory = work.directory
    assert not directory.exists()
    assert console.returncode == 0 and console.stderr == "working\n"
    log = capsys.readouterr().err
    assert "fakeprog hello: exit status 0" in log and "working" in log and "10%" not in log
    assert set(THREAD_VARIABLES) >= {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}


def test_keep_raw_copies_outputs_and_console_even_when_the_run_fails(tmp_path):
    tool = _tool(tmp_path, "echo partial > a.txt\necho 'bad input' >&2\nexit 3\n")
    request = dataclasses.replace(REQUEST, keep_raw=str(tmp_path / "raw"))
    with pytest.raises(ToolFailed, match=r"^fakeprog exited with status 3: bad input$"), \
            program_run(request, tool) as work:
        work.run([], ["a.txt", "b.txt"])
    assert (tmp_path / "raw" / "a.txt").read_text() == "partial\n"
    assert (tmp_path / "raw" / CONSOLE).read_text() == "bad input\n"
    assert not (tmp_path / "raw" / "b.txt").exists()
    assert "keep_raw" not in request.as_dict()


def test_a_missing_output_and_a_fatal_line_are_failures(tmp_path):
    tool = _tool(tmp_path, "echo 'FATAL ERROR: no eigenvalues'\ntouch a.txt\n")
    with pytest.raises(ToolFailed, match="status 0: FATAL ERROR"), \
            program_run(REQUEST, tool) as work:
        work.run([], ["a.txt", "b.txt"])
    with pytest.raises(ToolFailed, match=r"^fakeprog reported: FATAL ERROR: no eigenvalues$"), \
            program_run(REQUEST, tool) as work:
        work.run([], ["a.txt"], fatal_marks=("FATAL ERROR",))


def test_a_refusal_is_a_skip_in_the_tools_words(tmp_path):
    tool = _tool(tmp_path, "echo 'ERROR: too few samples here' >&2\nexit 1\n")
    with pytest.raises(SkipRun, match=r"^Fake: too few samples here$"), \
            program_run(REQUEST, tool) as work:
        work.run([], ["a.txt"], refusals=("too few samples",))


def test_an_absent_program_is_not_installed_with_the_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    tool = dataclasses.replace(registry.get("plink2"), needs=registry.Needs(
        programs=("plink2",), install="apt-get install plink2"))
    assert not tool.installed()
    with pytest.raises(ToolNotInstalled) as caught, program_run(REQUEST, tool):
        pass
    assert str(caught.value) == ("PLINK 2 is not installed ('plink2' not found on PATH); "
                                 "apt-get install plink2")
