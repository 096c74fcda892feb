"""Result-table formats of other tools (``lmmcompare.formats``): presets, reader, matcher.

Fixtures (``tests/data/formats/``, written by ``make_fixtures.py`` there; README.md lists them):
one tiny simulated dataset ``tiny.{bed,bim,fam,pheno}`` (400 samples, 60 SNPs on 2 chromosomes,
alleles relabelled so that 4 SNPs are A/T or C/G), and

* the REAL output of the tools installed here on it — PLINK 2 ``--glm`` (linear and logistic
  hybrid), GEMMA ``-lmm 4``, EMMAX (on ``plink2 --export tped 12``), BOLT-LMM ``--lmm``, FaST-LMM
  ``single_snp`` (default ``count_A1``) — checked against our own scan of the same data;
* HAND-WRITTEN tables in the documented layouts of REGENIE, SAIGE, GCTA fastGWA and
  ``--mlma``/``--mlma-loco`` and Quickdraws (the tools are in no registry we reach): our own
  scan's numbers put in each tool's allele convention, with deliberate oddities (flipped rows,
  a renamed id, a row on the other strand, NA p-values, a missing SNP, an extra SNP).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed
from scipy.special import chdtrc

from exactlmm.cli import main as exactlmm_main
from exactlmm.errors import InputError
from exactlmm.io.plink import open_plink
from exactlmm.io.results import ASSOC_COLUMNS, format_assoc_tsv, read_assoc_tsv
from lmmcompare import formats, registry

DATA = Path(__file__).parent / "data" / "formats"
TINY = DATA / "tiny"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "PEERS-VERIFIED.md"


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, np.ndarray]]:
    """Our scans of the tiny dataset (fixed and loco), as the fixtures were compared with."""
    out = tmp_path_factory.mktemp("ours")
    base = ["assoc", "--bfile", str(TINY), "--pheno", f"{TINY}.pheno", "--no-progress"]
    assert exactlmm_main([*base, "--out", str(out / "fixed")]) == 0
    assert exactlmm_main([*base, "--loco", "--out", str(out / "loco")]) == 0
    return {mode: read_assoc_tsv(out / f"{mode}.assoc.tsv") for mode in ("fixed", "loco")}


@pytest.fixture(scope="module")
def bim():
    return open_plink(TINY)


@pytest.fixture(scope="module")
def snp_sd() -> np.ndarray:
    """Genotype sd (ddof 0, called samples) of every SNP: FaST-LMM's unit of β."""
    return np.nanstd(open_bed(f"{TINY}.bed", count_A1=True).read(), axis=0)


def _read_match(name: str, spec, bim, **kwargs) -> formats.MatchedTable:
    return formats.match_table(formats.read_table(DATA / name, formats.resolve(spec)), bim,
                               **kwargs)


def _raw_column(name: str, column: str) -> list[str]:
    """A column of a fixture read with nothing but str.split (an independent reader)."""
    opener = gzip.open if name.endswith(".gz") else open
    with opener(DATA / name, "rt") as handle:
        lines = [line.split() for line in handle.read().splitlines()]
    header = [h.lstrip("#") for h in lines[0]]
    return [row[header.index(column)] for row in lines[1:]]


# --------------------------------------------------------------------------------- the table


def test_presets_cover_the_tools_of_issue_22():
    assert set(formats.PRESETS) == {
        "regenie", "saige", "fastgwa", "gcta_mlma", "bolt", "bolt_mixture", "quickdraws",
        "regenie_sgkit", "plink2", "gemma", "emmax", "fastlmm",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(formats.PRESETS))
def test_every_preset_is_documented_in_peers_verified(name):
    preset = formats.PRESETS[name]
    section = DOCS.read_text().split("## Result formats", 1)
    assert len(section) == 2, "docs/PEERS-VERIFIED.md has no 'Result formats' section"
    assert f"`{name}`" in section[1], f"preset {name} is not in the Result formats section"
    assert preset.source and preset.test and preset.missing


@pytest.mark.parametrize("name", sorted(set(formats.PRESETS) & set(registry.TOOLS)))
def test_presets_of_registry_tools_fill_the_registry_statistics(name):
    """One fact, one place: a tool we run fills the p columns its registry entry lists."""
    assert set(formats.PRESETS[name].statistics) <= set(registry.statistics_of(name))


# ------------------------------------------------------------------ real tools' own outputs


