"""SHA-256 of files: how outputs name what they go with (a table its record, a model its
archive) and how a model recognises its inputs."""

from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of the file's bytes, read 4 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(2**22), b""):
            digest.update(piece)
    return digest.hexdigest()
