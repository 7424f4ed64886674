"""Event schemas: what sensors, vehicles, tills and suppliers send, validated with pydantic v2.

Where this sits in the flow: source -> **validate** -> detect -> incident -> rule -> sink.

Every event has a ``kind`` discriminator, an ``event_id`` for idempotency, an entity it belongs to
and a timezone-aware UTC ``ts``. Units live in field names (``temp_c``, ``speed_kmh``). A gateway
may send many readings in one Kafka message as a ``GatewayBatch``; ``parse_message`` turns one
message into a list of events plus a list of per-item errors, so one bad reading in a batch does not
take its neighbours down with it.
"""

from __future__ import annotations

import math
import operator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, GetCoreSchemaHandler, TypeAdapter, ValidationError
from pydantic_core import CoreSchema, core_schema

# How validation stays cheap: every message is validated first in pydantic's *strict* mode, then,
# only if that refuses it, in the ordinary lax mode (see ``parse_message``). The lax mode holds the
# rules as they have always been and alone decides what is accepted and why something is refused.
# The strict mode accepts what pydantic's strict variant of the same rules always accepted (and,
# from Python too, RFC 3339 strings for ``ts``): a subset of the lax mode's inputs, with the same
# values. What devices really send (numbers as JSON numbers, timestamps as RFC 3339 strings) it
# checks without any Python-level validator: in pydantic-core, plus two C functions for the
# timestamp. So the two passes change speed, never the outcome (held to that by
# tests/streams/test_event_validation_speed_parity.py). The two markers below give a field its lax
# and its strict form; other field types need nothing.

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def _not_bool(v: Any) -> Any:
    if isinstance(v, bool):  # JSON true/false is not a measurement, though Python would call it 1/0
        raise ValueError("a number, not true/false")
    return v


class _FiniteNumber:
    """A finite float within the field's bounds, never true/false.

    Lax: whatever pydantic takes as a float (numbers, numeric strings) except true/false, which
    Python would take for 1/0. Strict: a JSON number. Put it after the bounds, e.g.
    ``Annotated[float, Field(ge=0, le=100), FINITE]``, or give the bounds in the field's
    ``Field(...)``, so that both forms check them natively.
    """

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        number: Any = {**handler(source), "allow_inf_nan": False}  # a float schema with the field's bounds
        return core_schema.lax_or_strict_schema(
            lax_schema=core_schema.no_info_before_validator_function(_not_bool, number),
            strict_schema={**number, "strict": True},  # a number: true/false and "4.5" are not
        )


FINITE = _FiniteNumber()
FiniteFloat = Annotated[float, FINITE]

#: Events further than this from the event-time we have seen are refused (clock faults, replays
#: of garbage); real late data within the bound is kept.
MAX_CLOCK_SKEW = timedelta(days=3650)
MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TS = datetime(2100, 1, 1, tzinfo=UTC)

#: The timestamps the strict pass takes: RFC 3339 with at most microseconds, years 2000-2099 in UTC,
#: 2001-2098 with another offset (both inside ``MIN_TS <= ts < MAX_TS`` whatever the offset, so
#: they need no range check). ``datetime.fromisoformat`` reads these exactly as pydantic does and
#: refuses impossible dates; anything else (other spellings, an offset in 2000 or 2099) is left to
#: pydantic and ``_utc``.
_TIME = r"-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
_RFC3339_UTC = rf"^20[0-9]{{2}}{_TIME}(?:Z|[+-]00:00)$"
_RFC3339_OFFSET = rf"^20(?:0[1-9]|[1-8][0-9]|9[0-8]){_TIME}[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]$"
if (MIN_TS, MAX_TS) != (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)):
    raise RuntimeError("MIN_TS/MAX_TS changed: change the years in _RFC3339_UTC and _RFC3339_OFFSET to match")


def _utc(v: datetime) -> datetime:
    if not MIN_TS <= v < MAX_TS:  # before converting: astimezone overflows near years 1 and 9999
        raise ValueError(f"a timestamp between {MIN_TS:%Y} and {MAX_TS:%Y}")
    return v.astimezone(UTC)


def _from_iso(pattern: str) -> CoreSchema:
    """A string matching ``pattern`` read by ``datetime.fromisoformat`` (C code, no Python frame)."""
    return core_schema.no_info_after_validator_function(
        datetime.fromisoformat, core_schema.str_schema(pattern=pattern, strip_whitespace=False))


