"""Where trust in signing keys comes from: outside the case, never inside it (DESIGN "Trust").

A case's trusted keys are derived by replaying its custody log; the anchor for that replay
comes from the verifier: ``--trust KEY.pub``, ``--trust-id ed25519:<hex>``, or the user's own
``$PROV_HOME/trusted/`` store. ``CASE/keys/`` is a cache and never consulted for trust, and
no file inside the target may be an anchor (``provenance.signing.anchorpaths``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from archive.errors import ConfigError, UsageError
from provenance.base import home
from provenance.signing.anchorpaths import home_files, named_file
from provenance.signing.keys import PublicKey, parse_key_id


@dataclass(frozen=True)
class Anchors:
    """Key ids the verifier trusts (``--trust``, ``--trust-id``, ``$PROV_HOME/trusted/``).

    A target whose founding key none of them names is a failure (``trust.anchor``), whether
    the verifier has anchors or none at all: anyone can found a case, sign it and give it any
    id. ``allow_unanchored`` (``--allow-unanchored``) turns that failure into a warning, for
    a verifier who means to judge a target against itself alone (docs/SECURITY.md).
    """

    ids: frozenset[str] = field(default_factory=frozenset)
    keys: tuple[PublicKey, ...] = ()  # those whose public key the verifier holds
    allow_unanchored: bool = False

    @classmethod
    def collect(cls, trust_files: Sequence[Path], trust_ids: Sequence[str], *,
                target: Path | None, allow_unanchored: bool = False) -> Anchors:
        """The verifier's anchors for verifying ``target``: none may come from inside it."""
        given = [PublicKey.load(named_file(p, target, "--trust")) for p in trust_files]
        user = load_user_trusted(target)
        ids = {k.key_id for k in given + user} | {_key_id(i) for i in trust_ids}
        return cls(frozenset(ids), tuple(given + user), allow_unanchored)


def _key_id(text: str) -> str:
    try:
        return parse_key_id(text)
    except ConfigError as exc:
        raise UsageError(f"--trust-id: {exc}") from None


def load_user_trusted(target: Path | None = None) -> list[PublicKey]:
    """The keys in ``$PROV_HOME/trusted/``; ConfigError if it lies inside ``target``."""
    return [PublicKey.load(path) for path in home_files(home.trusted_dir(), ".pub", target)]


def trust_user_key(key: PublicKey) -> Path:
    """Add ``key`` to ``$PROV_HOME/trusted/`` (idempotent)."""
    folder = home.ensure_private_dir(home.trusted_dir())
    path = folder / f"{key.key_id.split(':', 1)[1]}.pub"
    if not path.exists():
        path.write_bytes(key.pem())
    return path
