"""The internal record on the staged topic: a half-enriched article between the two agents.

The dedup agent, on its single partition, handles every article of the run, so the record is
shaped for it to do as little as possible. Since version 2 it is

    b"2" + header JSON + b"\\n" + the enriched event's fields, encoded, without the closing "}"

The header holds what dedup and the metrics need (id, the article's fingerprint, ``ingested_at``,
the send time, stage timings, boilerplate count, and the entities' ids, types and names). It
carries ``match_text`` only for an article without a fingerprint (the dedup stage then shingles
it itself); with one, ``match_text`` is empty and the record ~40 % smaller. The head has
already encoded every field of the enriched event the stateless stages decide
(``events.enriched_fields``), so the dedup agent decodes only the small header and appends the
last fields (``events.finishing_fields``: the dedup decision, ``processed_at`` and the pipeline
record) to those bytes instead of rebuilding and re-encoding the whole article: ~80 us less of
the agent's time per article (``akhbar bench --offline``, ``codec_us``). orjson never writes a
raw newline (it escapes one inside a string), so the first newline ends the header.

A record of version 1 (one JSON object: the article's fields and the send time) is still read,
so a worker upgraded while records were waiting on the staged topic loses none of them.

Bundles: the head sends the staged records of a batch several to a Kafka message,

    b"3" + JSON list of the records' lengths + b"\\n" + the records, one after the other

so the staged hop costs one produce, one broker append and one Faust event per bundle instead of
per article (``split_bundle``). A message that is not a bundle is one record, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from akhbar.common import events
from akhbar.pipeline.stages.article import (
    Article,
    Dateline,
    DedupResult,
    Entity,
    Fingerprint,
    Mention,
)

VERSION_2 = b"2"
BUNDLE = b"3"


class BundleError(ValueError):
    """A bundle whose header does not match its records (a corrupt or foreign message)."""


@dataclass(slots=True)
class StagedRecord:
    """A decoded staged record.

    ``article`` holds what the stateful stages and the metrics read (for a version-2 record:
    id, fingerprint or ``match_text``, ``ingested_at``, timings, boilerplate count, and entities
    without their mentions); ``fields`` is the encoded enriched event so far, without its
    closing brace.
    """

    article: Article
    sent_at: float
    fields: bytes

    def enriched_value(self, processed_at: float) -> bytes:
        """The enriched event: ``fields`` and the finishing fields of ``article`` as it is now."""
        finishing = orjson.dumps(events.finishing_fields(self.article, processed_at))
        return self.fields + b"," + finishing[1:]


def encode_staged(article: Article, sent_at: float) -> bytes:
    """Serialise an article after the stateless stages, with the producer's send time."""
    fingerprint = article.fingerprint
    header = {
        "id": article.id,
        # What dedup compares: the fingerprint, or the match text when there is none (a record
        # from a head without the fingerprint stage, or a body without a word to match).
        "match_text": "" if fingerprint else article.match_text,
        "fingerprint": (
            [fingerprint.body_hash, fingerprint.shingle_size, fingerprint.shingles]
            if fingerprint
            else None
        ),
        "ingested_at": article.ingested_at,
        "sent_at": sent_at,
        "timings": article.timings,
        "boilerplate_chars": article.boilerplate_chars,
        "entities": [[e.id, e.type, e.name] for e in article.entities],
    }
    fields = orjson.dumps(events.enriched_fields(article))
    return VERSION_2 + orjson.dumps(header) + b"\n" + fields[:-1]


def decode_staged(payload: bytes) -> StagedRecord:
    """Inverse of ``encode_staged``; also reads a version-1 record."""
    if payload[:1] != VERSION_2:
        article, sent_at = decode_version_1(payload)
        return StagedRecord(article, sent_at, orjson.dumps(events.enriched_fields(article))[:-1])
    end = payload.index(b"\n")
    header = orjson.loads(payload[1:end])
    fingerprint = header.get("fingerprint")
    article = Article(
        id=header["id"],
        title="",
        body="",
        match_text=header["match_text"],
        fingerprint=Fingerprint(*fingerprint) if fingerprint else None,
        ingested_at=header["ingested_at"],
        timings=header["timings"],
        boilerplate_chars=header["boilerplate_chars"],
        entities=[Entity(eid, etype, name, []) for eid, etype, name in header["entities"]],
    )
    return StagedRecord(article, float(header["sent_at"]), payload[end + 1 :])


def staged_id(record: bytes) -> str | None:
    """The article id of a staged record, or None if it is unreadable (for its dead letter)."""
    try:
        return decode_staged(record).article.id
    except Exception:
        return None


def encode_bundle(records: Sequence[bytes]) -> bytes:
    """Several staged records as one message (``split_bundle`` reads them back)."""
    return BUNDLE + orjson.dumps([len(record) for record in records]) + b"\n" + b"".join(records)


def split_bundle(payload: bytes) -> list[bytes]:
    """The staged records one message holds: a bundle's, in order, or the message itself."""
    if payload[:1] != BUNDLE:
        return [payload]
    end = payload.find(b"\n")
    try:
        lengths = orjson.loads(payload[1:end]) if end > 0 else None
    except orjson.JSONDecodeError:
        lengths = None
    if not isinstance(lengths, list) or not all(isinstance(n, int) and n > 0 for n in lengths):
        raise BundleError("a staged bundle without a valid list of record lengths")
    records = []
    start = end + 1
    for length in lengths:
        records.append(payload[start : start + length])
        start += length
    if start != len(payload):
        raise BundleError(
            f"a staged bundle of {len(payload)} bytes whose header adds up to {start}"
        )
    return records


# --- version 1 --------------------------------------------------------------------------------

# Article fields a version-1 record left out; decoding gives them their empty default.
NOT_CARRIED = frozenset({"body", "match_title", "fingerprint"})
CARRIED = tuple(name for name in Article.__slots__ if name not in NOT_CARRIED)


def encode_version_1(article: Article, sent_at: float) -> bytes:
    """The staged record before version 2 (kept to test that one is still read)."""
    record = {name: getattr(article, name) for name in CARRIED}
    record["entities"] = [
        [e.id, e.type, e.name, e.kb, [[m.start, m.end, m.text] for m in e.mentions]]
        for e in article.entities
    ]
    return orjson.dumps({"article": record, "sent_at": sent_at})


def decode_version_1(payload: bytes) -> tuple[Article, float]:
    """A whole article and its send time from a version-1 record."""
    record = orjson.loads(payload)
    return article_from_dict(record["article"]), float(record["sent_at"])


def entity_from(data: list[Any] | dict[str, Any]) -> Entity:
    """An ``Entity`` from its array form, or the object form records had before it."""
    if isinstance(data, dict):
        return Entity(**{**data, "mentions": [Mention(**m) for m in data["mentions"]]})
    entity_id, entity_type, name, kb, mentions = data
    return Entity(entity_id, entity_type, name, [Mention(*m) for m in mentions], kb)


def article_from_dict(data: dict[str, Any]) -> Article:
    """Rebuild an ``Article`` (with its nested records) from its version-1 dict form."""
    data = dict(data)
    data.setdefault("body", "")
    if data.get("dateline"):
        data["dateline"] = Dateline(**data["dateline"])
    if data.get("dedup"):
        data["dedup"] = DedupResult(**data["dedup"])
    data["entities"] = [entity_from(e) for e in data.get("entities", [])]
    return Article(**data)
