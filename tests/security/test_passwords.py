import hashlib
import hmac
import re
from pathlib import Path

import pytest
from argon2 import PasswordHasher, extract_parameters
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from werkzeug.security import generate_password_hash

from bookstore.security import passwords
from tests.auth.helpers import API, set_hash, stored_hash
from tests.conftest import PASSWORD

LOGIN = f"{API}/auth/login"


def _login(client, password=PASSWORD):
    return client.post(LOGIN, json={"username": "alice", "password": password})


def test_passwords_are_stored_as_argon2id_with_the_configured_parameters(app, user):
    params = extract_parameters(stored_hash(app, "alice"))

    assert params.type.name == "ID"
    assert (params.time_cost, params.memory_cost, params.parallelism) == (1, 8, 1)


@pytest.mark.parametrize("lanes", [1, 2])
def test_argon2id_hashes_from_another_implementation_log_in(app, user, lanes):
    # argon2-cffi (libargon2) wrote it; libsodium verifies it, then rehashes it to
    # the configured parameters when they differ (two lanes always do).
    other = PasswordHasher(time_cost=1, memory_cost=8 * lanes, parallelism=lanes)
    set_hash(app, "alice", other.hash(PASSWORD))

    response = _login(app.test_client())

    assert response.status_code == 200
    after = extract_parameters(stored_hash(app, "alice"))
    assert (after.time_cost, after.memory_cost, after.parallelism) == (1, 8, 1)
    assert _login(app.test_client(), "wrong password!").status_code == 401


def test_our_hashes_verify_with_another_implementation(app, user):
    assert PasswordHasher().verify(stored_hash(app, "alice"), PASSWORD)


@settings(max_examples=40, deadline=None)
@given(
    stored=st.from_regex(
        r"\$argon2id\$v=19\$m=[0-9]{1,6},t=[0-9]{1,3},p=[0-9]{1,2}\$[A-Za-z0-9+/]{0,30}",
        fullmatch=True,
    )
)
def test_needs_rehash_reads_the_parameters_of_any_argon2id_string(stored):
    hasher = passwords.Hasher(time_cost=1, memory_kib=8)
    fields = dict(pair.split("=") for pair in stored.split("$")[3].split(","))
    m, t, p = (int(fields[name]) for name in "mtp")

    assert hasher.needs_rehash(stored) == ((m, t, p) != (8, 1, 1))


def test_login_rehashes_when_the_parameters_change(make_app, user, app):
    before = stored_hash(app, "alice")
    stronger = make_app(PASSWORD_HASH_TIME_COST=2, PASSWORD_HASH_MEMORY_KIB=64)

    response = _login(stronger.test_client())

    after = extract_parameters(stored_hash(app, "alice"))
    assert response.status_code == 200
    assert (after.time_cost, after.memory_cost) == (2, 64)
    assert stored_hash(app, "alice") != before
    assert _login(app.test_client()).status_code == 200


def test_login_does_not_rehash_when_nothing_changed(app, client, user):
    before = stored_hash(app, "alice")

    _login(client)

    assert stored_hash(app, "alice") == before


def test_a_failed_login_never_rehashes(make_app, user, app):
    before = stored_hash(app, "alice")
    stronger = make_app(PASSWORD_HASH_TIME_COST=2)

    _login(stronger.test_client(), "wrong password!")

    assert stored_hash(app, "alice") == before


def _tutorial_sha256(password: str) -> str:
    salt = "Zx8pQ2"
    digest = hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()
    return f"sha256${salt}${digest}"


@pytest.mark.parametrize(
    "legacy",
    [
        lambda pw: generate_password_hash(pw, method="pbkdf2:sha256:1000"),
        lambda pw: generate_password_hash(pw, method="scrypt:1024:8:1"),
        _tutorial_sha256,
    ],
    ids=["pbkdf2", "scrypt", "sha256-salt-hex"],
)
def test_legacy_werkzeug_hashes_log_in_and_are_upgraded_to_argon2id(
    app, client, user, legacy
):
    set_hash(app, "alice", legacy(PASSWORD))

    wrong = _login(client, "wrong password!")
    right = _login(client)

    assert wrong.status_code == 401
    assert right.status_code == 200
    assert stored_hash(app, "alice").startswith("$argon2id$")
    assert _login(client).status_code == 200


@pytest.mark.parametrize(
    "stored",
    [
        "$2b$12$" + "a" * 53,  # bcrypt
        "$2y$10$tooShort",
        "$argon2id$v=19$m=8,t=1,p=1$garbage",
        "$argon2id$",
        "",
        "plaintext",
        "pbkdf2:sha256",
        "pbkdf2:sha256:abc$salt$hash",
        "pbkdf2:nosuchhash:1000$salt$hash",
        "scrypt:x:y:z$salt$hash",
        "sha256$$",
        "md5$salt$hash",
        "$$$$",
    ],
)
def test_garbage_or_foreign_stored_hashes_are_invalid_credentials_not_500(
    app, client, user, stored
):
    set_hash(app, "alice", stored)

    response = _login(client)

    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"


def _shipped_list() -> set[str]:
    """The list file read independently of the code under test."""
    path = Path(passwords.__file__).parents[1] / "data" / "common-passwords.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line for line in lines if line and not line.startswith("#")}


SHIPPED = _shipped_list()


def test_the_common_password_list_ships_at_least_10000_entries():
    assert len(SHIPPED) >= 10_000
    assert {"123456", "password", "qwerty"} <= SHIPPED
    assert all(entry == entry.lower() for entry in SHIPPED)
    assert all(passwords.is_common(entry.upper()) for entry in SHIPPED)


