"""Scan throughput (SNPs/s) of exactlmm against its physical limit, on simulated data.

For each N (individuals) and M (SNPs) it times, in one process and on the same data:

* ``floor``: ``numpy.linalg.eigh`` of an N × N kinship plus one dense product Wᵀ G of shape
  (N × N)·(N × M) — the two operations every exact eigenbasis scan must do;
* ``fixed``: our null fit + fixed-δ scan (Wald, LRT, score) from a kinship matrix;
* ``refit``: the same with δ re-estimated per SNP by REML and by ML (GEMMA ``-lmm 4``).

Genotypes are generated in memory (no disk I/O is timed).  Each timing is the best of
``--repeat`` runs.  Run: ``python benchmarks/scan_throughput.py [--sizes 500,1000,2000]
[--snps 10000,50000] [--out results.tsv]``.  Numbers go to stdout as a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

from exactlmm.null import fit_null
from exactlmm.scan import Scanner, iterate_blocks, scan
from exactlmm.spectral import spectrum_from_kinship

BLOCK = 4096


def best_of(repeat: int, fun: Callable[..., object], *args: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fun(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def simulate(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    kin_snps = rng.binomial(2, 0.3, size=(n, 2000)).astype(float)
    z = (kin_snps - kin_snps.mean(0)) / kin_snps.std(0)
    k = z @ z.T / z.shape[1]
    g = rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(n, m)).astype(float)
    y = z[:, :50] @ rng.normal(0, 0.15, 50) + rng.standard_normal(n)
    return k, g, y


def run_scan(k: np.ndarray, g: np.ndarray, y: np.ndarray, refit: bool) -> None:
    x = np.ones((k.shape[0], 1))
    spectrum = spectrum_from_kinship(k, x)  # carries what ML needs (its Schur blocks)
    null = fit_null(spectrum, y, x, k.__matmul__, 1.0)
    ml_null = fit_null(spectrum, y, x, k.__matmul__, 1.0, likelihood="ML") if refit else None
    scan(Scanner(null, refit=refit, ml_null=ml_null), iterate_blocks(g, BLOCK))


def run_floor(k: np.ndarray, g: np.ndarray) -> None:
    _, vectors = np.linalg.eigh(k)
    for start in range(0, g.shape[1], BLOCK):
        vectors.T @ g[:, start : start + BLOCK]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,1000,2000", help="individuals, comma-separated")
    parser.add_argument("--snps", default="10000,50000", help="SNPs, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-refit", action="store_true", help="skip the refit timings")
    parser.add_argument("--out", help="also write the table as TSV")
    args = parser.parse_args(argv)
    rows = []
    for n in (int(v) for v in args.sizes.split(",")):
        for m in (int(v) for v in args.snps.split(",")):
            k, g, y = simulate(n, m, seed=n + m)
            floor = best_of(args.repeat, run_floor, k, g)
            fixed = best_of(args.repeat, run_scan, k, g, y, False)
            refit = (
                float("nan")
                if args.no_refit
                else best_of(max(1, args.repeat - 2), run_scan, k, g, y, True)
            )
            rows.append((n, m, floor, fixed, refit))
            print(f"N={n} M={m}: floor {floor:.2f}s fixed {fixed:.2f}s refit {refit:.2f}s",
                  file=sys.stderr)
    header = ("N", "M", "floor_s", "fixed_s", "fixed_snps_per_s", "fixed_over_floor",
              "refit_s", "refit_snps_per_s")
    lines = ["\t".join(header)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for n, m, floor, fixed, refit in rows:
        values = (str(n), str(m), f"{floor:.3f}", f"{fixed:.3f}", f"{m / fixed:.0f}",
                  f"{fixed / floor:.2f}", f"{refit:.3f}", f"{m / refit:.0f}")
        lines.append("\t".join(values))
        print("| " + " | ".join(values) + " |")
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
