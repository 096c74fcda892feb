"""Association tables written by other GWAS tools: one table of presets, a reader, a matcher.

A *format* says where a tool's table keeps each of the numbers we compare and what they mean;
:data:`PRESETS` holds one :class:`Preset` per tool (the source lines behind each entry are in
``docs/PEERS-VERIFIED.md``, "Result formats"), and :func:`column_map` builds one from a user's
column map.  :func:`read_table` reads a file in a format into a :class:`ResultTable` (``.gz``
read transparently); :func:`match_table` puts that table on our SNPs — the dataset's ``.bim`` —
and returns the columns of our ``.assoc.tsv`` (:data:`exactlmm.io.results.ASSOC_COLUMNS`).

Our convention (docs/DESIGN.md, "The two result files")
-------------------------------------------------------
``a1`` is ``.bim`` column 5, ``a2`` column 6; ``beta`` is the effect of one more copy of ``a1``,
``af`` the frequency of ``a1``.  A tool's table names its *effect allele* E (the allele its β
counts) and usually the other allele O.  For a row matched to our SNP:

* E = a1 (and O = a2 when given): β, af as they are;
* E = a2 (and O = a1 when given): β → −β, af → 1 − af ("flipped"); se and p unchanged;
* anything else (e.g. alleles of another strand, or another variant at the same position): the
  row is not used and the SNP is ``NOT_REPORTED`` ("allele mismatch").

A table that names no allele (EMMAX ``.ps``, FaST-LMM) counts a ``.bim`` allele it does not
name, so the user gives it (``bim_effect: a1 | a2``; the presets' notes say what decides it).
β given per standard deviation of the genotype (FaST-LMM's ``SnpWeight``) is β per copy times
sd, sd the genotype's standard deviation over the analysed samples (ddof 0):
``match_table(..., snp_sd=...)`` divides it out; without ``snp_sd`` β and se are NA and p is
kept.

P-values
--------
Each preset maps its p column(s) to our statistic columns ``p_wald``, ``p_lrt``, ``p_score``:
the test the tool computes, by name (Wald: the estimate over its standard error at the fitted
variance; score: the gradient at the null, with the null's variance; LRT).  −log10 p columns
(REGENIE ``LOG10P``, PLINK 2 ``LOG10_P``) are turned into p = 10^(−x) — below 1e-308 that
underflows to 0 (−log10 p = inf downstream) — and χ²(1) columns (BOLT-LMM's ``CHISQ_…``,
printed with more digits than its p) into their upper tail.

Missing values
--------------
A preset lists its tool's spelling of a missing number (``NA`` for most).  Text that parses as
a floating-point NaN (``nan``, ``-nan``, ``NaN``: what C's printf and pandas write) is missing
in every format.  Any other text in a numeric column is an error naming the file, line and
column.  A row whose every p-value is missing gets errcode ``TOOL_FAILED`` (or the tool's own
error code mapped to ours, PLINK 2's ``ERRCODE``).

Errors
------
Every problem with a file is a one-line :class:`exactlmm.errors.InputError` naming the file:
missing file, empty file, a missing column, a value that is not a number or not a p-value,
duplicate SNP ids, a table none of whose rows matches our SNPs.  An unknown preset or a bad
column map is an ``InputError`` naming where the format was given (``where``).
"""

from __future__ import annotations

import csv
import gzip
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.special import chdtrc

from exactlmm.errors import InputError
from exactlmm.io.results import ASSOC_COLUMNS, ERRCODE_DTYPE, TESTED
from lmmcompare.params import TRAIT_UNITS
from lmmcompare.registry import STATISTICS

DELIMITERS = MappingProxyType({"tab": "\t", "whitespace": r"\s+", "comma": ","})
"""How fields are separated: one tab, runs of spaces/tabs, or one comma."""

BIM_ALLELES = ("a1", "a2")
"""``bim_effect`` values: β counts ``.bim`` column 5 (``a1``) or column 6 (``a2``)."""

P_SCALES = ("p", "-log10p", "chisq1")
"""What a p-value column may hold (:class:`PValue`)."""

NO_ID = "."
"""An id that names nothing (VCF's missing id): such rows are matched by position only."""

_COMPLEMENT = MappingProxyType({"A": "T", "T": "A", "C": "G", "G": "C"})


@dataclass(frozen=True)
class PValue:
    """One p-value column of a format.

    Attributes
    ----------
    columns:
        Header names it may have (the first one present in a file is used).
    statistic:
        Our column it fills: ``p_wald``, ``p_lrt`` or ``p_score``.
    scale:
        What the column holds (:data:`P_SCALES`): ``p``; ``-log10p`` (p = 10^(−x)); ``chisq1``,
        a χ² statistic with one degree of freedom (p = its upper tail; BOLT-LMM prints its χ²
        with 6 digits, its p with 2).
    """

    columns: tuple[str, ...]
    statistic: str
    scale: str = "p"

    def __post_init__(self) -> None:
        if self.scale not in P_SCALES:
            raise ValueError(f"p-value scale must be one of {', '.join(P_SCALES)}")

    def to_p(self, values: np.ndarray) -> np.ndarray:
        """p from the column's values."""
        if self.scale == "-log10p":
            return 10.0 ** -values
        if self.scale == "chisq1":
            return chdtrc(1.0, values)
        return values


