"""The ``.bed`` bytes of a PLINK 1 fileset as 2-bit call codes, for any samples and SNPs.

A SNP-major ``.bed`` file holds, after its 3 magic bytes, one row of ⌈N/4⌉ bytes per SNP; the
call of sample i is the 2-bit field at bits 2(i mod 4) and 2(i mod 4) + 1 of byte i // 4 (the
lowest bits first).  Its value, the *code*, is

    0 (binary 00): two copies of a1 (.bim column 5),   1 (01): missing,
    2 (10): one copy,                                   3 (11): no copy (two of a2),

so the dosage of a1 (bed-reader's ``count_A1=True``, GEMMA's and FaST-LMM's coding) is
:data:`CODE_DOSAGE`\\[code].  The fields past the last sample of a row are padding (0).

:class:`BedCodes` maps the file (``numpy.memmap``: it is read from disk once, later passes read
the page cache) and turns a block of SNPs into an (m SNPs × n samples) ``uint8`` array of codes
for the chosen samples, by one table look-up per byte (a byte holds four codes).  Turning codes
into dosages, counts and imputed values is :mod:`exactlmm.dosage`'s job.
"""

from __future__ import annotations

import os

import numpy as np

from exactlmm.parallel import Workspace

BED_MAGIC = b"\x6c\x1b\x01"
"""First three bytes of a SNP-major PLINK 1 ``.bed`` file."""

MISSING_CODE = 1
CODE_DOSAGE = np.array([2.0, np.nan, 1.0, 0.0])
"""Copies of a1 per 2-bit code (NaN: missing)."""

#: The four codes of every byte value, in sample order, packed in one native uint32 whose bytes
#: are the codes (so a uint32 look-up per byte, viewed as uint8, gives four codes at once).
_BYTE_CODES = np.array(
    [[(value >> (2 * k)) & 3 for k in range(4)] for value in range(256)], dtype=np.uint8
)
_BYTE_CODES32 = _BYTE_CODES.view(np.uint32).ravel()


def row_bytes(n_samples: int) -> int:
    """Bytes per SNP in a ``.bed`` file of ``n_samples`` samples: ⌈n/4⌉."""
    return (n_samples + 3) // 4


class BedCodes:
    """Call codes of the samples ``sample_index`` (positions in ``.fam`` order, the order kept;
    ``None`` for all) from the ``.bed`` file ``path`` of ``n_samples`` × ``n_snps``.

    The file's size and magic bytes are checked by :func:`exactlmm.io.plink.open_plink`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        n_samples: int,
        n_snps: int,
        sample_index: np.ndarray | None = None,
    ) -> None:
        self.path = path
        self.n_total = int(n_samples)
        self.row_bytes = row_bytes(n_samples)
        self._bytes = np.memmap(path, dtype=np.uint8, mode="r", offset=len(BED_MAGIC),
                                shape=(int(n_snps), self.row_bytes))
        if sample_index is None:
            self.samples: np.ndarray | None = None
            self.n_samples = self.n_total
        else:
            samples = np.asarray(sample_index, dtype=np.intp)
            everyone = samples.size == self.n_total and np.array_equal(
                samples, np.arange(self.n_total))
            self.samples = None if everyone else samples
            self.n_samples = int(samples.size)

    def raw(self, snps: np.ndarray | slice) -> np.ndarray:
        """The ``.bed`` rows of the SNPs (positions, or a slice): m × ⌈N/4⌉ bytes."""
        return np.asarray(self._bytes[snps])

    def codes(self, snps: np.ndarray | slice, workspace: Workspace | None = None,
              name: str = "") -> np.ndarray:
        """Codes of the selected samples for the SNPs: an m × n ``uint8`` array (C order).

        With a ``workspace`` the arrays are its (named ``name``…; see
        :class:`exactlmm.parallel.Workspace`)."""
        raw = self.raw(_as_slice(snps))
        m = raw.shape[0]
        every = (np.empty(raw.shape, np.uint32) if workspace is None
                 else workspace.array(f"{name}every", raw.shape, np.uint32))
        np.take(_BYTE_CODES32, raw, out=every, mode="clip")
        every = every.view(np.uint8)  # m × 4⌈N/4⌉, padding included
        if self.samples is None:
            return every[:, : self.n_total]
        out = (np.empty((m, self.n_samples), np.uint8) if workspace is None
               else workspace.array(f"{name}codes", (m, self.n_samples), np.uint8))
        return np.take(every, self.samples, axis=1, out=out, mode="clip")


def _as_slice(snps: np.ndarray | slice) -> np.ndarray | slice:
    """A run of consecutive positions as a slice (a view of the map instead of a copy)."""
    if isinstance(snps, slice):
        return snps
    snps = np.asarray(snps)
    if snps.size and snps[-1] - snps[0] == snps.size - 1 and np.all(np.diff(snps) == 1):
        return slice(int(snps[0]), int(snps[-1]) + 1)
    return snps
