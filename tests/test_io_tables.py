"""Tests for exactlmm.io.tables: PLINK-style phenotype/covariate tables and sample matching."""

from __future__ import annotations

import numpy as np
import pytest

from exactlmm.errors import InputError
from exactlmm.io.plink import open_plink
from exactlmm.io.tables import (
    match_samples,
    phenotype_from_fam,
    read_covar,
    read_pheno,
    read_table,
)


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_header_names_and_missing_codes(tmp_path):
    path = write(
        tmp_path / "p.txt",
        ["fid IID height weight", "f1 i1 1.5 NA", "f2\ti2  -9 2e3", "f3 i3 . nan", "",
         "f4 i4 -9.5 7"],
    )
    table = read_table(path, "pheno")
    assert table.names == ["height", "weight"]
    np.testing.assert_array_equal(table.fid, ["f1", "f2", "f3", "f4"])
    np.testing.assert_array_equal(table.iid, ["i1", "i2", "i3", "i4"])
    expected = [[1.5, np.nan], [np.nan, 2000.0], [np.nan, np.nan], [-9.5, 7.0]]
    np.testing.assert_array_equal(table.values, expected)


def test_default_names_without_header(tmp_path):
    assert read_table(write(tmp_path / "h.txt", ["#FID IID x", "a b 1"]), "covar").names == ["x"]
    path = write(tmp_path / "c.txt", ["a b 1 2 3", "c d 4 5 6"])
    table = read_covar(path)
    assert table.names == ["covar1", "covar2", "covar3"]
    assert table.values.shape == (2, 3)
    pheno = read_pheno(path, column=2)
    assert pheno.names == ["pheno2"]
    np.testing.assert_array_equal(pheno.values, [[2.0], [5.0]])


@pytest.mark.parametrize(
    ("lines", "pattern"),
    [
        (["f1 i1 1", "f2 i2 abc"], r"p\.txt: line 2, column 3: 'abc' is not a number"),
        (["FID IID y z", "f1 i1 1 2", "f2 i2 3 inf"], r"p\.txt: line 3, column 4: 'inf' is not a"),
        (["f1 i1 1", "f2 i2 1 2"], r"p\.txt: line 2: 4 fields, but line 1 has 3"),
        (["f1 i1 1", "f2 i2 2", "f1 i1 3"], r"p\.txt: line 3: sample FID=f1 IID=i1 appears again"),
        ([], r"p\.txt: the pheno file is empty"),
        (["FID IID y"], r"p\.txt: the pheno file has a header but no samples"),
        (["f1 i1", "f2 i2"], r"p\.txt: line 1: 2 fields"),
    ],
)
def test_table_errors_name_file_and_line(tmp_path, lines, pattern):
    path = write(tmp_path / "p.txt", lines)
    with pytest.raises(InputError, match=pattern):
        read_table(path, "pheno")


def test_pheno_column_out_of_range(tmp_path):
    path = write(tmp_path / "p.txt", ["f1 i1 1 2", "f2 i2 3 4"])
    with pytest.raises(InputError, match=r"p\.txt: phenotype column 3 asked for, but .* 2 value"):
        read_pheno(path, column=3)
    with pytest.raises(InputError, match="not found"):
        read_pheno(tmp_path / "absent.txt")


def test_phenotype_from_fam_extra_columns(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=5, m=4)
    fam = tmp_path / "data.fam"
    rows = [line.split()[:5] for line in fam.read_text().splitlines()]
    extra = [
        ["1.5", "NA", "-9"], ["2", "3", "4"], ["-9", "0.5", "x"], ["4", "5", "6"], ["5", "6", "7"]
    ]
    write(fam, ["\t".join(r + e) for r, e in zip(rows, extra, strict=True)])
    ds = open_plink(prefix)
    p1 = phenotype_from_fam(ds, 1)
    np.testing.assert_array_equal(p1.values[:, 0], [1.5, 2, np.nan, 4, 5])
    assert p1.names == ["fam_pheno1"] and p1.path == fam
    np.testing.assert_array_equal(phenotype_from_fam(ds, 2).values[:, 0], [np.nan, 3, 0.5, 5, 6])
    with pytest.raises(InputError, match=r"data\.fam: line 3, column 8: phenotype 'x'"):
        phenotype_from_fam(ds, 3)
    with pytest.raises(InputError, match=r"data\.fam: phenotype column 4 .* 3 phenotype columns"):
        phenotype_from_fam(ds, 4)


