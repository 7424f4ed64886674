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
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
def _not_bool(v: Any) -> Any:
    if isinstance(v, bool):  # JSON true/false is not a measurement, though Python would call it 1/0
        raise ValueError("a number, not true/false")
    return v


FiniteFloat = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(_not_bool)]

#: Events further than this from the event-time we have seen are refused (clock faults, replays
#: of garbage); real late data within the bound is kept.
MAX_CLOCK_SKEW = timedelta(days=3650)
MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TS = datetime(2100, 1, 1, tzinfo=UTC)


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    event_id: Id | None = None
    ts: AwareDatetime

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        v = v.astimezone(UTC)
        if not MIN_TS <= v < MAX_TS:
            raise ValueError(f"a timestamp between {MIN_TS:%Y} and {MAX_TS:%Y}")
        return v

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
    humidity_pct: FiniteFloat | None = Field(None, ge=0, le=100)
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
    fuel_pct: FiniteFloat | None = Field(None, ge=0, le=100)
    engine_temp_c: FiniteFloat | None = Field(None, ge=-50, le=200)
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
    lat: FiniteFloat | None = Field(None, ge=-90, le=90)
    lon: FiniteFloat | None = Field(None, ge=-180, le=180)
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


def validate_item(item: Any) -> Event:
    """Validate one decoded event dict; raises ValueError with a readable reason."""
    if not isinstance(item, dict):
        raise ValueError(f"(root): expected a JSON object; got {type(item).__name__}")
    try:
        return _event_adapter.validate_python(item)
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
    try:  # the common case, one valid event, parsed and validated in one pass by pydantic-core
        return [_event_adapter.validate_json(raw)], []
    except ValidationError:
        pass  # a gateway batch, or something wrong: the careful path below splits it or says why
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
        items = [(None, doc)]
    events: list[Event] = []
    errors: list[ItemError] = []
    for idx, item in items:
        try:
            events.append(validate_item(item))
        except ValueError as exc:
            errors.append(ItemError(index=idx, reason=str(exc), item=item))
    return events, errors


def dumps(event: Event) -> bytes:
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))
