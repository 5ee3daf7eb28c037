"""Customer-side tools over the HTTP API, using only fields Generect documents (so they work
against Generect's own API too): `watch` warns when the balance falls below a line, `report`
writes a date range's spend and history as CSV. Registered on the `creditbook` command."""

from __future__ import annotations

import csv
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import simplejson
import typer

from creditbook.client import Client, CreditbookClientError, Transaction
from creditbook.clock import to_us
from creditbook.services.dispatch import signed_headers

BaseUrl = Annotated[
    str, typer.Option("--base-url", help="Server root, e.g. https://api.generect.com")
]
Key = Annotated[str, typer.Option("--key", help="The account's API key.", envvar="CREDITBOOK_KEY")]
UNITS = {"s": 1, "m": 60, "h": 3600}


def seconds(text: str) -> float:
    """`60`, `60s`, `5m`, `1h` as seconds."""
    value, unit = (text[:-1], text[-1]) if text[-1:] in UNITS else (text, "s")
    try:
        result = float(value) * UNITS[unit]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use e.g. 30s, 5m or 1h.") from None
    if result <= 0:
        raise typer.BadParameter("Must be more than zero.")
    return result


def usd(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not an amount in USD.") from None


def exact(value: Decimal) -> str:
    return format(value, "f")


# watch


@dataclass
class Watch:
    """The line and what was last seen: alerts once per crossing below it, once on recovery."""

    below: Decimal
    below_now: bool | None = None
    last: tuple[float, Decimal] | None = None
    rates: list[Decimal] = field(default_factory=list)

    def crossing(self, balance: Decimal) -> str | None:
        """`below` or `recovered` when this balance crosses the line, else None."""
        is_below = balance < self.below
        was, self.below_now = self.below_now, is_below
        if is_below and was is not True:
            return "below"
        if was is True and not is_below:
            return "recovered"
        return None

    def burn_per_day(self, at: float, balance: Decimal) -> Decimal | None:
        """USD a day from the fall between the last poll and this one (spending only)."""
        previous, self.last = self.last, (at, balance)
        if previous is None or at <= previous[0]:
            return None
        fall = max(previous[1] - balance, Decimal(0))
        return fall * Decimal(86_400) / Decimal(str(at - previous[0]))


def usage_burn(client: Client, days: int = 7) -> Decimal | None:
    """Average daily spend over the last `days` days, from `/accounts/usage/` if it answers."""
    today = datetime.now(UTC).date()
    try:
        spent = client.usage(start=today - timedelta(days=days - 1), end=today).total_credits
    except CreditbookClientError:
        return None
    return spent / days


def notify(url: str, secret: str | None, payload: dict[str, Any]) -> None:
    body = simplejson.dumps(payload, use_decimal=True)
    at = datetime.now(UTC).replace(microsecond=0)
    message_id = f"msg_{uuid.uuid4().hex}"
    headers = {"Content-Type": "application/json"}
    if secret:
        headers = signed_headers(secret, message_id, to_us(at), body)
    try:
        httpx.post(url, content=body.encode(), headers=headers, timeout=10.0).raise_for_status()
    except httpx.HTTPError as error:
        typer.echo(f"notify failed: {error}", err=True)


def _describe(balance: Decimal, burn: Decimal | None) -> str:
    line = f"balance {exact(balance)} USD"
    if burn is None:
        return line
    days = f", about {int(balance / burn)} days left" if burn > 0 and balance > 0 else ""
    return f"{line}, burn {exact(burn.quantize(Decimal('0.000001')))} USD/day{days}"


def _poll(client: Client, state: Watch, notify_url: str | None, secret: str | None) -> bool:
    """One poll: print the balance and any crossing; True when below the line."""
    me = client.me()
    balance = me.credits.balance
    burn = state.burn_per_day(time.monotonic(), balance)
    if burn is None and not state.rates:
        burn = usage_burn(client)
        state.rates.append(burn or Decimal(0))
    typer.echo(_describe(balance, burn))
    change = state.crossing(balance)
    if change is not None:
        word = "ALERT below" if change == "below" else "RECOVERED at or above"
        typer.echo(f"{word} {exact(state.below)} USD: balance {exact(balance)} USD")
        if notify_url:
            payload = {
                "type": f"balance.watch.{change}",
                "account_id": me.id,
                "balance": balance,
                "threshold": state.below,
                "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
            notify(notify_url, secret, payload)
    return bool(state.below_now)


def watch(  # noqa: PLR0917 - Typer commands take their options as parameters
    base_url: BaseUrl,
    key: Key,
    below: Annotated[str, typer.Option("--below", help="Alert when the balance is below (USD).")],
    every: Annotated[str, typer.Option("--every", help="Poll interval: 30s, 5m, 1h.")] = "60s",
    notify_url: Annotated[
        str | None, typer.Option("--notify-url", help="POST each alert here, signed.")
    ] = None,
    notify_secret: Annotated[
        str | None, typer.Option("--notify-secret", help="Secret that signs the POST.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Poll once; exit 1 if below.")] = False,
) -> None:
    """Watch an account's balance: print it and its burn rate, alert once per crossing."""
    state, interval = Watch(usd(below)), seconds(every)
    with Client(base_url=base_url, key=key) as client:
        while True:
            try:
                is_below = _poll(client, state, notify_url, notify_secret)
            except CreditbookClientError as error:
                typer.echo(f"error: {error}", err=True)
                if once:
                    raise typer.Exit(2) from None
                is_below = bool(state.below_now)
            if once:
                raise typer.Exit(1 if is_below else 0)
            time.sleep(interval)


# report

USAGE_COLUMNS = ["operation", "credits"]
TRANSACTION_COLUMNS = ["id", "timestamp", "type", "credits", "balance_type", "status"]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"{name!r} is not an IANA time zone.") from None


def _midnight(day: date, zone: ZoneInfo) -> str:
    moment = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _transaction_row(t: Transaction) -> list[str]:
    when = "" if t.timestamp is None else t.timestamp.isoformat().replace("+00:00", "Z")
    return [t.id, when, t.type, exact(t.credits), t.balance_type or "", t.status or ""]


def _write(path: Path, header: list[str], rows: Iterable[list[str]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def report(  # noqa: PLR0917 - Typer commands take their options as parameters
    base_url: BaseUrl,
    key: Key,
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day.")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (kept).")],
    timezone: Annotated[str, typer.Option("--timezone", help="IANA zone of the days.")] = "UTC",
    out: Annotated[Path, typer.Option("--out", help="Folder for the CSV files.")] = Path(),
) -> None:
    """Write usage.csv (spend by operation) and transactions.csv (every transaction) for the
    days from --from to --to, in --timezone, with exact decimal amounts."""
    zone, first, last = _zone(timezone), start.date(), end.date()
    if last < first:
        raise typer.BadParameter("--to must not be before --from.")
    out.mkdir(parents=True, exist_ok=True)
    with Client(base_url=base_url, key=key) as client:
        spend = client.usage(start=first, end=last, timezone=timezone)
        rows = [[op, exact(v)] for op, v in sorted(spend.breakdown.items())]
        _write(out / "usage.csv", USAGE_COLUMNS, [*rows, ["total", exact(spend.total_credits)]])
        history = client.iter_transactions(
            created_at__gte=_midnight(first, zone),
            created_at__lt=_midnight(last + timedelta(days=1), zone),
        )
        count = _write(
            out / "transactions.csv", TRANSACTION_COLUMNS, map(_transaction_row, history)
        )
    typer.echo(f"usage.csv: {len(rows)} operations, {exact(spend.total_credits)} USD in total")
    typer.echo(f"transactions.csv: {count} transactions")
