"""The usage report is written as JSON text for speed; it must be the very bytes the general
JSON rendering gives for the same report, with amounts as exact decimal numbers."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from creditbook import limits
from creditbook.api import render
from creditbook.api.responses import dumps
from creditbook.domain.usage import Bucket, Figures, Period, UsageReport

AMOUNTS = st.integers(-limits.balance_micros_max, limits.balance_micros_max)
COUNTS = st.integers(-(10**12), 10**12)
OPERATIONS = st.sampled_from(
    ["search_database", "email_find", "phone_find", 'odd "name" \\ é', "ünïcode\u2028op"]
)
FIGURES = st.builds(Figures, AMOUNTS, COUNTS, COUNTS)
BREAKDOWNS = st.dictionaries(OPERATIONS, FIGURES, max_size=5)


def general_bucket(b: Bucket) -> dict[str, Any]:
    """The bucket as a dict of exact Decimals, the way any JSON rendering would see it."""
    ordered = sorted(b.breakdown.items())
    return {
        "start": b.start.isoformat(),
        "end": (b.end - timedelta(days=1)).isoformat(),
        "total_credits": render.usd(b.total.spend_micros),
        "breakdown": {op: render.usd(f.spend_micros) for op, f in ordered},
        "units": {op: f.units for op, f in ordered},
        "requests": {op: f.charges for op, f in ordered},
    }


@st.composite
def reports(draw: st.DrawFn) -> UsageReport:
    start = draw(st.dates(date(2000, 1, 1), date(2900, 1, 1)))
    days = draw(st.integers(1, 40))
    series = [
        Bucket(start + timedelta(days=n), start + timedelta(days=n + 1), draw(FIGURES))
        for n in range(days)
    ]
    for bucket in series:
        bucket.breakdown = draw(BREAKDOWNS)
    total = Bucket(start, start + timedelta(days=days), draw(FIGURES), draw(BREAKDOWNS))
    return UsageReport(start, total.end, "Asia/Kathmandu", Period.DAY, total, series)


@given(reports(), st.sampled_from(["2026-03", "2026-03-01..2026-03-09"]))
def test_the_usage_report_text_is_what_the_general_json_gives(
    report: UsageReport, label: str
) -> None:
    ordered = sorted(report.total.breakdown.items())
    general = {
        "period": label,
        "total_credits": render.usd(report.total.total.spend_micros),
        "breakdown": {op: render.usd(f.spend_micros) for op, f in ordered},
        "timezone": report.timezone,
        "start_date": report.start.isoformat(),
        "end_date": (report.end - timedelta(days=1)).isoformat(),
        "granularity": "day",
        "total_units": report.total.total.units,
        "total_requests": report.total.total.charges,
        "units": {op: f.units for op, f in ordered},
        "requests": {op: f.charges for op, f in ordered},
        "series": [general_bucket(b) for b in report.series],
    }
    text = render.usage_json(report, label)
    assert text == dumps(general)
    parsed = json.loads(text, parse_float=Decimal)
    assert [b["total_credits"] for b in parsed["series"]] == [
        render.usd(b.total.spend_micros) for b in report.series
    ]
