"""Write the result-table fixtures of ``tests/test_formats.py`` (see README.md beside this file).

Run from the repository root (it runs the real PLINK 2, GEMMA, EMMAX, BOLT-LMM and FaST-LMM):

    PYTHONPATH=$PWD/src python tests/data/formats/make_fixtures.py

1. ``tiny.{bed,bim,fam,pheno}``: ``lmmcompare.simulate.simulate_dataset`` (400 samples, 60 SNPs
   on 2 chromosomes, seed 11, h² 0.6, 3 causal SNPs, 1 % missing calls); the ``.bim`` alleles
   are then relabelled with seeded random base pairs (A/G everywhere is no allele test), SNPs
   2, 11, 30, 41 made strand-ambiguous (A/T, C/G).  ``tiny.cc.pheno``: the phenotype cut at its
   median, 1 = control, 2 = case (PLINK's coding), for the logistic fixture.
2. Real tools on it (outputs copied here as they were written):
   ``plink2 --glm allow-no-covars`` (default columns: A1 is the non-major allele, so some rows
   count a2) → ``tiny.glm.linear`` and, on ``tiny.cc.pheno``, ``tiny.glm.logistic.hybrid``;
   ``gemma -lmm 4 -k`` our kinship → ``tiny.gemma.assoc.txt``; EMMAX on ``plink2 --export tped
   12`` ('2' = ALT = .bim column 5, whatever its help text says) → ``tiny.emmax.ps``;
   ``bolt --lmm --LDscoresUseChip --verboseStats`` → ``tiny.bolt.stats`` (χ² and p of
   BOLT_LMM_INF and BOLT_LMM);
   FaST-LMM ``single_snp`` with its default ``count_A1`` → ``tiny.fastlmm.tsv``.
3. Written by hand from the documented layouts (the tools are not installable here), with our
   own scan's numbers (``exactlmm assoc``, 6 significant digits) put in each tool's allele
   convention, and deliberate oddities (README.md lists them): ``tiny.regenie.gz``,
   ``tiny.saige.txt``, ``tiny.fastGWA``, ``tiny.mlma``, ``tiny.loco.mlma``,
   ``tiny.quickdraws.sumstats.gz``.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from scipy.special import chdtri

HERE = Path(__file__).resolve().parent
AMBIGUOUS = (2, 11, 30, 41)
PAIRS = np.array([(a, b) for a in "ACGT" for b in "ACGT"
                  if a != b and {a, b} not in ({"A", "T"}, {"C", "G"})])


def run(*command: str, cwd: Path, **env: str) -> None:
    print("+", " ".join(command), file=sys.stderr)
    subprocess.run(command, cwd=cwd, check=True, env={**os.environ, **env},
                   stdout=subprocess.DEVNULL)


def make_dataset(work: Path) -> None:
    from lmmcompare.simulate import simulate_dataset

    simulate_dataset(work / "tiny", n_samples=400, n_snps=60, n_chromosomes=2, seed=11, h2=0.6,
                     n_causal=3, causal_h2=0.3, missing_rate=0.01)
    rng = np.random.default_rng(2026)
    bim = [line.split("\t") for line in (work / "tiny.bim").read_text().splitlines()]
    pairs = PAIRS[rng.integers(0, len(PAIRS), size=len(bim))]
    for j in AMBIGUOUS:
        pairs[j] = ("A", "T") if j % 2 else ("C", "G")
    for fields, (a1, a2) in zip(bim, pairs, strict=True):
        fields[4], fields[5] = a1, a2
    (work / "tiny.bim").write_text("".join("\t".join(f) + "\n" for f in bim))
    rows = [line.split() for line in (work / "tiny.pheno").read_text().splitlines()[1:]]
    y = np.array([float(r[2]) for r in rows])
    case = np.where(y > np.median(y), 2, 1)
    (work / "tiny.cc.pheno").write_text(
        "FID IID cc\n" + "".join(f"{r[0]} {r[1]} {c}\n" for r, c in zip(rows, case, strict=True)))
    for ext in ("bed", "bim", "fam", "pheno", "cc.pheno"):
        shutil.copy(work / f"tiny.{ext}", HERE / f"tiny.{ext}")


def our_scans(work: Path) -> None:
    from exactlmm.cli import main

    base = ["--bfile", str(work / "tiny"), "--pheno", str(work / "tiny.pheno"), "--no-progress"]
    assert main(["assoc", *base, "--out", str(work / "ours")]) == 0
    assert main(["assoc", *base, "--loco", "--out", str(work / "ours_loco")]) == 0
    assert main(["kinship", "--bfile", str(work / "tiny"), "--no-progress",
                 "--out", str(work / "tiny")]) == 0


def real_tools(work: Path) -> None:
    run("plink2", "--bfile", "tiny", "--pheno", "tiny.pheno", "--glm", "allow-no-covars",
        "--threads", "1", "--memory", "1024", "--out", "plink", cwd=work)
    shutil.copy(work / "plink.pheno.glm.linear", HERE / "tiny.glm.linear")
    run("plink2", "--bfile", "tiny", "--pheno", "tiny.cc.pheno", "--glm", "allow-no-covars",
        "--threads", "1", "--memory", "1024", "--out", "plink_cc", cwd=work)
    shutil.copy(work / "plink_cc.cc.glm.logistic.hybrid", HERE / "tiny.glm.logistic.hybrid")

    # GEMMA: phenotype in .fam column 6, our kinship (.fam order), QC as GEMMA's defaults.
    pheno = {tuple(r[:2]): r[2] for r in
             (line.split() for line in (work / "tiny.pheno").read_text().splitlines()[1:])}
    fam = [line.split() for line in (work / "tiny.fam").read_text().splitlines()]
    (work / "gemma.fam").write_text("".join(" ".join([*f[:5], pheno[(f[0], f[1])]]) + "\n"
                                            for f in fam))
    for ext in ("bed", "bim"):
        shutil.copy(work / f"tiny.{ext}", work / f"gemma.{ext}")
    run("gemma", "-bfile", "gemma", "-k", "tiny.kinship.txt", "-lmm", "4", "-o", "tiny",
        cwd=work)
    shutil.copy(work / "output" / "tiny.assoc.txt", HERE / "tiny.gemma.assoc.txt")

    # EMMAX on the tped PLINK 2 writes for it ('12': REF = .bim column 6 -> 1, ALT -> 2).
    run("plink2", "--bfile", "tiny", "--export", "tped", "12", "--out", "emmax_in", cwd=work)
    tfam = [line.split() for line in (work / "emmax_in.tfam").read_text().splitlines()]
    (work / "emmax.pheno").write_text("".join(f"{f[0]} {f[1]} {pheno[(f[0], f[1])]}\n"
                                              for f in tfam))
    run("emmax", "-d", "10", "-t", "emmax_in", "-p", "emmax.pheno", "-k", "tiny.kinship.txt",
        "-o", "emmax", cwd=work)
    shutil.copy(work / "emmax.ps", HERE / "tiny.emmax.ps")

    run("bolt", "--bfile", "tiny", "--phenoFile", "tiny.pheno", "--phenoCol", "pheno", "--lmm",
        "--LDscoresUseChip", "--verboseStats", "--numThreads", "1", "--statsFile", "bolt.stats",
        cwd=work, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    shutil.copy(work / "bolt.stats", HERE / "tiny.bolt.stats")

    from fastlmm.association import single_snp
    from pysnptools.snpreader import Bed, SnpData

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # count_A1 left at its default
        bed = Bed(str(work / "tiny"))
        iid = bed.iid
        y = np.array([float(pheno[(f, i)]) for f, i in iid])
        single_snp(test_snps=bed, pheno=SnpData(iid=iid, sid=["pheno"], val=y[:, None]),
                   K0=bed, leave_out_one_chrom=False,
                   output_file_name=str(work / "fastlmm.tsv"))
    shutil.copy(work / "fastlmm.tsv", HERE / "tiny.fastlmm.tsv")


def read_ours(path: Path) -> dict[str, list[str]]:
    lines = [line.split("\t") for line in path.read_text().splitlines()]
    return {name: [row[j] for row in lines[1:]] for j, name in enumerate(lines[0])}


def g6(value: str) -> str:
    return "NA" if value == "NA" else f"{float(value):.6g}"


def neg(value: str) -> str:
    return "NA" if value == "NA" else f"{-float(value):.6g}"


def one_minus(value: str) -> str:
    return "NA" if value == "NA" else f"{1.0 - float(value):.6g}"


def write_gz(path: Path, lines: list[str]) -> None:
    """Gzip without a time stamp (the same lines give the same bytes)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write(("\n".join(lines) + "\n").encode())


