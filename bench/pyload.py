"""Fallback load generator (only when wrk cannot be installed): asyncio, N connections.

Same inputs and output as wrk_report.lua: BENCH_METHOD/BODY/HEADERS/OUT from the
environment; one request per connection, as gunicorn's sync workers close each one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from urllib.parse import urlsplit


async def _client(host, port, raw, deadline, latencies, errors):
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(raw)
            await writer.drain()
            data = await reader.read()  # the server closes after the response
            writer.close()
            status = int(data.split(b" ", 2)[1])
            if status > 399:
                errors["status"] += 1
            latencies.append(time.perf_counter() - started)
        except (OSError, ValueError, IndexError):
            errors["read"] += 1


def main(url: str, seconds: float, connections: int) -> None:
    parts = urlsplit(url)
    body = os.environ.get("BENCH_BODY", "").encode()
    lines = [
        f"{os.environ.get('BENCH_METHOD', 'GET')} {parts.path}"
        f"{'?' + parts.query if parts.query else ''} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    lines += [h for h in os.environ.get("BENCH_HEADERS", "").split("\n") if h]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    latencies, errors = (
        [],
        {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
    )
    started = time.perf_counter()
    deadline = started + seconds

    async def drive():
        await asyncio.gather(
            *(
                _client(parts.hostname, parts.port, raw, deadline, latencies, errors)
                for _ in range(connections)
            )
        )

    asyncio.run(drive())
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return (
            int(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6)
            if latencies
            else 0
        )

    summary = {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "bytes": 0,
        "errors": errors,
        "latency_us": {
            "p50": pct(50),
            "p90": pct(90),
            "p99": pct(99),
            "max": pct(100),
            "mean": sum(latencies) / max(1, len(latencies)) * 1e6,
        },
    }
    with open(os.environ["BENCH_OUT"], "w") as out:
        json.dump(summary, out)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