@pytest.mark.parametrize(
    ("name", "spec", "min_r_beta"),
    [
        ("tiny.glm.linear", "plink2", 0.9),  # least squares, no kinship
        ("tiny.glm.logistic.hybrid", "plink2", 0.85),  # ln(OR) of a median split
        ("tiny.gemma.assoc.txt", "gemma", 0.999),
        ("tiny.emmax.ps", {"preset": "emmax", "bim_effect": "a1"}, 0.999),
        ("tiny.bolt.stats", "bolt", 0.9),
        ("tiny.bolt.stats", "bolt_mixture", 0.9),
        ("tiny.fastlmm.tsv", {"preset": "fastlmm", "bim_effect": "a2"}, 0.999),
    ],
)
def test_real_tool_output_matches_our_snps_with_our_beta_sign(name, spec, min_r_beta, ours, bim,
                                                              snp_sd):
    matched = _read_match(name, spec, bim, snp_sd=snp_sd)
    counts = matched.counts
    assert counts.by_id == 60 and counts.ours_unmatched == 0 and counts.theirs_unused == 0
    assert counts.strand_ambiguous == 4 and counts.allele_mismatch == 0
    assert list(matched.columns) == list(ASSOC_COLUMNS)
    assert np.array_equal(matched.columns["snp"], ours["fixed"]["snp"])
    beta = matched.columns["beta"]
    assert np.corrcoef(beta, ours["fixed"]["beta"])[0, 1] > min_r_beta
    strong = np.argsort(-np.abs(ours["fixed"]["beta"] / ours["fixed"]["se"]))[:10]
    assert np.array_equal(np.sign(beta[strong]), np.sign(ours["fixed"]["beta"][strong]))
    format_assoc_tsv(dict(matched.columns))  # writable as our table


def test_plink2_a1_other_than_bim_column_5_is_flipped(ours, bim):
    """PLINK 2's A1 is the non-major allele (no omit-ref): where it is .bim column 6, β and the
    frequency are mirrored."""
    matched = _read_match("tiny.glm.linear", "plink2", bim)
    a1_in_file = np.array(_raw_column("tiny.glm.linear", "A1"))
    expected = a1_in_file == bim.a2
    assert 0 < expected.sum() < 60
    assert np.array_equal(matched.flipped, expected)
    raw_beta = np.array(_raw_column("tiny.glm.linear", "BETA"), dtype=float)
    assert np.array_equal(matched.columns["beta"], np.where(expected, -raw_beta, raw_beta))


def test_plink2_logistic_beta_is_log_odds_ratio(bim):
    matched = _read_match("tiny.glm.logistic.hybrid", "plink2", bim)
    odds = np.array(_raw_column("tiny.glm.logistic.hybrid", "OR"), dtype=float)
    sign = np.where(matched.flipped, -1.0, 1.0)
    np.testing.assert_allclose(np.exp(sign * matched.columns["beta"]), odds, rtol=1e-12)


def test_gemma_fills_wald_lrt_and_score_like_ours(ours, bim):
    matched = _read_match("tiny.gemma.assoc.txt", "gemma", bim)
    assert matched.counts.flipped == 0
    # -lmm 4 refits λ per SNP (p_wald, p_lrt); its score test is at the null, as ours
    np.testing.assert_allclose(matched.columns["p_score"], ours["fixed"]["p_score"], rtol=0.05)
    for stat in ("p_wald", "p_lrt"):
        r = np.corrcoef(np.log10(matched.columns[stat]), np.log10(ours["fixed"][stat]))[0, 1]
        assert r > 0.99, stat
    assert np.max(np.abs(matched.columns["beta"] - ours["fixed"]["beta"])
                  / ours["fixed"]["se"]) < 0.05


def test_emmax_effect_allele_is_the_tped_allele_coded_2(ours, bim):
    """plink2 --export tped 12 codes ALT (.bim column 5) as 2: EMMAX's β then counts a1, and
    saying a2 instead mirrors every β — the .ps itself cannot tell."""
    right = _read_match("tiny.emmax.ps", {"preset": "emmax", "bim_effect": "a1"}, bim)
    wrong = _read_match("tiny.emmax.ps", {"preset": "emmax", "bim_effect": "a2"}, bim)
    # EMMAX's δ search stops at 1e-4 in log δ (docs/PEERS-VERIFIED.md, EMMAX)
    se = ours["fixed"]["se"]
    assert np.max(np.abs(right.columns["beta"] - ours["fixed"]["beta"]) / se) < 1e-3
    assert np.max(np.abs(wrong.columns["beta"] + ours["fixed"]["beta"]) / se) < 1e-3
    assert wrong.counts.flipped == 60
    np.testing.assert_allclose(right.columns["p_wald"], ours["fixed"]["p_wald"], rtol=1e-3)