def hand_made(work: Path) -> None:
    ours, loco = read_ours(work / "ours.assoc.tsv"), read_ours(work / "ours_loco.assoc.tsv")
    m = len(ours["snp"])
    comp = {"A": "T", "T": "A", "C": "G", "G": "C"}

    # REGENIE: ALLELE1 = a1 (its default for .bed), five rows written the other way round,
    # snp7's id replaced (matched by position), snp13 on the other strand, snp17's LOG10P NA,
    # snp23 left out, one row of a SNP that is not ours.
    lines = ["CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ N TEST BETA SE CHISQ LOG10P EXTRA"]
    for j in range(m):
        if j == 23:
            continue
        a0, a1, beta, af = ours["a2"][j], ours["a1"][j], g6(ours["beta"][j]), g6(ours["af"][j])
        if j in (3, 8, 19, 33, 50):
            a0, a1, beta, af = a1, a0, neg(ours["beta"][j]), one_minus(ours["af"][j])
        if j == 13:
            a0, a1 = comp[a0], comp[a1]
        p = float(ours["p_score"][j])
        log10p = "NA" if j == 17 else f"{-np.log10(p):.6g}"
        snp = f"{ours['chrom'][j]}:{ours['pos'][j]}:{a0}:{a1}" if j == 7 else ours["snp"][j]
        z = float(ours["beta"][j]) / float(ours["se"][j])
        lines.append(" ".join([ours["chrom"][j], ours["pos"][j], snp, a0, a1, af, ours["n"][j],
                               "ADD", beta, g6(ours["se"][j]), f"{z * z:.6g}", log10p, "NA"]))
    lines.append("2 999999 rs_not_ours C T 0.2 400 ADD 0.1 0.05 4 1.3 NA")
    write_gz(HERE / "tiny.regenie.gz", lines)

    # SAIGE v1.x: Allele2 = a1 (alt-first for PLINK input), chromosomes written 'chr1',
    # snp40's id replaced by '.' (matched by position through the 'chr' prefix).
    lines = ["CHR\tPOS\tMarkerID\tAllele1\tAllele2\tAC_Allele2\tAF_Allele2\tMissingRate\tBETA\tSE"
             "\tTstat\tvar\tp.value\tN"]
    for j in range(m):
        n = int(ours["n"][j])
        ac = f"{2 * n * float(ours['af'][j]):.6g}"
        snp = "." if j == 40 else ours["snp"][j]
        lines.append("\t".join([f"chr{ours['chrom'][j]}", ours["pos"][j], snp, ours["a2"][j],
                                ours["a1"][j], ac, g6(ours["af"][j]), f"{1 - n / 400:.6g}",
                                g6(ours["beta"][j]), g6(ours["se"][j]), "0", "0",
                                g6(ours["p_score"][j]), str(n)]))
    (HERE / "tiny.saige.txt").write_text("\n".join(lines) + "\n")

    # fastGWA: A1 = a1; GCTA mlma / loco.mlma: A1 = a1, Freq its frequency, NA row for snp5.
    lines = ["CHR\tSNP\tPOS\tA1\tA2\tN\tAF1\tBETA\tSE\tP"]
    for j in range(m):
        lines.append("\t".join([ours["chrom"][j], ours["snp"][j], ours["pos"][j], ours["a1"][j],
                                ours["a2"][j], ours["n"][j], g6(ours["af"][j]),
                                g6(ours["beta"][j]), g6(ours["se"][j]),
                                g6(ours["p_score"][j])]))
    (HERE / "tiny.fastGWA").write_text("\n".join(lines) + "\n")
    for name, table in (("tiny.mlma", ours), ("tiny.loco.mlma", loco)):
        lines = ["Chr\tSNP\tbp\tA1\tA2\tFreq\tb\tse\tp"]
        for j in range(m):
            stats = (["NA"] * 4 if j == 5 else
                     [g6(table["af"][j]), g6(table["beta"][j]), g6(table["se"][j]),
                      g6(table["p_wald"][j])])
            lines.append("\t".join([table["chrom"][j], table["snp"][j], table["pos"][j],
                                    table["a1"][j], table["a2"][j], *stats]))
        (HERE / name).write_text("\n".join(lines) + "\n")

    # Quickdraws: BETA and ALT_FREQS count A2 = .bim column 6 (its X = 2 − count_A1); P is
    # the χ²(1) tail of CHISQ (%.8f), printed %.2E: both from our loco p_wald.
    lines = ["CHR\tSNP\tGENPOS\tPOS\tA1\tA2\tOBS_CT\tALT_FREQS\tBETA\tSE\tCHISQ\tP"]
    for j in range(m):
        p = float(loco["p_wald"][j])
        lines.append("\t".join([loco["chrom"][j], loco["snp"][j], "0", loco["pos"][j],
                                loco["a1"][j], loco["a2"][j], loco["n"][j],
                                one_minus(loco["af"][j]), neg(loco["beta"][j]),
                                g6(loco["se"][j]), f"{chdtri(1, p):.8f}", f"{p:.2E}"]))
    write_gz(HERE / "tiny.quickdraws.sumstats.gz", lines)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="formats-fixtures-") as tmp:
        work = Path(tmp)
        make_dataset(work)
        our_scans(work)
        real_tools(work)
        hand_made(work)


if __name__ == "__main__":
    main()
