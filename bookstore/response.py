"""The app's response class: Flask's, with a cheaper hand-over to the server."""

from __future__ import annotations

import re

from flask import Response

# A Location that Werkzeug's iri_to_uri gives back as it is: a path (one
# leading slash: no scheme, no host) of the characters quote() keeps with the
# safe set iri_to_uri uses for paths. Ours (a created book's) are of this kind.
_PLAIN_PATH = re.compile(r"/(?!/)[A-Za-z0-9\-._~%!$&'()*+,/:;=@]*")


class APIResponse(Response):
    """Flask's Response, handing the server its own headers where Werkzeug's
    get_wsgi_headers would change nothing.

    Werkzeug copies the headers first (validating each name and value again)
    so that it can fix the copy: a Location or Content-Location to encode, a
    Content-Length to drop (1xx, 204), to compute (none set) or entity headers
    to drop (304). Most responses need none of it: a 2xx other than 204, or a
    4xx/5xx, that has its Content-Length, no Content-Location, and no Location
    or one `Location` that is already a plain path (a 201's). Anything else
    goes to Werkzeug. Held to Werkzeug's by tests/test_wsgi_headers.py.
    """

    def get_wsgi_headers(self, environ):
        status = self.status_code
        if 200 <= status < 300 and status != 204 or status >= 400:
            length = located = False
            for name, value in self.headers:
                lower = name.lower()
                if lower == "content-length":
                    length = True
                elif lower == "location":
                    # Werkzeug sets it again: one header, spelled "Location".
                    if located or name != "Location" or not self._plain(value):
                        return super().get_wsgi_headers(environ)
                    located = True
                elif lower == "content-location":
                    return super().get_wsgi_headers(environ)
            if length:
                return self.headers
        return super().get_wsgi_headers(environ)

    def _plain(self, location: str) -> bool:
        return not self.autocorrect_location_header and bool(
            _PLAIN_PATH.fullmatch(location)
        )
