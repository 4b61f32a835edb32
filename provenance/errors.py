"""Every exception of prov's own layers that a caller may catch, with its exit code."""

from __future__ import annotations

from datetime import datetime

from archive.errors import CaptureError, ConfigError, IntegrityError, UsageError


class UntrustedInputError(IntegrityError):
    """A file, document or field that should be evidence is not of the form prov writes."""


class ZipMemberError(UntrustedInputError):
    """A ZIP, or a member of it, that cannot be read as prov writes them: ``subject`` names
    the archive or member, ``reason`` says what is wrong (a report's finding takes both)."""

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"{subject}: {reason}")
        self.subject, self.reason = subject, reason


class ZipDirectoryTooLarge(ZipMemberError):
    """The central directory is larger than the caller allows: no member was read."""


class SignatureError(IntegrityError):
    """A signature does not verify, or was made by a key that is not trusted."""


class KeyFileError(ConfigError):
    """A key file is missing, unreadable, corrupt, or its passphrase is wrong."""


class EnvelopeError(IntegrityError):
    """Bytes that should be a DSSE envelope are not one."""


class StatementError(IntegrityError):
    """A signed payload parsed, but is not a well-formed statement of its kind."""


class TimestampError(IntegrityError):
    """A time-stamp token is malformed, does not match its data, or cannot be trusted."""


class UntrustedRootError(TimestampError):
    """The token is sound but its chain ends at a root the verifier does not trust."""

    def __init__(self, message: str, *, root_fingerprint: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.root_fingerprint = root_fingerprint


class FutureTokenError(TimestampError):
    """The token is dated after the moment of verification: no true token can be."""

    def __init__(self, message: str, *, gen_time: datetime, now: datetime) -> None:
        super().__init__(message, hint="if this machine's clock is behind, set it right")
        self.gen_time = gen_time
        self.now = now


class TsaUnavailable(CaptureError):
    """The TSA could not be reached, or did not answer with a granted time-stamp response."""


class ReadOnlyError(UsageError):
    """The case was moved by ``prov copy`` and refuses further appends."""


class LogFormatError(IntegrityError):
    """The log file is not a sequence of complete, bounded lines."""


class ProofError(IntegrityError):
    """A Merkle proof, root or tree state does not check out."""


class CheckpointError(IntegrityError):
    """Bytes that should be a checkpoint are not one, or do not verify."""


class RefusedEntryError(ConfigError):
    """A command would add an entry the case could not verify; nothing was written."""


class InclusionProofError(IntegrityError):
    """A proof that fails; ``check`` names the finding (``proof`` or ``trust.anchor``)."""

    def __init__(self, message: str, *, check: str = "proof", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.check = check


class StorageError(ConfigError):
    """The object store could not be reached or refused a request (exit 6)."""


class OtherBytes(IntegrityError):
    """The bucket already holds other bytes under the name being uploaded."""
