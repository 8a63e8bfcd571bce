"""The internal record on the staged topic: a half-enriched article between the two agents."""

from __future__ import annotations

from typing import Any

import orjson

from akhbar.pipeline.stages.article import Article, Dateline, DedupResult, Entity, Mention


def encode_staged(article: Article, sent_at: float) -> bytes:
    """Serialise an article after the stateless stages, with the producer's send time."""
    return orjson.dumps({"article": article, "sent_at": sent_at})


def decode_staged(payload: bytes) -> tuple[Article, float]:
    """Inverse of ``encode_staged``."""
    record = orjson.loads(payload)
    return article_from_dict(record["article"]), float(record["sent_at"])


def article_from_dict(data: dict[str, Any]) -> Article:
    """Rebuild an ``Article`` (with its nested records) from its orjson dict form."""
    data = dict(data)
    if data.get("dateline"):
        data["dateline"] = Dateline(**data["dateline"])
    if data.get("dedup"):
        data["dedup"] = DedupResult(**data["dedup"])
    data["entities"] = [
        Entity(**{**e, "mentions": [Mention(**m) for m in e["mentions"]]})
        for e in data.get("entities", [])
    ]
    return Article(**data)
