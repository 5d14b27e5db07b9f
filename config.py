"""Configuration: one class per environment, every value read from the environment."""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit

import limits
from dotenv import find_dotenv, load_dotenv

ENVIRONMENTS = ("development", "testing", "production")

# Values that appear in docs and examples; a production secret equal to one of these
# is as good as public.
EXAMPLE_SECRETS = frozenset(
    {
        "change-me",
        "changeme",
        "secret",
        "dev",
        "replace-with-64-random-hex-characters-from-secrets-token-hex-32",
    }
)
MIN_SECRET_BYTES = 32
# The JWT algorithms the app supports (bookstore/security/keys.py reads these).
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset({"EdDSA", "RS256", "ES256"})
OWASP_ARGON2_MEMORY_KIB, OWASP_ARGON2_TIME_COST = 19 * 1024, 2


TRUTHY = frozenset({"1", "true", "yes", "on"})


class ConfigError(RuntimeError):
    """The configuration is unsafe or malformed; the app refuses to start."""


def _str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _int(
    name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = _str(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}.")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = _str(name)
    if raw is None:
        return default
    if raw.lower() in TRUTHY:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}.")


def _rates(name: str, default: str) -> str:
    """One or more rates in Flask-Limiter's syntax ("5/15 minutes;20/day")."""
    raw = _str(name, default)
    try:
        items = limits.parse_many(raw)
    except ValueError:
        items = []
    if not items or any(item.amount < 1 for item in items):
        raise ConfigError(
            f"{name} must be rates such as '5/15 minutes;20/day', got {raw!r}."
        )
    return raw


def _public_url(name: str) -> str:
    """An http(s) base URL without query or fragment, no trailing slash; "" if unset."""
    raw = _str(name)
    if raw is None:
        return ""
    parts = urlsplit(raw)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
    ):
        raise ConfigError(
            f"{name} must be an http(s) URL such as https://books.example.com "
            f"(no credentials, query or fragment), got {raw!r}."
        )
    return raw.rstrip("/")


def _prepare_threshold(name: str, default: int) -> int | None:
    """psycopg's prepare_threshold: a count, or None for `off` (PgBouncer)."""
    raw = _str(name)
    if raw is not None and raw.lower() in {"off", "none", "false"}:
        return None
    return _int(name, default)


def _list(name: str) -> list[str]:
    return [item.strip() for item in (_str(name) or "").split(",") if item.strip()]


