"""The MQTT bridge against real Mosquitto and the real Kafka-protocol broker."""

from __future__ import annotations

import threading
import time

import orjson
import paho.mqtt.client as mqtt
from kafka import KafkaConsumer

from connectors.kafka import ensure_topics
from connectors.mqtt import MqttBridge
from streams.settings import KafkaSettings, MqttSettings
from tests.flows import fridge


def _read_all(bootstrap: str, topics: list[str], want: int, timeout: float = 20.0) -> list:
    consumer = KafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=500, group_id=None)
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got.extend(consumer)
    consumer.close()
    return got


def test_bridge_validates_and_forwards_and_dead_letters(broker, mosquitto):
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix="mqtt1", partitions=2)
    ensure_topics(kafka)
    bridge = MqttBridge(kafka, MqttSettings(host="127.0.0.1", port=mosquitto.port, topic="sensors/#"))
    bridge.setup()
    runner = threading.Thread(target=bridge.run, daemon=True)
    runner.start()
    assert bridge.wait_subscribed()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    batch = {"kind": "batch", "gateway": "G1", "events": [fridge(0, 4.0), fridge(1, 4.1), {"kind": "cold_chain"}]}
    infos = [pub.publish("sensors/S1/coldchain", orjson.dumps(batch), qos=1),
             pub.publish("sensors/S1/coldchain", b"\xff\x00garbage", qos=1),
             pub.publish("sensors/S2/coldchain", orjson.dumps(fridge(2, 3.9, fridge_id="F2")), qos=1)]
    for info in infos:
        info.wait_for_publish(5)
    deadline = time.monotonic() + 10
    while bridge.stats.messages < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    bridge.stop()
    runner.join(10)
    pub.loop_stop()
    assert (bridge.stats.messages, bridge.stats.events, bridge.stats.deadlettered) == (3, 3, 2)
    valid = _read_all(broker.bootstrap, ["mqtt1.coldchain"], 3)
    assert sorted(m.key for m in valid) == [b"F1", b"F1", b"F2"]
    dead = [orjson.loads(m.value) for m in _read_all(broker.bootstrap, ["mqtt1.deadletter"], 2)]
    assert len(dead) == 2
    by_stage = {d["stage"]: d for d in dead}
    assert by_stage["validate"]["topic"] == "mqtt:sensors/S1/coldchain" and by_stage["validate"]["index"] == 2
    assert by_stage["decode"]["raw_b64"] and "malformed JSON" in by_stage["decode"]["reason"]
