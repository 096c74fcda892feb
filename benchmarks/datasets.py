"""Seeded PLINK filesets for the benchmarks, written block by block (no N × M float matrix).

Genotypes: two populations of equal size (Balding–Nichols, F_ST = 0.05 around an ancestral
frequency p ~ U(0.05, 0.5)), Hardy–Weinberg dosages Binomial(2, f) of ``a1``, each call missing
with probability 0.005.  Phenotype: y = 0.5·c + Σ_{j ∈ causal} z_j b_j + e with 500 causal SNPs
(z_j their standardized dosages, b ~ N(0, h²/500)), e ~ N(0, 1 − h²), h² = 0.5, and one
standard-normal covariate c.  Files: ``PREFIX.bed/.bim/.fam`` (.fam phenotype −9),
``PREFIX.pheno`` and ``PREFIX.covar`` (``FID IID value`` with a header line).

The ``.bed`` is packed here (2 bits per call, SNP-major; PLINK's codes 0 = two copies of
``a1``, 1 = missing, 2 = one copy, 3 = none), so memory stays at one block of SNPs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BLOCK = 8192
N_CAUSAL = 500
H2 = 0.5
MISSING = 0.005
FST = 0.05

#: dosage (copies of a1: 0, 1, 2) and missing (3 here) → PLINK 2-bit code
_CODE = np.array([3, 2, 0, 1], dtype=np.uint8)


def pack(codes: np.ndarray) -> np.ndarray:
    """PLINK bytes of a (m SNPs × n samples) array of 2-bit codes: m × ceil(n/4) uint8."""
    m, n = codes.shape
    padded = np.zeros((m, -(-n // 4) * 4), dtype=np.uint8)
    padded[:, :n] = codes
    quads = padded.reshape(m, -1, 4)
    return quads[..., 0] | (quads[..., 1] << 2) | (quads[..., 2] << 4) | (quads[..., 3] << 6)


def write_dataset(prefix: Path, n: int, m: int, seed: int, n_chromosomes: int = 10) -> Path:
    """Write the fileset and its phenotype and covariate files; return ``prefix``."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    population = np.arange(n) >= n // 2
    causal = np.sort(rng.choice(m, size=min(N_CAUSAL, m), replace=False))
    effects = rng.normal(0.0, np.sqrt(H2 / causal.size), causal.size)
    genetic = np.zeros(n)
    chrom = 1 + np.arange(m) * n_chromosomes // m
    with open(f"{prefix}.bed", "wb") as bed:
        bed.write(b"\x6c\x1b\x01")
        for start in range(0, m, BLOCK):
            stop = min(start + BLOCK, m)
            b = stop - start
            p = rng.uniform(0.05, 0.5, b)
            shape = p * (1 - FST) / FST, (1 - p) * (1 - FST) / FST
            freq = rng.beta(*shape, size=(2, b)).clip(0.01, 0.99)  # per population
            dosage = rng.binomial(2, freq[population.astype(int)])  # n × b
            missing = rng.random((n, b)) < MISSING
            here = (causal >= start) & (causal < stop)
            for j, beta in zip(causal[here] - start, effects[here], strict=True):
                x = dosage[:, j].astype(float)
                sd = x.std()
                if sd > 0:
                    genetic += beta * (x - x.mean()) / sd
            codes = _CODE[np.where(missing, 3, dosage)]
            bed.write(pack(codes.T).tobytes())
    covariate = rng.standard_normal(n)
    y = 0.5 * covariate + genetic + rng.normal(0.0, np.sqrt(1 - H2), n)
    ids = [f"f{i} i{i}" for i in range(n)]
    Path(f"{prefix}.fam").write_text("".join(f"{s} 0 0 1 -9\n" for s in ids))
    pos = np.cumsum(rng.integers(100, 5000, m))
    Path(f"{prefix}.bim").write_text("".join(
        f"{c}\trs{j}\t0\t{p}\tA\tG\n" for j, (c, p) in enumerate(zip(chrom, pos, strict=True))))
    Path(f"{prefix}.pheno").write_text(
        "FID IID trait\n" + "".join(f"{s} {v!r}\n" for s, v in zip(ids, y.tolist(), strict=True)))
    Path(f"{prefix}.covar").write_text(
        "FID IID c1\n" + "".join(f"{s} {v!r}\n"
                                 for s, v in zip(ids, covariate.tolist(), strict=True)))
    return prefix