class Config:
    """Settings shared by every environment; read from os.environ when instantiated."""

    ENV_NAME = "base"
    TESTING = False
    DEBUG = False

    def __init__(self) -> None:
        self.SECRET_KEY = _str("SECRET_KEY")
        self.DATABASE_URL = _str("DATABASE_URL")  # None: a SQLite file in instance/
        self.SQLALCHEMY_DATABASE_URI = self.DATABASE_URL
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False
        # One deadline for every wait on the database: connect, pool checkout and
        # statements (bookstore/deadline.py); it replaced three separate settings.
        self.DATABASE_STATEMENT_TIMEOUT = _int(
            "DATABASE_STATEMENT_TIMEOUT", 5, minimum=1, maximum=3600
        )
        self.DB_POOL_SIZE = _int("DB_POOL_SIZE", 5, minimum=1)
        self.DB_PREPARE_THRESHOLD = _prepare_threshold("DB_PREPARE_THRESHOLD", 2)
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024)

        self.JWT_ALGORITHM = _str("JWT_ALGORITHM", "HS256")
        self.JWT_ISSUER = _str("JWT_ISSUER", "bookstore")
        self.JWT_AUDIENCE = _str("JWT_AUDIENCE", "bookstore-api")
        self.JWT_ACCESS_TTL = _int("JWT_ACCESS_TTL", 900, minimum=1)
        self.JWT_REFRESH_TTL = _int("JWT_REFRESH_TTL", 1_209_600, minimum=1)
        self.JWT_REFRESH_GRACE = _int("JWT_REFRESH_GRACE", 10)
        self.JWT_LEEWAY = _int("JWT_LEEWAY", 10, maximum=30)
        self.JWT_PRIVATE_KEY_FILE = _str("JWT_PRIVATE_KEY_FILE")
        self.JWT_PREVIOUS_SECRETS = _list("JWT_PREVIOUS_SECRETS")
        self.JWT_PREVIOUS_PUBLIC_KEY_FILES = _list("JWT_PREVIOUS_PUBLIC_KEY_FILES")
        # Absolute lifetime of a login session: refreshing never extends it.
        self.SESSION_MAX_AGE = _int("SESSION_MAX_AGE", 2_592_000, minimum=1)

        # Argon2id; OWASP's minimum (19 MiB, t=2, p=1) is the default and the floor
        # in production. One lane (p=1) always: libsodium's implementation.
        self.PASSWORD_HASH_TIME_COST = _int("PASSWORD_HASH_TIME_COST", 2, minimum=1)
        self.PASSWORD_HASH_MEMORY_KIB = _int(
            "PASSWORD_HASH_MEMORY_KIB", 19456, minimum=8
        )

        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        self.REDIS_URL = _str("REDIS_URL")
        # A deployment that has a Redis shares its counters there without being told.
        self.RATELIMIT_STORAGE_URI = (
            _str("RATELIMIT_STORAGE_URI") or self.REDIS_URL or "memory://"
        )
        # Set by gunicorn.conf.py for its workers; declared by the operator for
        # instances. Either above one makes memory:// counters unsafe (check()).
        self.SERVER_WORKERS = _int("BOOKSTORE_WORKERS", 1, minimum=1)
        self.SERVER_INSTANCES = _int("BOOKSTORE_INSTANCES", 1, minimum=1)
        # Namespaces the counters when several services share one Redis.
        self.RATELIMIT_KEY_PREFIX = _str("RATELIMIT_KEY_PREFIX", "bookstore")
        self.RATELIMIT_LOGIN_PER_ADDRESS = _str(
            "RATELIMIT_LOGIN_PER_ADDRESS", "30/minute"
        )
        # Failed logins (unknown usernames too) per account from one client address
        # (IPv6: per /64), and per account from everywhere; see auth/throttle.py.
        # The daily per-address bound stays well under the account's, so that no
        # single address can reach the account's bound and lock its owner out.
        self.RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS = _rates(
            "RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", "5/15 minutes;20/day"
        )
        self.RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT = _rates(
            "RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT", "100/day"
        )
        if os.environ.get("RATELIMIT_LOGIN_PER_USERNAME", "").strip():  # retired
            raise ConfigError(
                "RATELIMIT_LOGIN_PER_USERNAME is no longer read: failed logins are "
                "now bounded per account and address "
                "(RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS) and per account "
                "(RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT). Unset it."
            )
        self.RATELIMIT_REGISTER = _str("RATELIMIT_REGISTER", "20/hour")
        self.RATELIMIT_REFRESH = _str("RATELIMIT_REFRESH", "60/minute")
        self.RATELIMIT_PASSWORD_CHANGE = _str("RATELIMIT_PASSWORD_CHANGE", "10/hour")
        self.RATELIMIT_HEADERS_ENABLED = True
        # /metrics (bookstore/metrics): off unless asked for; with a token, only
        # a scraper that presents it as a Bearer token reads it.
        self.METRICS_ENABLED = _bool("METRICS_ENABLED", False)
        self.METRICS_TOKEN = _str("METRICS_TOKEN")
        # Per-user write limits (bookstore/write_limits.py, books/services.py).
        self.RATELIMIT_WRITES_PER_USER = _str(
            "RATELIMIT_WRITES_PER_USER", "300/minute;10000/hour"
        )
        self.MAX_BOOKS_PER_USER = _int("MAX_BOOKS_PER_USER", 100_000, minimum=1)
        self.CORS_ORIGINS = _list("CORS_ORIGINS")
        self.TRUSTED_PROXY_HOPS = _int("TRUSTED_PROXY_HOPS", 0)
        # Base of absolute links (Link headers); unset: relative references.
        self.PUBLIC_URL = _public_url("PUBLIC_URL")
        self.LOG_LEVEL = (_str("LOG_LEVEL", "INFO") or "INFO").upper()
        # Seconds gunicorn keeps serving after SIGTERM while /readyz answers 503.
        self.SHUTDOWN_DRAIN_SECONDS = _int("SHUTDOWN_DRAIN_SECONDS", 0, maximum=300)

        # Mail and account recovery (docs/account-recovery.md).
        self.SMTP_URL = _str("SMTP_URL")  # unset: logged (dev), 503 (production)
        self.MAIL_FROM = _str("MAIL_FROM", "bookstore@localhost")
        self.SMTP_TIMEOUT = _int("SMTP_TIMEOUT", 10, minimum=1, maximum=30)
        self.SMTP_TLS_CA_FILE = _str("SMTP_TLS_CA_FILE")
        self.SMTP_TLS_VERIFY = _bool("SMTP_TLS_VERIFY", True)
        self.MAIL_MAX_ATTEMPTS = _int("MAIL_MAX_ATTEMPTS", 8, minimum=1, maximum=50)
        self.MAIL_RETRY_BASE = _int("MAIL_RETRY_BASE", 10, minimum=1)
        self.MAIL_POLL_INTERVAL = _int("MAIL_POLL_INTERVAL", 5, minimum=1)
        self.MAIL_SENDER_THREAD = _bool("MAIL_SENDER_THREAD", True)
        self.PASSWORD_RESET_TTL = _int("PASSWORD_RESET_TTL", 1800, minimum=60)
        self.PASSWORD_RESET_MIN_RESPONSE_MS = _int(
            "PASSWORD_RESET_MIN_RESPONSE_MS", 250, maximum=5000
        )
        self.RATELIMIT_PASSWORD_RESET_PER_ADDRESS = _str(
            "RATELIMIT_PASSWORD_RESET_PER_ADDRESS", "10/hour"
        )
        self.RATELIMIT_PASSWORD_RESET_PER_EMAIL = _str(
            "RATELIMIT_PASSWORD_RESET_PER_EMAIL", "3/hour;10/day"
        )
        self.RATELIMIT_PASSWORD_RESET_CONFIRM = _str(
            "RATELIMIT_PASSWORD_RESET_CONFIRM", "20/hour"
        )


