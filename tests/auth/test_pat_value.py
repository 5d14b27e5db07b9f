import string

from hypothesis import given
from hypothesis import strategies as st

from bookstore.auth.pats import value


def test_minted_tokens_are_well_formed_and_distinct():
    minted = {value.mint() for _ in range(200)}

    assert len(minted) == 200
    assert all(value.well_formed(token) for token in minted)
    assert all(len(token) == 4 + 43 + 6 for token in minted)


@given(
    position=st.integers(4, 52),
    replacement=st.sampled_from(string.digits + string.ascii_letters),
)
def test_a_single_typo_is_caught_by_the_checksum(position, replacement):
    token = value.mint()
    typo = token[:position] + replacement + token[position + 1 :]

    assert value.well_formed(typo) == (typo == token)


def test_the_digest_is_sha256_of_the_whole_value():
    import hashlib

    token = value.mint()

    assert value.digest(token) == hashlib.sha256(token.encode()).hexdigest()
