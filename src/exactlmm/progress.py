"""Progress bars on stderr (tqdm, imported only when a bar is wanted)."""

from __future__ import annotations

import sys
from typing import Any


class _NoBar:
    """What a disabled bar is: ``update`` and the context manager do nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(total: int | None, desc: str, enabled: bool) -> Any:
    """A tqdm bar counting SNPs on stderr when ``enabled`` (and stderr is a terminal or tqdm
    is forced), else an object with the same ``update``/``close``/``with`` interface that does
    nothing (and costs no tqdm import)."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="SNP", desc=desc, file=sys.stderr, disable=None,
                mininterval=0.5)
