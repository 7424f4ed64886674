"""Recordings round-trip byte for byte, replays keep each key's order, CSV exports become events."""

from __future__ import annotations

import gzip
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from simulators import Simulation, World
from simulators.adapters import nab_records, pos_records
from simulators.backtest import ORIGIN
from simulators.recording import (
    Pacer,
    Record,
    merged_by_time,
    read_records,
    record_from_json,
    replay_to_core,
    retimed,
    shift_value,
    simulation_records,
    write_records,
)
from simulators.scenarios import FridgeFailure
from streams.events import parse_message

ODD = (
    Record("t.a", 0, 5, 1_700_000_000_000, b"k1", b'{"x": 1}', (("source", b"gw"), ("trace", None))),
    Record("t.a", 1, 0, None, None, None),
    Record("t.b", 0, 9, 1_700_000_000_500, b"\xff\xfe bin", bytes(range(256)), (("bin", b"\x00\x9f"),)),
    Record("t.b", 0, 10, 1_700_000_000_600, "clé".encode(), "température 4 °C".encode()),
)


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_a_recording_round_trips_bytes_keys_and_headers(tmp_path, name):
    path = tmp_path / name
    assert write_records(path, ODD) == len(ODD)
    assert tuple(read_records(path)) == ODD
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    lines = (gzip.decompress(raw) if name.endswith(".gz") else raw).splitlines()
    first, third = orjson.loads(lines[0]), orjson.loads(lines[2])
    assert first == {"topic": "t.a", "partition": 0, "offset": 5, "timestamp_ms": 1_700_000_000_000, "key": "k1",
                     "value": '{"x": 1}', "headers": [["source", "gw"], ["trace", None]]}
    assert set(third["value"]) == {"b64"} and third["headers"][0][1] == {"b64": "AJ8="}


def test_a_bad_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(orjson.dumps({"topic": "t", "value": "x"}) + b"\n{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not a recording line"):
        list(read_records(path))
    with pytest.raises(ValueError, match=r"line.value: expected text, \{'b64': ...\} or null; got 5"):
        record_from_json(b'{"topic": "t", "value": 5}')


def _sim_records(hours: float = 2.0, seed: int = 7):
    sim = Simulation(World.generate(seed=seed, fridges_per_site=2), ORIGIN + timedelta(hours=8), seed=seed,
                     disruptions=[FridgeFailure(start=ORIGIN + timedelta(hours=9), end=ORIGIN + timedelta(hours=9.5))],
                     live_start=ORIGIN + timedelta(hours=12.5))
    return list(simulation_records(sim, sim.start, sim.start + timedelta(hours=hours)))


def test_merging_partitions_by_time_keeps_each_partition_s_order():
    recs = _sim_records(1.0)
    by_topic = sorted(recs, key=lambda r: r.topic)  # how a consumer might write them: topic by topic
    merged = merged_by_time(by_topic)
    assert sorted(merged, key=lambda r: (r.topic, r.offset)) == sorted(recs, key=lambda r: (r.topic, r.offset))
    for topic in {r.topic for r in recs}:
        assert [r.offset for r in merged if r.topic == topic] == [r.offset for r in recs if r.topic == topic]
    assert [r.timestamp_ms for r in merged] == sorted(r.timestamp_ms for r in merged)
    # a partition whose timestamps go backwards is still never reordered
    skewed = [Record("t", 0, i, ts, b"k", b"v") for i, ts in enumerate([10, 5, 20])] + [Record("u", 0, 0, 7, b"j", b"v")]
    assert [(r.topic, r.offset) for r in merged_by_time(skewed)] == [("u", 0), ("t", 0), ("t", 1), ("t", 2)]


def test_shifting_to_now_moves_record_and_event_timestamps_alike():
    recs = _sim_records(0.5)
    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    moved = list(retimed(recs, shift_to=now, topic_map=lambda t: "x." + t.partition(".")[2]))
    delta = now - recs[0].ts
    assert moved[0].ts == now and all(m.timestamp_ms - r.timestamp_ms == delta / timedelta(milliseconds=1)
                                      for m, r in zip(moved, recs, strict=True))
    for m, r in zip(moved, recs, strict=True):
        assert m.topic == "x." + r.topic.partition(".")[2] and m.key == r.key
        new, old = parse_message(m.value)[0], parse_message(r.value)[0]
        assert [e.ts - o.ts for e, o in zip(new, old, strict=True)] == [delta] * len(old)
    assert shift_value(b"\xffnot json", timedelta(hours=1)) == b"\xffnot json"


def test_pacing_sleeps_to_n_times_real_time_and_not_at_speed_zero():
    clock = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(round(s, 3))
        clock[0] += s

    pacer = Pacer(60.0, sleep=sleep, monotonic=lambda: clock[0])
    for ts in (0, 60_000, 120_000, 120_000):
        pacer.wait(ts)
    assert slept == [1.0, 1.0]
    fast = Pacer(0, sleep=sleep, monotonic=lambda: clock[0])
    fast.wait(0), fast.wait(10**9)
    assert slept == [1.0, 1.0]
    with pytest.raises(ValueError, match="speed must be >= 0"):
        Pacer(-1)


def test_replay_into_the_core_from_a_file_finds_what_the_live_run_finds(tmp_path):
    from streams.core import OperationsCore
    from streams.records import RawMessage

    recs = _sim_records(3.0)
    write_records(tmp_path / "r.jsonl.gz", recs)
    opened: list[tuple[str, str]] = []
    n = replay_to_core(merged_by_time(read_records(tmp_path / "r.jsonl.gz")), OperationsCore(),
                       on_output=lambda out: opened.extend((c.incident.kind, c.incident.entity)
                                                           for c in out.incidents if c.state == "open"))
    assert n == len(recs)
    direct = OperationsCore().process([RawMessage(r.value, r.topic, r.partition, r.offset, r.key) for r in recs])
    assert opened == [(c.incident.kind, c.incident.entity) for c in direct.incidents if c.state == "open"]
    assert ("cold_chain_excursion", "store-2-fridge-1") in opened


