"""Leave-one-chromosome-out by downdate (``exactlmm.downdate``) against one eigendecomposition
per chromosome, on the same data in one run.

For each shape ``NxM`` (a seeded dataset of :mod:`datasets`: two populations, one covariate,
``--chromosomes`` chromosomes of equal size) it times, in this process, from the ``.bed``:

* **genome-wide** (what ``exactlmm assoc`` fixed does first, and what LOCO's headline null
  needs): the standardized kinship K of all SNPs (dsyrk), its eigendecomposition in place, the
  REML null fit; then the fixed scan of every SNP (decode, rotate, tests): together the fixed
  run;
* **per chromosome, today's path**, for the first chromosome c: K₋c from the SNPs off c, its
  eigendecomposition, its null fit, the scan of c's SNPs;
* **per chromosome, the downdate**, for the same c: c's SNPs decoded and rotated once
  (``kinship_rows``), the capacitance's T (``ChromosomeDowndate``), the Newton null fit, the
  scan of c's SNPs reusing the rotations;

checks that both paths agree (δ, −log10 p), and projects whole runs: fixed = genome-wide +
scan; LOCO today = one kinship pass + C × (eigendecomposition, fit, scan of c) + the headline
genome-wide model (today's ``_association_loco``); LOCO by downdate = genome-wide + C × the
downdate of c.  The N = 20,000, M = 50,000, C = 22 run (``--project``) is projected from the
largest shape's parts, each scaled by its operation count.  The machine is shared: the load
average (``uptime``) before and after is printed, and the numbers are indicative.  Run::

    python benchmarks/loco_downdate.py [--shapes 3000x20000,8000x20000] [--chromosomes 10]
        [--project 20000x50000:22] [--workdir DIR] [--out table.md]

The default shapes take about 15 minutes on 2 idle cores (the N = 8,000 eigendecompositions
most of it) and 2 GB of memory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import write_dataset
from end_to_end import machine

from exactlmm import load_inputs
from exactlmm.dosage import decode, imputed
from exactlmm.downdate import (
    ChromosomeDowndate,
    DowndateScanner,
    fit_downdate,
    kinship_rows,
)
from exactlmm.io.plink import auto_block_size, bed_codes
from exactlmm.kinship import kinship_standardized
from exactlmm.null import fit_null
from exactlmm.parallel import Workspace
from exactlmm.scan import Scanner, rotate_block, scan_imputed
from exactlmm.spectral import spectrum_from_kinship

DEFAULT_SHAPES = "3000x20000,8000x20000"


class Clock:
    """Named wall-clock timings, in order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def blocks_of(inputs, snps: np.ndarray, size: int, workspace: Workspace | None = None):
    """Imputed, centered blocks of the SNPs ``snps`` (``.bim`` positions), as a scan reads them."""
    codes = bed_codes(inputs.dataset, inputs.samples.fam_index)
    for start in range(0, snps.size, size):
        yield imputed(*decode(codes, snps[start : start + size], workspace=workspace))


def model_and_fit(inputs, snps: np.ndarray, clock: Clock):
    """The standardized kinship of the SNPs ``snps``, its eigendecomposition in place and the
    REML fit (what ``exactlmm assoc`` does for one kinship)."""
    with clock("kinship"):
        k, m, _ = kinship_standardized(inputs.dataset, inputs.samples.fam_index, snps)
    mean_diag = float(np.trace(k)) / k.shape[0]
    with clock("eigh"):
        spectrum = spectrum_from_kinship(k, inputs.covariates, overwrite=True)
    del k
    with clock("fit"):
        null = fit_null(spectrum, inputs.y, inputs.covariates, spectrum.kinship_matvec,
                        mean_diag)
    return spectrum, null, m, mean_diag