def test_fastlmm_per_sd_weights_become_per_copy_of_a1(ours, bim, snp_sd):
    matched = _read_match("tiny.fastlmm.tsv", {"preset": "fastlmm", "bim_effect": "a2"}, bim,
                          snp_sd=snp_sd)
    assert np.max(np.abs(matched.columns["beta"] - ours["fixed"]["beta"])
                  / ours["fixed"]["se"]) < 1e-2
    np.testing.assert_allclose(matched.columns["se"], ours["fixed"]["se"], rtol=1e-2)
    unscaled = _read_match("tiny.fastlmm.tsv", {"preset": "fastlmm", "bim_effect": "a2"}, bim)
    assert np.isnan(unscaled.columns["beta"]).all() and np.isnan(unscaled.columns["se"]).all()
    np.testing.assert_array_equal(unscaled.columns["p_wald"], matched.columns["p_wald"])


def test_fastlmm_float_chromosomes_and_positions_are_read_as_codes(bim):
    table = formats.read_table(DATA / "tiny.fastlmm.tsv",
                               formats.resolve({"preset": "fastlmm", "bim_effect": "a2"}))
    assert set(formats.normalise_chromosomes(table.chrom)) == {"1", "2"}
    order = np.argsort(table.pos + 10**6 * formats.normalise_chromosomes(table.chrom).astype(int))
    np.testing.assert_array_equal(table.pos[order], bim.pos)


def test_bolt_p_comes_from_the_six_digit_chisq_when_present(bim, tmp_path):
    """BOLT prints P with 2 digits (%.1E) and, with --verboseStats, χ² with 6: the presets take
    p = χ²(1) upper tail of CHISQ_BOLT_LMM_INF / CHISQ_BOLT_LMM, and P without them."""
    for preset, stat in (("bolt", "BOLT_LMM_INF"), ("bolt_mixture", "BOLT_LMM")):
        matched = _read_match("tiny.bolt.stats", preset, bim)
        chisq = np.array(_raw_column("tiny.bolt.stats", f"CHISQ_{stat}"), dtype=float)
        printed = np.array(_raw_column("tiny.bolt.stats", f"P_{stat}"), dtype=float)
        np.testing.assert_allclose(matched.columns["p_wald"], chdtrc(1, chisq), rtol=1e-12)
        np.testing.assert_allclose(matched.columns["p_wald"], printed, rtol=0.06)
        assert not np.array_equal(matched.columns["p_wald"], printed)

    def drop_chisq(lines: list[str]) -> list[str]:
        keep = [k for k, name in enumerate(lines[0].split("\t")) if not name.startswith("CHISQ")]
        return ["\t".join(line.split("\t")[k] for k in keep) for line in lines]

    without = _copy_with(tmp_path, "tiny.bolt.stats", drop_chisq)
    plain = formats.match_table(formats.read_table(without, "bolt"), bim)
    np.testing.assert_array_equal(
        plain.columns["p_wald"], np.array(_raw_column("tiny.bolt.stats", "P_BOLT_LMM_INF"),
                                          dtype=float))


def test_extra_columns_are_read_when_present(bim):
    table = formats.read_table(DATA / "tiny.gemma.assoc.txt", "gemma")
    assert set(table.extra) == {"n_miss", "logl_H1", "l_remle", "l_mle"}
    np.testing.assert_array_equal(table.extra["l_remle"],
                                  np.array(_raw_column("tiny.gemma.assoc.txt", "l_remle"), float))


# ---------------------------------------------------------------------- hand-written formats

