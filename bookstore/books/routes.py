"""Blueprint "books": the caller's books."""

from flask import Blueprint

bp = Blueprint("books", __name__)
