"""The benchmark kit of one replicate (lmmcompare.kit): the files hold the inputs every tool is
given, in each layout; the manifest's sha256; the README."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from peer_helpers import toy_request

from exactlmm.inputs import InputOptions, load_inputs
from exactlmm.io.grm import read_grm, read_grm_ids
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.plink import open_plink, read_genotypes
from lmmcompare import kit
from lmmcompare.staging import sha256_of

pytestmark = pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")


@pytest.fixture
def written(tmp_path, make_plink):
    request = toy_request(make_plink, tmp_path)
    out = tmp_path / "kit" / "s" / "r000"
    files = kit.write_replicate(request.bfile, request.pheno, 1, request.covar,
                                request.kinship, request.extract, out)
    inputs = load_inputs(InputOptions(request.bfile, request.pheno, 1, request.covar,
                                      request.kinship, request.extract))
    return out, files, inputs, request


def test_the_kit_holds_every_tools_inputs(written):
    out, files, inputs, request = written
    assert sorted(files) == sorted(p.name for p in out.iterdir())
    assert "covar.txt" in files and "kinship.grm.bin" in files
    ds = inputs.dataset
    genotypes = open_plink(out / kit.GENOTYPES)
    assert genotypes.n_samples == ds.n_samples == 160  # every sample, analysed or not
    assert genotypes.snp.tolist() == ds.snp[inputs.snp_index].tolist()  # the tested list
    np.testing.assert_array_equal(read_genotypes(genotypes),
                                  read_genotypes(ds, None, inputs.snp_index))
    assert (out / "genotypes.fam").read_text() == open(ds.fam_path).read()
    pvar = [line.split("\t") for line in (out / "genotypes.pvar").read_text().splitlines()
            if not line.startswith("#")]
    assert [row[4] for row in pvar] == ds.a1[inputs.snp_index].tolist()  # ALT = a1
    pheno = (out / "pheno.txt").read_text().splitlines()
    assert pheno[0] == "FID IID pheno" and len(pheno) == 161
    assert pheno[5].split()[2] == "NA"  # the sample without a phenotype
    plain = (out / "pheno.gemma.txt").read_text().split()
    assert plain[4] == "NA" and float(plain[0]) == inputs.y[0]
    assert (out / "pheno.gcta.txt").read_text().splitlines() == pheno[1:]
    covar = np.genfromtxt(out / "covar.gcta.txt", usecols=(2, 3))  # NA: not analysed
    np.testing.assert_array_equal(np.delete(covar, 4, axis=0), inputs.samples.covariates)
    gemma = np.genfromtxt(out / "covar.gemma.txt")
    assert np.isnan(gemma[4]).all() and (np.delete(gemma, 4, axis=0)[:, 0] == 1).all()
    grm = read_grm(out / "kinship.grm.bin", 160)
    np.testing.assert_allclose(grm, read_kinship(request.kinship, 160), rtol=1e-6)
    assert read_grm_ids(out / "kinship.grm.bin")[0].tolist() == [ds.fid[0], ds.iid[0]]


def test_the_manifest_and_the_readme(written, tmp_path):
    out, files, _, _ = written
    rows = kit.manifest_rows("s", "r000", out, files)
    assert rows[0] == {"scenario": "s", "replicate": "r000", "file": "s/r000/genotypes.bed",
                       "sha256": sha256_of(out / "genotypes.bed")}
    kit.write_manifest(rows, tmp_path / "manifest.tsv")
    lines = (tmp_path / "manifest.tsv").read_text().splitlines()
    assert lines[0] == "scenario\treplicate\tfile\tsha256" and len(lines) == len(files) + 1
    text = kit.readme({"s": 2, "null": 20}, {"s": True})
    assert "`s/r000` … `s/r001` (2 replicates, with covariates)" in text
    assert "`null/r000` … `null/r019` (20 replicates)" in text
    for command in ("regenie --step 1", "step2_SPAtests.R", "--fastGWA-mlm", "plink2 --pfile",
                    "study:\n      imported:"):
        assert command in text, command
