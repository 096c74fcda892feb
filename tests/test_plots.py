"""Tests for lmmcompare.plots: files written, reproducible bytes, benchmark reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exactlmm.errors import InputError
from lmmcompare import plots
from lmmcompare.job_metrics import read_job_metrics


def _pvalues(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    p[:5] = 10.0 ** -rng.uniform(5, 12, 5)
    q = np.clip(p * np.exp(rng.normal(0, 0.05, n)), 0, 1)
    q[7] = np.nan
    return p, q


def _gamma_rows() -> pd.DataFrame:
    rows = []
    for dataset, gamma in (("sim1", 0.5), ("sim2", 2.0)):
        for tool, shift in (("exactlmm", 0.0), ("gemma", 1e-7), ("pylmm", 0.02)):
            for mode in ("fixed", "refit"):
                rows.append({"dataset": dataset, "tool": tool, "mode": mode,
                             "gamma": gamma * 1.1 * (1 + shift), "gamma_true": gamma})
    return pd.DataFrame(rows)


def _bench() -> pd.DataFrame:
    rows = []
    for tool, rate in (("exactlmm", 1e-7), ("gemma", 4e-7)):
        for mode in ("fixed", "refit"):
            for n, m in ((200, 1000), (400, 1000), (400, 2000)):
                rows.append({"tool": tool, "mode": mode, "dataset": f"n{n}m{m}", "n_samples": n,
                             "n_snps": m, "seconds": rate * n * m, "max_rss": 40.0 + n / 10})
    rows[0]["max_rss"] = np.nan
    return pd.DataFrame(rows)


def _draw_all(folder: Path) -> list[Path]:
    p, q = _pvalues(1)
    paths = [folder / name for name in ("scatter.png", "qq.png", "gvt.png", "agree.png",
                                        "runtime.png", "by_dataset.png")]
    plots.scatter_log10p(p, q, label_a="exactlmm", label_b="gemma", title="toy", path=paths[0])
    plots.qq_plot({"exactlmm": p, "gemma": q}, title="toy QQ", path=paths[1])
    plots.gamma_vs_truth(_gamma_rows(), path=paths[2])
    plots.gamma_agreement(_gamma_rows(), path=paths[3])
    plots.runtime_plot(_bench(), path=paths[4])
    plots.runtime_by_dataset(_bench(), path=paths[5])
    return paths


def test_plots_written_and_reproducible(tmp_path: Path) -> None:
    first = _draw_all(tmp_path / "a")
    second = _draw_all(tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        for suffix in (".png", ".svg"):
            path_a, path_b = a.with_suffix(suffix), b.with_suffix(suffix)
            data = path_a.read_bytes()
            assert len(data) > 1000, path_a
            assert data == path_b.read_bytes(), path_a.name
        assert a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = a.with_suffix(".svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<dc:date>" not in svg
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        f"{p.stem}{s}" for p in first for s in (".png", ".svg")
    )


def test_different_data_different_svg(tmp_path: Path) -> None:
    p, q = _pvalues(1)
    plots.qq_plot({"a": p}, title="t", path=tmp_path / "one.png")
    plots.qq_plot({"a": q}, title="t", path=tmp_path / "two.png")
    assert (tmp_path / "one.svg").read_bytes() != (tmp_path / "two.svg").read_bytes()


def test_qq_thins_large_series_but_keeps_extremes() -> None:
    p = np.random.default_rng(3).uniform(size=50_000)
    ranks, expected, observed, n = plots._qq_points(p)
    assert n == 50_000 and ranks[0] == 1 and ranks[-1] == n
    assert ranks.size < 4100 and np.all(np.diff(ranks) > 0)
    assert observed[0] == pytest.approx(-np.log10(p.min()))
    assert expected[0] == pytest.approx(-np.log10(1 / 50_001))


def test_plot_input_errors(tmp_path: Path) -> None:
    rows = _gamma_rows()
    with pytest.raises(ValueError, match="no rows of the reference tool 'fastlmm'"):
        plots.gamma_agreement(rows, path=tmp_path / "x.png", reference="fastlmm")
    with pytest.raises(ValueError, match="lacks column"):
        plots.gamma_vs_truth(rows.drop(columns="gamma_true"), path=tmp_path / "x.png")
    with pytest.raises(ValueError, match="shape"):
        plots.scatter_log10p(np.ones(3), np.ones(4), label_a="a", label_b="b", title="t",
                             path=tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_read_job_metrics(tmp_path: Path) -> None:
    one = tmp_path / "one.tsv"
    one.write_text(BENCH_HEADER + "1.50\t0:00:01\t120.5\t300\t100\t110\t0.1\t0.2\t80\t1.2\n"
                   "1.70\t0:00:01\t-\t-\t-\t-\t-\t-\t-\t-\n")
    two = tmp_path / "two.tsv"
    two.write_text(BENCH_HEADER + "0.20\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n")
    meta = [
        {"tool": "gemma", "mode": "refit", "dataset": "hs", "n_samples": 1410, "n_snps": 10768},
        {"tool": "exactlmm", "mode": "fixed", "dataset": "hs", "n_samples": 1410,
         "n_snps": 10768},
    ]
    bench = read_job_metrics(zip([one, two], meta, strict=True))
    assert list(bench.columns[:8]) == [
        "tool", "mode", "dataset", "n_samples", "n_snps", "repeat", "seconds", "h:m:s"]
    assert list(bench.tool) == ["gemma", "gemma", "exactlmm"]
    assert list(bench.repeat) == [0, 1, 0]
    np.testing.assert_allclose(bench.seconds, [1.5, 1.7, 0.2])
    assert bench.max_rss.iloc[0] == 120.5
    assert bench.max_rss.iloc[1:].isna().all()
    plots.runtime_plot(bench, path=tmp_path / "runtime.png")  # NaN memory is drawn as "no data"
    assert (tmp_path / "runtime.svg").stat().st_size > 1000
    empty = read_job_metrics([])
    assert empty.empty and "seconds" in empty.columns
    bad = tmp_path / "bad.tsv"
    bad.write_text("time\tmax_rss\n1\t2\n")
    with pytest.raises(InputError, match=r"bad\.tsv: benchmark table has no 's'"):
        read_job_metrics([(bad, meta[0])])
    with pytest.raises(InputError, match="not found"):
        read_job_metrics([(tmp_path / "missing.tsv", meta[0])])
    with pytest.raises(ValueError, match="lacks n_snps"):
        read_job_metrics([(one, {k: v for k, v in meta[0].items() if k != "n_snps"})])


def test_every_mode_of_the_registry_has_a_style():
    from lmmcompare import plots, registry

    assert set(plots.MODE_MARKERS) == set(plots.MODE_LINES) == set(registry.MODES)
    assert set(plots.MODE_HATCHES) == set(registry.MODES)


def test_runtime_by_dataset_draws_one_bar_per_run(tmp_path: Path, monkeypatch) -> None:
    """Every (dataset, tool, mode) with a positive time is a bar of the height measured."""
    bench = _bench()
    bench.loc[0, "seconds"] = 0.0  # not drawable on a log axis: left out, not an error
    captured = {}
    original = plots._save

    def keep(fig, path):
        captured["fig"] = fig
        original(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    plots.runtime_by_dataset(bench, path=tmp_path / "r.png")
    bars = list(captured["fig"].axes[0].patches)
    assert len(bars) == len(bench) - 1
    assert sorted(round(b.get_height(), 12) for b in bars) == sorted(
        round(v, 12) for v in bench["seconds"][1:])


def test_timed_out_runs_are_drawn_at_their_limit(tmp_path: Path, monkeypatch) -> None:
    """A run stopped at its time limit: a pale bar up to the limit with a cross (by dataset),
    a cross at the limit and no line point (against N); finished runs as before."""
    bench = _bench()
    bench["timed_out"] = False
    bench["time_limit"] = np.nan
    late = (bench["tool"] == "gemma") & (bench["dataset"] == "n400m1000")
    bench.loc[late, ["timed_out", "time_limit"]] = [True, 30.0]
    captured = []
    original = plots._save

    def keep(fig, path):
        captured.append(fig)
        original(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    plots.runtime_by_dataset(bench, path=tmp_path / "bars.png")
    bars = list(captured[0].axes[0].patches)
    assert len(bars) == len(bench)
    assert sorted(b.get_height() for b in bars if b.get_alpha() == 0.3) == [30.0, 30.0]
    plots.runtime_plot(bench, path=tmp_path / "lines.png")
    by_n = captured[1].axes[0]  # the N series at M = 1000: N = 200 and 400
    crosses = [c for c in by_n.collections if c.get_offsets().shape[0]]
    assert {tuple(row) for c in crosses for row in c.get_offsets()} == {(400.0, 30.0)}
    labels = by_n.get_legend_handles_labels()[1]
    assert "gemma fixed: timed out" in labels and "gemma refit: timed out" in labels
    gemma_lines = [line for line in by_n.get_lines() if line.get_label().startswith("gemma")]
    assert gemma_lines and all(400.0 not in line.get_xdata() for line in gemma_lines)


def test_runtime_table_has_one_row_per_run_sorted_by_size(tmp_path: Path) -> None:
    from lmmcompare.job_metrics import RUNTIME_COLUMNS, runtime_table

    files = {}
    for name, rows in {"a": ["2.0", "4.0"], "b": ["600.5"], "c": ["1.0"]}.items():
        files[name] = tmp_path / f"{name}.tsv"
        files[name].write_text(BENCH_HEADER + "".join(
            f"{s}\t0:00:01\t100\t300\t100\t110\t0.1\t0.2\t80\t1.2\n" for s in rows))
    meta = [
        {"tool": "exactlmm", "mode": "fixed", "dataset": "big", "n_samples": 4000,
         "n_snps": 100, "timed_out": False, "time_limit": np.nan},
        {"tool": "gemma", "mode": "refit", "dataset": "big", "n_samples": 4000, "n_snps": 100,
         "timed_out": True, "time_limit": 600.0},
        {"tool": "gemma", "mode": "refit", "dataset": "small", "n_samples": 1000,
         "n_snps": 100, "timed_out": False, "time_limit": np.nan},
    ]
    bench = read_job_metrics(zip(files.values(), meta, strict=True))
    table = runtime_table(bench)
    assert tuple(table.columns) == RUNTIME_COLUMNS
    assert list(table.dataset) == ["small", "big", "big"]
    assert list(table.tool) == ["gemma", "exactlmm", "gemma"]
    np.testing.assert_allclose(table.seconds, [1.0, 3.0, 600.5])  # two repeats averaged
    assert list(table.timed_out) == [False, False, True]
    assert table.time_limit.iloc[2] == 600.0 and table.time_limit.iloc[:2].isna().all()
    # With the configured limits, a run that finished within its tool's limit shows it too.
    limited = runtime_table(bench, {"gemma": 900.0, "exactlmm": None})
    assert limited.time_limit.iloc[0] == 900.0 and np.isnan(limited.time_limit.iloc[1])
    assert limited.time_limit.iloc[2] == 600.0  # the stopped run's own record
    assert list(limited.timed_out) == [False, False, True]
    assert runtime_table(read_job_metrics([])).empty


def test_a_statistic_given_at_no_snp_is_said_in_the_title() -> None:
    declined = {"native": {"mixture": "declined: Bayesian non-inf model not used (relative "
                                      "prediction MSE gain 0.002, below 0.01)", "h2g": 0.2}}
    assert plots.no_statistic_note("bolt", "p_bolt_mix", declined) == (
        "bolt gave no p_bolt_mix at any SNP: declined: Bayesian non-inf model not used "
        "(relative prediction MSE gain 0.002, below 0.01)")
    assert plots.no_statistic_note("x", "p_lrt", {"native": {}}) == "x gave no p_lrt at any SNP"