class _InUtc:
    """An aware datetime, converted to UTC and refused outside ``MIN_TS <= ts < MAX_TS``."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        aware_in_range = core_schema.no_info_after_validator_function(_utc, handler(source))
        return core_schema.lax_or_strict_schema(
            lax_schema=aware_in_range,
            strict_schema=core_schema.union_schema([
                _from_iso(_RFC3339_UTC),  # fromisoformat gives these in datetime.UTC already
                core_schema.no_info_after_validator_function(
                    operator.methodcaller("astimezone", UTC), _from_iso(_RFC3339_OFFSET)),
                aware_in_range,  # the rest, as before (strict: a datetime from Python, a string from JSON)
            ], mode="left_to_right"),
            serialization=core_schema.simple_ser_schema("datetime"),  # either way it holds a datetime
        )


UtcDatetime = Annotated[AwareDatetime, _InUtc()]


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    event_id: Id | None = None
    ts: UtcDatetime

    @property
    def entity(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def location(self) -> str | None:
        """The site this event happened at, for correlation and metric tags."""
        return getattr(self, "site", None)


class ColdChainReading(Event):
    """A fridge or cold-room sensor reading."""

    kind: Literal["cold_chain"] = "cold_chain"
    site: Id
    fridge: Id
    temp_c: FiniteFloat = Field(ge=-80, le=80)
    humidity_pct: Annotated[float, Field(ge=0, le=100), FINITE] | None = None
    door_open: bool = False
    limit_c: FiniteFloat = Field(8.0, ge=-80, le=80, description="upper safe limit of the goods")

    @property
    def entity(self) -> str:
        return self.fridge


class VehicleTelemetry(Event):
    """A vehicle's position and engine state."""

    kind: Literal["vehicle"] = "vehicle"
    vehicle: Id
    depot: Id | None = None
    lat: FiniteFloat = Field(ge=-90, le=90)
    lon: FiniteFloat = Field(ge=-180, le=180)
    speed_kmh: FiniteFloat = Field(ge=0, le=300)
    fuel_pct: Annotated[float, Field(ge=0, le=100), FINITE] | None = None
    engine_temp_c: Annotated[float, Field(ge=-50, le=200), FINITE] | None = None
    engine_on: bool = True
    route: Id | None = None
    stops_remaining: int = Field(0, ge=0, le=1000)
    capacity_free: int = Field(0, ge=0, le=100_000)

    @property
    def entity(self) -> str:
        return self.vehicle

    @property
    def location(self) -> str | None:
        return self.depot


class PosSale(Event):
    """A till sale of one SKU line."""

    kind: Literal["pos_sale"] = "pos_sale"
    store: Id
    sku: Id
    quantity: int = Field(ge=-10_000, le=10_000, description="negative for returns")
    unit_price: FiniteFloat = Field(ge=0, le=1_000_000)
    till: Id | None = None

    @property
    def entity(self) -> str:
        return f"{self.store}:{self.sku}"

    @property
    def location(self) -> str | None:
        return self.store


class StockLevel(Event):
    """Stock on hand for a SKU at a site, as counted or as the stock system reports it."""

    kind: Literal["stock_level"] = "stock_level"
    site: Id
    sku: Id
    on_hand: int = Field(ge=0, le=10_000_000)
    lead_time_h: FiniteFloat = Field(24.0, ge=0, le=24 * 365)
    lat: Annotated[float, Field(ge=-90, le=90), FINITE] | None = None
    lon: Annotated[float, Field(ge=-180, le=180), FINITE] | None = None
    cold_capacity_free: int | None = Field(None, ge=0)
    chilled: bool = False

    @property
    def entity(self) -> str:
        return f"{self.site}:{self.sku}"


class StockMovement(Event):
    """Goods moved in or out of a site (receipt, transfer, write-off)."""

    kind: Literal["stock_movement"] = "stock_movement"
    site: Id
    sku: Id
    quantity: int = Field(ge=-10_000_000, le=10_000_000)
    reason: Literal["receipt", "transfer_in", "transfer_out", "write_off", "adjustment"]

    @property
    def entity(self) -> str:
        return f"{self.site}:{self.sku}"


class ShipmentStatus(Event):
    """A supplier shipment's status."""

    kind: Literal["shipment"] = "shipment"
    shipment: Id
    supplier: Id
    destination: Id
    status: Literal["ordered", "dispatched", "in_transit", "delayed", "delivered", "cancelled"]
    promised_at: AwareDatetime
    eta: AwareDatetime | None = None
    sku: Id | None = None
    quantity: int | None = Field(None, ge=0)
    alternate_supplier: Id | None = None

    @property
    def entity(self) -> str:
        return self.shipment

    @property
    def location(self) -> str | None:
        return self.destination


