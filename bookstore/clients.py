"""The client address that rate limits count: IPv4 per address, IPv6 per /64."""

from __future__ import annotations

import ipaddress

# A longer string is no address; one that long is a proxy's garbage, counted as one.
_MAX_RAW = 64


def network_of(address: str) -> str:
    """The counting key for `address`: itself for IPv4, its /64 network for IPv6.

    One IPv6 subscriber is routed a whole /64 (often more), so per-address
    counting would give a single client 2^64 fresh addresses. An IPv4-mapped
    IPv6 address counts as its IPv4 address. Anything unparseable counts as
    itself (trimmed), never as an error.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:_MAX_RAW]
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    # int(ip) drops any zone id (fe80::1%eth0): it names an interface, not a client.
    return str(ipaddress.IPv6Network((int(ip), 64), strict=False))


def client_network() -> str:
    """The current request's client, as rate limits count it.

    request.remote_addr is the socket peer, or the address ProxyFix took from the
    configured number of trusted X-Forwarded-For hops, never the header blindly.
    """
    from flask import request

    return network_of(request.remote_addr or "unknown")
