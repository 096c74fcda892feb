"""GCTA's binary GRM (exactlmm.io.grm): round trip, samples matched by .grm.id, errors, and a
scan with it equal to one with the text kinship (to float32 precision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exactlmm.cli import main
from exactlmm.errors import InputError
from exactlmm.io.grm import read_grm, read_grm_ids, write_grm
from exactlmm.io.kinship_txt import read_kinship
from exactlmm.io.results import read_assoc_tsv


def run(argv: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_round_trip_is_float32_and_symmetric(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((9, 30))
    k = z @ z.T / 30
    path = write_grm(tmp_path / "k", k, [f"f{i}" for i in range(9)], [f"i{i}" for i in range(9)],
                     30)
    assert path.name == "k.grm.bin" and path.stat().st_size == 45 * 4
    assert (tmp_path / "k.grm.N.bin").stat().st_size == 45 * 4
    back = read_grm(path)
    np.testing.assert_array_equal(back, k.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(back, back.T)
    assert read_grm_ids(path).tolist()[:2] == [["f0", "i0"], ["f1", "i1"]]
    assert np.fromfile(tmp_path / "k.grm.N.bin", dtype="<f4").tolist() == [30.0] * 45


def test_grm_errors_name_the_file(tmp_path):
    (tmp_path / "bad.grm.bin").write_bytes(b"\0" * 20)  # 5 values: not N(N+1)/2
    with pytest.raises(InputError, match=r"bad\.grm\.bin: 20 bytes"):
        read_grm(tmp_path / "bad.grm.bin")
    with pytest.raises(InputError, match=r"bad\.grm\.id: GRM sample file not found"):
        read_grm_ids(tmp_path / "bad.grm.bin")
    write_grm(tmp_path / "k", np.eye(3), ["a", "b", "c"], ["1", "2", "3"], 5)
    with pytest.raises(InputError, match="lists 4 samples"):
        read_grm(tmp_path / "k.grm.bin", n_expected=4)


def test_scan_with_a_grm_equals_the_text_kinship(tmp_path, make_plink, capsys):
    """The GRM holds the text kinship in float32, its samples in another order than the .fam:
    the scan reorders them by .grm.id and gives the text run's statistics to ~1e-6."""
    prefix = make_plink(tmp_path, n=70, m=200, seed=5, missing_rate=0.02)
    code, err = run(["kinship", "--bfile", prefix, "--no-progress", "--out", tmp_path / "k"],
                    capsys)
    assert code == 0, err
    k = read_kinship(tmp_path / "k.kinship.txt", 70)
    fam = [line.split()[:2] for line in Path(f"{prefix}.fam").read_text().splitlines()]
    order = np.random.default_rng(2).permutation(70)
    write_grm(tmp_path / "shuffled", k[np.ix_(order, order)], [fam[i][0] for i in order],
              [fam[i][1] for i in order], 200)
    results = {}
    for name, kinship in (("text", tmp_path / "k.kinship.txt"),
                          ("grm", tmp_path / "shuffled.grm.bin")):
        code, err = run(["assoc", "--bfile", prefix, "--kinship", kinship, "--refit",
                         "--no-progress", "--out", tmp_path / name], capsys)
        assert code == 0, err
        results[name] = read_assoc_tsv(tmp_path / f"{name}.assoc.tsv")
    for column in ("beta", "se", "p_wald", "p_lrt", "p_score", "delta"):
        np.testing.assert_allclose(results["grm"][column], results["text"][column], rtol=2e-5,
                                   err_msg=column)
    missing = tmp_path / "missing"
    write_grm(missing, k[1:, 1:], [f[0] for f in fam[1:]], [f[1] for f in fam[1:]], 200)
    code, err = run(["assoc", "--bfile", prefix, "--kinship", f"{missing}.grm.bin",
                     "--no-progress", "--out", tmp_path / "x"], capsys)
    assert code == 2 and "is not in the GRM's .grm.id" in err and "missing.grm.bin" in err
