"""Demo data: a user with buckets and items, on whatever DATABASE_URL points at.

    python tools/dummy.py [--email E] [--password P] [--buckets 100] [--items 1000]
                          [--seed N] [--reset]

The user goes in through the service's models and password hashing, so it can log in
through the API straight away. Buckets and items go in through the database's bulk path
(COPY on PostgreSQL, executemany on SQLite), one statement per table fed by a generator
so memory stays flat, all in one transaction: an interrupted or failed run leaves the
database as it was.

Without --reset an existing user is topped up to the requested counts (never
duplicated, never shrunk); --reset deletes its buckets and items first and sets the
password. A given --seed makes the same names, descriptions and done flags every time,
with timestamps at the same offsets from the moment it runs.
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any, TextIO, TypedDict

import psycopg2
from faker import Faker
from pony.orm import Database, TransactionError, db_session
from pony.orm.dbapiprovider import DBException

from bucketlist import changes, migrate
from bucketlist.adaptations import entity_columns
from bucketlist.app import load_spec
from bucketlist.config import ConfigurationError, Settings
from bucketlist.models import bind_database, normalise_email, utcnow
from bucketlist.security import check_password, hash_password

PROG = "dummy"
DEFAULT_EMAIL = "example@bucketmail.com"
DEFAULT_PASSWORD = "123456"
PROGRESS_ROWS = 10_000  # rows between progress updates
ANALYZE_ROWS = 50_000  # PostgreSQL: refresh planner statistics after adding this many rows
COPY_CHUNK_CHARS = 256 * 1024  # what COPY is sent at a time: fewer round trips, still flat
HISTORY = timedelta(days=730)  # demo data looks like two years of use
DONE_SHARE = 0.35
EDITED_SHARE = 0.2  # not done, but renamed or redescribed after creation
NO_DESCRIPTION_SHARE = 0.15
POOL_SIZE = 400  # Faker values per slot: plenty of variety, built in a few milliseconds
ITEM_NAMES_PER_THEME = 2_000
DESCRIPTIONS = 10_000
MICROSECOND = timedelta(microseconds=1)


# The columns this tool fills, by name; the bulk insert derives its column list and the
# text of each value from these and the model. Any other column takes its default.
class BucketRow(TypedDict):
    name: str
    owner_id: int
    created_at: datetime
    modified_at: datetime


class ItemRow(TypedDict):
    name: str
    description: str | None
    done: bool
    bucket_id: int
    created_at: datetime
    modified_at: datetime


# Pony wraps what goes through the ORM; the bulk path raises the drivers' own errors.
DATABASE_ERRORS = (DBException, TransactionError, psycopg2.Error, sqlite3.Error)


class UsageError(Exception):
    """The options cannot be carried out; the message is one line for the operator."""


# --- options ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    email: str
    password: str
    buckets: int
    items: int
    seed: int
    reset: bool


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="tools/dummy.py",
        description="Create a demo user with buckets and items (DATABASE_URL picks the database).",
        epilog="Run again, it tops an existing user up to the counts asked for and never"
        " duplicates it; --reset replaces the user's buckets and items instead.",
    )
    parser.add_argument("--email", default=DEFAULT_EMAIL, help=f"default {DEFAULT_EMAIL}")
    parser.add_argument("--password", default=DEFAULT_PASSWORD, help=f"default {DEFAULT_PASSWORD}")
    parser.add_argument(
        "--buckets", type=_count, default=100, help="buckets the user should have (default 100)"
    )
    parser.add_argument(
        "--items", type=_count, default=1000, help="items the user should have (default 1000)"
    )
    parser.add_argument("--seed", type=int, help="same data every time (default: a random seed, printed)")
    parser.add_argument("--reset", action="store_true", help="delete the user's buckets and items first")
    args = parser.parse_args(argv)
    # A random seed is still printed, so any run can be repeated exactly.
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    email, password = _checked_credentials(args.email, args.password)
    return Options(email, password, args.buckets, args.items, seed, args.reset)


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _checked_credentials(email: str, password: str) -> tuple[str, str]:
    """Refuse what the API's login would refuse: a user who cannot log in is no demo."""
    schemas = load_spec()["components"]["schemas"]
    email_rule, password_rule = schemas["Email"], schemas["Password"]
    if len(email) > email_rule["maxLength"] or not re.match(email_rule["pattern"], email):
        raise UsageError(f"--email {email!r} is not an email address the API accepts")
    if not password_rule["minLength"] <= len(password) <= password_rule["maxLength"]:
        raise UsageError(
            f"--password must have {password_rule['minLength']} to {password_rule['maxLength']} characters"
        )
    return normalise_email(email), password


