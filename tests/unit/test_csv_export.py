"""CSV lines written without the csv module are the lines the csv module writes."""

from __future__ import annotations

import csv
import io
import itertools

from creditbook.clock import from_us
from creditbook.domain.history import csv_text
from creditbook.money import format_usd_fixed
from creditbook.services.history import csv_line

TEXTS = [None, "", "plain", "a,b", 'say "hi"', "two\r\nlines", "=SUM(A1)", "-1", "é ünicode"]


def _reference(row: tuple[object, ...]) -> str:
    txn_id, created, settled, kind, status, credits, balance, operation, units, price = row[:10]
    key_id, idempotency_key, request_id, reverses_id, note = row[10:]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(
        [
            txn_id,
            from_us(created).isoformat().replace("+00:00", "Z"),
            "" if settled is None else from_us(settled).isoformat().replace("+00:00", "Z"),
            kind,
            status,
            format_usd_fixed(credits),
            format_usd_fixed(balance),
            operation or "",
            units,
            format_usd_fixed(price),
            key_id or "",
            csv_text(idempotency_key),
            csv_text(request_id),
            reverses_id or "",
            csv_text(note),
        ]
    )
    return buffer.getvalue()


def test_csv_lines_match_the_csv_module_for_awkward_text_and_times() -> None:
    times = [(0, 0), (1_795_632_405_405_826, None), (1_795_632_405_000_000, 1_795_632_406_000_001)]
    for (created, settled), note, key, kind in itertools.product(
        times, TEXTS, TEXTS[:4], ["top_up", "odd,type"]
    ):
        row = ("txn_1", created, settled, kind, "success", -1_500_000, 12, "email_find", 3)
        row += (20_000, "key_1", key, key, None, note)
        assert csv_line(row) == _reference(row)
