"""Search (`q`) latency: terms a user would type, on a shelf of varied books.

    python -m bench.search_latency DATABASE_URL [--sizes 100,100000]
        [--corpus books,volume] [--requests 50] [--json]

Like listing_latency.py (same throwaway database, migrations, in-process Flask
test client with a logged-in owner, a neighbour with a tenth as many books), but
it times only `GET /api/v1/books?q=…` page 1 with its exact total, for each
term of each corpus:

- `books`: titles and authors drawn from a vocabulary with a skewed (Zipf-like)
  frequency, as real shelves have: a few common words, many rare ones.
- `volume`: listing_latency.py's titles ("Volume N of the bench", "Author N"),
  kept as the adversarial case: most trigrams of any term are in every row.

Each row gives the term, its total, p50/p95 of the request, the SQL alone (p50)
and the CPU per request (this process plus, on PostgreSQL, the server's), and
the 1-minute load average before and after the term was timed (other work on
the machine makes a request wait for a core; the CPU column does not).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import random
import sys
from urllib.parse import quote

from sqlalchemy.engine import make_url

from bench.listing_latency import (
    _seed,
    _time,
    scratch_database,
    started,
    volume_corpus,
)

# Most frequent first: word k is drawn with weight 1/(k+1).
NOUNS = """night house river garden war city heart shadow road sea time
light world girl king child fire water stone memory island storm mountain
winter forest dream book love secret silence letter summer train moon bird
kingdom empire mirror bridge wolf door harbor widow orchard lantern empress
glass crown ghost season voyage ladder song daughter sister brother mother
father engine ocean desert valley field castle tower cathedral library map
compass lighthouse marigold saffron tapestry alchemist cartographer
clockmaker apothecary nightingale labyrinth archipelago monsoon meridian
equinox obsidian quartz juniper falconer sparrow heron otter badger
magistrate cellist""".split()
ADJECTIVES = """last lost little dark silent secret long broken golden hidden
quiet red white black wild new old forgotten burning distant invisible
unquiet crooked patient luminous hollow gilded restless velvet""".split()
PLACES = """London Paris Rome Venice Kyoto Lisbon Cairo Dublin Prague Vienna
Istanbul Havana Oslo Naples Samarkand Zanzibar Valparaiso""".split()
FIRST_NAMES = """John Mary James Elizabeth Robert Sarah David Anna Michael
Margaret William Emily Thomas Laura Richard Alice Peter Helen George Clara
Daniel Rosa Henry Julia Samuel Ingrid Tobias Amara Lucien Yuki Olusegun
Siobhan Matthias Leocadia Bartholomew""".split()
SURNAMES = """Smith Johnson Brown Taylor Miller Wilson Moore Clark Walker
Hall Young King Wright Green Baker Adams Nelson Carter Mitchell Roberts
Turner Phillips Campbell Parker Evans Edwards Collins Stewart Morris
Murphy Cook Rogers Morgan Cooper Peterson Reed Bailey Bell Kelly Howard
Ward Cox Richardson Wood Watson Brooks Bennett Gray James Hughes Price
Sanders Myers Long Ross Foster Nakamura Okonkwo Lindqvist Castellanos
Dubois Kowalczyk Haddad Sorensen Achterberg Villanueva Fairweather
Quimby Thistlewood""".split()
TEMPLATES = (
    "The {adj} {noun}",
    "The {noun} of {place}",
    "{adj} {noun}",
    "A {noun} in {season}",
    "The {noun} and the {noun2}",
    "{first}'s {noun}",
    "Letters from {place}",
    "The {noun}: A Novel",
    "A History of the {noun}",
    "{noun} {number}",
)


def _draw(rng: random.Random, words: list[str]) -> str:
    return rng.choices(words, cum_weights=_zipf(len(words)))[0]


@functools.cache
def _zipf(n: int) -> list[float]:
    """Cumulative weights 1, 1/2, 1/3, … of n words."""
    return list(itertools.accumulate(1 / (rank + 1) for rank in range(n)))


def books_corpus(i: int) -> tuple[str, str]:
    """Book i's title and author, drawn from the skewed vocabulary (the same
    book for the same i, on every run)."""
    rng = random.Random(i)
    title = rng.choice(TEMPLATES).format(
        adj=_draw(rng, ADJECTIVES).capitalize(),
        noun=_draw(rng, NOUNS).capitalize(),
        noun2=_draw(rng, NOUNS),
        place=_draw(rng, PLACES),
        season=rng.choice(("Winter", "Spring", "Summer", "Autumn")),
        first=_draw(rng, FIRST_NAMES),
        number=rng.randint(1, 12),
    )
    author = f"{_draw(rng, FIRST_NAMES)} {_draw(rng, SURNAMES)}"
    return title, author


# Books the neighbour adds after the last vacuum: on PostgreSQL about half of
# a GIN index's default 4 MB pending list, the average state of a table being
# written to between merges.
UNVACUUMED = 5_000
CORPORA = {"books": books_corpus, "volume": volume_corpus}
# (what a user types, why it is there)
TERMS = {
    "books": [
        ("lighthouse", "a distinctive title word"),
        ("okonkwo", "a distinctive author surname"),
        ("garden", "a common title word"),
        ("night", "the most common title word"),
        ("sea", "a 3-letter term (also in season, research…)"),
        ("ro", "a 2-letter term: no trigram, the scan"),
        ("qwxz", "a term matching nothing"),
    ],
    "volume": [
        ("volume 12", "adversarial: 5 of 7 trigrams in every row"),
        ("author 41", "adversarial"),
        ("volume 4321", "adversarial, selective"),
        ("zz", "a 2-letter term: no trigram, the scan"),
        ("qwxz", "a term matching nothing"),
    ],
}


def _terms(client, headers, corpus: str, requests: int, backends) -> list[dict]:
    """Each of `corpus`'s terms timed, with the load average around it."""
    rows = []
    for term, why in TERMS[corpus]:
        load_before = os.getloadavg()[0]
        row = _time(client, headers, f"q={quote(term)}", requests, backends)
        load = (load_before, os.getloadavg()[0])
        rows.append(
            {
                "corpus": corpus,
                "state": "vacuumed",
                "why": why,
                **row,
                "query": f"q={term}",
                "load_1m": [round(value, 2) for value in load],
            }
        )
    return rows


