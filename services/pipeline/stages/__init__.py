"""Broker-free enrichment stages: each is a callable ``stage(article) -> article``."""
