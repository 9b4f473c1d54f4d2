"""
The delivery core: the contract behind every 2xx. `ingest` accepts events
(spool first, then Kafka within the publish deadline), `spool` keeps them
durable in acceptance order, `relay` publishes them partition by partition,
`dedup` remembers what Kafka acknowledged, `gate` admits or refuses work
during shutdown.

May import: `bridge.config`, `bridge.errors`, `bridge.events`,
`bridge.deadletter`, `bridge.metrics`, `bridge.publish`; never the HTTP edge
(`bridge.ingress`) or the command line (`bridge.commands`).
"""