# --- content ---------------------------------------------------------------------------

# Each theme pairs bucket names with item names, so a bucket's items fit its name.
# `{slot}` names a Faker provider (or one of the local lists below).
THEMES: dict[str, tuple[list[str], list[str]]] = {
    "travel": (
        [
            "Travel to {country}",
            "{country} someday",
            "Road trip through {state}",
            "A weekend in {city}",
            "{month_name} in {country}",
            "Backpacking {country}",
            "Places to see",
        ],
        [
            "Visit {city}",
            "Spend a night in {city}",
            "Walk the length of {street_name}",
            "Eat street food in {city}",
            "Watch the sunrise over {city}",
            "Take the night train to {city}",
            "Find the oldest bar in {city}",
        ],
    ),
    "learning": (
        [
            "Learn {language_name}",
            "Get good at {subject}",
            "Classes in {city}",
            "Before I turn {age}",
            "Skills for next year",
            "Things to learn",
        ],
        [
            "Learn {language_name}",
            "Hold a conversation in {language_name}",
            "Learn to play the {instrument}",
            "Take a course on {subject}",
            "Read a book about {subject}",
            "Shadow a {job} for a day",
        ],
    ),
    "people": (
        [
            "Time with {first_name}",
            "{first_name}'s birthday",
            "Family in {city}",
            "Friends in {city}",
            "Reconnect with {first_name}",
            "People to see",
        ],
        [
            "Call {first_name}",
            "Have dinner with {first_name}",
            "Visit {first_name} in {city}",
            "Write a letter to {first_name}",
            "Plan a surprise for {first_name}",
            "Go camping with {first_name}",
        ],
    ),
    "career": (
        [
            "Become a {job}",
            "Side project: {catch_phrase}",
            "Work at {company}",
            "Speak about {subject}",
            "Work goals",
        ],
        [
            "Interview at {company}",
            "Pitch an idea to {company}",
            "Work as a {job} for a week",
            "Give a talk on {subject}",
            "Mentor a junior {job}",
            "Ship the {catch_phrase} project",
        ],
    ),
    "reading": (
        [
            "{first_name}'s book tips",
            "Book club with {first_name}",
            "Books about {subject}",
            "Reading in {month_name}",
            "Books to read",
        ],
        [
            "Read \u201c{catch_phrase}\u201d",
            "Finish \u201c{catch_phrase}\u201d",
            "Reread \u201c{catch_phrase}\u201d",
            "Read everything by {name}",
        ],
    ),
    "outdoors": (
        [
            "Summer in {state}",
            "Outdoors in {state}",
            "Train for a {distance}",
            "Adventures with {first_name}",
            "Fitness goals",
        ],
        [
            "Run a {distance}",
            "Hike near {city}",
            "Swim in a lake in {state}",
            "Cycle from {city} to {city}",
            "Camp under the stars in {state}",
            "Climb the highest hill in {state}",
        ],
    ),
}
LOCAL_POOLS: dict[str, list[str]] = {
    "instrument": [
        "piano",
        "guitar",
        "violin",
        "cello",
        "drums",
        "ukulele",
        "saxophone",
        "harp",
        "banjo",
        "flute",
    ],
    "subject": [
        "astronomy",
        "bread baking",
        "woodworking",
        "photography",
        "first aid",
        "sailing",
        "pottery",
        "beekeeping",
        "chess",
        "watercolour",
        "statistics",
        "gardening",
        "welding",
        "typography",
    ],
    "distance": ["5k", "10k", "half marathon", "marathon", "trail race", "relay", "fun run"],
    "age": [str(n) for n in range(25, 71, 5)],
}
DESCRIPTION_TAILS = [
    "With {first_name}.",
    "Maybe in {month_name}.",
    "Ask {first_name} how.",
    "Budget: ${price}.",
    "Before {month_name}.",
    "Started planning with {first_name}.",
]

