"""What the writer reads and writes for a batch of ledger commands.

Every statement is a SQLAlchemy Core construct, compiled once per dialect into SQL text with
positional parameters (`Sql`), and run through the DBAPI cursor of the writer's connection,
inside the transaction SQLAlchemy began. This path runs for every charge, and building or
processing parameters through SQLAlchemy's execution layer costs several times what SQLite
spends executing the statement (see docs/benchmarks.md). Rows go out as multi-row statements:
VALUES lists of a power-of-two number of rows; on PostgreSQL, from four rows on, one statement
per table whatever the batch's size, with one array parameter per column, unnested in step.

Every statement filters by `account_id`. `IN` lists are compiled for a power-of-two number of
values and padded by repeating the last one, so a handful of compiled variants serve any batch.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from creditbook.domain.book import AccountState, Entry
from creditbook.domain.commands import IdempotencyRecord, UsageKey
from creditbook.domain.fields import dump_json, load_json
from creditbook.domain.grants import Grant
from creditbook.domain.transactions import Transaction
from creditbook.storage.tables import (
    OPEN_GRANTS,
    accounts,
    grants,
    idempotency_records,
    journal_entries,
    price_book_meta,
    revisions,
    transactions,
    usage_buckets,
)

ACCOUNT_STATE_COLUMNS = (
    accounts.c.id,
    accounts.c.status,
    accounts.c.overdraft_limit_micros,
    accounts.c.monthly_limit_micros,
    accounts.c.balance_micros,
    accounts.c.reserved_micros,
    accounts.c.lifetime_spend_micros,
    accounts.c.month_start_us,
    accounts.c.month_spend_micros,
    accounts.c.entry_seq,
)
GRANT_COLUMNS = tuple(grants.c)
TRANSACTION_COLUMNS = tuple(transactions.c)
TRANSACTION_FIELDS = tuple(c.name for c in TRANSACTION_COLUMNS)
ENTRY_COLUMNS = tuple(journal_entries.c)
USAGE_KEY = ("account_id", "bucket_start_us", "operation", "api_key_id")


def positional_dialect(name: str) -> Dialect:
    """The dialect to compile for, with positional parameters (`?` or `%s`)."""
    if name == "sqlite":
        return sqlite.pysqlite.dialect()
    return postgresql.psycopg.dialect(paramstyle="format")  # type: ignore[no-untyped-call]


class Sql:
    """A Core construct compiled once: its SQL text and the order of its parameters."""

    def __init__(self, construct: ClauseElement, dialect: Dialect) -> None:
        compiled: Any = construct.compile(dialect=dialect)
        self.text = str(compiled)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.positions: tuple[int, ...] | None = None  # how to reorder a row, if needed

    def check(self, *names: str) -> Sql:
        """Pair assertion: the tuples the code builds match the compiled parameter order."""
        if self.names != names:
            assert sorted(self.names) == sorted(names), f"parameters {self.names} != {names}"
            self.positions = tuple(names.index(name) for name in self.names)
        return self


def _padded(values: Sequence[str]) -> tuple[int, list[str]]:
    size = 1
    while size < len(values):
        size *= 2
    return size, [*values, *[values[-1]] * (size - len(values))]


def _in_list(prefix: str, size: int) -> list[Any]:
    return [bindparam(f"{prefix}{i}") for i in range(size)]


ROWS_PER_STATEMENT_MAX = 256  # rows one multi-row write carries; a power of two


# PostgreSQL writes of COLUMNAR_ROWS_MIN rows or more are compiled for "size" COLUMNAR: one
# array parameter per column, of any length. A multi-row VALUES list costs PostgreSQL about
# three times as much per row (each value a parameter of its own, bound and typed one by one),
# but below four rows the arrays' fixed cost (unnest, casts) is the larger: a one-row write
# took 0.24 ms as VALUES against 0.37 ms as arrays, 16 rows 1.1 against 0.7 ms.
COLUMNAR = 0
COLUMNAR_ROWS_MIN = 4


def _row_params(names: Sequence[str], size: int) -> list[str]:
    return [f"{name}_{i}" for i in range(size) for name in names]


def _unnested(table: Any, names: Sequence[str]) -> Any:
    """`SELECT unnest(CAST(:a AS type[])) AS a, ...`: the rows of one array per column."""
    return select(
        *[func.unnest(cast(bindparam(n), ARRAY(table.c[n].type))).label(n) for n in names]
    )


def _batch_rows(table: Any, names: Sequence[str], size: int, pg: bool) -> Any:
    """The batch's rows as a table `v` to join: arrays unnested (`size` COLUMNAR), else a
    VALUES list of `size` rows."""
    if size == COLUMNAR:
        return _unnested(table, names).cte("v")

    def value(name: str, i: int) -> Any:
        param: Any = bindparam(f"{name}_{i}")
        # PostgreSQL types a bare VALUES list as text: say what each column is.
        return cast(param, table.c[name].type) if pg else param

    data = values(*[column(n) for n in names], name="v").data(
        [tuple(value(n, i) for n in names) for i in range(size)]
    )
    return data.cte("v")


def _insert_rows(table: Any, size: int) -> tuple[Any, tuple[str, ...]]:
    names = tuple(c.name for c in table.c)
    if size == COLUMNAR:
        return insert(table).from_select(names, _unnested(table, names)), names
    rows: list[dict[str, Any]] = [{n: bindparam(f"{n}_{i}") for n in names} for i in range(size)]
    return insert(table).values(rows), names


USAGE_DELTAS = ("spend_micros", "units", "charges")
USAGE_CUMS = ("cum_spend_micros", "cum_units", "cum_charges")
USAGE_SERIES = ("account_id", "operation", "api_key_id")
ZERO: Any = literal_column("0")  # inline, not a parameter of the compiled row-by-row writes
ONE: Any = literal_column("1")


def _same_series(a: Any, b: Any) -> Any:
    return and_(*[a.c[name] == b.c[name] for name in USAGE_SERIES])


def _prior_cum(v: Any, name: str) -> Any:
    """The cum column `name` of the series' latest bucket before v's (0 if none), as the
    statement found the table: PostgreSQL reads its snapshot, and SQLite runs a SELECT that
    reads the table it inserts into to completion before inserting."""
    earlier, latest = usage_buckets.alias("p"), usage_buckets.alias("m")
    before = (
        select(func.max(latest.c.bucket_start_us))
        .where(_same_series(latest, v), latest.c.bucket_start_us < v.c.bucket_start_us)
        .correlate_except(latest)
        .scalar_subquery()
    )  # a max() seek on the key on both databases (no LIMIT: it would be a parameter)
    found = select(earlier.c[name]).where(
        _same_series(earlier, v), earlier.c.bucket_start_us == before
    )
    return func.coalesce(found.scalar_subquery(), ZERO)


def _upsert_usage_rows(size: int, pg: bool) -> tuple[Any, tuple[str, ...]]:
    """Add each delta to its bucket and to the bucket's cum columns; a new bucket starts its
    cum columns at the series' latest earlier bucket's, plus the delta. (Deltas of the same
    batch into earlier buckets of the series are added by `_carry_usage_rows`.)"""
    names = (*USAGE_KEY, *USAGE_DELTAS)
    v = _batch_rows(usage_buckets, names, size, pg)
    pairs = tuple(zip(USAGE_DELTAS, USAGE_CUMS, strict=True))
    rows = select(*[v.c[n] for n in names], *[_prior_cum(v, c) + v.c[n] for n, c in pairs]).where(
        true()
    )  # SQLite needs a WHERE before ON CONFLICT to parse an INSERT ... SELECT
    module: Any = postgresql if pg else sqlite
    statement = module.insert(usage_buckets).from_select([*names, *USAGE_CUMS], rows)
    excluded, u = statement.excluded, usage_buckets.c
    added = {n: u[n] + excluded[n] for n in USAGE_DELTAS}
    added |= {c: u[c] + excluded[n] for n, c in pairs}
    keys = [*USAGE_SERIES, "bucket_start_us"]
    return statement.on_conflict_do_update(index_elements=keys, set_=added), names


def _carry_usage_rows(size: int, pg: bool) -> tuple[Any, tuple[str, ...]]:
    """Add the batch's deltas to the cum columns of every later bucket of their series: none
    when the write went to the series' latest bucket (one seek finds nothing), some when it
    went to an older one (a refund of an old charge, a process whose clock is behind).

    A bucket later than several of the batch's rows joins each of them, and both databases
    then update it once; its SET sums every earlier delta of the batch, whichever row joined."""
    names = (*USAGE_KEY, *USAGE_DELTAS)
    v = _batch_rows(usage_buckets, names, size, pg)
    joined, u = v.alias("w"), usage_buckets

    def carried(name: str) -> Any:
        earlier = and_(_same_series(v, u), v.c.bucket_start_us < u.c.bucket_start_us)
        return select(func.coalesce(func.sum(v.c[name]), ZERO)).where(earlier).scalar_subquery()

    changes = {c: u.c[c] + carried(n) for n, c in zip(USAGE_DELTAS, USAGE_CUMS, strict=True)}
    statement = (
        update(u)
        .values(changes)
        .where(_same_series(u, joined), u.c.bucket_start_us > joined.c.bucket_start_us)
    )
    return statement, names


def _update_rows(
    table: Any, keys: Sequence[str], fields: Sequence[str], size: int, pg: bool
) -> tuple[Any, tuple[str, ...]]:
    """`WITH v(keys..., fields...) AS (...) UPDATE table SET ... FROM v WHERE keys`; for one
    row, the plain `UPDATE ... SET ... WHERE keys` (a third of the cost in SQLite)."""
    names = (*keys, *fields)
    if size == 1:
        single = (
            update(table)
            .values({f: bindparam(f"{f}_0") for f in fields})
            .where(*[table.c[k] == bindparam(f"{k}_0") for k in keys])
        )
        return single, names

    rows = _batch_rows(table, names, size, pg)
    statement = (
        update(table)
        .values({f: rows.c[f] for f in fields})
        .where(*[table.c[k] == rows.c[k] for k in keys])
    )
    return statement, names


ACCOUNT_FIELDS = (
    "balance_micros",
    "reserved_micros",
    "lifetime_spend_micros",
    "month_start_us",
    "month_spend_micros",
    "entry_seq",
    "updated_at_us",
)
GRANT_FIELDS = ("remaining_micros", "held_micros")
TRANSACTION_CHANGES = (
    "settled_at_us",
    "status",
    "credits_micros",
    "balance_after_micros",
    "units",
    "note",
    "entry_first_seq",
    "entry_last_seq",
)
PAIR = ("account_id", "id")

_WRITES: dict[str, Callable[[int, bool], tuple[Any, tuple[str, ...]]]] = {
    "insert_grant": lambda n, _pg: _insert_rows(grants, n),
    "insert_transaction": lambda n, _pg: _insert_rows(transactions, n),
    "insert_entry": lambda n, _pg: _insert_rows(journal_entries, n),
    "insert_idempotency": lambda n, _pg: _insert_rows(idempotency_records, n),
    "upsert_usage": _upsert_usage_rows,
    "carry_usage": _carry_usage_rows,
    "update_account": lambda n, pg: _update_rows(accounts, ("id",), ACCOUNT_FIELDS, n, pg),
    "update_grant": lambda n, pg: _update_rows(grants, PAIR, GRANT_FIELDS, n, pg),
    "update_transaction": lambda n, pg: _update_rows(
        transactions, PAIR, TRANSACTION_CHANGES, n, pg
    ),
}


def _binary_placeholders(text: str, count: int) -> str:
    """psycopg's `%b` for every `%s` (a literal `%` is `%%`): the arrays go out in binary.
    psycopg builds a text array in Python, scanning every element for characters to quote
    (~0.8 ms per 1,000 strings); the binary form is a length and the bytes (~0.1 ms)."""
    binary = re.sub(r"%%|%s", lambda m: "%b" if m.group() == "%s" else "%%", text)
    assert binary.count("%b") == count, "one placeholder per array"
    return binary


@functools.lru_cache(maxsize=512)
def compiled_write(dialect_name: str, kind: str, size: int) -> Sql:
    """A write of `size` rows, compiled once per process (a pure function of its arguments)."""
    pg = dialect_name != "sqlite"
    assert pg or size != COLUMNAR, "SQLite's writes are VALUES lists"
    construct, names = _WRITES[kind](size, pg)
    sql = Sql(construct, positional_dialect(dialect_name))
    sql.check(*(names if size == COLUMNAR else _row_params(names, size)))
    assert size == 1 or sql.positions is None, "multi-row parameters must bind in order"
    if size == COLUMNAR:
        sql.text = _binary_placeholders(sql.text, len(names))
    return sql


@functools.lru_cache(maxsize=64)
def compiled_read(dialect_name: str, kind: str, size: int) -> Sql:
    """A hot-path read whose `IN` list holds `size` values."""
    sql = Sql(_READS[kind](size, dialect_name == "sqlite"), positional_dialect(dialect_name))
    sql.check(*[f"a{i}" for i in range(size)])
    assert sql.positions is None, "IN-list values must bind in order"
    return sql


class LedgerStatements:
    """The statements of one dialect; each size is compiled on first use, once per process."""

    def __init__(self, dialect_name: str) -> None:
        self.dialect_name = dialect_name
        self.dialect = positional_dialect(dialect_name)
        self.columnar = dialect_name != "sqlite"  # writes take one array per column

    def read(self, kind: str, size: int) -> Sql:
        return compiled_read(self.dialect_name, kind, size)

    def write(self, kind: str, size: int) -> Sql:
        return compiled_write(self.dialect_name, kind, size)


def _lock_accounts(size: int, *, with_alerts: bool) -> Any:
    """The account rows, locked, with the price book's revision; on SQLite also the alerts
    revision. SQLite renders no FOR UPDATE: there BEGIN IMMEDIATE has already taken the lock,
    so this one statement sees every committed change. PostgreSQL takes the statement's
    snapshot before it waits for the row locks, so it reads the alerts revision apart, after."""
    one: Any = literal_column("1")
    prices = select(price_book_meta.c.revision).where(price_book_meta.c.id == one)
    columns = [*ACCOUNT_STATE_COLUMNS, prices.scalar_subquery().label("price_revision")]
    if with_alerts:
        alerts = select(revisions.c.revision).where(revisions.c.name == literal_column("'alerts'"))
        columns.append(alerts.scalar_subquery().label("alerts_revision"))
    return (
        select(*columns)
        .where(accounts.c.id.in_(_in_list("a", size)))
        .order_by(accounts.c.id)
        .with_for_update(of=accounts)
    )


def _open_grants(size: int) -> Any:
    return select(*GRANT_COLUMNS).where(
        grants.c.account_id.in_(_in_list("a", size)), text(OPEN_GRANTS)
    )


_READS: dict[str, Callable[[int, bool], Any]] = {
    "lock_accounts": lambda n, sqlite: _lock_accounts(n, with_alerts=sqlite),
    "open_grants": lambda n, _sqlite: _open_grants(n),
}


@functools.lru_cache(maxsize=4)
def _alerts_revision(dialect_name: str) -> str:
    query = select(revisions.c.revision).where(revisions.c.name == literal_column("'alerts'"))
    return Sql(query, positional_dialect(dialect_name)).text


class LedgerRepository:
    """Reads and writes of one writer transaction, on the DBAPI connection that runs it."""

    def __init__(self, driver: Any, statements: LedgerStatements) -> None:
        self.driver = driver
        self.s = statements
        self.cursor = driver.cursor()
        self._alerts_revision: int | None = None

    @property
    def dialect_name(self) -> str:
        return self.s.dialect_name

    # Reads on the hot path (raw cursor)

    def alerts_revision(self) -> int:
        """Read after the accounts are locked: a fresh statement sees every change committed
        before the lock was granted (PostgreSQL's READ COMMITTED takes a snapshot per
        statement). On SQLite the lock query has read it already."""
        if self._alerts_revision is not None:
            return self._alerts_revision
        self.cursor.execute(_alerts_revision(self.s.dialect_name))
        row = self.cursor.fetchone()
        self._alerts_revision = int(row[0]) if row and row[0] is not None else 0
        return self._alerts_revision

    def lock_accounts(self, account_ids: list[str]) -> tuple[dict[str, AccountState], int]:
        """Lock the accounts; their states and the price book's revision."""
        rows = self._select("lock_accounts", account_ids)
        states = {row[0]: AccountState(*row[:10]) for row in rows}
        if not rows:
            return states, 0
        if len(rows[0]) > 11:
            self._alerts_revision = int(rows[0][11]) if rows[0][11] is not None else 0
        return states, rows[0][10]

    def open_grants(self, account_ids: list[str]) -> list[Grant]:
        return [Grant(*row) for row in self._select("open_grants", account_ids)]

    def _select(self, kind: str, values: list[str]) -> list[tuple[Any, ...]]:
        if not values:
            return []
        size, padded = _padded(values)
        self.cursor.execute(self.s.read(kind, size).text, padded)
        return list(self.cursor.fetchall())

    # Reads off the hot path: compiled per call, run on the same connection and transaction

    def _query(self, construct: Any) -> list[tuple[Any, ...]]:
        self.execute(construct)
        return list(self.cursor.fetchall())

    def query(self, construct: Any) -> list[tuple[Any, ...]]:
        return self._query(construct)

    def execute(self, construct: Any) -> int:
        """Run a Core statement on the writer's connection; the number of rows it touched."""
        compiled = construct.compile(
            dialect=self.s.dialect, compile_kwargs={"render_postcompile": True}
        )
        params = compiled.construct_params()
        self.cursor.execute(str(compiled), [params[name] for name in compiled.positiontup or ()])
        return int(self.cursor.rowcount)

    def grants_by_id(self, account_ids: list[str], grant_ids: list[str]) -> list[Grant]:
        query = select(*GRANT_COLUMNS).where(
            grants.c.account_id.in_(account_ids), grants.c.id.in_(grant_ids)
        )
        return [Grant(*row) for row in self._query(query)]

    def idempotency(self, account_ids: list[str], keys: list[str]) -> list[IdempotencyRecord]:
        r = idempotency_records.c
        query = select(*idempotency_records.c).where(r.account_id.in_(account_ids), r.key.in_(keys))
        return [IdempotencyRecord(*row) for row in self._query(query)]

    def transactions(self, account_ids: list[str], transaction_ids: list[str]) -> list[Transaction]:
        t = transactions.c
        query = select(*TRANSACTION_COLUMNS).where(
            t.account_id.in_(account_ids), t.id.in_(transaction_ids)
        )
        return [transaction_from_row(row) for row in self._query(query)]

    def pending_due(self, account_ids: list[str], now_us: int) -> list[Transaction]:
        t = transactions.c
        query = select(*TRANSACTION_COLUMNS).where(
            t.status == "pending", t.expires_at_us <= now_us, t.account_id.in_(account_ids)
        )
        return [transaction_from_row(row) for row in self._query(query)]

    def entries_in(self, ranges: list[tuple[str, int, int]]) -> list[Entry]:
        """Journal entries in the given (account, first seq, last seq) ranges, in order."""
        j = journal_entries.c
        wanted = [
            and_(j.account_id == account_id, j.seq >= first, j.seq <= last)
            for account_id, first, last in ranges
        ]
        query = select(*ENTRY_COLUMNS).where(or_(*wanted)).order_by(j.account_id, j.seq)
        return [Entry(*row) for row in self._query(query)]

    def refunded(self, account_ids: list[str], transaction_ids: list[str]) -> dict[str, int]:
        t = transactions.c
        query = (
            select(t.reverses_id, func.sum(t.credits_micros))
            .where(t.account_id.in_(account_ids), t.reverses_id.in_(transaction_ids))
            .group_by(t.reverses_id)
        )
        return {row[0]: int(row[1]) for row in self._query(query)}

    # Writes: multi-row statements, so a batch is a handful of statement executions (each
    # execution lets other threads run; one per row would hand the GIL away once per row).

    def update_accounts(self, states: Iterable[AccountState], now_us: int) -> None:
        rows = [
            (
                a.id,
                a.balance_micros,
                a.reserved_micros,
                a.lifetime_spend_micros,
                a.month_start_us,
                a.month_spend_micros,
                a.entry_seq,
                now_us,
            )
            for a in states
        ]
        self._rows("update_account", rows)

    def insert_grants(self, new: Iterable[Grant]) -> None:
        self._rows("insert_grant", [grant_values(g) for g in new])

    def update_grants(self, changed: Iterable[Grant]) -> None:
        rows = [(g.account_id, g.id, g.remaining_micros, g.held_micros) for g in changed]
        self._rows("update_grant", rows)

    def insert_transactions(self, new: Iterable[Transaction]) -> None:
        self._rows("insert_transaction", [transaction_values(t) for t in new])

    def update_transactions(self, changed: Iterable[Transaction]) -> None:
        rows = [
            (
                t.account_id,
                t.id,
                t.settled_at_us,
                str(t.status),
                t.credits_micros,
                t.balance_after_micros,
                t.units,
                t.note,
                t.entry_first_seq,
                t.entry_last_seq,
            )
            for t in changed
        ]
        self._rows("update_transaction", rows)

    def insert_entries(self, entries: Iterable[Entry]) -> None:
        self._rows("insert_entry", list(entries))

    def upsert_usage(self, usage: dict[UsageKey, list[int]]) -> None:
        """Add to the 15-minute buckets and their running totals, then carry the deltas to
        the running totals of later buckets of the same series. Each statement of rows is
        carried before the next is written: a new bucket starts from the running totals as
        they stand, which must already hold every delta written before it."""
        rows = [(*key, *totals) for key, totals in usage.items()]
        for size, piece in self._pieces(rows):
            self._write(kind="upsert_usage", size=size, rows=piece)
            self._write(kind="carry_usage", size=size, rows=piece)

    def insert_idempotency(self, records: Iterable[IdempotencyRecord]) -> None:
        self._rows("insert_idempotency", list(records))

    def _rows(self, kind: str, rows: Sequence[Sequence[Any]]) -> None:
        for size, piece in self._pieces(rows):
            self._write(kind=kind, size=size, rows=piece)

    def _pieces(self, rows: Sequence[Sequence[Any]]) -> list[tuple[int, Sequence[Sequence[Any]]]]:
        """The statements the rows are written in, each as (compiled size, its rows): on
        PostgreSQL, four rows or more in one statement of one array per column (COLUMNAR);
        otherwise chunks whose sizes are powers of two (few compiled variants)."""
        if self.s.columnar and len(rows) >= COLUMNAR_ROWS_MIN:
            return [(COLUMNAR, rows)]
        pieces, done = [], 0
        while done < len(rows):
            size = min(1 << ((len(rows) - done).bit_length() - 1), ROWS_PER_STATEMENT_MAX)
            pieces.append((size, rows[done : done + size]))
            done += size
        return pieces

    def _write(self, *, kind: str, size: int, rows: Sequence[Sequence[Any]]) -> None:
        sql = self.s.write(kind, size)
        if size == COLUMNAR:
            params: list[Any] = [list(cells) for cells in zip(*rows, strict=True)]
        elif sql.positions is None:
            params = [value for row in rows for value in row]
        else:  # a one-row UPDATE lists its SET values before its keys
            params = [rows[0][i] for i in sql.positions]
        self.cursor.execute(sql.text, params)


