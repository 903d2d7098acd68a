"""The bulk path: COPY on PostgreSQL, executemany on SQLite, one statement per table.

Each statement is fed by a generator: rows are made while the database stores the previous
ones, and never more than a read buffer of them is held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Any

import psycopg2
from pony.orm import Database

from bucketlist import changes
from bucketlist.adaptations import entity_columns
from tools.seed.options import UsageError
from tools.seed.rows import BucketRow, ItemRow

COPY_CHUNK_CHARS = 256 * 1024  # what COPY is sent at a time: fewer round trips, still flat


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