@dataclass(frozen=True)
class Preset:
    """Where a tool's association table keeps each number, and what it means.

    Every ``tuple[str, ...]`` field lists the header names a column may have; the first one
    present in a file is used, and an empty tuple means the format has no such column.

    Attributes
    ----------
    name, tool:
        Preset name (``format:`` in the config) and the tool's label.
    files:
        The file names the tool writes (for the documentation; not checked).
    test:
        The test behind the p-value(s), by name, and what it computes.
    source:
        Where the format is documented: tool, file and lines (``docs/PEERS-VERIFIED.md``).
    snp, chrom, pos:
        SNP id, chromosome, base-pair position.
    effect_allele, other_allele:
        The allele β counts, and the other allele of the variant.
    ref, alt:
        PLINK 2 only: when the table has no ``other_allele`` column, the other allele is
        whichever of REF and ALT is not the effect allele (biallelic variants).
    bim_effect:
        For a table naming no allele: β counts copies of our ``a1`` or ``a2``.  A preset of
        such a table leaves it ``None``: the table does not say, so the user must
        (:func:`resolve`, ``{preset: NAME, bim_effect: a1|a2}``); :func:`read_table` refuses a
        format that names neither.
    beta, odds_ratio, se:
        Effect size; when there is no β column, β = ln(odds ratio); its standard error (of β).
    beta_per_sd:
        β and se are per standard deviation of the genotype (FaST-LMM's ``SnpWeight``).
    effect_unit:
        The trait β and se are on (:data:`lmmcompare.params.TRAIT_UNITS`): the phenotype as
        given, or the standardized (Quickdraws) or covariate-residualized (sgkit's REGENIE)
        trait a two-step method fits; β on y is β times
        :func:`lmmcompare.params.trait_unit` of it, for a runner's table and an imported one
        alike.
    pvalues:
        The p-value columns (:class:`PValue`); a file must have at least one of them.
    n, af:
        Samples used for the SNP; frequency of the effect allele.
    test_column, test_value:
        Rows are kept only where this column equals ``test_value`` (REGENIE's and PLINK 2's
        ``TEST`` = ``ADD``: the additive test, not the covariates' rows).
    errcode_column, errcodes:
        The tool's per-row error code, and its mapping to ours (``.`` = tested; a code not in
        the mapping is ``TOOL_FAILED``).
    missing:
        How the tool writes a missing number (NaN spellings are always missing).
    delimiter:
        A key of :data:`DELIMITERS`.
    header, positional:
        Whether the first line names the columns; without one, ``positional`` does.
    extra:
        Further numeric columns read when present (``ResultTable.extra``): a runner's own
        numbers (GEMMA's per-SNP λ), not used by the matcher.
    notes:
        Anything else a user must know (versions, options that change the layout).
    """

    name: str
    tool: str
    files: tuple[str, ...]
    test: str
    source: str
    snp: tuple[str, ...]
    pvalues: tuple[PValue, ...]
    chrom: tuple[str, ...] = ()
    pos: tuple[str, ...] = ()
    effect_allele: tuple[str, ...] = ()
    other_allele: tuple[str, ...] = ()
    ref: tuple[str, ...] = ()
    alt: tuple[str, ...] = ()
    bim_effect: str | None = None
    beta: tuple[str, ...] = ()
    odds_ratio: tuple[str, ...] = ()
    se: tuple[str, ...] = ()
    beta_per_sd: bool = False
    effect_unit: str = "phenotype"
    n: tuple[str, ...] = ()
    af: tuple[str, ...] = ()
    test_column: tuple[str, ...] = ()
    test_value: str = "ADD"
    errcode_column: tuple[str, ...] = ()
    errcodes: Mapping[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ("NA",)
    delimiter: str = "tab"
    header: bool = True
    positional: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not self.snp:
            problems.append("no SNP id column")
        if not self.pvalues:
            problems.append("no p-value column")
        if any(p.statistic not in STATISTICS for p in self.pvalues):
            problems.append(f"a p-value statistic is not one of {', '.join(STATISTICS)}")
        if self.effect_allele and self.bim_effect is not None:
            problems.append("effect-allele columns and bim_effect exclude each other")
        if self.bim_effect is not None and self.bim_effect not in BIM_ALLELES:
            problems.append(f"bim_effect must be one of {', '.join(BIM_ALLELES)}")
        if self.effect_unit not in TRAIT_UNITS:
            problems.append(f"effect_unit must be one of {', '.join(TRAIT_UNITS)}")
        if self.other_allele and not self.effect_allele:
            problems.append("an other-allele column without an effect-allele column")
        if bool(self.ref) != bool(self.alt):
            problems.append("ref and alt columns go together")
        if not (self.beta or self.odds_ratio) and self.se:
            problems.append("a standard error without an effect size")
        if self.delimiter not in DELIMITERS:
            problems.append(f"delimiter must be one of {', '.join(DELIMITERS)}")
        if not self.header and not self.positional:
            problems.append("a file without a header needs positional column names")
        if problems:
            raise ValueError(f"format {self.name!r}: {'; '.join(problems)}")

    @property
    def statistics(self) -> tuple[str, ...]:
        """Our p-value columns this format can fill."""
        return tuple(dict.fromkeys(p.statistic for p in self.pvalues))


# ------------------------------------------------------------------------------ the presets

PLINK2_ERRCODES = MappingProxyType({
    "CONST_ALLELE": "MONOMORPHIC",
    "CONST_OMITTED_ALLELE": "MONOMORPHIC",
    "VIF_INFINITE": "COLLINEAR",
})
"""PLINK 2 ``ERRCODE`` values with an errcode of ours; every other code is ``TOOL_FAILED``."""

_NAN_SPELLINGS = ("NA", "nan", "-nan")
BOLT_BAD_SNP = "-1e+09"
"""How BOLT-LMM prints the χ² of a SNP it could not test (``Bolt::BAD_SNP_STAT`` = −1e9 with
the stream's 6 digits; ``Bolt::getSnpStats``): a missing number."""

_PRESET_LIST = (
    Preset(
        name="regenie",
        tool="REGENIE step 2",
        files=("PREFIX_<pheno>.regenie", "PREFIX_<pheno>.regenie.gz"),
        test="score test of the SNP on the phenotype with the LOCO prediction removed "
             "(quantitative traits: z = gᵀỹ/(sd(ỹ)·√(gᵀg)) on residualised g, ỹ; χ²(1)); "
             "binary traits: logistic score test, Firth/SPA-corrected when asked",
        source="rgcgithub/regenie 5f924b9: src/Step2_Models.cpp print_header_output_single "
               "(l. 2386–2398), compute_score_qt (l. 343–390); src/Geno.cpp read_bim l. 545–553 "
               "(ALLELE1 = .bim column 5 unless --ref-first); docs/docs/options.md 'Output' "
               "(l. 337–355: 'effect sizes for allele 1', '-log10 p-value')",
        snp=("ID",), chrom=("CHROM",), pos=("GENPOS",),
        effect_allele=("ALLELE1",), other_allele=("ALLELE0",),
        beta=("BETA",), se=("SE",),
        pvalues=(PValue(("LOG10P",), "p_score", "-log10p"),),
        n=("N",), af=("A1FREQ",),
        test_column=("TEST",), test_value="ADD",
        missing=("NA",), delimiter="whitespace",
        notes="one file per phenotype (not --no-split, not --htp); CHROM is REGENIE's integer "
              "code (X = 23)",
    ),
    Preset(
        name="saige",
        tool="SAIGE step 2 (single variant)",
        files=("SAIGEOutputFile",),
        test="score test at the null GLMM (Tstat = score, var its variance with the variance "
             "ratio); SPA for binary traits; χ²(1) = Tstat²/var",
        source="saigegit/SAIGE 365deef: src/Main.cpp openOutfile_single (l. 2588–2635, header "
               "of v1.x); saigegit/SAIGE-doc 32af4b7 docs/single_step2.md l. 263–290 "
               "('Association results are with regard to Allele2', 'BETA: effect size of allele "
               "2', 'Tstat: score statistic of allele 2'); --AlleleOrder=alt-first for PLINK "
               "input (Allele2 = .bim column 5)",
        snp=("MarkerID", "SNPID"), chrom=("CHR",), pos=("POS",),
        effect_allele=("Allele2",), other_allele=("Allele1",),
        beta=("BETA",), se=("SE",),
        pvalues=(PValue(("p.value",), "p_score"),),
        n=("N",), af=("AF_Allele2",),
        missing=("NA",), delimiter="whitespace",
        notes="v1.x names the id MarkerID and separates by tabs; v0.x writes SNPID and spaces",
    ),
    Preset(
        name="fastgwa",
        tool="GCTA fastGWA (--fastGWA-mlm)",
        files=("PREFIX.fastGWA",),
        test="GRAMMAR-gamma score test: χ² = c·(xᵀV⁻¹y)²/(xᵀx) on covariate-conditioned x, "
             "β = xᵀV⁻¹y/(xᵀx), se = |β|/√χ², χ²(1)",
        source="jianyangqt/gcta c6bbbee: src/FastFAM.cpp FastFAM::calculate_fam (l. 2970–2986) "
               "and processFAM header (l. 3020); jianyangqt/gcta2_doc d4f4949 "
               "md/06gwas_analysis.md l. 92–95 ('A1 the effect allele', 'AF1 frequency of A1')",
        snp=("SNP",), chrom=("CHR",), pos=("POS",),
        effect_allele=("A1",), other_allele=("A2",),
        beta=("BETA",), se=("SE",),
        pvalues=(PValue(("P",), "p_score"),),
        n=("N",), af=("AF1",),
        missing=_NAN_SPELLINGS, delimiter="tab",
        notes="quantitative traits (the binary-trait layout has T, SE_T, P_noSPA before BETA; "
              "its P is read the same way)",
    ),
    Preset(
        name="gcta_mlma",
        tool="GCTA --mlma / --mlma-loco",
        files=("PREFIX.mlma", "PREFIX.loco.mlma"),
        test="Wald χ²(1) at the null variance components: β = xᵀV⁻¹y/(xᵀV⁻¹x), "
             "se² = 1/(xᵀV⁻¹x) on the covariate-adjusted phenotype",
        source="jianyangqt/gcta c6bbbee: main/mlm_assoc.cpp header l. 233 and 510, "
               "mlma_calcu_stat l. 276–284, NA row l. 237; main/data.cpp read_bimfile "
               "l. 150–177 (A1 = .bim column 5); gcta2_doc md/06gwas_analysis.md l. 179–181 "
               "('reference allele (the coded effect allele)')",
        snp=("SNP",), chrom=("Chr",), pos=("bp",),
        effect_allele=("A1",), other_allele=("A2",),
        beta=("b",), se=("se",),
        pvalues=(PValue(("p",), "p_wald"),),
        af=("Freq",),
        missing=("NA",), delimiter="tab",
        notes="--mlma (fixed) and --mlma-loco (loco) write the same layout",
    ),
    Preset(
        name="bolt",
        tool="BOLT-LMM (P_BOLT_LMM_INF)",
        files=("--statsFile", "--statsFile (.gz)"),
        test="BOLT-LMM-inf: calibrated retrospective score-type χ²(1) at the one null δ, LOCO "
             "(docs/PEERS-VERIFIED.md, BOLT-LMM 'Statistic'); filed under p_wald as the "
             "registry's bolt entry does",
        source="carbocation/bolt-lmm 02fd36d: src/Bolt.cpp Bolt::printStatsHeader "
               "(l. 2729–2749); SnpData::readBedLine bedToGeno {2, 9, 1, 0} (ALLELE1 = .bim "
               "column 5 is counted)",
        snp=("SNP",), chrom=("CHR",), pos=("BP",),
        effect_allele=("ALLELE1",), other_allele=("ALLELE0",),
        beta=("BETA",), se=("SE",),
        pvalues=(PValue(("CHISQ_BOLT_LMM_INF",), "p_wald", "chisq1"),
                 PValue(("P_BOLT_LMM_INF",), "p_wald"),
                 PValue(("CHISQ_BOLT_LMM",), "p_bolt_mix", "chisq1"),
                 PValue(("P_BOLT_LMM",), "p_bolt_mix")),
        af=("A1FREQ",),
        extra=("F_MISS", "CHISQ_BOLT_LMM_INF", "P_BOLT_LMM_INF", "CHISQ_BOLT_LMM", "P_BOLT_LMM"),
        missing=(*_NAN_SPELLINGS, BOLT_BAD_SNP), delimiter="tab",
        notes="BETA/SE are the infinitesimal model's; P is printed %.1E, so p is taken from "
              "CHISQ_BOLT_LMM_INF (6 digits, with --verboseStats) when the file has it; a "
              "--lmm run that computed the mixture model adds CHISQ_BOLT_LMM/P_BOLT_LMM "
              "(p_bolt_mix); a SNP BOLT could not test has χ² -1e+09 (read as missing)",
    ),
    Preset(
        name="bolt_mixture",
        tool="BOLT-LMM (P_BOLT_LMM, --lmm)",
        files=("--statsFile",),
        test="BOLT-LMM mixture-model (non-infinitesimal) calibrated χ²(1), LOCO; BETA/SE are "
             "still the infinitesimal model's",
        source="carbocation/bolt-lmm 02fd36d: src/Bolt.cpp Bolt::printStatsHeader "
               "(l. 2729–2749: one P_<stat> per statistic, BOLT_LMM_INF then BOLT_LMM)",
        snp=("SNP",), chrom=("CHR",), pos=("BP",),
        effect_allele=("ALLELE1",), other_allele=("ALLELE0",),
        beta=("BETA",), se=("SE",),
        pvalues=(PValue(("CHISQ_BOLT_LMM",), "p_wald", "chisq1"),
                 PValue(("P_BOLT_LMM",), "p_wald")),
        af=("A1FREQ",), extra=("F_MISS", "CHISQ_BOLT_LMM", "P_BOLT_LMM"),
        missing=(*_NAN_SPELLINGS, BOLT_BAD_SNP), delimiter="tab",
        notes="needs --lmm (and LD scores); the infinitesimal p is the 'bolt' preset",
    ),
    Preset(
        name="quickdraws",
        tool="Quickdraws step 2",
        files=("PREFIX.<pheno>.sumstats.gz",),
        test="χ²(1) of the LOCO-residualised phenotype on the genotype, "
             "(N − C)(xᵀỹ)²/(yᵀỹ·xᵀPx) (a score statistic with the null variance), then "
             "calibrated per chromosome; filed under p_wald, as the registry's quickdraws "
             "entry (the one test of an approximate LOCO method) does",
        source="PalamaraLab/quickdraws ca67a0f: quickdraws/custom_linear_regression.py "
               "MyLinRegr (l. 135–163), write_sumstats_file (l. 54–77), the genotype X = 2 − "
               "count_A1 (l. 336–342: BETA and ALT_FREQS count A2 = .bim column 6); "
               "quickdraws/scripts/quickdraws_step2.py l. 98–109 (tab, NA, gzip), l. 93–95 "
               "and 182–184 (CHISQ '%.8f', P '%.2E')",
        snp=("SNP",), chrom=("CHR",), pos=("POS",),
        effect_allele=("A2",), other_allele=("A1",),
        # BETA, SE per unit of (y − ȳ)/sd(y), ddof 1 (quickdraws/preprocess_phenotypes.py
        # 111–115).
        beta=("BETA",), se=("SE",), effect_unit="standardized",
        pvalues=(PValue(("CHISQ",), "p_wald", "chisq1"), PValue(("P",), "p_wald")),
        n=("OBS_CT",), af=("ALT_FREQS",),
        missing=("NA",), delimiter="tab",
        notes="P is printed %.2E (3 digits): p is the χ²(1) tail of CHISQ (%.8f) when present",
    ),
    Preset(
        name="regenie_sgkit",
        tool="sgkit regenie_loco_regression (as lmmcompare.runners.regenie_sgkit_job writes it)",
        files=("result.tsv",),
        test="t test of the SNP in the least-squares regression of y* − (its chromosome's "
             "LOCO prediction) on the a1 dosage, covariates projected out, n − c − 1 df "
             "(Wald); y* = P_X y/s",
        source="sgkit 0.10.0: sgkit/stats/association.py regenie_loco_regression (l. 250–427; "
               "variant_linreg_beta, _t_value, _p_value per variant and trait), "
               "linear_regression (l. 40–110: t = β/√(RSS/dof/Σx²), p = 2 t.sf(|t|, dof)); "
               "the table is sgkit's Dataset variables written by our job script, one row per "
               "variant, allele_counted = the a1 dosage it was given",
        snp=("variant_id",), chrom=("variant_contig_name",), pos=("variant_position",),
        effect_allele=("allele_counted",), other_allele=("allele_other",),
        # regenie_loco_regression fits P_X y / s (sgkit/stats/association.py 384–404).
        beta=("variant_linreg_beta",), effect_unit="residual",
        pvalues=(PValue(("variant_linreg_p_value",), "p_wald"),),
        extra=("variant_linreg_t_value",),
        missing=_NAN_SPELLINGS, delimiter="tab",
        notes="β per a1 copy in units of y* (the runner multiplies it by s); no se column: "
              "se = |β/t|",
    ),
    Preset(
        name="plink2",
        tool="PLINK 2 --glm (.glm.linear, .glm.logistic.hybrid)",
        files=("PREFIX.<pheno>.glm.linear", "PREFIX.<pheno>.glm.logistic.hybrid"),
        test="linear: least squares t test, OBS_CT − c − 1 df (Wald); logistic: Wald z (Firth "
             "where FIRTH? = Y); β = ln(OR) when only OR is given",
        source="chrchang/plink-ng v2.00a3.5: 2.0/plink2_glm_linear.cc header l. 1700–1775 "
               "(#CHROM POS ID REF ALT A1 [AX] … TEST OBS_CT BETA SE T_STAT P|LOG10_P "
               "ERRCODE), 2.0/plink2_glm_logistic.cc l. 2960–3020 (OR, LOG(OR)_SE, Z_STAT); "
               "2.0/plink2_help.cc l. 1253–1278 ('beta: Regression coefficient (for A1 if "
               "additive test)'); 2.0/plink2_glm_shared.cc l. 23 (ERRCODE strings); OMITTED "
               "column: plink-ng 22df061 2.0/plink2_help.cc l. 1480",
        snp=("ID",), chrom=("CHROM",), pos=("POS",),
        effect_allele=("A1",), other_allele=("OMITTED", "AX"),
        ref=("REF",), alt=("ALT", "ALT1"),
        beta=("BETA",), odds_ratio=("OR",), se=("SE", "LOG(OR)_SE"),
        pvalues=(PValue(("P",), "p_wald"), PValue(("LOG10_P",), "p_wald", "-log10p")),
        n=("OBS_CT",), af=("A1_FREQ",),
        test_column=("TEST",), test_value="ADD",
        errcode_column=("ERRCODE",), errcodes=PLINK2_ERRCODES,
        missing=("NA",), delimiter="tab",
        notes="A1 is the allele β counts: ALT with omit-ref, else the non-major allele; the "
              "header's leading '#' is dropped",
    ),
    Preset(
        name="gemma",
        tool="GEMMA -lmm 1/2/3/4 (.assoc.txt)",
        files=("output/PREFIX.assoc.txt",),
        test="-lmm 1: Wald F(1, n − c − 1) at the per-SNP REML λ; -lmm 2: LRT χ²(1) with the "
             "per-SNP ML λ; -lmm 3: score F(1, n − c − 1) at the null ML λ; -lmm 4: all three",
        source="genetics-statistics/GEMMA v0.98.5: src/lmm.cpp LMM::WriteFiles (l. 99–214; "
               "header l. 191–197, allele1 = a_minor = .bim column 5); doc/manual.tex "
               "l. 365–369 ('The "
               "minor allele in column 5 is therefore the effect allele'); JAMMA 8.2.4 "
               "writes the same -lmm 4 table (jamma/cli.py 80–268; allele1 = .bim column 5, "
               "checked on HS1940 and EUR_subset)",
        snp=("rs",), chrom=("chr",), pos=("ps",),
        effect_allele=("allele1",), other_allele=("allele0",),
        beta=("beta",), se=("se",),
        pvalues=(PValue(("p_wald",), "p_wald"), PValue(("p_lrt",), "p_lrt"),
                 PValue(("p_score",), "p_score")),
        af=("af",), extra=("n_miss", "logl_H1", "l_remle", "l_mle"),
        missing=_NAN_SPELLINGS, delimiter="tab",
        notes="af (3 decimals) is allele1's frequency; n_miss is not n; l_remle, l_mle are "
              "the per-SNP λ (extra)",
    ),
    Preset(
        name="emmax",
        tool="EMMAX (.ps)",
        files=("PREFIX.ps",),
        test="t test at the null δ (P3D), ν = n − c − 1: p = I_{ν/(ν+t²)}(ν/2, ½)",
        source="EMMAX beta-07Mar2010 (quiestrho/EPI-EMMAX 7a7ae1d) emmax.c l. 693–695 (SNP, β, "
               "p; tab; no header), l. 1386–1420 (the tped allele '2' is counted); which .bim "
               "allele is '2' depends on how the tped was made: plink-ng v2.00a3.5 "
               "2.0/plink2_export.cc l. 9798–9818 (--export tped 12: REF → 1, ALT = .bim "
               "column 5 → 2; its help text, 2.0/plink2_help.cc l. 518, says the opposite), "
               "1.9/plink_help.c l. 456 (--recode 12: A1 → 1, A2 → 2)",
        snp=("SNP",),
        beta=("BETA",),
        pvalues=(PValue(("P",), "p_wald"),),
        missing=_NAN_SPELLINGS, delimiter="tab",
        header=False, positional=("SNP", "BETA", "P"),
        notes="no alleles, chromosome or position: matched by id.  β counts the tped's '2' "
              "allele, which the .ps does not name: give bim_effect a1 (tped from plink2 "
              "--export tped 12, or our runner's) or a2 (PLINK 1.9 --recode12 "
              "--keep-allele-order)",
    ),
    Preset(
        name="fastlmm",
        tool="FaST-LMM single_snp (output_file_name)",
        files=("output_file_name",),
        test="Wald F(1, n − c − 1) of β²/Var β at the null h2 (P3D)",
        source="fastlmm/FaST-LMM v0.6.13: fastlmm/association/single_snp.py _create_dataframe "
               "(l. 832–845, columns), to_csv(sep='\\t') l. 370, docstring l. 126–132 "
               "('SNPWeight is the beta for the standardized test SNP'); pysnptools 0.5.15 "
               "snpreader/bed.py Bed.__init__ (count_A1=None → False: .bim column 6 counted)",
        snp=("SNP",), chrom=("Chr",), pos=("ChrPos",),
        beta=("SnpWeight",), se=("SnpWeightSE",), beta_per_sd=True,
        pvalues=(PValue(("PValue",), "p_wald"),),
        missing=_NAN_SPELLINGS, delimiter="tab",
        notes="no alleles: β counts .bim column 6 with count_A1=False, FaST-LMM 0.6.13's "
              "default (it warns that the default will become True), column 5 with "
              "count_A1=True (our runner's): give bim_effect a2 or a1; β per sd of the "
              "genotype (match_table's snp_sd converts it); Chr and ChrPos are floats",
    ),
)

PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in _PRESET_LIST})
"""Every format preset by name: the one table of them."""

