"""Shared pytest fixtures: small seeded PLINK datasets and GEMMA's HS1940 example.

``make_plink(directory, n=.., m=.., seed=.., chroms=.., missing_rate=..)`` writes a random
PLINK fileset with ``bed_reader.to_bed`` and returns its prefix.  ``hs1940`` decompresses
GEMMA's mouse example (Debian ``gemma-doc``) once per session, or skips; ``hs1940_request`` is
the run request of every peer on it (centered kinship, phenotype 1, every SNP listed).
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from bed_reader import to_bed

HS1940_DIR = Path("/usr/share/doc/gemma/example")
HS1940_NAME = "mouse_hs1940"

BASES = np.array(["A", "C", "G", "T"])


def write_random_plink(
    directory: str | Path,
    n: int = 60,
    m: int = 300,
    seed: int = 0,
    chroms: int | Sequence[str] = 3,
    missing_rate: float = 0.02,
    *,
    name: str = "data",
    n_monomorphic: int = 0,
    af_range: tuple[float, float] = (0.05, 0.95),
) -> Path:
    """Write ``directory/name.{bed,bim,fam}`` with random genotypes; return the prefix.

    * Samples: FID ``fam<i>``, IID ``ind<i>``, random sex, a standard-normal phenotype in
      ``.fam`` column 6.
    * SNPs ``rs<j>`` split into contiguous, equally sized runs over the chromosomes
      (``chroms`` is a count, named "1".."k", or a list of names), increasing positions.
    * Dosage of a1 ~ Binomial(2, p), p ~ Uniform(``af_range``); each call is missing with
      probability ``missing_rate``.  Every SNP is polymorphic among its called genotypes,
      except ``n_monomorphic`` SNPs at random positions, which are made constant.
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    chrom_names = [str(c) for c in range(1, chroms + 1)] if isinstance(chroms, int) else chroms
    chrom_names = [str(c) for c in chrom_names]

    freq = rng.uniform(*af_range, size=m)
    dosage = rng.binomial(2, freq, size=(n, m)).astype(np.float64)
    dosage[rng.random((n, m)) < missing_rate] = np.nan
    mono = rng.choice(m, size=n_monomorphic, replace=False) if n_monomorphic else np.array([], int)
    for j in range(m):
        called = np.flatnonzero(~np.isnan(dosage[:, j]))
        if j in mono:
            dosage[called, j] = rng.integers(0, 3)
        elif np.ptp(dosage[called, j]) == 0:
            a, b = rng.choice(called, size=2, replace=False)
            dosage[a, j], dosage[b, j] = 0.0, 2.0

    chrom = np.array(chrom_names)[np.arange(m) * len(chrom_names) // m]
    pos = np.empty(m, dtype=np.int64)
    for c in chrom_names:
        here = chrom == c
        pos[here] = np.cumsum(rng.integers(1_000, 100_000, size=here.sum()))
    alleles = np.array([rng.choice(BASES, size=2, replace=False) for _ in range(m)])
    properties = {
        "fid": [f"fam{i}" for i in range(n)],
        "iid": [f"ind{i}" for i in range(n)],
        "sex": rng.integers(1, 3, size=n),
        "pheno": np.round(rng.standard_normal(n), 6),
        "chromosome": chrom,
        "sid": [f"rs{j}" for j in range(m)],
        "cm_position": np.round(pos / 1e6, 6),
        "bp_position": pos,
        "allele_1": alleles[:, 0],
        "allele_2": alleles[:, 1],
    }
    prefix = directory / name
    to_bed(prefix.with_name(name + ".bed"), dosage, properties=properties, count_A1=True)
    return prefix


@pytest.fixture
def make_plink() -> Callable[..., Path]:
    """Factory: ``make_plink(tmp_path, n=60, m=300, seed=0, chroms=3, missing_rate=0.02)``.

    Returns the prefix of a freshly written random PLINK fileset (see ``write_random_plink``
    for all keyword arguments, e.g. ``name=``, ``n_monomorphic=``).
    """
    return write_random_plink


@pytest.fixture(scope="session")
def hs1940(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prefix of GEMMA's decompressed mouse HS1940 fileset (1940 mice, 12,226 SNPs).

    Phenotypes are in ``.fam`` columns 6–11.  Skips when Debian ``gemma-doc`` is absent.
    """
    sources = [HS1940_DIR / f"{HS1940_NAME}.{ext}.gz" for ext in ("bed", "bim", "fam")]
    missing = [str(path) for path in sources if not path.is_file()]
    if missing:
        pytest.skip(f"GEMMA example data not installed: {', '.join(missing)}")
    directory = tmp_path_factory.mktemp("hs1940")
    for source in sources:
        with gzip.open(source, "rb") as src, open(directory / source.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return directory / HS1940_NAME


@pytest.fixture(scope="session")
def hs1940_request(hs1940: Path, tmp_path_factory: pytest.TempPathFactory):
    """A RunRequest on HS1940: phenotype 1, intercept only, GEMMA's centered kinship (computed
    once per session by ``exactlmm kinship --kind centered``), every ``.bim`` SNP listed."""
    from exactlmm.cli import main as exactlmm_main
    from lmmcompare.runners import RunRequest

    directory = tmp_path_factory.mktemp("hs1940_request")
    assert exactlmm_main(["kinship", "--bfile", str(hs1940), "--kind", "centered",
                          "--no-progress", "--out", str(directory / "hs")]) == 0
    bim = Path(f"{hs1940}.bim").read_text().splitlines()
    (directory / "snps.txt").write_text("".join(f"{line.split()[1]}\n" for line in bim if line))
    return RunRequest(bfile=str(hs1940), pheno=None, mpheno=1, covar=None,
                      kinship=str(directory / "hs.kinship.txt"),
                      extract=str(directory / "snps.txt"))
