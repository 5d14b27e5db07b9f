"""Message bodies from Jinja2 templates: plain text, and HTML with autoescaping."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("bookstore.mail", "templates"),
        autoescape=select_autoescape(["html"]),  # a username is user input
        undefined=StrictUndefined,  # a missing value is a bug, not a blank
        keep_trailing_newline=True,
    )


def render(name: str, **context) -> tuple[str, str]:
    """Return the (text, html) bodies of template `name` filled with `context`."""
    env = _environment()
    return (
        env.get_template(f"{name}.txt").render(**context),
        env.get_template(f"{name}.html").render(**context),
    )