# Where each of Transaction's fields sits in a row of the table (pages of history build a
# hundred of them per request: by position, not by keyword).
_ROW_ORDER = tuple(TRANSACTION_FIELDS.index(f.name) for f in dataclasses.fields(Transaction))
_DETAILS = _ROW_ORDER.index(TRANSACTION_FIELDS.index("details"))


def transaction_from_row(row: Any) -> Transaction:
    values = [row[i] for i in _ROW_ORDER]
    if values[_DETAILS]:
        values[_DETAILS] = load_json(values[_DETAILS])
    else:
        values[_DETAILS] = None
    return Transaction(*values)


def grant_values(g: Grant) -> tuple[Any, ...]:
    return (
        g.account_id,
        g.id,
        str(g.kind),
        g.priority,
        g.effective_at_us,
        g.expires_at_us,
        g.created_at_us,
        g.amount_micros,
        g.remaining_micros,
        g.held_micros,
    )


def transaction_values(t: Transaction) -> tuple[Any, ...]:
    """The row of a transaction, in the table's column order."""
    return (
        t.account_id,
        t.id,
        t.created_at_us,
        t.settled_at_us,
        t.type,
        t.operation,
        str(t.status),
        t.credits_micros,
        t.balance_after_micros,
        t.units,
        t.reserved_units,
        t.reserved_micros,
        t.unit_price_micros,
        t.multiplier_ppm,
        t.expires_at_us,
        t.api_key_id,
        t.idempotency_key,
        t.request_id,
        t.reverses_id,
        t.grant_id,
        t.note,
        dump_json(t.details) if t.details else None,
        t.entry_first_seq,
        t.entry_last_seq,
    )