PRESET_OVERRIDES = ("bim_effect",)
"""What ``{preset: NAME, ...}`` may set: the counted allele of a table naming none (required
there, refused elsewhere)."""


def get(name: str, *, where: str = "format") -> Preset:
    """The preset ``name``; an ``InputError`` naming ``where`` and the known names otherwise."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown format preset {name!r}; known: {', '.join(PRESETS)}",
                         path=where) from None


# ------------------------------------------------------------------------- user column maps

COLUMN_KEYS = (
    "snp", "chrom", "pos", "effect_allele", "other_allele", "ref", "alt", "beta",
    "odds_ratio", "se", *STATISTICS, "n", "af", "test", "errcode",
)  # fmt: skip
"""Keys of a user's ``columns:`` map (each names one header column)."""

FACT_KEYS = ("columns", "log10p", "bim_effect", "beta_per_sd", "effect_unit", "test_value",
             "missing", "delimiter", "tool", "test")
"""Keys beside ``columns`` in a user's column map."""


def column_map(spec: Mapping[str, Any], *, where: str = "format") -> Preset:
    """A :class:`Preset` from a user's column map.

    ``spec`` holds ``columns`` (our names → the file's header names; :data:`COLUMN_KEYS`:
    ``snp`` and at least one of ``p_wald``/``p_lrt``/``p_score`` required, an allele column or
    ``bim_effect``) and the facts: ``log10p`` (bool, default false: the p columns hold
    −log10 p), ``bim_effect`` (``a1``/``a2`` when no allele column), ``beta_per_sd``,
    ``effect_unit`` (``phenotype``, the default, ``standardized`` or ``residual``),
    ``test_value``, ``missing`` (list, default ``[NA]``), ``delimiter`` (default ``tab``),
    ``tool``, ``test`` (labels).  The file must have a header line.  Every problem is a
    one-line ``InputError`` naming ``where``.
    """
    if not isinstance(spec, Mapping):
        raise InputError("a column map must be a mapping with 'columns'", path=where)
    unknown = sorted(set(spec) - set(FACT_KEYS))
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(map(str, unknown))}; known: "
                         f"{', '.join(FACT_KEYS)}", path=where)
    columns = spec.get("columns")
    if not isinstance(columns, Mapping) or not columns:
        raise InputError("'columns' must map our names to the file's column names", path=where)
    bad = sorted(set(map(str, columns)) - set(COLUMN_KEYS))
    if bad:
        raise InputError(f"unknown column key(s) {', '.join(bad)}; known: "
                         f"{', '.join(COLUMN_KEYS)}", path=where)
    for key, value in columns.items():
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"columns.{key} must be a column name", path=where)
    if "snp" not in columns:
        raise InputError("columns.snp (the SNP id column) is required", path=where)
    stats = [s for s in STATISTICS if s in columns]
    if not stats:
        raise InputError(f"give at least one p-value column ({', '.join(STATISTICS)})",
                         path=where)
    flags = {}
    for key in ("log10p", "beta_per_sd"):
        value = spec.get(key, False)
        if not isinstance(value, bool):
            raise InputError(f"{key} must be true or false", path=where)
        flags[key] = value
    missing = spec.get("missing", ["NA"])
    if isinstance(missing, str):
        missing = [missing]
    if not isinstance(missing, Sequence) or not all(isinstance(m, str) for m in missing):
        raise InputError("missing must be a list of strings", path=where)
    bim_effect = spec.get("bim_effect")
    has_allele = "effect_allele" in columns
    if has_allele == (bim_effect is not None):
        raise InputError("give columns.effect_allele or bim_effect (a1 or a2), not both, not "
                         "neither", path=where)
    if bim_effect is not None and bim_effect not in BIM_ALLELES:
        raise InputError(f"bim_effect must be a1 or a2, not {bim_effect!r}", path=where)
    if "other_allele" in columns and not has_allele:
        raise InputError("columns.other_allele needs columns.effect_allele", path=where)
    if ("ref" in columns) != ("alt" in columns):
        raise InputError("columns.ref and columns.alt go together", path=where)
    if "se" in columns and not ("beta" in columns or "odds_ratio" in columns):
        raise InputError("columns.se needs columns.beta or columns.odds_ratio", path=where)
    effect_unit = spec.get("effect_unit", "phenotype")
    if effect_unit not in TRAIT_UNITS:
        raise InputError(f"effect_unit must be one of {', '.join(TRAIT_UNITS)}, not "
                         f"{effect_unit!r}", path=where)
    delimiter = spec.get("delimiter", "tab")
    if delimiter not in DELIMITERS:
        raise InputError(f"delimiter must be one of {', '.join(DELIMITERS)}", path=where)

    def col(key: str) -> tuple[str, ...]:
        return (columns[key],) if key in columns else ()

    return Preset(
        name="columns",
        tool=str(spec.get("tool", "column map")),
        files=(),
        test=str(spec.get("test", "as given by the column map")),
        source="user column map",
        snp=col("snp"), chrom=col("chrom"), pos=col("pos"),
        effect_allele=col("effect_allele"), other_allele=col("other_allele"),
        ref=col("ref"), alt=col("alt"), bim_effect=bim_effect,
        beta=col("beta"), odds_ratio=col("odds_ratio"), se=col("se"),
        beta_per_sd=flags["beta_per_sd"], effect_unit=effect_unit,
        pvalues=tuple(PValue(col(s), s, "-log10p" if flags["log10p"] else "p") for s in stats),
        n=col("n"), af=col("af"),
        test_column=col("test"), test_value=str(spec.get("test_value", "ADD")),
        errcode_column=col("errcode"),
        missing=tuple(missing), delimiter=delimiter,
    )


