"""Exceptions that the CLI turns into one-line messages.

Library code raises these and never prints or exits; `wrapper.cli.main` is the
single error boundary. Every message should say what was wrong, where (file,
line, column), what was expected, and how to fix it.
"""

from __future__ import annotations


class AutoRerankError(Exception):
    """Base class for errors shown to the user as one message (exit code 1)."""

    exit_code = 1


class InputError(AutoRerankError):
    """The user's input (a data file, a config, a flag) cannot be used (exit code 2).

    Build messages with `InputError.at(...)` so that they always name the place.
    """

    exit_code = 2

    @classmethod
    def at(
        cls,
        path: object,
        problem: str,
        *,
        line: int | None = None,
        column: str | int | None = None,
        hint: str | None = None,
    ) -> "InputError":
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}" if isinstance(column, str) else f", column {column}"
        message = f"{where}: {problem}"
        if hint:
            message += f"\n  hint: {hint}"
        return cls(message)


class RunFailed(AutoRerankError):
    """A training or evaluation run ended without a usable result (exit code 1)."""

    exit_code = 1


class Interrupted(AutoRerankError):
    """The user stopped a run (Ctrl-C); exit code 130 like a shell."""

    exit_code = 130


class BudgetReached(Interrupted):
    """A run stopped because its time budget ran out (`autorerank auto`'s deadline), not by the user."""


class GateRefused(AutoRerankError):
    """The regression gate's verdict is one the user listed in `--fail-on` (exit code 3).

    The run itself finished and its folder is kept; automation (CI) uses the exit
    code to refuse shipping the model.
    """

    exit_code = 3