class DevelopmentConfig(Config):
    ENV_NAME = "development"

    def __init__(self) -> None:
        super().__init__()
        # Random per process: tokens do not survive a restart, and no secret is stored.
        self.SECRET_KEY = self.SECRET_KEY or secrets.token_hex(32)


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = secrets.token_hex(32)
        self.SQLALCHEMY_DATABASE_URI = "sqlite://"
        self.RATELIMIT_ENABLED = False
        self.RATELIMIT_STORAGE_URI = "memory://"
        # Cheap hashing keeps the suite fast; production refuses these values.
        self.PASSWORD_HASH_TIME_COST = 1
        self.PASSWORD_HASH_MEMORY_KIB = 8
        self.MAIL_SENDER_THREAD = False  # tests deliver with `flask mail send`
        self.PASSWORD_RESET_MIN_RESPONSE_MS = 0  # the timing test sets the default


class ProductionConfig(Config):
    ENV_NAME = "production"

    def __init__(self) -> None:
        super().__init__()
        # Long enough for a load balancer's readiness probe to see the 503.
        self.SHUTDOWN_DRAIN_SECONDS = _int("SHUTDOWN_DRAIN_SECONDS", 5, maximum=300)


_CLASSES = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


# Settings folded into DATABASE_STATEMENT_TIMEOUT: refused by name, so that an
# operator who set one is told rather than silently ignored.
REPLACED = ("DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT_MS", "DB_POOL_TIMEOUT")


def for_env(env: str | None = None) -> Config:
    """Return the settings for `env` (default: $BOOKSTORE_ENV, else development)."""
    name = (env or os.environ.get("BOOKSTORE_ENV") or "development").strip().lower()
    if name not in _CLASSES:
        raise ConfigError(
            f"BOOKSTORE_ENV must be one of {', '.join(ENVIRONMENTS)}, got {name!r}."
        )
    read_dotenv(name)
    for old in REPLACED:
        if os.environ.get(old, "").strip():
            raise ConfigError(
                f"{old} is no longer read: DATABASE_STATEMENT_TIMEOUT (seconds) now "
                "bounds connect, pool checkout and statements alike."
            )
    return _CLASSES[name]()