SLOT = re.compile(r"\{(\w+)\}")
# A template split at its slots: literal text alternating with pools to pick from.
Template = tuple[tuple[str, ...], tuple[Sequence[str], ...]]


class Content:
    """Names and descriptions from Faker, drawn into pools once per run.

    Calling Faker (or even filling a template) for every row would be the slowest part
    of a million-row run; picking a pooled item name or description is one random() call.
    """

    def __init__(self, seed: int) -> None:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        rand = random.Random(seed).random
        self._fake = fake
        self._pools: dict[str, Sequence[str]] = dict(LOCAL_POOLS)
        self._bucket_names = [[self._compile(t) for t in buckets] for buckets, _ in THEMES.values()]
        item_templates = [[self._compile(t) for t in items] for _, items in THEMES.values()]
        self.item_names = [
            [self._fill_one(templates, rand) for _ in range(ITEM_NAMES_PER_THEME)]
            for templates in item_templates
        ]
        sentences = [fake.sentence(nb_words=8) for _ in range(POOL_SIZE * 5)]
        tails = [self._compile(t) for t in DESCRIPTION_TAILS]
        self.descriptions = [self._description(sentences, tails, rand) for _ in range(DESCRIPTIONS)]

    def _compile(self, text: str) -> Template:
        literals = SLOT.split(text)[::2]
        pools = tuple(self._pool(name) for name in SLOT.findall(text))
        return tuple(literals), pools

    def _pool(self, name: str) -> Sequence[str]:
        if name not in self._pools:
            if name == "price":
                values = [str(self._fake.random_int(20, 5000, step=10)) for _ in range(POOL_SIZE)]
            else:
                values = [str(getattr(self._fake, name)()) for _ in range(POOL_SIZE)]
            self._pools[name] = values
        return self._pools[name]

    @staticmethod
    def _fill_one(templates: Sequence[Template], rand: Callable[[], float]) -> str:
        literals, pools = templates[int(rand() * len(templates))]
        parts = [literals[0]]
        for pool, literal in zip(pools, literals[1:], strict=True):
            parts.append(pool[int(rand() * len(pool))])
            parts.append(literal)
        return "".join(parts)[:200]  # the column's limit; Faker's values are far shorter

    def _description(
        self, sentences: Sequence[str], tails: Sequence[Template], rand: Callable[[], float]
    ) -> str | None:
        roll = rand()
        if roll < NO_DESCRIPTION_SHARE:
            return None
        text = sentences[int(rand() * len(sentences))]
        if roll > 0.6:
            text += " " + sentences[int(rand() * len(sentences))]
        if roll > 0.8:
            text += " " + self._fill_one(tails, rand)
        return text

    @property
    def theme_count(self) -> int:
        return len(self._bucket_names)

    def bucket_name(self, theme: int, rand: Callable[[], float]) -> str:
        # Filled afresh for each bucket: there are few buckets, and their names should vary.
        return self._fill_one(self._bucket_names[theme], rand)


# --- rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketPlan:
    """One of the user's buckets (old or new) and how many items to add to it."""

    id: int
    created_at: datetime
    theme: int
    new_items: int


def new_buckets(
    content: Content, rng: random.Random, owner_id: int, count: int, now: datetime
) -> tuple[list[int], Iterator[BucketRow]]:
    """Buckets spread evenly over the history, oldest first, so ids follow time as they would."""
    themes = [int(rng.random() * content.theme_count) for _ in range(count)]

    def rows() -> Iterator[BucketRow]:
        rand = rng.random
        start = now - HISTORY
        for index, theme in enumerate(themes):
            created = start + HISTORY * ((index + rand()) / count)
            modified = created + (now - created) * rand() if rand() < EDITED_SHARE else created
            yield {
                "name": content.bucket_name(theme, rand),
                "owner_id": owner_id,
                "created_at": created,
                "modified_at": modified,
            }

    return themes, rows()


