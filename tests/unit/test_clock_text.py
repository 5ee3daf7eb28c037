"""Timestamps as text: `iso_z` writes what an aware UTC datetime's isoformat writes, with Z."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from creditbook.clock import from_us, iso_z

LAST_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


@given(st.integers(-(10**16), LAST_US))
def test_iso_z_is_the_aware_isoformat_with_a_z(at_us: int) -> None:
    assert iso_z(at_us) == from_us(at_us).isoformat().replace("+00:00", "Z")


def test_microseconds_are_written_only_when_there_are_some() -> None:
    assert iso_z(0) == "1970-01-01T00:00:00Z"
    assert iso_z(1_795_632_405_000_000) == "2026-11-25T18:46:45Z"
    assert iso_z(1_795_632_405_000_001) == "2026-11-25T18:46:45.000001Z"
    assert iso_z(LAST_US) == "9999-12-31T23:59:59.999999Z"
