"""Tests of the broker tool, deploy/kafka/kafkactl/, mostly against the real brokers it runs."""