def test_csv_exports_become_valid_events(tmp_path):
    nab = tmp_path / "machine_temperature.csv"
    nab.write_text("timestamp,value\n2013-12-02 21:15:00,73.96\n2013-12-02 21:20:00,74.93\n")
    recs = list(nab_records(nab, fridge="press-1", fahrenheit=True))
    (ev,), errors = parse_message(recs[0].value)
    assert errors == [] and ev.fridge == "press-1" and ev.temp_c == pytest.approx((73.96 - 32) * 5 / 9, abs=1e-3)
    assert recs[0].topic == "opswatch.coldchain" and recs[0].key == b"press-1"
    assert recs[1].timestamp_ms - recs[0].timestamp_ms == 300_000 and ev.ts.tzinfo is not None
    pos = tmp_path / "sales.csv"
    pos.write_text("timestamp,store,sku,quantity,unit_price,till\n2026-03-02T09:01:00+01:00,s1,milk,2,1.19,t1\n"
                   "2026-03-02T09:02:00Z,s1,milk,-1,1.19,\n")
    a, b = list(pos_records(pos))
    (sale,), _ = parse_message(a.value)
    assert (sale.store, sale.sku, sale.quantity, sale.till, sale.ts.hour) == ("s1", "milk", 2, "t1", 8)
    assert a.key == b"s1:milk" and a.topic == "opswatch.pos" and parse_message(b.value)[0][0].quantity == -1
    pos.write_text("timestamp,store,sku,quantity,unit_price\n2026-03-02T09:01:00Z,s1,milk,two,1.19\n")
    with pytest.raises(ValueError, match=r"sales.csv:2.quantity: an integer; got 'two'"):
        list(pos_records(pos))
    nab.write_text("time,value\n")
    with pytest.raises(ValueError, match="columns must include timestamp, value"):
        list(nab_records(nab))


# -- against a real Kafka-protocol broker (Tansu) --------------------------------------------


@pytest.mark.servers
def test_record_then_replay_through_kafka_keeps_every_key_s_order(broker, tmp_path):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic

    from simulators.recording import record_topics, replay_to_kafka

    src, dst = f"rec{uuid.uuid4().hex[:8]}", f"rep{uuid.uuid4().hex[:8]}"
    recs = _sim_records(1.0)
    topics = sorted({r.topic.partition(".")[2] for r in recs})
    admin = KafkaAdminClient(bootstrap_servers=[broker.bootstrap])
    admin.create_topics([NewTopic(f"{p}.{t}", 3, 1) for p in (src, dst) for t in topics])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=[broker.bootstrap], max_in_flight_requests_per_connection=1,
                             acks="all")
    replay_to_kafka(retimed(recs, topic_map=lambda t: f"{src}.{t.partition('.')[2]}"), producer)

    path = tmp_path / "rec.jsonl.gz"
    n = record_topics({"bootstrap_servers": [broker.bootstrap]}, [f"{src}.{t}" for t in topics], path)
    assert n == len(recs)
    recorded = list(read_records(path))
    assert {r.headers for r in recorded} == {(("source", b"opswatch-sim"),)}

    replay_to_kafka(retimed(merged_by_time(recorded), topic_map=lambda t: f"{dst}.{t.partition('.')[2]}"), producer)
    producer.close()
    consumer = KafkaConsumer(*[f"{dst}.{t}" for t in topics], bootstrap_servers=[broker.bootstrap],
                             auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    got = []
    import time
    deadline = time.monotonic() + 60
    while len(got) < len(recs) and time.monotonic() < deadline:
        for msgs in consumer.poll(timeout_ms=500).values():
            got.extend(msgs)
    consumer.close()
    assert len(got) == len(recs)

    def per_key(items):
        out: dict = {}
        for topic, key, value in items:
            out.setdefault((topic.partition(".")[2], key), []).append(value)
        return out

    assert per_key((m.topic, m.key, m.value) for m in got) == per_key((r.topic, r.key, r.value) for r in recs)
    assert {m.timestamp for m in got} == {r.timestamp_ms for r in recs}


def test_the_replay_command_feeds_a_recording_to_the_core_and_writes_incidents(tmp_path):
    from typer import Typer
    from typer.testing import CliRunner

    from simulators.cli import register

    app = Typer()
    register(app)
    write_records(tmp_path / "day.jsonl.gz", _sim_records(2.0))
    result = CliRunner().invoke(app, ["replay", str(tmp_path / "day.jsonl.gz"), "--into", "core",
                                      "--incidents", str(tmp_path / "inc.jsonl")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    changes = [orjson.loads(line) for line in (tmp_path / "inc.jsonl").read_bytes().splitlines()]
    assert [(c["state"], c["kind"], c["entity"]) for c in changes if c["state"] != "update"] == [
        ("open", "cold_chain_excursion", "store-2-fridge-1"), ("resolved", "cold_chain_excursion", "store-2-fridge-1")]
    nab = tmp_path / "series.csv"
    nab.write_text("timestamp,value\n" + "".join(f"2014-01-01 00:{m:02d}:00,{60 + m % 3}\n" for m in range(60)))
    result = CliRunner().invoke(app, ["replay", str(nab), "--csv", "nab", "--fahrenheit", "--into", "core"],
                                catch_exceptions=False)
    assert result.exit_code == 0 and "replayed 60 messages into the core" in result.output
