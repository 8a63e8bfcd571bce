"""Typed failures a stage raises; drivers turn them into dead-letter events."""

from __future__ import annotations


class StageError(Exception):
    """A stage refused an article for a known reason. ``reason`` is a short snake_case code."""

    stage: str = "unknown"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class RejectedArticle(StageError):
    """The input is not an article the normalise stage can enrich (language gate, length)."""

    stage = "normalize"
