"""Accounts, tokens and login sessions."""

from bookstore.auth.models import User
from bookstore.auth.routes import bp

__all__ = ["User", "bp"]
