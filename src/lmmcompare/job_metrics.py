"""Job metrics: the files Snakemake's ``benchmark:`` directive writes for every job
(``results/job_metrics/{step}/...``), read one row per repeat beside the run they measured.

A timing plot reads only these files (never wall clocks taken elsewhere), so what the report
shows is what Snakemake measured for each job: ``s`` (wall seconds) and ``max_rss`` (MB).  (Not
to be confused with the developers' speed and memory scripts of the top-level ``benchmarks/``
folder.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exactlmm.errors import InputError
from exactlmm.io.atomic import write_text_atomic

BENCH_META = ("tool", "mode", "dataset", "n_samples", "n_snps")
"""What each benchmark file is paired with: the run and the size of its data."""


def read_job_metrics(entries: Iterable[tuple[str | Path, Mapping[str, Any]]]) -> pd.DataFrame:
    """Read Snakemake benchmark TSVs, each paired with the ``meta`` dict describing its run.

    A benchmark file has a header (``s  h:m:s  max_rss  max_vms  max_uss  max_pss  io_in  io_out
    mean_load  cpu_time`` and possibly more) and one row per repeat; ``-`` and ``NA`` mean not
    measured.  The result has the :data:`BENCH_META` columns (from ``meta``), ``repeat``,
    ``seconds`` (from ``s``), ``max_rss`` (MB) and the file's other numeric columns, and any
    other key of ``meta`` as a column (e.g. ``timed_out``).
    """
    tables = []
    for file, info in entries:
        missing = [key for key in BENCH_META if key not in info]
        if missing:
            raise ValueError(f"read_job_metrics: meta for {file} lacks {', '.join(missing)}")
        try:
            table = pd.read_csv(file, sep="\t", na_values=["-", "NA"], keep_default_na=False)
        except FileNotFoundError:
            raise InputError("benchmark file not found", path=file) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise InputError(f"not a Snakemake benchmark table ({err})", path=file) from None
        if "s" not in table.columns:
            raise InputError("benchmark table has no 's' (seconds) column", path=file)
        if table.empty:
            raise InputError("benchmark table has no rows", path=file)
        table = table.rename(columns={"s": "seconds"})
        if "max_rss" not in table.columns:
            table["max_rss"] = math.nan
        for column in ("seconds", "max_rss"):
            table[column] = pd.to_numeric(table[column], errors="coerce")
        if table["seconds"].isna().any():
            raise InputError("benchmark table has a non-numeric 's' value", path=file)
        front = {key: info[key] for key in BENCH_META}
        front.update({key: value for key, value in info.items() if key not in front})
        front["repeat"] = np.arange(len(table))
        table = pd.concat([pd.DataFrame(front, index=table.index), table], axis=1)
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=[*BENCH_META, "repeat", "seconds", "max_rss"])
    return pd.concat(tables, ignore_index=True)


#: Columns of :func:`runtime_table`, one row per tool run.
RUNTIME_COLUMNS = ("dataset", "n_samples", "n_snps", "tool", "mode", "seconds", "max_rss_mb",
                   "timed_out", "time_limit")


def runtime_table(bench: pd.DataFrame,
                  time_limits: Mapping[str, float | None] | None = None) -> pd.DataFrame:
    """One row per run of :func:`read_job_metrics`' table (repeats averaged): its dataset, N and
    M, tool and mode, wall ``seconds`` and peak ``max_rss_mb``, whether it was stopped at its
    ``time_limit`` (seconds; then ``seconds`` is how long it ran before it was stopped, not what
    it would have needed).  Sorted by N, M, dataset, tool and mode: the scaling table of a
    config such as ``config/scaling.yaml``.  Not byte-reproducible: it is what was measured.

    ``time_limits`` ({tool: seconds or None}, :func:`lmmcompare.runs.configured_time_limits`)
    gives the limit of the runs that finished within it (a stopped run records its own); a
    tool without one has ``NA``."""
    if bench.empty:
        return pd.DataFrame(columns=list(RUNTIME_COLUMNS))
    table = bench.copy()
    if "timed_out" not in table.columns:
        table["timed_out"] = False
    if "time_limit" not in table.columns:
        table["time_limit"] = math.nan
    if time_limits:
        configured = table["tool"].map(
            lambda tool: math.nan if time_limits.get(tool) is None else time_limits[tool])
        table["time_limit"] = table["time_limit"].astype(float).fillna(configured.astype(float))
    keys = ["dataset", "tool", "mode"]
    rows = table.groupby(keys, sort=False).agg(
        n_samples=("n_samples", "first"), n_snps=("n_snps", "first"),
        seconds=("seconds", "mean"), max_rss_mb=("max_rss", "mean"),
        timed_out=("timed_out", "any"), time_limit=("time_limit", "max")).reset_index()
    rows = rows.sort_values(["n_samples", "n_snps", "dataset", "tool", "mode"], kind="stable")
    return rows[list(RUNTIME_COLUMNS)].reset_index(drop=True)


#: Columns a sum of jobs (:func:`sum_job_metrics`) adds up; the others take the maximum.
SUMMED = ("s", "cpu_time", "io_in", "io_out")


def sum_job_metrics(files: Iterable[str | Path], out: str | Path) -> None:
    """One benchmark row for a computation run as several jobs (our scan in chunks: the fit
    and every chunk): wall seconds ``s``, ``cpu_time`` and I/O summed — what the jobs cost,
    as if run one after the other — memory columns the largest of the jobs (the peak any one
    node needed), ``h:m:s`` from the sum.  Written in Snakemake's format (first rows only)."""
    tables = []
    for file in files:
        table = pd.read_csv(file, sep="\t", na_values=["-", "NA"], keep_default_na=False)
        if table.empty or "s" not in table.columns:
            raise InputError("not a Snakemake benchmark table with rows", path=file)
        tables.append(table.iloc[[0]])
    if not tables:
        raise ValueError("sum_job_metrics: no job metrics file")
    jobs = pd.concat(tables, ignore_index=True)
    row = {}
    for column in jobs.columns:
        values = pd.to_numeric(jobs[column], errors="coerce")
        if column == "h:m:s":
            continue
        row[column] = values.sum() if column in SUMMED else values.max()
    seconds = float(row["s"])
    hours, rest = divmod(round(seconds), 3600)
    row["h:m:s"] = f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    ordered = {column: row[column] for column in jobs.columns}
    text = "\t".join(ordered) + "\n" + "\t".join(
        "-" if isinstance(v, float) and math.isnan(v) else
        (f"{v:.4f}" if isinstance(v, float) else str(v)) for v in ordered.values()) + "\n"
    write_text_atomic(out, text)
