"""Shared test helpers: a real Kafka broker (``broker``) and throw-away TLS material (``certs``)."""
