"""Address checks that keep the crawler off private networks (SSRF guard).

A feed URL is written by whoever controls ``sources.yaml`` or a redirect on some web
server; without this guard a hostile feed could make the crawler read the operator's
router, cloud metadata service (169.254.169.254) or database. Checks apply to the
addresses actually connected to: the :class:`GuardedResolver` filters what DNS answered
inside aiohttp's connector, so a name that resolves to a public address for a first
check and to a private one for the connection (DNS rebinding) is still refused.
aiohttp does not call the resolver for IP literals, hence :meth:`AddressPolicy.check_url`
before each request, redirects included.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from ..errors import BlockedAddressError, FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
HINT = "set AGGREGATOR_ALLOW_PRIVATE_NETWORKS=1 to allow"
# RFC 6598 shared address space (carrier-grade NAT): not "private" for Python, not public either.
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched (``"a loopback address"``), or None for a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address can carry an IPv4 one (::ffff:127.0.0.1, 6to4, Teredo): judge that.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return forbidden_reason(embedded)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a shared (carrier-grade NAT) address"
    if ip.is_reserved:  # before is_private, which also counts 240.0.0.0/4
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def parse_ip(host: str) -> IPAddress | None:
    """The IP address ``host`` spells literally (brackets and zone ids allowed), else None."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be fetched.

    ``trusted`` lists addresses to treat as public although they are not; production
    never sets it. It exists so tests on 127.0.0.1 can exercise the refusals (a redirect
    from a "public" test server to a private address) with the strict rule in place.
    """

    allow_private: bool = False
    trusted: frozenset[str] = frozenset()

    def reason(self, address: str) -> str | None:
        """Why connecting to ``address`` is refused, or None when it is allowed."""
        if self.allow_private:
            return None
        ip = parse_ip(address)
        if ip is None:
            return "not an IP address"
        if str(ip) in self.trusted:
            return None
        return forbidden_reason(ip)

    def check_url(self, url: URL) -> None:
        """Refuse non-HTTP schemes and literal private addresses before connecting.

        Raises:
            FetchError: the scheme is not http or https, or the URL has no host.
            BlockedAddressError: the host is a literal address this policy refuses.
        """
        if url.scheme not in ALLOWED_SCHEMES:
            scheme = url.scheme or "(none)"
            raise FetchError(
                f"refused: only http and https URLs are fetched, not {scheme}:", url=str(url)
            )
        host = url.raw_host
        if not host:
            raise FetchError("invalid URL: no host name", url=str(url))
        ip = parse_ip(host)
        if ip is None:
            return  # a name: the resolver checks what it resolves to
        why = self.reason(str(ip))
        if why is not None:
            raise BlockedAddressError(f"refused: {ip} is {why} ({HINT})", url=str(url))


class GuardedResolver(AbstractResolver):
    """Resolve with ``inner`` and drop every address the policy refuses.

    When nothing allowed is left the lookup fails with :class:`BlockedAddressError`,
    which aiohttp lets through unchanged (it only wraps ``OSError``).
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None):
        self.policy = policy
        self.inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        allowed: list[ResolveResult] = []
        refused: list[tuple[str, str]] = []
        for result in results:
            why = self.policy.reason(result["host"])
            if why is None:
                allowed.append(result)
            else:
                refused.append((result["host"], why))
        if not allowed and refused:
            address, why = refused[0]
            raise BlockedAddressError(f"refused: {host} resolves to {address}, {why} ({HINT})")
        return allowed

    async def close(self) -> None:
        await self.inner.close()
