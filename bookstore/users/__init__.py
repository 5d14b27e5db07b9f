"""User management; depends on auth."""

from bookstore.users.routes import bp

__all__ = ["bp"]