def resolve(spec: str | Mapping[str, Any], *, where: str = "format") -> Preset:
    """The format a config gives: a preset name, ``{preset: NAME, bim_effect: a1|a2}``, or a
    column map (:func:`column_map`).  A preset of a table naming no allele (EMMAX, FaST-LMM)
    needs ``bim_effect``."""
    if isinstance(spec, Mapping) and "preset" in spec:
        preset = get(spec["preset"], where=where)
        extra = sorted(set(spec) - {"preset", *PRESET_OVERRIDES})
        if extra:
            raise InputError(f"a preset takes only {', '.join(PRESET_OVERRIDES)} beside it, "
                             f"not {', '.join(map(str, extra))}", path=where)
        if "bim_effect" in spec:
            if preset.effect_allele:
                raise InputError(f"preset {preset.name!r} names its effect allele; bim_effect "
                                 "applies only to tables without alleles", path=where)
            if spec["bim_effect"] not in BIM_ALLELES:
                raise InputError(f"bim_effect must be a1 or a2, not {spec['bim_effect']!r}",
                                 path=where)
            preset = replace(preset, bim_effect=spec["bim_effect"])
    elif isinstance(spec, str):
        preset = get(spec, where=where)
    else:
        return column_map(spec, where=where)
    if not preset.effect_allele and preset.bim_effect is None:
        raise InputError(f"preset {preset.name!r} names no allele: give {{preset: "
                         f"{preset.name}, bim_effect: a1 or a2}} ({preset.notes})", path=where)
    return preset


