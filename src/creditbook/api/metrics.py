"""Prometheus metrics, in a registry of the app's own (nothing registers at import time)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# A COMMIT is an fsync: a fraction of a millisecond on a good disk, seconds on a stalling one.
COMMIT_BUCKETS_S = (0.0001, 0.00025, 0.0005, *LATENCY_BUCKETS_S)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


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
        self.commits = Histogram(
            "creditbook_ledger_commit_duration_seconds",
            "COMMIT of each ledger writer transaction: the database's durable write.",
            registry=self.registry,
            buckets=COMMIT_BUCKETS_S,
        )
        self.batch_commands = Histogram(
            "creditbook_ledger_batch_commands",
            "Commands per ledger writer transaction (group commit).",
            registry=self.registry,
            buckets=BATCH_BUCKETS,
        )

    def observe_commit(self, commit_s: float, commands: int) -> None:
        """A writer's commit observer (`Writer.observe`)."""
        self.commits.observe(commit_s)
        self.batch_commands.observe(commands)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
