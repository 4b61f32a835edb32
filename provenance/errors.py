"""Every exception of prov's own layers that a caller may catch, with its exit code.

The root, ``ProvError``, the classes that fix each exit code and ``ExitCode`` itself live in
``archive.errors``, because ``archive`` raises them too and never imports ``provenance``. Each
class here derives from one of those and so carries its code; the command line turns any
``ProvError`` into its one-line message, its hint and its code (README and docs/FORMATS.md,
"Exit codes", which are an interface). Exit 1 is left for a crash: a bug in prov, never a
verdict on the evidence.

From ``archive.errors``:

- ``UsageError`` (exit 2): the command was given arguments it cannot use.
- ``IntegrityError`` (exit 3): evidence does not match what was sealed, signed or logged.
- ``NotATargetError`` (exit 4): the path or URL is not a case, package or WARC at all.
- ``CaptureError`` (exit 5): a capture could not be made.
- ``ConfigError`` (exit 6): keys, passphrases, trust stores or source lists are wrong.
- ``LockedError`` (exit 7): another prov process holds the case's lock.
- ``WarcFormatError`` (exit 3): bytes that should be a WARC record are not one.

``archive.http`` adds two of its own: ``CodingError`` (exit 2: a body whose coding cannot be
undone; ask for it as recorded) and ``ViaError`` (exit 5: an upstream proxy failed).

Here:

- ``ReadOnlyError`` (exit 2): a case moved by ``prov copy`` refuses further appends.
- ``UntrustedInputError`` (exit 3): a file, document or field is not of the form prov writes.
- ``ZipMemberError`` (exit 3): a ZIP, or a member of it, cannot be read as prov writes them.
- ``ZipDirectoryTooLarge`` (exit 3): a ZIP's central directory is larger than allowed.
- ``SignatureError`` (exit 3): a signature does not verify, or its key is not trusted.
- ``EnvelopeError`` (exit 3): bytes that should be a DSSE envelope are not one.
- ``StatementError`` (exit 3): a signed payload is not a well-formed statement of its kind.
- ``TimestampError`` (exit 3): a time-stamp token is malformed, for other data, or untrusted.
- ``UntrustedRootError`` (exit 3): a sound token whose chain ends at an untrusted root.
- ``FutureTokenError`` (exit 3): a token dated after the moment of verification.
- ``LogFormatError`` (exit 3): the log is not a sequence of complete, bounded lines.
- ``ProofError`` (exit 3): a Merkle proof, root or tree state does not check out.
- ``CheckpointError`` (exit 3): a checkpoint is malformed or does not verify.
- ``InclusionProofError`` (exit 3): an inclusion proof file proves nothing.
- ``OtherBytes`` (exit 3): the bucket holds other bytes under a name being uploaded.
- ``TsaUnavailable`` (exit 5): the TSA could not be reached or granted no time-stamp.
- ``KeyFileError`` (exit 6): a key file is missing, unreadable or corrupt, or the passphrase
  is wrong.
- ``RefusedEntryError`` (exit 6): an entry the case could not verify; nothing was written.
- ``StorageError`` (exit 6): the object store could not be reached or refused a request.

Exceptions that only signal between two functions of one module (``store.PreconditionFailed``
for a conditional write, ``archive.http``'s fetch and proxy errors) stay in that module: no
caller outside it catches them.
"""

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
