"""Errors written for the user, and the one-line form of any exception.

A leaf module: every part of rnnlab may import it, and it imports nothing of rnnlab.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting that cannot work; the message is one line for the user.

    ``python train.py`` prints it as ``error: <message>`` and exits with ``exit_code``.
    """

    exit_code = 2


class NonFiniteLossError(FloatingPointError):
    """Training produced NaN or inf; the message is one line for the user (exit status 1)."""

    exit_code = 1


def one_line(exc: BaseException, limit: int | None = None, typed: bool | None = None) -> str:
    """The first line of an exception's message.

    ``typed`` prefixes the exception's type, e.g. ``KeyError: 'x'``; by default only errors
    not written for the user get it (those written for the user carry an ``exit_code``).
    ``limit`` cuts the text to that many characters, ending in ``...``.
    """
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if typed is None:
        typed = not hasattr(exc, "exit_code")
    if typed:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