def read_dotenv(env: str) -> None:
    """Apply the one rule for `.env`: development reads it, nothing else does.

    Real environment variables win over the file. FLASK_SKIP_DOTENV=1 (Flask's own
    switch) turns the file off everywhere; the test suite sets it. In production the
    `flask` command may already have read the file itself: refuse rather than run
    on a mix of the file and the real environment.
    """
    path = find_dotenv(usecwd=True) if _dotenv_allowed() else ""
    if env == "development" and path:
        load_dotenv(path, override=False)
    elif env == "production" and path and os.environ.get("FLASK_RUN_FROM_CLI"):
        raise ConfigError(
            f"the flask command has read {path}, but production takes its settings "
            "from the real environment only: remove it or set FLASK_SKIP_DOTENV=1."
        )


def _dotenv_allowed() -> bool:
    skip = os.environ.get("FLASK_SKIP_DOTENV", "")
    return not skip or skip.lower() in {"0", "false", "no"}  # as Flask decides


def check(settings) -> None:
    """Raise ConfigError when settings are unsafe for their environment."""
    if settings.get("ENV_NAME") != "production":
        return
    secret = settings.get("SECRET_KEY")
    if not secret:
        raise ConfigError(
            "SECRET_KEY is not set. Production needs a random secret of at least "
            f"{MIN_SECRET_BYTES} bytes, e.g. python -c "
            "'import secrets; print(secrets.token_hex(32))'."
        )
    _check_secret("SECRET_KEY", secret)
    # A previous secret still verifies tokens: a weak one forges them as well as
    # a weak SECRET_KEY would.
    for position, previous in enumerate(settings.get("JWT_PREVIOUS_SECRETS") or (), 1):
        _check_secret(f"JWT_PREVIOUS_SECRETS (entry {position})", previous)
    if (
        settings["PASSWORD_HASH_MEMORY_KIB"] < OWASP_ARGON2_MEMORY_KIB
        or settings["PASSWORD_HASH_TIME_COST"] < OWASP_ARGON2_TIME_COST
    ):
        raise ConfigError(
            "PASSWORD_HASH_MEMORY_KIB / PASSWORD_HASH_TIME_COST are below OWASP's "
            f"argon2id minimum ({OWASP_ARGON2_MEMORY_KIB} KiB, t="
            f"{OWASP_ARGON2_TIME_COST})."
        )
    algorithm = settings.get("JWT_ALGORITHM")
    if algorithm not in HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS:
        raise ConfigError(
            f"JWT_ALGORITHM {algorithm!r} is not supported; use one of "
            f"{', '.join(sorted(HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS))}."
        )
    key_file = settings.get("JWT_PRIVATE_KEY_FILE")
    if algorithm in ASYMMETRIC_ALGORITHMS and not key_file:
        raise ConfigError(
            f"JWT_ALGORITHM={algorithm} signs with a private key: set "
            "JWT_PRIVATE_KEY_FILE to its PEM file."
        )
    if algorithm in ASYMMETRIC_ALGORITHMS and not os.path.isfile(key_file):
        raise ConfigError(f"JWT_PRIVATE_KEY_FILE {key_file!r} is not a readable file.")
    _check_shared_limits(settings)


def _check_shared_limits(settings) -> None:
    """memory:// counts per process: with several, every limit multiplies."""
    if not settings["RATELIMIT_ENABLED"]:
        return
    if not settings["RATELIMIT_STORAGE_URI"].startswith("memory:"):
        return
    workers, instances = settings["SERVER_WORKERS"], settings["SERVER_INSTANCES"]
    if workers == 1 and instances == 1:
        return
    raise ConfigError(
        f"rate limiting keeps its counters in memory:// (per process), but this "
        f"server runs {workers} worker(s) (GUNICORN_WORKERS) and declares "
        f"{instances} instance(s) (BOOKSTORE_INSTANCES): every limit would be "
        "multiplied and reset on restarts. Set RATELIMIT_STORAGE_URI (or REDIS_URL) "
        "to a shared redis://... store, or serve with one worker and one instance."
    )


def _check_secret(name: str, secret: str) -> None:
    """Raise ConfigError naming `name` (never the value) when `secret` is weak."""
    if secret.strip().lower() in EXAMPLE_SECRETS:
        raise ConfigError(f"{name} is an example value; generate a random one.")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{name} is too short: it must be at least {MIN_SECRET_BYTES} bytes."
        )