def spread_items(
    rng: random.Random, buckets: list[tuple[int, datetime, int]], count: int
) -> list[BucketPlan]:
    """Share `count` items among the buckets unevenly (some lists are long, most are short)."""
    weights = [0.2 + rng.expovariate(1.0) for _ in buckets]
    total = sum(weights)
    plans, running, given = [], 0.0, 0
    for (bucket_id, created_at, theme), weight in zip(buckets, weights, strict=True):
        running += weight
        # Cumulative rounding: the shares add up to exactly `count`.
        upto = count if len(plans) == len(buckets) - 1 else int(count * running / total)
        plans.append(BucketPlan(bucket_id, created_at, theme, upto - given))
        given = upto
    return plans


def new_items(
    content: Content, rng: random.Random, plans: Iterable[BucketPlan], now: datetime
) -> Iterator[ItemRow]:
    """Each bucket's items in time order after the bucket itself, so newest-first lists read
    like a history and the (bucket_id, created_at, id) index is appended to, not scattered."""
    rand = rng.random
    descriptions = content.descriptions
    for plan in plans:
        if not plan.new_items:
            continue
        names = content.item_names[plan.theme]
        span = max((now - plan.created_at) // MICROSECOND, 1)
        for offset in sorted(int(rand() * span) for _ in range(plan.new_items)):
            created = plan.created_at + timedelta(0, 0, offset)
            done = rand() < DONE_SHARE
            edited = done or rand() < EDITED_SHARE
            modified = created + timedelta(0, 0, int(rand() * (span - offset))) if edited else created
            name = names[int(rand() * len(names))]
            description = descriptions[int(rand() * len(descriptions))]
            yield {
                "name": name,
                "description": description,
                "done": done,
                "bucket_id": plan.id,
                "created_at": created,
                "modified_at": modified,
            }


def counted(rows: Iterable[tuple], progress: Progress, every: int = PROGRESS_ROWS) -> Iterator[tuple]:
    """Pass the rows through, telling `progress` every `every` rows (and at the end)."""
    since = 0
    for row in rows:
        yield row
        since += 1
        if since == every:
            progress.advance(since)
            since = 0
    progress.advance(since)


# --- bulk writers ----------------------------------------------------------------------
# One statement per table, fed by a generator: rows are made while the database stores the
# previous ones, and never more than a read buffer of them is held in memory.


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]  # in the order `encode` gives the values
    # Rows by column -> what the database's bulk path reads (COPY lines, parameter tuples).
    encode: Callable[[Iterable[Mapping[str, Any]]], Iterator[Any]]


def table_of(entity, row_type: type, dialect: str) -> Table:
    """The bulk insert of `row_type`'s columns into the entity's table.

    Optional columns the rows leave out are left to the table's default. Required ones
    (such as counters the service keeps) go in at the model's default: Pony keeps defaults
    in Python, so a table it created has no DEFAULT.
    """
    attrs = entity_columns(entity)
    filled = tuple(row_type.__annotations__)
    constants: dict[str, object] = {}
    for column, attr in attrs.items():
        if attr.is_pk or not attr.is_required or column in filled:
            continue
        if attr.default is None:
            raise UsageError(f"{entity._table_}.{column} needs a value this tool cannot make up")
        constants[column] = attr.default() if callable(attr.default) else attr.default
    encoding = ENCODINGS[dialect]
    for column in filled:
        if column not in attrs or not (attrs[column].is_relation or attrs[column].py_type in encoding.value):
            raise UsageError(f"{entity._table_}.{column}: not a column this tool can write")
    return Table(
        entity._table_, filled + tuple(constants), encoding.compile(entity._table_, attrs, filled, constants)
    )


