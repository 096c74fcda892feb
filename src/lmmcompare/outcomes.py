"""A tool run's outcome: ``ok`` with its null model, or ``skipped`` with the reason.

Every run of the harness leaves the output pair of the core (``exactlmm.io.results``):
``PREFIX.assoc.tsv`` and ``PREFIX.null.json``.  An ``ok`` run's ``null.json`` holds the null
model (``"status": "ok"``); a skipped run's holds ``{"status": "skipped", "tool", "mode",
"reason"}`` (plus ``"time_limit"``, seconds, for a run stopped at its time limit, or
``"failed": true`` for a peer that ran and failed, ``lmmcompare.runs``) beside a header-only
table, so that a workflow's file graph is the same whether or not a tool could run.
Both kinds are sealed alike: the ``null.json`` carries the SHA-256 of the table written with it
(``exactlmm.io.results.sealed_record``), the pair is written as one unit (``FileGroup``), and
:func:`read_outcome` — the one reader every consumer uses — checks the pair before it trusts the
record (``check_pair``).

Runs, skips and time limits are the harness's words: the core writes and reads the pair, this
module says what a pair means for a run.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

from exactlmm.errors import InputError
from exactlmm.io.atomic import FileGroup
from exactlmm.io.results import (
    HEADER_LINE,
    check_pair,
    pair_paths,
    read_null_json,
    sealed_record,
    stage_result_pair,
)

STATUSES = ("ok", "skipped")
"""What a run's ``null.json`` ``status`` can be (a record without one is ``ok``)."""


@dataclass(frozen=True)
class RunOutcome:
    """What one tool run left behind: ``ok`` with its null model, or ``skipped`` with a reason.

    Attributes
    ----------
    status: ``"ok"`` or ``"skipped"``.
    tool: the tool's name (as the run recorded it).
    mode: the run's mode (``None`` when an ``ok`` record does not say).
    reason: why the run was skipped (``None`` when ok).
    null: the ``null.json`` record of an ok run (``None`` when skipped).
    time_limit: seconds after which the run was stopped, for a skipped run that ran out of time
        (``None`` otherwise).
    failed: a skipped run of a peer that ran and failed (its reason says how), rather than one
        that could not run here.
    """

    status: str
    tool: str
    mode: str | None = None
    reason: str | None = None
    null: dict[str, Any] | None = None
    time_limit: float | None = None
    failed: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def timed_out(self) -> bool:
        """A run stopped at its time limit (drawn as "timed out" in timing plots)."""
        return self.time_limit is not None


def write_skipped(
    prefix: str | os.PathLike[str], tool: str, mode: str, reason: str,
    time_limit: float | None = None, failed: bool = False,
) -> None:
    """Write the pair of a skipped run as one unit: a header-only ``PREFIX.assoc.tsv`` and
    ``PREFIX.null.json`` = ``{"status": "skipped", "tool", "mode", "reason"}`` (plus
    ``"time_limit"``, seconds, for a run stopped at its limit; ``"failed": true`` for a run that
    failed), sealed with the table's SHA-256 like an ok run's.  The reason is written on one
    line."""
    reason = " ".join(str(reason).split())
    if not reason:
        raise ValueError("a skipped run needs a reason")
    record: dict[str, Any] = {"status": "skipped", "tool": tool, "mode": mode, "reason": reason}
    if time_limit is not None:
        record["time_limit"] = float(time_limit)
    if failed:
        record["failed"] = True
    table = HEADER_LINE.encode()
    with FileGroup() as group:
        stage_result_pair(group, prefix, table,
                          json.dumps(sealed_record(table, record), indent=2) + "\n")
        group.commit()


def read_outcome(prefix: str | os.PathLike[str]) -> RunOutcome:
    """The outcome of the run whose files are ``PREFIX.null.json`` / ``PREFIX.assoc.tsv``.

    The table is not read, only checked against the SHA-256 its record holds
    (``exactlmm.io.results.check_pair``); an ok record is read by
    ``exactlmm.io.results.read_null_json``.  Errors (``InputError`` naming the file): those of
    the two, a status other than :data:`STATUSES`, a skipped record without a reason or with a
    time limit that is not seconds > 0.
    """
    null_path = pair_paths(prefix)[1]
    record = _json_object(null_path)
    check_pair(prefix, record)
    status = record.get("status", "ok")
    if status not in STATUSES:
        raise InputError(f"status is {status!r}, expected 'ok' or 'skipped'", path=null_path)
    if status == "ok":
        null = read_null_json(null_path)
        return RunOutcome("ok", str(null["tool"]), null.get("mode"), None, null)
    reason = record.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InputError("a skipped run's record needs a 'reason'", path=null_path)
    time_limit = record.get("time_limit")
    if time_limit is not None and not (
        isinstance(time_limit, (int, float)) and math.isfinite(time_limit) and time_limit > 0
    ):
        raise InputError(f"time_limit is {time_limit!r}, expected seconds > 0", path=null_path)
    failed = record.get("failed", False)
    if not isinstance(failed, bool):
        raise InputError(f"failed is {failed!r}, expected true or false", path=null_path)
    return RunOutcome("skipped", str(record.get("tool")), record.get("mode"), reason,
                      time_limit=None if time_limit is None else float(time_limit),
                      failed=failed)


def _json_object(path: os.PathLike[str]) -> dict[str, Any]:
    """The JSON object in ``path``; a missing file or one that holds no JSON object is an
    ``InputError`` naming it (what the record says is checked by the caller)."""
    try:
        with open(path) as handle:
            record = json.load(handle)
    except FileNotFoundError:
        raise InputError("run record not found", path=path) from None
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})",
                         path=path) from None
    if not isinstance(record, dict):
        raise InputError("a run record must hold a JSON object", path=path)
    return record
