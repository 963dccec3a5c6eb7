"""The one validator of the studies' JSON parameter files: sections with their keys, and numbers with their range.

Every study (the circuits, the GA and STDP digit learning) reads its parameter file with
:func:`common.files.read_json`-like loading, then :func:`check_sections` and :func:`check_number`; a bad value
raises the study's own :class:`~common.errors.UserError` subclass naming the file, the field and the valid range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from .errors import UserError


def check_sections(params: Mapping, schema: Mapping[str, Iterable[str] | None], origin: str,
                   error: type[UserError] = UserError) -> None:
    """Every section of ``schema`` is in ``params``; a section with keys is an object holding all of them.

    Parameters
    ----------
    params : mapping
        The parameter file's content.
    schema : mapping
        Section -> its required keys (None: a value, not an object).
    origin : str
        The file (or what the values came from), for the message.
    error : type
        The exception raised.

    Raises
    ------
    UserError (or ``error``)
        Naming the missing section or keys.
    """
    for section, keys in schema.items():
        if section not in params:
            raise error(f"{origin}: section {section!r} is missing; the file needs {sorted(schema)}.")
        if keys is None:
            continue
        keys = list(keys)
        if not isinstance(params[section], Mapping):
            raise error(f"{origin}: {section} must be an object with keys {keys}.")
        missing = [k for k in keys if k not in params[section]]
        if missing:
            raise error(f"{origin}: {section} lacks {missing}; it needs {keys}.")


def check_number(value: object, name: str, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
                 whole: bool = False, error: type[UserError] = UserError) -> float:
    """``value`` as a float, if it is a finite number (not a bool) within [lo, hi] (``lo_open``: (lo, hi]).

    Parameters
    ----------
    value : object
        The value read.
    name : str
        The field (or option), for the message.
    lo, hi : float, optional
        Bounds (inclusive, unless ``lo_open``).
    whole : bool
        The value must be a whole number.
    error : type
        The exception raised.

    Raises
    ------
    UserError (or ``error``)
        Naming the field, the value and the valid range.

    Examples
    --------
    >>> check_number(3, "ga.population", lo=0, lo_open=True, whole=True)
    3.0
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise error(f"{name} must be a finite number, got {value!r}.")
    if whole and value != int(value):
        raise error(f"{name} must be a whole number, got {value}.")
    below = lo is not None and (value < lo or (lo_open and value == lo))
    if below or (hi is not None and value > hi):
        low = "" if lo is None else (f"> {lo:g}" if lo_open else f">= {lo:g}")
        high = "" if hi is None else f"<= {hi:g}"
        raise error(f"{name} must be {' and '.join(b for b in (low, high) if b)}, got {value}.")
    return float(value)