@settings(max_examples=300, deadline=None)
@given(
    password=st.one_of(
        st.sampled_from(sorted(SHIPPED)),
        st.lists(st.sampled_from(sorted(SHIPPED)), min_size=2, max_size=3).map(
            "\n".join
        ),
        st.sampled_from(sorted(SHIPPED)).map(lambda p: p[:-1] or "x"),
        st.sampled_from(sorted(SHIPPED)).map(lambda p: p + "1"),
        st.text(max_size=40),
    )
)
def test_is_common_is_membership_in_the_shipped_list(password):
    assert passwords.is_common(password) == (password.lower() in SHIPPED)


# The policy's rules restated another way (sets of runs, regular expressions),
# so that a slip in either shows up as a disagreement.
KEYBOARD_AND_ALPHABET = [
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "1234567890",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "!@#$%^&*()",
]
RUNS = {
    run[start:end]
    for sequence in KEYBOARD_AND_ALPHABET
    for run in (sequence, sequence[::-1])
    for start in range(len(run))
    for end in range(start + 8, len(run) + 1)
}
USERNAMES = st.from_regex(r"[A-Za-z0-9_.-]{3,32}", fullmatch=True)


def _oracle(password: str, username: str | None) -> bool:
    """Whether the documented policy accepts `password`."""
    folded = password.lower()
    if username:
        copies = re.findall(re.escape(username), password, flags=re.IGNORECASE)
        if sum(map(len, copies)) * 2 >= len(password):
            return False
    return (
        passwords.is_text(password)
        and 8 <= len(password) <= 128
        and not any(
            re.fullmatch(f"(?:{re.escape(c.casefold())})+", password.casefold())
            for c in password
        )
        and folded not in RUNS
        and folded not in SHIPPED
    )


def _any_case(text: str, flips: list[bool]) -> str:
    flips = (flips + [False] * len(text))[: len(text)]
    pairs = zip(text, flips, strict=True)
    return "".join(c.upper() if flip else c for c, flip in pairs)


@st.composite
def _runs(draw) -> str:
    sequence = draw(st.sampled_from(KEYBOARD_AND_ALPHABET))
    run = sequence if draw(st.booleans()) else sequence[::-1]
    length = draw(st.integers(8, len(run)))
    start = draw(st.integers(0, len(run) - length))
    return _any_case(run[start : start + length], draw(st.lists(st.booleans())))


@st.composite
def _mostly_usernames(draw) -> tuple[str, str]:
    username = draw(USERNAMES)
    copies = draw(st.integers(1, 128 // len(username)))
    filler = draw(st.text(max_size=len(username) * copies))
    parts = [username] * copies + [filler]
    password = "".join(draw(st.permutations(parts)))
    return _any_case(password, draw(st.lists(st.booleans()))), username


@settings(max_examples=300, deadline=None)
@given(
    password=st.one_of(
        st.text(max_size=200),
        _runs(),
        st.builds(lambda c, n: c * n, st.characters(), st.integers(6, 130)),
        st.sampled_from(sorted(SHIPPED)),
    ),
    username=st.one_of(st.none(), st.text(), USERNAMES),
)
def test_the_policy_answers_any_text_as_documented_without_raising(password, username):
    problems = passwords.policy_errors(password, username)

    assert (problems == []) == _oracle(password, username)
    assert len(problems) <= 1


@settings(max_examples=200, deadline=None)
@given(
    character=st.characters(exclude_categories=["Cs"]),
    length=st.integers(8, 128),
    flips=st.lists(st.booleans()),
)
# Lowered, micro sign and capital mu are two letters; folded, one (as are ŉ and ʼN).
@example(character="µ", length=8, flips=[True])
@example(character="ŉ", length=8, flips=[False, True])
def test_one_character_repeated_is_refused_naming_the_rule(character, length, flips):
    password = _any_case(character * length, flips)

    assert passwords.policy_errors(password, None) == [passwords.REPEATED]


@settings(max_examples=200, deadline=None)
@given(password=_runs())
def test_a_simple_sequence_is_refused_naming_the_rule(password):
    assert passwords.policy_errors(password, "someone") == [passwords.SEQUENCE]


@settings(max_examples=200, deadline=None)
@given(case=_mostly_usernames())
def test_a_password_mostly_the_username_is_refused_naming_the_rule(case):
    password, username = case
    assume(8 <= len(password) <= 128 and passwords.is_text(password))

    assert passwords.policy_errors(password, username) in (
        [passwords.MOSTLY_USERNAME],
        [passwords.SAME_AS_USERNAME],
    )


@settings(max_examples=200, deadline=None)
@given(
    username=USERNAMES,
    words=st.lists(st.text(min_size=1, max_size=12), min_size=2, max_size=8),
)
def test_the_username_in_less_than_half_the_password_is_allowed(username, words):
    # "~" is in no sequence and no username, so these are neither runs nor
    # repetitions; the username takes less than half the length.
    password = username + "~" + "~".join(words) + "~" * (len(username) + 1)
    assume(len(password) <= 128 and passwords.is_text(password))
    assume(password.lower() not in SHIPPED)
    assume(2 * len(username) * password.lower().count(username.lower()) < len(password))

    assert passwords.policy_errors(password, username) == []


@settings(max_examples=50, deadline=None)
@given(password=st.text(max_size=64), stored=st.text(max_size=120))
def test_verify_never_raises_on_any_stored_value(password, stored):
    hasher = passwords.Hasher(time_cost=1, memory_kib=8)

    assert hasher.verify(stored, password) in (True, False)
