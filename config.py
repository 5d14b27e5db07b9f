"""Configuration: one class per environment, every value read from the environment."""

from __future__ import annotations

import os
import secrets

from dotenv import load_dotenv

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


class ConfigError(RuntimeError):
    """The configuration is unsafe or malformed; the app refuses to start."""


def _str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = _str(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}.")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = _str(name)
    if raw is None:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}.")


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
        self.DB_CONNECT_TIMEOUT = _int("DB_CONNECT_TIMEOUT", 5, minimum=1)
        self.DB_STATEMENT_TIMEOUT_MS = _int("DB_STATEMENT_TIMEOUT_MS", 15_000)
        self.DB_POOL_SIZE = _int("DB_POOL_SIZE", 5, minimum=1)
        self.DB_POOL_TIMEOUT = _int("DB_POOL_TIMEOUT", 10, minimum=1)
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024)

        self.JWT_ALGORITHM = _str("JWT_ALGORITHM", "HS256")
        self.JWT_ISSUER = _str("JWT_ISSUER", "bookstore")
        self.JWT_AUDIENCE = _str("JWT_AUDIENCE", "bookstore-api")
        self.JWT_ACCESS_TTL = _int("JWT_ACCESS_TTL", 900, minimum=1)
        self.JWT_REFRESH_TTL = _int("JWT_REFRESH_TTL", 1_209_600, minimum=1)
        self.JWT_REFRESH_GRACE = _int("JWT_REFRESH_GRACE", 10)
        self.JWT_LEEWAY = _int("JWT_LEEWAY", 10)

        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = _str("RATELIMIT_STORAGE_URI", "memory://")
        self.REDIS_URL = _str("REDIS_URL")
        self.CORS_ORIGINS = _list("CORS_ORIGINS")
        self.TRUSTED_PROXY_HOPS = _int("TRUSTED_PROXY_HOPS", 0)
        self.LOG_LEVEL = (_str("LOG_LEVEL", "INFO") or "INFO").upper()


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


class ProductionConfig(Config):
    ENV_NAME = "production"


_CLASSES = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def for_env(env: str | None = None) -> Config:
    """Return the settings for `env` (default: $BOOKSTORE_ENV, else development)."""
    load_dotenv(override=False)  # real environment variables win over .env
    name = (env or os.environ.get("BOOKSTORE_ENV") or "development").strip().lower()
    if name not in _CLASSES:
        raise ConfigError(
            f"BOOKSTORE_ENV must be one of {', '.join(ENVIRONMENTS)}, got {name!r}."
        )
    return _CLASSES[name]()


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
    if secret.strip().lower() in EXAMPLE_SECRETS:
        raise ConfigError("SECRET_KEY is an example value; generate a random one.")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"SECRET_KEY is too short: it must be at least {MIN_SECRET_BYTES} bytes."
        )
