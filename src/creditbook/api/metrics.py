"""Prometheus metrics, in a registry of the app's own (nothing registers at import time)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "creditbook_http_request_duration_seconds",
            "HTTP requests by route, method and status class.",
            ["route", "method", "status"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS_S,
        )
        self.charges = Counter(
            "creditbook_charges_total",
            "Metering calls by kind (charge, reserve, settle, cancel), operation and outcome.",
            ["kind", "operation", "outcome"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "creditbook_refusals_total",
            "Metering calls refused, by reason (insufficient_funds, idempotency_conflict, ...).",
            ["reason"],
            registry=self.registry,
        )
        self.charge_latency = Histogram(
            "creditbook_ledger_write_duration_seconds",
            "Time the ledger took to answer a metering call, by kind.",
            ["kind"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS_S,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
