"""Blueprint "users": the caller's account and the admin's user management."""

from flask import Blueprint

bp = Blueprint("users", __name__)