def test_match_samples_keeps_fam_order_and_drops_missing(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=10, m=4))
    # Phenotype file in another order, one sample unknown to the .fam, two .fam samples absent.
    order = [5, 0, 3, 7, 1, 6, 9, 8]
    y = {0: 1.0, 1: "NA", 3: 3.0, 5: 5.0, 6: 6.0, 7: 7.0, 8: 8.0, 9: 9.5}
    lines = ["FID IID y"] + [f"fam{i} ind{i} {y[i]}" for i in order] + ["famZ indZ 9"]
    pheno = read_pheno(write(tmp_path / "pheno.txt", lines))
    covar_lines = [f"fam{i} ind{i} {10 * i} {'-9' if i == 6 else i % 4}"
                   for i in range(10) if i != 7]
    covar = read_covar(write(tmp_path / "covar.txt", covar_lines))
    with pytest.warns(UserWarning, match=r"pheno\.txt: 1 of its 9 phenotype samples are not in"):
        match = match_samples(ds, pheno, covar)
    np.testing.assert_array_equal(match.fam_index, [0, 3, 5, 8, 9])
    np.testing.assert_array_equal(match.y, [1.0, 3.0, 5.0, 8.0, 9.5])
    np.testing.assert_array_equal(match.covariates, [[0, 0], [30, 3], [50, 1], [80, 0], [90, 1]])
    assert match.n_dropped_missing == 3  # 1: NA phenotype, 6: -9 covariate, 7: not in covar
    assert match.n_missing_covariate == 2  # 6 and 7
    assert match.n_fam_without_pheno == 2  # 2 and 4
    assert match.n_pheno_not_in_fam == 1
    assert match.pheno_name == "y" and match.covariate_names == ["covar1", "covar2"]
    with pytest.warns(UserWarning):
        plain = match_samples(ds, pheno)
    np.testing.assert_array_equal(plain.fam_index, [0, 3, 5, 6, 7, 8, 9])
    assert plain.covariates.shape == (7, 0)


def test_match_samples_errors(tmp_path, make_plink):
    ds = open_plink(make_plink(tmp_path, n=6, m=4))
    other = read_pheno(write(tmp_path / "pheno.txt", [f"x{i} y{i} {i}" for i in range(4)]))
    with pytest.raises(InputError, match=r"pheno\.txt: none of its 4 sample IDs .*data\.fam"):
        match_samples(ds, other)
    few = read_pheno(write(tmp_path / "few.txt", ["fam0 ind0 1", "fam1 ind1 NA", "fam2 ind2 2"]))
    with pytest.raises(InputError, match=r"few\.txt: only 2 samples .* at least 3"):
        match_samples(ds, few)
    flat = read_pheno(write(tmp_path / "flat.txt", [f"fam{i} ind{i} 4.5" for i in range(6)]))
    with pytest.raises(InputError, match=r"flat\.txt: phenotype 'pheno1' is constant"):
        match_samples(ds, flat)
    good = read_pheno(write(tmp_path / "good.txt", [f"fam{i} ind{i} {i}" for i in range(6)]))
    foreign_covar = read_covar(write(tmp_path / "cov.txt", ["a b 1", "c d 2"]))
    with pytest.raises(InputError, match=r"cov\.txt: none of its 2 sample IDs"):
        match_samples(ds, good, foreign_covar)


def test_hs1940_phenotype_count(hs1940):
    """GEMMA reports 1410 analysed individuals for HS1940 phenotype 1."""
    ds = open_plink(hs1940)
    match = match_samples(ds, phenotype_from_fam(ds, 1))
    assert match.y.size == 1410
    assert match.n_dropped_missing == 1940 - 1410


# ------------------------------------------------------------------ categorical covariates


def _categorical_match(tmp_path, make_plink, column: list[str], pheno: list[str] | None = None,
                       categorical: tuple[str, ...] = ()):
    """match_samples on an 8-sample fileset with the covariates age and ``column`` (batch)."""
    ds = open_plink(make_plink(tmp_path, n=8, m=4))
    pheno = pheno or ["1.5"] * 8
    pheno_path = write(tmp_path / "p.txt", ["FID IID y", *(
        f"fam{i} ind{i} {v}" for i, v in enumerate(pheno))])
    covar_path = write(tmp_path / "c.txt", ["FID IID age batch", *(
        f"fam{i} ind{i} {30 + i} {v}" for i, v in enumerate(column))])
    table = read_covar(covar_path, categorical=categorical)
    pheno_table = read_pheno(pheno_path)
    pheno_table.values[:, 0] += np.arange(8) ** 2  # not constant, not in the span of age
    return table, match_samples(ds, pheno_table, table)


