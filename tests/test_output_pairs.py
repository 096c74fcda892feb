"""An output pair (``.assoc.tsv`` + ``.null.json``, a model's ``.npz`` + ``.json``) is one unit:
written whole to temporary files and put in place seal last, checked by its readers, and no
temporary file outlives a run stopped by SIGTERM, SIGINT or SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from exactlmm.cli import main
from exactlmm.errors import InputError
from exactlmm.io import atomic
from exactlmm.io.atomic import FileGroup, remove_stale_temporaries
from exactlmm.io.results import (
    TABLE_SHA256,
    check_pair,
    read_null_json,
    write_result_pair,
)


def run(argv: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


@pytest.fixture
def data(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=70, m=120, seed=8, chroms=2)
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    values = np.random.default_rng(2).standard_normal((70, 2))
    pheno = tmp_path / "p.txt"
    pheno.write_text("FID IID a b\n" + "".join(
        f"{f} {i} {u!r} {v!r}\n" for (f, i), (u, v) in zip(fam, values.tolist(), strict=True)))
    return prefix, pheno


def test_a_group_appears_seal_last_and_an_interrupted_commit_leaves_no_seal(tmp_path,
                                                                           monkeypatch):
    table, seal = tmp_path / "x.tsv", tmp_path / "x.json"
    table.write_text("old table\n")
    seal.write_text("old seal\n")
    renamed = []
    real_replace = os.replace

    def replace_once(src, dst):
        if renamed:
            raise OSError(28, "No space left on device")
        renamed.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace_once)
    with pytest.raises(InputError, match=r"x\.json: cannot write it \(No space left"):
        with FileGroup() as group:
            group.write_text(seal, "new seal\n", seal=True)  # added first, renamed last
            group.write_text(table, "new table\n")
            group.commit()
    # the old seal went first, the table is new, the new seal never arrived: no pair on disk
    assert renamed == ["x.tsv"] and table.read_text() == "new table\n"
    assert not seal.exists() and temporaries(tmp_path) == []


def test_an_error_before_commit_leaves_the_old_files_and_no_temporary(tmp_path):
    target = tmp_path / "keep.json"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), FileGroup() as group:
        group.write_text(target, "new\n", seal=True)
        raise RuntimeError("the analysis failed")
    assert target.read_text() == "old\n" and temporaries(tmp_path) == []


def test_a_table_beside_another_runs_record_is_caught(tmp_path):
    columns = {name: np.array([value]) for name, value in (
        ("chrom", "1"), ("snp", "rs1"), ("pos", 5), ("a1", "A"), ("a2", "G"), ("n", 10),
        ("af", 0.3), ("beta", 0.1), ("se", 0.2), ("p_wald", 0.5), ("p_lrt", 0.5),
        ("p_score", 0.5), ("p_bolt_mix", np.nan), ("delta", 1.0), ("delta_ml", np.nan),
        ("errcode", "."))}
    record = {"tool": "t", "gamma": 1.0, "loglik": -3.0, "likelihood": "REML"}
    write_result_pair(tmp_path / "r", columns, record)
    sealed = read_null_json(tmp_path / "r.null.json")
    assert len(sealed[TABLE_SHA256]) == 64 and list(sealed)[-1] == TABLE_SHA256
    check_pair(tmp_path / "r")
    table = tmp_path / "r.assoc.tsv"
    table.write_text(table.read_text().replace("0.1", "0.2"))  # another run's value
    with pytest.raises(InputError, match=r"r\.assoc\.tsv: not the table r\.null\.json was"):
        check_pair(tmp_path / "r")
    table.unlink()
    with pytest.raises(InputError, match=r"r\.assoc\.tsv: missing"):
        check_pair(tmp_path / "r")


def test_a_failed_run_keeps_the_previous_pair_whole(tmp_path, data, capsys):
    """The issue's reproduction: a good run, then one whose phenotype cannot be analysed (×
    1e-300) to the same --out: one error line, the old pair untouched and still a pair."""
    prefix, pheno = data
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--out", tmp_path / "pair",
                     "--no-progress"], capsys)
    assert code == 0, err
    before = {p: (tmp_path / p).read_bytes() for p in ("pair.assoc.tsv", "pair.null.json")}
    lines = pheno.read_text().splitlines()
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("\n".join([lines[0], *(
        " ".join([*line.split()[:2], *(repr(float(v) * 1e-300) for v in line.split()[2:])])
        for line in lines[1:])]) + "\n")
    code, err = run(["assoc", "--bfile", prefix, "--pheno", tiny, "--out", tmp_path / "pair",
                     "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1 and "outside 1e-100 to 1e+100" in err
    assert {p: (tmp_path / p).read_bytes() for p in before} == before
    check_pair(tmp_path / "pair")


def test_several_phenotypes_are_written_all_or_none(tmp_path, data, capsys, monkeypatch):
    prefix, pheno = data
    calls = []
    real = FileGroup.commit

    def fail_commit(self):
        calls.append(1)
        raise InputError("the disk is full", path=tmp_path)

    monkeypatch.setattr(FileGroup, "commit", fail_commit)
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--mpheno", "1-2", "--out",
                     tmp_path / "many", "--no-progress"], capsys)
    assert code == 2 and calls == [1]  # one commit for both pairs
    assert sorted(p.name for p in tmp_path.glob("many*")) == [] and temporaries(tmp_path) == []
    monkeypatch.setattr(FileGroup, "commit", real)
    code, err = run(["assoc", "--bfile", prefix, "--pheno", pheno, "--mpheno", "1-2", "--out",
                     tmp_path / "many", "--no-progress"], capsys)
    assert code == 0, err
    for name in ("a", "b"):
        check_pair(tmp_path / f"many.{name}")


def test_sigterm_during_a_write_removes_every_temporary(tmp_path, data):
    """SIGTERM (what SLURM and Snakemake send) arrives while the pair's temporaries exist: the
    run stops with status 143 and one line, and leaves nothing behind, neither for assoc nor
    for fit --save-model (an N × N archive)."""
    prefix, pheno = data
    script = textwrap.dedent("""
        import os, signal, sys
        from exactlmm.io.atomic import FileGroup
        from exactlmm.cli import main
        real = FileGroup.commit
        def stopped(self):
            os.kill(os.getpid(), signal.SIGTERM)
            real(self)
        FileGroup.commit = stopped
        sys.exit(main(sys.argv[1:]))
    """)
    for args in (["assoc"], ["fit", "--save-model", str(tmp_path / "m")]):
        done = subprocess.run(
            [sys.executable, "-c", script, *args, "--bfile", str(prefix), "--pheno", str(pheno),
             "--no-progress", "--out", str(tmp_path / "stopped")],
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 128 + signal.SIGTERM, done.stderr
        assert done.stderr.splitlines()[-1] == ("exactlmm: error: stopped by signal SIGTERM; "
                                                "nothing written")
        assert "Traceback" not in done.stderr
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(
            (".stopped", "stopped", ".m.", "m."))) == []


def test_the_next_write_removes_a_killed_runs_temporaries(tmp_path):
    """A SIGKILL leaves its temporaries; the next write to the same target removes those of
    processes of this host that are no longer alive, and no other."""
    target = tmp_path / "out.assoc.tsv"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    host = atomic._HOST
    stale = tmp_path / f".out.assoc.tsv.{host}.{dead_pid}.abc123.tmp"
    alive = tmp_path / f".out.assoc.tsv.{host}.{os.getppid()}.def456.tmp"
    elsewhere = tmp_path / f".out.assoc.tsv.otherhost.{dead_pid}.ghi789.tmp"
    for path in (stale, alive, elsewhere):
        path.write_text("partial")
    atomic.write_text_atomic(target, "rows\n")
    assert not stale.exists() and alive.exists() and elsewhere.exists()
    assert remove_stale_temporaries(target) == []


def test_a_saved_model_header_without_its_archive_is_not_a_model(tmp_path, data, capsys):
    prefix, pheno = data
    code, err = run(["fit", "--bfile", prefix, "--pheno", pheno, "--save-model", tmp_path / "m",
                     "--out", tmp_path / "m", "--no-progress"], capsys)
    assert code == 0, err
    header = json.loads((tmp_path / "m.model.json").read_text())
    assert header["header_sha256"] and header["npz_sha256"]
    (tmp_path / "m.model.npz").unlink()
    code, err = run(["assoc", "--bfile", prefix, "--model", tmp_path / "m", "--out",
                     tmp_path / "x"], capsys)
    assert code == 2 and "m.model.npz: no such model file" in err
