import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookstore.clients import network_of


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("unknown", "unknown"),
        ("x" * 500, "x" * 64),
    ],
)
def test_addresses_are_counted_per_ipv4_address_or_ipv6_64(address, counted_as):
    assert network_of(address) == counted_as


@given(st.ip_addresses(v=6), st.integers(0, 2**64 - 1))
def test_every_address_of_a_64_is_one_client(address, interface):
    if address.ipv4_mapped is not None:
        return
    neighbour = ipaddress.IPv6Address((int(address) >> 64 << 64) | interface)

    assert network_of(str(address)) == network_of(str(neighbour))


@given(st.ip_addresses(v=4), st.ip_addresses(v=4))
def test_ipv4_addresses_are_never_grouped(one, other):
    assert (network_of(str(one)) == network_of(str(other))) == (one == other)


@given(st.text())
def test_any_string_gives_a_short_key(text):
    assert len(network_of(text)) <= 64
