"""Typed failures of the producer: usage mistakes, an unreachable broker, a refused document."""

from __future__ import annotations


class ProducerError(Exception):
    """Base class of every failure the producer raises on purpose."""


class UsageError(ProducerError):
    """The command was asked for something impossible (a missing path); exit code 2."""


class BrokerUnavailable(ProducerError):
    """The broker could not be reached or stopped acknowledging; exit code 3."""


class DocumentRejected(ProducerError):
    """One document cannot be published as an article; ``reason`` is the dead-letter code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
