"""archive.http.mitmca: the per-run authority of the recording proxy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from archive.http.mitmca import LIFETIME, SKEW, RunAuthority, san_for

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_san_for_names_and_addresses() -> None:
    assert san_for("Example.ORG") == x509.DNSName("example.org")
    assert isinstance(san_for("127.0.0.1"), x509.IPAddress)
    assert isinstance(san_for("::1"), x509.IPAddress)
    for bad in ("", "a..b", "bücher.de", "a b", "x" * 64 + ".org", "a/b"):
        with pytest.raises(ValueError, match="not a host name"):
            san_for(bad)


def test_a_leaf_is_issued_by_the_run_root_for_one_host_and_one_run() -> None:
    authority = RunAuthority(NOW)
    try:
        leaf = authority.issue("a.test")
        root = authority.ca_cert
        assert leaf.issuer == root.subject
        assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
        root.public_key().verify(  # type: ignore[union-attr]
            leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm)
        )
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["a.test"]
        assert leaf.not_valid_before_utc == NOW - SKEW
        assert leaf.not_valid_after_utc == NOW + LIFETIME
        basic = root.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert basic.ca and basic.path_length == 0
        assert authority.ca_sha256.startswith("sha256:") and len(authority.ca_sha256) == 71
        assert authority.ca_pem.startswith("-----BEGIN CERTIFICATE-----")
        assert authority.server_context("A.test") is authority.server_context("a.test")
        assert RunAuthority(NOW).ca_sha256 != authority.ca_sha256  # a new root each run
    finally:
        authority.close()
