"""Scenario files: labelled disruptions in a small YAML file, composed, and the built-in library.

Where this sits in the flow: **source** (simulator) -> validate -> detect -> incident -> rule -> sink.

A scenario lists disruptions by kind, each with a target (an entity id, a mapping of the
disruption's fields, or ``auto`` to let the world pick one), a start measured from local midnight
of the first simulated day (``1d14h`` is 14:00 on the second day, after a day of history the
detectors learn from), a duration and optional parameters. ``include`` composes other scenarios
(library names or file paths) into this one::

    name: cold-room-drill
    description: the cold room fails while a van is stuck in traffic
    tail: 4h
    include: [supplier_delay]
    disruptions:
      - {kind: fridge_failure, target: wh-1-coldroom-1, start: 1d14h, duration: 40m}
      - {kind: route_delay, target: auto, start: 1d15h, duration: 45m, params: {max_speed_kmh: 1}}

Every key is checked (unknown keys are errors) and a bad file fails naming the file, the key
path, what was expected and what came: ``scenario.yaml: disruptions[1].start: a duration like
1d14h30m; got '2pm'``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from simulators.base import Disruption
from simulators.scenarios import DISRUPTIONS

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                       r"(?:(\d+(?:\.\d+)?)s)?\s*$")

#: The field a plain-string target fills, per disruption kind (``store:sku`` fills two).
TARGET_FIELDS: dict[str, tuple[str, ...]] = {
    "fridge_failure": ("fridge",), "door_left_open": ("fridge",), "sensor_stuck": ("fridge",),
    "sensor_drift": ("fridge",), "truck_breakdown": ("vehicle",), "route_delay": ("vehicle",),
    "pos_outage": ("till",), "demand_spike": ("store", "sku"), "stockout": ("store", "sku"),
    "supplier_delay": ("supplier",), "site_silent": ("site",), "regional_closure": ("site",),
}


class ScenarioError(ValueError):
    """A scenario file or name that cannot be used; the message names where and why."""


def parse_duration(value: Any) -> timedelta:
    """``1d14h30m``, ``45m``, ``90s``, ``2.5h``; a bare number is minutes."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"a duration like 1d14h30m; got {value!r}")
    if isinstance(value, int | float):
        return timedelta(minutes=value)
    m = _DURATION.match(str(value)) if isinstance(value, str) and value.strip() else None
    if m is None or not any(m.groups()):
        raise ValueError(f"a duration like 1d14h30m; got {value!r}")
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DisruptionSpec(_Strict):
    kind: str = Field(description="one of the disruption kinds, e.g. fridge_failure")
    target: str | dict[str, str] = "auto"
    start: timedelta = Field(description="after local midnight of the first simulated day")
    duration: timedelta
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in DISRUPTIONS:
            raise ValueError(f"one of {', '.join(DISRUPTIONS)}; got {v!r}")
        return v

    @field_validator("start", "duration", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta:
        return parse_duration(v)

    @field_validator("duration")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError(f"a positive duration; got {v}")
        return v


class ScenarioFile(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    tail: timedelta = timedelta(hours=4)
    include: list[str] = Field(default_factory=list)
    disruptions: list[DisruptionSpec] = Field(default_factory=list)

    @field_validator("tail", mode="before")
    @classmethod
    def _tail(cls, v: Any) -> timedelta:
        return parse_duration(v)


@dataclass(frozen=True)
class Scenario:
    """A named, composable list of disruption specs; ``disruptions(origin)`` makes them real."""

    name: str
    description: str
    specs: tuple[DisruptionSpec, ...]
    tail: timedelta = timedelta(hours=4)
    source: str = "library"

    def disruptions(self, origin: datetime) -> list[Disruption]:
        """The disruptions, with starts counted from ``origin`` (local midnight of day one)."""
        return [_build(spec, origin, f"{self.source}: disruptions[{i}]") for i, spec in enumerate(self.specs)]

    def end(self) -> timedelta:
        """Offset from the origin at which the run ends: the last disruption plus the tail."""
        return max((s.start + s.duration for s in self.specs), default=timedelta(days=1)) + self.tail

    def __add__(self, other: Scenario) -> Scenario:
        return Scenario(f"{self.name}+{other.name}", self.description, self.specs + other.specs,
                        max(self.tail, other.tail), self.source)


def _build(spec: DisruptionSpec, origin: datetime, where: str) -> Disruption:
    cls = DISRUPTIONS[spec.kind]
    kwargs: dict[str, Any] = dict(spec.params)
    types = {f.name: str(f.type) for f in dataclasses.fields(cls) if f.name not in ("start", "end", "sites")}
    for name, value in kwargs.items():
        if name not in types:
            raise ScenarioError(f"{where}.params.{name}: one of {sorted(types)}; got {name!r}")
        if isinstance(value, str) and "timedelta" in types[name]:  # e.g. supplier_delay's delay: 4h
            try:
                kwargs[name] = parse_duration(value)
            except ValueError as exc:
                raise ScenarioError(f"{where}.params.{name}: {exc}") from None
    if isinstance(spec.target, dict):
        kwargs.update(spec.target)
    elif spec.target != "auto":
        fields = TARGET_FIELDS[spec.kind]
        parts = spec.target.split(":") if len(fields) > 1 else [spec.target]
        if len(parts) != len(fields):
            raise ScenarioError(f"{where}.target: {':'.join(fields)} or auto; got {spec.target!r}")
        kwargs.update(zip(fields, parts, strict=True))
    try:
        return cls(start=origin + spec.start, end=origin + spec.start + spec.duration, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def parse_scenario(text: str, source: str = "<string>", _seen: tuple[str, ...] = ()) -> Scenario:
    """A scenario from YAML text; ``include`` names are resolved in the library, then as files."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    try:
        spec = ScenarioFile.model_validate(doc)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
            got = err.get("input")
            msgs.append(f"{source}: {loc or '(top)'}: {err['msg'].removeprefix('Value error, ')}"
                        + ("" if err["type"] == "value_error" else f"; got {got!r}"))
        raise ScenarioError("\n".join(msgs)) from None
    specs: list[DisruptionSpec] = []
    tail = spec.tail
    for i, name in enumerate(spec.include):
        if name in _seen:
            raise ScenarioError(f"{source}: include[{i}]: {name!r} includes itself")
        inc = load_scenario(name, _seen=(*_seen, spec.name, source))
        specs.extend(inc.specs)
        tail = max(tail, inc.tail)
    specs.extend(spec.disruptions)
    scenario = Scenario(spec.name, spec.description, tuple(specs), tail, source)
    _check(scenario)
    return scenario


def _check(scenario: Scenario) -> None:
    """Build once against a dummy origin so bad params fail at load time, not mid-run."""
    scenario.disruptions(datetime(2026, 1, 1, tzinfo=UTC))


def load_scenario(name_or_path: str | Path, _seen: tuple[str, ...] = ()) -> Scenario:
    """A library scenario by name, or a YAML file by path."""
    key = str(name_or_path)
    if key in LIBRARY_YAML:
        return parse_scenario(LIBRARY_YAML[key], f"library:{key}", _seen)
    path = Path(name_or_path)
    if not path.is_file():
        raise ScenarioError(f"scenario must be a library name ({', '.join(LIBRARY_YAML)}), 'all' or a YAML "
                            f"file; got {key!r}")
    return parse_scenario(path.read_text(), str(path), _seen)


def library() -> list[Scenario]:
    """Every built-in scenario, in a stable order."""
    return [load_scenario(name) for name in LIBRARY_YAML]


def resolve(names: Sequence[str]) -> list[Scenario]:
    """Scenario arguments of the CLI: ``all``, library names, or files."""
    out: list[Scenario] = []
    for n in names:
        out.extend(library() if n == "all" else [load_scenario(n)])
    return out


# The built-in library. Every disruption happens on day two (after a day of history, so the
# detectors and the demand baseline are warm) in business hours, on the ``small`` world.
LIBRARY_YAML: dict[str, str] = {
    "fridge_failure": """
name: fridge_failure
description: A store fridge's compressor stops for 40 minutes in the afternoon.
disruptions: [{kind: fridge_failure, start: 1d14h, duration: 40m}]
""",
    "door_left_open": """
name: door_left_open
description: A fridge door is left ajar for an hour in the morning rush.
disruptions: [{kind: door_left_open, start: 1d10h, duration: 60m}]
""",
    "truck_breakdown": """
name: truck_breakdown
description: A van breaks down on its route before lunch and waits 45 minutes for repair.
disruptions: [{kind: truck_breakdown, start: 1d11h, duration: 45m}]
""",
    "route_delay": """
name: route_delay
description: A van is held 40 minutes behind a road closure in the evening rush.
disruptions: [{kind: route_delay, start: 1d16h30m, duration: 40m}]
""",
    "pos_outage": """
name: pos_outage
description: One of a store's two tills is down for two hours over lunch.
disruptions: [{kind: pos_outage, start: 1d12h, duration: 2h}]
""",
    "demand_spike": """
name: demand_spike
description: Demand for one SKU at one store jumps x6 for three hours; vans keep up.
disruptions: [{kind: demand_spike, start: 1d11h, duration: 3h}]
""",
    "stockout": """
name: stockout
description: A demand spike with no replenishment empties a shelf in the afternoon.
disruptions: [{kind: stockout, start: 1d15h, duration: 2h}]
""",
    "supplier_delay": """
name: supplier_delay
description: A supplier's shipment to the warehouse is reported delayed for three hours.
disruptions: [{kind: supplier_delay, start: 1d9h, duration: 3h}]
""",
    "sensor_stuck": """
name: sensor_stuck
description: A fridge probe freezes on its last reading for two hours; the fridge is fine.
disruptions: [{kind: sensor_stuck, start: 1d13h, duration: 2h}]
""",
    "sensor_drift": """
name: sensor_drift
description: A fridge probe drifts 1.5 C warmer per hour for four hours; the fridge is fine.
disruptions: [{kind: sensor_drift, start: 1d9h, duration: 4h, params: {drift_c_per_h: 1.5}}]
""",
    "site_silent": """
name: site_silent
description: A store's network is down for 45 minutes; the shop trades, nothing arrives.
disruptions: [{kind: site_silent, start: 1d13h, duration: 45m}]
""",
    "regional_closure": """
name: regional_closure
description: Business-continuity drill - a flood closes the stores within 4 km of store-1 for 3 hours.
disruptions: [{kind: regional_closure, start: 1d10h, duration: 3h, params: {radius_km: 4.0}}]
""",
    "bad_day": """
name: bad_day
description: The demo's four incidents on one afternoon, composed from the library.
include: [fridge_failure, truck_breakdown, stockout, supplier_delay]
""",
}
