"""Alert thresholds and their two states, with a dead band so a balance hovering near the line
raises one alarm, not a storm.

- `balance`: in alarm when the balance falls below `threshold`; resolved when it is back at or
  above `threshold` plus the margin (a percent of the threshold, at least one micro-USD).
- `monthly_percent`: in alarm when this month's spend reaches `percent` of the monthly limit;
  resolved when it is back below that line minus the margin (a refund, a raised limit, a new
  month). An account without a monthly limit never alarms.
- `forecast`: in alarm when, at the average daily spend of the last `window_days` days, the
  balance reaches zero within `horizon_days` days; resolved when it no longer does (the clock
  evaluates it: it needs the usage history).

Everything here is pure: the writer and the clock load the state, call `judge`, and write the
transitions together with their events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from creditbook import limits
from creditbook.domain.book import AccountState
from creditbook.domain.events import ALERT_RESOLVED, ALERT_TRIGGERED, Event, new_event, usd
from creditbook.errors import InvalidInput
from creditbook.money import parse_usd

BALANCE = "balance"
MONTHLY_PERCENT = "monthly_percent"
FORECAST = "forecast"
KINDS = (BALANCE, MONTHLY_PERCENT, FORECAST)
OK = "ok"
IN_ALARM = "in_alarm"
US_PER_DAY = 86_400_000_000


@dataclass(slots=True)
class Alert:
    account_id: str
    id: str
    kind: str
    threshold_micros: int | None
    percent: int | None
    window_days: int | None
    horizon_days: int | None
    state: str
    changed_at_us: int | None
    created_at_us: int


@dataclass(frozen=True, slots=True)
class Reading:
    """What an alert is judged on, and what its event reports."""

    alarm: bool
    clear: bool
    facts: Callable[[], dict[str, Any]]  # built only for an alert that moves


def _margin(line: int, margin_percent: int) -> int:
    return max(abs(line) * margin_percent // 100, 1)


def read_balance(alert: Alert, account: AccountState, margin_percent: int) -> Reading:
    line = alert.threshold_micros or 0
    balance = account.balance_micros
    return Reading(
        alarm=balance < line,
        clear=balance >= line + _margin(line, margin_percent),
        facts=lambda: {"threshold": usd(line), "balance": usd(balance)},
    )


def read_monthly(alert: Alert, account: AccountState, margin_percent: int) -> Reading:
    cap = account.monthly_limit_micros
    spend = account.month_spend_micros
    percent = alert.percent

    def facts() -> dict[str, Any]:
        return {"percent": percent, "monthly_limit": usd(cap), "month_spend": usd(spend)}

    if cap is None or cap == 0:
        return Reading(alarm=False, clear=True, facts=facts)
    line = cap * (percent or 0) // 100
    return Reading(
        alarm=spend >= line, clear=spend < line - _margin(line, margin_percent), facts=facts
    )


def read_forecast(alert: Alert, balance_micros: int, spent_micros: int) -> Reading:
    """`spent_micros`: settled spend over the alert's window (the last `window_days` days)."""
    window = alert.window_days or 1
    horizon = alert.horizon_days or 0
    facts: dict[str, Any] = {
        "window_days": window,
        "horizon_days": horizon,
        "daily_burn": usd(spent_micros // window),
        "balance": usd(balance_micros),
        "days_left": None,
    }
    if spent_micros <= 0:
        return Reading(alarm=False, clear=True, facts=lambda: facts)
    # Zero within the horizon: balance <= burn per day * horizon, in integers.
    reach = spent_micros * horizon // window
    facts["days_left"] = round(balance_micros * window / spent_micros, 2)
    return Reading(alarm=balance_micros <= reach, clear=balance_micros > reach, facts=lambda: facts)


def judge(alert: Alert, reading: Reading, now_us: int) -> Event | None:
    """Move the alert to its new state; the event of the transition, or None."""
    if alert.state == OK and reading.alarm:
        alert.state, kind = IN_ALARM, ALERT_TRIGGERED
    elif alert.state == IN_ALARM and reading.clear:
        alert.state, kind = OK, ALERT_RESOLVED
    else:
        return None
    alert.changed_at_us = now_us
    data = {"alert_id": alert.id, "kind": alert.kind, "state": alert.state, **reading.facts()}
    return new_event(alert.account_id, kind, now_us, data)


def judge_account(
    found: list[Alert], account: AccountState, now_us: int, margin_percent: int
) -> list[tuple[Alert, Event]]:
    """Balance and monthly alerts of one account after a change of its balance or spend:
    each alert that moved, with the event that says so."""
    moved: list[tuple[Alert, Event]] = []
    for alert in found:
        if alert.kind == BALANCE:
            reading = read_balance(alert, account, margin_percent)
        elif alert.kind == MONTHLY_PERCENT:
            reading = read_monthly(alert, account, margin_percent)
        else:
            continue
        event = judge(alert, reading, now_us)
        if event is not None:
            moved.append((alert, event))
    return moved


def check_spec(
    kind: str,
    *,
    threshold_micros: int | None,
    percent: int | None,
    window_days: int | None,
    horizon_days: int | None,
) -> None:
    """Refuse a threshold that lacks what its kind needs or carries what it does not."""
    if kind not in KINDS:
        raise InvalidInput("kind", f"Unknown alert kind; one of {', '.join(KINDS)}.")
    needs = {
        BALANCE: {"threshold"},
        MONTHLY_PERCENT: {"percent"},
        FORECAST: {"window_days", "horizon_days"},
    }[kind]
    given = {
        name
        for name, value in (
            ("threshold", threshold_micros),
            ("percent", percent),
            ("window_days", window_days),
            ("horizon_days", horizon_days),
        )
        if value is not None
    }
    for name in sorted(needs - given):
        raise InvalidInput(name, f"A {kind} alert needs {name}.")
    for name in sorted(given - needs):
        raise InvalidInput(name, f"A {kind} alert takes no {name}.")
    _check_ranges(percent, window_days, horizon_days)


def _check_ranges(percent: int | None, window_days: int | None, horizon_days: int | None) -> None:
    if percent is not None and not 1 <= percent <= 1000:
        raise InvalidInput("percent", "Must be between 1 and 1000.")
    if window_days is not None and not 1 <= window_days <= limits.alert_window_days_max:
        raise InvalidInput("window_days", f"Must be between 1 and {limits.alert_window_days_max}.")
    if horizon_days is not None and not 1 <= horizon_days <= limits.alert_horizon_days_max:
        raise InvalidInput(
            "horizon_days", f"Must be between 1 and {limits.alert_horizon_days_max}."
        )


@dataclass(frozen=True, slots=True)
class AlertSpec:
    kind: str
    threshold_micros: int | None = None
    percent: int | None = None
    window_days: int | None = None
    horizon_days: int | None = None

    def check(self) -> AlertSpec:
        check_spec(
            self.kind,
            threshold_micros=self.threshold_micros,
            percent=self.percent,
            window_days=self.window_days,
            horizon_days=self.horizon_days,
        )
        return self


def parse_specs(text: str) -> list[AlertSpec]:
    """Default thresholds from a setting: `balance:10,monthly_percent:80,forecast:7:3` (USD,
    percent of the monthly limit, burn window and horizon in days); empty for none."""
    specs: list[AlertSpec] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, rest = item.partition(":")
        args = rest.split(":") if rest else []
        try:
            if kind == BALANCE and len(args) == 1:
                spec = AlertSpec(kind, threshold_micros=parse_usd(args[0], field="threshold"))
            elif kind == MONTHLY_PERCENT and len(args) == 1:
                spec = AlertSpec(kind, percent=int(args[0]))
            elif kind == FORECAST and len(args) == 2:
                spec = AlertSpec(kind, window_days=int(args[0]), horizon_days=int(args[1]))
            else:
                raise ValueError(item)
            specs.append(spec.check())
        except (ValueError, InvalidInput) as error:
            raise ValueError(f"bad alert {item!r}: {error}") from None
    return specs
