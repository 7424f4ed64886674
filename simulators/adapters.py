"""CSV adapters: common exports turned into opswatch input records, ready to replay or backtest.

Where this sits in the flow: **source** -> validate -> detect -> incident -> rule -> sink.

- ``nab_records``: a ``timestamp,value`` series (the Numenta Anomaly Benchmark layout, or any
  sensor export) as the readings of one fridge: each value becomes the ``temp_c`` of a
  ``cold_chain`` reading (``fahrenheit=True`` converts first, as for NAB's
  ``machine_temperature_system_failure.csv``). The limit defaults to 80 °C, i.e. never crossed,
  so only the detector's anomaly score speaks; pass the goods' real ``limit_c`` for a real fridge.
  Naive timestamps are read as UTC.
- ``pos_records``: a point-of-sale export ``timestamp,store,sku,quantity,unit_price`` (optional
  ``till``) as ``pos_sale`` events keyed ``store:sku``.

A row that does not parse fails naming the file, the line and the column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson

from simulators.recording import Record
from streams.topics import topic_for


def _ts(value: str, where: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}: timestamp must be ISO 8601 like 2014-02-14 14:30:00; got {value!r}") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: columns must include {', '.join(required)}; got {reader.fieldnames}")
        for i, row in enumerate(reader, 2):
            yield f"{path}:{i}", row


def nab_records(path: Path | str, *, fridge: str = "nab-fridge-1", site: str = "nab-site",
                fahrenheit: bool = False, limit_c: float = 80.0, topic_prefix: str = "opswatch") -> Iterator[Record]:
    """A ``timestamp,value`` CSV as one fridge's ``cold_chain`` readings, in file order."""
    path = Path(path)
    topic = topic_for("cold_chain", topic_prefix)
    for where, row in _rows(path, ("timestamp", "value")):
        t = _ts(row["timestamp"], f"{where}.timestamp")
        try:
            v = float(row["value"])
        except ValueError:
            raise ValueError(f"{where}.value: a number; got {row['value']!r}") from None
        temp = (v - 32) * 5 / 9 if fahrenheit else v
        doc = {"kind": "cold_chain", "ts": _iso(t), "site": site, "fridge": fridge, "temp_c": round(temp, 3),
               "limit_c": limit_c}
        yield Record(topic, None, None, int(t.timestamp() * 1000), fridge.encode(), orjson.dumps(doc),
                     (("source", b"nab-csv"),))


def pos_records(path: Path | str, *, topic_prefix: str = "opswatch") -> Iterator[Record]:
    """A POS sales export ``timestamp,store,sku,quantity,unit_price[,till]`` as ``pos_sale`` events."""
    path = Path(path)
    topic = topic_for("pos_sale", topic_prefix)
    for where, row in _rows(path, ("timestamp", "store", "sku", "quantity", "unit_price")):
        t = _ts(row["timestamp"], f"{where}.timestamp")
        try:
            qty = int(row["quantity"])
        except ValueError:
            raise ValueError(f"{where}.quantity: an integer; got {row['quantity']!r}") from None
        try:
            price = float(row["unit_price"])
        except ValueError:
            raise ValueError(f"{where}.unit_price: a number; got {row['unit_price']!r}") from None
        doc = {"kind": "pos_sale", "ts": _iso(t), "store": row["store"].strip(), "sku": row["sku"].strip(),
               "quantity": qty, "unit_price": price}
        if row.get("till"):
            doc["till"] = row["till"].strip()
        key = f"{doc['store']}:{doc['sku']}".encode()
        yield Record(topic, None, None, int(t.timestamp() * 1000), key, orjson.dumps(doc), (("source", b"pos-csv"),))
