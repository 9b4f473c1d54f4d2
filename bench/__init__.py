"""Benchmarks of the bridge against a real local Kafka broker (`python -m bench.run`)."""