@dataclass(frozen=True)
class Encoding:
    """How one database's bulk path takes each type of value.

    The encoder of a table is generated from the columns it fills (Python source over the
    column's variable, `{0}`), so it costs what a hand-written loop would: it runs once per
    row of a million-row run.
    """

    value: dict[type, str]  # the column's Python type (a relation's is int) -> its value
    null: str  # the value of a missing optional one
    row: Callable[[list[str]], str]  # the values -> the expression of what is yielded
    constant: Callable[[object], object]  # a constant column's value, formatted once
    tail: Callable[[list[object]], object]  # the constants' values -> what each row ends with
    helpers: dict[str, object]

    def compile(
        self, table: str, attrs: dict, filled: tuple[str, ...], constants: dict[str, object]
    ) -> Callable[[Iterable[Mapping[str, Any]]], Iterator[Any]]:
        namespace = {**self.helpers, "tail": self.tail([self.constant(v) for v in constants.values()])}
        # Helpers as default arguments: local variables, not a global lookup per value.
        bound = ", ".join(f"{name}={name}" for name in namespace)
        namespace["pick"] = itemgetter(*filled)
        if clash := set(filled) & set(namespace):  # the columns are the loop's variables
            raise UsageError(f"{table}: columns {sorted(clash)} clash with the encoder's helpers")
        lines = [f"def encode(rows, pick=pick, {bound}):", f"    for {', '.join(filled)} in map(pick, rows):"]
        values, previous_time = [], None
        for column in filled:
            attr = attrs[column]
            value = self.value[int if attr.is_relation else attr.py_type].format(column)
            if not attr.is_required and value != column:
                value = f"({self.null} if {column} is None else {value})"
            if attr.py_type is datetime:
                # Most rows were never edited: a time that is the one before is formatted once.
                reuse = f"{previous_time}_ if {column} is {previous_time} else " if previous_time else ""
                lines.append(f"        {column}_ = {reuse}{value}")
                previous_time, value = column, f"{column}_"
            values.append(value)
        lines.append(f"        yield {self.row(values)}")
        exec(compile("\n".join(lines) + "\n", f"<bulk encoder of {table}>", "exec"), namespace)
        return namespace["encode"]


NULL = r"\N"


def _copy_text(value: str) -> str:
    """COPY's text format reads backslash, tab and line breaks as syntax."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_value(value: object) -> str:
    if isinstance(value, bool):  # before str(): COPY reads t/f, not True/False
        return "t" if value else "f"
    return _copy_text(str(value))


def _sqlite_value(value: object) -> object:
    return _sqlite_time(value) if isinstance(value, datetime) else value


def _sqlite_time(moment: datetime) -> str:
    # Pony's own format (always six fractional digits), so text order is time order.
    return moment.isoformat(" ", "microseconds")


ENCODINGS = {
    # COPY's text format: one line per row, tab between values.
    "PostgreSQL": Encoding(
        value={
            str: "copy_text({0})",
            bool: "('t' if {0} else 'f')",
            int: "{0}",
            datetime: "str({0})",
            date: "str({0})",
        },
        null="NULL",
        row=lambda values: 'f"' + "\\t".join("{" + value + "}" for value in values) + '{tail}"',
        constant=_copy_value,
        tail=lambda constants: "".join("\t" + value for value in constants) + "\n",
        helpers={"copy_text": _copy_text, "NULL": NULL},
    ),
    # executemany's parameters: as Pony stores them.
    "SQLite": Encoding(
        value={str: "{0}", bool: "{0}", int: "{0}", datetime: "sqlite_time({0})", date: "str({0})"},
        null="None",
        row=lambda values: "(" + ", ".join(values) + ", *tail)",
        constant=_sqlite_value,
        tail=tuple,
        helpers={"sqlite_time": _sqlite_time},
    ),
}


class BulkWriter:
    """The new buckets and items, through the connection (and transaction) Pony holds."""

    def __init__(self, connection, buckets: Table, items: Table) -> None:
        self._cursor = connection.cursor()
        self._buckets, self._items = buckets, items

    def buckets(self, rows: Iterable[BucketRow]) -> None:
        self._write(self._buckets, rows)

    def items(self, rows: Iterable[ItemRow]) -> None:
        self._write(self._items, rows)

    def _write(self, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
        raise NotImplementedError


class PostgresWriter(BulkWriter):
    """COPY, one statement per table."""

    def _write(self, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
        sql = f"COPY {table.name} ({', '.join(table.columns)}) FROM STDIN"
        reader = LineReader(table.encode(rows))
        try:
            self._cursor.copy_expert(sql, reader, size=COPY_CHUNK_CHARS)
        except psycopg2.Error:
            # psycopg2 turns anything raised in read() (Ctrl-C, a bug) into "error in .read()
            # call"; the original says what happened.
            if reader.failure is not None:
                raise reader.failure from None
            raise


class LineReader:
    """The file-like object copy_expert reads from, filled from a generator of lines."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.failure: BaseException | None = None

    def read(self, size: int = -1) -> str:
        chunk: list[str] = []
        length = 0
        try:
            for line in self._lines:
                chunk.append(line)
                length += len(line)
                if 0 <= size <= length:
                    break
        except BaseException as exc:
            self.failure = exc
            raise
        return "".join(chunk)  # "" tells copy_expert the data is over