HAND_WRITTEN = [
    # file, preset, our mode, statistic, its printed precision (relative), expected counts
    # (by_id, by_position, flipped, allele_mismatch, complement_strand, ours_unmatched,
    # theirs_unused), TOOL_FAILED SNPs
    ("tiny.regenie.gz", "regenie", "fixed", "p_score", 2e-5, (57, 1, 5, 1, 1, 2, 2), ["snp17"]),
    ("tiny.saige.txt", "saige", "fixed", "p_score", 2e-5, (59, 1, 0, 0, 0, 0, 0), []),
    ("tiny.fastGWA", "fastgwa", "fixed", "p_score", 2e-5, (60, 0, 0, 0, 0, 0, 0), []),
    ("tiny.mlma", "gcta_mlma", "fixed", "p_wald", 2e-5, (60, 0, 0, 0, 0, 0, 0), ["snp5"]),
    ("tiny.loco.mlma", "gcta_mlma", "loco", "p_wald", 2e-5, (60, 0, 0, 0, 0, 0, 0), ["snp5"]),
    ("tiny.quickdraws.sumstats.gz", "quickdraws", "loco", "p_wald", 1e-6,  # from CHISQ %.8f
     (60, 0, 60, 0, 0, 0, 0), []),
]


@pytest.mark.parametrize(("name", "preset", "mode", "stat", "rtol", "counts", "failed"),
                         HAND_WRITTEN)
def test_hand_written_table_in_documented_layout_gives_back_our_scan(
        name, preset, mode, stat, rtol, counts, failed, ours, bim):
    """Hand-written from the documented format (see the module docstring): reading it back
    through the preset must give our numbers, in our allele orientation."""
    matched = _read_match(name, preset, bim)
    got = matched.counts
    assert (got.by_id, got.by_position, got.flipped, got.allele_mismatch,
            got.complement_strand, got.ours_unmatched, got.theirs_unused) == counts
    cols, reference = matched.columns, ours[mode]
    tested = cols["errcode"] == "."
    np.testing.assert_allclose(cols["beta"][tested], reference["beta"][tested], rtol=1e-5)
    np.testing.assert_allclose(cols["se"][tested], reference["se"][tested], rtol=1e-5)
    np.testing.assert_allclose(cols[stat][tested], reference[stat][tested], rtol=rtol)
    if not np.isnan(cols["af"]).all():
        np.testing.assert_allclose(cols["af"][tested], reference["af"][tested], atol=2e-6)
    assert sorted(cols["snp"][cols["errcode"] == "TOOL_FAILED"]) == failed


def test_regenie_reports_each_oddity_at_its_snp(bim):
    matched = _read_match("tiny.regenie.gz", "regenie", bim)
    errcode = dict(zip(matched.columns["snp"], matched.columns["errcode"], strict=True))
    assert errcode["snp23"] == "NOT_REPORTED"  # not in the table
    assert errcode["snp13"] == "NOT_REPORTED"  # alleles on the other strand
    assert errcode["snp7"] == "."  # renamed, found by chromosome:position:alleles
    flipped = set(matched.columns["snp"][matched.flipped])
    assert flipped == {"snp3", "snp8", "snp19", "snp33", "snp50"}


# ----------------------------------------------------------------------------- column maps


def test_column_map_reads_like_the_preset_it_spells_out(bim):
    spec = {"columns": {"snp": "rs", "chrom": "chr", "pos": "ps", "effect_allele": "allele1",
                        "other_allele": "allele0", "beta": "beta", "se": "se",
                        "p_wald": "p_wald", "p_lrt": "p_lrt", "p_score": "p_score", "af": "af"},
            "missing": ["NA", "nan"]}
    by_map = _read_match("tiny.gemma.assoc.txt", spec, bim)
    by_preset = _read_match("tiny.gemma.assoc.txt", "gemma", bim)
    for name in ASSOC_COLUMNS:
        np.testing.assert_array_equal(by_map.columns[name], by_preset.columns[name])