# ------------------------------------------------------------------------------- the reader


@dataclass(frozen=True, eq=False)
class ResultTable:
    """A tool's association table in our terms (one entry per kept row, file order).

    ``effect_allele``/``other_allele``/``chrom``/``pos``/``beta``/``se``/``n``/``af`` are
    ``None`` when the format has no such column; numbers are float64 with NaN for missing
    (``pos`` int64).  ``pvalues`` maps our statistic columns to p (already converted from
    −log10 p and χ² columns).  ``extra`` holds the format's extra columns present in the file
    (by their header names, float64).  ``errcode`` holds our errcode per row (``.`` when the
    tool gave none), ``tool_errcode`` the tool's own code as written (``None`` when the format
    has no such column).  ``line`` is each row's line number in the file (1-based, header
    counted).
    """

    path: Path
    format: Preset
    snp: np.ndarray
    chrom: np.ndarray | None
    pos: np.ndarray | None
    effect_allele: np.ndarray | None
    other_allele: np.ndarray | None
    beta: np.ndarray | None
    se: np.ndarray | None
    pvalues: Mapping[str, np.ndarray]
    n: np.ndarray | None
    af: np.ndarray | None
    errcode: np.ndarray
    line: np.ndarray
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)
    tool_errcode: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return int(self.snp.size)


