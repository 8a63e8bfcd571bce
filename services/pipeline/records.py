"""The internal record on the staged topic: a half-enriched article between the two agents.

Only what the stateful stages and the enriched event need is carried: the raw ``body`` (replaced
by the cleaned ``text``) and ``match_title`` (used by no stage after normalize) are left out, and
entities travel as arrays, not objects, so the record is smaller and cheaper to rebuild on the
single dedup worker that decodes every article.
"""

from __future__ import annotations

from typing import Any

import orjson

from akhbar.pipeline.stages.article import Article, Dateline, DedupResult, Entity, Mention

# Article fields the staged record leaves out; decoding gives them their empty default.
NOT_CARRIED = frozenset({"body", "match_title"})
CARRIED = tuple(name for name in Article.__slots__ if name not in NOT_CARRIED)


def encode_staged(article: Article, sent_at: float) -> bytes:
    """Serialise an article after the stateless stages, with the producer's send time."""
    record = {name: getattr(article, name) for name in CARRIED}
    record["entities"] = [
        [e.id, e.type, e.name, e.kb, [[m.start, m.end, m.text] for m in e.mentions]]
        for e in article.entities
    ]
    return orjson.dumps({"article": record, "sent_at": sent_at})


def decode_staged(payload: bytes) -> tuple[Article, float]:
    """Inverse of ``encode_staged``."""
    record = orjson.loads(payload)
    return article_from_dict(record["article"]), float(record["sent_at"])


def entity_from(data: list[Any] | dict[str, Any]) -> Entity:
    """An ``Entity`` from its array form, or the object form records had before it."""
    if isinstance(data, dict):
        return Entity(**{**data, "mentions": [Mention(**m) for m in data["mentions"]]})
    entity_id, entity_type, name, kb, mentions = data
    return Entity(entity_id, entity_type, name, [Mention(*m) for m in mentions], kb)


def article_from_dict(data: dict[str, Any]) -> Article:
    """Rebuild an ``Article`` (with its nested records) from its staged dict form."""
    data = dict(data)
    data.setdefault("body", "")
    if data.get("dateline"):
        data["dateline"] = Dateline(**data["dateline"])
    if data.get("dedup"):
        data["dedup"] = DedupResult(**data["dedup"])
    data["entities"] = [entity_from(e) for e in data.get("entities", [])]
    return Article(**data)
