"""Fit once, scan in chunks: ``exactlmm fit --save-model`` + ``assoc --model --chunk I/N`` +
``gather`` give the single run's table byte for byte (fixed, refit, LOCO, low rank, a kinship
file), and every mismatch between a model and its inputs is a one-line error."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from exactlmm.cli import main
from exactlmm.io.model import file_fingerprint, model_paths
from exactlmm.pipeline import ScanOptions, chunk_ranges

BLOCK = "96"  # small blocks, so that a few hundred SNPs make many chunks


def run(argv: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def data(tmp_path, make_plink):
    """110 samples, 700 SNPs on 3 chromosomes; a phenotype missing for five samples and a
    covariate; a kinship file."""
    prefix = make_plink(tmp_path, n=110, m=700, seed=5, chroms=3, missing_rate=0.02)
    rng = np.random.default_rng(3)
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    pheno, covar = tmp_path / "p.txt", tmp_path / "c.txt"
    values = rng.standard_normal(110)
    pheno.write_text("".join(f"{f} {i} {'NA' if j % 22 == 0 else repr(float(v))}\n"
                             for j, ((f, i), v) in enumerate(zip(fam, values, strict=True))))
    covar.write_text("".join(f"{f} {i} {rng.normal():.5f}\n" for f, i in fam))
    assert main(["kinship", "--bfile", str(prefix), "--out", str(tmp_path / "k"),
                 "--no-progress"]) == 0
    return prefix, pheno, covar, tmp_path / "k.kinship.txt"


MODES = {
    "fixed-file": (["--kinship"], []),
    "refit-file": (["--kinship"], ["--refit"]),
    "fixed-genotypes": ([], []),
    "refit-ml": (["--ml"], ["--refit"]),
    "loco": (["--loco"], []),
    "loco-downdate": (["--loco", "--loco-method", "downdate"], []),
    "loco-refit": (["--loco", "--loco-method", "eigendecomposition"], ["--refit"]),
}


def fit_options(data, mode: str) -> list:
    prefix, pheno, covar, kinship = data
    fitting, _ = MODES[mode]
    options = ["--bfile", prefix, "--pheno", pheno, "--covar", covar, "--block-size", BLOCK,
               "--no-progress"]
    if "--kinship" in fitting:
        options += ["--kinship", kinship]
    return options + [o for o in fitting if o != "--kinship"]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_chunks_gathered_are_the_single_run_byte_for_byte(tmp_path, data, capsys, mode):
    _, scanning = MODES[mode]
    options = fit_options(data, mode)
    code, err = run(["assoc", *options, *scanning, "--out", tmp_path / "single"], capsys)
    assert code == 0, err
    code, err = run(["fit", *options, "--save-model", tmp_path / "m", "--out", tmp_path / "m"],
                    capsys)
    assert code == 0, err
    single = (tmp_path / "single.assoc.tsv").read_bytes()
    single_record = json.loads((tmp_path / "single.null.json").read_text())
    for n_chunks in (1, 3, 8, 11):  # 11: more chunks than blocks, some get no SNP
        prefixes = []
        for i in range(1, n_chunks + 1):
            out = tmp_path / f"c{i}of{n_chunks}"
            code, err = run(["assoc", "--bfile", data[0], "--model", tmp_path / "m", *scanning,
                             "--chunk", f"{i}/{n_chunks}", "--block-size", BLOCK,
                             "--no-progress", "--out", out], capsys)
            assert code == 0, err
            prefixes.append(out)
        bodies = [Path(f"{p}.assoc.tsv").read_bytes().partition(b"\n")[2] for p in prefixes]
        assert single.partition(b"\n")[0] + b"\n" + b"".join(bodies) == single
        if n_chunks == 8:  # 700 SNPs in blocks of 96: every chunk holds some
            assert all(bodies)
        if n_chunks == 11:  # 8 blocks (9 with LOCO's three chromosomes) for 11 chunks
            assert not all(bodies)
        gathered = tmp_path / f"g{n_chunks}"
        code, err = run(["gather", *reversed(prefixes), "--out", gathered], capsys)
        assert code == 0, err
        assert Path(f"{gathered}.assoc.tsv").read_bytes() == single
        record = json.loads(Path(f"{gathered}.null.json").read_text())
        assert record["chunks"] == n_chunks
        for key, value in single_record.items():
            if key != "provenance":
                assert record[key] == value, key


@pytest.mark.parametrize("mode", ["loco", "loco-refit"])
def test_a_loco_chunk_reads_only_its_chromosomes_bases(tmp_path, data, capsys, monkeypatch,
                                                       mode):
    """A LOCO chunk's job whose chromosomes have their own spectra holds one eigenbasis at a
    time: those of the chromosomes it scans, never the genome-wide one (its headline null
    comes from the model's numbers)."""
    from exactlmm.io.model import SavedModel
    from exactlmm.saved import LoadedModel, association_from_model

    code, err = run(["fit", *fit_options(data, mode), "--loco-method", "eigendecomposition",
                     "--save-model", tmp_path / "m", "--out", tmp_path / "m"], capsys)
    assert code == 0, err
    read: list[str] = []
    array = SavedModel.array
    monkeypatch.setattr(SavedModel, "array", lambda self, name: read.append(name)
                        or array(self, name))
    model = LoadedModel(tmp_path / "m", data[0])
    assert len(model.layout) == 4 and model.layout[0][0] is None  # the genome-wide part first
    sizes = [len(positions) for _, positions in model.layout]
    touched = set()
    for chunk in (1, 2, 3):
        read.clear()
        result = association_from_model(
            model, ScanOptions(refit=mode == "loco-refit", block_size=int(BLOCK)), chunk=chunk,
            n_chunks=3)
        parts = sorted({p for p, _, _ in chunk_ranges(sizes, int(BLOCK), chunk, 3)})
        assert [name for name in read if name.endswith("/basis")] == [
            f"part{p}/basis" for p in parts]
        touched.update(parts)
        assert result.null.n_samples == model.inputs.n_samples == 105
        assert result.null.n_covariates == 2
    assert touched == {1, 2, 3}  # every chromosome is scanned by some chunk


def test_fit_null_record_and_model_equal_the_scan_nulls(tmp_path, data, capsys):
    options = fit_options(data, "loco")
    run(["assoc", *options, "--out", tmp_path / "a"], capsys)
    code, err = run(["fit", *options, "--out", tmp_path / "plain"], capsys)
    assert code == 0, err
    code, err = run(["fit", *options, "--save-model", tmp_path / "m", "--out", tmp_path / "m"],
                    capsys)
    assert code == 0, err
    assoc = json.loads((tmp_path / "a.null.json").read_text())
    for name in ("plain", "m"):
        record = json.loads((tmp_path / f"{name}.null.json").read_text())
        assert record["loco"] == assoc["loco"]
        assert (record["gamma"], record["loglik"]) == (assoc["gamma"], assoc["loglik"])


def test_model_files_are_reproducible_and_as_documented(tmp_path, data, capsys):
    options = fit_options(data, "fixed-file")
    for name in ("m1", "m2"):
        code, err = run(["fit", *options, "--save-model", tmp_path / name, "--out",
                         tmp_path / "n"], capsys)
        assert code == 0, err
    npz1, json1 = model_paths(tmp_path / "m1")
    npz2, _ = model_paths(tmp_path / "m2")
    assert npz1.read_bytes() == npz2.read_bytes()
    header = json.loads(json1.read_text())
    assert header["format"] == "exactlmm-model" and header["format_version"] == 2
    assert header["inputs"]["bed"] == file_fingerprint(f"{data[0]}.bed")
    with zipfile.ZipFile(npz1) as archive:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    arrays = np.load(npz1, allow_pickle=False)
    n = header["analysis"]["n_samples"]
    assert n == 105 and arrays["samples/fam_index"].size == n
    w, q = arrays["part0/basis"], arrays["part0/covariate_basis"]
    assert w.shape == (n, n - 2) and q.shape == (n, 2)
    np.testing.assert_allclose(w.T @ w, np.eye(n - 2), atol=1e-10)
    np.testing.assert_allclose(w.T @ q, 0.0, atol=1e-10)
    # The saved blocks and eigenvalues give K back: K = [Q W] [[A, Bᵀ], [B, diag s]] [Q W]ᵀ
    # (the part of K in the basis, module notes of exactlmm.spectral), here the file's K.
    k_full = np.loadtxt(data[3])
    fam_index = arrays["samples/fam_index"]
    k = k_full[np.ix_(fam_index, fam_index)]
    a, b, s = arrays["part0/kinship_qkq"], arrays["part0/kinship_wkq"], arrays["part0/eigenvalues"]
    basis = np.hstack([q, w])
    middle = np.block([[a, b.T], [b, np.diag(s)]])
    np.testing.assert_allclose(basis @ middle @ basis.T, k, atol=1e-8)
    # The null fit in the header is the one fit writes.
    null = json.loads((tmp_path / "n.null.json").read_text())
    assert header["parts"][0]["null"]["loglik"] == null["loglik"]


def test_chunk_ranges_deal_out_whole_blocks_in_order():
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = rng.integers(0, 40, size=rng.integers(1, 5)).tolist()
        block, n_chunks = int(rng.integers(1, 9)), int(rng.integers(1, 12))
        covered = [(p, i) for c in range(1, n_chunks + 1)
                   for p, a, b in chunk_ranges(sizes, block, c, n_chunks) for i in range(a, b)]
        assert covered == [(p, i) for p, size in enumerate(sizes) for i in range(size)]
        for c in range(1, n_chunks + 1):
            for p, a, b in chunk_ranges(sizes, block, c, n_chunks):
                assert a % block == 0 and (b % block == 0 or b == sizes[p])
    with pytest.raises(ValueError, match="chunk 4 of 3"):
        chunk_ranges([5], 2, 4, 3)


@pytest.fixture
def model(tmp_path, data, capsys):
    code, err = run(["fit", *fit_options(data, "fixed-file"), "--save-model", tmp_path / "m",
                     "--out", tmp_path / "m"], capsys)
    assert code == 0, err
    return tmp_path / "m"


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("exactlmm: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_model_of_other_genotypes_is_refused(tmp_path, data, model, capsys, make_plink):
    other = make_plink(tmp_path / "other", n=110, m=700, seed=6, chroms=3)
    code, err = run(["assoc", "--bfile", other, "--model", model, "--out", tmp_path / "x"],
                    capsys)
    assert code == 2
    line = one_error_line(err)
    assert "m.model.json" in line and "fitted on other data" in line and "other/data.fam" in line
    assert not (tmp_path / "x.assoc.tsv").exists()


def test_a_changed_model_archive_is_refused(tmp_path, data, model, capsys):
    npz, _ = model_paths(model)
    raw = bytearray(npz.read_bytes())
    raw[len(raw) // 2] ^= 1
    npz.write_bytes(bytes(raw))
    code, err = run(["assoc", "--bfile", data[0], "--model", model, "--out", tmp_path / "x"],
                    capsys)
    assert code == 2 and "m.model.npz: its SHA-256" in one_error_line(err)


@pytest.mark.parametrize("extra, message", [
    (["--pheno", "p.txt"], "--pheno: the model"),
    (["--maf", "0.1", "--ml"], "--maf --ml: the model"),
    (["--loco"], "--loco: this model was fitted without --loco"),
])
def test_options_the_model_fixes_are_refused(tmp_path, data, model, capsys, extra, message):
    code, err = run(["assoc", "--bfile", data[0], "--model", model, *extra, "--out",
                     tmp_path / "x"], capsys)
    assert code == 2 and message in one_error_line(err)


def test_chunk_needs_a_model_and_a_valid_spec(tmp_path, data, capsys):
    code, err = run(["assoc", "--bfile", data[0], "--chunk", "1/2", "--out", tmp_path / "x"],
                    capsys)
    assert code == 2 and "give --model too" in one_error_line(err)
    for spec in ("0/3", "4/3", "2", "a/b"):
        with pytest.raises(SystemExit):
            main(["assoc", "--bfile", str(data[0]), "--chunk", spec, "--out", "x"])
        assert "expected I/N" in capsys.readouterr().err


def test_a_refit_of_a_fixed_h2_model_is_refused(tmp_path, data, capsys):
    code, err = run(["fit", *fit_options(data, "fixed-file"), "--h2", "0.3", "--save-model",
                     tmp_path / "m", "--out", tmp_path / "m"], capsys)
    assert code == 0, err
    code, err = run(["assoc", "--bfile", data[0], "--model", tmp_path / "m", "--refit", "--out",
                     tmp_path / "x"], capsys)
    assert code == 2 and "exclude each other" in one_error_line(err)


def test_gather_checks_the_chunks(tmp_path, data, model, capsys):
    prefixes = []
    for i in (1, 2, 3):
        out = tmp_path / f"c{i}"
        code, err = run(["assoc", "--bfile", data[0], "--model", model, "--chunk", f"{i}/3",
                         "--block-size", BLOCK, "--no-progress", "--out", out], capsys)
        assert code == 0, err
        prefixes.append(out)
    code, err = run(["gather", prefixes[0], prefixes[2], "--out", tmp_path / "g"], capsys)
    assert code == 2 and "missing [2]" in one_error_line(err)
    code, err = run(["gather", *prefixes, prefixes[1], "--out", tmp_path / "g"], capsys)
    assert code == 2 and "given twice [2]" in one_error_line(err)
    assert not (tmp_path / "g.assoc.tsv").exists()
    run(["assoc", "--bfile", data[0], "--model", model, "--refit", "--chunk", "2/3",
         "--block-size", BLOCK, "--no-progress", "--out", tmp_path / "r2"], capsys)
    code, err = run(["gather", prefixes[0], tmp_path / "r2", prefixes[2], "--out",
                     tmp_path / "g"], capsys)
    assert code == 2 and "does not belong" in one_error_line(err)
    run(["assoc", *fit_options(data, "fixed-file"), "--out", tmp_path / "plain"], capsys)
    code, err = run(["gather", tmp_path / "plain", "--out", tmp_path / "g"], capsys)
    assert code == 2 and "not the record of an exactlmm assoc --model --chunk" in one_error_line(
        err)


def test_loco_chunks_need_chromosomes_together(tmp_path, make_plink, capsys):
    prefix = make_plink(tmp_path, n=90, m=400, seed=2, chroms=["1", "2", "1", "2"])
    code, err = run(["fit", "--bfile", prefix, "--loco", "--save-model", tmp_path / "m",
                     "--out", tmp_path / "m", "--no-progress"], capsys)
    assert code == 0, err
    code, err = run(["assoc", "--bfile", prefix, "--loco", "--no-progress", "--out",
                     tmp_path / "single"], capsys)
    assert code == 0, err
    code, err = run(["assoc", "--bfile", prefix, "--model", tmp_path / "m", "--no-progress",
                     "--out", tmp_path / "one"], capsys)
    assert code == 0, err
    assert ((tmp_path / "one.assoc.tsv").read_bytes()
            == (tmp_path / "single.assoc.tsv").read_bytes())
    code, err = run(["assoc", "--bfile", prefix, "--model", tmp_path / "m", "--chunk", "1/2",
                     "--out", tmp_path / "two"], capsys)
    assert code == 2 and "each chromosome's SNPs together" in one_error_line(err)


def _chunks(tmp_path, data, model, capsys, n_chunks=2, block=BLOCK, name="c", extra=()):
    prefixes = []
    for i in range(1, n_chunks + 1):
        out = tmp_path / f"{name}{i}"
        code, err = run(["assoc", "--bfile", data[0], "--model", model, *extra, "--chunk",
                         f"{i}/{n_chunks}", "--block-size", block, "--no-progress", "--out",
                         out], capsys)
        assert code == 0, err
        prefixes.append(out)
    return prefixes


def test_gather_refuses_chunks_of_another_null_fit(tmp_path, data, capsys):
    """The REML, ML and --h2 models of the same data have byte-identical archives; their
    headers differ, and the header's checksum is the model's identity."""
    code, err = run(["fit", *fit_options(data, "fixed-file"), "--h2", "0.3", "--save-model",
                     tmp_path / "h", "--out", tmp_path / "h"], capsys)
    assert code == 0, err
    code, err = run(["fit", *fit_options(data, "fixed-file"), "--save-model", tmp_path / "r",
                     "--out", tmp_path / "r"], capsys)
    assert code == 0, err
    assert (model_paths(tmp_path / "h")[0].read_bytes()
            == model_paths(tmp_path / "r")[0].read_bytes())
    reml = _chunks(tmp_path, data, tmp_path / "r", capsys, name="r")
    fixed = _chunks(tmp_path, data, tmp_path / "h", capsys, name="h")
    code, err = run(["gather", reml[0], fixed[1], "--out", tmp_path / "g"], capsys)
    assert code == 2 and "a chunk of another model" in one_error_line(err)
    assert not (tmp_path / "g.assoc.tsv").exists()


def test_gather_refuses_other_block_sizes_and_altered_tables(tmp_path, data, model, capsys):
    big = _chunks(tmp_path, data, model, capsys, block="300", name="big")
    small = _chunks(tmp_path, data, model, capsys, block="50", name="small")
    code, err = run(["gather", big[0], small[1], "--out", tmp_path / "g"], capsys)
    assert code == 2 and "blocks of 50 SNPs" in one_error_line(err)
    table = Path(f"{small[1]}.assoc.tsv")
    lines = table.read_text().splitlines(keepends=True)
    table.write_text("".join(lines[:-30]))  # a chunk that lost rows
    code, err = run(["gather", *small, "--out", tmp_path / "g"], capsys)
    assert code == 2 and "small2.assoc.tsv: not the table" in one_error_line(err)
    assert not (tmp_path / "g.assoc.tsv").exists()


@pytest.mark.parametrize("edit, message", [
    (lambda h: h["parts"][0]["null"].update(log_delta=2.0), "edited or damaged"),
    (lambda h: h["analysis"].update(loco=True), "edited or damaged"),
    (lambda h: h["analysis"].pop("n_snps"), "edited or damaged"),
])
def test_an_edited_model_header_is_refused(tmp_path, data, model, capsys, edit, message):
    _, header_path = model_paths(model)
    header = json.loads(header_path.read_text())
    edit(header)
    header_path.write_text(json.dumps(header, indent=2))
    code, err = run(["assoc", "--bfile", data[0], "--model", model, "--out", tmp_path / "x"],
                    capsys)
    assert code == 2 and message in one_error_line(err)
    assert not (tmp_path / "x.assoc.tsv").exists()


def test_a_header_of_the_wrong_structure_is_one_line(tmp_path, data, model, capsys):
    """A header whose checksum was recomputed after a key was removed (another writer, or a
    deliberate edit) is checked for structure: one line, no KeyError."""
    from exactlmm.io.model import header_digest

    _, header_path = model_paths(model)
    header = json.loads(header_path.read_text())
    del header["parts"][0]["null"]["loglik"]
    header["header_sha256"] = header_digest(header)
    header_path.write_text(json.dumps(header))
    code, err = run(["assoc", "--bfile", data[0], "--model", model, "--out", tmp_path / "x"],
                    capsys)
    assert code == 2 and "parts[0].null.loglik is missing" in one_error_line(err)


def test_a_chunk_checks_the_bed_bytes_it_reads(tmp_path, data, capsys, monkeypatch):
    """Inputs are fingerprinted in pieces (64 MiB; here 4 KiB, so that the 19 KB .bed has
    five): a changed byte in a SNP a chunk scans is caught by that chunk, and only the pieces
    holding its SNPs are read."""
    from exactlmm.io import model as model_io

    monkeypatch.setattr(model_io, "PIECE_BYTES", 4096)
    code, err = run(["fit", *fit_options(data, "fixed-file"), "--save-model", tmp_path / "m",
                     "--out", tmp_path / "m"], capsys)
    assert code == 0, err
    header = json.loads(model_paths(tmp_path / "m")[1].read_text())
    assert len(header["inputs"]["bed"]["pieces"]) == 5
    bed = Path(f"{data[0]}.bed")
    raw = bytearray(bed.read_bytes())
    raw[-10] ^= 0xFF  # a call of the last SNP: scanned by the last chunk only
    bed.write_bytes(bytes(raw))
    hashed: list[int] = []
    pieces = model_io._piece_digests
    monkeypatch.setattr(model_io, "_piece_digests", lambda path, wanted: (
        hashed.extend(wanted) if str(path).endswith(".bed") else None) or pieces(path, wanted))
    code, err = run(["assoc", "--bfile", data[0], "--model", tmp_path / "m", "--chunk", "1/4",
                     "--block-size", BLOCK, "--out", tmp_path / "first"], capsys)
    assert code == 0, err
    assert sorted(hashed) == [0, 1]  # the header and SNPs 0-191: bytes 0 to 5379
    code, err = run(["assoc", "--bfile", data[0], "--model", tmp_path / "m", "--chunk", "4/4",
                     "--block-size", BLOCK, "--out", tmp_path / "last"], capsys)
    assert code == 2 and "fitted on other data" in err and "bytes 16384 to 19603" in err