def _open_text(path: Path) -> Any:
    """A binary handle on ``path``, gunzipped when it starts with the gzip magic bytes."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


NAN_TEXTS = ("nan", "-nan", "+nan", "NaN", "-NaN", "NAN")
"""Texts read as missing in every format (C's printf and pandas spell NaN so)."""

_TEXT_FIELDS = ("snp", "chrom", "effect", "other", "ref", "alt", "test", "errcode")


def _layout(fmt: Preset, names: list[str], path: Path) -> dict[str, str]:
    """Which column of this file (header ``names``) holds each field of ``fmt``: field →
    column name, absent fields left out; p-values as ``p:<statistic>`` (the first of the
    format's :class:`PValue` entries for a statistic that is present).  A missing required
    column is an ``InputError``."""
    present = set(names)

    def pick(candidates: tuple[str, ...]) -> str | None:
        return next((name for name in candidates if name in present), None)

    def need(candidates: tuple[str, ...], what: str) -> str:
        name = pick(candidates)
        if name is None:
            raise InputError(f"no {what} column ({' or '.join(candidates)}) for format "
                             f"{fmt.name!r}", path=path)
        return name

    out: dict[str, str | None] = {"snp": need(fmt.snp, "SNP id")}
    if fmt.chrom:
        out["chrom"] = need(fmt.chrom, "chromosome")
    if fmt.pos:
        out["pos"] = need(fmt.pos, "position")
    if fmt.effect_allele:
        out["effect"] = need(fmt.effect_allele, "effect allele")
        out["other"] = pick(fmt.other_allele)
        if out["other"] is None:
            out["ref"], out["alt"] = pick(fmt.ref), pick(fmt.alt)
            if fmt.other_allele and not (out["ref"] and out["alt"]):
                need(fmt.other_allele, "other allele")
    out["beta"] = pick(fmt.beta)
    if out["beta"] is None and fmt.odds_ratio:
        out["odds"] = pick(fmt.odds_ratio)
    if fmt.beta and out["beta"] is None and out.get("odds") is None:
        need(fmt.beta + fmt.odds_ratio, "effect size")
    if fmt.se and (out["beta"] or out.get("odds")):
        out["se"] = need(fmt.se, "standard error")
    out["n"], out["af"] = pick(fmt.n), pick(fmt.af)
    out["test"], out["errcode"] = pick(fmt.test_column), pick(fmt.errcode_column)
    for name in fmt.extra:
        if name in present:
            out[f"extra:{name}"] = name
    for spec in _present_pvalues(fmt, present):
        out[f"p:{spec.statistic}"] = next(c for c in spec.columns if c in present)
    if not any(key.startswith("p:") for key in out):
        names_ = sorted({c for spec in fmt.pvalues for c in spec.columns})
        raise InputError(f"no p-value column ({' or '.join(names_)}) for format {fmt.name!r}",
                         path=path)
    return {k: v for k, v in out.items() if v is not None}


def _present_pvalues(fmt: Preset, present: set[str]) -> list[PValue]:
    """The p-value entries of ``fmt`` this file has: per statistic the first one present."""
    chosen: dict[str, PValue] = {}
    for spec in fmt.pvalues:
        if spec.statistic not in chosen and any(c in present for c in spec.columns):
            chosen[spec.statistic] = spec
    return list(chosen.values())


def _csv(path: Path, fmt: Preset, **options: Any) -> pd.DataFrame:
    """``pandas.read_csv`` of the (possibly gzipped) file with the format's delimiter, numbers
    read exactly (``round_trip``: pandas' default C conversion is off by an ulp for about a
    third of 17-digit numbers); the file's problems as one-line ``InputError``s."""
    try:
        handle = _open_text(path)
    except FileNotFoundError:
        raise InputError("result table not found", path=path) from None
    except OSError as err:
        raise InputError(f"cannot read the file ({err.strerror})", path=path) from None
    try:
        # index_col=False: a first line with one more field than the header is an error (the
        # ParserWarning, made one), never an implicit index that shifts every column
        with handle, warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(handle, sep=DELIMITERS[fmt.delimiter],
                               header=0 if fmt.header else None,
                               names=None if fmt.header else list(fmt.positional),
                               index_col=False, keep_default_na=False, quoting=csv.QUOTE_NONE,
                               skip_blank_lines=True, engine="c", float_precision="round_trip",
                               **options)
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty", path=path) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError, EOFError,
            gzip.BadGzipFile, OSError) as err:
        raise InputError(f"cannot parse the table ({' '.join(str(err).split())})",
                         path=path) from None


def _read_frame(path: Path, fmt: Preset) -> tuple[pd.DataFrame, dict[str, str],
                                                  list[PValue]]:
    """The columns the format needs, numbers parsed by pandas' C parser (missing spellings →
    NaN), renamed to their field names (``snp``, ``pos``, ``p:p_wald``, …)."""
    if fmt.header:
        raw = [str(c) for c in _csv(path, fmt, nrows=0, dtype=str).columns]
    else:
        raw = list(fmt.positional)
    clean = [c.lstrip("#") if i == 0 else c for i, c in enumerate(raw)]
    fields = _layout(fmt, clean, path)
    to_raw = dict(zip(clean, raw, strict=True))
    text = {to_raw[v] for k, v in fields.items() if k in _TEXT_FIELDS}
    numeric = {to_raw[v] for k, v in fields.items() if k not in _TEXT_FIELDS} - text
    missing = list(dict.fromkeys((*fmt.missing, *NAN_TEXTS)))
    # every column is read (not usecols: pandas then stops checking the field count of lines)
    try:
        frame = _csv(path, fmt, dtype={**dict.fromkeys(raw, str),
                                       **dict.fromkeys(numeric, np.float64)},
                     na_values=dict.fromkeys(numeric, missing))
    except ValueError:  # a field that is not a number: find and name it
        frame = _csv(path, fmt, dtype=str, na_filter=False)
        first_line = 2 if fmt.header else 1
        for name in sorted(numeric):
            _check_numbers(frame[name], name.lstrip("#"), missing, path, first_line)
        raise InputError("cannot parse the numbers of the table", path=path) from None
    if not fmt.header and frame[sorted(text)].isna().any(axis=None):
        raise InputError(f"expected {len(fmt.positional)} columns "
                         f"({', '.join(fmt.positional)}) on every line", path=path)
    frame = frame[[to_raw[v] for v in fields.values()]]
    frame.columns = list(fields)
    return frame, fields, _present_pvalues(fmt, set(clean))


def _check_numbers(text: pd.Series, name: str, missing: list[str], path: Path,
                   first_line: int) -> None:
    """An ``InputError`` naming the first field of ``text`` that is neither a number nor a
    missing spelling."""
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) & ~text.isin(missing).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"line {first_line + int(text.index[row])}, column {name}: "
                         f"{text.iloc[row]!r} is not a number", path=path)