class SqliteWriter(BulkWriter):
    """executemany, one statement per table."""

    def __init__(self, connection, buckets: Table, items: Table) -> None:
        super().__init__(connection, buckets, items)
        # A bigger page cache (64 MiB, bounded) keeps index pages in memory for the whole run.
        self._cursor.execute("PRAGMA cache_size = -65536")
        self._cursor.execute("PRAGMA temp_store = MEMORY")

    def _write(self, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
        marks = ", ".join("?" * len(table.columns))
        sql = f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})"
        self._cursor.executemany(sql, table.encode(rows))


def bulk_writer(db: Database) -> BulkWriter:
    dialect = db.provider.dialect
    buckets = table_of(db.Bucket, BucketRow, dialect)
    items = table_of(db.Item, ItemRow, dialect)
    connection = db.get_connection()  # also begins the transaction everything else joins
    writer = PostgresWriter if dialect == "PostgreSQL" else SqliteWriter
    return writer(connection, buckets, items)


def refresh_counters(db: Database, user_id: int, seq: int, *, deleted: bool) -> None:
    """Bulk inserts bypass the handlers that keep the sync record: record the rows added and
    deleted as one change. (The list counters are kept by the database's triggers.)"""
    changes.record_bulk(db, user_id, seq, deleted=deleted)


# --- progress --------------------------------------------------------------------------


@dataclass
class Progress:
    """A bar redrawn in place on a terminal; elsewhere a plain line every tenth of the way."""

    total: int
    out: TextIO
    started: float = field(default_factory=time.perf_counter)
    done: int = 0
    _last_tenth: int = 0
    _finishing: bool = False

    def advance(self, rows: int) -> None:
        self.done += rows
        if self._finishing or not self.total:
            return
        rate = self.done / max(time.perf_counter() - self.started, 1e-9)
        share = self.done / self.total
        if self.out.isatty():
            bar = "#" * int(share * 30)
            self.out.write(
                f"\r[{bar:<30}] {share:4.0%} {self.done:,}/{self.total:,} rows, {rate:,.0f} rows/s "
            )
            self.out.flush()
        elif int(share * 10) > self._last_tenth:
            self._last_tenth = int(share * 10)
            print(f"  {share:4.0%} {self.done:,}/{self.total:,} rows, {rate:,.0f} rows/s", file=self.out)
        if self.done == self.total:
            self._finishing = True
            # Said because the wait is real: PostgreSQL checks a COPY's foreign keys at its end,
            # seconds for a million rows, and the counters are counted then.
            ending = "\n" if self.out.isatty() else ""
            print(
                f"{ending}All rows sent; the database finishes: reference checks, counters, commit.",
                file=self.out,
            )


# --- the run ---------------------------------------------------------------------------


@dataclass
class Outcome:
    buckets_added: int = 0
    items_added: int = 0
    buckets_now: int = 0
    items_now: int = 0
    insert_seconds: float = 0.0


