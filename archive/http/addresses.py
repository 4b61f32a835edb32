"""Which addresses a capture may connect to: the rule against server-side request forgery
(docs/FORMATS.md, "Private addresses"; docs/SECURITY.md, "Hostile pages and private
addresses").

Threat: a page, a link or a redirect names an address of the capturing machine's own
networks (loopback, link-local such as the cloud metadata service at 169.254.169.254,
private ranges). Fetched, its answer would be sealed as evidence: what only this machine can
see leaks into a package meant for others, and internal services receive requests written
by a stranger.

The rule: an address is *public* when ``ipaddress`` calls it global and it is not
multicast or IPv6 site-local; an IPv6 address that carries an IPv4 one (IPv4-mapped,
IPv4-compatible, 6to4, Teredo, NAT64) must be public in both forms. A capture connects to
an address that is not public only when one of the run's seeds resolved to it when the run
started, or when the operator allowed private addresses. The check is made on each address
the connection is about to use, after resolution and before ``connect``, and the socket
connects to that very address: a name that answers differently the second time (DNS
rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215, a network's own
COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible addresses
ALLOW_HINT = ("private addresses are fetched only when a seed resolves to them, or with "
              "--allow-private-addresses")


def _range(ip: Address) -> str | None:
    """The kind of non-public range ``ip`` is in, judged on its own; None when public."""
    checks = (
        (ip.is_loopback, "loopback"), (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local"), (ip.is_multicast, "multicast"),
        (ip.version == 4 and ip in SHARED, "shared (carrier-grade NAT)"),
        (ip.version == 6 and ip.is_site_local, "site-local"),
        (ip.version == 6 and ip in LOCAL_NAT64, "local-use NAT64"),
        (ip.is_reserved, "reserved"), (ip.is_private, "private"),
        (not ip.is_global, "not globally routable"),
    )
    return next((name for hit, name in checks if hit), None)


def _translated(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv4-mapped or NAT64 address stands for: connecting to it is
    connecting to that IPv4 address, so it alone is judged (a NAT64 network reaches every
    IPv4-only site this way)."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip in NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _embedded(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses a tunnelling IPv6 address carries, with the name of the form."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        found += [("Teredo", ip.teredo[0]), ("Teredo", ip.teredo[1])]
    if ip in COMPATIBLE and int(ip) > 1:
        found.append(("IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    return found


def classify(address: str) -> str | None:
    """None when ``address`` is public; else what it is ("loopback", "link-local",
    "private", ..., "loopback (IPv4-mapped 127.0.0.1)"). Not an IP address: refused too."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])  # a zone does not change the kind
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        translated = _translated(ip)
        if translated is not None:
            mapping, inner = translated
            kind = _range(inner)
            return None if kind is None else f"{kind} ({mapping} {inner})"
        for mapping, inner in _embedded(ip):
            kind = _range(inner)
            if kind is not None:
                return f"{kind} ({mapping} {inner})"
    return _range(ip)


def _plain(address: str) -> str:
    """The address without an IPv6 zone (``fe80::1%eth0``), in its compressed form; an
    IPv4-mapped address as its IPv4 address (the one connected to)."""
    with contextlib.suppress(ValueError):
        ip = ipaddress.ip_address(address.split("%")[0])
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        return (mapped or ip).compressed
    return address


class AddressRefused(Exception):
    """Every address of a host was refused by the rule; ``str()`` is the one line for the
    summary, ``refused`` lists (address, kind)."""

    def __init__(self, host: str, refused: list[tuple[str, str]]) -> None:
        address, kind = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        shown = "" if _plain(host) == address else f"{host} resolves to "
        super().__init__(f"refused: {shown}{address}{more} is a {kind} address "
                         f"({ALLOW_HINT})")
        self.refused = refused


@dataclass(frozen=True)
class AddressPolicy:
    """The run's rule: private addresses allowed at all, and the seeds' own addresses."""

    allow_private: bool = False
    seed_addresses: frozenset[str] = frozenset()

    def refusal(self, address: str) -> str | None:
        """Why prov will not connect to ``address`` (its kind of range), or None."""
        if self.allow_private or _plain(address) in self.seed_addresses:
            return None
        return classify(address)

    def split(self, addresses: Iterable[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """The addresses that may be used, and the refused ones with their kind."""
        allowed: list[str] = []
        refused: list[tuple[str, str]] = []
        for address in addresses:
            kind = self.refusal(address)
            if kind is None:
                allowed.append(address)
            else:
                refused.append((_plain(address), kind))
        return allowed, refused

    def as_json(self) -> dict[str, object]:
        return {"allowPrivateAddresses": self.allow_private,
                "seedAddresses": sorted(self.seed_addresses)}


async def seed_policy(seeds: Iterable[str], *, allow_private: bool, resolve_names: bool,
                      timeout: float) -> AddressPolicy:
    """The policy of a run over ``seeds``: the non-public addresses their hosts resolve to
    now are the ones later connections may use. ``resolve_names`` False (a proxy that
    resolves names itself) counts address literals only: no lookup leaves this machine."""
    if allow_private:
        return AddressPolicy(allow_private=True)
    hosts = {(urlsplit(url).hostname or "") for url in seeds} - {""}
    found: set[str] = set()
    for host in hosts:
        if classify(host) != "not an IP address":
            found.add(_plain(host))
    names = [h for h in hosts if classify(h) == "not an IP address"] if resolve_names else []
    results = await asyncio.gather(*(_resolve(name, timeout) for name in names))
    for addresses in results:
        found.update(_plain(a) for a in addresses)
    return AddressPolicy(seed_addresses=frozenset(a for a in found if classify(a)))


async def _resolve(host: str, timeout: float) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout)
    except (OSError, TimeoutError, UnicodeError):
        return []  # the fetch itself will fail and say why
    return [str(info[4][0]) for info in infos]
