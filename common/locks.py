"""One writer per output folder: an advisory lock beside the folder, and the atomic swap of a completed folder.

Two commands writing into the same folder at once (two runs, two builds, two perturbation suites, two stimulus runs)
would overwrite each other's files. Each takes :func:`folder_lock` on its output folder first; the second one is
refused at once with one paragraph naming the folder, the process that holds it (pid, host, command, start time) and
what to do (:class:`FolderBusyError`, exit code 2 at the command line). It does not wait: a second writer started by
mistake learns it at once, and nothing can hang.

The lock is :func:`fcntl.flock` on ``<parent>/.<name>.lock`` (beside the folder, since builds and stimulus runs
replace the folder itself by a rename). The kernel releases it when its process ends in any way, SIGKILL included,
so a killed command never blocks the next one; the lock file a killed command leaves behind is reused, and removed
by the next holder when it releases it. When the parent folder cannot take a file (read-only) the lock lives inside
the folder as ``.lock`` (for folders that are written in place, never renamed). On NFS, Linux maps ``flock`` to NFS
byte-range locks, which hold across hosts.

:func:`replace_folder` puts a completed folder in place of the previous one with one atomic exchange
(``renameat2(RENAME_EXCHANGE)``, Linux) where the file system allows it, and with two renames otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import shlex
import shutil
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from .errors import UserError

LOCK_SUFFIX = ".lock"
INSIDE_LOCK = ".lock"
#: How long to wait for a new holder to write its details into the lock file (s), before naming it without them.
DETAILS_WAIT_S = 1.0


class FolderBusyError(UserError):
    """Another live process holds the lock of the output folder."""


def lock_path(folder: Path) -> Path:
    """The lock file of ``folder``: ``<parent>/.<name>.lock``, the parent with its links resolved (two names of one
    parent folder give one lock)."""
    folder = Path(folder).absolute()
    return folder.parent.resolve() / f".{folder.name}{LOCK_SUFFIX}"


def _command() -> str:
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    text = " ".join(shlex.join(argv).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _details(what: str) -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "what": what, "command": _command(),
            "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}


def read_holder(path: Path, wait_s: float = DETAILS_WAIT_S) -> dict | None:
    """The details the holder of lock file ``path`` wrote into it (None if there are none within ``wait_s``)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            holder = json.loads(Path(path).read_text())
            if isinstance(holder, dict):
                return holder
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def describe_holder(holder: dict | None) -> str:
    """``holder`` (:func:`read_holder`) in words, e.g. ``a run (process 123 on host, started ...: python ...)``."""
    if not holder:
        return "another process (it has not yet written its details into the lock file)"
    return (f"{holder.get('what', 'another process')} (process {holder.get('pid', '?')} on {holder.get('host', '?')}"
            f", started {holder.get('started', '?')}: {holder.get('command', '?')})")


