"""The outbound URL policy: host allow-lists and address checks after resolution."""

from __future__ import annotations

import ipaddress

import pytest

from imagegate.providers.outbound import (
    OutboundBlocked,
    address_allowed,
    check_addresses,
    host_allowed,
    is_public,
    parse_cidrs,
)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:8.8.8.8", True),
        ("224.0.0.1", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_allowed_cidrs_open_a_private_network_only() -> None:
    allow = parse_cidrs(["127.0.0.0/8"])
    assert address_allowed(ipaddress.ip_address("127.0.0.5"), allow)
    assert not address_allowed(ipaddress.ip_address("10.0.0.1"), allow)


def test_parse_cidrs_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="does not appear"):
        parse_cidrs(["not-a-network"])


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.bfl.ai/v1/get_result?id=1", True),
        ("https://delivery-eu1.bfl.ai/x.png", True),
        ("https://bfl.ai/", True),
        ("https://evilbfl.ai/x", False),
        ("https://bfl.ai.evil.com/x", False),
        ("https://cdn.example.com/x", True),
        ("https://other.example.com/x", False),
        ("not a url", False),
    ],
)
def test_host_allow_list(url: str, allowed: bool) -> None:
    assert host_allowed(url, ["*.bfl.ai", "cdn.example.com"]) is allowed


async def test_literal_private_address_is_refused_unless_allowed() -> None:
    with pytest.raises(OutboundBlocked, match="private or reserved"):
        await check_addresses("http://127.0.0.1:8080/hook")
    assert await check_addresses("http://127.0.0.1:8080/hook", parse_cidrs(["127.0.0.0/8"])) == [
        ipaddress.ip_address("127.0.0.1")
    ]


async def test_names_are_checked_after_resolution() -> None:
    # "localhost" resolves to loopback: a name is no way around the address rule.
    with pytest.raises(OutboundBlocked, match="localhost"):
        await check_addresses("http://localhost:9/hook")


async def test_public_literal_passes_without_resolution() -> None:
    assert await check_addresses("https://8.8.8.8/x") == [ipaddress.ip_address("8.8.8.8")]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "http:///nohost", "http://h:99999/"])
async def test_other_schemes_and_broken_urls_are_refused(url: str) -> None:
    with pytest.raises(OutboundBlocked):
        await check_addresses(url)


async def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(OutboundBlocked, match="does not resolve"):
        await check_addresses("http://no-such-host.invalid/x")
