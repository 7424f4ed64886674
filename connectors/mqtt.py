"""MQTT bridge: sensor topics into Kafka, for devices and gateways that do not speak Kafka.

Source -> **validate** -> Kafka input topics. Each MQTT message (one event or a gateway batch, JSON)
is validated with the same schemas as the worker uses; valid events are produced to the input topic
of their kind, keyed by entity, and anything invalid goes to ``opswatch.deadletter`` with the
reason and the MQTT topic it came from. A bad message never stops the bridge.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from connectors.kafka import make_producer
from streams.errors import DeadLetter
from streams.events import dumps, parse_message
from streams.settings import KafkaSettings, MqttSettings
from streams.topics import DEADLETTER, output_topic, topic_for

log = logging.getLogger("opswatch.mqtt")


@dataclass
class BridgeStats:
    messages: int = 0
    events: int = 0
    deadlettered: int = 0


class MqttBridge:
    def __init__(self, kafka: KafkaSettings, mqtt_settings: MqttSettings):
        self.kafka, self.mqtt = kafka, mqtt_settings
        self.stats = BridgeStats()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._producer = None
        self._client: mqtt.Client | None = None

    def setup(self) -> None:
        self._producer = make_producer(self.kafka)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"opswatch-bridge-{id(self):x}")
        if self.mqtt.username:
            client.username_pw_set(self.mqtt.username,
                                   self.mqtt.password.get_secret_value() if self.mqtt.password else None)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.connect(self.mqtt.host, self.mqtt.port, keepalive=30)
        self._client = client

    def _on_connect(self, client, userdata, flags, reason_code, properties):  # noqa: ARG002
        client.subscribe(self.mqtt.topic, qos=self.mqtt.qos)
        self._subscribed.set()
        log.info("subscribed to %s on %s:%s", self.mqtt.topic, self.mqtt.host, self.mqtt.port)

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ARG002
        self.stats.messages += 1
        events, errors = parse_message(msg.payload)
        for ev in events:
            self._producer.send(topic_for(ev.kind, self.kafka.topic_prefix), key=ev.entity.encode(),
                                value=dumps(ev))
        self.stats.events += len(events)
        for err in errors:
            dl = DeadLetter(stage="validate" if err.item is not None else "decode", reason=err.reason,
                            source="mqtt", topic=f"mqtt:{msg.topic}", partition=None, offset=msg.mid,
                            key=None, raw=msg.payload, index=err.index, item=err.item)
            self._producer.send(output_topic(DEADLETTER, self.kafka.topic_prefix), value=dl.to_bytes())
        self.stats.deadlettered += len(errors)

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        return self._subscribed.wait(timeout)

    def run(self, duration: float | None = None) -> None:
        """Bridge until ``stop()`` or ``duration`` seconds pass."""
        if self._client is None:
            self.setup()
        self._client.loop_start()
        deadline = None if duration is None else time.monotonic() + duration
        try:
            while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
                self._stop.wait(0.2)
        finally:
            self._client.loop_stop()
            self._client.disconnect()
            self._producer.flush()
            self._producer.close()

    def stop(self) -> None:
        self._stop.set()