def read_table(path: str | os.PathLike[str], fmt: Preset | str) -> ResultTable:
    """Read a tool's association table in format ``fmt`` (a :class:`Preset` or its name).

    Gzip-compressed files are recognised by their first bytes, whatever their name.  Rows are
    filtered on ``fmt.test_column`` when the file has it.  Errors: see the module docstring.
    """
    path = Path(path)
    if isinstance(fmt, str):
        fmt = get(fmt)
    if not fmt.effect_allele and fmt.bim_effect is None:
        raise InputError(f"format {fmt.name!r} names no allele, so which one β counts must be "
                         "given: bim_effect a1 (.bim column 5) or a2 (column 6)", path=path)
    frame, layout, present_pvalues = _read_frame(path, fmt)
    first_line = 2 if fmt.header else 1  # line number of frame row 0

    def line(row: int) -> int:
        return first_line + int(frame.index[row])

    if "test" in frame:
        frame = frame[frame["test"].to_numpy() == fmt.test_value]
        if frame.empty:
            raise InputError(f"no row with {layout['test']} = {fmt.test_value}", path=path)
    if frame.empty:
        raise InputError("no data rows (a header only)", path=path)

    snp = frame["snp"].to_numpy(dtype=str)
    named = snp != NO_ID
    repeated = pd.Series(snp[named]).duplicated(keep=False).to_numpy()
    if repeated.any():
        where = np.flatnonzero(named)[repeated][:2]
        raise InputError(f"SNP id {snp[where[0]]!r} appears more than once (lines "
                         f"{line(where[0])} and {line(where[1])})", path=path)

    def text(field_: str) -> np.ndarray | None:
        return frame[field_].to_numpy(dtype=str) if field_ in frame else None

    def numbers(field_: str) -> np.ndarray | None:
        return frame[field_].to_numpy(dtype=np.float64) if field_ in frame else None

    pos = numbers("pos")
    if pos is not None:
        whole = np.isfinite(pos) & (pos == np.round(pos))
        if not whole.all():
            row = int(np.argmin(whole))
            raise InputError(f"line {line(row)}: position {pos[row]!r} is not a whole number",
                             path=path)
        pos = pos.astype(np.int64)

    effect, other = text("effect"), text("other")
    if effect is not None and other is None and "ref" in frame and "alt" in frame:
        ref, alt = text("ref"), text("alt")
        # the other allele of a biallelic variant: whichever of REF/ALT is not the effect one
        other = np.where(effect == ref, alt, np.where(effect == alt, ref, ""))

    beta = numbers("beta")
    if beta is None and "odds" in frame:
        odds = numbers("odds")
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = np.where(odds > 0, np.log(odds), np.nan)

    pvalues: dict[str, np.ndarray] = {}
    for spec in present_pvalues:
        values = numbers(f"p:{spec.statistic}")
        bad = (values < 0) | ((spec.scale == "p") & (values > 1))
        if bad.any():
            row = int(np.argmax(bad))
            what = {"p": "p-value", "-log10p": "-log10 p", "chisq1": "chi-square"}[spec.scale]
            raise InputError(f"line {line(row)}, column {layout[f'p:{spec.statistic}']}: "
                             f"{values[row]!r} is not a {what}", path=path)
        pvalues[spec.statistic] = spec.to_p(values)

    errcode = np.full(len(frame), TESTED, dtype=ERRCODE_DTYPE)
    if "errcode" in frame:
        codes = text("errcode")
        flagged = codes != TESTED
        mapped = pd.Series(codes[flagged]).map(dict(fmt.errcodes)).fillna("TOOL_FAILED")
        errcode[flagged] = mapped.to_numpy(dtype=str)

    return ResultTable(
        path=path, format=fmt, snp=snp, chrom=text("chrom"), pos=pos, effect_allele=effect,
        other_allele=other, beta=beta, se=numbers("se"), pvalues=MappingProxyType(pvalues),
        n=numbers("n"), af=numbers("af"), errcode=errcode,
        line=first_line + frame.index.to_numpy(dtype=np.int64),
        extra=MappingProxyType({key[6:]: numbers(key) for key in layout
                                if key.startswith("extra:")}),
        tool_errcode=text("errcode"),
    )


# ------------------------------------------------------------------------------ the matcher


class SnpSet(Protocol):
    """Our SNPs: what :func:`exactlmm.io.plink.open_plink` gives (``.bim`` columns)."""

    chrom: np.ndarray
    snp: np.ndarray
    pos: np.ndarray
    a1: np.ndarray
    a2: np.ndarray


@dataclass(frozen=True)
class MatchCounts:
    """How a table met our SNPs.

    ``by_id`` + ``by_position`` of our ``ours`` SNPs got a row (paired by id, or by
    chromosome:position:alleles); ``flipped`` of those rows count a2 (β and af mirrored),
    ``strand_ambiguous`` are A/T or C/G SNPs (a strand error cannot be seen there).
    ``allele_mismatch`` rows were paired with one of our SNPs (by id, or by position when the
    table names only the effect allele) but name other alleles (not used; ``complement_strand``
    of them our alleles on the other strand).  ``ours_unmatched`` of our
    SNPs got no usable row (``NOT_REPORTED``); ``theirs_unused`` of the table's ``theirs`` rows
    were not used.
    """

    ours: int
    theirs: int
    by_id: int
    by_position: int
    flipped: int
    allele_mismatch: int
    complement_strand: int
    strand_ambiguous: int
    ours_unmatched: int
    theirs_unused: int

    def describe(self) -> str:
        """One log line."""
        return (f"{self.by_id + self.by_position} of {self.ours} SNPs matched ({self.by_id} by "
                f"id, {self.by_position} by chromosome:position:alleles), {self.flipped} "
                f"flipped, {self.strand_ambiguous} strand-ambiguous; {self.allele_mismatch} rows "
                f"with other alleles ({self.complement_strand} on the other strand); "
                f"{self.ours_unmatched} of ours without a partner, {self.theirs_unused} of "
                f"{self.theirs} rows unused")


@dataclass(frozen=True, eq=False)
class MatchedTable:
    """A table put on our SNPs: ``columns`` are those of our ``.assoc.tsv``
    (:data:`ASSOC_COLUMNS`, our SNP order; ``delta``/``delta_ml`` NA), ``partner`` the table
    row used for each of our SNPs (−1: none), ``flipped`` whether its β was mirrored."""

    columns: Mapping[str, np.ndarray]
    counts: MatchCounts
    partner: np.ndarray
    flipped: np.ndarray


_CHROM_ALIASES = MappingProxyType({"X": "23", "Y": "24", "XY": "25", "M": "26", "MT": "26"})


def _per_distinct(values: np.ndarray, function: Any) -> np.ndarray:
    """``function`` applied to each distinct string of ``values`` (hash-factorised: a Python
    call per distinct value — alleles, chromosome codes — never per row)."""
    codes, distinct = pd.factorize(np.asarray(values, dtype=str), sort=False)
    if distinct.size == 0:
        return np.zeros(codes.size, dtype=str)
    return np.array([function(value) for value in distinct], dtype=str)[codes]


def _normalise_chromosome(code: str) -> str:
    text = code.strip()
    if text[:3].lower() == "chr":
        text = text[3:]
    text = _CHROM_ALIASES.get(text.upper(), text)
    whole, dot, frac = text.partition(".")
    if whole.isdigit() and (not dot or set(frac) <= {"0"}):
        text = str(int(whole))
    return text


def normalise_chromosomes(codes: np.ndarray) -> np.ndarray:
    """Chromosome codes on one footing for matching by position: a ``chr`` prefix dropped,
    X/Y/XY/MT as PLINK's 23/24/25/26, ``"1.0"`` (FaST-LMM) as ``"1"``, leading zeros
    dropped.  Other codes are kept as written."""
    return _per_distinct(codes, _normalise_chromosome)


def _complement(alleles: np.ndarray) -> np.ndarray:
    """The other strand's allele for A/C/G/T (anything else maps to '')."""
    return _per_distinct(alleles, lambda allele: _COMPLEMENT.get(allele, ""))


def _upper(values: np.ndarray) -> np.ndarray:
    return _per_distinct(values, str.upper)


