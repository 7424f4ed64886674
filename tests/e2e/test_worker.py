"""End to end against real servers: Tansu broker -> real Faust worker -> VictoriaMetrics.

Produces a known set of events (some malformed) and reads everything back: every valid event
became its metric points, every malformed one is on the dead-letter topic with its reason, the
injected fridge failure opened an incident, and the POS webhook feeds the same pipeline.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer

from connectors.broker import free_port
from connectors.kafka import ensure_topics
from streams.local_worker import LocalWorker
from streams.settings import KafkaSettings
from tests.flows import fridge, normal_fridge_day
from tests.servers import victoria_export

pytestmark = pytest.mark.servers


def _stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/opswatch/stats/", timeout=5) as r:
        return json.loads(r.read())


def _consume(bootstrap: str, topic: str, want: int, timeout: float = 30) -> list[dict]:
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
                      consumer_timeout_ms=500)
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got.extend(orjson.loads(m.value) for m in c)
    c.close()
    return got


@pytest.fixture(params=["batch", "agents"])
def worker(request, broker, victoria, tmp_path):
    prefix = f"e2e{free_port()}"
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix=prefix, partitions=2)
    ensure_topics(kafka)
    w = LocalWorker(broker.bootstrap, prefix, tmp_path / "data", tmp_path / "worker.log", settings={
        "OPSWATCH_KAFKA__PARTITIONS": "2", "OPSWATCH_WORKER__BATCH_WITHIN_S": "0.1",
        "OPSWATCH_WORKER__CONSUMER": request.param,
        "OPSWATCH_INFLUX__URL": f"http://127.0.0.1:{victoria.port}", "OPSWATCH_INFLUX__TOKEN": "t0ken-e2e",
        "OPSWATCH_INFLUX__BUCKET": prefix, "OPSWATCH_INFLUX__SPOOL_DIR": str(tmp_path / "spool")})
    with w:
        yield {"prefix": prefix, "port": w.web_port, "kafka": kafka, "log": w.log_path}


def test_events_become_points_dead_letters_and_incidents(broker, victoria, worker):
    prefix, port = worker["prefix"], worker["port"]
    valid = normal_fridge_day(200, "F1") + normal_fridge_day(150, "F2")
    valid += [fridge(150 + i, 4.0 + 0.5 * i, "F2") for i in range(30)]  # F2 fails
    malformed = [b"{oops", orjson.dumps({"kind": "cold_chain", "site": "S1", "ts": "2026-03-02T08:00:00Z"}),
                 orjson.dumps(fridge(5, 200.0, "F3")), b"[1, 2]"]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    # gateway batches of 10 readings each, as a site gateway would send them
    for i in range(0, len(valid), 10):
        items = valid[i:i + 10]
        producer.send(f"{prefix}.coldchain", key=items[0]["fridge"].encode(),
                      value=orjson.dumps({"kind": "batch", "gateway": "G1", "events": items}))
    for m in malformed:
        producer.send(f"{prefix}.coldchain", key=b"bad", value=m)
    producer.flush()
    # a till posts two sales through the worker's web server; one is invalid
    body = orjson.dumps({"kind": "batch", "events": [
        {"kind": "pos_sale", "store": "S1", "sku": "MILK", "quantity": 2, "unit_price": 1.5,
         "ts": "2026-03-02T09:00:00Z"},
        {"kind": "pos_sale", "store": "S1", "sku": "MILK", "quantity": "two", "unit_price": 1.5,
         "ts": "2026-03-02T09:01:00Z"}]})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/pos/sales/", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        reply = json.loads(r.read())
        assert r.status == 202
    assert reply["accepted"] == 1 and "quantity" in reply["rejected"][0]["reason"]

    expected_processed, expected_dead = len(valid) + 1, len(malformed) + 1
    deadline = time.monotonic() + 90
    stats = {}
    while time.monotonic() < deadline:
        stats = _stats(port)
        if stats["processed"] + stats["deadlettered"] >= expected_processed + expected_dead - 1:
            break
        time.sleep(0.5)
    assert stats["processed"] == expected_processed, stats
    assert stats["deadlettered"] == len(malformed), stats  # the HTTP reject is dead-lettered by the edge

    # every valid reading is its point in the store, read back by series and time
    series = victoria_export(victoria.port, f'{{__name__="cold_chain_temp_c",db="{prefix}"}}') or \
        victoria_export(victoria.port, '{__name__="cold_chain_temp_c",fridge=~"F1|F2"}')
    by_fridge = {s["metric"]["fridge"]: s for s in series}
    assert len(by_fridge["F1"]["values"]) >= 200 and len(by_fridge["F2"]["values"]) >= 180
    sales = victoria_export(victoria.port, '{__name__="sales_quantity",store="S1"}')
    assert sales and sales[0]["values"] == [2.0]

    dead = _consume(broker.bootstrap, f"{prefix}.deadletter", expected_dead)
    assert len(dead) == expected_dead
    reasons = " | ".join(d["reason"] for d in dead)
    assert "malformed JSON" in reasons and "temp_c" in reasons and "quantity" in reasons
    kafka_dead = [d for d in dead if d["source"] == "kafka"]
    assert all(d["topic"] == f"{prefix}.coldchain" and d["offset"] is not None for d in kafka_dead)
    assert {d["raw"] for d in kafka_dead} >= {"{oops", "[1, 2]"}

    incidents = _consume(broker.bootstrap, f"{prefix}.incidents", 1)
    assert [(i["kind"], i["entity"], i["state"]) for i in incidents][:1] == [("cold_chain_excursion", "F2", "open")]
    assert "t0ken-e2e" not in Path(worker["log"]).read_text()  # the token is never logged