def per_chromosome(inputs, on_c: np.ndarray, size: int, clock: Clock):
    """Today's path for chromosome c: K₋c, its eigendecomposition, its fit, c's scan."""
    _, null, _, _ = model_and_fit(inputs, inputs.snp_index[~on_c], clock)
    with clock("scan"):
        stats = scan_imputed([Scanner(null)], blocks_of(inputs, inputs.snp_index[on_c], size,
                                                        Workspace()))[0]
    return null, stats


def downdate(inputs, spectrum, genome_null, m_total, mean_diag, on_c, size, clock: Clock):
    """The downdate for chromosome c: rotate c's SNPs once, fit, scan with the rotations."""
    with clock("decode+rotate"):
        blocks = list(blocks_of(inputs, inputs.snp_index[on_c], size))
        rows = kinship_rows(spectrum, blocks)
    with clock("T"):
        dd = ChromosomeDowndate(spectrum, rows.rotated, rows.covariate_part, m_total,
                                mean_diag, scale=rows.scale)
    rotations = rows.rotations
    with clock("fit"):
        null = fit_downdate(dd, genome_null.phenotype, inputs.covariates,
                            start_log_delta=genome_null.log_delta)
    with clock("scan"):
        scanner = DowndateScanner(null)
        workspace = Workspace()
        parts = [scanner.scan_rotated(rotate_block(spectrum, block, workspace, x_rot=x_rot))
                 for block, x_rot in zip(blocks, rotations, strict=True)]
        stats = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return null, stats, dd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default=DEFAULT_SHAPES)
    parser.add_argument("--chromosomes", type=int, default=10)
    parser.add_argument("--project", default="20000x50000:22",
                        help="NxM:C to project from the last shape's measurements")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "exactlmm-loco"))
    parser.add_argument("--out", help="also write the tables (Markdown) to this file")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # boundary warnings of the fits are not the point here
    lines = [f"Machine: {machine()}", f"Load average before: {load()}", ""]
    print("\n".join(lines), flush=True)
    header = ("N", "M", "C", "genome-wide s (kinship/eigh/fit)", "fixed scan s",
              "today c: kinship/eigh/fit/scan s", "downdate c: rotate/T/fit/scan s",
              "evaluations", "fixed s", "LOCO today s", "LOCO downdate s", "ratio today",
              "ratio downdate", "max Δ log δ", "max Δ −log10 p")
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    measured = None
    for shape in args.shapes.split(","):
        n, m = (int(v) for v in shape.split("x"))
        prefix = Path(args.workdir) / f"{shape}c{args.chromosomes}" / "sim"
        if not Path(f"{prefix}.covar").exists():
            write_dataset(prefix, n, m, seed=n + m, n_chromosomes=args.chromosomes)
        inputs = load_inputs(prefix, pheno=f"{prefix}.pheno", covar=f"{prefix}.covar")
        size = auto_block_size(inputs.n_samples)
        chrom = inputs.dataset.chrom[inputs.snp_index].astype(str)
        on_c = chrom == chrom[0]
        gw, fixed_scan, today, dd_clock = Clock(), Clock(), Clock(), Clock()
        spectrum, genome_null, m_total, mean_diag = model_and_fit(inputs,
                                                                  inputs.snp_index, gw)
        with fixed_scan("scan"):
            scan_imputed([Scanner(genome_null)], blocks_of(inputs, inputs.snp_index, size,
                                                           Workspace()))
        ours, ours_stats, dd = downdate(inputs, spectrum, genome_null, m_total, mean_diag,
                                        on_c, size, dd_clock)
        del spectrum, dd
        ref, ref_stats = per_chromosome(inputs, on_c, size, today)
        c = args.chromosomes
        fixed = sum(gw.seconds.values()) + fixed_scan.seconds["scan"]
        loco_today = (today.seconds["kinship"] * m / (m - on_c.sum())
                      + c * (today.seconds["eigh"] + today.seconds["fit"]
                             + today.seconds["scan"]) + sum(gw.seconds.values()))
        loco_dd = sum(gw.seconds.values()) + c * sum(dd_clock.seconds.values())
        p_ours, p_ref = -np.log10(ours_stats["p_wald"]), -np.log10(ref_stats["p_wald"])
        row = (str(n), str(m), str(c), "/".join(f"{v:.1f}" for v in gw.seconds.values()),
               f"{fixed_scan.seconds['scan']:.1f}",
               "/".join(f"{v:.1f}" for v in today.seconds.values()),
               "/".join(f"{v:.1f}" for v in dd_clock.seconds.values()),
               f"{ours.evaluations} ({ours.newton} Newton)", f"{fixed:.0f}",
               f"{loco_today:.0f}", f"{loco_dd:.0f}", f"{loco_today / fixed:.2f}",
               f"{loco_dd / fixed:.2f}", f"{abs(ours.log_delta - ref.log_delta):.1e}",
               f"{np.nanmax(np.abs(p_ours - p_ref)):.1e}")
        table.append("| " + " | ".join(row) + " |")
        print(table[-1], flush=True)
        measured = {"n": n, "m": m, "r": int(on_c.sum()), "genome-wide": gw.seconds,
                    "fixed scan": fixed_scan.seconds["scan"], "downdate": dd_clock.seconds}
    lines += [*table, "", f"Load average after: {load()}"]
    if args.project and measured is not None:
        lines += ["", *project(args.project, measured)]
    text = "\n".join(lines)
    print("\n".join(lines[len(table) + 3:]))
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def project(target: str, measured: dict) -> list[str]:
    """The target run's time and memory, each measured part of the largest shape scaled by its
    own operation count: the kinship by N²M (dsyrk), the eigendecomposition by N³, the scan
    (decode, rotation, tests) by N²M, a chromosome's rotation by N²r and the rest of its
    downdate (T, the capacitance Gram matrices, the scan's GEMM) by N r²."""
    shape, chromosomes = target.split(":")
    n, m = (int(v) for v in shape.split("x"))
    c = int(chromosomes)
    n0, m0, r0 = measured["n"], measured["m"], measured["r"]
    r = m // c
    gw, dd = measured["genome-wide"], measured["downdate"]
    kinship = gw["kinship"] * (n * n * m) / (n0 * n0 * m0)
    eigh = gw["eigh"] * (n / n0) ** 3
    scan = measured["fixed scan"] * (n * n * m) / (n0 * n0 * m0)
    rotation = dd["decode+rotate"] * (n * n * r) / (n0 * n0 * r0)
    rest = (dd["T"] + dd["fit"] + dd["scan"]) * (n * r * r) / (n0 * r0 * r0)
    fixed = kinship + eigh + scan
    loco = kinship + eigh + c * (rotation + rest)
    today = 2 * kinship + (c + 1) * eigh + scan
    memory = {"eigendecomposition (3 N² doubles)": 3 * n * n * 8,
              "LOCO scan by downdate (N² + 4 r N doubles)": (n * n + 4 * r * n) * 8}
    return [
        f"Projection to N = {n:,}, M = {m:,}, C = {c} (r = {r:,} SNPs per chromosome), from "
        f"the N = {n0:,} parts measured above:",
        f"* kinship {kinship / 60:.0f} min, eigendecomposition {eigh / 60:.0f} min, scan "
        f"{scan / 60:.0f} min: fixed about {fixed / 60:.0f} min;",
        f"* per chromosome: rotation {rotation:.0f} s, fit + scan {rest:.0f} s: LOCO by "
        f"downdate about {loco / 60:.0f} min ({loco / fixed:.2f} × fixed); today's path "
        f"{c + 1} eigendecompositions, about {today / 3600:.1f} h;",
        "* peak memory: " + ", ".join(f"{name} {v / 2**30:.1f} GiB"
                                      for name, v in memory.items()) + ".",
    ]


def load() -> str:
    one, five, fifteen = (f"{v:.2f}" for v in __import__("os").getloadavg())
    return f"{one}, {five}, {fifteen}"


if __name__ == "__main__":
    sys.exit(main())
