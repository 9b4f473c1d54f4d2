"""
Prometheus metrics. One `Metrics` object per app with its own registry;
label values come from closed sets (routes, status codes, event types,
outcomes), never from payload data.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

_MAX_CHILDREN = 1024  # label pairs kept at hand; sets are closed, this only bounds a bug

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric the bridge exports (names are a stable contract)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._webhooks: dict[tuple[str, str], Counter] = {}
        r = self.registry
        self.requests = Counter(
            "kyc_bridge_http_requests",
            "HTTP requests by route and status code.",
            ["route", "status"],
            registry=r,
        )
        self.request_latency = Histogram(
            "kyc_bridge_http_request_duration_seconds",
            "Time from request start to response, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.events = Counter(
            "kyc_bridge_events",
            "Webhooks by event type and outcome (kafka, spool, duplicate, dlq, rejected).",
            ["event_type", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "kyc_bridge_dead_letters",
            "Records written to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.dedup_hits = Counter(
            "kyc_bridge_dedup_hits",
            "Deliveries recognised as repeats of an event already accepted.",
            registry=r,
        )
        self.publish_latency = Histogram(
            "kyc_bridge_publish_duration_seconds",
            "Time from acceptance (spool write) to Kafka acknowledgement.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.published = Counter(
            "kyc_bridge_published_records",
            "Records acknowledged by Kafka, by topic.",
            ["topic"],
            registry=r,
        )
        self.spool_events = Gauge(
            "kyc_bridge_spool_events", "Records in the spool not yet acknowledged.", registry=r
        )
        self.spool_bytes = Gauge(
            "kyc_bridge_spool_bytes", "Bytes of records in the spool.", registry=r
        )
        self.spool_oldest_age = Gauge(
            "kyc_bridge_spool_oldest_age_seconds",
            "Age of the oldest record in the spool (0 when empty).",
            registry=r,
        )
        self.kafka_connected = Gauge(
            "kyc_bridge_kafka_connected",
            "1 when the last exchange with Kafka (publish or periodic probe) succeeded, else 0.",
            registry=r,
        )
        self.ready = Gauge("kyc_bridge_ready", "1 when /readyz answers 200, else 0.", registry=r)
        self.stale_events = Counter(
            "kyc_bridge_stale_events",
            "Events whose ARGOS status time is not newer than the submission's current state.",
            ["event_type"],
            registry=r,
        )
        self.reconcile_runs = Counter(
            "kyc_bridge_reconcile_runs",
            "Reconciliation runs per project, by outcome (ok, partial, failed).",
            ["outcome"],
            registry=r,
        )
        self.reconciled_events = Counter(
            "kyc_bridge_reconciled_events",
            "Missing results found by reconciliation and published, by event type.",
            ["event_type"],
            registry=r,
        )
        self.reconcile_last_success = Gauge(
            "kyc_bridge_reconcile_last_success_timestamp_seconds",
            "When a reconciliation run last read every page of every project (Unix time).",
            registry=r,
        )
        self.task_restarts = Counter(
            "kyc_bridge_task_restarts",
            "Background tasks that crashed and were restarted, by task.",
            ["task"],
            registry=r,
        )
        self.spool_free_bytes = Gauge(
            "kyc_bridge_spool_free_bytes",
            "Free bytes on the spool's volume (appends stop below BRIDGE_SPOOL_MIN_FREE_BYTES).",
            registry=r,
        )
        self.dedup_entries = Gauge(
            "kyc_bridge_dedup_entries",
            "Acknowledged event ids remembered for deduplication (capped).",
            registry=r,
        )

    def request_done(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and observe its latency."""
        children = self._requests.get((route, status))
        if children is None:  # `labels()` takes a lock and builds a key on every call
            counter = self.requests.labels(route, str(status))
            children = (counter, self.request_latency.labels(route))
            if len(self._requests) < _MAX_CHILDREN:
                self._requests[route, status] = children
        children[0].inc()
        children[1].observe(seconds)

    def webhook_done(self, event_type: str, outcome: str) -> None:
        """Count one webhook by event type and outcome."""
        child = self._webhooks.get((event_type, outcome))
        if child is None:
            child = self.events.labels(event_type, outcome)
            if len(self._webhooks) < _MAX_CHILDREN:
                self._webhooks[event_type, outcome] = child
        child.inc()
