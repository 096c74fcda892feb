"""PLINK 2 (``plink2 --glm``) runner: its β, se and p against an independent numpy OLS.

A small random fileset (2% missing calls, one constant SNP, one SNP with a negative ``.bim``
position, one SNP called in 4 samples only) with three covariates, one of them on the scale
of a year of birth (PLINK 2 refuses it unstandardized).  PLINK 2 regresses y on
[1, covariates, a1 dosage] over the samples with a call (complete cases), so the reference is
numpy ``lstsq`` on the complete cases with the raw covariates, and a two-sided t test with
OBS_CT − (k + 2) degrees of freedom.  PLINK 2 prints 6 significant digits.  Each run takes
well under a second; the tests skip when ``plink2`` is not installed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from bed_reader import open_bed, to_bed
from scipy import stats

from exactlmm.io.results import read_assoc_tsv, read_null_json
from lmmcompare import registry
from lmmcompare.runners import RunRequest, ToolFailed, plink2
from lmmcompare.runners.tool_output import read_output
from lmmcompare.runs import Run, execute

pytestmark = pytest.mark.skipif(not registry.get("plink2").installed(),
                                reason=str(registry.get("plink2").unavailable()))

N, M = 150, 40
NEGATIVE_POS = 5  # .bim position -9: PLINK 2 would drop it
SPARSE = 8  # called in 4 samples: fewer than PLINK 2's 5 predictors + 1
RTOL = 1e-5  # 6 significant digits


@pytest.fixture
def toy(tmp_path, make_plink) -> dict:
    prefix = make_plink(tmp_path, n=N, m=M, seed=11, chroms=2, n_monomorphic=1)
    with open_bed(prefix.with_suffix(".bed")) as bed:
        G = bed.read(dtype="float64")  # copies of .bim column 5
        properties = bed.properties
    assert not {NEGATIVE_POS, SPARSE, 20} & {j for j in range(M) if np.nanstd(G[:, j]) == 0}
    G[:, SPARSE] = np.nan
    G[[0, 1, 2, 3], SPARSE] = [0.0, 1.0, 2.0, 1.0]
    properties["bp_position"][NEGATIVE_POS] = -9
    to_bed(prefix.with_suffix(".bed"), G, properties=properties, count_A1=True)

    rng = np.random.default_rng(5)
    year = np.round(1950 + 40 * rng.random(N), 3)
    binary = (rng.random(N) < 0.4).astype(float)
    z = np.round(rng.standard_normal(N), 6)
    causal = np.where(np.isnan(G[:, 20]), np.nanmean(G[:, 20]), G[:, 20])
    y = np.round(0.6 * causal + 0.03 * year + 0.5 * binary + rng.standard_normal(N), 6)
    y_text = [repr(float(v)) for v in y]
    for i in (4, 30, 77):
        y_text[i] = "NA"
    covar_rows = [[repr(float(year[i])), repr(float(binary[i])), repr(float(z[i]))]
                  for i in range(N)]
    covar_rows[9][2] = "NA"
    (tmp_path / "pheno.txt").write_text(
        "FID IID trait\n" + "".join(f"fam{i} ind{i} {y_text[i]}\n" for i in range(N))
    )
    (tmp_path / "covar.txt").write_text(
        "FID IID year binary z\n"
        + "".join(f"fam{i} ind{i} {' '.join(covar_rows[i])}\n" for i in range(N))
    )
    np.savetxt(tmp_path / "kinship.txt", np.eye(N))
    (tmp_path / "snps.txt").write_text("".join(f"rs{j}\n" for j in range(M)))
    analysed = np.ones(N, dtype=bool)
    analysed[[4, 30, 77, 9]] = False
    return {
        "request": RunRequest(
            bfile=str(prefix), pheno=str(tmp_path / "pheno.txt"), mpheno=1,
            covar=str(tmp_path / "covar.txt"), kinship=str(tmp_path / "kinship.txt"),
            extract=str(tmp_path / "snps.txt"),
        ),
        "G": G[analysed],
        "y": y[analysed],
        "X": np.column_stack([np.ones(N), year, binary, z])[analysed],
        "dir": tmp_path,
    }


def _ols(G: np.ndarray, y: np.ndarray, X: np.ndarray, j: int) -> tuple[float, float, float, int]:
    """β, se, two-sided t-test p of SNP j on the samples with a call; and that count."""
    called = ~np.isnan(G[:, j])
    A = np.column_stack([X[called], G[called, j]])
    coef, *_ = np.linalg.lstsq(A, y[called], rcond=None)
    df = int(called.sum()) - A.shape[1]
    sigma2 = float(np.sum((y[called] - A @ coef) ** 2)) / df
    se = float(np.sqrt(sigma2 * np.linalg.inv(A.T @ A)[-1, -1]))
    p = float(2 * stats.t.sf(abs(coef[-1] / se), df))
    return float(coef[-1]), se, p, int(called.sum())


def _check_against_ols(table: dict, G: np.ndarray, y: np.ndarray, X: np.ndarray) -> int:
    checked = 0
    for j in np.flatnonzero(table["errcode"] == "."):
        beta, se, p, n_called = _ols(G, y, X, j)
        assert table["n"][j] == n_called
        assert table["beta"][j] == pytest.approx(beta, rel=RTOL, abs=1e-9)
        assert table["se"][j] == pytest.approx(se, rel=RTOL)
        assert table["p_wald"][j] == pytest.approx(p, rel=RTOL)
        checked += 1
    return checked


def test_beta_se_p_are_complete_case_ols_with_the_intercept_added(toy):
    out = toy["dir"] / "plink2"
    plink2.run(replace(toy["request"], keep_raw=str(toy["dir"] / "raw")), "none", out)
    table = read_assoc_tsv(f"{out}.assoc.tsv")
    null = read_null_json(f"{out}.null.json")
    G, y, X = toy["G"], toy["y"], toy["X"]
    assert table["snp"].tolist() == [f"rs{j}" for j in range(M)]
    # Complete cases (missing calls dropped), not mean imputation: the two differ here.
    assert np.isnan(G).sum() > 50
    assert _check_against_ols(table, G, y, X) == M - 2
    # The SNP with a negative .bim position is tested (PLINK 2 would silently drop it).
    assert table["errcode"][NEGATIVE_POS] == "." and table["pos"][NEGATIVE_POS] == -9
    # Constant SNP: not given to PLINK 2; the sparse SNP: PLINK 2's SAMPLE_CT<=PREDICTOR_CT.
    constant = [j for j in range(M) if np.ptp(G[~np.isnan(G[:, j]), j]) == 0]
    assert len(constant) == 1 and table["errcode"][constant[0]] == "MONOMORPHIC"
    assert table["errcode"][SPARSE] == "TOOL_FAILED" and table["n"][SPARSE] == 4
    assert np.isnan(table["p_wald"][SPARSE]) and np.isnan(table["beta"][SPARSE])
    assert null["native"]["errcodes"] == {".": M - 2, "SAMPLE_CT<=PREDICTOR_CT": 1}
    # a1 = .bim column 5 is the counted allele; af over called samples.
    assert np.allclose(table["af"], np.nanmean(G, axis=0) / 2, rtol=1e-9)
    raw = read_output(toy["dir"] / "raw" / plink2.GLM_FILE, plink2.FORMAT, "PLINK 2")
    assert np.array_equal(raw.effect_allele, table["a1"][np.isin(table["snp"], raw.snp)])
    # The null record: γ = 0 by construction, no δ, no likelihood.
    assert null["gamma"] == 0.0 and null["delta"] is None and null["loglik"] is None
    assert np.all(np.isnan(table["delta"]))
    assert null["n_samples"] == y.size and null["covariates"] == ["intercept", "year", "binary",
                                                                  "z"]
    assert null["native"]["n_covariates"] == 3 and not null["native"]["phenotype_centered"]
    assert null["native"]["model"] == "linear"
    command = null["provenance"]["parameters"]["command"]
    assert "--covar-variance-standardize" in command and "omit-ref" in command
    assert "--threads" not in command and not any(str(toy["dir"]) in c for c in command)


def _logistic(G: np.ndarray, y: np.ndarray, j: int) -> tuple[float, float, float]:
    """β (log odds ratio), se and Wald p of SNP j in a logistic regression on [1, dosage] over
    the samples with a call, by Newton–Raphson (an independent maximum-likelihood fit)."""
    called = ~np.isnan(G[:, j])
    A = np.column_stack([np.ones(int(called.sum())), G[called, j]])
    coef = np.zeros(2)
    for _ in range(50):
        mu = 1.0 / (1.0 + np.exp(-A @ coef))
        info = A.T @ (A * (mu * (1 - mu))[:, None])
        step = np.linalg.solve(info, A.T @ (y[called] - mu))
        coef += step
        if np.max(np.abs(step)) < 1e-12:
            break
    mu = 1.0 / (1.0 + np.exp(-A @ coef))
    se = float(np.sqrt(np.linalg.inv(A.T @ (A * (mu * (1 - mu))[:, None]))[1, 1]))
    return float(coef[1]), se, float(2 * stats.norm.sf(abs(coef[1]) / se))


def test_a_case_control_phenotype_gets_logistic_regression_with_firth_fallback(toy, tmp_path):
    """A phenotype of two values (0/1 here; PLINK 2 would call it case/control) is analysed as
    PLINK 2 analyses one: logistic regression, Firth's where it does not converge."""
    analysed = np.ones(N, dtype=bool)
    analysed[[4, 30, 77]] = False  # no covariate file: sample 9 is analysed
    pheno = tmp_path / "binary.txt"
    full = np.full(N, "NA", dtype=object)
    G_all = open_bed(f"{toy['request'].bfile}.bed").read(dtype="float64")
    rng = np.random.default_rng(2)
    values = rng.integers(0, 2, size=N).astype(float)
    full[analysed] = [repr(float(v)) for v in values[analysed]]
    pheno.write_text("".join(f"fam{i} ind{i} {full[i]}\n" for i in range(N)))
    request = RunRequest(**{**toy["request"].as_dict(), "pheno": str(pheno), "covar": None,
                            "keep_raw": str(tmp_path / "raw")})
    out = tmp_path / "binary"
    plink2.run(request, "none", out)
    table = read_assoc_tsv(f"{out}.assoc.tsv")
    null = read_null_json(f"{out}.null.json")
    native = null["native"]
    assert native["model"] == "logistic, Firth fallback" and not native["phenotype_centered"]
    assert native["n_cases"] + native["n_controls"] == analysed.sum()
    assert native["n_cases"] == values[analysed].sum()
    command = null["provenance"]["parameters"]["command"]
    assert "firth-fallback" in command and "allow-no-covars" in command
    G, y = G_all[analysed], values[analysed]
    checked = 0
    for j in np.flatnonzero(table["errcode"] == "."):
        called = ~np.isnan(G[:, j])
        if called.sum() < 20:  # the sparse SNP: separation, Firth's fit
            continue
        beta, se, p = _logistic(G, y, j)
        assert table["n"][j] == called.sum()
        # PLINK 2 fits in single precision and prints 6 digits
        assert table["beta"][j] == pytest.approx(beta, rel=1e-3, abs=1e-4)
        assert table["se"][j] == pytest.approx(se, rel=1e-3)
        assert table["p_wald"][j] == pytest.approx(p, rel=2e-3, abs=1e-6)
        checked += 1
    assert checked == M - 2
    raw = (tmp_path / "raw" / plink2.LOGISTIC_FILE).read_text().splitlines()
    firth = {line.split("\t")[2] for line in raw[1:] if line.split("\t")[7] == "Y"}
    assert raw[0].split("\t")[7] == "FIRTH?" and firth == {f"rs{SPARSE}"}


