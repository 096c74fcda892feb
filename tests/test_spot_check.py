"""Tests for lmmcompare.runners.spot_check: its GLS at a tool's δ is the dense Wald test, and a
tool's numbers that differ from it (a flipped allele) fail the run."""

from __future__ import annotations

import numpy as np
from peer_helpers import dense_wald

from lmmcompare.runners.spot_check import gls_at_delta


def test_gls_at_delta_is_the_dense_wald_test():
    rng = np.random.default_rng(3)
    n = 90
    Z = rng.standard_normal((n, 150))
    K = Z @ Z.T / 150
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    G = rng.binomial(2, 0.3, size=(n, 4)).astype(np.float64)
    y = X @ [1.0, 0.5, -0.2] + Z @ rng.standard_normal(150) / 12 + 0.6 * G[:, 0] \
        + rng.standard_normal(n)
    beta, p = gls_at_delta(K, X, y, G, 1.7)
    dense = dense_wald(K + 1.7 * np.eye(n), y, X, G)
    assert np.allclose(beta, dense["beta"], rtol=1e-10)
    assert np.allclose(np.log(p), np.log(dense["p_wald"]), rtol=1e-10)
