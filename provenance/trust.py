"""Where trust in signing keys comes from: outside the case, never inside it (DESIGN "Trust").

A case's trusted keys are derived by replaying its custody log; the anchor for that replay
comes from the verifier: ``--trust KEY.pub``, ``--trust-id ed25519:<hex>``, or the user's own
``$PROV_HOME/trusted/`` store. ``CASE/keys/`` is a cache and never consulted for trust.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provenance import home
from provenance.keys import PublicKey, parse_key_id


@dataclass(frozen=True)
class Anchors:
    """Key ids the verifier trusts, and whether the user named them explicitly."""

    ids: frozenset[str] = field(default_factory=frozenset)
    explicit: bool = False
    keys: tuple[PublicKey, ...] = ()  # those whose public key the verifier holds

    @classmethod
    def collect(cls, trust_files: Sequence[Path], trust_ids: Sequence[str]) -> Anchors:
        given = [PublicKey.load(p) for p in trust_files]
        ids = {k.key_id for k in given} | {parse_key_id(i) for i in trust_ids}
        explicit = bool(ids)
        user = load_user_trusted()
        ids |= {k.key_id for k in user}
        return cls(frozenset(ids), explicit, tuple(given + user))


def load_user_trusted() -> list[PublicKey]:
    folder = home.trusted_dir()
    if not folder.is_dir():
        return []
    keys = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".pub"):
            keys.append(PublicKey.load(folder / name))
    return keys


def trust_user_key(key: PublicKey) -> Path:
    """Add ``key`` to ``$PROV_HOME/trusted/`` (idempotent)."""
    folder = home.ensure_private_dir(home.trusted_dir())
    path = folder / f"{key.key_id.split(':', 1)[1]}.pub"
    if not path.exists():
        path.write_bytes(key.pem())
    return path
