"""Kafka topic names. Input topics carry events keyed by entity; output topics carry what opswatch decided.

The prefix comes from ``OPSWATCH_KAFKA__TOPIC_PREFIX`` (default ``opswatch``).
"""

from __future__ import annotations

#: event kind -> input topic suffix
INPUT_TOPICS: dict[str, str] = {
    "cold_chain": "coldchain",
    "vehicle": "vehicles",
    "pos_sale": "pos",
    "stock_level": "stock",
    "stock_movement": "stock",
    "shipment": "shipments",
}
INCIDENTS = "incidents"
RECOMMENDATIONS = "recommendations"
DEADLETTER = "deadletter"
OUTPUT_TOPICS = (INCIDENTS, RECOMMENDATIONS, DEADLETTER)


def input_topics(prefix: str = "opswatch") -> list[str]:
    return sorted({f"{prefix}.{s}" for s in INPUT_TOPICS.values()})


def topic_for(kind: str, prefix: str = "opswatch") -> str:
    return f"{prefix}.{INPUT_TOPICS[kind]}"


def output_topic(name: str, prefix: str = "opswatch") -> str:
    return f"{prefix}.{name}"
