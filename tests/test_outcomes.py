"""Tests for lmmcompare.outcomes: a run's ok or skipped record, sealed and read through the
core's output pair."""

from __future__ import annotations

import pytest
from test_io_results import null_record

from exactlmm.errors import InputError
from exactlmm.io.results import ASSOC_COLUMNS, read_null_json, write_null_json
from lmmcompare.outcomes import read_outcome, write_skipped


def test_run_outcome_ok_and_skipped(tmp_path):
    """One reader for both kinds of run record: ok (with the null model) or skipped(reason)."""
    write_null_json(tmp_path / "ok.null.json", null_record())
    ok = read_outcome(tmp_path / "ok")
    assert ok.ok and ok.status == "ok" and ok.reason is None
    assert ok.null is not None and ok.null["gamma"] == 4.343368

    write_skipped(tmp_path / "gone", "gemma", "fixed", "GEMMA has no\nfixed mode")
    gone = read_outcome(tmp_path / "gone")
    assert not gone.ok and gone.null is None
    assert (gone.tool, gone.mode, gone.reason) == ("gemma", "fixed", "GEMMA has no fixed mode")
    assert (tmp_path / "gone.assoc.tsv").read_text() == "\t".join(ASSOC_COLUMNS) + "\n"
    with pytest.raises(InputError, match=r"gone\.null\.json: the run was skipped"):
        read_null_json(tmp_path / "gone.null.json")
    with pytest.raises(ValueError, match="needs a reason"):
        write_skipped(tmp_path / "x", "gemma", "fixed", "  ")

    (tmp_path / "odd.null.json").write_text('{"status": "maybe", "tool": "t"}\n')
    with pytest.raises(InputError, match=r"odd\.null\.json: status is 'maybe'"):
        read_outcome(tmp_path / "odd")
    (tmp_path / "bare.null.json").write_text('{"status": "skipped", "tool": "t"}\n')
    with pytest.raises(InputError, match=r"bare\.null\.json: a skipped run's record needs"):
        read_outcome(tmp_path / "bare")


def test_a_skipped_pair_is_sealed_and_checked(tmp_path):
    """A skipped run's null.json carries its header-only table's SHA-256, as an ok run's does;
    a table that is not the one written with it makes the outcome unreadable."""
    write_skipped(tmp_path / "s", "bolt", "loco", "timed out", time_limit=5)
    outcome = read_outcome(tmp_path / "s")
    assert outcome.timed_out and outcome.time_limit == 5.0
    assert "assoc_sha256" in (tmp_path / "s.null.json").read_text()
    (tmp_path / "s.assoc.tsv").write_text("chrom\n")
    with pytest.raises(InputError, match=r"s\.assoc\.tsv: not the table s\.null\.json was"):
        read_outcome(tmp_path / "s")
    (tmp_path / "s.assoc.tsv").unlink()
    with pytest.raises(InputError, match=r"s\.assoc\.tsv: missing"):
        read_outcome(tmp_path / "s")
