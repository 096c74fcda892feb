"""Time of reading and matching an imported association table (``lmmcompare.formats``).

A synthetic ``.bim`` of M SNPs (22 chromosomes, random A/C/G/T pairs) and a REGENIE step 2 table
of the same SNPs in shuffled order, with 10 % of the rows written with the alleles swapped
(flipped), 5 % with ids replaced by ``chr:pos:a0:a1`` (matched by position) and 1 % left out.
Times ``read_table`` (plain text and gzip) and ``match_table`` separately, best of ``--repeat``.

Run: ``python benchmarks/import_tables.py [--snps 1000000] [--repeat 3]``; numbers go to stdout.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from lmmcompare import formats

BASES = np.array(list("ACGT"))


def write_inputs(directory: Path, m: int, seed: int) -> tuple[SimpleNamespace, Path, Path]:
    rng = np.random.default_rng(seed)
    chrom = np.sort(rng.integers(1, 23, size=m)).astype(str)
    pos = np.arange(1, m + 1, dtype=np.int64) * 100
    first = rng.integers(0, 4, size=m)
    second = (first + rng.integers(1, 4, size=m)) % 4
    a1, a2 = BASES[first], BASES[second]
    snp = np.char.add("rs", np.arange(m).astype(str))
    ours = SimpleNamespace(chrom=chrom, snp=snp, pos=pos, a1=a1, a2=a2)

    keep = rng.permutation(np.flatnonzero(rng.random(m) >= 0.01))
    flip = rng.random(keep.size) < 0.10
    renamed = rng.random(keep.size) < 0.05
    a0_out = np.where(flip, a1[keep], a2[keep])
    a1_out = np.where(flip, a2[keep], a1[keep])
    beta = rng.normal(0, 0.05, size=keep.size)
    ids = snp[keep].astype(object)
    ids[renamed] = [f"{c}:{p}:{x}:{y}" for c, p, x, y in
                    zip(chrom[keep][renamed], pos[keep][renamed], a0_out[renamed],
                        a1_out[renamed], strict=True)]
    lines = ["CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ N TEST BETA SE CHISQ LOG10P EXTRA"]
    lines += [f"{c} {p} {i} {x} {y} {f:.4f} 5000 ADD {b:.6g} 0.01 {(b / 0.01) ** 2:.4g} "
              f"{lp:.4g} NA"
              for c, p, i, x, y, f, b, lp in zip(
                  chrom[keep], pos[keep], ids, a0_out, a1_out, rng.random(keep.size), beta,
                  rng.exponential(0.5, size=keep.size), strict=True)]
    text = "\n".join(lines) + "\n"
    plain = directory / "table.regenie"
    plain.write_text(text)
    packed = directory / "table.regenie.gz"
    with gzip.open(packed, "wt", compresslevel=1) as handle:
        handle.write(text)
    return ours, plain, packed


def best_of(repeat: int, fun, *args):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fun(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snps", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="import-tables-") as tmp:
        ours, plain, packed = write_inputs(Path(tmp), args.snps, args.seed)
        read_s, table = best_of(args.repeat, formats.read_table, plain, "regenie")
        read_gz_s, _ = best_of(args.repeat, formats.read_table, packed, "regenie")
        match_s, matched = best_of(args.repeat, formats.match_table, table, ours)
    print(f"| rows | read (text) | read (gzip) | match | {'counts':s} |")
    print("|---|---|---|---|---|")
    print(f"| {table.n_rows:,} | {read_s:.2f} s | {read_gz_s:.2f} s | {match_s:.2f} s | "
          f"{matched.counts.describe()} |")


if __name__ == "__main__":
    main()
