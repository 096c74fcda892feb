"""The one way text inputs are read: UTF-8 with or without a byte-order mark, any line ending.

Every reader of a text input (phenotype and covariate files, ``.fam``, ``.bim``, SNP lists,
kinship matrices, ``.grm.id``, result tables, JSON records) starts from :func:`read_text`, so
that a file saved by a spreadsheet or an editor on Windows (a UTF-8 BOM, CRLF line ends) reads
as the same file without them, and every failure to read is one line naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from exactlmm.errors import InputError

UTF8_BOM = b"\xef\xbb\xbf"


def read_text(path: str | os.PathLike[str], kind: str = "file") -> str:
    """The text of ``path``: UTF-8, a leading byte-order mark dropped (``utf-8-sig``), every
    line end (``\\r\\n``, ``\\r``) made ``\\n``.  Errors (``InputError`` naming the file):
    it does not exist (``"{kind} not found"``), is a folder, cannot be read, or is not UTF-8.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{kind} not found", path=path) from None
    except IsADirectoryError:
        raise InputError(f"a folder, not a {kind}", path=path) from None
    except OSError as err:
        raise InputError(f"cannot read it ({err.strerror})", path=path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"not a text file ({err.reason} at byte {err.start})",
                         path=path) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def check_unique_samples(rows: list[tuple[int, list[str]]], path: str | os.PathLike[str]
                         ) -> None:
    """Each sample once: the (FID, IID) pair of the first two fields of every row
    ``(line number, fields)``; else an ``InputError`` naming both lines."""
    seen: dict[tuple[str, str], int] = {}
    for lineno, fields in rows:
        key = (fields[0], fields[1])
        if key in seen:
            raise InputError(f"line {lineno}: sample FID={key[0]} IID={key[1]} appears again "
                             f"(first on line {seen[key]}); sample IDs must be unique",
                             path=path)
        seen[key] = lineno


def split_lines(path: str | os.PathLike[str], kind: str = "file"
                ) -> list[tuple[int, list[str]]]:
    """The whitespace-separated fields of every non-blank line of ``path``
    (:func:`read_text`), with its 1-based line number."""
    text = read_text(path, kind)
    return [(i, fields) for i, line in enumerate(text.splitlines(), 1) if (fields := line.split())]
