"""Books owned by users."""

from bookstore.books.models import Book, BookCount, IdempotencyKey
from bookstore.books.routes import bp

__all__ = ["Book", "BookCount", "IdempotencyKey", "bp"]
