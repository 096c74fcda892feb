"""What the workflow scripts share: logging, skipped-run markers and one-line errors.

Imported by the scripts beside it (Snakemake puts this folder on ``sys.path``).  A skipped tool
run still has both result files so the DAG stays static: a header-only ``.assoc.tsv`` and a
``.null.json`` of the form ``{"tool", "mode", "skipped": reason, "exit_status"}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exactlmm.errors import InputError
from exactlmm.io.atomic import write_text_atomic
from exactlmm.io.results import ASSOC_COLUMNS
from lmmcompare.compare import ToolResult, load_result


def run_script(main: Callable[[Any], None], snakemake: Any) -> None:
    """Call ``main(snakemake)`` with stderr sent to the rule's log.

    An ``InputError`` (bad input: a one-line message naming the file) is written to the log
    and to the console, and the job fails with exit status 1 and no traceback.
    """
    console = sys.stderr
    with open(snakemake.log[0], "w", buffering=1) as log:
        sys.stderr = log
        try:
            main(snakemake)
        except InputError as err:
            print(f"error: {err}", file=log)
            print(f"error: {err}", file=console)
            sys.exit(1)
        finally:
            sys.stderr = console


def skip_reason(null_json: str | Path) -> str | None:
    """The reason a tool run was skipped, or ``None`` when it ran."""
    record = json.loads(Path(null_json).read_text())
    reason = record.get("skipped")
    return None if reason is None else str(reason)


def write_skip_marker(prefix: str, tool: str, mode: str, reason: str, exit_status: int) -> None:
    """Write the two placeholder files of a skipped run (atomically)."""
    record = {"tool": tool, "mode": mode, "skipped": reason, "exit_status": exit_status}
    write_text_atomic(f"{prefix}.assoc.tsv", "\t".join(ASSOC_COLUMNS) + "\n")
    write_text_atomic(f"{prefix}.null.json", json.dumps(record, indent=2) + "\n")


def loaded_results(snakemake: Any) -> list[ToolResult]:
    """ToolResult of every run that was not skipped, in the workflow's run order.

    Reads ``snakemake.params.runs`` ("tool.mode" labels) beside ``snakemake.input.nulls``.
    """
    results = []
    for label, null_path in zip(snakemake.params.runs, snakemake.input.nulls, strict=True):
        tool, mode = label.split(".")
        reason = skip_reason(null_path)
        if reason is not None:
            print(f"{label}: skipped ({reason}), left out", file=sys.stderr)
            continue
        results.append(load_result(strip_suffix(null_path, ".null.json"), tool, mode))
    return results


def strip_suffix(path: str, suffix: str) -> str:
    """``path`` without ``suffix`` (which it must end with)."""
    if not path.endswith(suffix):
        raise ValueError(f"{path} does not end with {suffix}")
    return path[: -len(suffix)]
