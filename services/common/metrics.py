"""Every akhbar_* Prometheus metric, declared once; the README's metrics catalogue mirrors this."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

from akhbar import __version__

# Stage work on seed-sized articles takes tens of microseconds to tens of milliseconds.
STAGE_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
# From produce to output: milliseconds when keeping up, seconds to minutes when catching up.
END_TO_END_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)

BUILD_INFO = Info("akhbar_build", "Version of the running akhbar process.")
BUILD_INFO.info({"version": __version__})

ARTICLES = Counter(
    "akhbar_articles_total",
    "Articles handled, by pipeline stage and outcome.",
    ["stage", "outcome"],
)
DEAD_LETTERS = Counter(
    "akhbar_dead_letters_total",
    "Inputs sent to the dead-letter topic, by stage and reason.",
    ["stage", "reason"],
)
STAGE_SECONDS = Histogram(
    "akhbar_stage_seconds",
    "Time one article spends in one stage.",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
END_TO_END_SECONDS = Histogram(
    "akhbar_end_to_end_seconds",
    "Time from the producer's send to the enriched event being produced.",
    buckets=END_TO_END_BUCKETS,
)
DUPLICATES = Counter(
    "akhbar_duplicates_total",
    "Articles found to duplicate an earlier one, by method (exact or near).",
    ["method"],
)
ENTITIES = Counter(
    "akhbar_entities_total",
    "Entities tagged (one per entity per article), by type.",
    ["type"],
)
ENTITY_LINKS = Counter(
    "akhbar_entity_links_total",
    "Entities linked, by whether the knowledge base knew them (kb=true) or not.",
    ["kb"],
)
BOILERPLATE_CHARS = Counter(
    "akhbar_boilerplate_chars_total",
    "Characters removed from article bodies as boilerplate, bylines and datelines.",
)
LANGUAGE = Counter(
    "akhbar_language_total",
    "Language-gate outcomes of the normalise stage (accepted, not_arabic, too_short).",
    ["outcome"],
)
DEDUP_INDEX_SIZE = Gauge(
    "akhbar_dedup_index_articles",
    "Articles remembered by the dedup index.",
)
DEDUP_EVICTIONS = Counter(
    "akhbar_dedup_evictions_total",
    "Articles evicted from the dedup index by the retention window.",
)
CONSUMER_LAG = Gauge(
    "akhbar_consumer_lag_messages",
    "Messages between the worker's position and the partition's high-water mark.",
    ["topic", "partition"],
)
TOP_ENTITY_ARTICLES = Gauge(
    "akhbar_top_entity_articles",
    "Articles mentioning each of the 10 most-mentioned entities over the last window "
    "(rank 1 = most); at most 10 series at any time.",
    ["rank", "entity_id", "name", "type"],
)
PRODUCER_FILES = Counter(
    "akhbar_producer_files_total",
    "Documents the producer saw, sent and rejected.",
    ["outcome"],
)
PRODUCER_REJECTED = Counter(
    "akhbar_producer_rejected_total",
    "Documents the producer refused, by reason.",
    ["reason"],
)