def test_text_column_is_one_hot_with_the_most_frequent_level_as_reference(tmp_path, make_plink):
    """PLINK 2's coding (checked with plink2 2.00a3.5 on EUR_subset: the indicator is
    CAT_COV=A, B being the more frequent level, whichever comes first in the file)."""
    table, match = _categorical_match(
        tmp_path, make_plink, ["A", "B", "B", "C", "NA", "-9", "B", "A"])
    assert table.names == ["age", "batch"] and table.categorical == {"batch": ["A", "B", "C"]}
    np.testing.assert_array_equal(table.values[:, 1], [0, 1, 1, 2, np.nan, np.nan, 1, 0])
    np.testing.assert_array_equal(match.fam_index, [0, 1, 2, 3, 6, 7])  # NA and -9: missing
    assert match.covariate_names == ["age", "batch=A", "batch=C"]
    assert match.categorical_references == {"batch": "B"}
    np.testing.assert_array_equal(match.covariates, [
        [30, 1, 0], [31, 0, 0], [32, 0, 0], [33, 0, 1], [36, 0, 0], [37, 1, 0]])


def test_levels_count_over_the_analysed_samples_only(tmp_path, make_plink):
    """A level held only by samples without a phenotype gets no column (it would be all zero,
    collinear with nothing to estimate), and the reference is the most frequent level among
    the analysed samples, as PLINK 2 counts them."""
    column = ["x", "x", "y", "y", "y", "z", "y", "x"]
    pheno = ["1", "2", "NA", "NA", "NA", "NA", "3", "4"]
    _, match = _categorical_match(tmp_path, make_plink, column, pheno)
    np.testing.assert_array_equal(match.fam_index, [0, 1, 6, 7])
    assert match.categorical_references == {"batch": "x"}  # 3 x against 1 y analysed
    assert match.covariate_names == ["age", "batch=y"]  # z: only in unanalysed samples


def test_ties_take_the_first_level_in_natural_sort_order(tmp_path, make_plink):
    """Tied counts: the first level in natural order is the reference ("9" before "10", as
    PLINK 2's nsort); numbers are one level however they are written ("1" = "1.0"); a numeric
    column is categorical only when named."""
    column = ["10", "9", "10", "9", "1", "1.0", "1e1", "9"]
    table, numeric = _categorical_match(tmp_path, make_plink, column)
    assert table.categorical == {} and numeric.covariate_names == ["age", "batch"]
    table, match = _categorical_match(tmp_path, make_plink, column, categorical=("batch",))
    assert table.categorical == {"batch": ["1", "9", "10"]}
    assert match.categorical_references == {"batch": "9"}  # 9 and 10 three times each
    assert match.covariate_names == ["age", "batch=1", "batch=10"]
    with pytest.raises(InputError, match="categorical covariate 'pc2' is not a column"):
        read_covar(tmp_path / "c.txt", categorical=["pc2"])


def test_covariates_chosen_by_name_and_phenotype_beside_text(tmp_path):
    """BOLT-LMM's EUR_subset.pheno.covars layout: one file for phenotype and covariates."""
    path = write(tmp_path / "pc.txt", [
        "FID IID PHENO QCOV1 CAT_COV", "f1 i1 0.5 2 A", "f2 i2 NA 1 B", "f3 i3 -0.2 2 B",
    ])
    pheno = read_pheno(path, 1)
    assert pheno.names == ["PHENO"]
    np.testing.assert_array_equal(pheno.values[:, 0], [0.5, np.nan, -0.2])
    covar = read_covar(path, ["CAT_COV", "QCOV1"])
    assert covar.names == ["CAT_COV", "QCOV1"] and covar.categorical == {"CAT_COV": ["A", "B"]}
    np.testing.assert_array_equal(covar.values, [[0, 2], [1, 1], [1, 2]])
    with pytest.raises(InputError, match="'QCOV9' is not in the header"):
        read_covar(path, ["QCOV9"])
    with pytest.raises(InputError, match="'A' is not a number"):
        read_pheno(path, 3)
    headerless = write(tmp_path / "h.txt", ["f1 i1 1", "f2 i2 2"])
    with pytest.raises(InputError, match="need a header line"):
        read_covar(headerless, ["covar1"])
