"""Argument checks: each public argument is checked where it is given, and a bad one raises a ValueError of one line
naming the argument, the value and what is allowed (``k1 must be a number >= 0, got nan``)."""
from __future__ import annotations

import math
import numbers


def _number(value) -> bool:
    """A real number (numpy's included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """``value`` when it is an int (numpy's included, not a bool) of at least ``minimum``; a ValueError naming
    ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_optional_int(name: str, value, minimum: int = 1) -> int | None:
    """None, or :func:`check_positive_int`."""
    return None if value is None else check_positive_int(name, value, minimum)


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


def check_number(name: str, value, low: float | None = None, high: float | None = None, *, low_open: bool = False,
                 high_open: bool = False) -> float:
    """``value`` as a float when it is a finite real number within the bounds given (``low``/``high`` inclusive unless
    ``low_open``/``high_open``); a ValueError naming ``name`` and the allowed range otherwise (NaN and infinities are
    refused)."""
    ok = _number(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(f"{name} must be {_interval(low, high, low_open, high_open)}, got {value!r}")
    return float(value)


def check_choice(name: str, value, choices):
    """``value`` when it is one of ``choices``; a ValueError listing them otherwise."""
    try:
        known = value in choices
    except TypeError:  # an unhashable value
        known = False
    if not known:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """``value`` when it is True or False (numpy's bool included); a ValueError otherwise (``"no"`` is not False)."""
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_optional_bool(name: str, value) -> bool | None:
    """None, or :func:`check_bool`."""
    return None if value is None else check_bool(name, value)


def check_texts(name: str, values):
    """``values`` when it is a collection of texts and not a single string (which would be read character by
    character); a ValueError naming ``name`` otherwise."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a list of texts, got the single string {values[:40]!r}: pass "
                         f"[{values[:20]!r}]")
    if not hasattr(values, "__iter__") or isinstance(values, dict):
        raise ValueError(f"{name} must be a list of texts, got {values!r}"[:300])
    return values


def check_text(name: str, value) -> str:
    """``value`` when it is a non-empty string (a column name, a language code); a ValueError otherwise."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def check_optional_text(name: str, value) -> str | None:
    """None, or :func:`check_text`."""
    return None if value is None else check_text(name, value)


def check_strings(name: str, values) -> tuple:
    """``values`` (a list, tuple or set of strings, such as stopwords) as a tuple; a single string is refused (it would
    be read character by character)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, set, frozenset)) \
            or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{name} must be a list of strings, got {values!r}"[:300])
    return tuple(values)


def check_instance(name: str, value, cls, hint: str = ""):
    """``value`` when it is an instance of ``cls``; a ValueError naming what came otherwise."""
    if not isinstance(value, cls):
        what = cls.__name__ if isinstance(cls, type) else " or ".join(c.__name__ for c in cls)
        raise ValueError(f"{name} must be a {what}{hint}, got {value!r}"[:300])
    return value
