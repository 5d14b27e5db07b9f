"""Results of a bench run: medians, same-run ratios, targets, Markdown."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime

from bench.load import CONNECTIONS
from bench.procs import GUNICORN_ENV, ROOT

MIB = "MiB"
DBS = ("sqlite", "pg")


def _median(runs: list[dict], key: str):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def _ratio(a, b):
    """Median over rounds of a[r].rps / b[r].rps (both measured in round r)."""
    if not a or not b:
        return None
    pairs = [x["rps"] / y["rps"] for x, y in zip(a, b, strict=False) if y["rps"]]
    return statistics.median(pairs) if pairs else None


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"


def build(bench, rss: dict, profiles: dict, masters: dict | None = None) -> dict:
    by_key = {sc.key: sc for sc in bench.scenarios}
    ceiling = by_key["-:bare_ceiling"].runs
    scenarios = {}
    for sc in bench.scenarios:
        row = {
            "name": sc.name,
            "db": sc.db,
            "method": sc.method,
            "path": sc.path.split("?")[0],
            "expect": sc.expect,
        }
        if sc.skipped:
            row["skipped"] = sc.skipped
        else:
            row.update(
                rps=_median(sc.runs, "rps"),
                p50_ms=_median(sc.runs, "p50_ms"),
                p99_ms=_median(sc.runs, "p99_ms"),
                cpu_ms_per_req=_median(sc.runs, "cpu_ms_per_req"),
                db_cpu_ms_per_req=_median(sc.runs, "db_cpu_ms_per_req"),
                ratio_to_ceiling=_ratio(sc.runs, ceiling),
                unexpected_status=sum(r["unexpected_status"] for r in sc.runs),
                socket_errors=sum(r["socket_errors"] for r in sc.runs),
                workers_restarted=any(r["workers_restarted"] for r in sc.runs),
                settle_s=max(r.get("settle_s", 0) for r in sc.runs),
                rounds=sc.runs,
            )
        scenarios[sc.key] = row

    def runs(key):
        sc = by_key.get(key)
        return sc.runs if sc and not sc.skipped else None

    def tier(db, books, page):
        return next(
            (
                t["p50_ms"]
                for t in bench.tiers
                if (t["db"], t["books"], t["page"]) == (db, books, page)
            ),
            None,
        )

    page1_100, page1_100k = (
        tier("sqlite", 100, "page 1"),
        tier("sqlite", 100_000, "page 1"),
    )

    def largest_rss(app: str) -> float | None:
        values = [v["rss"] for v in rss.get(app, {}).values()]
        return max(values) if values else None

    def x_ceiling(key):
        return _ratio(runs(key), ceiling)

    def x_tutorial(name, db):
        return _ratio(runs(f"{db}:{name}"), runs(f"{db}:tutorial_{name}"))

    def db_cpu(key):
        return _median(runs(key) or [], "db_cpu_ms_per_req")

    log_on_off = _ratio(runs("sqlite:healthz"), runs("sqlite:healthz_log_off"))
    summary = {
        "authenticated list, × ceiling": {db: x_ceiling(f"{db}:list") for db in DBS},
        "authenticated list, × tutorial": {db: x_tutorial("list", db) for db in DBS},
        "get one book, × ceiling": {db: x_ceiling(f"{db}:get") for db in DBS},
        "create, × tutorial": {db: x_tutorial("create", db) for db in DBS},
        "invalid token, × ceiling": {
            db: x_ceiling(f"{db}:invalid_token") for db in DBS
        },
        "`/healthz` (log line on), × ceiling": {
            db: x_ceiling(f"{db}:healthz") for db in DBS
        },
        "`/healthz` log line off, × ceiling": {
            "sqlite": x_ceiling("sqlite:healthz_log_off")
        },
        "database CPU per list, ms (tutorial's)": {
            "pg": db_cpu("pg:list"),
            "pg_tutorial": db_cpu("pg:tutorial_list"),
        },
        "worker RSS, MiB": {db: largest_rss(f"bookstore-{db}") for db in DBS},
    }
    checks = [
        ("SQLite: `/healthz` ≥ 0.9× ceiling", 0.9, ">=", x_ceiling("sqlite:healthz")),
        ("PostgreSQL: `/healthz` ≥ 0.9× ceiling", 0.9, ">=", x_ceiling("pg:healthz")),
        (
            "log line ≤ 10% of a `/healthz` (1 − on/off throughput)",
            0.10,
            "<=",
            1 - log_on_off if log_on_off else None,
        ),
        ("PostgreSQL: list ≥ 2× tutorial", 2.0, ">=", x_tutorial("list", "pg")),
        ("PostgreSQL: list ≥ 0.37× ceiling", 0.37, ">=", x_ceiling("pg:list")),
        ("PostgreSQL: get ≥ 0.45× ceiling", 0.45, ">=", x_ceiling("pg:get")),
        ("PostgreSQL: create ≥ 2× tutorial", 2.0, ">=", x_tutorial("create", "pg")),
        (
            "PostgreSQL: database CPU per list ≤ the tutorial's (ratio)",
            1.0,
            "<=",
            db_cpu("pg:list") / db_cpu("pg:tutorial_list")
            if db_cpu("pg:list") and db_cpu("pg:tutorial_list")
            else None,
        ),
        ("SQLite: list ≥ 0.5× ceiling", 0.5, ">=", x_ceiling("sqlite:list")),
        (
            "SQLite: invalid token ≥ 0.9× ceiling",
            0.9,
            ">=",
            x_ceiling("sqlite:invalid_token"),
        ),
        ("SQLite: create ≥ 2× tutorial", 2.0, ">=", x_tutorial("create", "sqlite")),
        (
            "SQLite: login ≥ 3× tutorial login (argon2id 19 MiB, t=2, p=1)",
            3.0,
            ">=",
            x_tutorial("login", "sqlite"),
        ),
        (
            "SQLite: page 1 at 100,000 books ≤ 1.5× page 1 at 100",
            1.5,
            "<=",
            page1_100k / page1_100 if page1_100 and page1_100k else None,
        ),
        ("SQLite: worker RSS ≤ 70 MiB", 70.0, "<=", largest_rss("bookstore-sqlite")),
        ("PostgreSQL: worker RSS ≤ 75 MiB", 75.0, "<=", largest_rss("bookstore-pg")),
    ]
    targets = [
        {
            "target": name,
            "limit": limit,
            "value": value,
            "met": None
            if value is None or limit is None
            else (value >= limit if op == ">=" else value <= limit),
        }
        for name, limit, op, value in checks
    ]
    return {
        "meta": {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
            "mode": "smoke" if bench.smoke else "full",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
            "load_generator": "wrk" if bench.wrk else "python (asyncio)",
            "connections": CONNECTIONS,
            "rounds": bench.args.rounds,
            "seconds_per_run": bench.args.seconds,
            "gunicorn": GUNICORN_ENV,
            "ratelimit": "on, counters in Redis (login limits raised for the bench)",
            "log_level": "INFO (the per-request log line on; off for healthz_log_off)",
            "password_hash": "argon2id 19456 KiB, t=2, p=1 (OWASP minimum)",
            "list_response_bytes": bench.list_bytes,
            "notes": bench.notes,
        },
        "scenarios": scenarios,
        "summary": summary,
        "targets": targets,
        "page_latency": bench.tiers,
        "worker_memory_mib": {
            name: [{k: round(v, 1) for k, v in m.items()} for m in pids.values()]
            for name, pids in rss.items()
        },
        # The gunicorn masters: with the app preloaded, theirs is the shared copy.
        "master_memory_mib": {
            name: {k: round(v, 1) for k, v in m.items()}
            for name, m in (masters or {}).items()
            if m
        },
        "profiles": profiles,
    }


def _fmt(value, digits=2):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def markdown(results: dict) -> str:
    meta = results["meta"]
    loadavg = ", ".join(f"{x:.2f}" for x in meta["loadavg_at_end"])
    lines = [
        f"# Bench results ({meta['mode']}, {meta['when']}, commit {meta['commit']})",
        "",
        f"{meta['cpus']} CPUs; gunicorn 2 sync workers for every app; "
        f"{meta['load_generator']} with {meta['connections']} connections; "
        f"{meta['rounds']} interleaved rounds × {meta['seconds_per_run']} s per "
        f"scenario (medians shown), each starting once the server measured "
        f"before it had finished its backlog. Bookstore at the defaults: production, "
        f"the per-request JSON log line on, rate limiting on with its counters in "
        f"Redis; {meta['password_hash']}. Ratios are to the bare-Flask ceiling "
        f"({meta['list_response_bytes']:,}-byte JSON) and to the tutorial app on "
        f"the same database, paired within each round. "
        f"Load average at the end: {loadavg}.",
        "",
        "| | SQLite | PostgreSQL |",
        "|---|---:|---:|",
    ]
    for name, values in results.get("summary", {}).items():
        if "pg_tutorial" in values:
            cells = ["", f"{_fmt(values['pg'])} ({_fmt(values['pg_tutorial'])})"]
        else:
            cells = [_fmt(values.get("sqlite")), _fmt(values.get("pg"))]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "| scenario | db | req/s | p50 ms | p99 ms | worker CPU ms/req "
        "| database CPU ms/req | × ceiling | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in results["scenarios"].values():
        if "skipped" in row:
            lines.append(
                f"| {row['name']} | {row['db']} | – | – | – | – | – | – | "
                f"skipped: {row['skipped']} |"
            )
            continue
        notes = []
        if row["unexpected_status"]:
            notes.append(f"{row['unexpected_status']} unexpected statuses")
        if row["socket_errors"]:
            notes.append(f"{row['socket_errors']} socket errors")
        if row["workers_restarted"]:
            notes.append("a worker restarted")
        if row.get("settle_s", 0) >= 1:  # its backlog ran on after wrk stopped
            notes.append(f"busy {row['settle_s']:.1f} s after the run")
        lines.append(
            f"| {row['name']} | {row['db']} | {_fmt(row['rps'], 0)} | "
            f"{_fmt(row['p50_ms'], 1)} | {_fmt(row['p99_ms'], 1)} | "
            f"{_fmt(row['cpu_ms_per_req'])} | {_fmt(row['db_cpu_ms_per_req'])} | "
            f"{_fmt(row['ratio_to_ceiling'])} | "
            f"{'; '.join(notes)} |"
        )
    lines += [
        "",
        "## Targets (same-run ratios)",
        "",
        "| target | value | met |",
        "|---|---:|---|",
    ]
    for t in results["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        if t["limit"] is None:
            met = "(not a target)" if t["value"] is not None else "not measured"
        lines.append(f"| {t['target']} | {_fmt(t['value'])} | {met} |")
    if results["page_latency"]:
        lines += [
            "",
            "## Page latency (sequential requests, per_page=20)",
            "",
            "| db | books | page | p50 ms | max ms |",
            "|---|---:|---|---:|---:|",
        ]
        for t in results["page_latency"]:
            lines.append(
                f"| {t['db']} | {t['books']:,} | {t['page']} | "
                f"{_fmt(t['p50_ms'], 1)} | {_fmt(t['max_ms'], 1)} |"
            )
    lines += [
        "",
        "## Memory after the runs (MiB; RSS counts shared pages in full, PSS",
        "shares them out, USS is a process's own)",
        "",
        "| app | process | RSS | PSS | USS (private) |",
        "|---|---|---:|---:|---:|",
    ]
    masters = results.get("master_memory_mib", {})
    for name, workers in results["worker_memory_mib"].items():
        rows = [("master", masters[name])] if name in masters else []
        rows += [(f"worker {i}", m) for i, m in enumerate(workers, 1)]
        for process, m in rows:
            lines.append(
                f"| {name} | {process} | {m['rss']:.1f} | {m['pss']:.1f} "
                f"| {m['uss']:.1f} |"
            )
    for name, prof in results["profiles"].items():
        lines += [
            "",
            f"## Profile: {name} ({prof['samples']} py-spy samples holding the GIL, "
            f"{prof['in_flask_wsgi_app_pct']}% inside Flask.wsgi_app)",
            "",
            "| self % by package | | inclusive % below wsgi_app | |",
            "|---|---:|---|---:|",
        ]
        pkgs, funcs = prof["self_by_package"], prof["inclusive_by_function"]
        for i in range(max(len(pkgs), len(funcs))):
            p = pkgs[i] if i < len(pkgs) else ("", "")
            f = funcs[i] if i < len(funcs) else ("", "")
            lines.append(f"| {p[0]} | {p[1]} | {f[0]} | {f[1]} |")
    if meta["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in meta["notes"]]
    lines += ["", "Command: `make bench` (`make bench-smoke` for the CI variant).", ""]
    return "\n".join(lines)
