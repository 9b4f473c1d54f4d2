"""
Shared test helpers: a real Kafka broker (``broker``), throw-away TLS material (``certs``),
a fake ARGOS REST API (``fake_argos``).
"""