AnyEvent = Annotated[
    ColdChainReading | VehicleTelemetry | PosSale | StockLevel | StockMovement | ShipmentStatus,
    Field(discriminator="kind"),
]
EVENT_TYPES: dict[str, type[Event]] = {
    c.model_fields["kind"].default: c
    for c in (ColdChainReading, VehicleTelemetry, PosSale, StockLevel, StockMovement, ShipmentStatus)
}
STATUS_CODES = {"ordered": 0, "dispatched": 1, "in_transit": 2, "delayed": 3, "delivered": 4, "cancelled": 5}

_event_adapter: TypeAdapter = TypeAdapter(AnyEvent)
_validate_json = _event_adapter.validator.validate_json
_validate_python = _event_adapter.validator.validate_python

#: Largest message the core will decode; bigger ones are dead-lettered unparsed.
MAX_MESSAGE_BYTES = 512 * 1024
MAX_BATCH_ITEMS = 10_000


class GatewayBatch(BaseModel):
    """Many readings from one gateway in one message: ``{"kind": "batch", "events": [...]}``."""

    kind: Literal["batch"] = "batch"
    gateway: Id | None = None
    events: list[Any] = Field(max_length=MAX_BATCH_ITEMS)


class ItemError(BaseModel):
    """Why one message or one item of a batch was refused."""

    index: int | None  # item index inside a batch, None for the whole message
    reason: str
    item: Any = None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        got = err.get("input")
        got_s = "nothing" if err["type"] == "missing" else repr(got)
        if len(got_s) > 80:
            got_s = got_s[:77] + "..."
        parts.append(f"{loc}: {err['msg']}; got {got_s}")
    return "; ".join(parts)


def _finite(obj: Any) -> bool:
    return not (isinstance(obj, float) and not math.isfinite(obj))


def _at_root(exc: ValidationError) -> bool:
    """Whether the error is about the whole document (bad JSON, not an object, no or unknown
    ``kind``): that does not depend on strictness, so the lax pass would refuse it the same way."""
    if exc.error_count() != 1:  # root failures come alone
        return False
    return not exc.errors(include_url=False, include_context=False, include_input=False)[0]["loc"]


def validate_item(item: Any, *, fast: bool = True) -> Event:
    """Validate one decoded event dict; raises ValueError with a readable reason.

    ``fast=False`` skips the strict pass, for a caller that knows it would refuse the item; the
    outcome is the same either way (module comment at the top).
    """
    if not isinstance(item, dict):
        raise ValueError(f"(root): expected a JSON object; got {type(item).__name__}")
    if fast:
        try:
            return _validate_python(item, strict=True)
        except ValidationError:
            pass
    try:
        return _validate_python(item)
    except ValidationError as exc:
        raise ValueError(_describe(exc)) from None


def parse_message(raw: bytes | str | None) -> tuple[list[Event], list[ItemError]]:
    """Decode one Kafka/MQTT/HTTP message into events and per-item errors. Never raises on data."""
    if raw is None:
        return [], [ItemError(index=None, reason="empty message (no value)")]
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) > MAX_MESSAGE_BYTES:
        return [], [ItemError(index=None, reason=f"message too large: {len(raw)} bytes > {MAX_MESSAGE_BYTES}")]
    try:  # the common case, one valid event, parsed and validated in one strict pass by pydantic-core
        return [_validate_json(raw, strict=True)], []
    except ValidationError as exc:
        retry = not _at_root(exc)  # a gateway batch or garbage is refused at the root in either mode
    if retry:
        try:  # what the strict pass does not take (a numeric string, a unix time, ...): the lax rules decide
            return [_validate_json(raw)], []
        except ValidationError:
            pass  # something wrong: the careful path below says why
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [], [ItemError(index=None, reason=f"malformed JSON: {exc}")]
    if isinstance(doc, dict) and doc.get("kind") == "batch":
        try:
            batch = GatewayBatch.model_validate(doc)
        except ValidationError as exc:
            return [], [ItemError(index=None, reason=f"invalid batch envelope: {_describe(exc)}")]
        items = list(enumerate(batch.events))
    else:
        items = [(None, doc)]  # refused above (in either mode): this finds the reason
    events: list[Event] = []
    errors: list[ItemError] = []
    for idx, item in items:
        try:
            events.append(validate_item(item, fast=idx is not None))
        except ValueError as exc:
            errors.append(ItemError(index=idx, reason=str(exc), item=item))
    return events, errors


def dumps(event: Event) -> bytes:
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))
