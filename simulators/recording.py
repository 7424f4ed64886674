"""Recordings: Kafka topics to a JSON Lines file and back, into Kafka or straight into the core.

Where this sits in the flow: **source** -> validate -> detect -> incident -> rule -> sink. A
recording stands in for the live input topics, so a day of real data can be replayed against a new
playbook or detector, or shared as a bug report.

File format: one JSON object per line (``.gz`` suffix: gzip-compressed), in the order consumed,
which keeps each partition's order and so each key's order::

    {"topic": "opswatch.coldchain", "partition": 0, "offset": 41, "timestamp_ms": 1772409600000,
     "key": "store-1-gw", "value": "{\\"kind\\":\\"batch\\",...}", "headers": [["source", "gw-7"]]}

``key``, ``value`` and each header value are the bytes as UTF-8 text when they decode as UTF-8,
otherwise ``{"b64": "<base64>"}``; null stays null. Keys and headers are kept.
"""

from __future__ import annotations

import base64
import gzip
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

log = logging.getLogger("opswatch.recording")


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message as recorded."""

    topic: str
    partition: int | None
    offset: int | None
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()

    @property
    def ts(self) -> datetime | None:
        return None if self.timestamp_ms is None else datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


def _enc(b: bytes | None) -> Any:
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(b).decode("ascii")}


def _dec(v: Any, where: str) -> bytes | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, dict) and set(v) == {"b64"}:
        return base64.b64decode(v["b64"])
    raise ValueError(f"{where}: expected text, {{'b64': ...}} or null; got {v!r}")


def record_to_json(r: Record) -> bytes:
    return orjson.dumps({"topic": r.topic, "partition": r.partition, "offset": r.offset,
                         "timestamp_ms": r.timestamp_ms, "key": _enc(r.key), "value": _enc(r.value),
                         "headers": [[k, _enc(v)] for k, v in r.headers]})


def record_from_json(line: bytes | str, where: str = "line") -> Record:
    try:
        d = orjson.loads(line)
        return Record(topic=str(d["topic"]), partition=d.get("partition"), offset=d.get("offset"),
                      timestamp_ms=d.get("timestamp_ms"), key=_dec(d.get("key"), f"{where}.key"),
                      value=_dec(d.get("value"), f"{where}.value"),
                      headers=tuple((str(k), _dec(v, f"{where}.headers")) for k, v in d.get("headers") or ()))
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: not a recording line ({type(exc).__name__}: {exc})") from None


def _open(path: Path, mode: str) -> IO[bytes]:
    return gzip.open(path, mode + "b") if str(path).endswith(".gz") else open(path, mode + "b")


def write_records(path: Path | str, records: Iterable[Record]) -> int:
    """Write records as JSON Lines (gzip when the name ends in ``.gz``); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with _open(path, "w") as f:
        for r in records:
            f.write(record_to_json(r) + b"\n")
            n += 1
    return n


def read_records(path: Path | str) -> Iterator[Record]:
    """Read a recording lazily; a bad line fails naming the file and line number."""
    path = Path(path)
    with _open(path, "r") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                yield record_from_json(line, f"{path}:{i}")


# --------------------------------------------------------------------------------------------
# Recording from Kafka


