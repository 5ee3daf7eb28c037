"""Every bound creditbook enforces, in one place. Units and qualifiers come last in names.

A request beyond one of these is refused with a clear error naming the field; nothing in the
package loops, reads or buffers without one of these bounding it.
"""

from __future__ import annotations

MICROS_PER_USD = 1_000_000

# Money. A single amount (a charge, a grant, an adjustment) stays far inside a signed 64-bit
# integer of micro-USD even when summed over a lifetime of charges.
amount_micros_max = 1_000_000_000 * MICROS_PER_USD  # one billion USD in one movement
balance_micros_max = 1_000_000_000_000 * MICROS_PER_USD  # what an account may ever hold
unit_price_micros_max = 1_000 * MICROS_PER_USD
usd_decimals_max = 6

# Charges.
units_max = 1_000_000  # per charge or reservation
multiplier_ppm_max = 10_000_000  # a spend tier may at most multiply prices by ten
batch_charges_max = 10_000  # per call of the batch API
group_commit_size_max = 4_096  # commands one writer transaction may carry
group_commit_wait_us_max = 50_000
ledger_threads_max = 256  # HTTP metering calls waiting on the writer at once
reservation_ttl_s_max = 7 * 24 * 3600
reservation_ttl_s_min = 1

# Requests.
request_body_bytes_max = 8 * 1024 * 1024  # a full batch of charges fits with room to spare

# Text the caller chooses.
idempotency_key_length_max = 255
request_id_length_max = 255
operation_code_length_max = 64
reason_length_max = 1_000
details_bytes_max = 4_096
name_length_max = 200
email_length_max = 254

# Grants.
priority_max = 1_000_000
grants_open_per_account_max = 10_000  # open grants loaded for one account in one batch

# Reads.
page_size_max = 1_000
page_size_default = 100
usage_range_days_max = 3_700  # ten years and change, by day
verify_problems_max = 1_000  # a report stops listing after this many
# Rows an export reads per statement (each in a short transaction of its own). 5,000 CSV rows
# are about 1 MB of text; on the 10M-row databases, chunks of 5,000 exported ~25% more rows/s
# than chunks of 1,000 (fewer statements, checkouts and thread hops per row).
export_chunk_rows = 5_000

# Alerts, events and webhooks.
alerts_per_account_max = 50
alert_window_days_max = 90
alert_horizon_days_max = 365
webhooks_per_account_max = 20
webhook_url_length_max = 2_048
webhook_secret_length_max = 255
webhook_secret_length_min = 8
webhook_attempts_max = 20
deliveries_per_round_max = 100  # deliveries one dispatcher round claims
webhook_response_bytes_max = (
    4_096  # what is kept of a receiver's answer (the rest is read and dropped)
)
clock_accounts_per_round_max = 500  # accounts one clock job handles per transaction

# Caches.
grant_cache_accounts_max = 10_000
key_cache_keys_max = 10_000  # API keys remembered after authenticating
key_cache_ttl_s_max = 300

# Failed authentications (api.guard), counted per client address in each process.
auth_failure_addresses_max = 10_000  # addresses tracked at once; the oldest is dropped first
auth_failures_setting_max = 1_000_000  # the largest `auth_failures_max` an operator may set
auth_failure_window_s_max = 86_400

assert group_commit_size_max <= batch_charges_max
assert page_size_default <= page_size_max
assert amount_micros_max < balance_micros_max < 2**62
assert unit_price_micros_max * units_max * multiplier_ppm_max // 1_000_000 < 2**62
