"""Square symmetric matrices in place, a tile at a time (no n × n temporary).

For n = 10,000 one n × n float64 matrix is 0.8 GB, so ``(K + K.T) / 2`` (two temporaries) or
``np.tril_indices`` (two 50-million-entry index arrays) would each cost more than K itself.
"""

from __future__ import annotations

import numpy as np

TILE = 512


def _tiles(n: int) -> list[tuple[int, int]]:
    return [(i, min(i + TILE, n)) for i in range(0, n, TILE)]


def symmetrize(k: np.ndarray) -> np.ndarray:
    """K ← (K + Kᵀ)/2 in place, entry by entry the same numbers as ``(K + K.T) / 2``."""
    tiles = _tiles(k.shape[0])
    for a, (i0, i1) in enumerate(tiles):
        for j0, j1 in tiles[a:]:
            mean = (k[i0:i1, j0:j1] + k[j0:j1, i0:i1].T) / 2
            k[i0:i1, j0:j1] = mean
            k[j0:j1, i0:i1] = mean.T
    return k


def fill_lower(k: np.ndarray) -> np.ndarray:
    """Copy the upper triangle onto the lower one, in place (K exactly symmetric)."""
    tiles = _tiles(k.shape[0])
    for a, (i0, i1) in enumerate(tiles):
        for j0, j1 in tiles[a:]:
            block = k[i0:i1, j0:j1]
            if i0 == j0:
                block = np.triu(block)
                k[i0:i1, j0:j1] = block + np.triu(block, 1).T
            else:
                k[j0:j1, i0:i1] = block.T
    return k


def max_asymmetry(k: np.ndarray) -> tuple[float, tuple[int, int]]:
    """max |K[i, j] − K[j, i]| and one (i, j) where it is reached."""
    best, where = -1.0, (0, 0)
    tiles = _tiles(k.shape[0])
    for a, (i0, i1) in enumerate(tiles):
        for j0, j1 in tiles[a:]:
            diff = np.abs(k[i0:i1, j0:j1] - k[j0:j1, i0:i1].T)
            if diff.size and diff.max() > best:
                r, c = np.unravel_index(np.argmax(diff), diff.shape)
                best, where = float(diff[r, c]), (i0 + int(r), j0 + int(c))
    return best, where


def max_abs(k: np.ndarray) -> float:
    """max |K[i, j]|, a slab of rows at a time."""
    return max(float(np.abs(k[i0:i1]).max()) for i0, i1 in _tiles(k.shape[0]))
