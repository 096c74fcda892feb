"""The workflow on a real SLURM: a single-node cluster on localhost (tests/slurm_cluster.py).

``slurm_cluster`` (session scope) starts Debian's munged, slurmctld and slurmd once and yields
the :class:`slurm_cluster.LocalSlurm`; a test runs Snakemake through the repository's
``profiles/slurm`` with ``snakemake-executor-plugin-slurm`` as::

    subprocess.run([*slurm_cluster.snakemake_command(), "--snakefile", ..., "--directory",
                    workdir, ...], env=slurm_cluster.env)

Here a toy workflow of its own (scatter, a two-thread rule with memory and runtime, a gather)
runs through SLURM and must give the same files as ``--cores 2`` locally, with every job really
submitted to and run by SLURM with the resources its rule asked for.  Skipped when the Debian
packages (slurm-wlm, munge; .ci/setup installs them) or the plugin are missing, or not root.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from slurm_cluster import LocalSlurm, missing_programs

from lmmcompare import registry

pytestmark = pytest.mark.slow

TOY_SNAKEFILE = r'''
import os

CHUNKS = [1, 2, 3]


def record_environment(path, threads):
    """Where the job ran (not compared between the runs: SLURM's job id, CPUs, partition)."""
    with open(path, "w") as fh:
        for key in ("SLURM_JOB_ID", "SLURM_CPUS_PER_TASK", "SLURM_JOB_PARTITION"):
            fh.write(f"{key}={os.environ.get(key, '')}\n")
        fh.write(f"threads={threads}\n")


rule all:
    input:
        "results/summary.txt",
    localrule: True


rule make_chunk:
    output:
        "results/chunk{chunk}.txt",
    log:
        "logs/make_chunk.{chunk}.env",
    resources:
        mem_mb=200,
        runtime=2,
    run:
        n = int(wildcards.chunk)
        with open(output[0], "w") as fh:
            for i in range(50):
                fh.write(f"{(n * 7919 + i * 104729) % 1009}\n")
        record_environment(log[0], threads)


rule square:
    input:
        "results/chunk{chunk}.txt",
    output:
        "results/squared{chunk}.txt",
    log:
        "logs/square.{chunk}.env",
    threads: 2
    resources:
        mem_mb=600,
        runtime=3,
    shell:
        "awk '{{print $1 * $1}}' {input} > {output}"
        " && echo threads={threads} >> {output}"
        " && for key in SLURM_JOB_ID SLURM_CPUS_PER_TASK SLURM_JOB_PARTITION; do"
        "    printenv $key | sed \"s/^/$key=/\" || echo $key=; done > {log}"


rule gather:
    input:
        expand("results/squared{chunk}.txt", chunk=CHUNKS),
    output:
        "results/summary.txt",
    log:
        "logs/gather.env",
    resources:
        mem_mb=300,
        runtime=2,
    run:
        rows, total = [], 0
        for path in input:
            values = [int(v) for v in open(path).read().split() if v.isdigit()]
            total += sum(values)
            rows.append(f"{path}\t{len(values)}\t{sum(values)}")
        with open(output[0], "w") as fh:
            fh.write("\n".join(rows) + f"\ntotal\t{total}\n")
        record_environment(log[0], threads)
'''

#: The toy workflow's SLURM jobs: rule -> (count, CPUs, memory as squeue prints it, time limit).
TOY_JOBS = {
    "make_chunk": (3, 1, "200M", "2:00"),
    "square": (3, 2, "600M", "3:00"),
    "gather": (1, 1, "300M", "2:00"),
}

FAILING_SNAKEFILE = r'''
rule all:
    input:
        "done.txt",
    localrule: True


rule fails:
    output:
        "done.txt",
    resources:
        mem_mb=100,
        runtime=1,
    shell:
        "echo about to fail; exit 3"
'''


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node SLURM on localhost for the whole session, stopped at the end
    (every daemon, job and step; the teardown fails if any process of it survives)."""
    missing = missing_programs()
    if missing:
        pytest.skip("SLURM test cluster needs Debian's slurm-wlm and munge "
                    f"(bash .ci/setup); missing: {' '.join(missing)}")
    if os.geteuid() != 0:
        pytest.skip("SLURM test cluster runs slurmd as root (SlurmUser=root); not root")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm is not installed (pip install -e "
                    "'.[workflow]')")
    cluster = LocalSlurm()
    with cluster:
        yield cluster
    left = cluster.survivors()
    assert not left, f"processes of the SLURM test cluster survived its stop: {left}"


def write_workflow(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    snakefile = directory / "Snakefile"
    snakefile.write_text(text.lstrip())
    return snakefile


def run_local(snakefile: Path, workdir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory",
         str(workdir), "--cores", "2"],
        capture_output=True, text=True, timeout=300, env=env)


def run_slurm(cluster: LocalSlurm, snakefile: Path, workdir: Path,
              *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cluster.snakemake_command(), "--snakefile", str(snakefile), "--directory",
         str(workdir), *args],
        capture_output=True, text=True, timeout=600, env=cluster.env)


def submitted_ids(log: str) -> list[str]:
    """SLURM job ids the executor plugin reported submitting."""
    return re.findall(r"has been submitted with SLURM jobid (\d+)", log)


def run_uuid(log: str) -> str:
    found = re.findall(r"SLURM run ID: ([0-9a-f-]+)", log)
    assert len(found) == 1, "the SLURM executor did not report its run ID:\n" + log[-3000:]
    return found[0]


def file_tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_toy_workflow_on_slurm_equals_local_run(slurm_cluster: LocalSlurm, tmp_path: Path):
    snakefile = write_workflow(tmp_path / "workflow", TOY_SNAKEFILE)
    local = run_local(snakefile, tmp_path / "local")
    assert local.returncode == 0, local.stderr[-5000:]

    done = run_slurm(slurm_cluster, snakefile, tmp_path / "slurm")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-8000:] + "\n" + slurm_cluster.log("slurmctld")[-3000:]

    # The same results, byte for byte.
    ours, theirs = file_tree(tmp_path / "slurm" / "results"), file_tree(tmp_path / "local"
                                                                         / "results")
    assert sorted(ours) == sorted(theirs) == sorted(
        ["summary.txt"] + [f"{s}{c}.txt" for s in ("chunk", "squared") for c in (1, 2, 3)])
    assert ours == theirs
    assert b"threads=2" in ours["squared1.txt"]

    # Every job went through SLURM: the plugin's submissions, slurmctld's log and squeue agree.
    ids = submitted_ids(log)
    assert len(ids) == sum(n for n, *_ in TOY_JOBS.values()) == len(set(ids)), log[-5000:]
    assert set(ids) <= set(slurm_cluster.submitted_job_ids())
    jobs = {j.job_id: j for j in slurm_cluster.jobs() if j.name == run_uuid(log)}
    assert set(jobs) == set(ids)
    assert {j.state for j in jobs.values()} == {"COMPLETED"}
    assert {j.partition for j in jobs.values()} == {"debug"}
    # ... each with the resources its rule asked for.
    for rule, (count, cpus, memory, limit) in TOY_JOBS.items():
        ran = [j for j in jobs.values()
               if j.comment == f"rule_{rule}" or j.comment.startswith(f"rule_{rule}_wildcards")]
        assert len(ran) == count, (rule, jobs)
        assert {(j.cpus, j.min_memory, j.time_limit) for j in ran} == {(cpus, memory, limit)}

    # ... and the rules ran inside those jobs (locally, outside any).
    envs = {p.name: read_env(p) for p in sorted((tmp_path / "slurm" / "logs").glob("*.env"))}
    assert len(envs) == len(ids)
    assert {e["SLURM_JOB_ID"] for e in envs.values()} == set(ids)
    for name, env in envs.items():
        assert env["SLURM_JOB_PARTITION"] == "debug", (name, env)
        assert env["SLURM_CPUS_PER_TASK"] == ("2" if name.startswith("square") else "1")
    for path in (tmp_path / "local" / "logs").glob("*.env"):
        assert read_env(path)["SLURM_JOB_ID"] == "", path


def test_failing_job_fails_the_run(slurm_cluster: LocalSlurm, tmp_path: Path):
    """A job that fails on SLURM is seen as failed (squeue's FAILED), and the run fails."""
    snakefile = write_workflow(tmp_path / "workflow", FAILING_SNAKEFILE)
    done = run_slurm(slurm_cluster, snakefile, tmp_path / "run", "--retries", "0")
    log = done.stdout + done.stderr
    assert done.returncode != 0, log[-5000:]
    ids = submitted_ids(log)
    assert len(ids) == 1, log[-5000:]
    (job,) = [j for j in slurm_cluster.jobs() if j.job_id == ids[0]]
    assert job.state == "FAILED"
    assert f"SLURM-job '{ids[0]}' failed" in log
    assert not (tmp_path / "run" / "done.txt").exists()


def test_cluster_stops_everything_even_after_an_error():
    """Leaving the context on an exception stops the daemons and kills a running job's
    processes; nothing of the cluster survives and its directory is gone."""
    if missing_programs() or os.geteuid() != 0:
        pytest.skip("needs Debian's slurm-wlm and munge, as root")
    cluster = LocalSlurm()
    with pytest.raises(RuntimeError, match="on purpose"), cluster:
        job = cluster.client("sbatch", "--parsable", "--wrap", "srun sleep 600",
                             f"--output={cluster.root}/sleep.out").stdout.strip()
        for _ in range(80):
            if any(j.job_id == job and j.state == "RUNNING" for j in cluster.jobs()):
                break
            subprocess.run(["sleep", "0.25"], check=True)
        else:
            raise AssertionError(f"job {job} never ran: {cluster.jobs()}")
        assert len(cluster.survivors()) >= 5  # 3 daemons, slurmstepd, the job's shell, sleep
        # Every daemon and the job's srun listen on 127.0.0.1 only.
        listening = cluster.listening()
        assert {port for _, port, _ in listening} >= {cluster.ctld_port, cluster.slurmd_port}
        assert {address for address, _, _ in listening} == {"127.0.0.1"}, listening
        raise RuntimeError("on purpose")
    assert cluster.survivors() == []
    assert not cluster.root.exists()
    for port in (cluster.ctld_port, cluster.slurmd_port):
        with pytest.raises(ConnectionRefusedError), socket.create_connection(
                ("127.0.0.1", port), timeout=5):
            pass


REPO = Path(__file__).resolve().parents[1]
#: The CI config's datasets whose scans the chunked run repeats: HS1940 (1410 mice, 10,768
#: SNPs in five blocks: three chunks of real work) and tiny_cov (covariates, missing calls,
#: two chromosomes for LOCO; one block: two of its chunks are empty).
CHUNKED_DATASETS = ("hs1940", "tiny_cov")
CHUNKED_MODES = ("fixed", "refit", "loco")


def chunked_config(directory: Path, scan_chunks: int) -> Path:
    """config/ci.yaml with only our tool and the :data:`CHUNKED_DATASETS`, scan_chunks set."""
    config = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    config["datasets"] = {name: config["datasets"][name] for name in CHUNKED_DATASETS}
    config["tools"] = {name: {"modes": []} for name in registry.TOOLS if name != "exactlmm"}
    config["tolerances"] = []
    config["scan_chunks"] = scan_chunks
    path = directory / f"chunks{scan_chunks}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def chunked_targets() -> list[str]:
    return [f"results/assoc/{d}/exactlmm.{m}.{ext}" for d in CHUNKED_DATASETS
            for m in CHUNKED_MODES for ext in ("assoc.tsv", "null.json")]


def comparable_record(path: Path) -> dict:
    """A null record without what says how it was run (provenance, the model, chunks)."""
    record = json.loads(path.read_text())
    return {k: v for k, v in record.items()
            if k not in ("provenance", "model", "chunks", "gathered")}


def test_ci_scans_in_three_chunks_on_slurm_equal_the_local_single_jobs(
        slurm_cluster: LocalSlurm, tmp_path: Path):
    """Our scans of the CI datasets, each a fit job, three chunk jobs and a gather on SLURM,
    give the tables of single local jobs byte for byte (and the same null records)."""
    snakefile = REPO / "Snakefile"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    local = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory",
         str(tmp_path / "local"), "--cores", "2", "--configfile",
         str(chunked_config(tmp_path / "local", 1)), "--replace-workflow-config",
         *chunked_targets()], capture_output=True, text=True, timeout=900, env=env)
    assert local.returncode == 0, local.stderr[-5000:]
    done = subprocess.run(
        [*slurm_cluster.snakemake_command(), "--snakefile", str(snakefile), "--directory",
         str(tmp_path / "slurm"), "--configfile", str(chunked_config(tmp_path / "slurm", 3)),
         "--replace-workflow-config", *chunked_targets()],
        capture_output=True, text=True, timeout=1500, env=slurm_cluster.env)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-8000:] + "\n" + slurm_cluster.log("slurmctld")[-3000:]

    for dataset in CHUNKED_DATASETS:
        for mode in CHUNKED_MODES:
            name = f"results/assoc/{dataset}/exactlmm.{mode}"
            ours = (tmp_path / "slurm" / f"{name}.assoc.tsv").read_bytes()
            assert ours == (tmp_path / "local" / f"{name}.assoc.tsv").read_bytes(), name
            assert (comparable_record(tmp_path / "slurm" / f"{name}.null.json")
                    == comparable_record(tmp_path / "local" / f"{name}.null.json")), name
            assert json.loads((tmp_path / "slurm" / f"{name}.null.json").read_text())[
                "chunks"] == 3
    # HS1940's chunks each hold SNPs; every fit and chunk job ran on SLURM.
    for mode in CHUNKED_MODES:
        for chunk in (1, 2, 3):
            table = (tmp_path / "slurm" / "results/assoc/hs1940/chunks"
                     / f"exactlmm.{mode}.{chunk}of3.assoc.tsv")
            assert len(table.read_text().splitlines()) > 1000, table
    ids = submitted_ids(log)
    jobs = {j.job_id: j for j in slurm_cluster.jobs() if j.name == run_uuid(log)}
    assert set(ids) == set(jobs) and {j.state for j in jobs.values()} == {"COMPLETED"}
    rules = [j.comment for j in jobs.values()]
    assert sum(c.startswith("rule_exactlmm_chunk") for c in rules) == 3 * 3 * 2
    assert sum(c.startswith("rule_exactlmm_fit") for c in rules) == 2 * 2
