"""Kafka with kafka-python: client configuration from settings, topic creation, producing.

Used by the simulator, the MQTT bridge, the demo and the tests. The Faust worker has its own
aiokafka clients; both read the same ``KafkaSettings``.
"""

from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.settings import KafkaSettings
from streams.topics import OUTPUT_TOPICS, input_topics, output_topic

log = logging.getLogger("opswatch.kafka")


def client_config(settings: KafkaSettings) -> dict:
    """kafka-python connection options (TLS/SASL included) from settings; secrets stay secret."""
    cfg: dict = {"bootstrap_servers": settings.servers(), "security_protocol": settings.security_protocol}
    if settings.sasl_mechanism:
        cfg["sasl_mechanism"] = settings.sasl_mechanism
        cfg["sasl_plain_username"] = settings.sasl_username
        cfg["sasl_plain_password"] = (settings.sasl_password.get_secret_value()
                                      if settings.sasl_password else None)
    for opt in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(settings, opt)
        if value is not None:
            cfg[opt] = str(value)
    return cfg


def all_topics(settings: KafkaSettings) -> list[str]:
    return input_topics(settings.topic_prefix) + [output_topic(t, settings.topic_prefix) for t in OUTPUT_TOPICS]


def ensure_topics(settings: KafkaSettings, topics: list[str] | None = None, timeout_s: float = 30.0) -> list[str]:
    """Create the opswatch topics with the configured partitions; existing ones are left alone."""
    topics = topics or all_topics(settings)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(**client_config(settings), client_id="opswatch-admin")
            break
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka at {settings.bootstrap_servers} unreachable: {exc}") from exc
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(t, settings.partitions, settings.replication_factor) for t in topics if t not in existing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s", [t.name for t in new])
        return [t.name for t in new]
    finally:
        admin.close()


def make_producer(settings: KafkaSettings, **overrides) -> KafkaProducer:
    opts = {"acks": "all", "linger_ms": 5, "retries": 5, **overrides}
    return KafkaProducer(**client_config(settings), **opts)