def record_topics(kafka_config: dict, topics: list[str], path: Path | str, *, duration_s: float | None = None,
                  on_record: Callable[[int], None] | None = None, poll_timeout_ms: int = 500) -> int:
    """Copy ``topics`` from the beginning into ``path`` until caught up with the end offsets seen at
    the start (``duration_s`` None) or for ``duration_s`` seconds (new messages included)."""
    from kafka import KafkaConsumer, TopicPartition

    # max_poll_records high: with kafka-python 3 against Tansu we saw the tail of a fetch that did
    # not fit in one poll go missing (a 516-message recording came back with 500)
    consumer = KafkaConsumer(**kafka_config, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", client_id="opswatch-recorder", max_poll_records=100_000)
    try:
        parts = []
        deadline = time.monotonic() + 30
        for t in topics:
            ps = consumer.partitions_for_topic(t)
            while not ps and time.monotonic() < deadline:
                time.sleep(0.2)
                ps = consumer.partitions_for_topic(t)
            if not ps:
                raise ValueError(f"topic {t!r} does not exist on {kafka_config.get('bootstrap_servers')}")
            parts.extend(TopicPartition(t, p) for p in sorted(ps))
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        stop_at = None if duration_s is None else time.monotonic() + duration_s

        begin = consumer.beginning_offsets(parts)
        nxt = dict(begin)  # next offset to write per partition, from what was actually written
        confirms, idle = [0], [False]

        def caught_up(tp) -> bool:
            # Our own count, not consumer.position(): the client may have fetched (and moved its
            # position past) records that a later poll has still to hand over. A partition ending
            # in offsets that carry no record (transaction markers) counts once a poll comes back
            # empty with the position at the end.
            return nxt[tp] >= end[tp] or (idle[0] and consumer.position(tp) >= end[tp])

        def done() -> bool:
            nonlocal end
            if stop_at is not None:
                return time.monotonic() >= stop_at
            if not all(caught_up(tp) for tp in parts):
                return False
            # Caught up with the ends seen at the start; ask once more, since a broker may
            # acknowledge a write a moment before it reports the new end. A topic still being
            # written to is chased a few times at most, then the recording ends.
            fresh = consumer.end_offsets(parts)
            confirms[0] += 1
            if fresh == end or confirms[0] > 3:
                return True
            end = fresh
            return False

        n = 0
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _open(path, "w") as f:
            while not done():
                batch = consumer.poll(timeout_ms=poll_timeout_ms)
                idle[0] = not any(batch.values())
                for tp, msgs in sorted(batch.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
                    for m in msgs:
                        f.write(record_to_json(Record(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value,
                                                      tuple((k, v) for k, v in (m.headers or ())))) + b"\n")
                        nxt[tp] = m.offset + 1
                        n += 1
                if on_record is not None:
                    on_record(n)
        log.info("recorded %d messages from %s to %s", n, ",".join(topics), path)
        return n
    finally:
        consumer.close()


# --------------------------------------------------------------------------------------------
# Replay

_TIME_FIELDS = ("ts", "promised_at", "eta")


def shift_value(value: bytes | None, delta: timedelta) -> bytes | None:
    """Move the timestamps inside an opswatch event or gateway batch by ``delta``; other bytes
    (not JSON, not opswatch) are returned as they are."""
    if value is None or not delta:
        return value
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if not isinstance(doc, dict):
        return value

    def move(item: Any) -> Any:
        if isinstance(item, dict):
            for k in _TIME_FIELDS:
                v = item.get(k)
                if isinstance(v, str):
                    try:
                        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
                    except ValueError:
                        continue
                    if t.tzinfo is not None:
                        item[k] = (t + delta).astimezone(UTC).isoformat().replace("+00:00", "Z")
        return item

    if doc.get("kind") == "batch" and isinstance(doc.get("events"), list):
        doc["events"] = [move(e) for e in doc["events"]]
    else:
        move(doc)
    return orjson.dumps(doc)


def retimed(records: Iterable[Record], *, shift_to: datetime | None = None,
            topic_map: Callable[[str], str] | None = None) -> Iterator[Record]:
    """Records with timestamps moved so the first lands on ``shift_to`` (None: kept) and topics renamed."""
    delta: timedelta | None = None
    for r in records:
        if shift_to is not None and r.timestamp_ms is not None:
            if delta is None:
                delta = shift_to - r.ts
            r = replace(r, timestamp_ms=r.timestamp_ms + int(delta.total_seconds() * 1000),
                        value=shift_value(r.value, delta))
        if topic_map is not None:
            r = replace(r, topic=topic_map(r.topic))
        yield r


def merged_by_time(records: Iterable[Record]) -> list[Record]:
    """Records in timestamp order across partitions, each partition's own order kept exactly.

    A recording is written partition by partition as the consumer polls, so one topic's morning
    can come after another's evening; replaying that as is would make devices look silent.
    """
    import heapq

    streams: dict[tuple[str, int | None], list[Record]] = {}
    for r in records:
        streams.setdefault((r.topic, r.partition), []).append(r)

    def keyed(rs: list[Record]):
        last = None
        for i, r in enumerate(rs):
            # a partition's own order wins over its timestamps: never reorder within it
            t = r.timestamp_ms if r.timestamp_ms is not None else last
            last = t if last is None or (t is not None and t > last) else last
            yield (last if last is not None else 0), i, r

    merged = heapq.merge(*(keyed(rs) for _, rs in sorted(streams.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))),
                         key=lambda x: x[0])
    return [r for _, _, r in merged]


class Pacer:
    """Sleeps so records go out ``speed`` times faster than they were recorded (0: no sleeping)."""

    def __init__(self, speed: float, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic):
        if speed < 0:
            raise ValueError(f"speed must be >= 0 (0: as fast as possible); got {speed!r}")
        self.speed, self.sleep, self.monotonic = speed, sleep, monotonic
        self._t0: int | None = None
        self._wall0 = 0.0

    def wait(self, timestamp_ms: int | None) -> None:
        if not self.speed or timestamp_ms is None:
            return
        if self._t0 is None:
            self._t0, self._wall0 = timestamp_ms, self.monotonic()
            return
        due = self._wall0 + (timestamp_ms - self._t0) / 1000 / self.speed
        ahead = due - self.monotonic()
        if ahead > 0:
            self.sleep(ahead)


def replay_to_kafka(records: Iterable[Record], producer, *, pacer: Pacer | None = None,
                    keep_partitions: bool = False, on_record: Callable[[Record], None] | None = None) -> int:
    """Send records in file order. Order per key is kept because a key always hashes to the same
    partition and the producer has one request in flight (``max_in_flight_requests_per_connection=1``)."""
    failures: list[BaseException] = []
    n = 0
    for r in records:
        if pacer is not None:
            pacer.wait(r.timestamp_ms)
        fut = producer.send(r.topic, key=r.key, value=r.value, headers=list(r.headers) or None,
                            timestamp_ms=r.timestamp_ms, partition=r.partition if keep_partitions else None)
        fut.add_errback(failures.append)
        n += 1
        if on_record is not None:
            on_record(r)
    producer.flush()
    if failures:
        raise RuntimeError(f"replay: {len(failures)} of {n} messages not delivered; first error: {failures[0]!r}")
    return n


def replay_to_core(records: Iterable[Record], core, *, pacer: Pacer | None = None, batch: int = 500,
                   on_output: Callable[[Any], None] | None = None, on_record: Callable[[Record], None] | None = None
                   ) -> int:
    """Feed records to an in-process ``OperationsCore`` in file order, calling ``tick`` every minute
    of record time so silent devices are judged on the replay's clock, not the wall clock."""
    from streams.records import RawMessage

    pending: list = []
    next_tick: int | None = None
    n = 0

    def flush() -> None:
        if pending:
            out = core.process(list(pending))
            pending.clear()
            if on_output is not None:
                on_output(out)

    for r in records:
        if pacer is not None:
            pacer.wait(r.timestamp_ms)
        if r.timestamp_ms is not None:
            if next_tick is None:
                next_tick = (r.timestamp_ms // 60_000 + 1) * 60_000
            while r.timestamp_ms >= next_tick:
                flush()
                out = core.tick(datetime.fromtimestamp(next_tick / 1000, UTC))
                if on_output is not None:
                    on_output(out)
                next_tick += 60_000
        pending.append(RawMessage(r.value, r.topic, r.partition, r.offset, r.key, source="replay"))
        n += 1
        if on_record is not None:
            on_record(r)
        if len(pending) >= batch or pacer is not None and pacer.speed:
            flush()
    flush()
    return n


def simulation_records(sim, t0: datetime, t1: datetime, topic_prefix: str = "opswatch") -> Iterator[Record]:
    """A simulation's messages as records (offsets numbered per topic), e.g. to save a scenario."""
    offsets: dict[str, int] = {}
    for m in sim.messages_between(t0, t1):
        topic = f"{topic_prefix}.{m.topic}"
        off = offsets.get(topic, 0)
        offsets[topic] = off + 1
        yield Record(topic, 0, off, int(m.ts.timestamp() * 1000), m.key, m.value, (("source", b"opswatch-sim"),))
