"""Domain values as they appear on the wire: money as exact decimal numbers (USD), times as
ISO 8601 in UTC with a `Z`, field names as in Generect's account API plus creditbook's extras."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from simplejson.encoder import encode_basestring

from creditbook.api.responses import dumps
from creditbook.clock import iso_z
from creditbook.domain.accounts import ApiKey
from creditbook.domain.alerts import Alert
from creditbook.domain.grants import TRANSACTION_TYPE, GrantKind
from creditbook.domain.pricing import PPM_ONE
from creditbook.domain.transactions import Receipt, Transaction, TransactionType
from creditbook.domain.usage import Bucket, Figures, UsageReport
from creditbook.domain.webhooks import Attempt, Webhook, mask_secret
from creditbook.money import format_usd, to_decimal
from creditbook.services.accounts import Summary
from creditbook.services.analytics import KeyTraffic
from creditbook.services.webhooks import LoggedDelivery, Queued

PPM = Decimal(1_000_000)

BALANCE_TYPES = {
    TransactionType.TOP_UP: "purchase",
    TransactionType.GRANT: "grant",
    TransactionType.REFUND: "refund",
    TransactionType.EXPIRATION: "expiration",
    TransactionType.ADJUSTMENT: "adjustment",
}


def usd(micros: int) -> Decimal:
    return to_decimal(micros)


def usd_or_none(micros: int | None) -> Decimal | None:
    return None if micros is None else to_decimal(micros)


def when(at_us: int | None) -> str | None:
    """`2026-05-15T10:30:00Z`, with microseconds when there are any."""
    return None if at_us is None else iso_z(at_us)


def date_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def multiplier(ppm: int) -> Decimal:
    value = Decimal(ppm) / PPM
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def transaction_json(t: Transaction) -> str:
    """A transaction as JSON text, written directly: pages carry a hundred of them and every
    charge answers with one, and building a dict of Decimals to encode costs three times as
    much. Strings go through simplejson's own escaping, amounts are `format_usd`'s exact digits
    and the metadata is encoded by `dumps`: a test holds the text to what `dumps` gives for
    the general form, byte for byte."""
    kind = "usage" if t.is_charge else BALANCE_TYPES.get(t.type, t.type)
    created = _time(t.created_at_us)
    settled = created if t.settled_at_us == t.created_at_us else _time(t.settled_at_us)
    return (
        f'{{"id":{_text(t.id)},"timestamp":{created},"type":{_text(t.type)},'
        f'"credits":{format_usd(t.credits_micros)},"details":{{"balance_type":{_text(kind)},'
        f'"status":{_text(t.status)},"balance_after":{format_usd(t.balance_after_micros)},'
        f'"operation":{_text(t.operation)},"units":{t.units},'
        f'"unit_price":{format_usd(t.unit_price_micros)},'
        f'"multiplier":{"1" if t.multiplier_ppm == PPM_ONE else format_usd(t.multiplier_ppm)},'
        f'"reserved":{"0" if t.reserved_micros == 0 else format_usd(t.reserved_micros)},'
        f'"reserved_units":{t.reserved_units},"settled_at":{settled},'
        f'"expires_at":{_time(t.expires_at_us)},'
        f'"api_key_id":{_text(t.api_key_id)},"idempotency_key":{_text(t.idempotency_key)},'
        f'"request_id":{_text(t.request_id)},"reverses":{_text(t.reverses_id)},'
        f'"grant_id":{_text(t.grant_id)},"note":{_text(t.note)},'
        f'"metadata":{"null" if t.details is None else dumps(t.details)}}}}}'
    )


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _time(at_us: int | None) -> str:
    return "null" if at_us is None else f'"{when(at_us)}"'


def receipt_meta(r: Receipt) -> dict[str, Any]:
    return {
        "amount_charged": usd(r.charged_micros),
        "reserved": usd(r.reserved_micros),
        "balance": usd(r.balance_micros),
        "available": usd(r.available_micros),
        "replayed": r.replayed,
        "test": r.test,
    }


def summary(s: Summary) -> dict[str, Any]:
    a = s.account
    return {
        "id": a.id,
        "email": a.email,
        "name": a.name,
        "plan": a.plan,
        "credits": {
            "balance": usd(a.balance_micros),
            "used_this_month": usd(s.used_this_month_micros),
            "monthly_limit": usd_or_none(a.monthly_limit_micros),
            "reserved": usd(a.reserved_micros),
            "available": usd(s.available_micros),
            "overdraft_limit": usd(a.overdraft_limit_micros),
            "lifetime_spend": usd(a.lifetime_spend_micros),
        },
        "preview_tier": s.preview_tier,
        "tier": {"name": s.tier.name, "multiplier": multiplier(s.tier.multiplier_ppm)},
        "status": a.status,
        "timezone": a.timezone,
        "grants": [
            {
                "id": g.id,
                "kind": g.kind,
                "type": TRANSACTION_TYPE[GrantKind(g.kind)],
                "amount": usd(g.amount_micros),
                "remaining": usd(g.remaining_micros),
                "held": usd(g.held_micros),
                "priority": g.priority,
                "effective_at": when(g.effective_at_us),
                "expires_at": when(g.expires_at_us),
            }
            for g in s.grants
            if not g.is_overdraft
        ],
        "alerts": [alert(x) for x in s.alerts],
        "created_at": when(a.created_at_us),
    }


def alert(x: Alert) -> dict[str, Any]:
    return {
        "id": x.id,
        "kind": x.kind,
        "threshold": usd_or_none(x.threshold_micros),
        "percent": x.percent,
        "window_days": x.window_days,
        "horizon_days": x.horizon_days,
        "state": x.state,
        "changed_at": when(x.changed_at_us),
        "created_at": when(x.created_at_us),
    }


def _figures(
    breakdown: dict[str, Figures],
) -> tuple[dict[str, Decimal], dict[str, int], dict[str, int]]:
    ordered = sorted(breakdown.items())
    return (
        {op: usd(f.spend_micros) for op, f in ordered},
        {op: f.units for op, f in ordered},
        {op: f.charges for op, f in ordered},
    )


def _last_day(end: date) -> str:
    """The inclusive last local date of a period that ends (exclusive) at `end`."""
    return date.fromordinal(end.toordinal() - 1).isoformat()


def usage_json(report: UsageReport, label: str) -> str:
    """The usage report as JSON text. A year by day is 366 buckets of several operations: each
    bucket is written directly (`bucket_json`), a third of the time of building its dict and
    encoding it; a test holds the text to what `dumps` gives for the general form."""
    credits, units, requests = _figures(report.total.breakdown)
    head = dumps(
        {
            "period": label,
            "total_credits": usd(report.total.total.spend_micros),
            "breakdown": credits,
            "timezone": report.timezone,
            "start_date": report.start.isoformat(),
            "end_date": _last_day(report.end),
            "granularity": report.period.value,
            "total_units": report.total.total.units,
            "total_requests": report.total.total.charges,
            "units": units,
            "requests": requests,
        }
    )
    series = ",".join([bucket_json(b) for b in report.series])
    return f'{head[:-1]},"series":[{series}]}}'


def bucket_json(bucket: Bucket) -> str:
    """One bucket of the usage series as JSON text (see `usage_json`)."""
    credits, units, requests = [], [], []
    for operation, f in sorted(bucket.breakdown.items()):
        key = encode_basestring(operation)
        credits.append(f"{key}:{format_usd(f.spend_micros)}")
        units.append(f"{key}:{f.units}")
        requests.append(f"{key}:{f.charges}")
    return (
        f'{{"start":"{bucket.start.isoformat()}","end":"{_last_day(bucket.end)}",'
        f'"total_credits":{format_usd(bucket.total.spend_micros)},'
        f'"breakdown":{{{",".join(credits)}}},"units":{{{",".join(units)}}},'
        f'"requests":{{{",".join(requests)}}}}}'
    )


def key(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "prefix": k.prefix,
        "name": k.name,
        "client_id": k.client_id,
        "scope": k.scope,
        "test": k.is_test,
        "is_active": k.is_active,
        "created_at": when(k.created_at_us),
        "last_used_at": when(k.last_used_at_us),
        "revoked_at": when(k.revoked_at_us),
    }


def key_traffic(t: KeyTraffic) -> dict[str, Any]:
    return {
        "token": f"{t.key.prefix}…",
        **key(t.key),
        "total_requests": t.requests,
        "by_endpoint": dict(sorted(t.by_endpoint.items())),
        "by_status": dict(sorted(t.by_status.items())),
        "total_credits": usd(t.spend.spend_micros),
        "by_operation": {
            op: {"credits": usd(f.spend_micros), "units": f.units, "charges": f.charges}
            for op, f in sorted(t.by_operation.items())
        },
    }


def webhook(w: Webhook, *, show_secret: bool = False) -> dict[str, Any]:
    """Generect's Webhook object, plus why it is disabled and its current run of failures.
    The secret is whole only right after it was made or set."""
    return {
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "secret": w.secret if show_secret else mask_secret(w.secret),
        "is_active": w.is_active,
        "created_at": when(w.created_at_us),
        "updated_at": when(w.updated_at_us),
        "disabled_reason": w.disabled_reason,
        "failure_run": w.failure_run,
    }


def _attempt(a: Attempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "at": when(a.at_us),
        "status_code": a.status_code,
        "latency_ms": Decimal(a.latency_us) / 1000,
        "error": a.error,
    }


def delivery(logged: LoggedDelivery) -> dict[str, Any]:
    d = logged.delivery
    return {
        "id": d.id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": when(d.next_attempt_at_us) if d.status == "pending" else None,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": when(d.created_at_us),
        "updated_at": when(d.updated_at_us),
        "attempt_log": [_attempt(a) for a in logged.attempts],
    }


def queued(q: Queued) -> dict[str, Any]:
    """A delivery waiting to go: the body of the test and redeliver answers (202)."""
    return {
        "data": {"delivery_id": q.delivery_id, "status": q.status, "event_id": q.event_id},
        "meta": {"event": q.event_type},
    }
