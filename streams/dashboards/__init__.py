"""Grafana as code for opswatch: dashboards, alert rules, contact points and notification policies.

Everything Grafana shows or pages about is generated here from ``streams.metrics.MEASUREMENTS``,
with grafana-foundation-sdk, into ``deploy/grafana/`` (``python -m streams.dashboards``). The same
objects are what ``opswatch grafana push`` sends to a running Grafana (``connectors.grafana``).

Where this sits in the flow: source -> validate -> detect -> incident -> rule -> **sink** -> the
time-series store, which these dashboards and alerts read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from streams.dashboards import (
    alerting, cold_chain, detector_health, fleet, inventory, overview, pipeline,
)
from streams.dashboards.base import DATASOURCE_TYPE, DEFAULT_DATASOURCE_UID, number_panels
from streams.settings import DetectorSettings

BOARD_MODULES = (overview, cold_chain, fleet, inventory, detector_health, pipeline)
DEFAULT_FOLDER = "opswatch"


def folder_uid(folder: str) -> str:
    """A Grafana uid (at most 40 of [A-Za-z0-9_-]) from the configured folder name."""
    uid = re.sub(r"[^A-Za-z0-9_-]+", "-", folder).strip("-").lower()[:40]
    if not uid:
        raise ValueError(f"OPSWATCH_GRAFANA__FOLDER must contain a letter or digit; got {folder!r}")
    return uid


def dashboards(datasource_uid: str = DEFAULT_DATASOURCE_UID,
               detector: DetectorSettings | None = None) -> list[dict[str, Any]]:
    """Every dashboard as the JSON model Grafana stores, panels numbered in layout order.

    Threshold lines follow ``detector`` (the running settings on push, the defaults in the
    committed files).
    """
    detector = detector or DetectorSettings()
    out = []
    for module in BOARD_MODULES:
        board = module.build(datasource_uid, detector)
        model = json.loads(json.dumps(board.builder.build(), cls=JSONEncoder))
        number_panels(model["panels"])
        out.append(model)
    return out


@dataclass(frozen=True)
class DesiredState:
    """Everything opswatch owns on a Grafana, in the shapes of Grafana's HTTP API."""

    datasource: dict[str, Any]
    folders: list[dict[str, str]]
    dashboards: list[dict[str, Any]]           # {"dashboard": ..., "folderUid": ...}
    templates: dict[str, str]
    contact_points: list[dict[str, Any]]
    skipped_contact_points: dict[str, list[str]]
    policy_tree: dict[str, Any]
    alert_rules: list[dict[str, Any]]
    rule_group_interval_s: int = alerting.RULE_GROUP_INTERVAL_S


def datasource_model(uid: str, url: str, bucket: str, token: str | None) -> dict[str, Any]:
    """The InfluxDB data source in InfluxQL mode; on 2.x the bucket is read through its DBRP mapping."""
    model: dict[str, Any] = {
        "uid": uid, "name": "opswatch InfluxDB", "type": DATASOURCE_TYPE, "access": "proxy",
        "url": url, "isDefault": False,
        "jsonData": {"version": "InfluxQL", "dbName": bucket, "httpMode": "POST",
                     "httpHeaderName1": "Authorization", "timeInterval": "10s"},
    }
    if token is not None:
        model["secureJsonData"] = {"httpHeaderValue1": f"Token {token}"}
    return model


def desired_state(settings, env: dict[str, str]) -> DesiredState:
    """Build the objects to push from the settings and the environment holding contact secrets."""
    g = settings.grafana
    if not settings.influx.url:
        raise ValueError("OPSWATCH_INFLUX__URL: expected the InfluxDB URL Grafana should query "
                         "(http:// or https://); got None")
    fuid = folder_uid(g.folder)
    contacts = alerting.resolve_contacts(env)
    token = settings.influx.token.get_secret_value() or None
    return DesiredState(
        datasource=datasource_model(g.datasource_uid, settings.influx.url, settings.influx.bucket, token),
        folders=[{"uid": fuid, "title": g.folder}],
        dashboards=[{"dashboard": d, "folderUid": fuid}
                    for d in dashboards(g.datasource_uid, settings.detector)],
        templates=alerting.templates(),
        contact_points=contacts.integrations,
        skipped_contact_points=contacts.skipped,
        policy_tree=alerting.policy_tree(),
        alert_rules=alerting.alert_rules(fuid, g.datasource_uid),
    )


def datasource_provisioning(uid: str = DEFAULT_DATASOURCE_UID) -> dict[str, Any]:
    model = datasource_model(uid, "${OPSWATCH_INFLUX__URL}", "${OPSWATCH_INFLUX__BUCKET}",
                             "${OPSWATCH_INFLUX__TOKEN}")
    model["orgId"] = 1
    model["editable"] = False
    return {"apiVersion": 1, "datasources": [model]}


def dashboard_provider(folder: str = DEFAULT_FOLDER) -> dict[str, Any]:
    return {"apiVersion": 1, "providers": [{
        "name": "opswatch", "orgId": 1, "folder": folder, "folderUid": folder_uid(folder),
        "type": "file", "disableDeletion": True, "allowUiUpdates": False,
        "updateIntervalSeconds": 60,
        "options": {"path": "/var/lib/grafana/dashboards/opswatch", "foldersFromFilesStructure": False},
    }]}


class _PlainDumper(yaml.SafeDumper):
    """No ``&id001`` anchors: each provisioning file reads top to bottom."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_DOLLAR = re.compile(r"\$\{[A-Z][A-Z0-9_]*\}|\$")


def escape_dollars(value: Any) -> Any:
    """Grafana expands ``$NAME`` in provisioning files; keep ``${VAR}`` references, double every other ``$``.

    >>> escape_dollars({"q": 'WHERE $timeFilter', "url": "${OPSWATCH_INFLUX__URL}"})
    {'q': 'WHERE $$timeFilter', 'url': '${OPSWATCH_INFLUX__URL}'}
    """
    if isinstance(value, str):
        return _DOLLAR.sub(lambda m: m.group(0) if len(m.group(0)) > 1 else "$$", value)
    if isinstance(value, dict):
        return {k: escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_dollars(v) for v in value]
    return value


def write_all(root: Path, folder: str = DEFAULT_FOLDER,
              datasource_uid: str = DEFAULT_DATASOURCE_UID) -> list[Path]:
    """Regenerate ``deploy/grafana`` under ``root``; return the files written."""
    written: list[Path] = []

    def put(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)

    for model in dashboards(datasource_uid):
        put(root / "dashboards" / f"{model['uid']}.json", json.dumps(model, indent=2, sort_keys=True) + "\n")
    prov = root / "provisioning"
    header = "# Generated by `python -m streams.dashboards`; edit streams/dashboards, not this file.\n"

    def dump(obj: Any) -> str:
        return header + yaml.dump(escape_dollars(obj), Dumper=_PlainDumper, sort_keys=False, width=120,
                                  allow_unicode=True)

    put(prov / "datasources" / "influxdb.yaml", dump(datasource_provisioning(datasource_uid)))
    put(prov / "dashboards" / "opswatch.yaml", dump(dashboard_provider(folder)))
    for name, doc in alerting.provisioning_files(folder, folder_uid(folder), datasource_uid).items():
        put(prov / "alerting" / name, dump(doc))
    return written
