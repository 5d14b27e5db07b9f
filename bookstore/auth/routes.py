"""Blueprint "auth": register, login, refresh, logout, sessions."""

from flask import Blueprint

bp = Blueprint("auth", __name__)
