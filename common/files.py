"""Output places checked before any work starts: a folder that is a file, a read-only place, a missing parent.

A command that would write its results at the end of a long computation first asks :func:`check_output_dir` or
:func:`check_output_file` whether it can; the answer names the option and the path. A full disk cannot be foreseen:
it is reported where it happens (:func:`common.errors.explain`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError, note_output
from .locks import replace_folder

#: The name of every study's result file.
RESULT_FILE = "result.json"


class OutputPlaceError(UserError):
    """The place a command is to write into cannot take its results."""


def _existing_ancestor(path: Path) -> Path:
    """The nearest ancestor of ``path`` (or ``path`` itself) that exists."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable(folder: Path, option: str, target: Path) -> None:
    if not folder.is_dir():
        raise OutputPlaceError(f"{option} {target}: {folder} is a file, not a folder; choose another {option}.")
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = "is on a read-only file system" if _read_only(folder) else "is not writable (permission denied)"
        raise OutputPlaceError(f"{option} {target}: {folder} {reason}; choose a writable {option}.")


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_output_dir(path: Path | str, option: str = "--out") -> Path:
    """Check that ``path`` is, or can be made, a writable folder (nothing is created).

    Parameters
    ----------
    path : Path or str
        The output folder.
    option : str
        The option or configuration key that named it, for the message.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputPlaceError
        If ``path`` is a file, lies inside a file, or its nearest existing folder is read-only.
    """
    path = Path(path)
    note_output(option, path)
    if path.exists() and not path.is_dir():
        raise OutputPlaceError(f"{option} {path} is a file, not a folder; choose another {option}.")
    _check_writable(_existing_ancestor(path), option, path)
    return path


def check_output_file(path: Path | str, option: str = "--out") -> Path:
    """Check that the file ``path`` can be written (its folder exists or can be made; it is not a folder).

    Parameters
    ----------
    path : Path or str
        The output file.
    option : str
        The option or configuration key that named it, for the message.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputPlaceError
        If ``path`` is a folder, or its folder is a file or read-only.
    """
    path = Path(path)
    note_output(option, path)
    if path.is_dir():
        raise OutputPlaceError(f"{option} {path} is a folder; {option} names a file to write.")
    _check_writable(_existing_ancestor(path.parent), option, path)
    return path


def check_replaceable(out_dir: Path | str, force: bool, option: str = "--out") -> Path:
    """Refuse to replace a non-empty folder ``out_dir`` unless ``force`` (and any place that is not a folder).

    Raises
    ------
    OutputPlaceError
        If ``out_dir`` is a file, is not writable, or holds files and ``force`` is false.
    """
    out_dir = check_output_dir(out_dir, option)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise OutputPlaceError(f"{option} {out_dir} already holds files; pass --force to replace them.")
    return out_dir


def read_json(path: Path | str, error: type[UserError] = UserError, what: str = "JSON file") -> dict:
    """Parse ``path`` as a JSON object, with the line and column of a syntax error.

    Parameters
    ----------
    path : Path
    error : type
        The exception raised (each command line has its own, e.g. ``NeuronError``).
    what : str
        What the file is, for the message.

    Raises
    ------
    UserError (or ``error``)
        If the file is missing, not valid JSON, or not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} not found.")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise error(f"{path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}.") from err
    except UnicodeDecodeError as err:
        raise error(f"{path} is not a text (UTF-8 JSON) file: {err.reason} at byte {err.start}.") from err
    if not isinstance(raw, dict):
        raise error(f"{path} must hold a JSON object, not {type(raw).__name__}.")
    return raw


def write_bytes_atomic(path: Path | str, content: bytes) -> Path:
    """Write ``content`` under a temporary name beside ``path``, then rename it into place.

    A failure (a full disk) removes the temporary file and leaves an earlier ``path`` as it was.
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)
    return Path(path)


def write_json(path: Path | str, content: dict) -> Path:
    """Write ``content`` as indented JSON atomically (:func:`write_bytes_atomic`)."""
    return write_bytes_atomic(path, (json.dumps(content, indent=2) + "\n").encode())


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed to ``path`` when the block ends, removed on failure.

    Examples
    --------
    >>> with atomic_path(out) as tmp:  # doctest: +SKIP
    ...     table.to_csv(tmp)
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def run_folder(out_dir: Path | str, force: bool = False, option: str = "--out") -> Iterator[Path]:
    """The one writer of a study's run folder: a fresh temporary folder beside ``out_dir`` to write everything into,
    swapped into place when the block ends (:func:`common.locks.replace_folder`) and removed on failure.

    A killed or failed run leaves the previous ``out_dir`` as it was; a completed one replaces it whole.

    Parameters
    ----------
    out_dir : Path or str
        The run folder.
    force : bool
        Replace an ``out_dir`` that holds files (:func:`check_replaceable`).
    option : str
        The option that named it, for messages.

    Yields
    ------
    Path
        The temporary folder.
    """
    out_dir = check_replaceable(out_dir, force, option)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        yield tmp
        replace_folder(tmp, out_dir, out_dir.with_name(f".{out_dir.name}.old-{tmp.name.rsplit('-', 1)[-1]}"))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_result(folder: Path | str, result: dict, required: tuple[str, ...] = ()) -> Path:
    """Write a run's ``result.json`` into ``folder`` (atomically), after checking it has the ``required`` keys.

    Raises
    ------
    KeyError
        If a required key is missing (a bug of the study, not the user's error).
    """
    missing = [key for key in required if key not in result]
    if missing:
        raise KeyError(f"result.json lacks {missing}")
    return write_json(Path(folder) / RESULT_FILE, result)