def measure(
    url: str, corpus: str, sizes=(100, 100_000), requests: int = 50
) -> list[dict]:
    """Seed `corpus` up to each size in turn and time each of its terms."""
    from bookstore.extensions import db

    rows = []
    with scratch_database(url) as scratch:
        app, client, headers, backends = started(url, scratch)
        backend = make_url(scratch).get_backend_name()
        seeded = 0
        make = CORPORA[corpus]
        for size in sorted(sizes):
            _seed(app, "bench-owner", seeded, size, make)
            _seed(app, "bench-neighbour", seeded // 10, size // 10, make)
            seeded = size
            timed = _terms(client, headers, corpus, requests, backends)
            rows += [{"backend": backend, "books": size, **row} for row in timed]
        # Then the state between two vacuums of a table being written to: the
        # neighbour adds books (the owner's shelf and totals stay the same).
        _seed(app, "bench-neighbour", size, size + UNVACUUMED, make, vacuum=False)
        timed = _terms(client, headers, corpus, requests, backends)
        state = {"state": f"+{UNVACUUMED} unvacuumed"}
        rows += [{"backend": backend, "books": size, **r, **state} for r in timed]
        with app.app_context():
            db.engine.dispose()
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        f"{'backend':<10} {'corpus':<7} {'books':>7} {'state':<18} {'query':<14}"
        f" {'total':>6} {'p50 ms':>7} {'p95 ms':>7} {'SQL p50':>8} {'CPU ms':>7}"
        "  load 1m"
    ]
    for r in rows:
        lines.append(
            f"{r['backend']:<10} {r['corpus']:<7} {r['books']:>7} {r['state']:<18}"
            f" {r['query']:<14} {r['total']:>6} {r['p50_ms']:>7.2f}"
            f" {r['p95_ms']:>7.2f} {r['sql_p50_ms']:>8.2f} {r['cpu_ms']:>7.2f}"
            f"  {r['load_1m'][0]:.2f}→{r['load_1m'][1]:.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--sizes", default="100,100000")
    parser.add_argument("--corpus", default="books,volume")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for corpus in args.corpus.split(","):
        rows += measure(args.database_url, corpus, sizes, args.requests)
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
