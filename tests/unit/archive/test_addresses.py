"""archive.http.addresses: which addresses a capture may connect to."""

from __future__ import annotations

import asyncio

import pytest

from archive.http.addresses import AddressPolicy, AddressRefused, classify, seed_policy


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("not-an-ip", "not an IP address"),
    ],
)
def test_public_addresses_and_names(address: str, kind: str | None) -> None:
    assert classify(address) == kind


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "::1",
        "fe80::1%eth0",
        "::ffff:127.0.0.1",
        "0.0.0.0",
    ],
)
def test_non_public_addresses_are_classified(address: str) -> None:
    assert classify(address) is not None


def test_an_ipv4_mapped_address_names_what_it_maps() -> None:
    kind = classify("::ffff:10.0.0.1")
    assert kind is not None and "10.0.0.1" in kind


def test_the_policy_allows_the_seeds_own_addresses_only() -> None:
    policy = AddressPolicy(seed_addresses=frozenset({"127.0.0.1"}))
    allowed, refused = policy.split(["127.0.0.1", "::ffff:127.0.0.1", "10.0.0.1", "8.8.8.8"])
    assert allowed == ["127.0.0.1", "::ffff:127.0.0.1", "8.8.8.8"]
    assert [address for address, _ in refused] == ["10.0.0.1"]
    assert AddressPolicy(allow_private=True).refusal("10.0.0.1") is None
    assert policy.as_json() == {"allowPrivateAddresses": False, "seedAddresses": ["127.0.0.1"]}


def test_address_refused_says_one_line() -> None:
    error = AddressRefused("intranet.test", [("10.0.0.1", "private"), ("10.0.0.2", "private")])
    assert str(error).startswith("refused: intranet.test resolves to 10.0.0.1 (and 1 more) is a ")
    assert "\n" not in str(error)
    assert str(AddressRefused("10.0.0.1", [("10.0.0.1", "private")])).startswith(
        "refused: 10.0.0.1 is a private address"
    )


def test_seed_policy_from_literals_without_any_lookup() -> None:
    seeds = ["http://127.0.0.1:8080/", "http://[::1]/", "https://93.184.216.34/"]
    policy = asyncio.run(seed_policy(seeds, allow_private=False, resolve_names=False, timeout=1))
    assert policy.seed_addresses == {"127.0.0.1", "::1"}