def test_column_map_log10p_converts_like_the_regenie_preset(bim):
    spec = {"columns": {"snp": "ID", "chrom": "CHROM", "pos": "GENPOS", "effect_allele":
                        "ALLELE1", "other_allele": "ALLELE0", "beta": "BETA", "se": "SE",
                        "p_score": "LOG10P", "test": "TEST"},
            "log10p": True, "delimiter": "whitespace"}
    by_map = _read_match("tiny.regenie.gz", spec, bim)
    by_preset = _read_match("tiny.regenie.gz", "regenie", bim)
    np.testing.assert_array_equal(by_map.columns["p_score"], by_preset.columns["p_score"])
    np.testing.assert_array_equal(by_map.columns["beta"], by_preset.columns["beta"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"columns": {"chrom": "CHR", "p_wald": "P", "effect_allele": "A1"}}, "columns.snp"),
        ({"columns": {"snp": "SNP", "effect_allele": "A1"}}, "at least one p-value"),
        ({"columns": {"snp": "SNP", "p_wald": "P"}}, "effect_allele or bim_effect"),
        ({"columns": {"snp": "SNP", "p_wald": "P", "effect_allele": "A1"}, "bim_effect": "a1"},
         "not both"),
        ({"columns": {"snp": "SNP", "p_wald": "P", "bim_effect": "a1"}}, "unknown column key"),
        ({"columns": {"snp": "SNP", "p_wald": "P"}, "bim_effect": "a3"}, "a1 or a2"),
        ({"columns": {"snp": "SNP", "p_wald": "P", "effect_allele": "A1"}, "log10p": "yes"},
         "true or false"),
        ({"columns": {"snp": "SNP", "p_wald": "P", "effect_allele": "A1"}, "sep": "tab"},
         "unknown key"),
        ({"columns": {"snp": "SNP", "p_wald": "P", "effect_allele": "A1"}, "delimiter": ";"},
         "delimiter"),
        ({"columns": {"snp": "SNP", "p_wald": "P", "effect_allele": "A1", "se": "SE"}},
         "needs columns.beta"),
        ({"columns": {"snp": "SNP", "p_wald": "", "effect_allele": "A1"}}, "column name"),
        ("plink3", "unknown format preset"),
        ("emmax", "names no allele"),
        ({"preset": "gemma", "bim_effect": "a1"}, "names its effect allele"),
        ({"preset": "fastlmm", "bim_effect": "a1", "delimiter": "tab"}, "takes only"),
    ],
)
def test_bad_format_specs_are_one_line_errors_naming_where(spec, message):
    where = "datasets.x.results.y.format"
    with pytest.raises(InputError, match=message) as err:
        formats.resolve(spec, where=where)
    assert str(err.value).startswith(where) and "\n" not in str(err.value)


# ------------------------------------------------------------------------------ bad tables


def _copy_with(tmp_path: Path, source: str, edit) -> Path:
    lines = (DATA / source).read_text().splitlines()
    path = tmp_path / source
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: [], "empty"),
        (lambda lines: lines[:1], "no data rows"),
        (lambda lines: [lines[0].replace("allele1", "alleleX"), *lines[1:]],
         r"no effect allele column \(allele1\)"),
        (lambda lines: [lines[0].replace("p_wald", "pw").replace("p_lrt", "pl")
                        .replace("p_score", "ps"), *lines[1:]], "no p-value column"),
        (lambda lines: [*lines[:5], lines[5].replace("\t0.", "\tabc", 1), *lines[6:]],
         r"line 6, column af: 'abc\d*' is not a number"),
        (lambda lines: [*lines, lines[3]], r"'snp2' appears more than once \(lines 4 and 62\)"),
        (lambda lines: [lines[0], *lines[1:3], "\t".join([*lines[3].split("\t")[:-1], "1.5"])],
         "line 4, column p_score: 1.5 is not a p-value"),
        (lambda lines: [lines[0], *lines[1:3], lines[3] + "\textra"], "cannot parse"),
        # one more field on the first data line: pandas would take column 1 as an index
        (lambda lines: [lines[0], lines[1] + "\textra", *lines[2:]], "cannot parse"),
    ],
)
def test_bad_table_is_a_one_line_error_naming_the_file(tmp_path, edit, message):
    path = _copy_with(tmp_path, "tiny.gemma.assoc.txt", edit)
    with pytest.raises(InputError, match=message) as err:
        formats.read_table(path, "gemma")
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_missing_file_and_bad_gzip_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        formats.read_table(tmp_path / "absent.regenie", "regenie")
    broken = tmp_path / "broken.regenie.gz"
    broken.write_bytes((DATA / "tiny.regenie.gz").read_bytes()[:200])
    with pytest.raises(InputError, match="cannot parse") as err:
        formats.read_table(broken, "regenie")
    assert "\n" not in str(err.value)


