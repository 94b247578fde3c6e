"""The one writer: every output is checked before any work, written beside its place, and renamed in.

A destination may be a new path, or (with ``force``) a regular file or a folder imdata
wrote; never a device, a pipe or someone else's folder. Its folder must be writable, which
is tried, not guessed. Two destinations of one command must differ (an output, its
manifest and its rejects file included). Content goes to a hidden temporary file
``.NAME.imdata-PID.part`` beside the target, created with the umask's permissions,
flushed to disk (fsync) and renamed into place; a group of outputs (an output and its
manifest) is renamed together after all are written. A name ending in ``.gz`` is written
gzip-compressed (no time stamp or file name in the header: same content, same bytes), one
ending in ``.zst`` zstandard-compressed, the two compressions imdata reads. An error, Ctrl-C or SIGTERM removes
the temporary files; those of a process that was killed outright are removed by the next
run that writes into the same folder.

>>> check_destinations({"-o": "out.jsonl", "--rejects": "out.jsonl"}, force=False)  # doctest: +SKIP
imdata.errors.OutputError: --rejects out.jsonl: is also -o; give each output its own path
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import signal
import stat
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from imdata.data.output_names import compression
from imdata.errors import OutputError

_PART = ".part"
#: a file imdata puts in every folder it writes, so that --force may replace that folder
FOLDER_MARK = ".imdata-output"


def check_destinations(
    named: Mapping[str, str | os.PathLike[str] | None], *, force: bool, folders: tuple[str, ...] = ()
) -> None:
    """Check every destination of one command before any work; ``named`` maps option to path.

    Options in ``folders`` may be (or replace) a folder imdata wrote; the others are files.
    """
    seen: dict[str, str] = {}
    for option, path in named.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise OutputError(f"{option} {path}: is also {seen[key]}; give each output its own path")
        seen[key] = option
        check_destination(path, force=force, option=option, folder=option in folders)


def same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file (links and ``..`` resolved)."""
    return os.path.realpath(a) == os.path.realpath(b)


