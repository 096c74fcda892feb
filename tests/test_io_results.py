"""Tests for exactlmm.io.results: the .assoc.tsv table and the null.json record."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exactlmm.errors import InputError
from exactlmm.io.results import (
    ASSOC_COLUMNS,
    read_assoc_tsv,
    read_null_json,
    write_assoc_tsv,
    write_null_json,
)

# --------------------------------------------------------------------------- assoc.tsv


def assoc_columns(m: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {name: rng.random(m) for name in ASSOC_COLUMNS}
    columns.update(
        chrom=np.array(["1", "X"])[rng.integers(0, 2, m)],
        snp=np.array([f"rs{j}" for j in range(m)]),
        pos=rng.integers(1, 10**8, m),
        a1=np.full(m, "A"),
        a2=np.full(m, "G"),
        n=np.full(m, 1410.0),
        errcode=np.array([".", "MONOMORPHIC"])[rng.integers(0, 2, m)],
    )
    columns["p_wald"] = 10.0 ** -rng.uniform(0, 300, m)
    columns["delta_ml"] = np.full(m, np.nan)
    columns["p_lrt"] = [None] * m
    return columns


def test_assoc_round_trip(tmp_path):
    columns = assoc_columns(50, seed=2)
    path = tmp_path / "x.assoc.tsv"
    write_assoc_tsv(path, columns)
    text = path.read_text()
    assert text.splitlines()[0] == "\t".join(ASSOC_COLUMNS)
    back = read_assoc_tsv(path)
    assert list(back) == list(ASSOC_COLUMNS)
    for name in ("chrom", "snp", "a1", "a2"):
        np.testing.assert_array_equal(back[name], columns[name])
    assert back["pos"].dtype == np.int64 and back["n"].dtype == np.int64
    np.testing.assert_array_equal(back["pos"], columns["pos"])
    for name in ("af", "beta", "se", "p_wald", "p_score", "delta"):
        np.testing.assert_allclose(back[name], columns[name], rtol=1e-9, atol=0)
    assert np.isnan(back["p_lrt"]).all() and np.isnan(back["delta_ml"]).all()
    assert "\tNA\t" in text and "nan" not in text
    write_assoc_tsv(path, back)  # writing what was read gives the same bytes
    assert path.read_text() == text


def test_assoc_na_in_integer_column_and_inf(tmp_path):
    columns = assoc_columns(3, seed=3)
    columns["n"] = np.array([10.0, np.nan, 12.0])
    columns["delta"] = np.array([np.inf, 1.0, 2.0])
    path = tmp_path / "x.assoc.tsv"
    write_assoc_tsv(path, columns)
    back = read_assoc_tsv(path)
    np.testing.assert_array_equal(back["n"], [10.0, np.nan, 12.0])
    assert back["delta"][0] == np.inf


def test_assoc_writer_rejects_bad_columns(tmp_path):
    columns = assoc_columns(3, seed=4)
    path = tmp_path / "x.assoc.tsv"
    with pytest.raises(ValueError, match="missing"):
        write_assoc_tsv(path, {k: v for k, v in columns.items() if k != "se"})
    with pytest.raises(ValueError, match="has 2 values"):
        write_assoc_tsv(path, {**columns, "se": np.ones(2)})
    with pytest.raises(ValueError, match="integers"):
        write_assoc_tsv(path, {**columns, "n": np.array([1.5, 2, 3])})
    with pytest.raises(ValueError, match="tab"):
        write_assoc_tsv(path, {**columns, "snp": np.array(["a", "b\tc", "d"])})
    assert not path.exists()


def test_assoc_reader_errors(tmp_path):
    path = tmp_path / "bad.assoc.tsv"
    path.write_text("chrom\tsnp\tpos\n1\trs1\t5\n")
    with pytest.raises(InputError, match=r"bad\.assoc\.tsv: missing columns a1, a2, n"):
        read_assoc_tsv(path)
    good = tmp_path / "good.assoc.tsv"
    write_assoc_tsv(good, assoc_columns(2, seed=5))
    lines = good.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], lines[2] + "\textra"]) + "\n")
    with pytest.raises(InputError, match=rf"bad\.assoc\.tsv: line 3: {len(ASSOC_COLUMNS) + 1} "
                       "fields"):
        read_assoc_tsv(path)
    fields = lines[2].split("\t")
    fields[ASSOC_COLUMNS.index("beta")] = "big"
    path.write_text("\n".join([lines[0], lines[1], "\t".join(fields)]) + "\n")
    with pytest.raises(InputError, match=r"bad\.assoc\.tsv: line 3, column beta: 'big' is not"):
        read_assoc_tsv(path)


# --------------------------------------------------------------------------- null.json


def null_record() -> dict[str, object]:
    return {
        "tool": "exactlmm",
        "version": "0.1.0",
        "likelihood": "REML",
        "gamma": np.float64(4.343368),
        "delta": 1 / 4.343368,
        "loglik": -1584.0740,
        "beta": np.array([0.1, -0.2]),
        "n_samples": np.int64(1410),
        "sigma_g2": float("nan"),
        "native": {"h": np.float32(0.5), "flags": (True, None)},
    }


def test_null_json_round_trip(tmp_path):
    path = tmp_path / "x.null.json"
    write_null_json(path, null_record())
    text = path.read_text()
    assert text.endswith("}\n") and list(json.loads(text))[:4] == [
        "status", "tool", "version", "likelihood"
    ]
    back = read_null_json(path)
    assert back["gamma"] == 4.343368 and back["delta"] == 1 / 4.343368
    assert back["beta"] == [0.1, -0.2] and back["n_samples"] == 1410
    assert back["sigma_g2"] is None
    assert back["native"] == {"h": 0.5, "flags": [True, None]}
    write_null_json(path, back)
    assert path.read_text() == text


def test_null_json_writer_rejects_infinity(tmp_path):
    path = tmp_path / "x.null.json"
    with pytest.raises(ValueError, match="infinity"):
        write_null_json(path, {**null_record(), "delta": np.inf})
    assert not path.exists()


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('{"tool": "gemma", "gamma": 1.0}', r"x\.null\.json: missing keys loglik, likelihood"),
        ('{"tool": "gemma", "gamma": 1.0, "loglik": 0, "likelihood": "REMLX"}',
         r"x\.null\.json: likelihood is 'REMLX'"),
        ('{"tool": "gemma", "gamma": -1, "loglik": 0, "likelihood": "ML"}',
         r"x\.null\.json: gamma is -1"),
        ('{"tool": "gemma",\n "gamma": }', r"x\.null\.json: not valid JSON \(line 2"),
    ],
)
def test_null_json_reader_errors_name_the_file(tmp_path, text, pattern):
    path = tmp_path / "x.null.json"
    path.write_text(text)
    with pytest.raises(InputError, match=pattern):
        read_null_json(path)


def test_assoc_writer_text_equals_per_value_formatting(tmp_path):
    """The writer's shortcuts (a constant column, an all-NA one, few distinct values formatted
    once) write exactly what formatting every value with %.10g / %d would."""
    m = 40000
    rng = np.random.default_rng(9)
    columns = assoc_columns(m, seed=3)
    columns.update(
        n=rng.integers(395, 401, m),
        af=rng.integers(0, 801, m) / 800.0,
        delta=np.full(m, 0.123456789012345),
        delta_ml=np.full(m, np.nan),
        p_lrt=np.where(rng.random(m) < 0.1, np.nan, rng.random(m)),
        beta=np.where(rng.random(m) < 0.5, np.nan, rng.integers(0, 5, m) * 0.1),
    )
    path = tmp_path / "a.assoc.tsv"
    write_assoc_tsv(path, columns)
    lines = ["\t".join(ASSOC_COLUMNS)]
    cells = []
    for name in ASSOC_COLUMNS:
        values = np.asarray(columns[name])
        if name in ("chrom", "snp", "a1", "a2", "errcode"):
            cells.append([str(v) for v in values])
        elif name in ("pos", "n"):
            cells.append([f"{v:d}" for v in values.astype(np.int64).tolist()])
        else:
            floats = np.array([np.nan if v is None else v for v in values], dtype=float)
            cells.append(["NA" if np.isnan(v) else f"{v:.10g}" for v in floats.tolist()])
    lines += ["\t".join(row) for row in zip(*cells, strict=True)]
    assert path.read_text() == "\n".join(lines) + "\n"
