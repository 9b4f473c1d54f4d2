"""kyc-bridge: ARGOS Identity KYC webhooks to Apache Kafka."""

__all__ = ["__version__"]

__version__ = "0.1.0"
