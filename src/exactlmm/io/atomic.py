"""Write files atomically: to a temporary file in the same folder, then rename.

One file (:func:`atomic_write`, :func:`write_text_atomic`) or a group of files that appear
together or not at all (:class:`FileGroup`: an association table and its ``null.json``, a saved
model's ``.npz`` and its ``.json``).

Temporary files are named ``.{target name}.{host}.{pid}.{random}.tmp`` beside their target.  They
are removed when the write fails or the process is stopped by an exception — SIGTERM and SIGINT
included, once :func:`exit_on_signals` has made them exceptions (the command line does) — and,
after a SIGKILL, by the next write to the same target on the same host (a temporary file whose
process is no longer alive is stale).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from exactlmm.errors import InputError

_HOST = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in socket.gethostname()) or "host"


def _temporary_prefix(target: Path) -> str:
    return f".{target.name}.{_HOST}."


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of ``target`` left by processes of this host that are no
    longer alive (a write stopped by SIGKILL); return them.  Those of live processes (a write in
    progress) and of other hosts (a shared file system) are left alone."""
    target = Path(target)
    prefix = _temporary_prefix(target)
    removed = []
    try:
        names = os.listdir(target.parent)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid_text = name[len(prefix):].partition(".")[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target.parent / name)
            removed.append(target.parent / name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _temporary(target: Path, mode: str) -> Iterator[tuple[IO, Path]]:
    """A temporary file beside ``target`` (parents created, stale ones removed), open in
    ``mode``; removed if the block raises.  A folder that cannot be made or written, and a
    write that fails for want of room, are an ``InputError`` naming ``target``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target)
        fd, tmp = tempfile.mkstemp(prefix=f"{_temporary_prefix(target)}{os.getpid()}.",
                                   suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _write_error(target, err) from None
    try:
        # mkstemp creates 0600; give the output the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as handle:
            yield handle, Path(tmp)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.filename is None and err.errno in _NO_ROOM:
            raise _write_error(target, err) from None
        raise


#: Errors of a write that did not fit (a read never raises these).
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _write_error(target: Path, err: OSError) -> InputError:
    if isinstance(err, (FileExistsError, NotADirectoryError)):
        blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return InputError(f"cannot write it: {blocker} is a file, not a folder",
                              path=target)
    return InputError(f"cannot write it ({err.strerror or err})", path=target)


def _replace(tmp: Path, target: Path) -> None:
    try:
        os.replace(tmp, target)
    except OSError as err:
        raise _write_error(target, err) from None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched, so a
    reader never sees a half-written output.  Parent folders are created as needed.
    """
    target = Path(path)
    with _temporary(target, mode) as (handle, tmp):
        yield handle
    try:
        _replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


class FileGroup:
    """Files that a reader sees together or not at all.

    Each file is written whole to a temporary file beside its target (:meth:`open`,
    :meth:`write_bytes`, :meth:`write_text`); :meth:`commit` then (1) removes every *seal* target
    — the file whose presence says the group is complete, e.g. a ``null.json`` — (2) renames the
    other files into place and (3) renames the seals last.  At every instant a seal on disk
    belongs with the files beside it: a process stopped at any point (SIGKILL included) leaves
    either the old group, or files without their seal, never a seal beside another run's files.
    A seal should also name what it seals (a checksum) so that a reader can tell.

    Used as a context manager, an exception before :meth:`commit` removes every temporary file
    and leaves the targets as they were.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with FileGroup() as group:
    ...     group.write_text(folder / "a.tsv", "x\\n")
    ...     group.write_text(folder / "a.json", "{}\\n", seal=True)
    ...     group.commit()
    >>> sorted(p.name for p in folder.iterdir())
    ['a.json', 'a.tsv']
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path, bool]] = []  # (temporary, target, seal)
        self._committed = False

    @contextlib.contextmanager
    def open(self, path: str | os.PathLike[str], mode: str = "wb", *, seal: bool = False
             ) -> Iterator[IO]:
        """A handle on the temporary file of ``path``; kept for :meth:`commit` when the block
        ends without an exception."""
        target = Path(path)
        if any(t == target for _, t, _ in self._pending):
            raise ValueError(f"{target} is already in this group")
        with _temporary(target, mode) as (handle, tmp):
            yield handle
        self._pending.append((tmp, target, seal))

    def temporary(self, path: str | os.PathLike[str]) -> Path:
        """The temporary file written for ``path`` (complete once its block has ended)."""
        return next(tmp for tmp, target, _ in self._pending if target == Path(path))

    def write_bytes(self, path: str | os.PathLike[str], data: bytes, *, seal: bool = False
                    ) -> None:
        with self.open(path, "wb", seal=seal) as handle:
            handle.write(data)

    def write_text(self, path: str | os.PathLike[str], text: str, *, seal: bool = False
                   ) -> None:
        with self.open(path, "w", seal=seal) as handle:
            handle.write(text)

    def commit(self) -> None:
        """Put the group in place: old seals removed, the other files renamed, then the
        seals."""
        if self._committed:
            raise ValueError("this group is committed already")
        for _, target, seal in self._pending:
            if seal:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(target)
        for tmp, target, _ in sorted(self._pending, key=lambda item: item[2]):  # seals last
            _replace(tmp, target)
        self._pending.clear()
        self._committed = True

    def discard(self) -> None:
        """Remove every temporary file not yet committed."""
        for tmp, _, _ in self._pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._pending.clear()

    def __enter__(self) -> FileGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM once :func:`exit_on_signals` is in effect: a
    ``BaseException`` like ``KeyboardInterrupt``, so that every ``finally`` and cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signal.Signals(signum).name}")
        self.signum = signum


@contextlib.contextmanager
def exit_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM (what SLURM, Snakemake and ``kill`` send) raises
    :class:`Terminated` in the main thread, and SIGINT ``KeyboardInterrupt`` (Python's
    default), so that temporary files are removed on the way out; the handlers before are put
    back after.  A signal is handled between Python bytecodes: one that arrives during a long
    LAPACK call takes effect when it returns.  Outside the main thread, nothing changes."""

    def terminate(signum: int, frame: object) -> None:
        raise Terminated(signum)

    try:
        before = {s: signal.signal(s, h) for s, h in ((signal.SIGTERM, terminate),
                                                       (signal.SIGINT, signal.default_int_handler))}
    except ValueError:  # not the main thread: signals are not ours to handle
        before = {}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
