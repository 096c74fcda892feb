"""Tests for exactlmm.io.kinship_txt: the plain-text N x N kinship (GEMMA's -k format)."""

from __future__ import annotations

import numpy as np
import pytest

from exactlmm.errors import InputError
from exactlmm.io.kinship_txt import check_kinship, read_kinship, write_kinship


def random_kinship(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3 * n))
    return X @ X.T / (3 * n)


def test_kinship_round_trip_exact_and_reproducible(tmp_path):
    K = random_kinship(12, seed=0)
    K[0, 1] = K[1, 0] = 1e-300  # extreme values survive too
    K[2, 3] = K[3, 2] = -0.1
    path = tmp_path / "k.txt"
    write_kinship(path, K)
    first = path.read_bytes()
    back = read_kinship(path, n_expected=12)
    np.testing.assert_array_equal(back, K)
    write_kinship(path, back)
    assert path.read_bytes() == first
    lines = first.decode().splitlines()
    assert len(lines) == 12 and all(len(line.split("\t")) == 12 for line in lines)


def test_reads_gemma_style_text(tmp_path):
    path = tmp_path / "gemma.cXX.txt"
    path.write_text("0.5\t-0.25 \n\n-0.25\t0.75\n")
    np.testing.assert_array_equal(read_kinship(path), [[0.5, -0.25], [-0.25, 0.75]])


def test_symmetrised_within_tolerance(tmp_path):
    path = tmp_path / "k.txt"
    path.write_text("1 0.3\n0.3000000001 1\n")
    K = read_kinship(path)
    assert K[0, 1] == K[1, 0] == (0.3 + 0.3000000001) / 2


@pytest.mark.parametrize(
    ("text", "n_expected", "pattern"),
    [
        ("1 0\n0 1\n", 3, r"k\.txt: has 2 rows, \.fam has 3 samples"),
        ("1 0 0\n0 1 0\n", None, r"k\.txt: 3 values per line, but the file has 2 rows"),
        ("1 0\n0 1 5\n", None, r"k\.txt: line 2: 3 values, but line 1 has 2"),
        ("1 0\n0 abc\n", None, r"k\.txt: line 2, column 2: 'abc' is not a number"),
        ("1 nan\nnan 1\n", None, r"k\.txt: row 1, column 2: nan is not a finite number"),
        ("1 inf\ninf 1\n", None, r"k\.txt: row 1, column 2: inf is not a finite"),
        ("1 0.5\n0.4 1\n", None, r"k\.txt: kinship is not symmetric: K\[1,2\] = 0\.5"),
        ("\n \n", None, r"k\.txt: the kinship file is empty"),
    ],
)
def test_kinship_errors_name_file(tmp_path, text, n_expected, pattern):
    path = tmp_path / "k.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=pattern):
        read_kinship(path, n_expected=n_expected)


def test_write_kinship_rejects_bad_matrix(tmp_path):
    with pytest.raises(ValueError, match="square"):
        write_kinship(tmp_path / "k.txt", np.ones((2, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        write_kinship(tmp_path / "k.txt", np.full((2, 2), np.nan))
    assert not (tmp_path / "k.txt").exists()


def test_check_kinship(tmp_path):
    K = random_kinship(8, seed=1)
    eigenvalues = check_kinship(K)
    np.testing.assert_allclose(eigenvalues, np.linalg.eigvalsh(K), atol=1e-12)
    rank_deficient = K - K.mean(axis=0) - K.mean(axis=1)[:, None] + K.mean()  # centred: PSD
    check_kinship(rank_deficient)
    with pytest.raises(InputError, match=r"k\.txt: kinship is not positive semi-definite"):
        check_kinship(K - 2 * np.eye(8) * np.linalg.eigvalsh(K)[0] - np.eye(8), path="k.txt")
    with pytest.raises(InputError, match="all entries are zero"):
        check_kinship(np.zeros((3, 3)))
