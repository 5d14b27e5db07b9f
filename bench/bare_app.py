"""The in-run ceiling: a bare Flask endpoint answering JSON of a given size.

`BARE_BYTES` sets the body size (the authenticated list's, measured by the harness).
The payload is a list of 20 dicts serialised per request, like a real list view,
but with no auth, database, hooks or validation.
"""

from __future__ import annotations

import json
import os

from flask import Flask, jsonify

ITEMS = 20


def _payload(size: int) -> dict:
    item = {
        "id": "9b2e0c7e-1d5a-4c1f-8f0e-6f1b2a3c4d5e",
        "title": "",
        "author": "Frank Herbert",
        "publisher": "Chilton Books",
        "price": "9.99",
    }
    data = {"items": [dict(item) for _ in range(ITEMS)], "page": 1, "total": ITEMS}
    # jsonify: compact separators plus a newline; pad titles to reach `size`.
    missing = max(0, size - 1 - len(json.dumps(data, separators=(",", ":"))))
    for index, entry in enumerate(data["items"]):
        entry["title"] = "x" * (missing // ITEMS + (index < missing % ITEMS))
    return data


app = Flask(__name__)
PAYLOAD = _payload(int(os.environ.get("BARE_BYTES", "6000")))


@app.get("/bare")
def bare():
    return jsonify(PAYLOAD)
