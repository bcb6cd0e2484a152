"""A federated aggregator for independent media."""

__version__ = "0.1.0"
