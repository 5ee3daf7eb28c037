"""The `creditbook` command: operators' tools, each calling the same services as the API.

Settings come from the environment (`CREDITBOOK_*`); `--database-url` overrides the database.
Commands print readable text, or JSON with `--json` for scripts. Errors print one line on
stderr and exit non-zero; `verify` exits 1 when an invariant is broken.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer

from creditbook import tools
from creditbook.background import start_background
from creditbook.bootstrap import Services, build
from creditbook.clock import iso_z, to_us
from creditbook.config import Settings
from creditbook.domain.alerts import Alert, AlertSpec
from creditbook.domain.events import envelope
from creditbook.domain.plans import Subscription
from creditbook.errors import CreditbookError, InvalidInput
from creditbook.money import format_usd, parse_usd

app = typer.Typer(help="creditbook: the account and credit ledger.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
accounts_app = typer.Typer(help="Customer accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of an account.", no_args_is_help=True)
credits_app = typer.Typer(help="Grants, adjustments and expiry.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(credits_app, name="credits")
transactions_app = typer.Typer(help="Transaction history.", no_args_is_help=True)
app.add_typer(transactions_app, name="transactions")
webhooks_app = typer.Typer(help="Webhook endpoints of an account.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
app.command()(tools.watch)  # customer-side tools over HTTP (creditbook.tools)
app.command()(tools.report)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="Database URL (default: CREDITBOOK_DATABASE_URL)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def settings_for(database_url: str | None) -> Settings:
    return Settings(database_url=database_url) if database_url else Settings()


@contextmanager
def services_for(database_url: str | None) -> Iterator[Services]:
    services = build(settings_for(database_url))
    try:
        yield services
    finally:
        services.close()


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def emit(value: Any, as_json: bool, text: str) -> None:
    if as_json:
        typer.echo(json.dumps(value, default=_json_default, indent=2))
    else:
        typer.echo(text)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _moment(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "Use an ISO 8601 time with an offset.") from None
    if moment.tzinfo is None:
        raise InvalidInput(field, "Give an explicit UTC offset, e.g. 2026-12-31T00:00:00Z.")
    return to_us(moment)


def _when(at_us: int | None) -> str | None:
    """A timestamp as the API writes it (`...Z`), so scripts parse one format."""
    return None if at_us is None else iso_z(at_us)


# Database


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply every schema migration not yet applied."""
    from creditbook.storage.engine import create_engine, safe_url  # noqa: PLC0415
    from creditbook.storage.migrate import upgrade  # noqa: PLC0415

    url = settings_for(database_url).database_url
    engine = create_engine(url)
    try:
        revision = upgrade(engine)
    finally:
        engine.dispose()
    typer.echo(f"{safe_url(url)} is at schema revision {revision}.")


@app.command()
def verify(
    database_url: DatabaseUrl = None,
    account: Annotated[str | None, typer.Option(help="Check one account only.")] = None,
    as_json: AsJson = False,
) -> None:
    """Check every ledger invariant; exit 0 when all hold, 1 otherwise."""
    with services_for(database_url) as services:
        report = services.verifier.verify(account_id=account)
    problems = [
        {"account_id": p.account_id, "check": p.check, "detail": p.detail} for p in report.problems
    ]
    summary = {
        "ok": report.ok,
        "accounts_checked": report.accounts_checked,
        "problems_total": report.problems_total,
        "problems": problems,
    }
    lines = [f"{p['account_id']}: {p['check']}: {p['detail']}" for p in problems]
    verdict = "all invariants hold" if report.ok else f"{report.problems_total} problem(s)"
    lines.append(f"{report.accounts_checked} account(s) checked: {verdict}.")
    emit(summary, as_json, "\n".join(lines))
    if not report.ok:
        raise typer.Exit(1)


# Accounts


