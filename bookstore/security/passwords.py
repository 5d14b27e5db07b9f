"""Password hashing (argon2id), legacy Werkzeug hashes, and the password policy."""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.security import check_password_hash

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,32}")
USERNAME_RULE = "3-32 characters of letters, digits, '_', '.' and '-'."
MIN_PASSWORD, MAX_PASSWORD = 8, 128


class Hasher:
    """argon2id with configured parameters; verifies legacy hashes for upgrade."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int):
        self._argon2 = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Checked when the user is unknown, so both answers cost the same time.
        self._dummy = self._argon2.hash("not-a-real-password: timing equaliser")

    def hash(self, password: str) -> str:
        """Return an argon2id hash of `password`."""
        return self._argon2.hash(_bytes(password))

    def verify(self, stored: str | None, password: str) -> bool:
        """True if `password` matches `stored`; stored=None costs the same time."""
        if stored is None:
            self._verify_argon2(self._dummy, password)
            return False
        if stored.startswith("$argon2"):
            return self._verify_argon2(stored, password)
        return _verify_legacy(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """True for legacy hashes and argon2 hashes with other parameters."""
        if not stored.startswith("$argon2"):
            return True
        try:
            return self._argon2.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def _verify_argon2(self, stored: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored, _bytes(password))
        except (VerificationError, InvalidHashError):
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
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased."""
    text = resources.files("bookstore").joinpath("data/common-passwords.txt")
    return frozenset(
        line
        for line in text.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )


def policy_errors(password: str, username: str | None) -> list[str]:
    """Return why `password` is unacceptable (NIST 800-63B style); empty if fine."""
    if not is_text(password):
        return ["Must be valid Unicode text."]
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return [f"Length must be between {MIN_PASSWORD} and {MAX_PASSWORD}."]
    if username and password.lower() == username.lower():
        return ["Must not be the same as the username."]
    if password.lower() in common_passwords():
        return ["This password is too common; choose another."]
    return []
