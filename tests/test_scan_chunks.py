"""The workflow's chunked scans (scan_chunks > 1) from the runner's argument lists: fit, chunks
and gather give what the single run's argument list gives; the gathered benchmark row sums the
jobs' seconds and keeps the largest memory."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from exactlmm.cli import main
from lmmcompare.job_metrics import sum_job_metrics as sum_benchmarks
from lmmcompare.runners import RunRequest
from lmmcompare.runners import exactlmm as ours


@pytest.fixture
def request_files(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=90, m=400, seed=4, chroms=2)
    fam = [line.split()[:2] for line in open(f"{prefix}.fam")]
    pheno = tmp_path / "p.txt"
    pheno.write_text("".join(f"{f} {i} {j % 7 * 0.3 + (j % 3):.2f}\n"
                             for j, (f, i) in enumerate(fam)))
    snps = tmp_path / "snps.txt"
    snps.write_text("".join(f"rs{j}\n" for j in range(400)))
    assert main(["kinship", "--bfile", str(prefix), "--out", str(tmp_path / "k"),
                 "--no-progress"]) == 0
    return RunRequest(bfile=str(prefix), pheno=str(pheno), mpheno=1, covar=None,
                      kinship=str(tmp_path / "k.kinship.txt"), extract=str(snps),
                      center_kinship=True)


@pytest.mark.parametrize("mode", ["fixed", "refit", "loco"])
def test_chunked_argument_lists_give_the_single_run(tmp_path, request_files, mode):
    request = request_files
    ours.run_command(ours.command_line(request, mode, tmp_path / "single"))
    model = tmp_path / "model"
    ours.run_command(ours.fit_command_line(request, ours.MODEL_OF_MODE[mode], model))
    chunks = []
    for i in (1, 2, 3):
        out = tmp_path / f"chunk{i}"
        argv = ours.chunk_command_line(request.bfile, mode, model, i, 3, out)
        ours.run_command([*argv, "--block-size", "64"] if mode != "loco" else argv)
        chunks.append(str(out))
    ours.run_command(ours.gather_command_line(chunks, tmp_path / "gathered"))
    assert ((tmp_path / "gathered.assoc.tsv").read_bytes()
            == (tmp_path / "single.assoc.tsv").read_bytes())
    single = json.loads((tmp_path / "single.null.json").read_text())
    gathered = json.loads((tmp_path / "gathered.null.json").read_text())
    assert {k: v for k, v in gathered.items() if k not in ("provenance", "model", "chunks",
                                                           "gathered")} == {
        k: v for k, v in single.items() if k != "provenance"}
    fitted = json.loads((tmp_path / "model.null.json").read_text())
    assert fitted["gamma"] == single["gamma"]


def test_fit_of_an_unknown_model_is_a_value_error(request_files, tmp_path):
    with pytest.raises(ValueError, match="no saved model 'other'"):
        ours.fit_command_line(request_files, "other", tmp_path / "m")


def test_sum_benchmarks_sums_time_and_keeps_the_largest_memory(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tio_in\tio_out\tmean_load\tcpu_time\n"
    rows = ["12.5\t0:00:12\t300.0\t900.0\t1.0\t2.0\t80.0\t20.0\n",
            "3000.25\t0:50:00\t120.5\t500.0\t-\t1.0\t95.0\t3000.0\n",
            "1.0\t0:00:01\t50.0\t60.0\t0.5\t0.5\t10.0\t1.0\n"]
    files = []
    for i, row in enumerate(rows):
        path = tmp_path / f"b{i}.tsv"
        path.write_text(header + row)
        files.append(path)
    sum_benchmarks(files, tmp_path / "sum.tsv")
    table = pd.read_csv(tmp_path / "sum.tsv", sep="\t")
    assert list(table.columns) == header.strip().split("\t")
    (row,) = table.to_dict("records")
    assert row["s"] == pytest.approx(3013.75) and row["h:m:s"] == "0:50:14"
    assert row["max_rss"] == 300.0 and row["max_vms"] == 900.0 and row["mean_load"] == 95.0
    assert row["cpu_time"] == pytest.approx(3021.0) and row["io_in"] == pytest.approx(1.5)
