"""Tool runs with a time limit (lmmcompare.runs.execute): stopped with everything they started,
recorded as timed out; within the limit, the same outcome as in-process."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from peer_helpers import toy_request

from exactlmm.errors import InputError
from lmmcompare import registry
from lmmcompare.outcomes import read_outcome
from lmmcompare.runners import ToolFailed
from lmmcompare.runs import Run, configured_time_limits, execute
from lmmcompare.workflow_config import validated


def _gone(pid: int) -> bool:
    """The process has exited (absent, or a zombie waiting for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _fake_runner(monkeypatch, run):
    """Make every registry tool's runner ``run`` (a function of request, mode, prefix)."""
    monkeypatch.setattr(registry.Tool, "load_runner", lambda self: SimpleNamespace(run=run))


def test_a_run_past_its_limit_is_stopped_with_its_programs(tmp_path, monkeypatch, make_plink):
    request = toy_request(make_plink, tmp_path)
    pid_file = tmp_path / "pid"

    def slow(request, mode, prefix):
        program = subprocess.Popen(["sleep", "60"])
        pid_file.write_text(str(program.pid))
        time.sleep(60)

    _fake_runner(monkeypatch, slow)
    start = time.monotonic()
    outcome = execute(Run("toy", "gemma", "refit"), request, tmp_path / "g", time_limit=1.5)
    assert time.monotonic() - start < 20
    assert not outcome.ok and outcome.timed_out and outcome.time_limit == 1.5
    assert outcome.reason == "timed out: stopped at the time limit of 1.5 s"
    assert read_outcome(tmp_path / "g") == outcome
    deadline = time.monotonic() + 10
    while not _gone(int(pid_file.read_text())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(int(pid_file.read_text()))  # the tool's own program was stopped too
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".g.")] == []


def test_within_its_limit_a_run_is_as_in_process(tmp_path, make_plink):
    request = toy_request(make_plink, tmp_path)
    here = execute(Run("toy", "exactlmm", "fixed"), request, tmp_path / "here")
    child = execute(Run("toy", "exactlmm", "fixed"), request, tmp_path / "child",
                    time_limit=120)
    assert here.ok and child.ok and not child.timed_out
    for suffix in (".assoc.tsv", ".null.json"):
        child_bytes = Path(f"{tmp_path / 'child'}{suffix}").read_bytes()
        assert child_bytes.replace(b"/child", b"/here") == Path(
            f"{tmp_path / 'here'}{suffix}").read_bytes()  # the output path is in provenance
    # A mode the tool lacks is skipped without starting anything, limit or not.
    assert execute(Run("toy", "fastlmm", "refit"), request, tmp_path / "f",
                   time_limit=0.001).reason == registry.get("fastlmm").why_not("refit")


@pytest.mark.parametrize("time_limit", [None, 30.0], ids=["in-process", "child"])
def test_a_failing_peer_is_a_failed_skip_and_ours_or_bad_input_fail(
    tmp_path, monkeypatch, make_plink, time_limit
):
    """A peer's crash becomes a skipped run "failed: …" (the workflow goes on); a crash of ours
    and bad input propagate, in process and from a timed child alike."""
    request = toy_request(make_plink, tmp_path)

    def broken(request, mode, prefix):
        raise RuntimeError("boom")

    def tool_failed(request, mode, prefix):
        raise ToolFailed("gemma exited with status 1: ERROR: kinship   singular")

    def bad_input(request, mode, prefix):
        raise InputError("no phenotype values", path="toy.pheno")

    _fake_runner(monkeypatch, broken)
    outcome = execute(Run("toy", "gemma", "refit"), request, tmp_path / "b",
                      time_limit=time_limit)
    assert outcome.failed and not outcome.ok and outcome.reason == "failed: RuntimeError: boom"
    assert read_outcome(tmp_path / "b") == outcome  # the record says so, sealed
    _fake_runner(monkeypatch, tool_failed)
    outcome = execute(Run("toy", "gemma", "refit"), request, tmp_path / "t",
                      time_limit=time_limit)
    assert outcome.reason == "failed: gemma exited with status 1: ERROR: kinship singular"
    with pytest.raises(RuntimeError, match="boom" if time_limit is None else
                       r"exactlmm fixed: RuntimeError: boom \(exit status 1\)"):
        _fake_runner(monkeypatch, broken)
        execute(Run("toy", "exactlmm", "fixed"), request, tmp_path / "o", time_limit=time_limit)
    assert not Path(f"{tmp_path / 'o'}.null.json").exists()
    _fake_runner(monkeypatch, bad_input)
    with pytest.raises(InputError, match=r"toy\.pheno: no phenotype values"):
        execute(Run("toy", "gemma", "refit"), request, tmp_path / "i", time_limit=time_limit)
    assert not Path(f"{tmp_path / 'i'}.null.json").exists()


def test_a_peer_killed_by_a_signal_is_a_failed_skip(tmp_path, monkeypatch, make_plink):
    """A child that dies without a word (the kernel's OOM killer, say) is a failed peer."""
    request = toy_request(make_plink, tmp_path)

    def killed(request, mode, prefix):
        os.kill(os.getpid(), signal.SIGKILL)

    _fake_runner(monkeypatch, killed)
    outcome = execute(Run("toy", "gemma", "refit"), request, tmp_path / "k", time_limit=30)
    assert outcome.failed
    assert outcome.reason == "failed: the run died (killed by signal 9 (SIGKILL))"


def test_a_skip_is_a_skip(tmp_path, monkeypatch, make_plink):
    request = toy_request(make_plink, tmp_path)
    from lmmcompare.runners import ToolNotInstalled

    def absent(request, mode, prefix):
        raise ToolNotInstalled("gemma is not on PATH")

    _fake_runner(monkeypatch, absent)
    outcome = execute(Run("toy", "gemma", "refit"), request, tmp_path / "s", time_limit=30)
    assert outcome.reason == "gemma is not on PATH"
    assert not outcome.timed_out and not outcome.failed


def test_time_limits_from_the_config():
    limits = configured_time_limits(validated({"tools": {
        "gemma": {"modes": ["refit"], "time_limit": 60}, "pylmm": {"modes": []}}}))
    assert limits["gemma"] == 60 and limits["pylmm"] is None and limits["exactlmm"] is None
    assert set(limits) == set(registry.TOOLS)