def test_gzip_is_recognised_by_content_not_name(tmp_path, bim):
    plain = tmp_path / "table.txt"
    with gzip.open(DATA / "tiny.regenie.gz", "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    renamed = tmp_path / "table_without_suffix"
    shutil.copy(DATA / "tiny.regenie.gz", renamed)
    a = formats.match_table(formats.read_table(plain, "regenie"), bim)
    b = formats.match_table(formats.read_table(renamed, "regenie"), bim)
    np.testing.assert_array_equal(a.columns["p_score"], b.columns["p_score"])


def test_emmax_preset_without_bim_effect_refuses_to_read():
    with pytest.raises(InputError, match="names no allele"):
        formats.read_table(DATA / "tiny.emmax.ps", "emmax")


@pytest.mark.parametrize("line", [0, 3])
def test_emmax_line_with_another_layout_is_an_error(tmp_path, line):
    path = _copy_with(tmp_path, "tiny.emmax.ps", lambda lines: [
        *lines[:line], lines[line] + "\t0.1", *lines[line + 1:]])
    fmt = formats.resolve({"preset": "emmax", "bim_effect": "a1"})
    with pytest.raises(InputError, match=r"cannot parse|expected 3 columns"):
        formats.read_table(path, fmt)


def test_numbers_are_read_to_the_last_digit(tmp_path):
    """17 significant digits round-trip (pandas' default C conversion misses about a third)."""
    values = np.random.default_rng(1).standard_normal(2000) * 1e-3
    path = tmp_path / "exact.ps"
    path.write_text("".join(f"rs{j}\t{v!r}\t0.5\n" for j, v in enumerate(values)))
    table = formats.read_table(path, formats.resolve({"preset": "emmax", "bim_effect": "a1"}))
    np.testing.assert_array_equal(table.beta, values)


def test_table_matching_none_of_our_snps_is_an_error(tmp_path, bim):
    path = _copy_with(tmp_path, "tiny.gemma.assoc.txt", lambda lines: [lines[0], *[
        "\t".join(["9", f"other{j}", str(7 + j), *line.split("\t")[3:]])
        for j, line in enumerate(lines[1:])]])
    table = formats.read_table(path, "gemma")
    with pytest.raises(InputError, match="none of the 60 rows matches") as err:
        formats.match_table(table, bim, label="tiny.bim")
    assert str(err.value).startswith(str(path))


def test_nan_spellings_are_missing_in_every_format(tmp_path, bim):
    path = _copy_with(tmp_path, "tiny.mlma", lambda lines: [
        lines[0], *[line.replace("\tNA", "\t-nan") for line in lines[1:]]])
    matched = formats.match_table(formats.read_table(path, "gcta_mlma"), bim)
    assert list(matched.columns["snp"][matched.columns["errcode"] == "TOOL_FAILED"]) == ["snp5"]


# ------------------------------------------------------------------------ the matcher alone


class _Snps:
    def __init__(self, chrom, snp, pos, a1, a2):
        self.chrom, self.snp = np.array(chrom), np.array(snp)
        self.pos, self.a1, self.a2 = np.array(pos), np.array(a1), np.array(a2)


def _table(tmp_path: Path, rows: list[str], header: str = "CHR\tSNP\tPOS\tA1\tA2\tN\tAF1"
           "\tBETA\tSE\tP") -> formats.ResultTable:
    path = tmp_path / "t.fastGWA"
    path.write_text("\n".join([header, *rows]) + "\n")
    return formats.read_table(path, "fastgwa")


def test_a_flipped_row_mirrors_beta_and_frequency_but_not_se_or_p(tmp_path):
    snps = _Snps(["1", "1"], ["r1", "r2"], [10, 20], ["A", "C"], ["G", "T"])
    table = _table(tmp_path, ["1\tr1\t10\tA\tG\t9\t0.2\t0.5\t0.1\t0.01",
                              "1\tr2\t20\tT\tC\t9\t0.3\t0.5\t0.1\t0.02"])
    cols = formats.match_table(table, snps).columns
    np.testing.assert_array_equal(cols["beta"], [0.5, -0.5])
    np.testing.assert_allclose(cols["af"], [0.2, 0.7])
    np.testing.assert_array_equal(cols["se"], [0.1, 0.1])
    np.testing.assert_array_equal(cols["p_score"], [0.01, 0.02])


def test_position_pairs_need_a_key_unique_on_both_sides(tmp_path):
    """Two of our SNPs at one position with the same alleles cannot be told apart: neither is
    paired; a third, unique one is."""
    snps = _Snps(["1", "1", "2"], ["a", "b", "c"], [10, 10, 5], ["A", "A", "C"],
                 ["G", "G", "T"])
    table = _table(tmp_path, ["chr1\tx\t10\tG\tA\t9\t0.2\t0.5\t0.1\t0.01",
                              "chr2\ty\t5\tT\tC\t9\t0.3\t0.4\t0.1\t0.02"])
    matched = formats.match_table(table, snps)
    assert list(matched.partner) == [-1, -1, 1]
    assert matched.counts.by_position == 1 and matched.counts.flipped == 1
    np.testing.assert_array_equal(matched.columns["errcode"], ["NOT_REPORTED"] * 2 + ["."])


def test_dot_ids_are_matched_by_position_only(tmp_path):
    snps = _Snps(["1", "1"], [".", "r2"], [10, 20], ["A", "C"], ["G", "T"])
    table = _table(tmp_path, [".\t.\t10\tA\tG\t9\t0.2\t0.5\t0.1\t0.01".replace(".\t.", "1\t.", 1),
                              "1\t.\t20\tC\tT\t9\t0.3\t0.5\t0.1\t0.02"])
    matched = formats.match_table(table, snps)
    assert matched.counts.by_id == 0 and matched.counts.by_position == 2


def test_strand_counts(tmp_path):
    snps = _Snps(["1"] * 3, ["r1", "r2", "r3"], [1, 2, 3], ["A", "C", "A"], ["T", "T", "G"])
    table = _table(tmp_path, ["1\tr1\t1\tA\tT\t9\t0.2\t0.5\t0.1\t0.01",  # A/T: ambiguous
                              "1\tr2\t2\tG\tA\t9\t0.2\t0.5\t0.1\t0.01",  # C/T on the - strand
                              "1\tr3\t3\tA\tC\t9\t0.2\t0.5\t0.1\t0.01"])  # another variant
    counts = formats.match_table(table, snps).counts
    assert (counts.strand_ambiguous, counts.allele_mismatch, counts.complement_strand) == (1, 2, 1)


def test_snp_index_selects_and_orders_our_snps(tmp_path):
    snps = _Snps(["1"] * 3, ["r1", "r2", "r3"], [1, 2, 3], ["A"] * 3, ["G"] * 3)
    table = _table(tmp_path, [f"1\tr{j}\t{j}\tA\tG\t9\t0.2\t{j}\t0.1\t0.01" for j in (1, 2, 3)])
    matched = formats.match_table(table, snps, snp_index=np.array([2, 0]))
    np.testing.assert_array_equal(matched.columns["snp"], ["r3", "r1"])
    np.testing.assert_array_equal(matched.columns["beta"], [3.0, 1.0])
    assert matched.counts.theirs_unused == 1


def test_plink2_errcodes_map_to_ours(tmp_path):
    header = "#CHROM\tPOS\tID\tREF\tALT\tA1\tTEST\tOBS_CT\tBETA\tSE\tT_STAT\tP\tERRCODE"
    rows = ["1\t1\tr1\tG\tA\tA\tADD\t9\tNA\tNA\tNA\tNA\tCONST_ALLELE",
            "1\t2\tr2\tG\tA\tA\tADD\t9\tNA\tNA\tNA\tNA\tVIF_INFINITE",
            "1\t3\tr3\tG\tA\tA\tADD\t9\tNA\tNA\tNA\tNA\tUNFINISHED",
            "1\t4\tr4\tG\tA\tA\tADD\t9\t0.2\t0.1\t2\t0.05\t.",
            "1\t4\tr4\tG\tA\tA\tCOV1\t9\t0.9\t0.1\t9\t0.0001\t."]
    path = tmp_path / "x.glm.linear"
    path.write_text("\n".join([header, *rows]) + "\n")
    snps = _Snps(["1"] * 4, ["r1", "r2", "r3", "r4"], [1, 2, 3, 4], ["A"] * 4, ["G"] * 4)
    matched = formats.match_table(formats.read_table(path, "plink2"), snps)
    np.testing.assert_array_equal(matched.columns["errcode"],
                                  ["MONOMORPHIC", "COLLINEAR", "TOOL_FAILED", "."])
    assert matched.columns["beta"][3] == 0.2  # the ADD row, not the covariate's


def test_normalise_chromosomes():
    codes = np.array(["chr1", "01", "1.0", "X", "chrX", "23", "MT", "chrM", "Un_gl000", "22"])
    np.testing.assert_array_equal(
        formats.normalise_chromosomes(codes),
        ["1", "1", "1", "23", "23", "23", "26", "26", "Un_gl000", "22"])
