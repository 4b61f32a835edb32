"""How strong a new key's passphrase is: a warning at ``prov keys generate``, not a refusal.

Threat: the private key file is PKCS#8, encrypted under the passphrase
(``BestAvailableEncryption``); whoever copies it (a backup, a stolen laptop, a shared home
folder) can guess the passphrase offline at leisure, so a short or common one protects
little. NIST SP 800-63B (5.1.1.2) asks for a check against lists of common secrets and at
least 8 characters for a secret guarded online; offline guessing asks for more, hence 12.
The list here is short on purpose: the most common choices and their obvious variants.
"""

from __future__ import annotations

MIN_LENGTH = 12
MIN_DISTINCT = 5
COMMON = frozenset({
    "password", "passphrase", "passw0rd", "p@ssw0rd", "p@ssword", "qwerty", "qwertyuiop",
    "asdfghjkl", "zxcvbnm", "letmein", "welcome", "iloveyou", "admin", "administrator",
    "changeme", "secret", "monkey", "dragon", "football", "baseball", "sunshine", "princess",
    "trustno1", "abc123", "123456", "1234567890", "123456789012", "correcthorsebatterystaple",
    "prov", "provenance", "evidence", "default", "investigator", "auditor",
})


def weakness(secret: bytes, *, key_name: str = "") -> str | None:
    """Why ``secret`` is a weak passphrase, in a few words, or None."""
    text = secret.decode("utf-8", "replace")
    bare = text.lower().strip(" 0123456789!?.-_")
    if bare in COMMON or text.lower() in COMMON or (key_name and bare == key_name.lower()):
        return "it is one of the most common choices"
    if len(text) < MIN_LENGTH:
        return f"it has {len(text)} characters, fewer than {MIN_LENGTH}"
    if len(set(text)) < MIN_DISTINCT:
        return f"it uses only {len(set(text))} different characters"
    return None
