"""The SSRF guard: address rules, literal URLs, DNS answers and redirects."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from aggregator.errors import BlockedAddressError, FetchError
from aggregator.fetch.client import HttpClient
from aggregator.fetch.guard import AddressPolicy, GuardedResolver, forbidden_reason
from tests.feedserver import FeedServer

from .conftest import UA

HINT = "(set AGGREGATOR_ALLOW_PRIVATE_NETWORKS=1 to allow)"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata services live here
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped IPv6
        ("::ffff:10.0.0.1", "a private address"),
        ("2002:a00:1::", "a private address"),  # 6to4 wrapping 10.0.0.1
        ("192.0.2.1", "a private address"),  # documentation range, never a real site
        ("93.184.215.14", None),
        ("1.1.1.1", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_forbidden_reason(address: str, reason: str | None) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


def test_policy_allow_private_and_trusted() -> None:
    assert AddressPolicy(allow_private=True).reason("10.0.0.1") is None
    assert AddressPolicy(trusted=frozenset({"127.0.0.1"})).reason("127.0.0.1") is None
    assert (
        AddressPolicy(trusted=frozenset({"127.0.0.1"})).reason("127.0.0.2") == "a loopback address"
    )


class FakeDNS(AbstractResolver):
    """Name -> addresses, standing in for DNS (no real resolver can run for made-up names)."""

    def __init__(self, table: dict[str, list[str]]):
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"unknown host {host}")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.table[host]
        ]

    async def close(self) -> None:
        pass


async def test_resolver_filters_refused_addresses() -> None:
    dns = FakeDNS({"mixed.test": ["10.0.0.5", "93.184.215.14"], "inside.test": ["192.168.0.10"]})
    resolver = GuardedResolver(AddressPolicy(), dns)
    answers = await resolver.resolve("mixed.test", 80)
    assert [a["host"] for a in answers] == ["93.184.215.14"]
    with pytest.raises(BlockedAddressError) as err:
        await resolver.resolve("inside.test", 80)
    assert (
        str(err.value) == f"refused: inside.test resolves to 192.168.0.10, a private address {HINT}"
    )


def strict_client(**kwargs: object) -> HttpClient:
    return HttpClient(user_agent=UA, per_host_delay=0.0, **kwargs)  # type: ignore[arg-type]


async def test_strict_client_refuses_loopback_and_private(feed_server: FeedServer) -> None:
    feed_server.add("/feed", b"<rss/>")
    port = feed_server.port
    async with strict_client() as http:
        with pytest.raises(BlockedAddressError) as literal:
            await http.get(feed_server.url("/feed"))
        with pytest.raises(
            BlockedAddressError, match=r"^refused: localhost resolves to .*a loopback address"
        ):
            await http.get(f"http://localhost:{port}/feed")
        with pytest.raises(BlockedAddressError, match=r"^refused: ::1 is a loopback address"):
            await http.get(f"http://[::1]:{port}/feed")
        with pytest.raises(BlockedAddressError, match=r"^refused: 10.0.0.1 is a private address"):
            await http.get("http://10.0.0.1/feed")
        with pytest.raises(BlockedAddressError, match=r"^refused: 169.254.169.254 is a link-local"):
            await http.get("http://169.254.169.254/latest/meta-data/")
        with pytest.raises(BlockedAddressError, match="unspecified"):
            await http.get(f"http://0.0.0.0:{port}/feed")
    assert str(literal.value) == f"refused: 127.0.0.1 is a loopback address {HINT}"
    assert literal.value.url == feed_server.url("/feed")
    assert feed_server.requests == []  # nothing was ever connected to


async def test_allow_private_lets_loopback_through(feed_server: FeedServer) -> None:
    feed_server.add("/feed", b"<rss/>")
    async with HttpClient(user_agent=UA, allow_private=True) as http:
        result = await http.get(feed_server.url("/feed"))
    assert result.body == b"<rss/>"


async def test_redirects_to_private_addresses_are_refused(feed_server: FeedServer) -> None:
    # 127.0.0.1 plays a public web server; every other private address keeps the strict rule.
    policy = AddressPolicy(trusted=frozenset({"127.0.0.1"}))
    dns = FakeDNS(
        {
            "public.test": ["127.0.0.1"],
            "rebound.test": ["127.0.0.2"],
            "both.test": ["10.9.9.9", "127.0.0.1"],
        }
    )
    async with FeedServer("127.0.0.2") as inside:
        inside.add("/secret", b"secret")
        port = feed_server.port
        feed_server.add("/feed", b"<rss/>")
        feed_server.redirect("/to-literal", inside.url("/secret"), 302)
        feed_server.redirect("/to-name", f"http://rebound.test:{inside.port}/secret", 301)
        feed_server.redirect("/to-metadata", "http://169.254.169.254/latest/", 302)
        async with strict_client(address_policy=policy, resolver=dns) as http:
            ok = await http.get(f"http://public.test:{port}/feed")  # connects via the guard
            mixed = await http.get(f"http://both.test:{port}/feed")  # only the public answer used
            with pytest.raises(BlockedAddressError, match=r"^refused: 127.0.0.2 is a loopback"):
                await http.get(f"http://public.test:{port}/to-literal")
            with pytest.raises(
                BlockedAddressError, match=r"^refused: rebound.test resolves to 127.0.0.2"
            ):
                await http.get(f"http://public.test:{port}/to-name")
            with pytest.raises(FetchError, match=r"^cannot resolve host name nowhere\.test$"):
                await http.get("http://nowhere.test/feed")
            with pytest.raises(BlockedAddressError, match=r"169\.254\.169\.254 is a link-local"):
                await http.get(f"http://public.test:{port}/to-metadata")
        assert inside.requests == []
    assert ok.body == b"<rss/>" and mixed.body == b"<rss/>"
    assert "public.test" in dns.asked and "rebound.test" in dns.asked
