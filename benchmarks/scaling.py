"""How far one node goes: ``exactlmm assoc`` at large N, full rank and low rank, time and peak
memory.

Full rank: the standardized kinship of the scanned SNPs (N × N, built by dsyrk, decomposed in
its own buffer), then the scan.  The memory plan (``exactlmm.spectral.spectrum_from_kinship``):
K is overwritten by its eigenvectors (LAPACK dsyevd in place, plus dsyevd's workspace of about
2 N² doubles), so the peak is 3 N² doubles plus one block of SNPs and no second N × N copy;
after the eigendecomposition the scan holds the N × (N − c) eigenvectors and a block.

Full rank needs M ≥ N: with fewer scanned SNPs than samples K = Z Zᵀ / M has rank ≤ M and
``exactlmm`` takes the low-rank path by itself (so ``full:NxM`` with M < N is refused here).

Low rank (``--kinship-snps``, FaST-LMM's G0): the kinship from k chosen SNPs (every M/k-th),
never formed; the thin SVD of the N × k standardized genotypes Z projected off the covariates;
the N − c − k residual dimensions handled exactly.  The memory plan
(``exactlmm.spectral.spectrum_from_genotypes``): Z is decoded into one N × k buffer, projected
in place, and LAPACK ``dgesdd`` (``JOBZ = 'O'``) overwrites it with U, so the peak is N k
doubles plus Vᵀ and the SVD's workspace (about 6 k² doubles when N ≥ 11k/6); the scan then
holds U and a block.

Low-rank LOCO (``loco:NxM:k``, ``--loco --kinship-snps``): the same k chosen SNPs, and for each
chromosome c the thin SVD of the N × k₋c genotypes of those off c — one SVD per chromosome and
no N × N matrix, where the full-rank LOCO decomposes one N × N K₋c per chromosome.

Full-rank LOCO, both ways (``downdate:NxM[:C]`` and ``perchrom:NxM[:C]``, C chromosomes,
default 10; ``full:NxM:C`` is the fixed scan of the same dataset): each chromosome's K₋c
as a downdate of the genome-wide eigenbasis
(``--loco --loco-method downdate``, :mod:`exactlmm.downdate`: one eigendecomposition in all, an
r_c × r_c capacitance per chromosome), or by its own eigendecomposition
(``--loco-method eigendecomposition``: C + 1 of them).  Put ``full:NxM`` of the same shape
beside them: the LOCO/fixed ratio is the issue's measure, taken in one run.

Each case writes a seeded dataset (:mod:`datasets`, one covariate, ten chromosomes unless the
case says) unless it exists and runs ``exactlmm assoc`` once, as a process, under GNU ``time``
(peak RSS).  Run::

    python benchmarks/scaling.py [--cases full:2000x10000,...,low:100000x10000:5000,
        loco:8000x20000:4000,full:8000x20000,downdate:8000x20000,perchrom:8000x20000]
        [--workdir DIR] [--out table.md]

The default cases take about 1.5 hours on 2 cores (the full-rank N = 20,000 case alone 20–40
minutes) and about 10 GB of memory at most (writing the N = 100,000 dataset included).
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import write_dataset
from end_to_end import machine, run

DEFAULT_CASES = ("full:2000x10000,full:5000x10000,full:10000x10000,full:20000x20000,"
                 "low:20000x10000:5000,low:50000x10000:5000,low:100000x10000:5000")


#: Case kinds and how their rows are labelled.
KINDS = {"full": "full rank", "low": "low rank", "loco": "low rank, LOCO",
         "downdate": "full rank, LOCO by downdate", "perchrom": "full rank, LOCO per chromosome"}
#: The full-rank LOCO kinds: their option, and their third field is C (chromosomes), not k.
LOCO_METHOD = {"downdate": "downdate", "perchrom": "eigendecomposition"}


def parse_case(text: str) -> tuple[str, int, int, int | None]:
    """``full:NxM[:C]``, ``low:NxM:k``, ``loco:NxM:k``, ``downdate:NxM[:C]`` or
    ``perchrom:NxM[:C]`` → (kind, N, M, k or C)."""
    kind, shape, *rest = text.split(":")
    n, m = (int(v) for v in shape.split("x"))
    needs_k = kind in ("low", "loco")
    if kind not in KINDS or (needs_k and not rest):
        raise ValueError(f"{text!r}: expected full:NxM[:C], low:NxM:k, loco:NxM:k, "
                         "downdate:NxM[:C] or perchrom:NxM[:C]")
    if kind in ("full", *LOCO_METHOD) and m < n:
        raise ValueError(f"{text!r}: full rank needs M >= N (with fewer SNPs than samples "
                         "exactlmm takes the low-rank path)")
    return kind, n, m, int(rest[0]) if rest else None


def print_profile(path: Path, top: int = 25) -> None:
    """The functions with the most cumulative time of one profiled case, to stderr."""
    stats = pstats.Stats(str(path), stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=DEFAULT_CASES)
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "exactlmm-scale"))
    parser.add_argument("--out", help="also write the table (Markdown) to this file")
    parser.add_argument("--profile", action="store_true",
                        help="run each case under cProfile (its BLAS calls are few and "
                        "long, so the overhead is small) and print where the time went")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    rows = []
    try:
        cases = [parse_case(case) for case in args.cases.split(",")]
    except ValueError as err:
        parser.error(str(err))
    for kind, n, m, k in cases:
        with_c = kind == "full" or kind in LOCO_METHOD  # the third field is C
        chromosomes = k if with_c and k is not None else 10
        prefix = workdir / (f"{n}x{m}" + (f"c{chromosomes}" if chromosomes != 10 else "")) / "sim"
        if not Path(f"{prefix}.covar").exists():
            write_dataset(prefix, n, m, seed=n + m, n_chromosomes=chromosomes)
        argv = ["exactlmm", "assoc", "--bfile", str(prefix), "--pheno", f"{prefix}.pheno",
                "--covar", f"{prefix}.covar", "--no-progress", "--out", str(workdir / "out")]
        if with_c:
            if kind in LOCO_METHOD:
                argv += ["--loco", "--loco-method", LOCO_METHOD[kind]]
            k = None
        elif k is not None:
            chosen = workdir / f"{n}x{m}" / f"kinship{k}.snps"
            bim = Path(f"{prefix}.bim").read_text().split("\n")
            ids = [line.split()[1] for line in bim if line][:: max(m // k, 1)][:k]
            chosen.write_text("\n".join(ids) + "\n")
            argv += ["--kinship-snps", str(chosen), *(["--loco"] if kind == "loco" else [])]
        profile = workdir / f"{kind}-{n}x{m}-{chromosomes}.prof"
        if args.profile:
            argv = [sys.executable, "-m", "cProfile", "-o", str(profile),
                    shutil.which("exactlmm") or "exactlmm", *argv[1:]]
        wall, peak = run(argv)
        if args.profile:
            print_profile(profile)
        row = {"kind": kind, "N": n, "M": m, "C": chromosomes, "k": k, "seconds": wall,
               "peak_gb": peak,
               "peak_over_n2": peak * 1024**3 / (8 * n * n),
               "peak_over_nk": None if k is None else peak * 1024**3 / (8 * n * k)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    lines = [f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the end.", "",
             "| kinship | N | M | C | k | seconds | peak RSS GB | peak / N² doubles "
             "| peak / (N k) doubles |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        nk = "" if r["peak_over_nk"] is None else f"{r['peak_over_nk']:.2f}"
        lines.append(f"| {KINDS[r['kind']]} | {r['N']} | "
                     f"{r['M']} | {r['C']} | {r['k'] or ''} | {r['seconds']:.1f} | "
                     f"{r['peak_gb']:.2f} | {r['peak_over_n2']:.2f} | {nk} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
