"""Suggestions for mistyped names in error messages ("did you mean ...?")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word, choices: Iterable) -> str | None:
    """The choice nearest to ``word``, ignoring case (as the choice is spelled), or None
    when nothing is close or ``word`` is not a string."""
    if not isinstance(word, str):
        return None
    by_lower = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return by_lower[close[0]] if close else None


def did_you_mean(word, choices: Iterable) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = closest(word, choices)
    return f" (did you mean {close!r}?)" if close is not None else ""
