"""The playbook: declarative configuration of incidents and reallocation rules, in YAML.

Operations teams tune when an incident opens and what the rules recommend without touching code:

```yaml
incidents:                       # hysteresis per incident kind
  cold_chain_excursion: {min_active: 2, min_clear: 5}
watches:
  cold_chain: {early_margin_c: 3.0}
  fleet: {max_stop_min: 15}
  inventory: {rate_tau_h: 2.0, spike_ratio: 5.0}
  suppliers: {grace_min: 60}
  silence: {min_silent_s: 300}
rules:
  stock_transfer: {target_cover_leadtimes: 1.5, donor_keep_leadtimes: 2.0}
  chilled_stock_move: {budget_min: 120}
  supplier_switch: {enabled: false}
maintenance:                     # planned work: incidents still open, but nobody is paged
  - {site: store-2, start: 2026-03-02T06:00:00Z, end: 2026-03-02T08:00:00Z, reason: defrost}
handlers:                        # plug-ins that apply recommendations: "module:callable"
  - mycompany.erp:create_transfer_order
```

Every key is checked (unknown keys are errors, so a typo never silently does nothing), and a bad
file fails at start-up naming the file, the key path, what was expected and what came.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from streams.settings import ConfigurationError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentRule(_Strict):
    min_active: int = Field(1, ge=1, le=1000, description="consecutive active observations to open")
    min_clear: int = Field(1, ge=1, le=1000, description="consecutive clear observations to resolve")


class ColdChainConfig(_Strict):
    early_margin_c: float = Field(3.0, ge=0, le=40)


class FleetConfig(_Strict):
    max_stop_min: float = Field(15.0, gt=0, le=24 * 60)
    moving_kmh: float = Field(3.0, ge=0, le=50)


class InventoryConfig(_Strict):
    rate_tau_h: float = Field(2.0, gt=0, le=24 * 7)
    clear_leadtimes: float = Field(1.25, ge=1, le=10)
    spike_ratio: float = Field(5.0, gt=1, le=100, description="short-term sales rate over the daily baseline")
    spike_min_per_h: float = Field(5.0, ge=0, description="ignore spikes below this many units per hour")


class SupplierConfig(_Strict):
    grace_min: float = Field(60.0, ge=0, le=24 * 60 * 30)


class SilenceConfig(_Strict):
    min_silent_s: float = Field(300.0, gt=0, description="never call a device silent sooner than this")
    interval_factor: float = Field(10.0, gt=1, description="... nor sooner than this many usual intervals")
    site_min_devices: int = Field(2, ge=1, description="a site with this many devices all silent is one incident")


class StateConfig(_Strict):
    evict_after_h: float = Field(168.0, gt=0, description="forget an entity not heard from for this long")


class WatchesConfig(_Strict):
    cold_chain: ColdChainConfig = ColdChainConfig()
    fleet: FleetConfig = FleetConfig()
    inventory: InventoryConfig = InventoryConfig()
    suppliers: SupplierConfig = SupplierConfig()
    silence: SilenceConfig = SilenceConfig()


class StockTransferConfig(_Strict):
    enabled: bool = True
    target_cover_leadtimes: float = Field(1.5, gt=0, le=100)
    donor_keep_leadtimes: float = Field(2.0, ge=0, le=100)


class DeliveryReassignmentConfig(_Strict):
    enabled: bool = True
    fresh_min: float = Field(30.0, gt=0, le=24 * 60)


class ChilledStockMoveConfig(_Strict):
    enabled: bool = True
    budget_min: float = Field(120.0, gt=0, le=24 * 60 * 7)


class SupplierSwitchConfig(_Strict):
    enabled: bool = True


class ReorderConfig(_Strict):
    enabled: bool = True


class RulesConfig(_Strict):
    stock_transfer: StockTransferConfig = StockTransferConfig()
    delivery_reassignment: DeliveryReassignmentConfig = DeliveryReassignmentConfig()
    chilled_stock_move: ChilledStockMoveConfig = ChilledStockMoveConfig()
    supplier_switch: SupplierSwitchConfig = SupplierSwitchConfig()
    reorder: ReorderConfig = ReorderConfig()


class MaintenanceWindow(_Strict):
    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(min_length=1)
    site: str | None = None
    entity: str | None = None
    kind: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "MaintenanceWindow":
        if self.end <= self.start:
            raise ValueError(f"end must be after start; got start {self.start} and end {self.end}")
        return self

    def covers(self, kind: str, entity: str, site: str | None, ts: datetime) -> bool:
        return (self.start <= ts < self.end and (self.kind is None or self.kind == kind)
                and (self.entity is None or self.entity == entity) and (self.site is None or self.site == site))


DEFAULT_INCIDENTS = {
    "cold_chain_excursion": IncidentRule(min_active=2, min_clear=5),
    "vehicle_stopped": IncidentRule(min_active=1, min_clear=2),
    "stockout_risk": IncidentRule(min_active=1, min_clear=1),  # hysteresis is in the cover limits
    "demand_spike": IncidentRule(min_active=2, min_clear=2),
    "supplier_late": IncidentRule(min_active=1, min_clear=1),
    "device_silent": IncidentRule(min_active=1, min_clear=1),
    "site_silent": IncidentRule(min_active=1, min_clear=1),
}


class Playbook(_Strict):
    incidents: dict[str, IncidentRule] = Field(default_factory=lambda: dict(DEFAULT_INCIDENTS))
    watches: WatchesConfig = WatchesConfig()
    rules: RulesConfig = RulesConfig()
    state: StateConfig = StateConfig()
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    handlers: list[str] = Field(default_factory=list, description="module:callable applying recommendations")

    @model_validator(mode="after")
    def _fill_incidents(self) -> "Playbook":
        self.incidents = {**DEFAULT_INCIDENTS, **self.incidents}
        unknown = set(self.incidents) - set(DEFAULT_INCIDENTS)
        if unknown:
            raise ValueError(f"incidents keys must be among {sorted(DEFAULT_INCIDENTS)}; got {sorted(unknown)}")
        for h in self.handlers:
            if ":" not in h:
                raise ValueError(f"handlers entries must look like 'module:callable'; got {h!r}")
        return self

    def maintenance_for(self, kind: str, entity: str, site: str | None, ts: datetime) -> str | None:
        for w in self.maintenance:
            if w.covers(kind, entity, site, ts):
                return w.reason
        return None

    def load_handlers(self) -> list[Callable[[dict], None]]:
        out = []
        for spec in self.handlers:
            module, _, name = spec.partition(":")
            try:
                out.append(getattr(importlib.import_module(module), name))
            except (ImportError, AttributeError) as exc:
                raise ConfigurationError(f"playbook handlers: cannot load {spec!r}: {exc}") from None
        return out


def load_playbook(path: Path | str | None) -> Playbook:
    """Read and check a playbook file; ``None`` gives the defaults."""
    if path is None:
        return Playbook()
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigurationError(f"playbook {path}: no such file") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"playbook {path}: not valid YAML: {exc}") from None
    try:
        return Playbook.model_validate(doc)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            got = "nothing" if err["type"] == "missing" else repr(err.get("input"))
            lines.append(f"{loc}: expected {err['msg'].removeprefix('Value error, ')}; got {got}")
        raise ConfigurationError(f"playbook {path}:\n  " + "\n  ".join(lines)) from None
