"""akhbar: a streaming service that ingests Arabic news articles and publishes them enriched."""

__version__ = "0.1.0"
