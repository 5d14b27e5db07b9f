"""Books owned by users."""

from bookstore.books.models import Book
from bookstore.books.routes import bp

__all__ = ["Book", "bp"]
