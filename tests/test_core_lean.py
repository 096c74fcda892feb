"""The core is lean: exactlmm runs without pandas, matplotlib and snakemake (the ``workflow``
extra), a plain ``pip install`` of the repository (no extras) is enough for a scan, and no
module of exactlmm imports the harness (lmmcompare): runs, skips and the simulator are its."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed
from import_blocker import SOURCE

from exactlmm.io.results import read_assoc_tsv

ROOT = Path(__file__).resolve().parents[1]

LEAN_SCRIPT = textwrap.dedent(
    """
    import importlib
    import json
    import pkgutil

    for name in BLOCKED:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
        else:
            raise SystemExit(f"the blocker let {name} through")

    import exactlmm

    modules = [info.name for info in pkgutil.walk_packages(exactlmm.__path__, "exactlmm.")]
    for name in modules:
        importlib.import_module(name)
    harness = sorted(m for m in sys.modules if m.split(".")[0] == "lmmcompare")

    from exactlmm.cli import main
    from lmmcompare.cli import main as harness_main  # the simulator: numpy and bed-reader

    d = sys.argv[1]
    simulated = harness_main(
        ["simulate", "--out", f"{d}/sim", "--n-samples", "60", "--n-snps", "90",
         "--n-chromosomes", "3", "--seed", "5", "--h2", "0.5", "--n-causal", "2",
         "--causal-h2", "0.1", "--n-covariates", "1", "--missing-rate", "0.02"])
    steps = [
        ["qc", "--bfile", f"{d}/sim", "--pheno", f"{d}/sim.pheno", "--maf", "0.05",
         "--out", f"{d}/q"],
        ["kinship", "--bfile", f"{d}/sim", "--extract", f"{d}/q.snplist", "--kind",
         "centered", "--out", f"{d}/k", "--no-progress"],
        ["fit", "--bfile", f"{d}/sim", "--pheno", f"{d}/sim.pheno", "--covar",
         f"{d}/sim.covar", "--kinship", f"{d}/k.kinship.txt", "--ml", "--out",
         f"{d}/fit", "--no-progress"],
        ["assoc", "--bfile", f"{d}/sim", "--pheno", f"{d}/sim.pheno", "--covar",
         f"{d}/sim.covar", "--extract", f"{d}/q.snplist", "--refit", "--out",
         f"{d}/res", "--no-progress"],
        ["assoc", "--bfile", f"{d}/sim", "--pheno", f"{d}/sim.pheno", "--loco",
         "--out", f"{d}/loco", "--no-progress"],
    ]
    codes = [simulated] + [main(argv) for argv in steps]
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps({"codes": codes, "loaded": loaded, "modules": modules,
                      "harness": harness}))
    """
)


def test_core_runs_without_the_workflow_packages(tmp_path):
    script = tmp_path / "lean.py"
    script.write_text(SOURCE + LEAN_SCRIPT)
    # This checkout's packages, whichever copy is installed, and nothing else on the path.
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
           "PYTHONPATH": str(ROOT / "src")}
    run = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                         text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    assert report["codes"] == [0] * 6, run.stderr
    assert report["loaded"] == []
    assert report["harness"] == [], "importing exactlmm loaded lmmcompare"
    assert {"exactlmm.cli", "exactlmm.pipeline", "exactlmm.dosage", "exactlmm.io.results"} <= \
        set(report["modules"])
    table = read_assoc_tsv(tmp_path / "res.assoc.tsv")
    assert table["snp"].size == len((tmp_path / "q.snplist").read_text().split()) > 0
    assert np.all(table["errcode"] == ".") and np.all(np.isfinite(table["p_lrt"]))
    assert json.loads((tmp_path / "k.kinship.json").read_text())["kind"] == "centered"
    assert read_assoc_tsv(tmp_path / "loco.assoc.tsv")["snp"].size == 90


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in a Python file, lazy ones inside functions
    too."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_no_core_module_imports_the_harness():
    """The core knows nothing of the harness: no module of exactlmm imports lmmcompare, not
    even lazily inside a function (which importing every module would not reveal)."""
    core = ROOT / "src" / "exactlmm"
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted(core.rglob("*.py"))
        for line, module in _imported_modules(path)
        if module.split(".")[0] == "lmmcompare"
    ]
    assert offenders == [], "exactlmm imports the harness: " + "; ".join(offenders)


def _copy_working_tree(destination: Path) -> None:
    """The repository as it is on disk (tracked and untracked, not ignored files)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():  # deleted in the work tree but still in the index
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())


NETWORK_TROUBLE = ("NewConnectionError", "Temporary failure in name resolution",
                   "Failed to establish a new connection", "Network is unreachable",
                   "No matching distribution found", "Could not find a version",
                   "ConnectTimeoutError", "ReadTimeoutError", "ProxyError")


@pytest.mark.slow
def test_fresh_venv_install_scans_raw_hs1940(tmp_path, hs1940):
    """``pip install <repo>`` (no extras) into a new venv, then ``exactlmm assoc`` on the raw
    HS1940 fileset: 12,226 rows, the monomorphic ones NA with their errcode, and no pandas."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    source = tmp_path / "source"
    _copy_working_tree(source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
         str(source)],
        capture_output=True, text=True, env=env, timeout=1800,
    )
    if install.returncode != 0:
        output = install.stdout + install.stderr
        trouble = next((t for t in NETWORK_TROUBLE if t in output), None)
        if trouble is not None:
            pytest.skip(f"pip could not reach the package index ({trouble})")
        pytest.fail(f"pip install failed:\n{output[-3000:]}")
    exactlmm = venv / "bin" / "exactlmm"
    out = tmp_path / "hs"
    run = subprocess.run([str(exactlmm), "assoc", "--bfile", str(hs1940), "--out", str(out),
                          "--no-progress"], capture_output=True, text=True, env=env,
                         timeout=1200)
    assert run.returncode == 0, run.stderr
    with open_bed(f"{hs1940}.bed", count_A1=True) as bed:
        G = bed.read(dtype="float64")[np.asarray(bed.pheno) != "NA"]
    assert G.shape == (1410, 12226)
    mono = np.array([np.unique(c[~np.isnan(c)]).size == 1 for c in G.T])
    assert f"{mono.sum()} of 12226 SNPs not tested: MONOMORPHIC {mono.sum()}" in run.stderr
    table = read_assoc_tsv(f"{out}.assoc.tsv")
    assert table["snp"].size == 12226
    np.testing.assert_array_equal(table["errcode"] == "MONOMORPHIC", mono)
    assert np.all(table["errcode"][~mono] == ".")
    for name in ("beta", "se", "p_wald", "p_lrt", "p_score", "delta"):
        assert np.all(np.isnan(table[name][mono])), name
        assert np.all(np.isfinite(table[name][~mono])), name
    null = json.loads(Path(f"{out}.null.json").read_text())
    assert null["untested"] == {"MONOMORPHIC": int(mono.sum())}
    probe = subprocess.run(
        [str(python), "-c", "import importlib.util as u, json; print(json.dumps("
         "[u.find_spec(m) is None for m in ('pandas', 'matplotlib', 'snakemake')]))"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == [True, True, True]  # none of them installed
    version = subprocess.run([str(exactlmm), "--version"], capture_output=True, text=True,
                             env=env, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("exactlmm ")
