"""The article record that flows through the stage chain, and the results stages attach to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

EntityType = Literal["PER", "LOC", "ORG"]
DedupStatus = Literal["unique", "duplicate"]
DedupMethod = Literal["exact", "near"]


@dataclass(slots=True)
class Dateline:
    """A dateline such as ``أستانا-موسكو-سانا``: the places it names and the agency, as written."""

    raw: str
    places: list[str]
    agency: str | None


@dataclass(slots=True)
class DedupResult:
    """What the dedup stage decided about one article id (replays get the same answer)."""

    status: DedupStatus
    duplicate_of: str | None = None
    similarity: float | None = None
    method: DedupMethod | None = None


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the dedup stage compares, computed from ``match_text`` by the ``fingerprint`` stage:
    a hash of the whole body (exact copies) and its word-shingle ids (near copies), as base64 of
    little-endian uint32, the form the dedup state stores."""

    body_hash: str
    shingle_size: int
    shingles: str


@dataclass(slots=True)
class Mention:
    """One occurrence of an entity: ``text[start:end] == surface`` on the article's cleaned text."""

    start: int
    end: int
    text: str


@dataclass(slots=True)
class Entity:
    """A real-world entity an article mentions, linked to one canonical id."""

    id: str
    type: EntityType
    name: str
    mentions: list[Mention] = field(default_factory=list)
    kb: bool = False


@dataclass(slots=True)
class Article:
    """One news article on its way through the chain.

    The producer fills the identity fields; ``normalize`` fills ``text`` and the matching form;
    ``entities`` fills ``entities``; ``fingerprint`` fills ``fingerprint`` from the matching
    form, and ``dedup`` fills ``dedup``. Offsets always index ``text``.
    """

    id: str
    title: str
    body: str
    source: str = "unknown"
    content_hash: str = ""
    ingested_at: float = 0.0
    # normalize
    text: str = ""
    match_text: str = ""
    match_title: str = ""
    dateline: Dateline | None = None
    byline: str | None = None
    boilerplate_chars: int = 0
    language: str | None = None
    # fingerprint (the stateless half of dedup), then dedup
    fingerprint: Fingerprint | None = None
    dedup: DedupResult | None = None
    # entities
    entities: list[Entity] = field(default_factory=list)
    # stage name -> seconds spent, filled by the chain driver
    timings: dict[str, float] = field(default_factory=dict)
