"""The one exception hierarchy shared by ``archive`` and ``provenance``.

Every error carries the exit code the command line returns for it (documented in the
README) and an optional ``hint`` that tells a human what to do next.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes: part of prov's interface (README, "Exit codes")."""

    OK = 0
    CRASH = 1
    USAGE = 2
    INTEGRITY = 3
    NOT_A_TARGET = 4
    CAPTURE_FAILED = 5
    CONFIG = 6
    LOCKED = 7


class ProvError(Exception):
    """Root of prov's errors: a one-line message, an exit code, an optional hint."""

    exit_code: ExitCode = ExitCode.CRASH

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(ProvError):
    """The command was given arguments it cannot use."""

    exit_code = ExitCode.USAGE


class IntegrityError(ProvError):
    """Evidence does not match what was sealed, signed or logged."""

    exit_code = ExitCode.INTEGRITY


class NotATargetError(ProvError):
    """The path or URL given is not a case, package or WARC at all."""

    exit_code = ExitCode.NOT_A_TARGET


class CaptureError(ProvError):
    """A capture could not be made."""

    exit_code = ExitCode.CAPTURE_FAILED


class ConfigError(ProvError):
    """Configuration (keys, passphrases, trust stores, source lists) is missing or wrong."""

    exit_code = ExitCode.CONFIG


class LockedError(ProvError):
    """Another prov process holds the case's lock."""

    exit_code = ExitCode.LOCKED


class WarcFormatError(IntegrityError):
    """Bytes that should be a WARC record are not one."""
