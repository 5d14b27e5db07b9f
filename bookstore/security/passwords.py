"""Password hashing (Argon2id), legacy Werkzeug hashes, and the password policy."""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import cache
from importlib import resources

import nacl.exceptions
import nacl.pwhash
from werkzeug.security import check_password_hash

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,32}")
USERNAME_RULE = "3-32 characters of letters, digits, '_', '.' and '-'."
MIN_PASSWORD, MAX_PASSWORD = 8, 128


# The parameters of an Argon2id hash in PHC string format (what libsodium writes).
_ARGON2ID_PARAMETERS = re.compile(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")


class Hasher:
    """Argon2id with the configured cost; verifies legacy hashes for upgrade.

    libsodium's Argon2id (PyNaCl): one lane, the SIMD code the CPU supports, and
    the working memory mapped for each hash and returned after it. Against
    argon2-cffi's portable build: less CPU per hash, and no working buffer left
    in every worker (figures: bench/README.md).
    Both write the same PHC strings, so either verifies the other's hashes.
    """

    def __init__(self, *, time_cost: int, memory_kib: int):
        self.time_cost, self.memory_kib = time_cost, memory_kib
        # Checked when the user is unknown, so both answers cost the same time.
        self._dummy = self.hash("not-a-real-password: timing equaliser")

    def hash(self, password: str) -> str:
        """Return an Argon2id hash of `password`."""
        return nacl.pwhash.argon2id.str(
            _bytes(password),
            opslimit=self.time_cost,
            memlimit=self.memory_kib * 1024,
        ).decode("ascii")

    def verify(self, stored: str | None, password: str) -> bool:
        """True if `password` matches `stored`; stored=None costs the same time."""
        if stored is None:
            self._verify_argon2(self._dummy, password)
            return False
        if stored.startswith("$argon2"):
            return self._verify_argon2(stored, password)
        return _verify_legacy(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """True for legacy hashes and Argon2 hashes with other parameters."""
        match = _ARGON2ID_PARAMETERS.match(stored)
        if match is None:
            return True
        memory_kib, time_cost, lanes = map(int, match.groups())
        return (memory_kib, time_cost, lanes) != (self.memory_kib, self.time_cost, 1)

    @staticmethod
    def _verify_argon2(stored: str, password: str) -> bool:
        try:
            return nacl.pwhash.verify(stored.encode("ascii"), _bytes(password))
        except (nacl.exceptions.CryptoError, ValueError):  # mismatch or malformed
            return False


def _bytes(password: str) -> bytes:
    # JSON may carry lone surrogates ("\ud800"); strict UTF-8 would raise (a 500).
    # The policy refuses them at registration, so they can only ever fail to match.
    return password.encode("utf-8", "surrogatepass")


def is_text(value: str) -> bool:
    """True if `value` is valid Unicode text (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _verify_legacy(stored: str, password: str) -> bool:
    """Werkzeug hashes of the tutorial era: pbkdf2:…, scrypt:…, sha256$salt$hex."""
    try:
        if stored.startswith(("pbkdf2:", "scrypt:")):
            return check_password_hash(stored, password)
        method, salt, digest = stored.split("$", 2)
        if method not in ("sha256", "sha512", "sha1"):  # Werkzeug < 2.3 salted HMAC
            return False
        mac = hmac.new(salt.encode(), password.encode(), getattr(hashlib, method))
        return hmac.compare_digest(mac.hexdigest(), digest)
    except (ValueError, TypeError):  # malformed stored hash: never a 500
        return False


@cache
def common_passwords() -> str:
    """The shipped list of common passwords, lower-cased, each between newlines.

    One string rather than a set of 30,000 (a set is many times its size, in
    every worker; figures: bench/README.md): it is searched only when a password
    is set, next to a hash that costs far more.
    """
    text = resources.files("bookstore").joinpath("data/common-passwords.txt")
    # Comment and blank lines out in one pass (no 30,000 temporary strings).
    entries = _NOT_AN_ENTRY.sub("", text.read_text(encoding="utf-8"))
    return "\n" + entries + ("" if entries.endswith("\n") else "\n")


_NOT_AN_ENTRY = re.compile(r"^(#.*)?\n", re.MULTILINE)


def is_common(password: str) -> bool:
    """Whether `password` (any case) is on the common-password list."""
    candidate = password.lower()
    # A newline would let "a\nb" match two neighbouring entries; no entry has one.
    return "\n" not in candidate and f"\n{candidate}\n" in common_passwords()


# Runs a person types without choosing anything: the alphabet, the digits, and
# the rows of a US keyboard (the number row unshifted and shifted).
SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "1234567890",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "!@#$%^&*()",
)
SAME_AS_USERNAME = "Must not be the same as the username."
MOSTLY_USERNAME = (
    "Must not be mostly the username (it makes up half or more of the password)."
)
REPEATED = "Must not be a single character repeated (such as aaaaaaaa)."
SEQUENCE = (
    "Must not be a simple sequence (such as 12345678, abcdefgh, 87654321 or qwertyui)."
)
COMMON = "This password is too common; choose another."
# The policy as the OpenAPI document states it (only the lengths are JSON Schema).
POLICY_RULES = (
    f"{MIN_PASSWORD}-{MAX_PASSWORD} characters, none of them a lone surrogate; not "
    "the username nor half or more made of copies of it (case ignored), not one "
    "character repeated (aaaaaaaa), not a simple sequence forwards or backwards "
    "(12345678, abcdefgh, 87654321, qwertyui), and not on the shipped list of "
    "common passwords (case ignored)."
)


def is_repeated(password: str) -> bool:
    """Whether `password` is one character repeated, case ignored.

    Case is folded, not lowered: "µ" (micro sign) and "Μ" (Greek capital mu)
    lower to two letters but fold to one. A character may fold to several
    ("ŉ" to "ʼn", which is also how "ŉ" reads upper-cased): then the folded
    password is that folding repeated.
    """
    folded = password.casefold()
    return any(
        folded == unit * (len(folded) // len(unit))
        for unit in {character.casefold() for character in password}
    )


def is_sequence(password: str) -> bool:
    """Whether `password`, case ignored, is a run of one of SEQUENCES, forwards
    or backwards (abcdefgh, 87654321, qwertyui, 34567890)."""
    lowered = password.lower()
    return any(lowered in run or lowered in run[::-1] for run in SEQUENCES)


def is_mostly_username(password: str, username: str) -> bool:
    """Whether copies of `username` (case ignored, not overlapping) make up at
    least half of `password`'s characters."""
    name = username.lower()
    return bool(name) and 2 * len(name) * password.lower().count(name) >= len(password)


def policy_errors(password: str, username: str | None) -> list[str]:
    """Return why `password` is unacceptable (NIST 800-63B style); empty if fine.

    One rule is reported, the first broken, in this order: text, length, same as
    or mostly the username, one repeated character, a simple sequence, common.
    """
    if not is_text(password):
        return ["Must be valid Unicode text."]
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return [f"Length must be between {MIN_PASSWORD} and {MAX_PASSWORD}."]
    if username and password.lower() == username.lower():
        return [SAME_AS_USERNAME]
    if username and is_mostly_username(password, username):
        return [MOSTLY_USERNAME]
    if is_repeated(password):
        return [REPEATED]
    if is_sequence(password):
        return [SEQUENCE]
    if is_common(password):
        return [COMMON]
    return []
