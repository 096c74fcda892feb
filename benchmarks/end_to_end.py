"""``exactlmm assoc`` end to end (a process: imports and I/O included) against its floor.

For each shape (N analysed samples, M SNPs) and each mode (fixed, refit), with and without a
kinship file, it runs ``exactlmm assoc`` as a subprocess and times it (wall clock; peak RSS from
``wait4``), and measures in the same run the **floor**, the operations any exact eigenbasis
scan must do, each timed alone on arrays of exactly that shape:

* ``read``: the analysed samples' dosages from the ``.bed`` into float64, blocks of 4096 SNPs,
  by the faster of bed-reader and exactlmm's own decoder (which also imputes and centres);
* ``syrk`` (without a kinship file): the kinship's rank-M update ZZᵀ of an N × N matrix
  (BLAS ``dsyrk``, blocks of 4096 SNPs; the faster of SciPy's and numpy's BLAS);
* ``eigh``: the eigendecomposition of an N × N symmetric matrix (the faster of numpy's
  ``eigh`` and LAPACK ``dsyevd`` in place);
* ``gemm``: the rotation UᵀG, a (k × N)·(N × M) product (k = N − c, c the covariates);
* ``cheb`` (refit only): the two Chebyshev GEMMs of the per-SNP refit of the previous design,
  Φ(ỹ∘UᵀG) and Φ(UᵀG)², each (122 × k)·(k × M) — the cost the refit's series were measured
  against.  (The refit now does two grid GEMMs of 93 rows and small local ones instead.)

floor = read + [syrk] + eigh + gemm + [cheb]; ratio = ours / floor.  Each timing is the best
of ``--repeat`` runs; ours and the floor alternate, so a change of the machine's load touches
both.  With ``--peers`` the HS1940 row also runs FaST-LMM ``single_snp`` (fixed; kinship from
the same SNPs) and GEMMA ``-gk 1`` + ``-lmm 4`` (refit) alternately with ours.

Shapes: ``hs1940`` (GEMMA's mouse example: phenotype 1, 1410 mice, the 10,768 SNPs of GEMMA's
default QC, no covariate) and simulated ones ``NxM`` (:mod:`datasets`: one covariate, a
phenotype file).  The kinship file is a GCTA ``.grm.bin`` written by ``exactlmm kinship
--format grm`` (not timed).  Run::

    python benchmarks/end_to_end.py [--shapes hs1940,400x300000,2000x50000,5000x50000]
        [--big] [--repeat 2] [--peers] [--workdir DIR] [--out table.md]

``--big`` adds 10000x50000 (minutes per run).  The default shapes take about 15 minutes on
2 cores.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import write_dataset

DEFAULT_SHAPES = "hs1940,400x300000,2000x50000,5000x50000"
BIG_SHAPES = "10000x50000"
HS1940 = Path("/usr/share/doc/gemma/example/mouse_hs1940")
BLOCK = 4096
CHEBYSHEV_ROWS = 122


@dataclass
class Case:
    """One dataset: the fileset and the ``exactlmm assoc`` options that select its analysis."""

    name: str
    prefix: Path
    options: list[str]
    n: int
    m: int
    c: int
    samples: np.ndarray  # analysed samples, .fam positions
    snps: np.ndarray  # tested SNPs, .bim positions


# ------------------------------------------------------------------------------ datasets

def prepare_hs1940(workdir: Path) -> Case:
    directory = workdir / "hs1940"
    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / "hs1940"
    for ext in ("bed", "bim", "fam"):
        target = Path(f"{prefix}.{ext}")
        if not target.exists():
            with gzip.open(f"{HS1940}.{ext}.gz", "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    snplist = directory / "gemma_qc.snplist"
    if not snplist.exists():
        run(["exactlmm", "qc", "--bfile", str(prefix), "--maf", "0.01", "--geno", "0.05",
             "--out", str(directory / "gemma_qc")])
    fam = [line.split() for line in Path(f"{prefix}.fam").read_text().splitlines()]
    samples = np.array([i for i, f in enumerate(fam) if f[5] not in ("NA", "-9")])
    bim = [line.split()[1] for line in Path(f"{prefix}.bim").read_text().splitlines()]
    wanted = set(snplist.read_text().split())
    snps = np.array([j for j, s in enumerate(bim) if s in wanted])
    return Case("hs1940", prefix, ["--extract", str(snplist)], samples.size, snps.size, 1,
                samples, snps)


def prepare_simulated(workdir: Path, n: int, m: int) -> Case:
    name = f"{n}x{m}"
    prefix = workdir / name / "sim"
    if not Path(f"{prefix}.covar").exists():
        write_dataset(prefix, n, m, seed=n + m)
    return Case(name, prefix, ["--pheno", f"{prefix}.pheno", "--covar", f"{prefix}.covar"],
                n, m, 2, np.arange(n), np.arange(m))


def kinship_file(case: Case) -> Path:
    """GCTA GRM of the case's SNPs over every .fam sample (``exactlmm kinship --format grm``)."""
    out = case.prefix.with_name(case.prefix.name + ".k")
    path = Path(f"{out}.grm.bin")
    if not path.exists():
        extract = case.options[1:2] if case.options[:1] == ["--extract"] else []
        run(["exactlmm", "kinship", "--bfile", str(case.prefix), "--format", "grm",
             "--no-progress", "--out", str(out), *(["--extract", *extract] if extract else [])])
    return path