def account_json(services: Services, account_id: str) -> dict[str, Any]:
    summary = services.accounts.summary(account_id=account_id)
    a = summary.account
    return {
        "id": a.id,
        "email": a.email,
        "name": a.name,
        "plan": a.plan,
        "timezone": a.timezone,
        "status": a.status,
        "balance": format_usd(a.balance_micros),
        "reserved": format_usd(a.reserved_micros),
        "available": format_usd(summary.available_micros),
        "used_this_month": format_usd(summary.used_this_month_micros),
        "monthly_limit": None
        if a.monthly_limit_micros is None
        else format_usd(a.monthly_limit_micros),
        "overdraft_limit": format_usd(a.overdraft_limit_micros),
        "preview_tier": summary.preview_tier,
        "tier": summary.tier.name,
        "created_at": _when(a.created_at_us),
    }


@accounts_app.command("create")
def accounts_create(
    email: Annotated[str, typer.Option(help="Contact email.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    plan: Annotated[str, typer.Option(help="Plan label.")] = "Pay as you go",
    timezone: Annotated[str, typer.Option(help="IANA time zone for reports.")] = "UTC",
    monthly_limit: Annotated[
        str | None, typer.Option(help="Monthly cap in USD; 'none' for no cap.")
    ] = None,
    overdraft_limit: Annotated[str | None, typer.Option(help="Overdraft in USD.")] = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Create an account."""
    extra: dict[str, Any] = {}
    if monthly_limit is not None:
        extra["monthly_limit_micros"] = (
            None
            if monthly_limit.lower() == "none"
            else parse_usd(monthly_limit, field="monthly_limit")
        )
    if overdraft_limit is not None:
        extra["overdraft_limit_micros"] = parse_usd(overdraft_limit, field="overdraft_limit")
    with services_for(database_url) as services:
        account = services.accounts.create(
            email=email, name=name, plan=plan, timezone=timezone, **extra
        )
        value = account_json(services, account.id)
    emit(value, as_json, f"Created account {account.id} ({account.email}).")


@accounts_app.command("list")
def accounts_list(
    limit: Annotated[int, typer.Option(help="Most accounts to list.")] = 100,
    after: Annotated[str | None, typer.Option(help="List accounts after this id.")] = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """List accounts with their balances."""
    with services_for(database_url) as services:
        rows = [
            account_json(services, a.id)
            for a in services.accounts.page(after_id=after, limit=limit)
        ]
    text = "\n".join(f"{r['id']}  {r['balance']:>14} USD  {r['email']}" for r in rows)
    emit(rows, as_json, text or "No accounts.")


@accounts_app.command("show")
def accounts_show(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Show an account's balance and limits."""
    with services_for(database_url) as services:
        value = account_json(services, account_id)
    emit(value, as_json, "\n".join(f"{k}: {v}" for k, v in value.items()))


# Keys


@keys_app.command("create")
def keys_create(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    name: Annotated[str | None, typer.Option(help="Label for the key.")] = None,
    client_id: Annotated[str | None, typer.Option(help="End-client identifier.")] = None,
    scope: Annotated[str, typer.Option(help="read or full.")] = "full",
    test: Annotated[
        bool, typer.Option("--test", help="A test key: charges write nothing.")
    ] = False,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Create an API key; its secret is shown this once."""
    with services_for(database_url) as services:
        new = services.accounts.create_key(
            account_id=account_id, name=name, client_id=client_id, scope=scope, test=test
        )
    value = {"id": new.key.id, "key": new.secret, "scope": new.key.scope, "test": new.key.is_test}
    emit(value, as_json, f"Key {new.key.id} created. Secret (shown once): {new.secret}")


@keys_app.command("list")
def keys_list(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """List an account's keys (never their secrets)."""
    with services_for(database_url) as services:
        keys = services.accounts.keys(account_id=account_id)
    rows = [
        {
            "id": k.id,
            "prefix": k.prefix,
            "name": k.name,
            "scope": k.scope,
            "test": k.is_test,
            "active": k.is_active,
            "created_at": _when(k.created_at_us),
            "last_used_at": _when(k.last_used_at_us),
        }
        for k in keys
    ]
    text = "\n".join(f"{r['id']}  {r['prefix']}…  {r['scope']}  active={r['active']}" for r in rows)
    emit(rows, as_json, text or "No keys.")


@keys_app.command("revoke")
def keys_revoke(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    key_id: Annotated[str, typer.Argument(help="Key id.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: it stops authenticating at once."""
    with services_for(database_url) as services:
        key = services.accounts.revoke_key(account_id=account_id, key_id=key_id)
    typer.echo(f"Key {key.id} revoked.")


# Credits


@credits_app.command("grant")
def credits_grant(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    amount: Annotated[str, typer.Argument(help="Amount in USD, e.g. 100 or 12.5.")],
    kind: Annotated[
        str, typer.Option(help="purchase, promotional, plan or adjustment.")
    ] = "purchase",
    priority: Annotated[int | None, typer.Option(help="Lower is spent first.")] = None,
    expires_at: Annotated[str | None, typer.Option(help="ISO 8601 time with offset.")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Makes retries safe.")] = None,
    note: Annotated[str | None, typer.Option(help="Shown in the history.")] = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Add credit to an account."""
    with services_for(database_url) as services:
        receipt = services.ledger.grant(
            account_id=account_id,
            amount_micros=parse_usd(amount, field="amount"),
            kind=kind,
            priority=priority,
            expires_at_us=_moment(expires_at, "expires_at"),
            idempotency_key=idempotency_key,
            note=note,
        )
    value = {
        "transaction_id": receipt.transaction.id,
        "grant_id": receipt.transaction.grant_id,
        "balance": format_usd(receipt.balance_micros),
        "replayed": receipt.replayed,
    }
    emit(value, as_json, f"Granted {amount} USD; balance {value['balance']} USD.")


@credits_app.command("adjust")
def credits_adjust(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    amount: Annotated[
        str, typer.Argument(help="Signed USD amount, e.g. 2.5; put -- before a negative one.")
    ],
    reason: Annotated[str, typer.Option(help="Why; written into the history.")],
    idempotency_key: Annotated[str | None, typer.Option(help="Makes retries safe.")] = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Correct an account's balance, with a reason."""
    with services_for(database_url) as services:
        receipt = services.ledger.adjust(
            account_id=account_id,
            amount_micros=parse_usd(amount, field="amount", allow_negative=True),
            reason=reason,
            idempotency_key=idempotency_key,
        )
    value = {
        "transaction_id": receipt.transaction.id,
        "balance": format_usd(receipt.balance_micros),
    }
    emit(value, as_json, f"Adjusted by {amount} USD; balance {value['balance']} USD.")


@credits_app.command("expire")
def credits_expire(database_url: DatabaseUrl = None) -> None:
    """Release reservations past their TTL and write off expired grants, on every account."""
    with services_for(database_url) as services:
        written = services.ledger.expire_all()
    typer.echo(f"{written} transaction(s) written.")


# Usage


@app.command()
def usage(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    start: Annotated[str, typer.Option("--from", help="First local date, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last local date (included), YYYY-MM-DD.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = "UTC",
    period: Annotated[str, typer.Option(help="day, week or month.")] = "day",
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Spend by operation over local dates, in a time zone."""
    first, last = _date(start, "from"), _date(end, "to")
    with services_for(database_url) as services:
        report = services.usage.report(
            account_id=account_id,
            start=first,
            end=date.fromordinal(last.toordinal() + 1),
            timezone=timezone,
            period=period,
        )
    breakdown = {op: format_usd(f.spend_micros) for op, f in sorted(report.total.breakdown.items())}
    value = {
        "timezone": report.timezone,
        "total": format_usd(report.total.total.spend_micros),
        "breakdown": breakdown,
        "series": [
            {"start": b.start.isoformat(), "total": format_usd(b.total.spend_micros)}
            for b in report.series
        ],
    }
    lines = [f"{op:<18}{amount:>14}" for op, amount in breakdown.items()]
    lines.append(f"{'total':<18}{value['total']:>14}")
    emit(value, as_json, "\n".join(lines))


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "Use a date as YYYY-MM-DD.") from None


# Transactions


@transactions_app.command("export")
def transactions_export(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="File to write; stdout if omitted.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Created at or after (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Created before (ISO 8601).")] = None,
    status: Annotated[str | None, typer.Option(help="pending, success or error.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the account's history as CSV, oldest first, with a running balance."""
    from creditbook.api.queries import history_filter  # noqa: PLC0415
    from creditbook.domain.transactions import NON_CHARGE_TYPES  # noqa: PLC0415

    values = {
        k: v
        for k, v in (("created_at__gte", since), ("created_at__lt", until), ("status", status))
        if v is not None
    }
    with services_for(database_url) as services:
        services.accounts.get(account_id=account_id)
        operations = [p.operation for p in services.prices.book().all_prices()]
        wanted = history_filter(values, lambda: [*operations, *NON_CHARGE_TYPES])
        chunks = services.history.csv(account_id=account_id, wanted=wanted)
        rows = _write_csv(chunks, output)
    if output is not None:
        typer.echo(f"{rows} transaction(s) written to {output}.", err=True)


def _write_csv(chunks: Iterator[str], output: str | None) -> int:
    """Write the CSV; on a terminal, count the rows on stderr as they go. Returns the rows."""
    rows = -1  # the header line is not a transaction
    show = output is not None and sys.stderr.isatty()
    target = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    try:
        for chunk in chunks:
            target.write(chunk)
            rows += chunk.count("\r\n")
            if show:
                sys.stderr.write(f"\rExporting… {max(rows, 0):,} rows")
    finally:
        if output:
            target.close()
        if show:
            sys.stderr.write("\n")
    return max(rows, 0)


# Alerts, plans, events and the worker

alerts_app = typer.Typer(help="Alert thresholds of an account.", no_args_is_help=True)
plans_app = typer.Typer(help="Plan subscriptions (monthly allotments).", no_args_is_help=True)
events_app = typer.Typer(help="Events of an account (the webhook outbox).", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
app.add_typer(plans_app, name="plans")
app.add_typer(events_app, name="events")


def _alert_row(a: Alert) -> dict[str, Any]:
    """The alert as the API shows it."""
    from creditbook.api.render import alert as render_alert  # noqa: PLC0415

    return render_alert(a)


def _alert_line(a: Alert) -> str:
    row = _alert_row(a)
    rule = ", ".join(f"{k}={row[k]}" for k in ALERT_RULE if row[k] is not None)
    return f"{a.id}  {a.kind:<16} {a.state:<9} {rule}"


ALERT_RULE = ("threshold", "percent", "window_days", "horizon_days")


@alerts_app.command("list")
def alerts_list(account_id: str, database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """The account's thresholds and their states."""
    with services_for(database_url) as services:
        found = services.alerts.list(account_id=account_id)
    emit([_alert_row(a) for a in found], as_json, "\n".join(map(_alert_line, found)) or "none")


@alerts_app.command("add")
def alerts_add(
    account_id: str,
    kind: Annotated[str, typer.Option(help="balance, monthly_percent or forecast.")],
    threshold: Annotated[str | None, typer.Option(help="balance: USD.")] = None,
    percent: Annotated[int | None, typer.Option(help="monthly_percent: percent.")] = None,
    window_days: Annotated[int | None, typer.Option(help="forecast: days of spend.")] = None,
    horizon_days: Annotated[int | None, typer.Option(help="forecast: days ahead.")] = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Add a threshold (judged at once against the account as it stands)."""
    micros = None if threshold is None else parse_usd(threshold, field="threshold")
    spec = AlertSpec(kind, micros, percent, window_days, horizon_days)
    with services_for(database_url) as services:
        made = services.alerts.add(account_id=account_id, spec=spec)
    emit(_alert_row(made), as_json, _alert_line(made))


@alerts_app.command("remove")
def alerts_remove(account_id: str, alert_id: str, database_url: DatabaseUrl = None) -> None:
    """Remove a threshold."""
    with services_for(database_url) as services:
        services.alerts.remove(account_id=account_id, alert_id=alert_id)
    typer.echo(f"Removed {alert_id}.")


def _plan_text(sub: Subscription) -> str:
    cap = "" if sub.rollover_cap_micros is None else f" up to {format_usd(sub.rollover_cap_micros)}"
    return (
        f"{format_usd(sub.allotment_micros)} USD on day {sub.cycle_day}, rollover "
        f"{sub.rollover}{cap}; next renewal {_when(sub.next_renewal_at_us)}"
    )


@plans_app.command("set")
def plans_set(
    account_id: str,
    allotment: Annotated[str, typer.Option(help="USD granted each cycle.")],
    cycle_day: Annotated[int, typer.Option(help="Day of the month (1-28), account's zone.")] = 1,
    rollover: Annotated[str, typer.Option(help="none or capped.")] = "none",
    rollover_cap: Annotated[str | None, typer.Option(help="capped: most USD carried.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Put the account on a plan; the clock grants the current cycle at its next round."""
    cap = None if rollover_cap is None else parse_usd(rollover_cap, field="rollover_cap")
    with services_for(database_url) as services:
        sub = services.plans.subscribe(
            account_id=account_id,
            allotment_micros=parse_usd(allotment, field="allotment"),
            cycle_day=cycle_day,
            rollover=rollover,
            rollover_cap_micros=cap,
        )
    typer.echo(_plan_text(sub))


@plans_app.command("show")
def plans_show(account_id: str, database_url: DatabaseUrl = None) -> None:
    """The account's plan subscription."""
    with services_for(database_url) as services:
        sub = services.plans.get(account_id=account_id)
    typer.echo("no plan subscription" if sub is None else _plan_text(sub))


@plans_app.command("cancel")
def plans_cancel(account_id: str, database_url: DatabaseUrl = None) -> None:
    """No more renewals (grants already made run to their expiry)."""
    with services_for(database_url) as services:
        services.plans.cancel(account_id=account_id)
    typer.echo("Cancelled.")


@events_app.command("list")
def events_list(
    account_id: str,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    kind: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """The account's events, newest first."""
    with services_for(database_url) as services:
        found = services.events.page(account_id=account_id, limit=limit, type_=kind)
    rows = [envelope(e) for e in found]
    lines = [f"{r['created_at']}  {r['type']:<26} {r['id']}" for r in rows]
    emit(rows, as_json, "\n".join(lines) or "none")


# Webhooks


def _webhook_json(webhook: Any, *, show_secret: bool = False) -> dict[str, Any]:
    from creditbook.api.render import webhook as render_webhook  # noqa: PLC0415

    return render_webhook(webhook, show_secret=show_secret)


@webhooks_app.command("list")
def webhooks_list(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """List an account's webhook endpoints (secrets masked)."""
    with services_for(database_url) as services:
        services.accounts.get(account_id=account_id)
        rows = [_webhook_json(w) for w in services.webhooks.of_account(account_id=account_id)]
    text = "\n".join(
        f"{r['id']}  {'active' if r['is_active'] else 'disabled'}  {r['url']}  "
        f"{','.join(r['events'])}"
        for r in rows
    )
    emit(rows, as_json, text or "No webhooks.")


@webhooks_app.command("add")
def webhooks_add(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    url: Annotated[str, typer.Argument(help="Endpoint URL (https://).")],
    event: Annotated[
        list[str], typer.Option("--event", "-e", help="An event type; repeat for more.")
    ],
    secret: Annotated[
        str | None, typer.Option(help="Signing secret; generated if omitted.")
    ] = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Register a webhook endpoint; its secret is shown this once."""
    with services_for(database_url) as services:
        saved = services.webhooks.create(
            account_id=account_id, url=url, events=list(event), secret=secret
        )
    value = _webhook_json(saved.webhook, show_secret=True)
    emit(value, as_json, f"Webhook {value['id']} added. Secret (shown once): {value['secret']}")


@webhooks_app.command("remove")
def webhooks_remove(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    webhook_id: Annotated[str, typer.Argument(help="Webhook id.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a webhook endpoint with its deliveries."""
    with services_for(database_url) as services:
        services.webhooks.remove(account_id=account_id, webhook_id=webhook_id)
    typer.echo(f"Webhook {webhook_id} removed.")


@app.command()
def dispatch(
    once: Annotated[
        bool, typer.Option("--once", help="One round: send what is due now, then exit.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Send due webhook deliveries only, until SIGINT / SIGTERM (or one round with --once)."""
    from creditbook.logs import configure  # noqa: PLC0415

    settings = settings_for(database_url)
    configure(settings.log_level)
    with services_for(database_url) as services:
        if once:
            typer.echo(f"{services.dispatcher.run_once()} delivery attempt(s) made.")
            return
        services.dispatcher.run(_stop_on_signal())


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="One round, then exit.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the clock (renewals, expiry, notices, forecasts) and webhook delivery apart from the
    server (set CREDITBOOK_RUN_CLOCK=false there); several workers may share one PostgreSQL.
    Stops cleanly on SIGINT / SIGTERM, after the round in progress."""
    from creditbook.logs import configure  # noqa: PLC0415

    settings = settings_for(database_url)
    configure(settings.log_level)
    with services_for(database_url) as services:
        if once:
            done = services.clockwork.run_once()
            sent = services.dispatcher.run_once()
            typer.echo(
                f"renewed {done.renewed}, expired {done.expired}, notices {done.notices}, "
                f"forecasts {done.forecasts}, deliveries {sent}"
            )
            if done.failures:
                fail("; ".join(done.failures), code=1)
            return
        stop = _stop_on_signal()
        background = start_background(services, wanted=True)
        stop.wait()
        background.stop()


def _stop_on_signal() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


# Demo and server


@app.command()
def demo(
    database_url: DatabaseUrl = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="If already seeded, only print a new key.")
    ] = False,
) -> None:
    """Seed a demo account with 90 days of traffic and print a working key."""
    from creditbook import demo as seeding  # noqa: PLC0415

    settings = settings_for(database_url)
    existing = seeding.fresh_key(settings) if if_empty else None
    if existing is not None:
        account_id, key = existing
        typer.echo(f"Demo account {account_id} already seeded; a new key was made for it.")
    else:
        result = seeding.seed(settings)
        account_id, key = result.account_id, result.key
        typer.echo(f"Demo account {account_id}: {result.charges} charges over 90 days.")
    typer.echo(f"Demo key (shown once): {key.secret}")
    typer.echo(
        f"Try: curl -s -H 'Authorization: Token {key.secret}' "
        f"http://{settings.host}:{settings.port}/api/v1/accounts/me/"
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the HTTP API (migrating an embedded SQLite database on first start)."""
    import uvicorn  # noqa: PLC0415

    from creditbook.api.app import create_app  # noqa: PLC0415
    from creditbook.logs import configure  # noqa: PLC0415
    from creditbook.storage.engine import create_engine, normalise_url  # noqa: PLC0415
    from creditbook.storage.migrate import upgrade  # noqa: PLC0415

    settings = settings_for(database_url)
    configure(settings.log_level)
    if normalise_url(settings.database_url).get_backend_name() == "sqlite":
        engine = create_engine(settings.database_url)
        upgrade(engine)
        engine.dispose()
    # uvicorn's automatic choice picks uvloop and httptools (dependencies): on the event loop
    # that answers every request, they cost less CPU per request than asyncio and h11.
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_level=settings.log_level,
        log_config=None,  # creditbook.logs already sends JSON lines to stderr
        access_log=False,
        timeout_graceful_shutdown=30,
    )


def main() -> None:
    """Entry point: usage errors are Typer's; ledger errors become one line on stderr."""
    try:
        app()
    except CreditbookError as error:
        detail = error.detail
        if isinstance(detail, str):
            message = detail
        else:
            message = "; ".join(f"{field}: {' '.join(texts)}" for field, texts in detail.items())
        typer.echo(f"error: {message}", err=True)
        sys.exit(2 if error.status_code < 500 else 3)
