"""One error base class for everything a user can get wrong, and one command-line boundary that reports it.

Every command line of the project runs its ``main`` through :func:`run_cli`: a :class:`UserError` (or one of the
failures of the world outside, :func:`explain`) ends in one paragraph on stderr naming the file, field and valid
values, and exit code 2; no traceback.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable

#: Exit code of a command stopped by bad input (argparse's own code for a bad command line).
EXIT_USAGE = 2


class UserError(ValueError):
    """The input cannot be used as it is: the message names the file, the field and the valid values."""


#: What an operating-system error means for the user, by errno.
OS_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (a read-only folder?)",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "it already exists",
    errno.ENAMETOOLONG: "the name is too long",
}


#: The output places the running command checked (option, path), named when an error does not say where it was.
OUTPUT_PLACES: list[tuple[str, str]] = []


def note_output(option: str, path: object) -> None:
    """Remember that the running command writes into ``path`` (given by ``option``), for :func:`explain`."""
    OUTPUT_PLACES.append((option, str(path)))


def _places() -> str:
    if not OUTPUT_PLACES:
        return "a file"
    return "the output of " + ", ".join(f"{option} {path}" for option, path in dict.fromkeys(OUTPUT_PLACES))


def explain_os_error(err: OSError) -> str:
    """One sentence naming the path of ``err`` and what went wrong (disk full, read-only folder, ...)."""
    where = err.filename if err.filename is not None else _places()
    if getattr(err, "filename2", None):
        where = f"{err.filename} -> {err.filename2}"
    reason = OS_REASONS.get(err.errno or -1, err.strerror or str(err))
    return f"cannot write or read {where}: {reason}."


#: How HDF5 (through h5py) reports an operating-system error: in its message, without an errno.
HDF5_REASONS = {"No space left on device": errno.ENOSPC, "Read-only file system": errno.EROFS,
                "Disk quota exceeded": errno.EDQUOT, "Permission denied": errno.EACCES}


def explain(err: BaseException) -> str | None:
    """The one-paragraph message for an error a user can act on, or None for a bug (which keeps its traceback)."""
    if isinstance(err, UserError):
        return str(err)
    if isinstance(err, OSError) and err.errno in OS_REASONS:
        return explain_os_error(err)
    if isinstance(err, OSError | RuntimeError):
        for words, code in HDF5_REASONS.items():
            if words in str(err):
                where = getattr(err, "filename", None) or _places()
                return f"cannot write {where}: {OS_REASONS[code]} ({str(err).splitlines()[0][:200]})."
    if isinstance(err, MemoryError):
        return ("out of memory: the network or the run is too large for this machine "
                "(fewer cells, a shorter run or more memory).")
    return None


def run_cli(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a command line's ``main``; report a user's error in one paragraph with exit code 2.

    Parameters
    ----------
    main : callable
        The command's ``main(argv) -> exit code``.
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        ``main``'s exit code, or :data:`EXIT_USAGE` after a reported error.
    """
    OUTPUT_PLACES.clear()
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted: nothing of the interrupted step was kept.", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the boundary: a user's error is reported, a bug keeps its traceback
        return report(err)


def report(err: Exception) -> int:
    """Print a user's error (:func:`explain`) as one paragraph on stderr and return :data:`EXIT_USAGE`; re-raise
    anything else (a bug keeps its traceback)."""
    message = explain(err)
    if message is None:
        raise err
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE


def run_command(args: object, *checks: Callable[[], object]) -> int:
    """Run a parsed subcommand, ``args.run(args)``, after ``checks``; a user's error is :func:`report`-ed.

    Every command line's ``main`` ends with it, so ``main(argv)`` returns 2 on a user's error whether it is called
    from :func:`run_cli` or directly (as the tests do).
    """
    try:
        for check in checks:
            check()
        return args.run(args)
    except Exception as err:  # noqa: BLE001 - see report
        return report(err)
