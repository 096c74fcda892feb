"""EMMAX's runner: its inputs, its outputs and their conversion, and its agreement with ours.

The conventions of ``lmmcompare.runners.emmax`` (module docstring) are checked against
computations written here: the tped genotype coding read back the way EMMAX reads it, the se
recovered from EMMAX's two-sided t test, the GLS used by the runner's spot check against a
dense inverse, EMMAX's REML log-likelihood, vg, ve, REML0 and hg against ours and dense
algebra.  With each tool's own REML fit the runs agree to EMMAX's bisection resolution
(1e-4 on log δ, biased upwards); at EMMAX's δ (``exactlmm assoc --h2``) to printed digits.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from peer_helpers import CAUSAL, CAUSAL_BETA, neglog10, run_ours, toy_request

from exactlmm.errors import InputError
from exactlmm.io.results import read_assoc_tsv, read_null_json
from lmmcompare import params, registry
from lmmcompare.runners import RunRequest, ToolFailed, emmax
from lmmcompare.runners.tool_output import read_output
from lmmcompare.runs import Run, execute

needs_emmax = pytest.mark.skipif(not registry.get("emmax").installed(),
                                 reason=str(registry.get("emmax").unavailable()))

XACCU = 1e-4  # EMMAX's bisection tolerance on log δ (emmax.c)


# ----------------------------------------------------------------------------- no EMMAX needed


def _read_tped_as_emmax(text: str, n: int) -> tuple[list[list[str]], np.ndarray]:
    """Headers and dosages the way ``tokenize_line_with_col_headers`` reads a tped line:
    four header tokens, then pairs; "1" counts 0, "2" counts 1, "0 0" is missing."""
    headers, rows = [], []
    for line in text.splitlines():
        tokens = line.split()
        headers.append(tokens[:4])
        pairs = np.array(tokens[4:]).reshape(n, 2)
        assert np.array_equal(pairs[:, 0] == "0", pairs[:, 1] == "0")  # "0 0" or neither
        value = (pairs == "2").sum(axis=1).astype(np.float64)
        value[pairs[:, 0] == "0"] = np.nan
        rows.append(value)
    return headers, np.array(rows).T


def test_tped_lines_count_copies_of_a1_as_allele_2():
    rng = np.random.default_rng(1)
    n, m = 7, 5
    G = rng.integers(0, 3, size=(n, m)).astype(np.float64)
    G[rng.random((n, m)) < 0.2] = np.nan
    chrom = np.array(["1", "1", "12", "X", "MT"])
    snp = np.array(["rs1", "a_long_snp_id", "s", "rs4", "rs5"])
    pos = np.array([5, 10, 123456789, 1, 2])
    data = emmax.tped_lines(chrom, snp, pos, G)
    lines = data.decode().splitlines()
    assert len(lines) == m and len({len(line) for line in lines}) == 1  # fixed width
    headers, dosage = _read_tped_as_emmax(data.decode(), n)
    assert headers == [[c, s, "0", str(p)] for c, s, p in zip(chrom, snp, pos, strict=True)]
    assert np.array_equal(np.isnan(dosage), np.isnan(G))
    assert np.array_equal(dosage[~np.isnan(G)], G[~np.isnan(G)])
    assert emmax.tped_lines(chrom[:0], snp[:0], pos[:0], G[:, :0]) == b""


def test_se_is_recovered_from_the_two_sided_t_test():
    rng = np.random.default_rng(2)
    df = 57
    beta = rng.normal(0, 1, 200)
    se = rng.uniform(0.05, 2.0, 200)
    p = 2 * scipy.stats.t.sf(np.abs(beta / se), df)
    recovered = params.se_from_t_test(beta, p, df)
    assert np.allclose(recovered, se, rtol=1e-9)
    edge = params.se_from_t_test(np.array([0.0, 30.0, 1.0]), np.array([1.0, 0.0, np.nan]), df)
    assert np.all(np.isnan(edge))


def test_parsers_read_emmax_layouts(tmp_path):
    ps = tmp_path / "r.ps"
    ps.write_text("rs1\t-0.078830213428195073\t0.2030311022866621\nrs2\t1e-3\t1\n")
    table = read_output(ps, emmax.FORMAT, "EMMAX")
    assert table.snp.tolist() == ["rs1", "rs2"]
    assert table.beta.tolist() == [-0.078830213428195073, 1e-3]  # every digit read
    assert table.pvalues["p_wald"].tolist() == [0.2030311022866621, 1.0]
    ps.write_text("rs1\t0.1\t0.01\t0.2\n")
    with pytest.raises(ToolFailed, match=r"EMMAX: .*r\.ps: cannot parse the table"):
        read_output(ps, emmax.FORMAT, "EMMAX")
    reml = tmp_path / "r.reml"
    reml.write_text("-1584.07\n-1999.13\n0.23\n1.47\n0.34\n0.61\n")
    assert emmax.parse_reml(reml) == dict(zip(emmax.REML_FIELDS,
                                              [-1584.07, -1999.13, 0.23, 1.47, 0.34, 0.61],
                                              strict=True))
    reml.write_text("1\n2\n")
    with pytest.raises(ToolFailed, match="expected 6 numbers"):
        emmax.parse_reml(reml)
    log = ("\nReading kinship file kinship.txt...\n\n  366 rows and 366 columns were observed "
           "with 0 missing values.\n\nReading the phenotype file pheno.txt...\n\n  366 rows and "
           "1 columns were observed with 0 missing values\n\nReading covariate file covar.txt..."
           "\n\n  366 rows and 4 columns were observed with 0 missing values. Make sure that the "
           "intercept is included in the covariates\n")
    assert emmax.parse_log_counts(log) == {
        "kinship": (366, 366, 0), "pheno": (366, 1, 0), "covar": (366, 4, 0)
    }
    with pytest.raises(ToolFailed, match="covariate file"):
        emmax.parse_log_counts(log.split("Reading covariate")[0])


def test_conversion_is_one_over_delta_with_vg_ve_on_k_as_given():
    convert = registry.get("emmax").to_standard
    native = {"delta": 0.23025803962918887, "vg": 1.4790408748515949,
              "ve": 0.34056105237476869, "hg": 0.60981835360885395}
    std = convert(native, 1.3)
    assert std["gamma"] == pytest.approx(1 / native["delta"], rel=1e-15)
    assert std["sigma_g2"] == native["vg"] and std["sigma_e2"] == native["ve"]
    g = std["gamma"]
    assert std["h2"] == pytest.approx(g / (1 + g)) and std["pve"] == pytest.approx(
        1.3 * g / (1 + 1.3 * g)
    )
    with pytest.raises(InputError, match="ve/vg"):
        convert({**native, "delta": 0.25}, 1.0)


def test_missing_emmax_is_skipped_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    request = RunRequest(bfile="x", pheno=None, mpheno=1, covar=None, kinship="k", extract="e")
    outcome = execute(Run("toy", "emmax", "fixed"), request, tmp_path / "e")
    assert not outcome.ok and "not installed" in outcome.reason
    assert "apt-get install emmax" in outcome.reason and "\n" not in outcome.reason


def _fake_emmax(directory: Path, script: str, monkeypatch) -> None:
    """An ``emmax`` running ``script``, first on PATH."""
    path = directory / "bin" / "emmax"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{path.parent}:{os.environ['PATH']}")


def test_a_failing_emmax_is_a_tool_failure(make_plink, tmp_path, monkeypatch):
    request = toy_request(make_plink, tmp_path)
    _fake_emmax(tmp_path, "echo 'ERROR: Only 0,1,2 are expected' >&2\nexit 134\n", monkeypatch)
    with pytest.raises(ToolFailed, match=r"status 134.*Only 0,1,2"):
        emmax.run(request, "fixed", tmp_path / "e")
    assert not list(tmp_path.glob("e.*"))


# ----------------------------------------------------------------------------- EMMAX runs


def _dense_reml(delta, y, X, K):
    """Exact REML (with +½log|XᵀX|) at γ = 1/δ, by dense algebra on H = γK + I."""
    n, c = X.shape
    H = K / delta + np.eye(n)
    Hi = np.linalg.inv(H)
    XHX = X.T @ Hi @ X
    r = y - X @ np.linalg.solve(XHX, X.T @ Hi @ y)
    s2 = r @ Hi @ r / (n - c)
    return -0.5 * ((n - c) * np.log(2 * np.pi * s2) + np.linalg.slogdet(H)[1]
                   + np.linalg.slogdet(XHX)[1] - np.linalg.slogdet(X.T @ X)[1] + (n - c))


@needs_emmax
def test_runner_agrees_with_ours_and_its_null_numbers_mean_what_they_say(make_plink, tmp_path):
    request = toy_request(make_plink, tmp_path)
    emmax.run(replace(request, keep_raw=str(tmp_path / "raw")), "fixed", tmp_path / "emmax")
    run_ours(request, tmp_path / "ours")
    theirs, ours = (read_assoc_tsv(tmp_path / f"{t}.assoc.tsv") for t in ("emmax", "ours"))
    null, ours_null = (read_null_json(tmp_path / f"{t}.null.json") for t in ("emmax", "ours"))
    assert theirs["snp"].tolist() == ours["snp"].tolist()
    assert theirs["errcode"].tolist() == ours["errcode"].tolist()
    assert "MONOMORPHIC" in theirs["errcode"].tolist()
    ok = ours["errcode"] == "."
    n, c = null["n_samples"], null["n_covariates"]
    assert (n, c) == (159, 3) and null["covariates"] == ["intercept", "covar1", "covar2"]

    # Own REML fits: EMMAX's bisection stops on the side where dLL ≤ 0, above the root.
    shift = np.log(null["delta"]) - np.log(ours_null["delta"])
    assert -1e-7 < shift < XACCU + 1e-7
    assert null["loglik"] == pytest.approx(ours_null["loglik"], abs=1e-6)
    assert np.allclose(neglog10(theirs["p_wald"][ok]), neglog10(ours["p_wald"][ok]),
                       rtol=1e-3, atol=1e-6)
    assert np.max(np.abs(theirs["beta"][ok] - ours["beta"][ok]) / ours["se"][ok]) < 1e-3
    assert np.allclose(theirs["delta"][ok], null["delta"], rtol=0)

    # At EMMAX's δ ours gives the same numbers (to printed digits) and the same REML.
    run_ours(request, tmp_path / "at", h2=null["h2"])
    at = read_assoc_tsv(tmp_path / "at.assoc.tsv")
    at_null = read_null_json(tmp_path / "at.null.json")
    assert at_null["loglik"] == pytest.approx(null["loglik"], abs=1e-9)  # exact REML
    assert at_null["sigma_e2"] == pytest.approx(null["sigma_e2"], rel=1e-9)  # ve = σ̂e²
    for name in ("beta", "se"):
        assert np.allclose(theirs[name][ok], at[name][ok], rtol=1e-7, atol=0), name
    assert np.allclose(neglog10(theirs["p_wald"][ok]), neglog10(at["p_wald"][ok]),
                       rtol=1e-7, atol=1e-9)
    assert theirs["p_wald"][CAUSAL] < 1e-4 and np.nanargmin(theirs["p_wald"]) == CAUSAL
    assert theirs["beta"][CAUSAL] == pytest.approx(CAUSAL_BETA, abs=4 * theirs["se"][CAUSAL])

    # REML, REML0 and hg against dense algebra on the analysed samples.
    from lmmcompare.runners._common import load

    inputs = load(request)
    K, X, y = inputs.kinship, inputs.covariates, inputs.y
    native = null["native"]
    assert native["reml"] == pytest.approx(_dense_reml(native["delta"], y, X, K), abs=1e-8)
    rss = y @ y - y @ X @ np.linalg.solve(X.T @ X, X.T @ y)  # δ = ∞: ordinary least squares
    reml0 = -0.5 * (n - c) * (np.log(2 * np.pi * rss / (n - c)) + 1)
    assert native["reml0"] == pytest.approx(reml0, abs=1e-8)
    centred_trace = np.trace(K) - K.sum() / n
    hg = centred_trace / ((n - 1) * native["delta"] + centred_trace)
    assert native["hg"] == pytest.approx(hg, rel=1e-8)
    assert native["hg"] != pytest.approx(null["h2"], rel=1e-3)  # not our h²
    raw = (tmp_path / "raw" / "result.reml").read_text().split()
    assert [float(v) for v in raw] == [native[k] for k in emmax.REML_FIELDS]
    assert null["provenance"]["parameters"]["command"][0] == "emmax"
    assert str(tmp_path) not in json.dumps(null["provenance"]["parameters"]["command"])


@needs_emmax
def test_a_flipped_allele_coding_is_caught(make_plink, tmp_path, monkeypatch):
    request = toy_request(make_plink, tmp_path)
    flipped = np.frombuffer(b"2 2 1 2 1 1 0 0 ", dtype=np.uint8).reshape(4, 4)
    monkeypatch.setattr(emmax, "_TOKENS", flipped)
    with pytest.raises(ToolFailed, match="sign is flipped"):
        emmax.run(request, "fixed", tmp_path / "e")


@needs_emmax
def test_a_snp_emmax_did_not_report_is_not_reported(make_plink, tmp_path, capsys, monkeypatch):
    request = toy_request(make_plink, tmp_path)
    real = shutil.which("emmax")
    _fake_emmax(tmp_path, f'"{real}" "$@" || exit $?\nsed -i \'$d\' result.ps\n', monkeypatch)
    emmax.run(request, "fixed", tmp_path / "e")
    table = read_assoc_tsv(tmp_path / "e.assoc.tsv")
    assert table["errcode"][-1] == "NOT_REPORTED" and np.isnan(table["p_wald"][-1])
    assert np.all(np.isfinite(table["p_wald"][table["errcode"] == "."]))
    assert "1 SNPs were not reported" in capsys.readouterr().err


@needs_emmax
def test_outputs_are_byte_reproducible(make_plink, tmp_path):
    request = toy_request(make_plink, tmp_path)
    for name in ("a", "b"):
        emmax.run(request, "fixed", tmp_path / name)
    for ext in (".assoc.tsv", ".null.json"):
        assert (tmp_path / f"a{ext}").read_bytes() == (tmp_path / f"b{ext}").read_bytes()


@pytest.mark.slow
@needs_emmax
def test_hs1940_agrees_with_ours(hs1940_request, tmp_path):
    """GEMMA's mouse example, centered kinship, intercept only (c = 1): every SNP ours tests."""
    request = hs1940_request
    assert execute(Run("hs1940", "emmax", "fixed"), request, tmp_path / "emmax").ok
    run_ours(request, tmp_path / "ours")
    theirs, ours = (read_assoc_tsv(tmp_path / f"{t}.assoc.tsv") for t in ("emmax", "ours"))
    null, ours_null = (read_null_json(tmp_path / f"{t}.null.json") for t in ("emmax", "ours"))
    assert theirs["errcode"].tolist() == ours["errcode"].tolist()
    ok = ours["errcode"] == "."
    assert ok.sum() > 10_000 and null["n_samples"] == 1410 and null["n_covariates"] == 1
    shift = np.log(null["delta"]) - np.log(ours_null["delta"])
    assert -1e-7 < shift < XACCU + 1e-7
    assert null["loglik"] == pytest.approx(ours_null["loglik"], abs=1e-5)
    diff = np.abs(neglog10(theirs["p_wald"][ok]) - neglog10(ours["p_wald"][ok]))
    assert diff.max() < 2e-3
    assert np.max(np.abs(theirs["beta"][ok] - ours["beta"][ok]) / ours["se"][ok]) < 1e-3
    run_ours(request, tmp_path / "at", h2=null["h2"])
    at = read_assoc_tsv(tmp_path / "at.assoc.tsv")
    assert read_null_json(tmp_path / "at.null.json")["loglik"] == pytest.approx(
        null["loglik"], abs=1e-9
    )
    diff_at = np.abs(neglog10(theirs["p_wald"][ok]) - neglog10(at["p_wald"][ok]))
    assert diff_at.max() < 1e-7
    assert np.max(np.abs(theirs["beta"][ok] - at["beta"][ok]) / at["se"][ok]) < 1e-7