def _sorted_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two alleles of each variant in sorted order (an orientation-free key)."""
    first = x <= y
    return np.where(first, x, y), np.where(first, y, x)


def _unique_mask(values: pd.Series | pd.DataFrame) -> np.ndarray:
    return ~values.duplicated(keep=False).to_numpy()


def _pair_by_id(ours: np.ndarray, theirs: np.ndarray, usable_ours: np.ndarray,
                usable_theirs: np.ndarray) -> np.ndarray:
    """For each of our SNPs the table row with the same id (−1: none); ids repeated among ours
    and ``.`` take no part."""
    rows = np.flatnonzero(usable_theirs)
    if rows.size == 0:
        return np.full(ours.size, -1, dtype=np.int64)
    index = pd.Index(theirs[rows])
    hit = index.get_indexer(ours)
    partner = np.where(hit >= 0, rows[np.maximum(hit, 0)], -1)
    partner[~usable_ours] = -1
    return partner


def _pair_by_position(our_keys: pd.DataFrame, their_keys: pd.DataFrame) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    """Pairs (our row, their row) with equal keys that are unique on both sides."""
    ours = our_keys[_unique_mask(our_keys)].reset_index(names="ours")
    theirs = their_keys[_unique_mask(their_keys)].reset_index(names="theirs")
    merged = ours.merge(theirs, on=list(our_keys.columns), how="inner", sort=False)
    return merged["ours"].to_numpy(np.int64), merged["theirs"].to_numpy(np.int64)


def match_table(
    table: ResultTable,
    snps: SnpSet,
    *,
    snp_index: np.ndarray | None = None,
    snp_sd: np.ndarray | None = None,
    label: str | os.PathLike[str] | None = None,
) -> MatchedTable:
    """Put ``table`` on our SNPs and return the columns of our ``.assoc.tsv``.

    Parameters
    ----------
    table:
        From :func:`read_table`.
    snps:
        Our SNPs, e.g. ``exactlmm.io.plink.open_plink(prefix)`` (``.bim`` columns).
    snp_index:
        Positions into ``snps`` of the SNPs to report (default all), in output order.
    snp_sd:
        Standard deviation (ddof 0, analysed samples) of each reported SNP's genotype, for a
        format whose β is per sd (FaST-LMM); without it such β and se are NA.
    label:
        How the error names our SNP set (default: ``"the dataset"``).

    Pairing: by id first (ids unique on both sides, ``.`` excluded), then, for the SNPs and rows
    left, by (chromosome, position, allele set) when the table has them — keys that repeat on
    either side are not paired.  Orientation, flips, mismatches: module docstring.  Vectorised
    (pandas hash joins); no Python loop over rows.

    Raises ``InputError`` naming the table when no row is paired with a usable allele match.
    """
    fmt = table.format
    index = np.arange(len(snps.snp)) if snp_index is None else np.asarray(snp_index, np.int64)
    o_id = np.asarray(snps.snp, dtype=str)[index]
    o_chrom = np.asarray(snps.chrom, dtype=str)[index]
    o_pos = np.asarray(snps.pos, dtype=np.int64)[index]
    o_a1 = _upper(np.asarray(snps.a1, dtype=str)[index])
    o_a2 = _upper(np.asarray(snps.a2, dtype=str)[index])
    m = index.size
    if snp_sd is not None and np.shape(snp_sd) != (m,):
        raise ValueError(f"snp_sd has shape {np.shape(snp_sd)}, expected ({m},): one sd per "
                         "reported SNP")

    partner = _pair_by_id(o_id, table.snp, _unique_mask(pd.Series(o_id)) & (o_id != NO_ID),
                          table.snp != NO_ID)
    paired_by_id = partner >= 0

    t_effect = None if table.effect_allele is None else _upper(table.effect_allele)
    t_other = None if table.other_allele is None else _upper(table.other_allele)
    if table.chrom is not None and table.pos is not None:
        free_ours = np.flatnonzero(partner < 0)
        used = np.zeros(table.n_rows, dtype=bool)
        used[partner[partner >= 0]] = True
        free_theirs = np.flatnonzero(~used)
        if free_ours.size and free_theirs.size:
            our_keys = {"chrom": normalise_chromosomes(o_chrom[free_ours]),
                        "pos": o_pos[free_ours]}
            their_keys = {"chrom": normalise_chromosomes(table.chrom[free_theirs]),
                          "pos": table.pos[free_theirs]}
            if t_effect is not None and t_other is not None:
                our_keys["lo"], our_keys["hi"] = _sorted_pair(o_a1[free_ours], o_a2[free_ours])
                their_keys["lo"], their_keys["hi"] = _sorted_pair(t_effect[free_theirs],
                                                                  t_other[free_theirs])
            ours_at, theirs_at = _pair_by_position(pd.DataFrame(our_keys),
                                                   pd.DataFrame(their_keys))
            partner[free_ours[ours_at]] = free_theirs[theirs_at]

    paired = partner >= 0
    rows = np.where(paired, partner, 0)
    if fmt.bim_effect is not None or t_effect is None:
        same = paired & (fmt.bim_effect != "a2")
        flip = paired & (fmt.bim_effect == "a2")
        mismatch = np.zeros(m, dtype=bool)
        complement = np.zeros(m, dtype=bool)
    else:
        e = t_effect[rows]
        o = t_other[rows] if t_other is not None else np.full(m, "")
        no_other = o == ""
        same = paired & (e == o_a1) & (no_other | (o == o_a2))
        flip = paired & ~same & (e == o_a2) & (no_other | (o == o_a1))
        mismatch = paired & ~same & ~flip
        ce, co = _complement(e), _complement(o)
        on_other_strand = (((ce == o_a1) & (no_other | (co == o_a2)))
                           | ((ce == o_a2) & (no_other | (co == o_a1))))
        complement = mismatch & on_other_strand
    usable = same | flip
    ambiguous = usable & is_strand_ambiguous(o_a1, o_a2)

    if not usable.any():
        where = label if label is not None else "the dataset"
        raise InputError(f"none of the {table.n_rows} rows matches one of {m} SNPs of {where} "
                         f"(by id, or by chromosome:position:alleles; {int(mismatch.sum())} "
                         f"paired rows had other alleles)", path=table.path)

    sign = np.where(flip, -1.0, 1.0)
    scale = np.ones(m)
    if fmt.beta_per_sd:
        scale = (np.full(m, np.nan) if snp_sd is None
                 else 1.0 / np.asarray(snp_sd, dtype=np.float64))

    def taken(values: np.ndarray | None) -> np.ndarray:
        out = np.full(m, np.nan)
        if values is not None:
            out[usable] = values[rows[usable]]
        return out

    stats = {name: taken(table.pvalues.get(name)) for name in STATISTICS}
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = taken(table.beta) * sign * scale
        se = taken(table.se) * np.abs(scale)
    af = taken(table.af)
    af = np.where(flip, 1.0 - af, af)
    errcode = np.full(m, "NOT_REPORTED", dtype=ERRCODE_DTYPE)
    their_code = table.errcode[rows]
    given = np.zeros(m, dtype=bool)
    for values in stats.values():
        given |= ~np.isnan(values)
    errcode[usable] = np.where(their_code[usable] != TESTED, their_code[usable],
                               np.where(given[usable], TESTED, "TOOL_FAILED"))
    untested = errcode != TESTED
    for values in (*stats.values(), beta, se):
        values[untested] = np.nan

    columns = {
        "chrom": o_chrom, "snp": o_id, "pos": o_pos,
        "a1": np.asarray(snps.a1, dtype=str)[index], "a2": np.asarray(snps.a2, dtype=str)[index],
        "n": taken(table.n), "af": af, "beta": beta, "se": se, **stats,
        "delta": np.full(m, np.nan), "delta_ml": np.full(m, np.nan), "errcode": errcode,
    }
    assert tuple(columns) == ASSOC_COLUMNS  # our column order, by construction
    used_rows = np.unique(partner[usable])
    counts = MatchCounts(
        ours=m, theirs=table.n_rows, by_id=int((usable & paired_by_id).sum()),
        by_position=int((usable & ~paired_by_id).sum()),
        flipped=int(flip.sum()), allele_mismatch=int(mismatch.sum()),
        complement_strand=int(complement.sum()), strand_ambiguous=int(ambiguous.sum()),
        ours_unmatched=int((~usable).sum()), theirs_unused=table.n_rows - used_rows.size,
    )
    return MatchedTable(columns=MappingProxyType(columns), counts=counts,
                        partner=np.where(usable, partner, -1), flipped=flip)


def is_strand_ambiguous(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Whether each allele pair is A/T or C/G (its strand cannot be told from the alleles)."""
    x, y = _upper(np.asarray(a1, dtype=str)), _upper(np.asarray(a2, dtype=str))
    return (_complement(x) == y) & (x != "")


__all__ = [
    "PRESETS",
    "MatchCounts",
    "MatchedTable",
    "PValue",
    "Preset",
    "ResultTable",
    "column_map",
    "get",
    "is_strand_ambiguous",
    "match_table",
    "normalise_chromosomes",
    "read_table",
    "resolve",
]

