"""Account recovery by email; depends on auth and mail."""

from bookstore.recovery.routes import bp

__all__ = ["bp"]