# ------------------------------------------------------------------------------ timing

TIME = shutil.which("time") or "/usr/bin/time"


def run(argv: Sequence[str], cwd: Path | None = None) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in GB); fail loudly on an error.

    The peak comes from GNU ``time -f %M`` around the command: the ``ru_maxrss`` that
    ``wait4`` reports for a child of this (large) process would include the pages it had
    before ``exec``."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss:
        measured = [TIME, "-f", "%M", "-o", rss.name] if os.path.exists(TIME) else []
        start = time.perf_counter()
        proc = subprocess.run([*measured, *argv], cwd=cwd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        wall = time.perf_counter() - start
        text = Path(rss.name).read_text().split()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                           f"{proc.stderr.decode()[-2000:]}")
    return wall, (float(text[-1]) / 1024**2 if text else float("nan"))


def best(repeat: int, fun: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fun()
        times.append(time.perf_counter() - start)
    return min(times)


def floor_parts(case: Case, kinship: bool, refit: bool, repeat: int) -> dict[str, float]:
    """The floor's operations on this case's shapes (module notes)."""
    from bed_reader import open_bed
    from scipy.linalg.lapack import dsyevd

    n, m, c = case.n, case.m, case.c
    k = n - c
    rng = np.random.default_rng(0)
    blocks = [(s, min(s + BLOCK, m)) for s in range(0, m, BLOCK)]

    def read() -> None:
        with open_bed(f"{case.prefix}.bed", count_A1=True) as bed:
            for s, e in blocks:
                bed.read(index=np.s_[case.samples, case.snps[s:e]], dtype="float64")

    def read_ours() -> None:  # exactlmm's decoder: imputed, centred float64 values
        from exactlmm.dosage import decode
        from exactlmm.io.plink import bed_codes, open_plink
        from exactlmm.parallel import Workspace

        codes, workspace = bed_codes(open_plink(case.prefix), case.samples), Workspace()
        for s, e in blocks:
            decode(codes, case.snps[s:e], workspace=workspace)

    z = np.asfortranarray(rng.standard_normal((n, BLOCK)))
    parts = {"read": min(best(repeat, read), best(repeat, read_ours))}
    if not kinship:
        from scipy.linalg.blas import dsyrk

        def syrk_scipy() -> None:
            out = np.zeros((n, n), order="F")
            for s, e in blocks:
                out = dsyrk(1.0, z[:, : e - s], beta=1.0, c=out, trans=0, lower=0,
                            overwrite_c=1)

        def syrk_numpy() -> None:  # numpy's own BLAS detects A·Aᵀ and calls syrk
            for s, e in blocks:
                z[:, : e - s] @ z[:, : e - s].T

        parts["syrk"] = min(best(repeat, syrk_scipy), best(repeat, syrk_numpy))
    base = z[:, : min(n, BLOCK)] @ z[:, : min(n, BLOCK)].T / BLOCK + np.eye(n)

    def eigh_lapack() -> None:
        dsyevd(np.array(base, order="F"), compute_v=1, lower=0, overwrite_a=1)

    parts["eigh"] = min(best(repeat, lambda: np.linalg.eigh(base)), best(repeat, eigh_lapack))
    basis = np.linalg.qr(rng.standard_normal((n, k)))[0]
    block_rows = np.ascontiguousarray(z.T)

    def gemm() -> None:
        for s, e in blocks:
            block_rows[: e - s] @ basis

    parts["gemm"] = best(repeat, gemm)
    if refit:
        phi = rng.standard_normal((CHEBYSHEV_ROWS, k))
        rotated = rng.standard_normal((k, BLOCK))

        def cheb() -> None:
            for s, e in blocks:
                phi @ rotated[:, : e - s]
                phi @ rotated[:, : e - s]

        parts["cheb"] = best(repeat, cheb)
    return parts


def ours(case: Case, refit: bool, kinship: Path | None, out: Path) -> list[str]:
    argv = ["exactlmm", "assoc", "--bfile", str(case.prefix), *case.options, "--no-progress",
            "--out", str(out)]
    if refit:
        argv.append("--refit")
    if kinship is not None:
        argv += ["--kinship", str(kinship)]
    return argv


# ------------------------------------------------------------------------------ peers

FASTLMM_SCRIPT = """
import sys
import numpy as np
from fastlmm.association import single_snp
from pysnptools.snpreader import Bed, SnpData
prefix, snplist = sys.argv[1], sys.argv[2]
bed = Bed(prefix, count_A1=True)
y = np.array([np.nan if line.split()[5] in ("NA", "-9") else float(line.split()[5])
              for line in open(prefix + ".fam")])
keep = ~np.isnan(y)
wanted = set(open(snplist).read().split())
snps = np.flatnonzero([s in wanted for s in bed.sid])
data = bed[keep, snps]
pheno = SnpData(iid=bed.iid[keep], sid=np.array(["y"]), val=y[keep].reshape(-1, 1))
single_snp(test_snps=data, pheno=pheno, K0=data, count_A1=True, leave_out_one_chrom=False)
"""


def peers(case: Case, repeat: int, workdir: Path) -> list[dict]:
    """FaST-LMM (fixed) and GEMMA (refit) on HS1940, each alternating with ours."""
    rows = []
    scratch = Path(tempfile.mkdtemp(prefix="peers.", dir=workdir))
    snplist = case.options[1]
    script = scratch / "fastlmm_single_snp.py"
    script.write_text(FASTLMM_SCRIPT)
    fast, ours_fixed = [], []
    gemma, ours_refit = [], []
    for _ in range(repeat):
        fast.append(run([sys.executable, str(script), str(case.prefix), snplist])[0])
        ours_fixed.append(run(ours(case, False, None, scratch / "ours"))[0])
        kin = run(["gemma", "-bfile", str(case.prefix), "-snps", snplist, "-gk", "1",
                   "-o", "k"], cwd=scratch)[0]
        lmm = run(["gemma", "-bfile", str(case.prefix), "-snps", snplist, "-k",
                   "output/k.cXX.txt", "-lmm", "4", "-o", "r"], cwd=scratch)[0]
        gemma.append(kin + lmm)
        ours_refit.append(run(ours(case, True, None, scratch / "ours"))[0])
    rows.append({"peer": "FaST-LMM single_snp (fixed, K from the SNPs)",
                 "peer_s": min(fast), "ours_s": min(ours_fixed)})
    rows.append({"peer": "GEMMA -gk 1 + -lmm 4 (refit)", "peer_s": min(gemma),
                 "ours_s": min(ours_refit)})
    shutil.rmtree(scratch, ignore_errors=True)
    return rows


# ------------------------------------------------------------------------------ phenotypes

def phenotypes(case: Case, repeat: int, workdir: Path) -> list[dict]:
    """HS1940's six .fam phenotypes: one per run, the pairs of a sample set (2 with 4, 3 with
    5) in one run, and all six in one run against the four sample sets run separately."""
    rows = []
    out = workdir / "pheno_out"
    for mode in ("fixed", "refit"):
        extra = ["--refit"] if mode == "refit" else []

        def timed(spec: str, extra: list[str] = extra) -> float:
            return min(run([*ours(case, False, None, out), "--mpheno", spec, *extra])[0]
                       for _ in range(repeat))

        single = {j: timed(str(j)) for j in (1, 2, 3, 6)}
        pairs = {spec: timed(spec) for spec in ("2,4", "3,5")}
        together = timed("1-6")
        separately = single[1] + pairs["2,4"] + pairs["3,5"] + single[6]
        rows.append({"mode": mode, "p2": single[2], "p2+p4": pairs["2,4"],
                     "p3": single[3], "p3+p5": pairs["3,5"], "all six": together,
                     "four sets separately": separately})
    return rows


# ------------------------------------------------------------------------------ main

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return (f"{cpu}, {os.cpu_count()} cores; numpy {np.__version__} with "
            f"{config.get('name')} {config.get('version')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default=DEFAULT_SHAPES)
    parser.add_argument("--big", action="store_true", help=f"also {BIG_SHAPES}")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--peers", action="store_true", help="FaST-LMM and GEMMA on hs1940")
    parser.add_argument("--phenotypes", action="store_true",
                        help="hs1940's six phenotypes in one run against separate runs")
    parser.add_argument("--modes", default="fixed,refit")
    parser.add_argument("--kinship", default="none,file", help="none, file or both")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "exactlmm-bench"))
    parser.add_argument("--out", help="also write the tables (Markdown) to this file")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    shapes = args.shapes.split(",") + (BIG_SHAPES.split(",") if args.big else [])
    load_start = os.getloadavg()[0]
    baseline = run([sys.executable, "-c", "import exactlmm.cli, scipy.special"])[1]
    rows, peer_rows, pheno_rows = [], [], []
    for shape in shapes:
        if shape == "hs1940":
            case = prepare_hs1940(workdir)
        else:
            n, m = (int(v) for v in shape.split("x"))
            case = prepare_simulated(workdir, n, m)
        grm = kinship_file(case)
        for kin in args.kinship.split(","):
            for mode in args.modes.split(","):
                refit = mode == "refit"
                kinship = grm if kin == "file" else None
                walls, rss = [], 0.0
                floors: dict[str, float] = {}
                for _ in range(args.repeat if case.n < 5000 else 1):  # big shapes: once
                    wall, peak = run(ours(case, refit, kinship, workdir / "out"))
                    walls.append(wall)
                    rss = max(rss, peak)
                    for key, value in floor_parts(case, kinship is not None, refit, 1).items():
                        floors[key] = min(floors.get(key, np.inf), value)
                floor = sum(floors.values())
                row = {"shape": case.name, "N": case.n, "M": case.m, "mode": mode,
                       "kinship": "file (.grm.bin)" if kinship else "from genotypes",
                       "ours_s": min(walls), "floor_s": floor, "ratio": min(walls) / floor,
                       "peak_rss_gb": rss,
                       "peak_over_n2": (rss - baseline) * 1024**3 / (8 * case.n**2),
                       **{f"{k}_s": v for k, v in floors.items()}}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        if args.peers and case.name == "hs1940":
            peer_rows = peers(case, args.repeat, workdir)
        if args.phenotypes and case.name == "hs1940":
            pheno_rows = phenotypes(case, args.repeat, workdir)
    load_end = os.getloadavg()[0]
    lines = [f"Machine: {machine()}.  Load average {load_start:.2f} at the start, "
             f"{load_end:.2f} at the end; the interpreter with exactlmm and scipy.special "
             f"loaded holds {baseline:.2f} GB.", ""]
    lines += ["| shape | N | M | mode | kinship | ours s | floor s | ratio | floor parts s "
              "| peak RSS GB | (peak − interpreter) / N² doubles |", "|" + "---|" * 11]
    for r in rows:
        parts = ", ".join(f"{k[:-2]} {r[k]:.2f}" for k in
                          ("read_s", "syrk_s", "eigh_s", "gemm_s", "cheb_s") if k in r)
        lines.append(f"| {r['shape']} | {r['N']} | {r['M']} | {r['mode']} | {r['kinship']} | "
                     f"{r['ours_s']:.2f} | {r['floor_s']:.2f} | {r['ratio']:.2f} | {parts} | "
                     f"{r['peak_rss_gb']:.2f} | {r['peak_over_n2']:.1f} |")
    if peer_rows:
        lines += ["", "| HS1940, side by side | peer s | ours s | peer / ours |",
                  "|---|---|---|---|"]
        for r in peer_rows:
            lines.append(f"| {r['peer']} | {r['peer_s']:.2f} | {r['ours_s']:.2f} | "
                         f"{r['peer_s'] / r['ours_s']:.1f} |")
    if pheno_rows:
        lines += ["", "| HS1940 phenotypes, s | p2 | p2+p4 | 2nd costs | p3 | p3+p5 | 2nd costs "
                  "| all six | four sets separately |", "|---|---|---|---|---|---|---|---|---|"]
        for r in pheno_rows:
            lines.append(
                f"| {r['mode']} | {r['p2']:.2f} | {r['p2+p4']:.2f} | "
                f"{(r['p2+p4'] - r['p2']) / r['p2']:.0%} | {r['p3']:.2f} | {r['p3+p5']:.2f} | "
                f"{(r['p3+p5'] - r['p3']) / r['p3']:.0%} | {r['all six']:.2f} | "
                f"{r['four sets separately']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