def check_destination(path: str | os.PathLike[str], *, force: bool, option: str = "", folder: bool = False) -> None:
    """Refuse a destination that cannot or must not be written, naming the option and the fix."""
    target = Path(path)
    name = f"{option} {target}" if option else str(target)
    try:
        st = target.lstat() if target.is_symlink() else target.stat()
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputError(f"{name}: cannot be inspected ({e.strerror})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            if not folder:
                raise OutputError(f"{name}: is a folder; give a file name")
            if not (target / FOLDER_MARK).is_file():
                raise OutputError(f"{name}: is a folder imdata did not write; choose a new path")
        elif not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
            raise OutputError(f"{name}: is not a regular file (a device, pipe or socket); choose a file path")
        if not force:
            raise OutputError(f"{name}: already exists; pass --force to overwrite it")
    check_folder_writable(target.parent, name)


def check_folder_writable(folder: Path, name: str) -> None:
    """Refuse a folder that cannot be created or written in, by trying (root ignores permission bits)."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{name}: {existing} is not a folder; choose another path")
    probe = existing / f".imdata-probe-{os.getpid()}{_PART}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{name}: cannot write in {existing} ({e.strerror}); choose another folder") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale(folder: Path) -> None:
    """Remove the temporary files of imdata processes that no longer run (killed mid-write)."""
    with contextlib.suppress(OSError):
        for p in folder.glob(f".*.imdata-*{_PART}"):
            pid = p.name.rsplit(".imdata-", 1)[1].removesuffix(_PART)
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outputs:
    """A group of outputs written together: each to a temporary file, all renamed at the end.

    >>> with Outputs(force=False) as out:                       # doctest: +SKIP
    ...     out.file("x.jsonl").write("...")
    ...     out.file("x.jsonl.manifest.json").write("{}")
    """

    def __init__(self, *, force: bool) -> None:
        self.force = force
        self._parts: list[tuple[Path, Path, bool]] = []  # (temporary, target, is folder)
        self._handles: list[tuple[IO[Any], IO[bytes]]] = []  # (what the caller writes to, the file on disk)

    def _temp(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target.parent)
        return target.with_name(f".{target.name}.imdata-{os.getpid()}{_PART}")

    def file(self, path: str | os.PathLike[str], *, binary: bool = False) -> IO[Any]:
        """A handle to write ``path``'s content to; it lands at ``path`` when the group commits."""
        target = Path(path)
        check_destination(target, force=self.force)
        tmp = self._temp(target)
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o666 & ~_umask())
        self._parts.append((tmp, target, False))
        raw: IO[bytes] = os.fdopen(fd, "wb")
        packed = _compressed(raw, target)
        fh: IO[Any] = packed if binary else io.TextIOWrapper(packed, encoding="utf-8", newline="\n")
        self._handles.append((fh, raw))
        return fh

    def folder(self, path: str | os.PathLike[str]) -> Path:
        """A fresh temporary folder to fill; it replaces ``path`` when the group commits."""
        target = Path(path)
        check_destination(target, force=self.force, folder=True)
        tmp = self._temp(target)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(mode=0o777 & ~_umask())
        (tmp / FOLDER_MARK).write_text("written by imdata; --force may replace this folder\n")
        self._parts.append((tmp, target, True))
        return tmp

    def __enter__(self) -> Outputs:
        self._restore = _on_sigterm_raise()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if kind is None:
                self._commit()
        except OSError as e:
            self._discard()
            raise OutputError(f"{e.filename or 'output'}: cannot be written ({e.strerror})") from None
        except BaseException:
            self._discard()
            raise
        else:
            if kind is not None:
                self._discard()
                if isinstance(exc, OSError) and _is_write_error(exc):
                    why = f"cannot write the output ({exc.strerror})"
                    raise OutputError(f"{why}; free some space or choose another folder") from None
        finally:
            self._restore()

    def _commit(self) -> None:
        for fh, raw in self._handles:
            layer = fh.detach() if isinstance(fh, io.TextIOWrapper) else fh  # flushes the text
            if layer is not raw:
                layer.close()  # ends the compressed stream; the file below stays open
            raw.flush()
            os.fsync(raw.fileno())
            raw.close()
        for tmp, _, is_folder in self._parts:
            if is_folder:
                for f in tmp.rglob("*"):
                    if f.is_file():
                        _fsync_path(f)
        for tmp, target, is_folder in self._parts:
            if is_folder and target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif is_folder and target.exists():
                target.unlink()
            os.replace(tmp, target)
        for folder in {target.parent for _, target, _ in self._parts}:
            _fsync_path(folder)

    def _discard(self) -> None:
        for handles in self._handles:
            for fh in handles:
                with contextlib.suppress(OSError, ValueError):
                    fh.close()
        for tmp, _, is_folder in self._parts:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp) if is_folder else tmp.unlink()


def _compressed(raw: IO[bytes], target: Path) -> IO[bytes]:
    """``raw`` behind the compressor ``target``'s name asks for; closing it leaves ``raw`` open."""
    kind = compression(target)
    if kind == "gzip":
        # filename="" and mtime=0: no name or time in the header, so the same content gives the same bytes
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0)  # type: ignore[return-value]
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().stream_writer(raw, closefd=False)
    return raw


def _is_write_error(exc: BaseException) -> bool:
    import errno

    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)


def _fsync_path(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised so that temporary files are removed on the way out."""


def _on_sigterm_raise() -> Any:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        return lambda: None  # someone else handles SIGTERM; leave theirs in place

    def handler(signum: int, frame: Any) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, force: bool = False, binary: bool = False) -> Iterator[IO[Any]]:
    """Write one file through :class:`Outputs`: nothing at ``path`` unless the block succeeds."""
    with Outputs(force=force) as out:
        yield out.file(path, binary=binary)


__all__ = [
    "FOLDER_MARK",
    "Outputs",
    "Terminated",
    "atomic_output",
    "check_destination",
    "check_destinations",
    "remove_stale",
]
