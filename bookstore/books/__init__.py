"""Books owned by users."""

from bookstore.books.models import Book, IdempotencyKey
from bookstore.books.routes import bp

__all__ = ["Book", "IdempotencyKey", "bp"]