def seed_user(db: Database, options: Options, settings: Settings, out: TextIO) -> Outcome:
    """Find or create the user, then add what it lacks: all in one transaction."""
    with db_session:
        found = db.User.get(email=options.email)
        stored_hash = found.password_hash if found else None
    # bcrypt is slow on purpose: hash and check before the write transaction, not while holding it.
    password_matches = stored_hash is not None and check_password(options.password, stored_hash)
    needs_hash = stored_hash is None or (options.reset and not password_matches)
    new_hash = hash_password(options.password, settings.bcrypt_rounds) if needs_hash else None
    with db_session:
        writer = bulk_writer(db)
        user = _find_or_create_user(db, options, new_hash, password_matches, out)
        # The user's row lock first, as every write of the user's data takes it (bucketlist.changes).
        seq = changes.begin_write(db, user.id)
        buckets_before = db.Bucket.select(lambda b: b.owner == user).count()
        items_before = db.Item.select(lambda i: i.bucket.owner == user).count()
        if buckets_before or items_before:
            print(f"It has {buckets_before:,} buckets and {items_before:,} items.", file=out)
        if options.reset:
            deleted = buckets_before, items_before
            buckets_before = items_before = 0
        outcome = Outcome(
            buckets_added=max(options.buckets - buckets_before, 0),
            items_added=max(options.items - items_before, 0),
        )
        outcome.buckets_now = buckets_before + outcome.buckets_added
        outcome.items_now = items_before + outcome.items_added
        if outcome.items_added and not outcome.buckets_now:
            # Raised inside the transaction: the user and its data stay as they were.
            raise UsageError("items need a bucket to go in: ask for --buckets 1 or more; nothing was changed")
        if options.reset:
            _delete_content(db, user.id)
            print(f"--reset: deleted them ({deleted[0]:,} buckets, {deleted[1]:,} items).", file=out)
        _announce(options, buckets_before, items_before, outcome, out)
        started = time.perf_counter()
        _add_content(db, writer, user.id, options.seed, outcome, out)
        if options.reset or outcome.buckets_added or outcome.items_added:
            refresh_counters(db, user.id, seq, deleted=options.reset)
        if (
            db.provider.dialect == "PostgreSQL"
            and outcome.buckets_added + outcome.items_added >= ANALYZE_ROWS
        ):
            # Fresh statistics, so the first list queries are planned for the new table sizes
            # (autovacuum would get there, later; for small runs it does not matter).
            db.execute("ANALYZE buckets")
            db.execute("ANALYZE items")
        # Generation, inserts, counters, statistics: the write phase the rate is about.
        outcome.insert_seconds = time.perf_counter() - started
    return outcome


def _find_or_create_user(
    db: Database, options: Options, new_hash: str | None, password_matches: bool, out: TextIO
):
    """`new_hash` is None when the stored password already is the --password, or must stay."""
    user = db.User.get(email=options.email)
    if user is None:
        if new_hash is None:  # deleted since we looked: too rare to handle beyond saying so
            raise UsageError(f"{options.email} was deleted while this ran; run it again")
        user = db.User(email=options.email, password_hash=new_hash, created_at=utcnow())
        user.flush()  # its id is needed by the bulk inserts below
        print(f"User {options.email}: created (id {user.id}).", file=out)
        return user
    print(f"User {options.email}: already exists (id {user.id}), not created again.", file=out)
    if options.reset and new_hash is not None and not password_matches:
        user.password_hash = new_hash
        # As a password reset through the API does: tokens issued before it stop working.
        user.token_version += 1
        print("--reset: its password is now the --password given.", file=out)
    elif not password_matches:
        print("Its password differs from --password and was left as it is (--reset sets it).", file=out)
    return user


def _delete_content(db: Database, user_id: int) -> None:
    # Two set-based statements; Pony's cascade would issue one DELETE per row.
    params = {"uid": user_id}
    db.execute("DELETE FROM items WHERE bucket_id IN (SELECT id FROM buckets WHERE owner_id = $uid)", params)
    db.execute("DELETE FROM buckets WHERE owner_id = $uid", params)


def _announce(
    options: Options, buckets_before: int, items_before: int, outcome: Outcome, out: TextIO
) -> None:
    if not (outcome.buckets_added or outcome.items_added):
        print(
            f"Nothing to add: it already has at least {options.buckets:,} buckets and {options.items:,} items"
            " (--reset replaces them).",
            file=out,
        )
        return
    topping_up = " to top it up" if buckets_before or items_before else ""
    print(
        f"Adding {outcome.buckets_added:,} buckets and {outcome.items_added:,} items{topping_up}"
        f" (--seed {options.seed}).",
        file=out,
    )


