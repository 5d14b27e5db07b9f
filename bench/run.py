"""`make bench`: Bookstore vs a bare-Flask ceiling vs the original tutorial app.

Starts every app under the same gunicorn config (2 sync workers), Bookstore at the
defaults an operator runs (production, per-request log line on, rate limiting on
with its counters in Redis), on a fresh SQLite file and a fresh PostgreSQL
database (both migrated), the tutorial app on each database too; seeds users,
tokens and books, drives each scenario from wrk (16 connections) in interleaved
rounds, and writes bench/results/latest.{md,json}. `--smoke` is the few-second CI
variant (SQLite only).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import load, profile, report, seed
from bench.procs import ROOT, Backends, Server, cpu_ms, memory_mib, request

PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TIERS_FULL, TIERS_SMOKE = (100, 10_000, 100_000), (100,)


@dataclass
class Scenario:
    name: str
    db: str
    server: Server | None
    path: str
    method: str = "GET"
    body: str | None = None
    headers: dict = field(default_factory=dict)
    expect: int = 200
    skipped: str | None = None
    runs: list = field(default_factory=list)
    backends: Backends | None = None  # the PostgreSQL database it runs on

    @property
    def key(self) -> str:
        return f"{self.db}:{self.name}"


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)  # run the finally blocks: stop servers, drop DB


def _python(args: list[str], env: dict) -> None:
    subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def bookstore_env(database_url: str, secret: str, *, log: bool = True) -> dict:
    """Production defaults; LOG_LEVEL left at INFO (the per-request line on)
    unless `log` is false (the log-line-off twin of the /healthz scenario)."""
    env = {
        "BOOKSTORE_ENV": "production",
        "SECRET_KEY": secret,
        "DATABASE_URL": database_url,
        # Rate limiting on, as an operator runs it: counters in Redis (memory://
        # counts per worker), every check made. Only the bounds the scenarios would
        # hit are raised (all logins come from one address, all creates from one
        # user), or they would measure 429s.
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": f"bookstore-bench-{secrets.token_hex(6)}",
        "RATELIMIT_LOGIN_PER_ADDRESS": "1000000/minute",
        "RATELIMIT_WRITES_PER_USER": "1000000/minute",
        "FLASK_APP": "wsgi",
    }
    if not log:
        env["LOG_LEVEL"] = "WARNING"
    return env


class Bench:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.tmp = Path(tempfile.mkdtemp(prefix="bookstore-bench-"))
        self.servers: list[Server] = []
        self.pg_dbs: list[str] = []
        self.secret = secrets.token_hex(32)
        self.notes: list[str] = []
        self.scenarios: list[Scenario] = []
        self.tiers: list[dict] = []
        self.books_available = {}

    # ---- setup -------------------------------------------------------------
    def start(self, name, app, env, ready) -> Server:
        server = Server(name, app, env, self.tmp, ready)
        self.servers.append(server)
        server.start()
        return server

    def database(self, db: str, app: str) -> str:
        """A fresh SQLite file or PostgreSQL database for `app`; its URL."""
        if db == "sqlite":
            return f"sqlite:///{self.tmp / f'{app}.sqlite3'}"
        import psycopg

        name = f"{app}_bench_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.pg_dbs.append(name)
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace(
            "postgresql://", "postgresql+psycopg://"
        )
        return f"{base}/{name}"

    def backends(self, server: Server) -> Backends | None:
        url = server.env.get("DATABASE_URL") or server.env.get("TUTORIAL_DATABASE_URL")
        if not url or not url.startswith("postgresql"):
            return None
        return Backends(PG_ADMIN_URL, url.rsplit("/", 1)[1])

    def bookstore(self, db: str) -> Server:
        url = self.database(db, "bookstore")
        env = bookstore_env(url, self.secret)
        _python(
            ["-m", "flask", "--app", "wsgi", "db", "upgrade"], {**os.environ, **env}
        )
        return self.start(f"bookstore-{db}", "wsgi:app", env, "/healthz")

    def tutorial_app(self, db: str) -> Server:
        env = {
            "TUTORIAL_SECRET_KEY": self.secret,
            "TUTORIAL_DATABASE_URL": self.database(db, "tutorial"),
        }
        _python(
            ["-c", "from bench.tutorial_app import init_db; init_db()"],
            {**os.environ, **env},
        )
        return self.start(f"tutorial-{db}", "bench.tutorial_app:app", env, "/books")

    def drop_pg(self) -> None:
        import psycopg

        while self.pg_dbs:
            name = self.pg_dbs.pop()
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def seed_bookstore(self, server: Server, db: str) -> dict:
        """Users, tokens and books; return what the scenarios need."""
        port, tokens = server.port, {}
        for role in ("list", "create", "login"):
            tokens[role] = seed.bookstore_user(port, f"bench_{role}")
        auth = {"Authorization": f"Bearer {tokens['list']}"}
        status, _, _ = request(port, "GET", "/api/v1/books", headers=auth)
        available = status == 200
        self.books_available[db] = available
        info = {
            "tokens": tokens,
            "available": available,
            "book_id": None,
            "list_bytes": None,
        }
        if not available:
            self.notes.append(
                f"{db}: GET /api/v1/books answered {status}: books endpoints not "
                "available; book scenarios skipped."
            )
            return info
        for i in range(25 if self.smoke else 100):
            status, _, body = request(
                port,
                "POST",
                "/api/v1/books",
                body=json.dumps(seed.book_body(i)),
                headers={**auth, "Content-Type": "application/json"},
            )
            if status != 201:
                raise RuntimeError(f"seed book: {status} {body[:200]!r}")
        status, _, body = request(
            port, "GET", "/api/v1/books?page=1&per_page=20", headers=auth
        )
        info["book_id"] = json.loads(body)["items"][0]["id"]
        info["list_bytes"] = len(body)
        env = server.env
        for count in TIERS_SMOKE if self.smoke else TIERS_FULL:
            username = f"tier_{count}"
            tokens[username] = seed.bookstore_user(port, username)
            _python(["-m", "bench.seed", "books", username, str(count)], env)
        return info

    def scenarios_for(self, server: Server, db: str, info: dict) -> list[Scenario]:
        tokens = info["tokens"]
        bearer = {"Authorization": f"Bearer {tokens['list']}"}
        # A well-formed token for a real session, signature altered: the full
        # verification path runs before the 401.
        head, payload, sig = tokens["list"].split(".")
        forged = (
            f"{head}.{payload}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
        )
        json_ct = {"Content-Type": "application/json"}
        skip = None if info["available"] else "endpoint not available"
        pat = seed.personal_access_token(server.port, tokens["list"])
        books = "/api/v1/books" if info["available"] else "/api/v1/users/me"
        rows = [
            Scenario("healthz", db, server, "/healthz"),
            Scenario(
                "list",
                db,
                server,
                "/api/v1/books?page=1&per_page=20",
                headers=bearer,
                skipped=skip,
            ),
            # The same list as the same user, with a personal access token.
            Scenario(
                "list_pat",
                db,
                server,
                "/api/v1/books?page=1&per_page=20",
                headers={"Authorization": f"Bearer {pat}"},
                skipped=skip or (None if pat else "no personal access tokens"),
            ),
            Scenario(
                "get",
                db,
                server,
                f"/api/v1/books/{info['book_id']}",
                headers=bearer,
                skipped=skip,
            ),
            Scenario(
                "create",
                db,
                server,
                "/api/v1/books",
                method="POST",
                body=json.dumps(seed.book_body(0)),
                headers={"Authorization": f"Bearer {tokens['create']}", **json_ct},
                expect=201,
                skipped=skip,
            ),
            Scenario(
                "invalid_token",
                db,
                server,
                books,
                headers={"Authorization": f"Bearer {forged}"},
                expect=401,
            ),
            Scenario(
                "login",
                db,
                server,
                "/api/v1/auth/login",
                method="POST",
                body=json.dumps({"username": "bench_login", "password": seed.PASSWORD}),
                headers=json_ct,
            ),
        ]
        for row in rows:
            row.backends = self.backends(server)
        return rows

    def tutorial_scenarios(self, server: Server, db: str) -> list[Scenario]:
        token = seed.tutorial_user(server.port, "tutorial")
        auth = {"x-access-tokens": token, "Content-Type": "application/json"}
        for i in range(20):  # the list scenario's page is 20 books
            request(
                server.port, "POST", "/books", headers=auth, body=seed.tutorial_book(i)
            )
        rows = [
            Scenario(
                "tutorial_list",
                db,
                server,
                "/books",
                headers={"x-access-tokens": token},
            ),
            Scenario(
                "tutorial_create",
                db,
                server,
                "/books",
                method="POST",
                body=seed.tutorial_book(0),
                headers=auth,
            ),
        ]
        if db == "sqlite":  # the password hash is the same work on any database
            rows.append(
                Scenario(
                    "tutorial_login",
                    db,
                    server,
                    "/login",
                    method="POST",
                    headers=seed.basic("tutorial"),
                )
            )
        for row in rows:
            row.backends = self.backends(server)
        return rows

    def setup(self) -> None:
        sqlite = self.bookstore("sqlite")
        pg = None if self.smoke or self.args.no_postgres else self.bookstore("pg")
        # The same app on the same database with the per-request line off: the
        # line's cost, measured on /healthz in the same rounds.
        quiet = self.start(
            "bookstore-sqlite-log-off",
            "wsgi:app",
            bookstore_env(sqlite.env["DATABASE_URL"], self.secret, log=False),
            "/healthz",
        )
        tutorials = {"sqlite": self.tutorial_app("sqlite")}
        if pg:
            tutorials["pg"] = self.tutorial_app("pg")
        for server in self.servers:
            server.wait_ready()

        info = {"sqlite": self.seed_bookstore(sqlite, "sqlite")}
        if pg:
            info["pg"] = self.seed_bookstore(pg, "pg")
        list_bytes = info["sqlite"]["list_bytes"]
        if list_bytes is None:
            list_bytes = 6500
            self.notes.append("bare ceiling sized at 6,500 bytes (no list to measure)")
        self.list_bytes = list_bytes
        bare = self.start(
            "bare", "bench.bare_app:app", {"BARE_BYTES": str(list_bytes)}, "/bare"
        )
        bare.wait_ready()

        s = [Scenario("bare_ceiling", "-", bare, "/bare")]
        s += self.scenarios_for(sqlite, "sqlite", info["sqlite"])
        s.append(Scenario("healthz_log_off", "sqlite", quiet, "/healthz"))
        s += self.tutorial_scenarios(tutorials["sqlite"], "sqlite")
        if pg:
            s += self.scenarios_for(pg, "pg", info["pg"])
            s += self.tutorial_scenarios(tutorials["pg"], "pg")
        self.scenarios = s
        self.info = info
        self.tutorial = (tutorials["sqlite"], None)
        self.bookstores = {"sqlite": sqlite, **({"pg": pg} if pg else {})}

    def seed_tutorial_tier(self) -> None:
        """10,000 books for one tutorial user, after the rounds: the tutorial
        has no index on books.user_id, so they would slow its list scenario."""
        if self.smoke:
            return
        tutorial, _ = self.tutorial
        token = seed.tutorial_user(tutorial.port, "tutorial_10000")
        path = tutorial.env["TUTORIAL_DATABASE_URL"].removeprefix("sqlite:///")
        seed.tutorial_books(path, "tutorial_10000", 10_000)
        self.tutorial = (tutorial, token)

    # ---- measuring ---------------------------------------------------------
    def preflight(self) -> None:
        for sc in self.scenarios:
            if sc.skipped:
                continue
            status, _, body = request(
                sc.server.port, sc.method, sc.path, body=sc.body, headers=sc.headers
            )
            if status != sc.expect:
                sc.skipped = f"preflight answered {status}, expected {sc.expect}"
                self.notes.append(f"{sc.key}: {sc.skipped}: {body[:160]!r}")

    def measure(self, sc: Scenario, seconds: int) -> dict:
        before = sc.server.cpu_ticks()
        db_before = sc.backends.ticks() if sc.backends else None
        summary = load.run(
            self.wrk,
            f"http://127.0.0.1:{sc.server.port}{sc.path}",
            seconds,
            method=sc.method,
            body=sc.body,
            headers=sc.headers,
        )
        used, same_workers = cpu_ms(before, sc.server.cpu_ticks())
        db_used = cpu_ms(db_before, sc.backends.ticks())[0] if sc.backends else None
        settled = self.settle(sc)
        requests = summary["requests"]
        errors = summary["errors"]
        bad = errors["status"] if sc.expect < 400 else requests - errors["status"]
        socket_errors = (
            errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
        )
        return {
            "requests": requests,
            "rps": requests / (summary["duration_us"] / 1e6),
            "p50_ms": summary["latency_us"]["p50"] / 1000,
            "p99_ms": summary["latency_us"]["p99"] / 1000,
            "cpu_ms_per_req": used / requests if requests else None,
            "db_cpu_ms_per_req": db_used / requests
            if requests and db_used is not None
            else None,
            "unexpected_status": bad,
            "socket_errors": socket_errors,
            "workers_restarted": not same_workers,
            "settle_s": settled,
        }

    def settle(self, sc: Scenario, timeout: float = 15.0) -> float:
        """Wait until the server just measured (its workers, and on PostgreSQL
        the server processes of its database) has stopped using CPU; return the
        seconds waited.

        When wrk stops, requests it sent are still queued at the server: a
        slow scenario's backlog (a login queues 16 requests of ~25 ms of CPU
        each; the tutorial's, ~115 ms each) went on running into the next
        scenario's measurement, always the same one, since the order only
        rotates. Two samples 100 ms apart with no tick between them (10 ms
        ticks) mean it is idle; `timeout` bounds the wait on a busy machine.
        """
        started = time.monotonic()

        def ticks() -> dict:
            sample = dict(sc.server.cpu_ticks())
            if sc.backends:
                sample.update(sc.backends.ticks())
            return sample

        previous, quiet = ticks(), 0
        while quiet < 2 and time.monotonic() - started < timeout:
            time.sleep(0.1)
            current = ticks()
            quiet = quiet + 1 if current == previous else 0
            previous = current
        return round(time.monotonic() - started, 2)

    def rounds(self) -> None:
        live = [sc for sc in self.scenarios if not sc.skipped]
        if not self.smoke:
            for sc in live:  # warm-up: imports, caches, connection pools
                self.measure(sc, 1)
        for r in range(self.args.rounds):
            shift = r % len(live)
            for sc in live[shift:] + live[:shift]:  # rotate the order per round
                result = self.measure(sc, self.args.seconds)
                sc.runs.append(result)
                print(
                    f"bench: round {r + 1} {sc.key:24} {result['rps']:8.0f} req/s "
                    f"p50 {result['p50_ms']:6.1f} ms  cpu "
                    f"{result['cpu_ms_per_req'] or 0:6.2f} ms/req",
                    file=sys.stderr,
                )

    def page_latencies(self) -> None:
        """Page 1 and last page at each tier, sequential, samples interleaved."""
        samples = 3 if self.smoke else 25
        probes = []
        for db, server in self.bookstores.items():
            if not self.books_available.get(db):
                continue
            for count in TIERS_SMOKE if self.smoke else TIERS_FULL:
                token = self.info[db]["tokens"][f"tier_{count}"]
                last = (count + 19) // 20
                for label, page in (("page 1", 1), ("last page", last)):
                    probes.append(
                        (
                            db,
                            count,
                            label,
                            server,
                            page,
                            {"Authorization": f"Bearer {token}"},
                            f"/api/v1/books?page={page}&per_page=20",
                        )
                    )
        tutorial, tut_token = self.tutorial
        if tut_token:
            probes.append(
                (
                    "tutorial",
                    10_000,
                    "all (unpaginated)",
                    tutorial,
                    None,
                    {"x-access-tokens": tut_token},
                    "/books",
                )
            )
        times = {i: [] for i in range(len(probes))}
        for _ in range(samples + 1):
            for i, (*_, server, _page, headers, path) in enumerate(probes):
                started = time.perf_counter()
                status, _, _ = request(server.port, "GET", path, headers=headers)
                times[i].append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise RuntimeError(f"{path}: {status}")
        for i, (db, count, label, *_rest) in enumerate(probes):
            values = times[i][1:]  # the first pass warms caches
            self.tiers.append(
                {
                    "db": db,
                    "books": count,
                    "page": label,
                    "p50_ms": statistics.median(values),
                    "max_ms": max(values),
                    "samples": len(values),
                }
            )

    def profiles(self) -> dict:
        out, found = {}, {}
        prof_dir = self.tmp / "profiles"
        prof_dir.mkdir()
        for name in ("list", "invalid_token", "create"):
            sc = next((s for s in self.scenarios if s.key == f"sqlite:{name}"), None)
            if sc is None or sc.skipped:
                continue
            files, threads = profile.record(sc.server.workers(), 8, prof_dir, name)
            time.sleep(0.5)
            self.measure(sc, 8)
            for thread in threads:
                thread.join()
            found[name] = profile.summarize(files)
        out.update(found)
        return out

    def run(self) -> dict:
        self.wrk = load.ensure_wrk()
        if not self.wrk:
            self.notes.append(
                "wrk unavailable (not installed, no root apt-get): "
                "the Python asyncio generator drove the load"
            )
        self.setup()
        self.preflight()
        self.rounds()
        rss = {s.name: s.rss_mib() for s in self.servers}
        masters = {s.name: memory_mib(s.proc.pid) for s in self.servers}
        self.seed_tutorial_tier()
        self.page_latencies()
        profiles = self.profiles() if self.args.profile else {}
        return report.build(self, rss, profiles, masters)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds, SQLite")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seconds", type=int, help="per scenario per round")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the list, invalid-token and create workers",
    )
    parser.add_argument("--out", type=Path, help="results folder")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.smoke else 5)
    args.seconds = args.seconds or (1 if args.smoke else 3)
    out = args.out or (
        Path(tempfile.gettempdir()) / "bookstore-bench-smoke"
        if args.smoke
        else ROOT / "bench" / "results"
    )
    signal.signal(signal.SIGTERM, _sigterm)
    bench = Bench(args)
    ok = False
    try:
        results = bench.run()
        ok = True
    finally:
        for server in bench.servers:
            server.stop()
        bench.drop_pg()
        if ok:
            shutil.rmtree(bench.tmp, ignore_errors=True)
        else:
            print(f"bench: failed; server logs kept in {bench.tmp}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    name = "smoke" if args.smoke else "latest"
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{name}.md").write_text(report.markdown(results))
    print(report.markdown(results))
    print(f"bench: wrote {out / name}.md and .json", file=sys.stderr)
    failed = [
        k
        for k, v in results["scenarios"].items()
        if v.get("unexpected_status") or v.get("skipped", "").startswith("pre")
    ]
    if args.smoke and failed:
        print(f"bench: smoke failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