class FolderLock:
    """The lock of one output folder; use as a context manager, or :meth:`acquire` and :meth:`release`.

    Parameters
    ----------
    folder : Path
        The output folder (need not exist; its parent is created).
    what : str
        What this process does to the folder, for the message another process gets (e.g. ``"a network build"``).
    inside_ok : bool
        The folder is written in place, never renamed: when its parent cannot take the lock file, lock
        ``<folder>/.lock`` instead.
    """

    def __init__(self, folder: Path, what: str, inside_ok: bool = False):
        self.folder = Path(folder).absolute()
        self.what = what
        self.inside_ok = inside_ok
        self.path = lock_path(self.folder)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            if not self.inside_ok or err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
        self.path = self.folder / INSIDE_LOCK
        self.folder.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def acquire(self) -> FolderLock:
        """Take the lock, or refuse at once.

        Raises
        ------
        FolderBusyError
            If another process holds it: the message names the folder, that process and what to do.
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this lock object")
        for _ in range(100):
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = read_holder(self.path)
                raise FolderBusyError(
                    f"{self.folder} is in use: {describe_holder(holder)} is writing into it (it holds the lock "
                    f"{self.path}); {self.what} cannot write into the same folder at the same time (each would "
                    f"overwrite the other's files), so this one stops without writing anything. Wait until it has "
                    f"finished and run this again, or "
                    f"stop it first (kill {holder.get('pid', '<pid>') if holder else '<pid>'}"
                    f"{' on ' + str(holder.get('host')) if holder else ''}; what it has not completed is not kept), "
                    f"or give this command another output folder.") from None
            except BaseException:
                os.close(fd)
                raise
            # the previous holder removes the file when it releases it: lock only the file that is still there
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        else:
            raise FolderBusyError(f"{self.path}: could not take this lock file (it keeps being replaced); "
                                  f"check which processes write into {self.folder} and run this again.")
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(_details(self.what)) + "\n").encode(), 0)
        except OSError as err:  # a full disk: name the file (os.pwrite's error names none)
            self.release()
            raise OSError(err.errno, err.strerror, str(self.path)) from None
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        """Remove the lock file and release the lock (nothing if not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.unlink(self.path)  # still holding it: nobody else can have locked this file
        except OSError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            self.release()


def folder_lock(folder: Path, what: str, inside_ok: bool = False) -> FolderLock:
    """The lock of ``folder`` (:class:`FolderLock`): ``with folder_lock(out, "a network build"): ...``."""
    return FolderLock(folder, what, inside_ok)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def exchange(a: Path, b: Path) -> bool:
    """Swap the two existing paths ``a`` and ``b`` in one atomic step; False where the system cannot."""
    function = _renameat2() if sys.platform.startswith("linux") else None
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def replace_folder(new: Path, target: Path, old: Path) -> None:
    """Put the completed folder ``new`` at ``target``; remove the previous ``target`` (moved to ``old`` first).

    With an atomic exchange ``target`` always holds a complete folder, the previous or the new one. Without it,
    ``target`` is renamed to ``old`` and ``new`` to ``target``: a process killed between the two leaves the previous
    folder at ``old`` (which the next writer puts back, see the callers).
    """
    new, target, old = Path(new), Path(target), Path(old)
    if target.exists() or target.is_symlink():
        if exchange(new, target):
            os.rename(new, old)
        else:
            os.rename(target, old)
            os.rename(new, target)
        if old.is_symlink():  # the previous target was a link to a folder: the link goes, not what it points to
            old.unlink()
        else:
            shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, target)


#: Kinds of folders a writer of ``<parent>/<name>`` keeps beside it while it works: ``.<name>.<kind>-<suffix>``.
LEFTOVER_KINDS = ("building", "staging", "old")


def remove_leftovers(folder: Path, kinds: tuple[str, ...] = LEFTOVER_KINDS, what: str = "an interrupted run"
                     ) -> list[Path]:
    """Remove the temporary folders that killed writers of ``folder`` left beside it; return them.

    Call it holding ``folder``'s lock (:func:`folder_lock`): every other writer of ``folder`` takes the same lock, so
    every ``.<name>.<kind>-*`` beside it belongs to a process that is gone. If ``folder`` itself is missing while an
    ``.<name>.old-*`` folder exists (a writer killed between the two renames of :func:`replace_folder`), the newest
    one is the previous folder and is put back first.

    Parameters
    ----------
    folder : Path
        The output folder (need not exist).
    kinds : tuple of str
        The kinds of leftovers to remove.
    what : str
        Who left them, for the message printed for each.
    """
    folder = Path(folder).absolute()
    if not folder.parent.is_dir():
        return []
    found = [p for p in folder.parent.iterdir() if any(p.name.startswith(f".{folder.name}.{kind}-") for kind in kinds)
             and p.is_dir() and not p.is_symlink()]
    olds = sorted((p for p in found if p.name.startswith(f".{folder.name}.old-")), key=lambda p: p.stat().st_mtime)
    if olds and not (folder.exists() or folder.is_symlink()):
        os.rename(olds[-1], folder)
        found.remove(olds[-1])
        print(f"put the previous {folder} back from {olds[-1].name}, left by {what}", flush=True)
    removed = []
    for path in sorted(found):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        print(f"removed {path}, left by {what}", flush=True)
    return removed
