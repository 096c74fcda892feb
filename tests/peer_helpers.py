"""What the peer tests share: a toy request, a simulated one (our ``simulate``, QC list and
kinship), ours run on a request (optionally at a given h²), a dense GLS Wald test and
−log10 p."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from bed_reader import open_bed

from exactlmm.cli import main as exactlmm_main
from lmmcompare.cli import main as simulate_main
from lmmcompare.runners import RunRequest

CAUSAL, CAUSAL_BETA = 5, 1.0  # .bim position of the causal SNP (the constant one is rs42)


def toy_request(make_plink, directory: Path) -> RunRequest:
    """160 samples (one without phenotype), 60 of 80 SNPs listed (one constant), two
    covariates, a polygenic background and SNP ``CAUSAL`` with +1 per copy of a1."""
    prefix = make_plink(directory, n=160, m=80, seed=3, n_monomorphic=1)
    with open_bed(f"{prefix}.bed", count_A1=True) as bed:
        G = bed.read(dtype="float64")
        fid, iid, sid = bed.fid, bed.iid, bed.sid
    rng = np.random.default_rng(11)
    mean = np.nanmean(G, axis=0)
    Z = np.where(np.isnan(G), mean, G) - mean
    sd = Z.std(axis=0)
    assert sd[CAUSAL] > 0
    x = Z[:, CAUSAL] + mean[CAUSAL]  # mean-imputed copies of a1
    Z = Z[:, sd > 0] / sd[sd > 0]
    np.savetxt(directory / "k.txt", Z @ Z.T / Z.shape[1])
    covar = rng.standard_normal((G.shape[0], 2))
    y = Z @ rng.standard_normal(Z.shape[1]) / np.sqrt(Z.shape[1]) + covar @ [0.5, -0.3]
    y = y + CAUSAL_BETA * x + rng.standard_normal(G.shape[0])
    lines = [f"{f} {i} {v!r}\n" for f, i, v in zip(fid, iid, y, strict=True)]
    lines[4] = f"{fid[4]} {iid[4]} NA\n"  # one sample not analysed
    (directory / "pheno.txt").write_text("".join(lines))
    (directory / "covar.txt").write_text(
        "".join(f"{f} {i} {a!r} {b!r}\n" for f, i, (a, b) in zip(fid, iid, covar, strict=True))
    )
    (directory / "snps.txt").write_text("\n".join(sid[:60]) + "\n")
    return RunRequest(bfile=str(prefix), pheno=str(directory / "pheno.txt"), mpheno=1,
                      covar=str(directory / "covar.txt"), kinship=str(directory / "k.txt"),
                      extract=str(directory / "snps.txt"))


def simulated_request(work: Path, simulate: list[str], *, keep_raw: bool = False
                      ) -> RunRequest:
    """``lmmcompare simulate`` with the arguments ``simulate`` to ``work/sim``, our QC list
    (MAF ≥ 0.01, missingness ≤ 0.05) and standardized kinship of it: the request every tool of
    a peer test gets (two threads; raw outputs kept under ``work/raw`` with ``keep_raw``)."""
    prefix = work / "sim"
    assert simulate_main(["simulate", "--out", str(prefix), *simulate]) == 0
    assert exactlmm_main(["qc", "--bfile", str(prefix), "--pheno", f"{prefix}.pheno",
                          "--covar", f"{prefix}.covar", "--maf", "0.01", "--geno", "0.05",
                          "--out", str(work / "qc")]) == 0
    assert exactlmm_main(["kinship", "--bfile", str(prefix), "--out", str(work / "k"),
                          "--no-progress"]) == 0
    return RunRequest(bfile=str(prefix), pheno=f"{prefix}.pheno", mpheno=1,
                      covar=f"{prefix}.covar", kinship=str(work / "k.kinship.txt"),
                      extract=str(work / "qc.snplist"), center_kinship=True, threads=2,
                      keep_raw=str(work / "raw") if keep_raw else None)


def run_ours(request: RunRequest, out: Path, h2: float | None = None) -> None:
    """``exactlmm assoc`` (fixed mode) on ``request``; with ``h2`` the null variance ratio is
    held at h²/(1 − h²) instead of fitted (``--h2``): ours at a peer's own fit."""
    argv = ["assoc", "--bfile", request.bfile, "--kinship", request.kinship,
            "--extract", request.extract, "--no-progress", "--out", str(out)]
    for flag, value in (("--pheno", request.pheno), ("--covar", request.covar)):
        if value is not None:
            argv += [flag, value]
    if h2 is not None:
        argv += ["--h2", repr(h2)]
    assert exactlmm_main(argv) == 0


def neglog10(p: np.ndarray) -> np.ndarray:
    return -np.log10(p)


def dense_wald(H: np.ndarray, y: np.ndarray, X: np.ndarray, G: np.ndarray
               ) -> dict[str, np.ndarray]:
    """GLS Wald test per SNP with V ∝ H, by dense inverse: E = [X, g], b = (EᵀH⁻¹E)⁻¹EᵀH⁻¹y,
    se with σ̂² = rᵀH⁻¹r/(n − c − 1), two-sided t(n − c − 1) p."""
    import scipy.stats

    n, c = X.shape
    Hi = np.linalg.inv(H)
    out: dict[str, list[float]] = {"beta": [], "se": [], "p_wald": []}
    for j in range(G.shape[1]):
        E = np.column_stack([X, G[:, j]])
        A = np.linalg.inv(E.T @ Hi @ E)
        b = A @ E.T @ Hi @ y
        r = y - E @ b
        se = np.sqrt(r @ Hi @ r / (n - c - 1) * A[-1, -1])
        out["beta"].append(b[-1])
        out["se"].append(se)
        out["p_wald"].append(2 * scipy.stats.t.sf(abs(b[-1] / se), n - c - 1))
    return {k: np.array(v) for k, v in out.items()}
