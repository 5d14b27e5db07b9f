"""The app's response class: Flask's, with a cheaper hand-over to the server."""

from __future__ import annotations

from flask import Response

_REWRITTEN = frozenset({"location", "content-location"})


class APIResponse(Response):
    """Flask's Response, handing the server its own headers where Werkzeug's
    get_wsgi_headers would change nothing.

    Werkzeug copies the headers first (validating each name and value again)
    so that it can fix the copy: a Location or Content-Location to encode, a
    Content-Length to drop (1xx, 204), to compute (none set) or entity headers
    to drop (304). Most responses need none of it: a 2xx other than 204, or a
    4xx/5xx, that has its Content-Length and no Location. Anything else goes to
    Werkzeug. Held to Werkzeug's by tests/test_wsgi_headers.py.
    """

    def get_wsgi_headers(self, environ):
        status = self.status_code
        if 200 <= status < 300 and status != 204 or status >= 400:
            names = {name.lower() for name, _ in self.headers}
            if "content-length" in names and names.isdisjoint(_REWRITTEN):
                return self.headers
        return super().get_wsgi_headers(environ)