def test_a_flipped_allele_is_a_failure(toy, monkeypatch):
    """Without ``omit-ref`` PLINK 2 counts the minor allele: where a1 is the major one its A1
    is .bim column 6 and the run must fail, not report β with the wrong sign."""
    assert np.any(np.nanmean(toy["G"], axis=0) / 2 > 0.5)  # some a1 is the major allele
    original = plink2.write_input_set

    def without_omit_ref(*args, **kwargs):
        options, centered = original(*args, **kwargs)
        return [o for o in options if o != "omit-ref"], centered

    monkeypatch.setattr(plink2, "write_input_set", without_omit_ref)
    with pytest.raises(ToolFailed, match="allele coding"):
        plink2.run(toy["request"], "none", toy["dir"] / "flipped")
    assert not list(toy["dir"].glob("flipped.*"))


def test_a_sample_plink_does_not_analyse_is_a_failure(toy, monkeypatch):
    def one_missing(y):
        y = np.array(y, dtype=float)
        y[0] = np.nan  # written 'nan': PLINK 2 reads it as missing
        return y, False

    monkeypatch.setattr(plink2, "phenotype_values", one_missing)
    with pytest.raises(ToolFailed, match=f"{toy['y'].size - 1} with a phenotype"):
        plink2.run(toy["request"], "none", toy["dir"] / "short")


def test_sex_chromosomes_are_skipped_with_the_reason(tmp_path, make_plink):
    prefix = make_plink(tmp_path, n=40, m=20, seed=3, chroms=["1", "X"])
    np.savetxt(tmp_path / "kinship.txt", np.eye(40))
    (tmp_path / "snps.txt").write_text("".join(f"rs{j}\n" for j in range(20)))
    request = RunRequest(bfile=str(prefix), pheno=None, mpheno=1, covar=None,
                         kinship=str(tmp_path / "kinship.txt"), extract=str(tmp_path / "snps.txt"))
    outcome = execute(Run("toy", "plink2", "none"), request, tmp_path / "x")
    assert not outcome.ok and "chromosome(s) X" in outcome.reason
