"""prov: source provenance and archival integrity.

Seals WARC captures (DSSE over in-toto statements), keeps a signed, append-only custody log
(RFC 9162 Merkle tree with C2SP checkpoints) and verifies all of it offline.
"""

__version__ = "0.1.0"