def _add_content(
    db: Database, writer: BulkWriter, user_id: int, seed: int, outcome: Outcome, out: TextIO
) -> None:
    content = Content(seed)
    rng = random.Random(seed)
    now = utcnow()
    progress = Progress(outcome.buckets_added + outcome.items_added, out)
    themes, bucket_rows = new_buckets(content, rng, user_id, outcome.buckets_added, now)
    writer.buckets(counted(bucket_rows, progress))
    if outcome.items_added:
        plans = spread_items(rng, _all_buckets(db, user_id, themes, rng), outcome.items_added)
        writer.items(counted(new_items(content, rng, plans, now), progress))


def _all_buckets(
    db: Database, user_id: int, new_themes: list[int], rng: random.Random
) -> list[tuple[int, datetime, int]]:
    """Every bucket of the user with the theme its items should follow.

    The new buckets are the last ids, in the order they were generated; older buckets,
    perhaps made by hand, get a random theme.
    """
    rows = db.select("SELECT id, created_at FROM buckets WHERE owner_id = $uid ORDER BY id", {"uid": user_id})
    old = len(rows) - len(new_themes)
    themes = [int(rng.random() * len(THEMES)) for _ in range(old)] + new_themes
    return [
        (bucket_id, _as_datetime(created), theme)
        for (bucket_id, created), theme in zip(rows, themes, strict=True)
    ]


def _as_datetime(value: datetime | str) -> datetime:
    # Raw SQL skips Pony's converters: SQLite hands back the stored text.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def describe(settings: Settings) -> str:
    """Where the data goes, without the password a URL may hold."""
    if settings.is_sqlite:
        return f"SQLite file {settings.sqlite_path()}"
    params = settings.postgres_params()
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
    return f"PostgreSQL database {params['database']} on {where}"


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """The command; tests pass their own `settings` to seed the database their app uses."""
    out = sys.stdout
    started = time.perf_counter()
    try:
        options = parse_options(argv)
        settings = settings or Settings.from_env()
        target = describe(settings)
    except (UsageError, ConfigurationError) as exc:
        return _fail(str(exc))
    try:
        # The schema first, as `bucketlist serve` would: the seeder may be the first to run.
        migrate.apply(settings, report=lambda line: print(line.capitalize() + ".", file=out))
        db = bind_database(settings)
    except Exception as exc:  # noqa: BLE001 - one clear line for the operator, not a traceback
        return _fail(f"cannot open the database ({target}): {exc}")
    try:
        print(f"Seeding {target}.", file=out)
        outcome = seed_user(db, options, settings, out)
    except UsageError as exc:
        return _fail(str(exc))
    except DATABASE_ERRORS as exc:
        return _fail(f"database error, nothing was saved: {exc}")
    except KeyboardInterrupt:
        return _fail("interrupted, nothing was saved", code=130)
    finally:
        db.disconnect()
    _summarise(options, outcome, time.perf_counter() - started, out)
    return 0


def _summarise(options: Options, outcome: Outcome, elapsed: float, out: TextIO) -> None:
    rows = outcome.buckets_added + outcome.items_added
    if rows:
        # The rate counts the write phase only: startup and bcrypt would swamp small runs.
        rate = rows / outcome.insert_seconds
        added = (
            f"added {outcome.buckets_added:,} buckets and {outcome.items_added:,} items"
            f" ({rows:,} rows in {outcome.insert_seconds:.1f} s, {rate:,.0f} rows/s)"
        )
    else:
        added = "nothing added"
    print(
        f"Done in {elapsed:.1f} s: {added}. {options.email} now has"
        f" {outcome.buckets_now:,} buckets and {outcome.items_now:,} items.",
        file=out,
    )


def _fail(message: str, code: int = 2) -> int:
    # Drivers' messages run over several lines; the first one says what went wrong.
    print(f"{PROG}: {message.strip().splitlines()[0] if message.strip() else 'failed'}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
